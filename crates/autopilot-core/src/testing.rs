//! Builders the tests share — this crate's table and flow tests and, behind the `test-util`
//! feature, other crates' — so that a host, a task, a service, a task definition, a job or an
//! event is written once. Each builder takes what tests vary and sets the rest as a live cluster
//! reports it; a test changes a field of the result for its case (`host.remaining.memory =
//! Some(0)`) rather than growing a builder of its own.
//!
//! ARNs are built in the partition, region and account of the cluster ARN a test uses, so one
//! constant (`arn:aws:ecs:us-east-1:1:cluster/prod`) decides them all.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::arn::cluster_name;
use crate::job::{Job, JobNeeds, RunTaskSpec, Submission};
use crate::markers::DAEMON_TAG;
use crate::model::{
    Attribute, ContainerInstance, InstanceStatus, PlacementConstraint, Resources,
    SchedulingStrategy, Service, Task, TaskDefinition,
};

/// `arn:PARTITION:ecs:REGION:ACCOUNT` of `cluster_arn` (a bare cluster name: us-east-1, account
/// 123456789012).
fn prefix(cluster_arn: &str) -> &str {
    match cluster_arn.split_once(":cluster/") {
        Some((prefix, _)) => prefix,
        None => "arn:aws:ecs:us-east-1:123456789012",
    }
}

/// The ARN of container instance `id` of the cluster (the new, cluster-qualified format).
pub fn container_instance_arn(cluster_arn: &str, id: &str) -> String {
    format!(
        "{}:container-instance/{}/{id}",
        prefix(cluster_arn),
        cluster_name(cluster_arn)
    )
}

/// The ARN of task `id` of the cluster (the new, cluster-qualified format).
pub fn task_arn(cluster_arn: &str, id: &str) -> String {
    format!(
        "{}:task/{}/{id}",
        prefix(cluster_arn),
        cluster_name(cluster_arn)
    )
}

/// The ARN of service `name` of the cluster.
pub fn service_arn(cluster_arn: &str, name: &str) -> String {
    format!(
        "{}:service/{}/{name}",
        prefix(cluster_arn),
        cluster_name(cluster_arn)
    )
}

/// The ARN of revision 1 of task definition family `family`, in the cluster's account.
pub fn task_definition_arn(cluster_arn: &str, family: &str) -> String {
    format!("{}:task-definition/{family}:1", prefix(cluster_arn))
}

/// An ACTIVE host whose agent is connected, with no resources, attributes or tasks reported.
pub fn host(arn: impl Into<String>, ec2_instance_id: impl Into<String>) -> ContainerInstance {
    let mut ci = ContainerInstance::new(arn, InstanceStatus::Active);
    ci.ec2_instance_id = Some(ec2_instance_id.into());
    ci.agent_connected = Some(true);
    ci
}

/// An ACTIVE host `i-NAME` of the cluster running nothing, with room: 4096 CPU units and 8192 MiB
/// remaining, port 22 (sshd) taken.
pub fn idle_host(cluster_arn: &str, name: &str) -> ContainerInstance {
    let mut ci = host(
        container_instance_arn(cluster_arn, name),
        format!("i-{name}"),
    );
    ci.running_tasks_count = Some(0);
    ci.remaining = resources(4096, 8192);
    ci.remaining.ports = vec!["22".into()];
    ci
}

/// Ten hosts `i-NAME`, one for each case of daemon-count's host table: ACTIVE `a1`, `a2b` (zone
/// us-east-1b), `a3` (an m5.large; the others are t3.large); DRAINING `d1`; agent disconnected
/// `x1`, not reported `x2`; REGISTERING `r1`, DEREGISTERING `g1`, REGISTRATION_FAILED `f1`, and
/// `n1` in a status not known yet. No resources reported.
pub fn fleet(cluster_arn: &str) -> Vec<ContainerInstance> {
    let fleet_host = |name: &str, status: &str, agent: Option<bool>, itype: &str| {
        let mut ci = host(
            container_instance_arn(cluster_arn, name),
            format!("i-{name}"),
        );
        ci.status = InstanceStatus::from(status);
        ci.agent_connected = agent;
        let zone = if name.ends_with('b') {
            "us-east-1b"
        } else {
            "us-east-1a"
        };
        ci.attributes = vec![
            attribute("ecs.instance-type", itype),
            attribute("ecs.availability-zone", zone),
        ];
        ci
    };
    vec![
        fleet_host("a1", "ACTIVE", Some(true), "t3.large"),
        fleet_host("a2b", "ACTIVE", Some(true), "t3.large"),
        fleet_host("a3", "ACTIVE", Some(true), "m5.large"),
        fleet_host("d1", "DRAINING", Some(true), "t3.large"),
        fleet_host("x1", "ACTIVE", Some(false), "t3.large"),
        fleet_host("x2", "ACTIVE", None, "t3.large"),
        fleet_host("r1", "REGISTERING", Some(true), "t3.large"),
        fleet_host("g1", "DEREGISTERING", Some(true), "t3.large"),
        fleet_host("f1", "REGISTRATION_FAILED", Some(false), "t3.large"),
        fleet_host("n1", "SOMETHING_NEW", Some(true), "t3.large"),
    ]
}

