//! Every inbound shape: the EventBridge events the functions consume (ECS, Auto Scaling, EC2 spot,
//! the schedule) as [`EventBridgeEvent`]s of the project's own detail types, and the drainer's SQS
//! batches as [`SqsEvent`].
//!
//! Rules we follow (see the project's ECS notes):
//! - AWS adds fields over time: unknown fields are ignored, never rejected.
//! - Only identity fields are required (`clusterArn` plus the resource ARN, the lifecycle action's
//!   ids); everything else is optional so a thin event still parses.
//! - The envelope's `"version": "0"` is the envelope schema version; the resource's change counter is
//!   `detail.version`.
//! - Unknown detail types are not errors: they parse to an `Other` variant and callers skip them.
//! - Malformed input is an [`EventError`] that names the JSON path of the problem.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use aws_lambda_events::event::eventbridge::EventBridgeEvent;
pub use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use crate::model::{Attribute, ContainerInstance, InstanceStatus, Resources};
use crate::ports::lifecycle::LifecycleAction;

pub const CONTAINER_INSTANCE_STATE_CHANGE: &str = "ECS Container Instance State Change";
pub const TASK_STATE_CHANGE: &str = "ECS Task State Change";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";
pub const LIFECYCLE_TERMINATE: &str = "EC2 Instance-terminate Lifecycle Action";
pub const SPOT_INTERRUPTION_WARNING: &str = "EC2 Spot Instance Interruption Warning";

/// A resource entry of `registeredResources` / `remainingResources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventResource {
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub integer_value: Option<i64>,
    pub long_value: Option<i64>,
    pub double_value: Option<f64>,
    pub string_set_value: Option<Vec<String>>,
}

impl EventResource {
    fn number(&self) -> Option<i64> {
        self.integer_value
            .or(self.long_value)
            // CPU and MEMORY are integers in practice; a double is truncated, not rounded up, so we
            // never claim more free capacity than ECS reported.
            .or(self.double_value.map(|d| d as i64))
    }
}

/// Folds ECS's resource list into [`Resources`]; GPUs are counted, unknown resource names ignored.
pub fn resources_from_list(list: &[EventResource]) -> Resources {
    let mut out = Resources::default();
    for r in list {
        match r.name.as_str() {
            "CPU" => out.cpu = r.number(),
            "MEMORY" => out.memory = r.number(),
            "PORTS" => out.ports = r.string_set_value.clone().unwrap_or_default(),
            "PORTS_UDP" => out.ports_udp = r.string_set_value.clone().unwrap_or_default(),
            "GPU" => out.gpus = r.string_set_value.as_ref().map(|s| s.len() as i64),
            _ => {}
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub agent_version: Option<String>,
    pub agent_hash: Option<String>,
    pub docker_version: Option<String>,
}

/// `detail` of an `ECS Container Instance State Change` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstanceStateChange {
    pub cluster_arn: String,
    pub container_instance_arn: String,
    pub ec2_instance_id: Option<String>,
    pub status: Option<InstanceStatus>,
    pub agent_connected: Option<bool>,
    pub attributes: Option<Vec<Attribute>>,
    pub registered_resources: Option<Vec<EventResource>>,
    pub remaining_resources: Option<Vec<EventResource>>,
    pub running_tasks_count: Option<i64>,
    pub pending_tasks_count: Option<i64>,
    pub version: Option<i64>,
    pub version_info: Option<VersionInfo>,
    /// When the host registered. The EventBridge schema of this detail type lists `registeredAt`
    /// (like DescribeContainerInstances' ContainerInstance, which the detail mirrors): an ISO 8601
    /// string in events; epoch seconds (Describe's shape) are accepted too. A value that is
    /// neither is ignored — the stored registration time is then kept, never erased.
    pub registered_at: Option<serde_json::Value>,
    pub updated_at: Option<String>,
}

/// `registeredAt` as Unix seconds: an ISO 8601 string (read like a `registeredAt` argument of the
/// cluster query language) or a number of seconds; `None` for anything else.
pub fn registered_at_secs(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::String(s) => ecs_cluster_query::parse_timestamp(s.trim()),
        serde_json::Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
}

impl ContainerInstanceStateChange {
    /// The event's view of the host. `status` defaults to the unknown value `""` when absent, so a
    /// thin event is never mistaken for an ACTIVE host.
    pub fn to_container_instance(&self) -> ContainerInstance {
        let status = self
            .status
            .clone()
            .unwrap_or_else(|| InstanceStatus::Other(String::new()));
        let mut ci = ContainerInstance::new(self.container_instance_arn.clone(), status);
        ci.ec2_instance_id = self.ec2_instance_id.clone();
        ci.agent_connected = self.agent_connected;
        ci.agent_version = self
            .version_info
            .as_ref()
            .and_then(|v| v.agent_version.clone());
        ci.attributes = self.attributes.clone().unwrap_or_default();
        ci.registered = resources_from_list(self.registered_resources.as_deref().unwrap_or(&[]));
        ci.remaining = resources_from_list(self.remaining_resources.as_deref().unwrap_or(&[]));
        ci.running_tasks_count = self.running_tasks_count;
        ci.pending_tasks_count = self.pending_tasks_count;
        ci.version = self.version;
        ci.registered_at = self.registered_at.as_ref().and_then(registered_at_secs);
        ci
    }
}

/// `detail` of an `ECS Task State Change` event. `cpu` and `memory` are strings in events and may be
/// absent for EC2 tasks whose containers carry the sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    pub cluster_arn: String,
    pub task_arn: String,
    pub container_instance_arn: Option<String>,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub launch_type: Option<String>,
    pub task_definition_arn: Option<String>,
    pub stopped_reason: Option<String>,
    pub stop_code: Option<String>,
    pub version: Option<i64>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub updated_at: Option<String>,
    /// The task's containers (exit codes once STOPPED); task-dispatcher reads them.
    #[serde(default)]
    pub containers: Option<Vec<TaskContainer>>,
}

