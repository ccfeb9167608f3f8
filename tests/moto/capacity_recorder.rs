//! capacity-recorder against moto: the DynamoDB adapter's conditional writes, concurrent
//! out-of-order delivery through the real handler, and the sweep over moto's ECS.

// moto's DescribeContainerInstances / DescribeTasks return no `version`: the sweep here runs the
// version-less rule (write only if unchanged since read; keep the stored version). Tasks are
// pinned (moto otherwise advances a task one status per Describe).

use std::sync::Arc;

use autopilot_aws::{AwsEcs, CallCounter, DynamoCapacityStore};
use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::capacity::{Outcome, Record, WriteCondition};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::EcsEvent;
use autopilot_core::memory::{InMemoryCapacityStore, InMemoryEcs};
use autopilot_core::ports::CapacityStore;
use autopilot_core::testing::{events_with_bad_identities, wrong_kind_arns};
use capacity_recorder::handle;
use integration_tests::fixtures::{
    bare_event, capacity_instance_event, cluster_arn, container_instance_arn, error_type,
    scheduled_event, task_arn,
};
use integration_tests::{EcsFixture, Moto, CAPACITY_RECORDER};
use serde_json::{json, Value};

const TABLE: &str = "ecs-autopilot-capacity";
const NOW: i64 = 1_800_000_000;

/// The table (created by the fixtures, as the template would), and capacity-recorder's store of
/// it, signed as the function (the IAM bed checks its calls).
async fn table(moto: &Moto) -> (DynamoCapacityStore, CallCounter) {
    DynamoCapacityStore::new(moto.dynamodb(), TABLE)
        .create_table()
        .await
        .expect("create table");
    let clients = moto.function_clients(CAPACITY_RECORDER);
    let store = DynamoCapacityStore::new(clients.dynamodb, TABLE);
    (store, clients.counter)
}

fn recorder(
    moto: &Moto,
    store: DynamoCapacityStore,
    clusters: ClusterScope,
) -> CapacityRecorder<DynamoCapacityStore, AwsEcs> {
    CapacityRecorder::new(
        store,
        AwsEcs::new(moto.function_clients(CAPACITY_RECORDER).ecs),
        RecorderConfig {
            table: TABLE.into(),
            clusters,
        },
    )
}

/// Task `t{i}` of `cluster` on host `h{i % 3}` (ARNs of no moto resource), 256 MiB.
fn task_event(cluster: &str, i: usize, version: i64, last: &str) -> Value {
    let mut event = integration_tests::fixtures::task_event(
        &cluster_arn(cluster),
        &task_arn(cluster, &format!("t{i:04}")),
        &container_instance_arn(cluster, &format!("h{:04}", i % 3)),
        version,
        last,
    );
    event["detail"]["memory"] = json!("256");
    event
}

