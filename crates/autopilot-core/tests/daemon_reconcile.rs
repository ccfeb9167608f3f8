//! daemon-count's reconciler over the in-memory ECS: which services it manages, writes only
//! changes, stops misplaced tasks after the count, records refusals and marks retryable failures,
//! skips events a reconcile already covered, and sweeps clusters in rotation within the deadline.
//! The decision's tables of cases are beside it, in `src/daemon/decide_table.rs`.

use std::time::{Duration, Instant};

use autopilot_core::daemon::{
    services_for_cluster, Action, ClusterReport, DaemonConfig, DaemonReconciler, DecisionRecord,
};
use autopilot_core::markers::DAEMON_TAG;
use autopilot_core::memory::InMemoryEcs;
use autopilot_core::model::{
    Attribute, ContainerInstance, PlacementConstraint, Service, Task, TaskDefinition, TaskSet,
};
use autopilot_core::ports::EcsError;
use autopilot_core::testing::{
    daemon_service, fleet, idle_host, service, task_definition, task_definition_arn,
};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
/// When a test reconciles (Unix seconds) unless it says otherwise.
const NOW: i64 = 1_800_000_000;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn configured_arns_apply_only_to_their_cluster() {
    let entries = names(&[
        "logs",
        "arn:aws:ecs:us-east-1:1:service/prod/metrics",
        "arn:aws:ecs:us-east-1:1:service/staging/metrics",
        "arn:aws:ecs:us-east-1:1:service/legacy-short-arn",
    ]);
    assert_eq!(
        services_for_cluster(&entries, CLUSTER),
        names(&[
            "logs",
            "arn:aws:ecs:us-east-1:1:service/prod/metrics",
            "arn:aws:ecs:us-east-1:1:service/legacy-short-arn"
        ])
    );
    assert_eq!(services_for_cluster(&entries, "staging").len(), 3);
}

// ---- one cluster: discovery, writes on change, failures ----

fn tagged(name: &str, desired: i32) -> Service {
    let mut s = service(CLUSTER, name);
    s.desired_count = desired;
    s.tags.insert(DAEMON_TAG.into(), "true".into());
    s
}

fn memory_cluster() -> InMemoryEcs {
    let ecs = InMemoryEcs::new();
    for ci in fleet(CLUSTER) {
        ecs.add_instance(CLUSTER, ci);
    }
    for (name, desired) in [("logs", 0), ("metrics", 7)] {
        ecs.add_service(CLUSTER, tagged(name, desired));
    }
    for name in ["logs", "metrics", "web", "opted-out", "odd-tag"] {
        ecs.add_task_definition(TaskDefinition {
            arn: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1"),
            placement_constraints: vec![],
            ..Default::default()
        });
    }
    let mut web = service(CLUSTER, "web");
    web.desired_count = 2;
    ecs.add_service(CLUSTER, web);
    let mut off = service(CLUSTER, "opted-out");
    off.tags.insert(DAEMON_TAG.into(), "false".into());
    ecs.add_service(CLUSTER, off);
    let mut odd = service(CLUSTER, "odd-tag");
    odd.tags.insert(DAEMON_TAG.into(), "yes please".into());
    ecs.add_service(CLUSTER, odd);
    ecs
}

/// `rec` reconciles `CLUSTER` at `NOW`; the cluster must be readable.
async fn reconcile(rec: &DaemonReconciler<InMemoryEcs>) -> ClusterReport {
    rec.reconcile_cluster(CLUSTER, NOW)
        .await
        .expect("reconcile")
}

/// `report`'s record of `service`.
fn record<'a>(report: &'a ClusterReport, service: &str) -> &'a DecisionRecord {
    report
        .services
        .iter()
        .find(|r| r.service == service)
        .unwrap_or_else(|| panic!("{service} reported: {report:?}"))
}

