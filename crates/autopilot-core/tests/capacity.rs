//! The capacity table's rules over the in-memory store (same condition semantics as DynamoDB):
//! ordering under shuffled and duplicated delivery, tombstones, rejections, and the sweep.

use autopilot_core::capacity::{Outcome, Record};
use autopilot_core::events::EcsEvent;
use autopilot_core::memory::InMemoryEcs;
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Resources, Task};
use autopilot_core::recorder::{CapacityRecorder, RecorderConfig};
use autopilot_core::store::{CapacityStore, InMemoryCapacityStore};
use proptest::prelude::*;
use serde_json::{json, Value};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
const NOW: i64 = 1_800_000_000;

fn host_arn(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/host{i:02}")
}

fn task_arn(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/prod/task{i:03}")
}

fn instance_event(i: usize, version: i64, status: &str, free_mem: i64) -> Value {
    json!({
        "version": "0", "detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
        "detail": {
            "clusterArn": CLUSTER, "containerInstanceArn": host_arn(i), "ec2InstanceId": format!("i-{i:04}"),
            "status": status, "agentConnected": status != "INACTIVE", "version": version,
            "attributes": [{"name": "ecs.instance-type", "value": "t3.large"}],
            "registeredResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 7680}],
            "remainingResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 2048 - version * 10},
                                   {"name": "MEMORY", "type": "INTEGER", "integerValue": free_mem}],
            "runningTasksCount": version
        }
    })
}

fn task_event(i: usize, version: i64, last: &str) -> Value {
    json!({
        "version": "0", "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "detail": {
            "clusterArn": CLUSTER, "taskArn": task_arn(i), "containerInstanceArn": host_arn(i % 10),
            "lastStatus": last, "desiredStatus": if last == "STOPPED" { "STOPPED" } else { "RUNNING" },
            "group": format!("service:svc{}", i % 4), "startedBy": "ecs-svc/1", "launchType": "EC2",
            "cpu": "128", "memory": "256", "version": version
        }
    })
}

/// 200 events: 10 hosts × 5 versions (host 9 ends deregistered) + 50 tasks × 3 versions.
fn event_log() -> Vec<Value> {
    let mut log = Vec::new();
    for h in 0..10 {
        for v in 1..=5 {
            let status = match (h, v) {
                (9, 4) => "DRAINING",
                (9, 5) => "INACTIVE",
                _ => "ACTIVE",
            };
            log.push(instance_event(h, v, status, 7680 - v * 100));
        }
    }
    for t in 0..50 {
        log.push(task_event(t, 1, "PENDING"));
        log.push(task_event(t, 2, "RUNNING"));
        // Every 5th task stops; the others get a later RUNNING update (a version bump).
        log.push(task_event(
            t,
            3,
            if t % 5 == 0 { "STOPPED" } else { "RUNNING" },
        ));
    }
    log
}

fn recorder() -> CapacityRecorder<InMemoryCapacityStore, InMemoryEcs> {
    CapacityRecorder::new(
        InMemoryCapacityStore::new(),
        InMemoryEcs::new(),
        RecorderConfig {
            table: "t".into(),
            clusters: None,
        },
    )
}

