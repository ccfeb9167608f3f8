//! Fixtures for the commands' unit tests: a four-host cluster's records and commands over it.

use autopilot_core::capacity::{instance_to_record, task_to_record, Record};
use autopilot_core::model::{ContainerInstance, InstanceStatus, Task};
use autopilot_core::testing::{self, attribute, container_instance_arn, resources, task_arn};

use super::can_place::CanPlace;
use super::capacity_filter::CapacityFilter;
use super::TableArgs;

pub const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

pub fn host(i: usize, status: InstanceStatus, connected: bool) -> ContainerInstance {
    let mut ci = testing::host(
        container_instance_arn(CLUSTER, &format!("h{i}")),
        format!("i-{i}"),
    );
    ci.status = status;
    ci.agent_connected = Some(connected);
    ci.attributes = vec![attribute("ecs.instance-type", "t3.large")];
    ci.remaining = resources(1024, 1024);
    ci
}

/// Task `t{i}` of `group`, RUNNING on host `h{on}`.
fn task(i: usize, on: usize, group: &str) -> Record {
    let mut t = Task::running(task_arn(CLUSTER, &format!("t{i}")), Some(group), None);
    t.container_instance_arn = Some(container_instance_arn(CLUSTER, &format!("h{on}")));
    t.launch_type = Some("EC2".into());
    t.version = Some(1);
    task_to_record(CLUSTER, t, 0)
}

fn table(json: bool) -> TableArgs {
    TableArgs {
        cluster: "prod".into(),
        table: "capacity".into(),
        json,
        ..TableArgs::default()
    }
}

pub fn filter(expression: &str, all_statuses: bool) -> CapacityFilter {
    CapacityFilter {
        table: table(true),
        expression: expression.into(),
        all_statuses,
    }
}

pub fn can_place(count: usize) -> CanPlace {
    CanPlace {
        table: table(true),
        cpu: 0,
        memory: 64,
        ports: vec![],
        count,
        constraints: vec![],
        strategies: vec![],
        seed: 0,
        group: None,
    }
}

/// The last path segment (`h0`, ...) of each instance in a JSON answer.
pub fn instances(out: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(out).expect("JSON");
    v["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|a| {
            a.as_str()
                .expect("arn")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// h0 ACTIVE runs service:web, h1 ACTIVE runs service:db, h2 DRAINING runs service:web,
/// h3 ACTIVE but disconnected.
pub fn records() -> Vec<Record> {
    vec![
        instance_to_record(CLUSTER, host(0, InstanceStatus::Active, true), None, 0),
        instance_to_record(CLUSTER, host(1, InstanceStatus::Active, true), None, 0),
        instance_to_record(CLUSTER, host(2, InstanceStatus::Draining, true), None, 0),
        instance_to_record(CLUSTER, host(3, InstanceStatus::Active, false), None, 0),
        task(1, 0, "service:web"),
        task(2, 1, "service:db"),
        task(3, 2, "service:web"),
    ]
}