#[tokio::test]
async fn reconcile_writes_only_changes_and_caches_task_definitions() {
    let rec = DaemonReconciler::new(memory_cluster(), DaemonConfig::default());
    let report = reconcile(&rec).await;
    let ecs = rec.ecs();
    assert_eq!(ecs.desired_count(CLUSTER, "logs"), Some(5));
    assert_eq!(ecs.desired_count(CLUSTER, "metrics"), Some(5));
    assert_eq!(ecs.desired_count(CLUSTER, "web"), Some(2));
    assert_eq!(ecs.count_calls("UpdateService"), 2);
    assert_eq!(ecs.count_calls("DescribeTaskDefinition"), 2);
    assert_eq!(record(&report, "odd-tag").action, Action::Skipped);
    assert!(report
        .services
        .iter()
        .all(|r| r.service != "opted-out" && r.service != "web"));

    ecs.clear_calls();
    let again = reconcile(&rec).await;
    assert_eq!(
        ecs.count_calls("UpdateService"),
        0,
        "nothing changed: no write"
    );
    assert_eq!(
        ecs.count_calls("DescribeTaskDefinition"),
        0,
        "revisions are cached"
    );
    assert!(again
        .services
        .iter()
        .filter(|r| r.service == "logs" || r.service == "metrics")
        .all(|r| r.action == Action::Unchanged));
}

#[tokio::test]
async fn clusters_without_daemon_services_cost_no_host_reads() {
    let ecs = InMemoryEcs::new();
    ecs.add_instance(CLUSTER, idle_host(CLUSTER, "a1"));
    ecs.add_service(CLUSTER, service(CLUSTER, "web"));
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let report = reconcile(&rec).await;
    assert!(report.services.is_empty());
    assert_eq!(rec.ecs().calls(), vec!["ListServices", "DescribeServices"]);
}

#[tokio::test]
async fn dry_run_decides_without_writing() {
    let rec = DaemonReconciler::new(
        memory_cluster(),
        DaemonConfig {
            dry_run: true,
            ..DaemonConfig::default()
        },
    );
    let report = reconcile(&rec).await;
    let logs = record(&report, "logs");
    assert_eq!(
        (logs.previous_desired, logs.new_desired, logs.action),
        (Some(0), Some(5), Action::DryRun)
    );
    assert_eq!(rec.ecs().count_calls("UpdateService"), 0);
    assert_eq!(rec.ecs().desired_count(CLUSTER, "logs"), Some(0));
}

#[tokio::test]
async fn a_failed_write_is_recorded_and_the_rest_continue() {
    let ecs = memory_cluster();
    ecs.fail(
        "UpdateService",
        EcsError::Throttled {
            operation: "UpdateService",
            message: "Rate exceeded".into(),
        },
    );
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let report = reconcile(&rec).await;
    let failed: Vec<_> = report
        .services
        .iter()
        .filter(|r| r.action == Action::Failed)
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "both writes attempted, both recorded: {report:?}"
    );
    assert!(failed[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("Rate exceeded"));
}

#[tokio::test]
async fn an_unreadable_task_definition_fails_that_service_only() {
    let ecs = memory_cluster();
    let mut orphan = tagged("orphan", 1);
    orphan.task_definition =
        Some("arn:aws:ecs:us-east-1:123456789012:task-definition/gone:9".into());
    ecs.add_service(CLUSTER, orphan);
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let report = reconcile(&rec).await;
    assert_eq!(record(&report, "orphan").action, Action::Failed);
    assert_eq!(
        rec.ecs().desired_count(CLUSTER, "orphan"),
        Some(1),
        "not written"
    );
    assert_eq!(rec.ecs().desired_count(CLUSTER, "logs"), Some(5));
}

#[tokio::test]
async fn a_missing_cluster_is_an_error_and_other_clusters_still_run() {
    let rec = DaemonReconciler::new(memory_cluster(), DaemonConfig::default());
    let err = rec
        .reconcile_cluster("ghost", NOW)
        .await
        .expect_err("missing");
    assert_eq!(
        err,
        EcsError::ClusterNotFound {
            cluster: "ghost".into()
        }
    );
    let reports = rec
        .reconcile_clusters(&names(&["ghost", "prod"]), NOW)
        .await;
    assert!(reports[0].error.as_deref().unwrap_or("").contains("ghost"));
    assert_eq!(reports[1].error, None);
    assert_eq!(rec.ecs().desired_count(CLUSTER, "logs"), Some(5));
}

