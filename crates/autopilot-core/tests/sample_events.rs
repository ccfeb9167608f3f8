//! Every sample event in `events/` parses, as the variant and state its name says.

use std::path::PathBuf;

use autopilot_core::events::EcsEvent;
use autopilot_core::model::InstanceStatus;

fn load(name: &str) -> EcsEvent {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    EcsEvent::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn instance(name: &str) -> autopilot_core::model::ContainerInstance {
    match load(name) {
        EcsEvent::ContainerInstanceStateChange(e) => e.detail.to_container_instance(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn instance_events_carry_their_state() {
    let registered = instance("instance-registered.json");
    assert_eq!(
        (registered.status.clone(), registered.agent_connected),
        (InstanceStatus::Active, Some(true))
    );
    let churn = instance("instance-task-churn.json");
    assert_eq!(
        churn.status,
        InstanceStatus::Active,
        "task churn leaves the status unchanged"
    );
    assert!(churn.remaining.memory < registered.remaining.memory);
    assert!(churn.version > registered.version);
    let disconnected = instance("instance-agent-disconnected.json");
    assert_eq!(disconnected.agent_connected, Some(false));
    assert_eq!(
        instance("instance-draining.json").status,
        InstanceStatus::Draining
    );
    assert_eq!(
        instance("instance-deregistered.json").status,
        InstanceStatus::Inactive
    );
}

#[test]
fn schedule_and_unknown_types_dispatch() {
    assert!(matches!(
        load("scheduled-reconcile.json"),
        EcsEvent::Scheduled(_)
    ));
    match load("unknown-detail-type.json") {
        EcsEvent::Other { detail_type, .. } => assert_eq!(detail_type, "ECS Service Action"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_sample_is_covered_here() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("events dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        // instance-drainer's samples (an SQS batch among them) are checked in tests/drain.rs.
        .filter(|n| !n.starts_with("drainer-"))
        .collect();
    names.sort();
    for n in &names {
        load(n);
    }
    assert!(names.len() >= 7, "{names:?}");
}
