//! What CloudWatch bills for the functions' metrics: every distinct custom-metric identity
//! (namespace, metric name, dimension names and their values) is one billed metric. A sweep of 10
//! clusters in which nothing changes, by each function, with default settings, stays within 40
//! identities in all; the manual's cost table (docs/operability.md, "What it costs") is computed from this count.
//!
//! The lines are the real ones (each handler against moto, then the invocation loop's `aws usage`
//! line through the same `CallCounter::log_since`), captured on the test's thread instead of
//! stdout: the test runs on a current-thread runtime.

use std::collections::{BTreeMap, BTreeSet};

use autopilot_aws::{AwsAutoScaling, AwsEcs, AwsSqs, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::daemon::{Action, DaemonConfig, DaemonReconciler};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::drain::{DrainConfig, Drainer, Outcome};
use autopilot_core::env::ClusterScope;
use autopilot_core::log;
use integration_tests::fixtures::{scheduled_event, spot_interruption_event, DAEMON_TAG};
use integration_tests::{
    EcsFixture, Moto, CAPACITY_RECORDER, DAEMON_COUNT, INSTANCE_DRAINER, LIFECYCLE_EVENT_UNIX,
    TASK_DISPATCHER,
};
use serde_json::Value;

const CLUSTERS: usize = 10;
const NOW: i64 = 1_800_000_000;

/// The distinct metric identities of EMF lines, per `Function` dimension value.
fn identities(lines: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).expect("every line is one JSON object");
        let function = v["Function"].as_str().unwrap_or("").to_string();
        for directive in v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let namespace = directive["Namespace"].as_str().expect("a namespace");
            for dimensions in directive["Dimensions"].as_array().expect("dimensions") {
                let dims: Vec<String> = dimensions
                    .as_array()
                    .expect("a dimension set")
                    .iter()
                    .map(|d| {
                        let name = d.as_str().expect("a dimension name");
                        format!(
                            "{name}={}",
                            v[name].as_str().expect("its value in the line")
                        )
                    })
                    .collect();
                for metric in directive["Metrics"].as_array().expect("metrics") {
                    let name = metric["Name"].as_str().expect("a metric name");
                    out.entry(function.clone())
                        .or_default()
                        .insert(format!("{namespace}/{name}[{}]", dims.join(",")));
                }
            }
        }
    }
    out
}

fn total(ids: &BTreeMap<String, BTreeSet<String>>) -> usize {
    ids.values().map(BTreeSet::len).sum()
}

/// Each function's no-change sweep of the 10 clusters, its lines captured; the idle dispatcher
/// wake-ups' reports come back too (for the count before idle wake-ups stopped emitting).
async fn no_change_sweeps(
    moto: &Moto,
    capture: &log::capture::Capture,
    run: usize,
) -> (Vec<String>, Vec<autopilot_core::dispatch::WakeReport>) {
    let mut lines = Vec::new();

    // daemon-count: every daemon service already at its count.
    let clients = moto.function_clients(DAEMON_COUNT);
    let reconciler = DaemonReconciler::new(AwsEcs::new(clients.ecs), DaemonConfig::default());
    daemon_count::handle(&reconciler, scheduled_event())
        .await
        .expect("the first sweep sets the counts");
    capture.take();
    let before = clients.counter.usage();
    let response = daemon_count::handle(&reconciler, scheduled_event())
        .await
        .expect("a no-change sweep");
    clients.counter.log_since("daemon-count", before);
    let records: Vec<_> = response.clusters.iter().flat_map(|c| &c.services).collect();
    assert_eq!(records.len(), CLUSTERS, "one daemon service per cluster");
    assert!(
        records.iter().all(|r| r.action == Action::Unchanged),
        "{records:#?}"
    );
    lines.extend(capture.take());

    // capacity-recorder: the second sweep finds every item equal.
    let clients = moto.function_clients(CAPACITY_RECORDER);
    let table = format!("capacity-{run}");
    DynamoCapacityStore::new(moto.dynamodb(), table.clone())
        .create_table()
        .await
        .expect("capacity table");
    let store = DynamoCapacityStore::new(clients.dynamodb, table.clone());
    let recorder = CapacityRecorder::new(
        store,
        AwsEcs::new(clients.ecs),
        RecorderConfig {
            table,
            clusters: ClusterScope::All,
        },
    );
    capacity_recorder::handle(&recorder, scheduled_event(), NOW)
        .await
        .expect("the first sweep records the hosts");
    capture.take();
    let before = clients.counter.usage();
    let response = capacity_recorder::handle(&recorder, scheduled_event(), NOW + 60)
        .await
        .expect("a no-change sweep");
    clients.counter.log_since("capacity-recorder", before);
    assert_eq!(response.sweeps.len(), CLUSTERS);
    assert!(
        response
            .sweeps
            .iter()
            .all(|s| s.written == 0 && s.removed == 0),
        "{:#?}",
        response.sweeps
    );
    lines.extend(capture.take());

    // instance-drainer: a spot warning for an instance no cluster has searches all 10.
    let url = moto.create_queue(&format!("rechecks-{run}")).await;
    let clients = moto.function_clients(INSTANCE_DRAINER);
    let drainer = Drainer::new(
        AwsEcs::new(clients.ecs),
        AwsAutoScaling::new(clients.autoscaling),
        AwsSqs::new(clients.sqs, url.clone()),
        DrainConfig::with_queue(url),
    );
    let before = clients.counter.usage();
    let response = instance_drainer::handle(
        &drainer,
        spot_interruption_event("i-0000000000000000f"),
        None,
        LIFECYCLE_EVENT_UNIX + 30,
    )
    .await
    .expect("a spot warning");
    clients.counter.log_since("instance-drainer", before);
    assert_eq!(
        response.record().map(|r| r.outcome),
        Some(Outcome::NotEcsHost)
    );
    lines.extend(capture.take());

    // task-dispatcher: the minute's safety sweep with no job anywhere.
    let clients = moto.function_clients(TASK_DISPATCHER);
    let jobs_table = format!("jobs-{run}");
    DynamoJobStore::new(moto.dynamodb(), jobs_table.clone())
        .create_table()
        .await
        .expect("jobs table");
    let jobs = DynamoJobStore::new(clients.dynamodb, jobs_table.clone());
    let dispatcher = Dispatcher::new(
        jobs,
        AwsEcs::new(clients.ecs),
        None::<DynamoCapacityStore>,
        DispatchConfig::with_jobs_table(jobs_table),
    );
    let before = clients.counter.usage();
    let response = task_dispatcher::handle(&dispatcher, scheduled_event(), NOW)
        .await
        .expect("a sweep");
    clients.counter.log_since("task-dispatcher", before);
    assert_eq!(response.wakes.len(), CLUSTERS);
    assert!(response.wakes.iter().all(|w| w.is_idle()));
    lines.extend(capture.take());

    (lines, response.wakes)
}