/// One container of a task event. Task events carry no `essential` flag; when absent the
/// container counts as essential (a documented choice of task-dispatcher).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub essential: Option<bool>,
    #[serde(default)]
    pub last_status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// An EC2 instance id: `i-` and up to 40 letters, digits or hyphens (real ids are 8 or 17 hex
/// digits; tests name theirs). Anything else (empty, control characters, paths) is refused at
/// parse, before an Auto Scaling or ECS call is made for it (AWS would refuse it on every retry).
fn ec2_instance_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    let ok = id.strip_prefix("i-").is_some_and(|rest| {
        (1..=40).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if ok {
        Ok(id)
    } else {
        Err(serde::de::Error::custom(format!(
            "{id:?} is not an EC2 instance id (i-…)"
        )))
    }
}

/// `detail` of `EC2 Instance-terminate Lifecycle Action` (source `aws.autoscaling`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleActionDetail {
    #[serde(rename = "LifecycleActionToken")]
    pub lifecycle_action_token: String,
    #[serde(rename = "AutoScalingGroupName")]
    pub auto_scaling_group_name: String,
    #[serde(rename = "LifecycleHookName")]
    pub lifecycle_hook_name: String,
    #[serde(rename = "EC2InstanceId", deserialize_with = "ec2_instance_id")]
    pub ec2_instance_id: String,
    #[serde(rename = "LifecycleTransition", default)]
    pub lifecycle_transition: Option<String>,
    /// The hook's NotificationMetadata, verbatim (a string). We document `{"cluster": "NAME"}`.
    #[serde(rename = "NotificationMetadata", default)]
    pub notification_metadata: Option<String>,
}

impl LifecycleActionDetail {
    pub fn action(&self) -> LifecycleAction {
        LifecycleAction {
            auto_scaling_group_name: self.auto_scaling_group_name.clone(),
            lifecycle_hook_name: self.lifecycle_hook_name.clone(),
            lifecycle_action_token: self.lifecycle_action_token.clone(),
            ec2_instance_id: self.ec2_instance_id.clone(),
        }
    }

    /// The cluster named by NotificationMetadata `{"cluster": "NAME or ARN"}`; `Err` explains
    /// metadata that is present but not in that shape (the caller falls back to `CLUSTERS`).
    pub fn metadata_cluster(&self) -> Result<Option<String>, String> {
        let Some(raw) = self.notification_metadata.as_deref() else {
            return Ok(None);
        };
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| format!("NotificationMetadata is not JSON ({e}): {raw:?}"))?;
        match value.get("cluster") {
            Some(serde_json::Value::String(c)) if !c.trim().is_empty() => {
                Ok(Some(c.trim().to_string()))
            }
            None if value.is_object() => Ok(None),
            _ => Err(format!(
                "NotificationMetadata should be {{\"cluster\": \"NAME\"}}, got {raw:?}"
            )),
        }
    }
}