fn sorted(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_by_key(|r| r.key());
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_classify_duplicates_stale_and_conflicts() {
    let moto = Moto::start();
    let (store, calls) = table(&moto).await;
    let ci = container_instance_arn("prod", "h0001");
    let rec = |v: i64| {
        let EcsEvent::ContainerInstanceStateChange(e) =
            EcsEvent::from_value(capacity_instance_event("prod", &ci, v, "ACTIVE", 100 * v))
                .expect("event")
        else {
            unreachable!()
        };
        autopilot_core::capacity::instance_to_record(
            &cluster_arn("prod"),
            e.detail.to_container_instance(),
            None,
            NOW,
        )
    };
    let w = |v: i64| WriteCondition::NewerThanStored(v);
    assert_eq!(
        store.write(&rec(5), w(5)).await.expect("put"),
        Outcome::Applied
    );
    assert_eq!(
        store.write(&rec(5), w(5)).await.expect("put"),
        Outcome::Duplicate
    );
    assert_eq!(
        store.write(&rec(4), w(4)).await.expect("put"),
        Outcome::Stale
    );
    assert_eq!(
        store
            .write(&rec(6), WriteCondition::Unchanged(None))
            .await
            .expect("put"),
        Outcome::Conflict
    );
    assert_eq!(
        store
            .write(&rec(6), WriteCondition::Unchanged(Some(Some(5))))
            .await
            .expect("put"),
        Outcome::Applied
    );
    assert_eq!(
        calls.get("UpdateItem"),
        5,
        "one request per write, refusals classified without a read"
    );

    // Round trip through the item mapping: what we read is what we wrote.
    let records = store.cluster_records("prod").await.expect("query");
    assert_eq!(records, vec![rec(6)]);
    let by_arn = store
        .cluster_records(&cluster_arn("prod"))
        .await
        .expect("query by ARN");
    assert_eq!(by_arn, records, "clusters are addressed by name or ARN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_shuffled_delivery_leaves_the_in_order_table() {
    let hosts: Vec<String> = (0..3)
        .map(|h| container_instance_arn("prod", &format!("h{h:04}")))
        .collect();
    let mut log = Vec::new();
    for (h, ci) in hosts.iter().enumerate() {
        for v in 1..=4 {
            let status = if h == 2 && v == 4 {
                "INACTIVE"
            } else {
                "ACTIVE"
            };
            log.push(capacity_instance_event(
                "prod",
                ci,
                v,
                status,
                7680 - 100 * v,
            ));
        }
    }
    for t in 0..10 {
        for (v, s) in [
            (1, "PENDING"),
            (2, "RUNNING"),
            (3, if t % 3 == 0 { "STOPPED" } else { "RUNNING" }),
        ] {
            log.push(task_event("prod", t, v, s));
        }
    }
    let moto = Moto::start();
    deliver_shuffled_concurrently(&moto, log, 6).await;
}

/// A storm: 1,000 task events (250 tasks of a batch cluster, PENDING → RUNNING → STOPPED with a
/// duplicate each), shuffled and delivered 25 at a time (capacity-recorder has no reserved
/// concurrency: EventBridge invokes it as fast as events come).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_a_thousand_task_events_leaves_the_in_order_table() {
    let mut log = Vec::new();
    for t in 0..250 {
        for (v, s) in [
            (1, "PENDING"),
            (2, "RUNNING"),
            (3, "STOPPED"),
            (3, "STOPPED"),
        ] {
            log.push(task_event("prod", t, v, s));
        }
    }
    assert_eq!(log.len(), 1_000);
    let moto = Moto::start();
    deliver_shuffled_concurrently(&moto, log, 25).await;
}

/// Delivers `log` to capacity-recorder on moto reversed, interleaved and with every third event
/// twice, `width` invocations at a time, and checks the table equals in-order delivery into the
/// in-memory store, with exactly one conditional write per delivered event.
async fn deliver_shuffled_concurrently(moto: &Moto, log: Vec<Value>, width: usize) {
    let (store, calls) = table(moto).await;
    // Expected: in-order delivery into the in-memory store (same condition semantics).
    let expected = CapacityRecorder::new(
        InMemoryCapacityStore::new(),
        InMemoryEcs::new(),
        RecorderConfig {
            table: TABLE.into(),
            clusters: ClusterScope::All,
        },
    );
    for e in &log {
        handle(&expected, e.clone(), NOW).await.expect("in order");
    }

    // Delivered: reversed-interleaved, every third event twice, up to 6 invocations at a time.
    let mut delivered: Vec<Value> = log.iter().rev().cloned().collect();
    delivered.extend(log.iter().step_by(3).cloned());
    let third = delivered.len() / 3;
    delivered.rotate_left(third);
    // moto gap: moto evaluates UpdateItem's condition and then applies the update in separate
    // steps (it even creates an empty item first), so two concurrent writes to *one* item can
    // interleave there; DynamoDB makes each conditional write atomic per item. Concurrent
    // invocations here therefore touch distinct items; same-item disorder and duplicates come
    // from the shuffled order across batches (and from the in-memory property test).
    let resource = |e: &Value| {
        let d = &e["detail"];
        d["taskArn"]
            .as_str()
            .or(d["containerInstanceArn"].as_str())
            .unwrap_or("")
            .to_string()
    };
    // Each item's deliveries keep their (disordered) order; round r delivers every item's r-th.
    let mut queues: Vec<(String, std::collections::VecDeque<Value>)> = Vec::new();
    for e in &delivered {
        let key = resource(e);
        match queues.iter_mut().find(|(k, _)| *k == key) {
            Some((_, q)) => q.push_back(e.clone()),
            None => queues.push((key, [e.clone()].into())),
        }
    }
    let mut batches: Vec<Vec<Value>> = Vec::new();
    loop {
        let round: Vec<Value> = queues
            .iter_mut()
            .filter_map(|(_, q)| q.pop_front())
            .collect();
        if round.is_empty() {
            break;
        }
        batches.extend(round.chunks(width).map(<[Value]>::to_vec));
    }
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), delivered.len());
    assert!(
        batches.iter().filter(|b| b.len() > 1).count() * 2 > batches.len(),
        "mostly concurrent batches: {:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let rec = Arc::new(recorder(moto, store, ClusterScope::All));
    let mut registrations = 0;
    for chunk in &batches {
        let mut handles = Vec::new();
        for e in chunk {
            let rec = Arc::clone(&rec);
            let e = e.clone();
            handles.push(tokio::spawn(async move { handle(&*rec, e, NOW).await }));
        }
        for h in handles {
            let response = h.await.expect("join").expect("handled");
            assert_eq!(response.event.as_ref().map(|e| e.writes), Some(1));
            registrations += usize::from(
                response
                    .event
                    .as_ref()
                    .is_some_and(|e| e.registered_cluster.is_some()),
            );
        }
    }
    // The first events of the one cluster (those in flight together) also register it: in
    // Lambda, one per execution environment.
    assert!((1..=width).contains(&registrations), "{registrations}");
    assert_eq!(
        calls.get("UpdateItem") as usize,
        delivered.len() + registrations,
        "exactly one write per event"
    );
    let got = sorted(rec.store().cluster_records("prod").await.expect("query"));
    assert_eq!(got, sorted(expected.store().snapshot()));
    eprintln!(
        "capacity-recorder on moto: {} events delivered, {} UpdateItem",
        delivered.len(),
        calls.get("UpdateItem")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_restores_a_dropped_event_and_a_put_attributes_change() {
    let moto = Moto::start();
    let (store, _) = table(&moto).await;
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 3).await;
    let rec = recorder(&moto, store, ClusterScope::Only(vec!["prod".into()]));
    // Registration events of hosts 0 and 1 arrive; host 2's is lost.
    for ci in &hosts[..2] {
        handle(
            &rec,
            capacity_instance_event("prod", ci, 3, "ACTIVE", 7482),
            NOW,
        )
        .await
        .expect("event");
    }
    // An attribute change on host 1: ECS emits no event for it.
    fx.put_attribute(&hosts[1], "stack", "green").await;

    let response = handle(&rec, scheduled_event(), NOW).await.expect("sweep");
    let sweep = &response.sweeps[0];
    assert_eq!(
        (sweep.hosts, sweep.error.as_deref()),
        (3, None),
        "{sweep:?}"
    );
    let records = rec.store().cluster_records("prod").await.expect("query");
    let host = |arn: &str| {
        records
            .iter()
            .find_map(|r| match r {
                Record::Instance(i) if i.instance.arn == arn => Some(i.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{arn} not in the table: {records:?}"))
    };
    let h2 = host(&hosts[2]);
    assert_eq!(
        h2.instance.status.as_str(),
        "ACTIVE",
        "dropped registration restored"
    );
    assert_eq!(
        h2.instance.registered.memory,
        Some(7482),
        "moto's fixed host size"
    );
    let h1 = host(&hosts[1]);
    assert_eq!(
        h1.instance
            .attribute("stack")
            .and_then(|a| a.value.as_deref()),
        Some("green")
    );
    assert_eq!(
        h1.instance.version,
        Some(3),
        "version-less snapshot keeps the event's version"
    );

    // A later event still applies over the snapshot.
    handle(
        &rec,
        capacity_instance_event("prod", &hosts[1], 4, "DRAINING", 7000),
        NOW,
    )
    .await
    .expect("event");
    let records = rec.store().cluster_records("prod").await.expect("query");
    assert!(records.iter().any(|r| matches!(r, Record::Instance(i) if i.instance.arn == hosts[1] && i.instance.version == Some(4))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_write_nothing() {
    let moto = Moto::start();
    let (store, calls) = table(&moto).await;
    let rec = recorder(&moto, store, ClusterScope::All);
    // Malformed: a clear error naming what is wrong, and no write.
    for (case, payload, want) in [
        (
            "missing clusterArn",
            bare_event("ECS Task State Change", "aws.ecs", json!({"taskArn": "t"})),
            "clusterArn",
        ),
        (
            "missing taskArn",
            bare_event(
                "ECS Task State Change",
                "aws.ecs",
                json!({"clusterArn": cluster_arn("prod"), "version": 1, "lastStatus": "RUNNING"}),
            ),
            "taskArn",
        ),
        (
            "missing containerInstanceArn",
            bare_event(
                "ECS Container Instance State Change",
                "aws.ecs",
                json!({"clusterArn": cluster_arn("prod"), "version": 1, "status": "ACTIVE"}),
            ),
            "containerInstanceArn",
        ),
        (
            "a JSON array",
            json!([{"detail-type": "ECS Task State Change"}]),
            "not an EventBridge event",
        ),
        (
            "a JSON string",
            json!("ECS Task State Change"),
            "not an EventBridge event",
        ),
        ("null", Value::Null, "not an EventBridge event"),
        (
            "detail is not an object",
            bare_event("ECS Container Instance State Change", "aws.ecs", json!(7)),
            "invalid `ECS Container Instance State Change` detail",
        ),
    ] {
        let err = handle(&rec, payload, NOW).await.expect_err(case);
        assert!(err.to_string().contains(want), "{case}: {err}");
        assert_eq!(error_type(err), "InvalidEvent", "{case}");
    }
    // Foreign: logged rejection, success, no write.
    let mut foreign = task_event("prod", 1, 1, "RUNNING");
    foreign["detail"]["taskArn"] = json!(task_arn("other", "t1"));
    let response = handle(&rec, foreign, NOW)
        .await
        .expect("rejection is not a failure");
    assert!(response
        .rejected
        .as_deref()
        .unwrap_or("")
        .contains("another cluster"));
    // Unknown detail-type: skipped.
    let response = handle(
        &rec,
        bare_event("ECS Deployment State Change", "aws.ecs", json!({})),
        NOW,
    )
    .await
    .expect("skip");
    assert!(response
        .event
        .as_ref()
        .and_then(|e| e.skipped.as_ref())
        .is_some());
    assert_eq!(calls.get("UpdateItem"), 0);
    assert_eq!(calls.get("PutItem"), 0);
    assert!(rec
        .store()
        .cluster_records("prod")
        .await
        .expect("query")
        .is_empty());
}

fn find(records: &[Record], arn: &str) -> Record {
    records
        .iter()
        .find(|r| r.arn() == arn)
        .cloned()
        .unwrap_or_else(|| panic!("{arn} not in the table: {records:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_records_tasks_and_tombstones_stopped_ones_on_dynamodb() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (store, calls) = table(&moto).await;
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("web", None).await;
    let web = fx
        .start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let batch = fx.start_task(&td, &hosts[1], "family:web", None).await;
    let rec = recorder(&moto, store, ClusterScope::Only(vec!["prod".into()]));
    // The batch task's RUNNING event (version 2) arrived before the sweep; web's was lost.
    let mut batch_event = fx.task_event(&batch, &hosts[1], 2, "RUNNING");
    // ECS's events carry the task's real group (it never changes): the sweep need not describe
    // a task the table holds as RUNNING / desired RUNNING.
    batch_event["detail"]["group"] = json!("family:web");
    handle(&rec, batch_event, NOW).await.expect("event");

    let response = handle(&rec, scheduled_event(), NOW).await.expect("sweep");
    let sweep = &response.sweeps[0];
    assert_eq!(
        (sweep.hosts, sweep.tasks, sweep.error.as_deref()),
        (2, 2, None),
        "{sweep:?}"
    );
    let records = rec.store().cluster_records("prod").await.expect("query");
    let Record::Task(w) = find(&records, &web) else {
        panic!()
    };
    assert_eq!(
        w.task.container_instance_arn.as_deref(),
        Some(hosts[0].as_str())
    );
    assert_eq!(w.task.group.as_deref(), Some("service:web"));
    assert_eq!(w.task.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(
        w.task.version, None,
        "moto's Describe has no version: none invented"
    );
    let Record::Task(b) = find(&records, &batch) else {
        panic!()
    };
    assert_eq!(
        b.task.group.as_deref(),
        Some("family:web"),
        "ECS's state written"
    );
    assert_eq!(
        b.task.version,
        Some(2),
        "the version-less snapshot kept the event's version"
    );
    // can-place's view: each host carries the group of its task.
    let placement = autopilot_core::capacity::placement_hosts(&records);
    let groups: Vec<(String, Vec<String>)> = placement
        .iter()
        .map(|h| (h.id.clone(), h.task_groups.clone()))
        .collect();
    assert!(
        groups.contains(&(hosts[0].clone(), vec!["service:web".to_string()])),
        "{groups:?}"
    );
    assert!(
        groups.contains(&(hosts[1].clone(), vec!["family:web".to_string()])),
        "{groups:?}"
    );

    // Both tasks stop; their STOPPED events are lost. The sweep leaves tombstones, conditional
    // on the items being as it read them (version-less `web`, versioned `batch`).
    fx.stop_task(&web).await;
    fx.stop_task(&batch).await;
    let writes = calls.get("UpdateItem");
    let response = handle(&rec, scheduled_event(), NOW).await.expect("sweep");
    let sweep = &response.sweeps[0];
    assert_eq!(
        (sweep.tasks, sweep.removed, sweep.conflicts),
        (0, 2, 0),
        "{sweep:?}"
    );
    // The hosts' remaining resources changed too (moto credits the stopped tasks back).
    assert_eq!(
        calls.get("UpdateItem") - writes,
        (sweep.written + sweep.removed) as u64,
        "one write per tombstone and per changed host"
    );
    assert_eq!(calls.get("DeleteItem"), 0);
    let records = rec.store().cluster_records("prod").await.expect("query");
    for (arn, version) in [(&web, None), (&batch, Some(2))] {
        let Record::Task(t) = find(&records, arn) else {
            panic!()
        };
        assert!(t.tombstone, "{t:?}");
        assert_eq!(t.task.version, version);
        assert_eq!(
            t.expires_at,
            Some(NOW + autopilot_core::capacity::TASK_TOMBSTONE_TTL_SECS)
        );
    }
    assert!(
        autopilot_core::capacity::placement_hosts(&records)
            .iter()
            .all(|h| h.task_groups.is_empty()),
        "tombstones are not tasks on a host"
    );

    // Late events of the stopped batch task (the same version, an older one) are refused.
    for (version, want) in [(2, Outcome::Duplicate), (1, Outcome::Stale)] {
        let response = handle(
            &rec,
            fx.task_event(&batch, &hosts[1], version, "RUNNING"),
            NOW,
        )
        .await
        .expect("event");
        assert_eq!(response.event.and_then(|e| e.outcome), Some(want));
    }
    let Record::Task(b) = find(
        &rec.store().cluster_records("prod").await.expect("query"),
        &batch,
    ) else {
        panic!()
    };
    assert!(b.tombstone, "not resurrected: {b:?}");

    // The conditions themselves, on DynamoDB: a write conditional on a version the item no
    // longer has is refused and classified without a read. Then the item is deleted with a raw
    // DeleteItem under the same conditions (the store has no delete: capacity-recorder's role
    // has no DeleteItem and its code never deletes): these calls go with the fixtures'
    // credentials.
    let store = &DynamoCapacityStore::new(moto.dynamodb(), TABLE);
    let key = Record::Task(b.clone()).key();
    assert_eq!(
        store
            .write(
                &Record::Task(b.clone()),
                WriteCondition::Unchanged(Some(Some(1)))
            )
            .await
            .expect("write"),
        Outcome::Conflict
    );
    let delete_item = |condition: &str, version: Option<i64>| {
        use autopilot_core::ports::capacity_store::schema;
        use aws_sdk_dynamodb::types::AttributeValue;
        moto.dynamodb()
            .delete_item()
            .table_name(TABLE)
            .key(schema::PARTITION_KEY, AttributeValue::S("prod".into()))
            .key(schema::SORT_KEY, AttributeValue::S(key.sort_key.clone()))
            .condition_expression(condition)
            .expression_attribute_names("#v", schema::VERSION_ATTRIBUTE)
            .set_expression_attribute_values(
                version.map(|v| [(":v".to_string(), AttributeValue::N(v.to_string()))].into()),
            )
            .send()
    };
    let refused = delete_item("attribute_exists(pk) AND attribute_not_exists(#v)", None)
        .await
        .expect_err("the item has a version: refused");
    assert!(
        refused
            .as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception()),
        "{refused:?}"
    );
    delete_item("#v = :v", Some(2))
        .await
        .expect("the item's version: applied");
    let records = store.cluster_records("prod").await.expect("query");
    assert!(records.iter().all(|r| r.arn() != batch), "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_keeps_the_registration_time_the_sweep_recorded() {
    let moto = Moto::start();
    let (store, calls) = table(&moto).await;
    let (_fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 1).await;
    let rec = recorder(&moto, store, ClusterScope::Only(vec!["prod".into()]));
    handle(&rec, scheduled_event(), NOW).await.expect("sweep");
    let registered_at = |records: &[Record]| match find(records, &hosts[0]) {
        Record::Instance(i) => i.instance.registered_at,
        other => panic!("{other:?}"),
    };
    let records = rec.store().cluster_records("prod").await.expect("query");
    let at = registered_at(&records).expect("moto's Describe has registeredAt");

    // An event (no registeredAt in events) applies with one UpdateItem and keeps it.
    let writes = calls.get("UpdateItem");
    let response = handle(
        &rec,
        capacity_instance_event("prod", &hosts[0], 5, "DRAINING", 7000),
        NOW,
    )
    .await
    .expect("event");
    let event = response.event.expect("recorded");
    assert_eq!(event.outcome, Some(Outcome::Applied));
    // (+ the cluster's registration: this environment's first event of the cluster; the sweep
    // had registered it already, so the conditional write changes nothing.)
    assert_eq!(event.registered_cluster, Some(false));
    assert_eq!(calls.get("UpdateItem") - writes, 2);
    let records = rec.store().cluster_records("prod").await.expect("query");
    assert_eq!(registered_at(&records), Some(at));
    let Record::Instance(i) = find(&records, &hosts[0]) else {
        panic!()
    };
    assert_eq!(i.instance.status.as_str(), "DRAINING", "the event applied");
    assert_eq!(
        i.instance.ec2_instance_id.as_deref(),
        Some(&*format!("i-{}", &hosts[0][hosts[0].len() - 8..]))
    );

    // Fields the event lacks are removed (the item is the event's state), except registered_at.
    let mut thin = capacity_instance_event("prod", &hosts[0], 6, "DRAINING", 7000);
    let detail = thin["detail"].as_object_mut().expect("detail");
    detail.remove("ec2InstanceId");
    detail.remove("runningTasksCount");
    handle(&rec, thin, NOW).await.expect("event");
    let records = rec.store().cluster_records("prod").await.expect("query");
    let Record::Instance(i) = find(&records, &hosts[0]) else {
        panic!()
    };
    assert_eq!(
        (
            i.instance.ec2_instance_id.as_deref(),
            i.instance.running_tasks_count
        ),
        (None, None)
    );
    assert_eq!(i.instance.registered_at, Some(at));
}

// ---- issue 14: reads by key range, stopping tasks, deleted clusters ----

/// A record of each kind the Live filter must keep or drop, as events and sweeps write them.
fn filter_cases() -> Vec<(Record, bool)> {
    use autopilot_core::capacity::{instance_to_record, with_task_ttl, TaskRecord};
    use autopilot_core::model::{ContainerInstance, InstanceStatus, Task};
    let host = |id: &str, status: InstanceStatus, expires_at: Option<i64>| {
        let ci = ContainerInstance::new(container_instance_arn("prod", id), status);
        let mut r = instance_to_record(&cluster_arn("prod"), ci, None, NOW);
        if let (Record::Instance(i), Some(at)) = (&mut r, expires_at) {
            i.expires_at = Some(at);
        }
        r
    };
    let task = |id: &str, last: &str, tombstone: bool, expires_at: Option<i64>| {
        let mut t = Task::running(task_arn("prod", id), Some("service:web"), None);
        t.container_instance_arn = Some(container_instance_arn("prod", "h1"));
        t.last_status = Some(last.into());
        t.memory = Some(128);
        t.launch_type = Some("EC2".into());
        t.version = Some(2);
        let mut record = TaskRecord::new(cluster_arn("prod"), t);
        record.tombstone = tombstone;
        let mut r = with_task_ttl(record, NOW);
        if let (Record::Task(t), Some(at)) = (&mut r, expires_at) {
            t.expires_at = Some(at);
        }
        r
    };
    vec![
        (host("h1", InstanceStatus::Active, None), true),
        (host("h2", InstanceStatus::Draining, None), true),
        (host("h3", InstanceStatus::Inactive, None), false),
        // Expired a minute ago, not yet deleted by TTL (DynamoDB deletes lazily).
        (host("h4", InstanceStatus::Inactive, Some(NOW - 60)), false),
        (task("t1", "RUNNING", false, None), true),
        (task("t2", "DEPROVISIONING", false, None), true),
        (task("t3", "STOPPED", false, None), false),
        (task("t4", "RUNNING", true, None), false),
        (task("t5", "STOPPED", false, Some(NOW - 60)), false),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_reads_on_dynamodb_keep_what_the_in_memory_rule_keeps() {
    use autopilot_core::ports::{ItemKind, ItemQuery};
    let moto = Moto::start();
    let (store, calls) = table(&moto).await;
    let memory = InMemoryCapacityStore::new();
    for (record, _) in filter_cases() {
        let condition = WriteCondition::Unchanged(None);
        assert_eq!(
            store.write(&record, condition).await.expect("write"),
            Outcome::Applied
        );
        memory.write(&record, condition).await.expect("write");
    }
    let want: Vec<String> = filter_cases()
        .into_iter()
        .filter(|(_, live)| *live)
        .map(|(r, _)| r.arn().to_string())
        .collect();
    let mut got = Vec::new();
    for kind in [ItemKind::Hosts, ItemKind::Tasks] {
        let query = ItemQuery::live("prod", kind, NOW);
        let before = calls.get("Query");
        let page = store.page(&query, None).await.expect("page");
        assert_eq!(calls.get("Query") - before, 1, "one request per page");
        assert_eq!(page.next, None);
        // The live index: only live items are read (and billed), and DynamoDB (here the test
        // bed) reports what the read consumed.
        let indexed = filter_cases()
            .iter()
            .filter(|(r, _)| {
                matches!(r, Record::Task(_)) == (kind == ItemKind::Tasks)
                    && autopilot_core::capacity::live_index_key(r).is_some()
            })
            .count();
        assert_eq!(page.scanned, indexed, "{kind:?}: the live index only");
        assert!(
            page.read_units > 0.0,
            "ConsumedCapacity: {}",
            page.read_units
        );
        let in_memory = memory.page(&query, None).await.expect("page");
        assert_eq!(page.records, in_memory.records, "{kind:?}: same rule");
        got.extend(page.records.iter().map(|r| r.arn().to_string()));
    }
    assert_eq!(got, want);
    // Unfiltered: everything; and by name or ARN alike.
    let all = store
        .cluster_records(&cluster_arn("prod"))
        .await
        .expect("all");
    assert_eq!(all.len(), filter_cases().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_task_survives_the_sweep_on_moto() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (store, _) = table(&moto).await;
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 1).await;
    let td = fx.register_task_definition("web", None).await;
    let stopping = fx
        .start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let stopped = fx.start_task(&td, &hosts[0], "service:web", None).await;
    let rec = recorder(&moto, store, ClusterScope::Only(vec!["prod".into()]));
    for task in [&stopping, &stopped] {
        handle(&rec, fx.task_event(task, &hosts[0], 2, "RUNNING"), NOW)
            .await
            .expect("event");
    }
    // The bed changes moto's task model: moto's StopTask sets desired and last status STOPPED at
    // once, where ECS has a stopping phase (desired STOPPED, last status not STOPPED yet).
    moto.command(json!({"op": "set_task_status", "task_arn": stopping,
        "desired_status": "STOPPED", "last_status": "RUNNING"}));
    fx.stop_task(&stopped).await;
    // moto's ListTasks --desired-status STOPPED returns every task whose desired status is
    // STOPPED, the stopping one and the stopped one (moto keeps stopped tasks listed; ECS for at
    // least an hour): the sweep keeps the first and removes the second.
    let response = handle(&rec, scheduled_event(), NOW).await.expect("sweep");
    let sweep = &response.sweeps[0];
    assert_eq!(
        (
            sweep.tasks,
            sweep.stopping,
            sweep.removed,
            sweep.error.as_deref()
        ),
        (1, 1, 1, None),
        "{sweep:?}"
    );
    let records = rec.store().cluster_records("prod").await.expect("query");
    let Record::Task(t) = find(&records, &stopping) else {
        panic!()
    };
    assert!(!t.tombstone && t.is_active(), "{t:?}");
    assert_eq!(t.task.desired_status.as_deref(), Some("STOPPED"));
    assert!(matches!(find(&records, &stopped), Record::Task(t) if t.tombstone));
    let placement = autopilot_core::capacity::placement_hosts(&records);
    assert_eq!(
        placement[0].task_groups,
        vec!["service:web".to_string()],
        "the stopping task still holds its host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_cluster_is_retired_and_a_missing_one_is_a_skip_not_a_failure() {
    let moto = Moto::start();
    let (store, _) = table(&moto).await;
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "old", 2).await;
    EcsFixture::with_hosts(&moto, "prod", 1).await;
    let rec = recorder(&moto, store.clone(), ClusterScope::All);
    let response = handle(&rec, scheduled_event(), NOW).await.expect("sweep");
    assert_eq!(response.sweeps.len(), 2, "{:?}", response.sweeps);
    fx.ecs
        .delete_cluster()
        .cluster("old")
        .send()
        .await
        .expect("delete cluster");
    // moto gap: DeleteCluster marks the cluster INACTIVE but ListClusters still lists it (and
    // ListContainerInstances still returns its hosts). DescribeClusters says INACTIVE either way,
    // and that is what the sweep goes by.
    let later = NOW + 900;
    let response = handle(&rec, scheduled_event(), later)
        .await
        .expect("a gone cluster does not fail the sweep");
    let old = response
        .sweeps
        .iter()
        .find(|s| s.cluster.ends_with("old"))
        .expect("old reported");
    assert!(
        old.skipped
            .as_deref()
            .unwrap_or("")
            .contains("ECS reports it INACTIVE"),
        "{old:?}"
    );
    assert_eq!((old.removed, old.error.as_deref()), (2, None));
    let records = store.cluster_records("old").await.expect("query");
    assert!(records
        .iter()
        .all(|r| matches!(r, Record::Instance(i) if i.tombstone)));
    assert_eq!(
        autopilot_core::capacity::cluster_capacity("old", &records)
            .totals
            .hosts,
        0
    );
    let entry = store
        .cluster_entry("old")
        .await
        .expect("registry")
        .expect("entry");
    assert_eq!(entry.status, autopilot_core::capacity::ClusterStatus::Gone);
    assert_eq!((entry.retired_hosts, entry.since), (2, later));
    assert!(hosts.iter().all(|h| records.iter().any(|r| r.arn() == h)));

    // A CLUSTERS entry ECS does not know: reported, and the invocation succeeds.
    let named = recorder(
        &moto,
        store,
        ClusterScope::Only(vec!["prod".into(), "no-such-cluster".into()]),
    );
    let response = handle(&named, scheduled_event(), later)
        .await
        .expect("not a failure");
    let missing = &response.sweeps[1];
    assert!(
        missing
            .skipped
            .as_deref()
            .unwrap_or("")
            .contains("cluster no-such-cluster is gone: ECS does not know it"),
        "{missing:?}"
    );
    assert_eq!(response.sweeps[0].error, None);
}

// ---- issue 22: clusters known from events, identities checked before any write ----

/// A cluster ECS does not have (one created and deleted between two sweeps, say an ephemeral CI
/// cluster), known only from events for three of its hosts: the first event registers it, one
/// full sweep (every cluster) asks DescribeClusters about it, ECS answers MISSING, and it is
/// retired. What `capacity show` reads for it (crates/cli `read_view_counted`: the live hosts
/// from the live index, then, with none, the registry entry) says it is gone, with no live host.
/// (`scripts/scale` runs the release `ecs-autopilot capacity show` on the same case.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_known_only_from_events_is_gone_after_one_sweep() {
    use autopilot_core::capacity::ClusterStatus;
    use autopilot_core::ports::{ItemKind, ItemQuery};
    let moto = Moto::start();
    let (store, _) = table(&moto).await;
    // A cluster ECS has, swept as usual beside the ghost.
    EcsFixture::with_hosts(&moto, "prod", 1).await;
    let rec = recorder(&moto, store.clone(), ClusterScope::All);
    let hosts: Vec<String> = (0..3)
        .map(|h| container_instance_arn("ephemeral", &format!("h{h:04}")))
        .collect();
    let mut registrations = 0;
    for ci in &hosts {
        let response = handle(
            &rec,
            capacity_instance_event("ephemeral", ci, 2, "ACTIVE", 7000),
            NOW,
        )
        .await
        .expect("event");
        let event = response.event.expect("recorded");
        assert_eq!((event.outcome, event.writes), (Some(Outcome::Applied), 1));
        registrations += usize::from(event.registered_cluster == Some(true));
    }
    assert_eq!(registrations, 1, "registered by its first event, once");
    let entry = store
        .cluster_entry("ephemeral")
        .await
        .expect("registry")
        .expect("registered from an event");
    assert_eq!(entry.status, ClusterStatus::Active);
    assert_eq!(
        entry.cluster_arn.as_deref(),
        Some(&*cluster_arn("ephemeral"))
    );
    let live = |at: i64| {
        let store = store.clone();
        async move {
            store
                .page(&ItemQuery::live("ephemeral", ItemKind::Hosts, at), None)
                .await
                .expect("live hosts")
        }
    };
    assert_eq!(live(NOW).await.records.len(), 3, "three live hosts before");

    // One full sweep: ListClusters does not list it; the registry does.
    let later = NOW + 600;
    let response = handle(&rec, scheduled_event(), later)
        .await
        .expect("a gone cluster does not fail the sweep");
    assert_eq!(response.sweeps.len(), 2, "{:?}", response.sweeps);
    let ghost = response
        .sweeps
        .iter()
        .find(|s| s.cluster.ends_with("ephemeral"))
        .expect("the registered cluster was asked about");
    assert!(
        ghost
            .skipped
            .as_deref()
            .unwrap_or("")
            .contains("cluster ephemeral is gone: ECS does not know it"),
        "{ghost:?}"
    );
    assert_eq!(
        (ghost.removed, ghost.removed_hosts, ghost.error.as_deref()),
        (3, 3, None),
        "{ghost:?}"
    );
    let prod = response
        .sweeps
        .iter()
        .find(|s| s.cluster.ends_with("prod"))
        .expect("prod swept");
    assert_eq!((prod.hosts, prod.error.as_deref()), (1, None), "{prod:?}");

    // `capacity show`'s reads: no live host (nothing read from the index), and the registry
    // says gone, with what the sweep retired.
    let page = live(later).await;
    assert!(page.records.is_empty(), "no live host: {:?}", page.records);
    assert_eq!(page.scanned, 0, "the live index holds none of them");
    let entry = store
        .cluster_entry("ephemeral")
        .await
        .expect("registry")
        .expect("entry");
    assert_eq!(entry.status, ClusterStatus::Gone);
    assert_eq!(
        (entry.retired_hosts, entry.retired_tasks, entry.since),
        (3, 0, later)
    );
    // The three items are fences keeping the version events gave them: a late ACTIVE event of
    // that version is refused.
    let records = store.cluster_records("ephemeral").await.expect("all");
    assert_eq!(records.len(), 3, "{records:?}");
    for ci in &hosts {
        let Record::Instance(i) = find(&records, ci) else {
            panic!()
        };
        assert!(i.tombstone, "{i:?}");
        assert_eq!(i.instance.version, Some(2));
    }
    let response = handle(
        &rec,
        capacity_instance_event("ephemeral", &hosts[0], 2, "ACTIVE", 7000),
        later,
    )
    .await
    .expect("late event");
    assert_eq!(
        response.event.and_then(|e| e.outcome),
        Some(Outcome::Duplicate)
    );
    assert!(live(later).await.records.is_empty(), "still no live host");
}

/// Identity values an event may not write (issue 22), for `field` (`clusterArn`,
/// `containerInstanceArn`, `taskArn`): blank, free text, malformed ARNs and ARNs of the wrong
/// kind, in the old (`…/ID`) and the new (`…/CLUSTER/ID`) format.
fn mutated_identities(field: &str) -> Vec<String> {
    let base = "arn:aws:ecs:us-east-1:123456789012";
    let mut v: Vec<String> = [
        "",
        " ",
        "\t\n",
        "prod",
        "my cluster",
        "null",
        "arn:",
        "arn:aws:ecs:",
        "arn:aws:ecs:junk",
        "arn:aws:ecs:us-east-1:123456789012:",
        "arn:aws:ecs:us-east-1:12345:cluster/prod",
        "arn:aws:ecs:us-east-1:123456789012:cluster/",
        "arn:aws:ecs:us-east-1:123456789012:cluster/prod/extra",
        "arn:aws:ecs:us-east-1:123456789012:cluster/pr od",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
        "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
        " arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "arn:aws:ecs:us-east-1:123456789012:container-instance/",
        "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/",
        "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/h1/x",
        "arn:aws:ecs:us-east-1:123456789012:task/",
        "arn:aws:ecs:us-east-1:123456789012:task/prod/",
        "arn:aws:ecs:us-east-1:123456789012:task//t1",
        "arn:aws:ecs:us-east-1:123456789012:task/prod/t1/x",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // Well-formed ARNs of another kind, both formats.
    v.extend(wrong_kind_arns(base, field));
    v
}

/// 2,000 events whose identity fields are mutated (blank, free text, malformed ARNs, wrong kinds,
/// old and new ARN formats) through the real handler on moto: each is refused naming its JSON
/// path, and moto (the test bed counts every request of the Rust SDK) receives no write at all —
/// no UpdateItem, PutItem, BatchWriteItem, DeleteItem or TransactWriteItems; the table stays
/// empty. The same events with well-formed identities, old format included, are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_events_with_mutated_identities_write_nothing_on_dynamodb() {
    let moto = Moto::start();
    let (store, calls) = table(&moto).await;
    let rec = recorder(&moto, store, ClusterScope::All);
    let ci = container_instance_arn("prod", "h0001");
    let seeds = events_with_bad_identities(
        &capacity_instance_event("prod", &ci, 1, "ACTIVE", 7000),
        &task_event("prod", 1, 1, "RUNNING"),
        mutated_identities,
    );
    assert!(seeds.len() > 100, "{}", seeds.len());
    moto.command(json!({"op": "aws_calls", "reset": true}));
    for i in 0..2_000 {
        let (event, field) = &seeds[i % seeds.len()];
        let mut event = event.clone();
        event["detail"]["version"] = json!(i + 1);
        let response = handle(&rec, event, NOW)
            .await
            .expect("a refusal is not a failed invocation (no retry)");
        let rejected = response.rejected.unwrap_or_default();
        assert!(
            rejected.starts_with(&format!("detail.{field} ")),
            "event {i}: names its JSON path: {rejected:?}"
        );
        assert_eq!(response.event, None, "event {i}");
    }
    let seen = moto.command(json!({"op": "aws_calls", "reset": true}));
    let dynamodb: Vec<(&String, &Value)> = seen["calls"]
        .as_object()
        .expect("calls")
        .iter()
        .filter(|(op, _)| op.starts_with("dynamodb:"))
        .collect();
    assert!(
        dynamodb.is_empty(),
        "no DynamoDB request at all: {dynamodb:?}"
    );
    for op in [
        "UpdateItem",
        "PutItem",
        "BatchWriteItem",
        "DeleteItem",
        "TransactWriteItems",
    ] {
        assert_eq!(calls.get(op), 0, "{op}");
    }
    let items = moto
        .dynamodb()
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan");
    assert_eq!(items.count(), 0, "{:?}", items.items());

    // Control: well-formed identities, in the old ARN format (…/ID) too, are written — one
    // registration and one item write each cluster and event.
    let old_ci = format!(
        "arn:aws:ecs:us-east-1:123456789012:container-instance/{}",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    );
    let old_task = "arn:aws:ecs:us-east-1:123456789012:task/1a2b3c4d5e6f708192a3b4c5d6e7f809";
    let mut host = capacity_instance_event("prod", &old_ci, 1, "ACTIVE", 7000);
    host["detail"]["containerInstanceArn"] = json!(old_ci);
    let mut task = task_event("prod", 1, 1, "RUNNING");
    task["detail"]["taskArn"] = json!(old_task);
    task["detail"]["containerInstanceArn"] = json!(old_ci);
    for e in [host, task] {
        let response = handle(&rec, e, NOW).await.expect("event");
        assert_eq!(response.rejected, None);
        assert_eq!(
            response.event.and_then(|e| e.outcome),
            Some(Outcome::Applied)
        );
    }
    let seen = moto.command(json!({"op": "aws_calls", "reset": true}));
    assert_eq!(seen["calls"]["dynamodb:UpdateItem"], json!(3), "{seen}");
    let records = rec.store().cluster_records("prod").await.expect("query");
    assert!(records.iter().any(|r| r.arn() == old_ci));
    assert!(records.iter().any(|r| r.arn() == old_task));
}

/// A sweep that cannot list its clusters fails the invocation whatever the error's class: a
/// refused ListClusters (AccessDenied: a narrowed role) recorded and answered would stop every
/// sweep without the Errors alarm seeing it; failing, the next minute's sweep is its retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sweep_fails_the_invocation() {
    let ecs = InMemoryEcs::new();
    ecs.add_cluster(&cluster_arn("prod"));
    ecs.fail(
        "ListClusters",
        autopilot_core::ports::EcsError::Refused {
            operation: "ListClusters",
            code: "AccessDeniedException".into(),
            message: "not authorized to perform ecs:ListClusters".into(),
        },
    );
    let rec = CapacityRecorder::new(
        InMemoryCapacityStore::new(),
        ecs,
        RecorderConfig {
            table: TABLE.into(),
            clusters: ClusterScope::All,
        },
    );
    let answer = handle(&rec, scheduled_event(), NOW).await;
    let err = answer
        .expect_err("a refused sweep fails the invocation")
        .to_string();
    assert!(err.contains("AccessDeniedException"), "{err}");
}
