//! The cluster model: what we know about container instances, services and task definitions.
//!
//! These types are filled from two sources that disagree on shapes (events carry ISO timestamps and
//! resource lists, the Describe APIs carry epoch numbers and SDK structs); adapters convert both into
//! these so the decision logic sees one model.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Status of a container instance. Unknown values are kept verbatim (AWS may add statuses).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum InstanceStatus {
    Active,
    Draining,
    Registering,
    Deregistering,
    Inactive,
    RegistrationFailed,
    Other(String),
}

impl InstanceStatus {
    pub fn as_str(&self) -> &str {
        match self {
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Draining => "DRAINING",
            InstanceStatus::Registering => "REGISTERING",
            InstanceStatus::Deregistering => "DEREGISTERING",
            InstanceStatus::Inactive => "INACTIVE",
            InstanceStatus::RegistrationFailed => "REGISTRATION_FAILED",
            InstanceStatus::Other(s) => s,
        }
    }
}

impl From<&str> for InstanceStatus {
    fn from(s: &str) -> Self {
        match s {
            "ACTIVE" => InstanceStatus::Active,
            "DRAINING" => InstanceStatus::Draining,
            "REGISTERING" => InstanceStatus::Registering,
            "DEREGISTERING" => InstanceStatus::Deregistering,
            "INACTIVE" => InstanceStatus::Inactive,
            "REGISTRATION_FAILED" => InstanceStatus::RegistrationFailed,
            other => InstanceStatus::Other(other.to_string()),
        }
    }
}

impl From<String> for InstanceStatus {
    fn from(s: String) -> Self {
        InstanceStatus::from(s.as_str())
    }
}

impl From<InstanceStatus> for String {
    fn from(s: InstanceStatus) -> Self {
        s.as_str().to_string()
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container instance attribute. Many built-in attributes (capabilities) have a name and no value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The resources ECS tracks per host: CPU units (1024 = 1 vCPU), memory in MiB, and the host ports
/// in use (reserved) for TCP and UDP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub ports_udp: Vec<String>,
    /// GPUs (`GPU`, a string set of GPU ids: its size), when the host has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<i64>,
}

/// One container instance (an ECS host), as of `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerInstance {
    pub arn: String,
    pub ec2_instance_id: Option<String>,
    pub status: InstanceStatus,
    /// `None` when the source did not say; treated as not connected for eligibility.
    pub agent_connected: Option<bool>,
    pub agent_version: Option<String>,
    pub attributes: Vec<Attribute>,
    pub registered: Resources,
    pub remaining: Resources,
    pub running_tasks_count: Option<i64>,
    pub pending_tasks_count: Option<i64>,
    /// ECS's per-resource change counter (`detail.version` in events, `version` in Describe).
    pub version: Option<i64>,
    /// Registration time, Unix epoch seconds.
    pub registered_at: Option<i64>,
    /// The capacity provider the host belongs to (DescribeContainerInstances), if any.
    #[serde(default)]
    pub capacity_provider_name: Option<String>,
}

impl ContainerInstance {
    /// A minimal instance: used by adapters and tests, then filled in field by field.
    pub fn new(arn: impl Into<String>, status: InstanceStatus) -> Self {
        ContainerInstance {
            arn: arn.into(),
            ec2_instance_id: None,
            status,
            agent_connected: None,
            agent_version: None,
            attributes: Vec::new(),
            registered: Resources::default(),
            remaining: Resources::default(),
            running_tasks_count: None,
            pending_tasks_count: None,
            version: None,
            registered_at: None,
            capacity_provider_name: None,
        }
    }