/// CPU units and MiB (no ports, no GPUs): a host's registered or remaining resources.
pub fn resources(cpu: i64, memory: i64) -> Resources {
    Resources {
        cpu: Some(cpu),
        memory: Some(memory),
        ..Resources::default()
    }
}

/// A container instance attribute with a value.
pub fn attribute(name: &str, value: &str) -> Attribute {
    Attribute {
        name: name.into(),
        value: Some(value.into()),
    }
}

/// An ACTIVE REPLICA service of the cluster running revision 1 of its own family
/// ([`task_definition_arn`]), desired 0, no constraints, no tags.
pub fn service(cluster_arn: &str, name: &str) -> Service {
    Service {
        arn: service_arn(cluster_arn, name),
        name: name.into(),
        cluster_arn: Some(cluster_arn.into()),
        status: "ACTIVE".into(),
        scheduling_strategy: SchedulingStrategy::Replica,
        task_definition: Some(task_definition_arn(cluster_arn, name)),
        ..Service::default()
    }
}

/// [`service`] opted in to daemon-count by its tag ([`DAEMON_TAG`]` = true`) and set up as the
/// manual (docs/daemon-count.md) asks of a daemon: a `distinctInstance` constraint, launch type EC2.
pub fn daemon_service(cluster_arn: &str, name: &str) -> Service {
    let mut s = service(cluster_arn, name);
    s.tags = BTreeMap::from([(DAEMON_TAG.to_string(), "true".to_string())]);
    s.placement_constraints = vec![PlacementConstraint::distinct_instance()];
    s.launch_type = Some("EC2".into());
    s
}

/// A task definition reserving `cpu` units and `memory` MiB at task level.
pub fn task_definition(arn: impl Into<String>, cpu: i64, memory: i64) -> TaskDefinition {
    TaskDefinition {
        arn: arn.into(),
        cpu: Some(cpu),
        memory: Some(memory),
        ..TaskDefinition::default()
    }
}

/// A RUNNING task of service `service` (group `service:NAME`, started by the service scheduler).
pub fn service_task(arn: impl Into<String>, service: &str) -> Task {
    Task::running(arn, Some(&format!("service:{service}")), Some("ecs-svc/1"))
}

/// A RUNNING standalone task (RunTask: a `family:` or own group, no service `startedBy`).
pub fn standalone_task(arn: impl Into<String>, group: &str) -> Task {
    Task::running(arn, Some(group), None)
}

/// A QUEUED job `id` of task definition `td` in cluster `c`, submitted at 0, needing nothing.
pub fn job(id: &str) -> Job {
    queued_job(id, 0, 0, 0)
}

/// A QUEUED job `id` of task definition `td` in cluster `c` at `priority`, needing `memory` MiB
/// (nothing else), submitted at `submitted`.
pub fn queued_job(id: &str, priority: u32, memory: i64, submitted: i64) -> Job {
    Submission {
        spec: RunTaskSpec {
            cluster: "c".into(),
            task_definition: "td".into(),
            ..RunTaskSpec::default()
        },
        priority: Some(i64::from(priority)),
        ..Submission::default()
    }
    .into_job(
        id.into(),
        JobNeeds {
            memory,
            ..JobNeeds::default()
        },
        submitted,
    )
}

/// A submission's JSON (`jobId`, `cluster`, `taskDefinition`), as `jobs submit` sends it.
pub fn submission(job_id: &str, cluster: &str, task_definition: &str) -> Value {
    json!({"jobId": job_id, "cluster": cluster, "taskDefinition": task_definition})
}

/// An EventBridge event of `source` (`version` 0, no id or time): the envelope tests wrap a
/// detail in.
pub fn event(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({"version": "0", "detail-type": detail_type, "source": source, "detail": detail})
}