async fn apply(
    rec: &CapacityRecorder<InMemoryCapacityStore, InMemoryEcs>,
    events: &[Value],
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for e in events {
        let event = EcsEvent::from_value(e.clone()).expect("valid event");
        let result = rec.record_event(&event, NOW).await.expect("recorded");
        assert_eq!(result.writes, 1, "exactly one write per event");
        outcomes.push(result.outcome.expect("outcome"));
    }
    outcomes
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Deterministic shuffle + duplication from a seed (splitmix64), so a failing seed replays.
fn shuffle_with_duplicates(log: &[Value], seed: u64) -> Vec<Value> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut out: Vec<Value> = log.to_vec();
    for e in log {
        if next() % 4 == 0 {
            out.push(e.clone()); // ~25% delivered twice
        }
    }
    for i in (1..out.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn shuffled_and_duplicated_delivery_leaves_the_in_order_table(seed in any::<u64>()) {
        let log = event_log();
        prop_assert_eq!(log.len(), 200);
        let rt = runtime();
        let in_order = recorder();
        rt.block_on(apply(&in_order, &log));
        let shuffled = recorder();
        let delivered = shuffle_with_duplicates(&log, seed);
        let outcomes = rt.block_on(apply(&shuffled, &delivered));
        prop_assert_eq!(in_order.store().snapshot(), shuffled.store().snapshot());
        let extra = delivered.len() - log.len();
        let noops = outcomes.iter().filter(|o| matches!(o, Outcome::Duplicate | Outcome::Stale)).count();
        prop_assert!(noops >= extra, "every extra delivery is a no-op ({noops} < {extra})");
        // Final version of every item = the highest delivered.
        for r in shuffled.store().snapshot() {
            let want = match &r {
                Record::Instance(_) => 5,
                Record::Task(_) => 3,
            };
            prop_assert_eq!(r.version(), Some(want));
        }
    }
}

#[test]
fn duplicates_and_stale_events_are_successful_no_ops() {
    let rt = runtime();
    let rec = recorder();
    let outcomes = rt.block_on(apply(
        &rec,
        &[
            instance_event(1, 5, "ACTIVE", 500),
            instance_event(1, 5, "ACTIVE", 500),
            instance_event(1, 4, "ACTIVE", 900),
        ],
    ));
    assert_eq!(
        outcomes,
        vec![Outcome::Applied, Outcome::Duplicate, Outcome::Stale]
    );
    let stored = rec.store().snapshot();
    let Record::Instance(i) = &stored[0] else {
        panic!("{stored:?}")
    };
    assert_eq!(
        i.instance.remaining.memory,
        Some(500),
        "the stale event changed nothing"
    );
    assert_eq!(
        rec.store().requests("PutItem"),
        3,
        "one write per event, duplicates included"
    );
}

#[test]
fn a_deregistered_host_stays_dead_against_late_older_events() {
    let rt = runtime();
    let rec = recorder();
    let outcomes = rt.block_on(apply(
        &rec,
        &[
            instance_event(2, 9, "INACTIVE", 0),
            instance_event(2, 8, "ACTIVE", 7000),
        ],
    ));
    assert_eq!(outcomes, vec![Outcome::Applied, Outcome::Stale]);
    let Record::Instance(i) = &rec.store().snapshot()[0] else {
        panic!()
    };
    assert!(i.tombstone);
    assert_eq!(
        i.expires_at,
        Some(NOW + autopilot_core::capacity::TOMBSTONE_TTL_SECS)
    );
    // Tombstones are not hosts.
    let cap = autopilot_core::capacity::cluster_capacity("prod", &rec.store().snapshot());
    assert_eq!(cap.totals.hosts, 0);
}

#[test]
fn stopped_tasks_expire() {
    let rt = runtime();
    let rec = recorder();
    rt.block_on(apply(
        &rec,
        &[task_event(1, 2, "RUNNING"), task_event(1, 3, "STOPPED")],
    ));
    let Record::Task(t) = &rec.store().snapshot()[0] else {
        panic!()
    };
    assert_eq!(
        t.expires_at,
        Some(NOW + autopilot_core::capacity::STOPPED_TASK_TTL_SECS)
    );
    assert_eq!((t.cpu, t.memory), (Some(128), Some(256)));
}

#[test]
fn events_that_cannot_be_recorded_write_nothing() {
    let rt = runtime();
    let rec = recorder();
    let mut no_version = instance_event(1, 1, "ACTIVE", 1);
    no_version["detail"]
        .as_object_mut()
        .expect("object")
        .remove("version");
    let mut foreign = task_event(1, 1, "RUNNING");
    foreign["detail"]["taskArn"] = json!("arn:aws:ecs:us-east-1:123456789012:task/staging/t1");
    let mut other_account = instance_event(1, 1, "ACTIVE", 1);
    other_account["detail"]["containerInstanceArn"] =
        json!("arn:aws:ecs:us-east-1:999999999999:container-instance/prod/x");
    let mut bad_size = task_event(1, 1, "RUNNING");
    bad_size["detail"]["memory"] = json!("lots");
    for (case, e, want) in [
        ("no version", no_version, "detail.version"),
        ("task of another cluster", foreign, "another cluster"),
        ("host of another account", other_account, "another cluster"),
        ("bad size", bad_size, "\"lots\""),
    ] {
        let event = EcsEvent::from_value(e).expect("parses");
        let err = rt.block_on(rec.record_event(&event, NOW)).expect_err(case);
        assert!(err.to_string().contains(want), "{case}: {err}");
    }
    let fargate = json!({"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {
        "clusterArn": CLUSTER, "taskArn": task_arn(7), "launchType": "FARGATE", "version": 1}});
    let r = rt
        .block_on(rec.record_event(&EcsEvent::from_value(fargate).expect("parses"), NOW))
        .expect("skip");
    assert!(r.skipped.as_deref().unwrap_or("").contains("Fargate"));
    let other = json!({"detail-type": "ECS Service Action", "source": "aws.ecs", "detail": {}});
    let r = rt
        .block_on(rec.record_event(&EcsEvent::from_value(other).expect("parses"), NOW))
        .expect("skip");
    assert_eq!(r.writes, 0);
    assert_eq!(rec.store().requests("PutItem"), 0);
    assert!(rec.store().snapshot().is_empty());
}

