//! Fixtures for the commands' unit tests: a four-host cluster's records and commands over it.

use autopilot_core::capacity::{instance_to_record, Record, TaskRecord};
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Resources};

use super::can_place::CanPlace;
use super::capacity_filter::CapacityFilter;
use super::TableArgs;

pub const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

pub fn host(i: usize, status: InstanceStatus, connected: bool) -> ContainerInstance {
    let mut ci = ContainerInstance::new(
        format!("arn:aws:ecs:us-east-1:1:container-instance/prod/h{i}"),
        status,
    );
    ci.ec2_instance_id = Some(format!("i-{i}"));
    ci.agent_connected = Some(connected);
    ci.attributes = vec![Attribute {
        name: "ecs.instance-type".into(),
        value: Some("t3.large".into()),
    }];
    ci.remaining = Resources {
        cpu: Some(1024),
        memory: Some(1024),
        ..Resources::default()
    };
    ci
}

fn task(i: usize, on: usize, group: &str) -> Record {
    Record::Task(TaskRecord {
        cluster_arn: CLUSTER.into(),
        task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/t{i}"),
        container_instance_arn: Some(format!(
            "arn:aws:ecs:us-east-1:1:container-instance/prod/h{on}"
        )),
        group: Some(group.into()),
        started_by: None,
        last_status: Some("RUNNING".into()),
        desired_status: Some("RUNNING".into()),
        cpu: None,
        memory: None,
        launch_type: Some("EC2".into()),
        version: Some(1),
        updated_at: None,
        tombstone: false,
        expires_at: None,
    })
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