#[tokio::test]
async fn named_services_skip_discovery_and_report_missing_ones() {
    let rec = DaemonReconciler::new(
        memory_cluster(),
        DaemonConfig {
            services: Some(names(&["web", "nope"])),
            ..DaemonConfig::default()
        },
    );
    let report = reconcile(&rec).await;
    assert_eq!(rec.ecs().count_calls("ListServices"), 0);
    // Named services need no tag: the untagged "web" is managed.
    assert_eq!(rec.ecs().desired_count(CLUSTER, "web"), Some(5));
    let nope = record(&report, "nope");
    assert_eq!(nope.action, Action::Skipped);
    assert!(nope.reason.as_deref().unwrap_or("").contains("MISSING"));
}

// ---- misplaced tasks, task sets, refusals, covered events, the sweep ----

/// The daemon's task definition: 256 CPU units, 512 MiB.
fn daemon_td(name: &str) -> TaskDefinition {
    task_definition(task_definition_arn(CLUSTER, name), 256, 512)
}

fn cluster_with(hosts: &[ContainerInstance], services: &[Service]) -> InMemoryEcs {
    let ecs = InMemoryEcs::new();
    for h in hosts {
        ecs.add_instance(CLUSTER, h.clone());
    }
    for s in services {
        ecs.add_service(CLUSTER, s.clone());
        ecs.add_task_definition(daemon_td(&s.name));
    }
    ecs
}

/// `rec` reconciles `CLUSTER` at `NOW` through the sweep's entry point; the first record of
/// its report.
async fn reconcile_only(rec: &DaemonReconciler<InMemoryEcs>) -> DecisionRecord {
    let reports = rec.reconcile_clusters(&[CLUSTER.to_string()], NOW).await;
    reports[0].services[0].clone()
}

/// Hosts `a`, `b` (role `daemon`) and `c` (role `batch`), each running a `logs` task
/// (`task-i-<host>`, started by `started_by`); `logs` is placed on `role == daemon` and wants
/// `desired` tasks, so the one on `c` is misplaced.
fn cluster_with_a_misplaced_task(desired: i32, started_by: Option<&str>) -> InMemoryEcs {
    let role = |name: &str, value: &str| {
        let mut h = idle_host(CLUSTER, name);
        h.running_tasks_count = Some(1);
        h.attributes.push(Attribute {
            name: "role".into(),
            value: Some(value.into()),
        });
        h
    };
    let ecs = InMemoryEcs::new();
    for h in [role("a", "daemon"), role("b", "daemon"), role("c", "batch")] {
        let task = Task::running(
            format!("task-{}", h.display_name()),
            Some("service:logs"),
            started_by,
        );
        ecs.add_instance(CLUSTER, h.clone());
        ecs.add_task(CLUSTER, &h.arn, task);
    }
    let mut svc = daemon_service(CLUSTER, "logs");
    svc.desired_count = desired;
    ecs.add_service(CLUSTER, svc);
    let mut t = daemon_td("logs");
    t.placement_constraints = vec![PlacementConstraint::member_of("attribute:role == daemon")];
    ecs.add_task_definition(t);
    ecs
}

#[tokio::test]
async fn a_task_left_on_a_host_that_stopped_matching_is_stopped_after_the_count() {
    let rec = DaemonReconciler::new(
        cluster_with_a_misplaced_task(3, Some("ecs-svc/1")),
        DaemonConfig::default(),
    );
    let r = reconcile_only(&rec).await;
    assert_eq!(
        (r.action, r.new_desired),
        (Action::Updated, Some(2)),
        "{r:?}"
    );
    assert_eq!(r.misplaced_tasks, vec!["task-i-c".to_string()]);
    let calls = rec.ecs().calls();
    let update = calls.iter().position(|c| c == "UpdateService");
    let stop = calls.iter().position(|c| c == "StopTask");
    assert!(update < stop, "the count first, then the stop: {calls:?}");
    assert_eq!(
        rec.ecs().task("task-i-c").and_then(|t| t.desired_status),
        Some("STOPPED".into())
    );

    // DRY_RUN: decided and reported, nothing stopped.
    let rec = DaemonReconciler::new(
        cluster_with_a_misplaced_task(2, None),
        DaemonConfig {
            dry_run: true,
            ..DaemonConfig::default()
        },
    );
    assert_eq!(reconcile_only(&rec).await.action, Action::DryRun);
    assert_eq!(rec.ecs().count_calls("StopTask"), 0);
}