#[test]
fn clusters_outside_the_configured_list_are_skipped() {
    let rt = runtime();
    let rec = CapacityRecorder::new(
        InMemoryCapacityStore::new(),
        InMemoryEcs::new(),
        RecorderConfig {
            table: "t".into(),
            clusters: Some(vec!["staging".into()]),
        },
    );
    let event = EcsEvent::from_value(instance_event(1, 1, "ACTIVE", 1)).expect("parses");
    let r = rt.block_on(rec.record_event(&event, NOW)).expect("skip");
    assert_eq!(r.writes, 0);
    assert!(r.skipped.as_deref().unwrap_or("").contains("CLUSTERS"));
}

// ---- the sweep ----

fn ecs_host(i: usize, version: Option<i64>, stack: &str) -> ContainerInstance {
    let mut ci = ContainerInstance::new(host_arn(i), InstanceStatus::Active);
    ci.ec2_instance_id = Some(format!("i-{i:04}"));
    ci.agent_connected = Some(true);
    ci.attributes = vec![Attribute {
        name: "stack".into(),
        value: Some(stack.into()),
    }];
    ci.registered = Resources {
        cpu: Some(2048),
        memory: Some(7680),
        ..Resources::default()
    };
    ci.remaining = ci.registered.clone();
    ci.version = version;
    ci
}

fn ecs_task(i: usize, version: Option<i64>) -> Task {
    Task {
        arn: task_arn(i),
        cluster_arn: Some(CLUSTER.into()),
        container_instance_arn: Some(host_arn(0)),
        group: Some("service:web".into()),
        started_by: Some("ecs-svc/1".into()),
        last_status: Some("RUNNING".into()),
        desired_status: Some("RUNNING".into()),
        cpu: None,
        memory: Some(256),
        launch_type: Some("EC2".into()),
        version,
    }
}

fn stored_stack(
    rec: &CapacityRecorder<InMemoryCapacityStore, InMemoryEcs>,
    i: usize,
) -> Option<String> {
    rec.store().snapshot().into_iter().find_map(|r| match r {
        Record::Instance(x) if x.instance.arn == host_arn(i) => {
            x.instance.attribute("stack").and_then(|a| a.value.clone())
        }
        _ => None,
    })
}

#[test]
fn the_sweep_restores_a_dropped_event_and_an_attribute_change() {
    let rt = runtime();
    let rec = recorder();
    for i in 0..3 {
        rec.ecs()
            .add_instance(CLUSTER, ecs_host(i, Some(4), "blue"));
    }
    rec.ecs().put_task(CLUSTER, ecs_task(1, Some(2)));
    // Events for hosts 0 and 1 arrived; host 2's registration event was lost.
    rt.block_on(apply(
        &rec,
        &[
            instance_event(0, 4, "ACTIVE", 7680),
            instance_event(1, 4, "ACTIVE", 7680),
        ],
    ));
    // PutAttributes on host 1: no event, same version.
    rec.ecs().update_instance(CLUSTER, &host_arn(1), |ci| {
        ci.attributes[0].value = Some("green".into());
    });

    let report = rt.block_on(rec.sweep_cluster(CLUSTER, NOW)).expect("sweep");
    assert_eq!((report.hosts, report.tasks), (3, 1));
    assert_eq!(
        stored_stack(&rec, 2).as_deref(),
        Some("blue"),
        "dropped event restored"
    );
    assert_eq!(
        stored_stack(&rec, 1).as_deref(),
        Some("green"),
        "attribute change picked up"
    );
    assert_eq!(rec.store().snapshot().len(), 4);

    // A second sweep with nothing changed writes nothing.
    let puts = rec.store().requests("PutItem");
    let again = rt.block_on(rec.sweep_cluster(CLUSTER, NOW)).expect("sweep");
    assert_eq!(again.written, 0);
    assert_eq!(again.unchanged, 4);
    assert_eq!(rec.store().requests("PutItem"), puts);
}