    /// An external (ECS Anywhere) instance: its id is a Systems Manager managed instance id
    /// (`mi-…`), not an EC2 instance id (ContainerInstance.ec2InstanceId in the ECS API reference).
    pub fn is_external(&self) -> bool {
        self.ec2_instance_id
            .as_deref()
            .is_some_and(|id| id.starts_with("mi-"))
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The name a person recognises: the EC2 instance id when known, else the ARN's last segment.
    pub fn display_name(&self) -> &str {
        match &self.ec2_instance_id {
            Some(id) => id,
            None => crate::arn::arn_resource_id(&self.arn),
        }
    }
}

impl ecs_cluster_query::HostView for ContainerInstance {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        ContainerInstance::attribute(self, name).map(|a| a.value.as_deref())
    }

    fn ec2_instance_id(&self) -> Option<&str> {
        self.ec2_instance_id.as_deref()
    }

    fn agent_connected(&self) -> Option<bool> {
        self.agent_connected
    }

    fn agent_version(&self) -> Option<&str> {
        self.agent_version.as_deref()
    }

    fn registered_at(&self) -> Option<i64> {
        self.registered_at
    }

    fn running_tasks_count(&self) -> Option<i64> {
        self.running_tasks_count
    }

    fn task_groups(&self) -> Vec<&str> {
        // The container instance record does not carry its tasks; callers that need `task:group`
        // must supply a view that does (daemon-count refuses such expressions, see `daemon`).
        Vec::new()
    }
}

/// Scheduling strategy of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulingStrategy {
    #[default]
    Replica,
    Daemon,
    #[serde(untagged)]
    Other(String),
}

impl From<&str> for SchedulingStrategy {
    fn from(s: &str) -> Self {
        match s {
            "REPLICA" => SchedulingStrategy::Replica,
            "DAEMON" => SchedulingStrategy::Daemon,
            other => SchedulingStrategy::Other(other.to_string()),
        }
    }
}

/// A placement constraint as ECS stores it: `type` is `memberOf` or `distinctInstance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementConstraint {
    pub kind: String,
    pub expression: Option<String>,
}

impl PlacementConstraint {
    pub fn member_of(expression: impl Into<String>) -> Self {
        PlacementConstraint {
            kind: "memberOf".into(),
            expression: Some(expression.into()),
        }
    }

    pub fn distinct_instance() -> Self {
        PlacementConstraint {
            kind: "distinctInstance".into(),
            expression: None,
        }
    }
}

/// A placement strategy as ECS stores it (`binpack`, `spread`, `random`, with its field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementStrategy {
    pub kind: String,
    pub field: Option<String>,
}

/// A task set of a service (EXTERNAL / CODE_DEPLOY deployment controllers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSet {
    /// `PRIMARY`, `ACTIVE` or `DRAINING`.
    pub status: String,
    pub task_definition: Option<String>,
}

/// An ECS service, with the fields daemon-count needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster_arn: Option<String>,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub scheduling_strategy: SchedulingStrategy,
    pub desired_count: i32,
    pub task_definition: Option<String>,
    pub placement_constraints: Vec<PlacementConstraint>,
    pub tags: BTreeMap<String, String>,
    /// `EC2`, `EXTERNAL`, `FARGATE`; `None` when the service uses a capacity provider strategy.
    #[serde(default)]
    pub launch_type: Option<String>,
    /// The capacity providers of the service's strategy, in order (empty = none).
    #[serde(default)]
    pub capacity_provider_strategy: Vec<String>,
    #[serde(default)]
    pub placement_strategy: Vec<PlacementStrategy>,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    #[serde(default)]
    pub deployment_controller: Option<String>,
    #[serde(default)]
    pub task_sets: Vec<TaskSet>,
}

impl Service {
    /// The task definition the service's tasks run: the service's own, or — for the EXTERNAL and
    /// CODE_DEPLOY controllers, which keep it on task sets — the PRIMARY task set's (else an
    /// ACTIVE one's).
    pub fn effective_task_definition(&self) -> Option<&str> {
        if let Some(td) = self.task_definition.as_deref() {
            return Some(td);
        }
        ["PRIMARY", "ACTIVE"].iter().find_map(|status| {
            self.task_sets
                .iter()
                .find(|ts| ts.status == *status)
                .and_then(|ts| ts.task_definition.as_deref())
        })
    }
}