/// `detail` of `EC2 Spot Instance Interruption Warning` (source `aws.ec2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotInterruptionDetail {
    #[serde(rename = "instance-id", deserialize_with = "ec2_instance_id")]
    pub instance_id: String,
    #[serde(rename = "instance-action", default)]
    pub instance_action: Option<String>,
}

/// Every ECS-side event daemon-count and capacity-recorder receive, dispatched on `detail-type`.
#[derive(Debug, Clone, PartialEq)]
pub enum EcsEvent {
    ContainerInstanceStateChange(EventBridgeEvent<ContainerInstanceStateChange>),
    TaskStateChange(EventBridgeEvent<TaskStateChange>),
    /// An EventBridge schedule (`source: aws.events`, `detail-type: Scheduled Event`).
    Scheduled(EventBridgeEvent<serde_json::Value>),
    /// Anything else (`ECS Service Action`, `ECS Deployment State Change`, ...): callers skip it.
    Other {
        source: String,
        detail_type: String,
    },
}

/// Everything instance-drainer can be invoked with.
#[derive(Debug, Clone, PartialEq)]
pub enum DrainEvent {
    LifecycleTerminate(EventBridgeEvent<LifecycleActionDetail>),
    SpotInterruption(EventBridgeEvent<SpotInterruptionDetail>),
    /// A host's state change: only hosts with the drainer's spot resume marker are sent (rule).
    ContainerInstance(Box<EventBridgeEvent<ContainerInstanceStateChange>>),
    /// An SQS batch (re-checks); each record's body is parsed on its own so one bad message
    /// fails alone (partial batch response).
    Sqs(SqsEvent),
    Other {
        source: String,
        detail_type: String,
    },
}

#[derive(Debug, Error)]
pub enum EventError {
    #[error("event is not valid JSON: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("event is not an EventBridge event (needs `source`, `detail-type` and `detail`){}: {source}", at(path))]
    NotAnEnvelope {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid `{detail_type}` detail{}: {source}", at(path))]
    InvalidDetail {
        detail_type: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

fn at(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}

/// The two envelope fields dispatch needs, borrowed from the JSON.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    source: std::borrow::Cow<'a, str>,
    #[serde(rename = "detail-type", borrow)]
    detail_type: std::borrow::Cow<'a, str>,
}

fn head(value: &serde_json::Value) -> Result<(String, String), EventError> {
    let h = Head::deserialize(value).map_err(|source| EventError::NotAnEnvelope {
        path: String::new(),
        source,
    })?;
    Ok((h.source.into_owned(), h.detail_type.into_owned()))
}

/// Deserializes the whole envelope with its typed detail; errors carry the JSON path, and an error
/// inside `detail` is an [`EventError::InvalidDetail`] of `detail_type`.
fn typed<T: DeserializeOwned>(
    value: serde_json::Value,
    detail_type: &str,
) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let source = e.into_inner();
        if path == "detail" || path.starts_with("detail.") || path.starts_with("detail[") {
            EventError::InvalidDetail {
                detail_type: detail_type.to_string(),
                path,
                source,
            }
        } else {
            EventError::NotAnEnvelope { path, source }
        }
    })
}

fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, EventError> {
    serde_json::from_slice(bytes).map_err(EventError::Malformed)
}

impl EcsEvent {
    /// Parses raw bytes (what Lambda hands the runtime).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        Self::from_value(parse_json(bytes)?)
    }

    /// Dispatches an already-decoded JSON value on `detail-type`.
    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        let (source, detail_type) = head(&value)?;
        Ok(match (source.as_str(), detail_type.as_str()) {
            ("aws.ecs", CONTAINER_INSTANCE_STATE_CHANGE) => {
                EcsEvent::ContainerInstanceStateChange(typed(value, &detail_type)?)
            }
            ("aws.ecs", TASK_STATE_CHANGE) => {
                EcsEvent::TaskStateChange(typed(value, &detail_type)?)
            }
            ("aws.events", SCHEDULED_EVENT) => EcsEvent::Scheduled(typed(value, &detail_type)?),
            _ => {
                // Still an envelope: a malformed one is an error, not a silent skip.
                let _: EventBridgeEvent<serde_json::Value> = typed(value, &detail_type)?;
                EcsEvent::Other {
                    source,
                    detail_type,
                }
            }
        })
    }

    pub fn detail_type(&self) -> &str {
        match self {
            EcsEvent::ContainerInstanceStateChange(e) => &e.detail_type,
            EcsEvent::TaskStateChange(e) => &e.detail_type,
            EcsEvent::Scheduled(e) => &e.detail_type,
            EcsEvent::Other { detail_type, .. } => detail_type,
        }
    }
}