#[tokio::test]
async fn an_external_controller_service_is_counted_from_its_primary_task_set() {
    let mut svc = daemon_service(CLUSTER, "logs");
    svc.deployment_controller = Some("EXTERNAL".into());
    svc.task_definition = None;
    svc.task_sets = vec![
        TaskSet {
            status: "ACTIVE".into(),
            task_definition: Some(task_definition_arn(CLUSTER, "old")),
        },
        TaskSet {
            status: "PRIMARY".into(),
            task_definition: Some(task_definition_arn(CLUSTER, "logs")),
        },
    ];
    let ecs = cluster_with(&[idle_host(CLUSTER, "a"), idle_host(CLUSTER, "b")], &[svc]);
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let r = reconcile_only(&rec).await;
    assert_eq!(
        (r.action, r.new_desired),
        (Action::Updated, Some(2)),
        "{r:?}"
    );
    assert_eq!(rec.ecs().count_calls("DescribeTaskDefinition"), 1);
}

#[tokio::test]
async fn refusals_are_recorded_and_retryable_failures_are_marked() {
    for (error, retryable) in [
        (
            EcsError::Refused {
                operation: "UpdateService",
                code: "AccessDeniedException".into(),
                message: "not authorized".into(),
            },
            false,
        ),
        (
            EcsError::Throttled {
                operation: "UpdateService",
                message: "Rate exceeded".into(),
            },
            true,
        ),
    ] {
        let ecs = cluster_with(
            &[idle_host(CLUSTER, "a")],
            &[daemon_service(CLUSTER, "logs")],
        );
        ecs.fail("UpdateService", error);
        let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
        let r = reconcile_only(&rec).await;
        assert_eq!(r.action, Action::Failed);
        assert_eq!(r.retryable, retryable, "{r:?}");
    }
}

#[tokio::test]
async fn a_covered_event_is_known_and_a_failed_reconcile_covers_nothing() {
    let ecs = cluster_with(
        &[idle_host(CLUSTER, "a")],
        &[daemon_service(CLUSTER, "logs")],
    );
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    assert!(!rec.covered(CLUSTER, 900), "nothing read yet");
    rec.reconcile_clusters(&["prod".to_string()], 1_000).await;
    assert!(rec.covered(CLUSTER, 998), "read at 1000, event at 998");
    assert!(!rec.covered(CLUSTER, 999), "within the margin: read again");
    assert!(!rec.covered("arn:aws:ecs:us-east-1:1:cluster/other", 0));

    let ecs = cluster_with(
        &[idle_host(CLUSTER, "a")],
        &[daemon_service(CLUSTER, "logs")],
    );
    ecs.fail(
        "UpdateService",
        EcsError::Api {
            operation: "UpdateService",
            message: "500".into(),
        },
    );
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    rec.reconcile_clusters(&[CLUSTER.to_string()], 1_000).await;
    assert!(
        !rec.covered(CLUSTER, 900),
        "a reconcile whose write failed must not swallow the retry"
    );
}

#[tokio::test]
async fn the_sweep_rotates_its_start_and_stops_starting_at_the_deadline() {
    let ecs = InMemoryEcs::new();
    let clusters: Vec<String> = (0..10)
        .map(|i| format!("arn:aws:ecs:us-east-1:1:cluster/c{i}"))
        .collect();
    for c in &clusters {
        ecs.add_cluster(c);
    }
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let out = rec.sweep(&clusters, None, 13, NOW).await;
    assert_eq!(out.reports.len(), 10);
    assert_eq!(out.reports[0].cluster, clusters[3], "13 % 10: starts at c3");
    assert_eq!(out.reports[9].cluster, clusters[2]);
    let past = Instant::now() - Duration::from_millis(1);
    let out = rec.sweep(&clusters, Some(past), 0, NOW).await;
    assert_eq!(out.reports.len(), 1, "the first cluster always starts");
    assert_eq!(out.reports[0].cluster, clusters[0]);
    assert_eq!(
        out.not_reached,
        clusters[1..],
        "the rest reported, left for the next sweep"
    );
    // An event's one cluster is reconciled even when the invocation has almost no time left.
    let out = rec.sweep(&clusters[4..5], Some(past), 7, NOW).await;
    assert_eq!(out.reports.len(), 1);
    assert!(out.not_reached.is_empty());
}