/// An `EC2 Instance-terminate Lifecycle Action` of group `asg` at `time` (RFC 3339), token
/// `tok-1`, with the hook's NotificationMetadata when given.
pub fn lifecycle_terminate_event(
    hook: &str,
    ec2_instance_id: &str,
    metadata: Option<&str>,
    time: &str,
) -> Value {
    let mut detail = json!({
        "LifecycleActionToken": "tok-1", "AutoScalingGroupName": "asg", "LifecycleHookName": hook,
        "EC2InstanceId": ec2_instance_id, "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"
    });
    if let Some(m) = metadata {
        detail["NotificationMetadata"] = m.into();
    }
    let mut e = event(
        "EC2 Instance-terminate Lifecycle Action",
        "aws.autoscaling",
        detail,
    );
    e["time"] = time.into();
    e
}

/// An `EC2 Spot Instance Interruption Warning` with `instance-action` `action` (`terminate`,
/// `stop`, `hibernate`).
pub fn spot_interruption_event(ec2_instance_id: &str, action: &str) -> Value {
    event(
        "EC2 Spot Instance Interruption Warning",
        "aws.ec2",
        json!({"instance-id": ec2_instance_id, "instance-action": action}),
    )
}

/// Well-formed ARNs under `prefix` (`arn:PARTITION:ecs:REGION:ACCOUNT`) of the kinds an event's
/// `field` (`clusterArn`, `containerInstanceArn`, `taskArn`) must not hold — the other kinds', in
/// the old (`…/ID`) and the new (`…/CLUSTER/ID`) format.
pub fn wrong_kind_arns(prefix: &str, field: &str) -> Vec<String> {
    let kinds: &[&str] = match field {
        "clusterArn" => &[
            "task/prod/t1",
            "task/t1",
            "container-instance/prod/h1",
            "container-instance/h1",
        ],
        "containerInstanceArn" => &["cluster/prod", "task/prod/t1", "task/t1"],
        _ => &[
            "cluster/prod",
            "container-instance/prod/h1",
            "container-instance/h1",
        ],
    };
    kinds.iter().map(|k| format!("{prefix}:{k}")).collect()
}

/// `instance` (a container instance state change) with its `clusterArn`, then its
/// `containerInstanceArn`, and `task` (a task state change) with its `clusterArn`, `taskArn`,
/// then `containerInstanceArn` set to each value `bad(field)` gives, each event with the field.
pub fn events_with_bad_identities(
    instance: &Value,
    task: &Value,
    bad: impl Fn(&str) -> Vec<String>,
) -> Vec<(Value, &'static str)> {
    let fields: [(&Value, &[&'static str]); 2] = [
        (instance, &["clusterArn", "containerInstanceArn"]),
        (task, &["clusterArn", "taskArn", "containerInstanceArn"]),
    ];
    let mut events = Vec::new();
    for (event, fields) in fields {
        for &field in fields {
            for value in bad(field) {
                let mut e = event.clone();
                e["detail"][field] = json!(value);
                events.push((e, field));
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_follow_the_cluster_arn() {
        let cluster = "arn:aws:ecs:us-east-1:1:cluster/prod";
        assert_eq!(
            container_instance_arn(cluster, "ci-1"),
            "arn:aws:ecs:us-east-1:1:container-instance/prod/ci-1"
        );
        assert_eq!(
            task_arn(cluster, "a"),
            "arn:aws:ecs:us-east-1:1:task/prod/a"
        );
        assert_eq!(
            service_arn(cluster, "logs"),
            "arn:aws:ecs:us-east-1:1:service/prod/logs"
        );
        assert_eq!(
            task_definition_arn(cluster, "logs"),
            "arn:aws:ecs:us-east-1:1:task-definition/logs:1"
        );
        assert_eq!(
            task_arn("batch", "x"),
            "arn:aws:ecs:us-east-1:123456789012:task/batch/x"
        );
    }

    #[test]
    fn events_parse_as_their_detail_type() {
        use crate::events::DrainEvent;
        let lifecycle = lifecycle_terminate_event("h", "i-1", Some("{}"), "2027-01-15T08:00:00Z");
        assert!(matches!(
            DrainEvent::from_value(lifecycle),
            Ok(DrainEvent::LifecycleTerminate(_))
        ));
        assert!(matches!(
            DrainEvent::from_value(spot_interruption_event("i-1", "stop")),
            Ok(DrainEvent::SpotInterruption(_))
        ));
    }
}