/// A task as the Describe API reports it (the sweep's view; events become [`crate::capacity::TaskRecord`]s directly).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Task {
    pub arn: String,
    pub cluster_arn: Option<String>,
    pub container_instance_arn: Option<String>,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub launch_type: Option<String>,
    /// Same counter as the task event's `detail.version`; `None` when the source omits it.
    pub version: Option<i64>,
}

impl Task {
    /// A RUNNING task (desired RUNNING) with the given group and `startedBy`.
    pub fn running(arn: impl Into<String>, group: Option<&str>, started_by: Option<&str>) -> Self {
        Task {
            arn: arn.into(),
            cluster_arn: None,
            container_instance_arn: None,
            group: group.map(str::to_string),
            started_by: started_by.map(str::to_string),
            last_status: Some("RUNNING".into()),
            desired_status: Some("RUNNING".into()),
            cpu: None,
            memory: None,
            launch_type: None,
            version: None,
        }
    }
}

/// The part of a task definition revision that daemon-count reads. Revisions are immutable, so a
/// value fetched once by ARN can be cached for the life of the process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub arn: String,
    pub placement_constraints: Vec<PlacementConstraint>,
    /// `requiresAttributes`: the host must carry each (name, and value when given).
    #[serde(default)]
    pub requires_attributes: Vec<Attribute>,
    /// CPU units one task reserves on its host: the task-level `cpu`, else the sum of the
    /// containers' `cpu` (what the scheduler reserves on EC2).
    #[serde(default)]
    pub cpu: Option<i64>,
    /// MiB one task reserves: the task-level `memory`, else the sum over containers of
    /// `memoryReservation`, or `memory` where no reservation is set.
    #[serde(default)]
    pub memory: Option<i64>,
    /// Static host ports the task binds (`hostPort` ≠ 0), TCP and UDP.
    #[serde(default)]
    pub host_ports: Vec<String>,
    #[serde(default)]
    pub host_ports_udp: Vec<String>,
    /// The task-level `cpu` and `memory` when set (container-level overrides do not change
    /// what such a task reserves).
    #[serde(default)]
    pub task_cpu: Option<i64>,
    #[serde(default)]
    pub task_memory: Option<i64>,
    /// The containers, in definition order: which are essential (a run is judged by those) and
    /// what each reserves (container-level overrides replace these).
    #[serde(default)]
    pub containers: Vec<ContainerDefinition>,
    /// `taskRoleArn` and `executionRoleArn`: RunTask passes them to ECS (`iam:PassRole`).
    #[serde(default)]
    pub task_role_arn: Option<String>,
    #[serde(default)]
    pub execution_role_arn: Option<String>,
}

/// One container of a task definition, as the dispatcher needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDefinition {
    pub name: String,
    /// ECS's default is `true`.
    pub essential: bool,
    pub cpu: i64,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// `resourceRequirements` of type `GPU`.
    pub gpus: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_keeps_unknown_values() {
        for s in [
            "ACTIVE",
            "DRAINING",
            "REGISTERING",
            "DEREGISTERING",
            "INACTIVE",
            "REGISTRATION_FAILED",
            "SOMETHING_NEW",
        ] {
            assert_eq!(InstanceStatus::from(s).as_str(), s);
        }
        assert_eq!(
            InstanceStatus::from("SOMETHING_NEW"),
            InstanceStatus::Other("SOMETHING_NEW".into())
        );
    }

    #[test]
    fn display_name_prefers_ec2_id() {
        let mut ci = ContainerInstance::new(
            "arn:aws:ecs:us-east-1:1:container-instance/prod/abc",
            InstanceStatus::Active,
        );
        assert_eq!(ci.display_name(), "abc");
        ci.ec2_instance_id = Some("i-1".into());
        assert_eq!(ci.display_name(), "i-1");
    }
}