#[tokio::test]
async fn a_no_change_sweep_of_ten_clusters_costs_at_most_forty_custom_metrics() {
    let moto = Moto::start();
    for i in 0..CLUSTERS {
        let (fx, _hosts) = EcsFixture::with_hosts(&moto, &format!("c{i}"), 2).await;
        let td = fx.register_task_definition("agent", None).await;
        fx.create_service("agent", &td, 2, DAEMON_TAG, false).await;
    }
    let capture = log::capture::start();

    // Default settings: per Function only.
    log::configure(None, false);
    let (lines, _) = no_change_sweeps(&moto, &capture, 0).await;
    let default = identities(&lines);
    let per_function: BTreeMap<&str, usize> = default
        .iter()
        .map(|(f, ids)| (f.as_str(), ids.len()))
        .collect();
    println!("default settings, distinct metric identities per function: {per_function:?}");
    for (function, ids) in &default {
        for id in ids {
            assert!(
                !id.contains("Cluster="),
                "{function}: {id} - the per-cluster dimension is opt-in"
            );
        }
    }
    assert_eq!(
        per_function.keys().copied().collect::<Vec<_>>(),
        [
            "capacity-recorder",
            "daemon-count",
            "instance-drainer",
            "task-dispatcher"
        ],
        "every function's metrics were seen"
    );
    let count = total(&default);
    assert!(count <= 40, "{count} distinct custom metrics: {default:#?}");
    // The manual's cost table is computed from this number (docs/operability.md, "What it costs").
    assert_eq!(
        count, 15,
        "update docs/operability.md 'What it costs' with the new count"
    );

    // PerClusterMetrics=true: each function's per-cluster metrics once per cluster on top; and
    // what the same sweeps cost before this change (per-cluster dimension always on, an idle
    // dispatcher wake-up still emitting its nine queue metrics per cluster).
    log::configure(None, true);
    let (lines, idle_wakes) = no_change_sweeps(&moto, &capture, 1).await;
    let opted_in = identities(&lines);
    let mut before = opted_in.clone();
    for wake in &idle_wakes {
        let mut metrics = wake.metrics();
        metrics.per_cluster = true;
        let line = log::to_emf_line("t", 0, "INFO", "idle", &serde_json::json!({}), &metrics)
            .expect("json");
        for (f, ids) in identities(&[line]) {
            before.entry(f).or_default().extend(ids);
        }
    }
    log::configure(None, false);
    println!(
        "per-cluster opt-in: {} identities; before (always per cluster, idle wake-ups emitting): {}",
        total(&opted_in),
        total(&before)
    );
    assert!(total(&opted_in) > count);
    assert!(total(&before) > total(&opted_in));
}