impl DrainEvent {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        Self::from_value(parse_json(bytes)?)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        if value.get("Records").is_some() {
            return serde_path_to_error::deserialize(value)
                .map(DrainEvent::Sqs)
                .map_err(|e| EventError::InvalidDetail {
                    detail_type: "SQS batch".into(),
                    path: e.path().to_string(),
                    source: e.into_inner(),
                });
        }
        let (source, detail_type) = head(&value)?;
        Ok(match (source.as_str(), detail_type.as_str()) {
            ("aws.autoscaling", LIFECYCLE_TERMINATE) => {
                DrainEvent::LifecycleTerminate(typed(value, &detail_type)?)
            }
            ("aws.ec2", SPOT_INTERRUPTION_WARNING) => {
                DrainEvent::SpotInterruption(typed(value, &detail_type)?)
            }
            ("aws.ecs", CONTAINER_INSTANCE_STATE_CHANGE) => {
                DrainEvent::ContainerInstance(Box::new(typed(value, &detail_type)?))
            }
            _ => {
                let _: EventBridgeEvent<serde_json::Value> = typed(value, &detail_type)?;
                DrainEvent::Other {
                    source,
                    detail_type,
                }
            }
        })
    }
}

/// The event's `time` as Unix seconds, when it has one.
pub fn event_time_unix<T: Serialize + DeserializeOwned>(
    event: &EventBridgeEvent<T>,
) -> Option<i64> {
    event.time.map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE_EVENT: &str = r#"{
      "version": "0", "id": "8952ba83", "detail-type": "ECS Container Instance State Change",
      "source": "aws.ecs", "account": "111122223333", "time": "2016-12-06T16:41:06Z",
      "region": "us-east-1", "resources": ["arn:aws:ecs:us-east-1:111122223333:container-instance/b54a"],
      "detail": {
        "agentConnected": true,
        "attributes": [{"name": "ecs.instance-type", "value": "t3.large"}, {"name": "com.amazonaws.ecs.capability.ecr-auth"}],
        "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:111122223333:container-instance/b54a",
        "ec2InstanceId": "i-f3a8506b",
        "registeredResources": [
          {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
          {"name": "MEMORY", "type": "INTEGER", "integerValue": 3767},
          {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376"]},
          {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
        ],
        "remainingResources": [
          {"name": "CPU", "type": "INTEGER", "integerValue": 1988},
          {"name": "MEMORY", "type": "INTEGER", "integerValue": 767},
          {"name": "GPU", "type": "STRINGSET", "stringSetValue": []}
        ],
        "status": "ACTIVE", "version": 14801,
        "versionInfo": {"agentHash": "aebcbca", "agentVersion": "1.13.0", "dockerVersion": "DockerVersion: 1.11.2"},
        "registeredAt": "2016-12-06T16:41:05.728Z",
        "updatedAt": "2016-12-06T16:41:06.991Z",
        "someFieldAwsAddsLater": {"nested": [1, 2, 3]}
      }
    }"#;

    #[test]
    fn parses_container_instance_event_and_ignores_unknown_fields() {
        let EcsEvent::ContainerInstanceStateChange(e) =
            EcsEvent::from_slice(INSTANCE_EVENT.as_bytes()).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.detail.version, Some(14801));
        assert_eq!(
            e.detail.cluster_arn,
            "arn:aws:ecs:us-east-1:111122223333:cluster/default"
        );
        let ci = e.detail.to_container_instance();
        assert_eq!(ci.status, InstanceStatus::Active);
        assert_eq!(ci.agent_connected, Some(true));
        assert_eq!(ci.agent_version.as_deref(), Some("1.13.0"));
        assert_eq!(ci.registered.cpu, Some(2048));
        assert_eq!(ci.registered.memory, Some(3767));
        assert_eq!(ci.registered.ports, vec!["22", "2376"]);
        assert_eq!(ci.remaining.cpu, Some(1988));
        assert_eq!(ci.remaining.memory, Some(767));
        assert_eq!(
            ci.registered_at,
            Some(1_481_042_465),
            "registeredAt 2016-12-06T16:41:05.728Z, to the second"
        );
        assert_eq!(
            ci.attribute("ecs.instance-type")
                .and_then(|a| a.value.as_deref()),
            Some("t3.large")
        );
        assert_eq!(
            ci.attribute("com.amazonaws.ecs.capability.ecr-auth")
                .map(|a| a.value.clone()),
            Some(None)
        );
    }

    #[test]
    fn registered_at_shapes() {
        use serde_json::json;
        for (value, want) in [
            (json!("2016-12-06T16:41:05.728Z"), Some(1_481_042_465)),
            (json!("2016-12-06T16:41:05Z"), Some(1_481_042_465)),
            (json!("2016-12-06T17:41:05+01:00"), Some(1_481_042_465)),
            (json!(1_481_042_465), Some(1_481_042_465)),
            (json!(1_481_042_465.728), Some(1_481_042_465)),
            (json!("last tuesday"), None),
            (json!(""), None),
            (json!(null), None),
            (json!(true), None),
            (json!(1e300), None),
        ] {
            assert_eq!(registered_at_secs(&value), want, "{value}");
        }
    }

    #[test]
    fn thin_event_with_only_identity_fields_parses() {
        let json = r#"{"detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
            "detail": {"clusterArn": "c", "containerInstanceArn": "ci"}}"#;
        let EcsEvent::ContainerInstanceStateChange(e) =
            EcsEvent::from_slice(json.as_bytes()).expect("parses")
        else {
            panic!("wrong variant")
        };
        let ci = e.detail.to_container_instance();
        assert_eq!(ci.status, InstanceStatus::Other(String::new()));
        assert_eq!(ci.version, None);
    }

    #[test]
    fn missing_identity_field_is_a_clear_error() {
        let json = r#"{"detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
            "detail": {"containerInstanceArn": "ci"}}"#;
        let err = EcsEvent::from_slice(json.as_bytes()).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("ECS Container Instance State Change"), "{msg}");
        assert!(msg.contains("clusterArn"), "{msg}");
    }

    #[test]
    fn malformed_json_is_a_clear_error() {
        let err = EcsEvent::from_slice(b"{\"detail-type\": ").expect_err("must fail");
        assert!(matches!(err, EventError::Malformed(_)));
        assert!(err.to_string().starts_with("event is not valid JSON"));
    }

    #[test]
    fn non_envelope_json_is_a_clear_error() {
        let err = EcsEvent::from_slice(b"[1,2,3]").expect_err("must fail");
        assert!(matches!(err, EventError::NotAnEnvelope { .. }), "{err}");
    }

    #[test]
    fn unknown_detail_types_parse_to_other() {
        let json = r#"{"version":"0","detail-type": "ECS Service Action", "source": "aws.ecs",
            "detail": {"eventName": "SERVICE_STEADY_STATE"}}"#;
        let ev = EcsEvent::from_slice(json.as_bytes()).expect("parses");
        assert_eq!(
            ev,
            EcsEvent::Other {
                source: "aws.ecs".into(),
                detail_type: "ECS Service Action".into()
            }
        );
        // Same detail-type from a different source is not trusted as ECS.
        let json = r#"{"detail-type": "ECS Task State Change", "source": "my.app", "detail": {}}"#;
        assert!(matches!(
            EcsEvent::from_slice(json.as_bytes()).expect("parses"),
            EcsEvent::Other { .. }
        ));
    }

    #[test]
    fn parses_task_event_with_string_sizes() {
        let json = r#"{"version":"0","detail-type":"ECS Task State Change","source":"aws.ecs",
            "detail":{"clusterArn":"c","taskArn":"t","cpu":"256","memory":"512","lastStatus":"RUNNING",
            "desiredStatus":"RUNNING","group":"service:web","startedBy":"ecs-svc/1","version":4,
            "launchType":"EC2","containers":[{"name":"x"}]}}"#;
        let EcsEvent::TaskStateChange(e) = EcsEvent::from_slice(json.as_bytes()).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.detail.cpu.as_deref(), Some("256"));
        assert_eq!(e.detail.group.as_deref(), Some("service:web"));
        assert_eq!(e.detail.version, Some(4));
    }

    #[test]
    fn parses_scheduled_event() {
        let json = r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events",
            "account":"1","time":"2026-01-01T00:00:00Z","region":"us-east-1",
            "resources":["arn:aws:events:us-east-1:1:rule/r"],"detail":{}}"#;
        assert!(matches!(
            EcsEvent::from_slice(json.as_bytes()).expect("parses"),
            EcsEvent::Scheduled(_)
        ));
    }

    fn lifecycle_at(time: &str) -> Result<DrainEvent, EventError> {
        DrainEvent::from_value(serde_json::json!({
            "version": "0", "detail-type": LIFECYCLE_TERMINATE, "source": "aws.autoscaling",
            "time": time, "detail": {"LifecycleActionToken": "t", "AutoScalingGroupName": "g",
            "LifecycleHookName": "h", "EC2InstanceId": "i-1"}
        }))
    }

    #[test]
    fn instance_ids_that_are_not_ec2_ids_are_refused_with_their_path() {
        for (id, ok) in [
            ("i-0abc123def4567890", true),
            ("i-1", true),
            ("\u{0}", false),
            ("", false),
            ("i-", false),
            ("i-0abc/../x", false),
            ("i-not-an-ecs-host", true),
            ("i-0123456789abcdef0123456789abcdef012345678", false),
        ] {
            let event = serde_json::json!({
                "version": "0", "detail-type": LIFECYCLE_TERMINATE, "source": "aws.autoscaling",
                "time": "2026-11-22T06:00:00Z", "detail": {"LifecycleActionToken": "t",
                "AutoScalingGroupName": "g", "LifecycleHookName": "h", "EC2InstanceId": id}
            });
            match DrainEvent::from_value(event) {
                Ok(_) => assert!(ok, "{id:?} accepted"),
                Err(e) => {
                    assert!(!ok, "{id:?} refused: {e}");
                    assert!(e.to_string().contains("detail.EC2InstanceId"), "{e}");
                }
            }
        }
    }

    fn time_of(time: &str) -> Option<i64> {
        match lifecycle_at(time) {
            Ok(DrainEvent::LifecycleTerminate(e)) => event_time_unix(&e),
            _ => None,
        }
    }

    #[test]
    fn event_time_parses() {
        assert_eq!(time_of("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(time_of("2015-12-22T18:43:48Z"), Some(1_450_809_828));
        assert_eq!(
            time_of("2026-11-22T06:00:00.123Z"),
            time_of("2026-11-22T06:00:00Z")
        );
        for bad in ["yesterday", "2026-13-01T00:00:00Z"] {
            let err = lifecycle_at(bad).expect_err("a malformed time is an error");
            assert!(
                matches!(&err, EventError::NotAnEnvelope { path, .. } if path == "time"),
                "{err}"
            );
            assert!(err.to_string().contains("`time`"), "{err}");
        }
    }

    #[test]
    fn detail_errors_name_their_json_path() {
        let json = r#"{"detail-type": "ECS Task State Change", "source": "aws.ecs",
            "detail": {"clusterArn": "c", "taskArn": "t", "version": "seven"}}"#;
        let err = EcsEvent::from_slice(json.as_bytes()).expect_err("must fail");
        assert!(err.to_string().contains("detail.version"), "{err}");
    }

    #[test]
    fn metadata_cluster_shapes() {
        let mut d = LifecycleActionDetail {
            lifecycle_action_token: "t".into(),
            auto_scaling_group_name: "g".into(),
            lifecycle_hook_name: "h".into(),
            ec2_instance_id: "i-1".into(),
            lifecycle_transition: None,
            notification_metadata: None,
        };
        assert_eq!(d.metadata_cluster(), Ok(None));
        d.notification_metadata = Some(r#"{"cluster": "prod"}"#.into());
        assert_eq!(d.metadata_cluster(), Ok(Some("prod".into())));
        d.notification_metadata = Some(r#"{"team": "x"}"#.into());
        assert_eq!(d.metadata_cluster(), Ok(None));
        d.notification_metadata = Some("prod".into());
        assert!(d.metadata_cluster().is_err());
        d.notification_metadata = Some(r#"{"cluster": 3}"#.into());
        assert!(d.metadata_cluster().is_err());
    }
}