#[test]
fn the_sweep_removes_what_ecs_no_longer_has() {
    let rt = runtime();
    let rec = recorder();
    rec.ecs()
        .add_instance(CLUSTER, ecs_host(0, Some(3), "blue"));
    rec.ecs()
        .add_instance(CLUSTER, ecs_host(1, Some(3), "blue"));
    rec.ecs().put_task(CLUSTER, ecs_task(1, Some(2)));
    rt.block_on(rec.sweep_cluster(CLUSTER, NOW)).expect("sweep");
    // Host 1 deregistered and task 1 stopped; both events were lost.
    rec.ecs().remove_instance(CLUSTER, &host_arn(1));
    rec.ecs().remove_task(CLUSTER, &task_arn(1));
    let report = rt.block_on(rec.sweep_cluster(CLUSTER, NOW)).expect("sweep");
    assert_eq!(report.removed, 2);
    let records = rec.store().snapshot();
    assert_eq!(
        records.len(),
        2,
        "host 0 and host 1's tombstone: {records:?}"
    );
    assert!(records
        .iter()
        .any(|r| matches!(r, Record::Instance(i) if i.tombstone && i.instance.arn == host_arn(1))));
    assert!(records.iter().all(|r| !matches!(r, Record::Task(_))));
}

#[test]
fn a_version_less_snapshot_keeps_the_version_and_loses_races_to_events() {
    let rt = runtime();
    let rec = recorder();
    // moto-like: Describe returns no version.
    rec.ecs().add_instance(CLUSTER, ecs_host(0, None, "green"));
    rt.block_on(apply(&rec, &[instance_event(0, 6, "ACTIVE", 7000)]));
    let report = rt.block_on(rec.sweep_cluster(CLUSTER, NOW)).expect("sweep");
    assert_eq!(report.written, 1);
    let Record::Instance(i) = rec.store().snapshot().remove(0) else {
        panic!()
    };
    assert_eq!(
        i.instance.version,
        Some(6),
        "a version-less snapshot never moves the version"
    );
    assert_eq!(
        i.instance
            .attribute("stack")
            .and_then(|a| a.value.as_deref()),
        Some("green")
    );
    // Older events are still refused; newer ones still apply.
    let outcomes = rt.block_on(apply(
        &rec,
        &[
            instance_event(0, 5, "ACTIVE", 1),
            instance_event(0, 7, "ACTIVE", 2),
        ],
    ));
    assert_eq!(outcomes, vec![Outcome::Stale, Outcome::Applied]);

    // A race: an event lands between the sweep's read and its write → the snapshot is refused.
    let store = InMemoryCapacityStore::new();
    let record =
        autopilot_core::capacity::instance_to_record(CLUSTER, ecs_host(0, None, "x"), None, NOW);
    let seen = None; // the sweep read: absent
    rt.block_on(store.write(
        &autopilot_core::capacity::instance_to_record(
            CLUSTER,
            ecs_host(0, Some(9), "y"),
            None,
            NOW,
        ),
        autopilot_core::capacity::WriteCondition::NewerThanStored(9),
    ))
    .expect("event");
    let outcome = rt
        .block_on(store.write(
            &record,
            autopilot_core::capacity::WriteCondition::Unchanged(seen),
        ))
        .expect("snapshot");
    assert_eq!(outcome, Outcome::Conflict);
    assert!(store.snapshot().iter().all(|r| r.version() == Some(9)));
}
