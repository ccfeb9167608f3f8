//! Every sample event in `events/` parses, as the variant and state its name says.

use std::path::PathBuf;

use autopilot_core::env::ClusterScope;
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
    assert_eq!(
        registered.registered_at,
        Some(1_795_327_198),
        "registeredAt 2026-11-22T05:59:58.104Z, to the second"
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
        // instance-drainer's samples (an SQS batch among them): `sample_drainer_events_parse`.
        .filter(|n| !n.starts_with("drainer-"))
        // task-dispatcher's submissions are not events: checked in its handler's tests.
        .filter(|n| !n.starts_with("dispatcher-"))
        .collect();
    names.sort();
    for n in &names {
        load(n);
    }
    assert!(names.len() >= 7, "{names:?}");
}

#[test]
fn capacity_scenarios_replay_as_their_names_say() {
    use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
    use autopilot_core::capacity::{Outcome, Record};
    use autopilot_core::memory::InMemoryCapacityStore;
    use autopilot_core::memory::InMemoryEcs;

    let rec = CapacityRecorder::new(
        InMemoryCapacityStore::new(),
        InMemoryEcs::new(),
        RecorderConfig {
            table: "t".into(),
            clusters: ClusterScope::All,
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut outcomes = Vec::new();
    for name in [
        "task-started.json",
        "task-started-duplicate.json",
        "task-out-of-order-1-newer.json",
        "task-out-of-order-2-older.json",
        "task-stopped.json",
        "instance-registered.json",
        "instance-task-churn.json",
        "instance-agent-disconnected.json",
        "instance-draining.json",
        "instance-deregistered.json",
        "instance-registered.json",
    ] {
        let result = rt.block_on(rec.record_event(&load(name), 0)).expect(name);
        assert_eq!(result.writes, 1, "{name}");
        outcomes.push(result.outcome.expect(name));
    }
    use Outcome::*;
    assert_eq!(
        outcomes,
        vec![
            Applied, Duplicate, Applied, Stale, Duplicate, // the task
            Applied, Applied, Applied, Applied, Applied,
            Stale, // the host: a late registration stays dead
        ]
    );
    let records = rec.store().snapshot();
    assert!(records.iter().any(
        |r| matches!(r, Record::Instance(i) if i.tombstone && i.instance.version == Some(12))
    ));
    assert!(records
        .iter()
        .any(|r| matches!(r, Record::Task(t) if t.task.last_status.as_deref() == Some("STOPPED") && t.task.version == Some(4))));
}

#[test]
fn sample_drainer_events_parse() {
    use autopilot_core::drain::RecheckMessage;
    use autopilot_core::events::DrainEvent;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let load = |name: &str| {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        DrainEvent::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    match load("drainer-terminate-lifecycle-action.json") {
        DrainEvent::LifecycleTerminate(e) => {
            assert_eq!(e.detail.metadata_cluster(), Ok(Some("demo".into())));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        load("drainer-spot-interruption-warning.json"),
        DrainEvent::SpotInterruption(_)
    ));
    match load("drainer-recheck-message.json") {
        DrainEvent::Sqs(batch) => {
            assert_eq!(batch.records.len(), 1);
            let m = RecheckMessage::parse(batch.records[0].body.as_deref().unwrap_or_default())
                .expect("body");
            assert_eq!(m.attempt, 1);
        }
        other => panic!("{other:?}"),
    }
}
