//! daemon-count's decision, as tables of cases, and the reconcile loop over the in-memory adapter.

use std::collections::BTreeMap;

use autopilot_core::daemon::DaemonConfig;
use autopilot_core::daemon::{
    decide, services_for_cluster, Action, DaemonReconciler, Decision, Excluded, DAEMON_TAG,
    TASKS_PER_HOST_TAG,
};
use autopilot_core::memory::InMemoryEcs;
use autopilot_core::model::{
    Attribute, ContainerInstance, InstanceStatus, PlacementConstraint, SchedulingStrategy, Service,
    TaskDefinition,
};
use autopilot_core::ports::EcsError;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

/// A host: `i-<name>`, status, agent, instance type.
fn host(name: &str, status: &str, agent: Option<bool>, itype: &str) -> ContainerInstance {
    let mut ci = ContainerInstance::new(
        format!("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/{name}"),
        InstanceStatus::from(status),
    );
    ci.ec2_instance_id = Some(format!("i-{name}"));
    ci.agent_connected = agent;
    ci.attributes = vec![
        Attribute {
            name: "ecs.instance-type".into(),
            value: Some(itype.into()),
        },
        Attribute {
            name: "ecs.availability-zone".into(),
            value: Some(
                if name.ends_with('b') {
                    "us-east-1b"
                } else {
                    "us-east-1a"
                }
                .into(),
            ),
        },
    ];
    ci
}

fn service(name: &str) -> Service {
    Service {
        arn: format!("arn:aws:ecs:us-east-1:123456789012:service/prod/{name}"),
        name: name.into(),
        cluster_arn: Some(CLUSTER.into()),
        status: "ACTIVE".into(),
        scheduling_strategy: SchedulingStrategy::Replica,
        desired_count: 0,
        task_definition: Some(format!(
            "arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1"
        )),
        placement_constraints: vec![],
        tags: BTreeMap::new(),
        ..Default::default()
    }
}

fn td(constraints: &[&str]) -> TaskDefinition {
    TaskDefinition {
        arn: "td".into(),
        placement_constraints: constraints
            .iter()
            .map(|e| PlacementConstraint::member_of(*e))
            .collect(),
        ..Default::default()
    }
}

fn fleet() -> Vec<ContainerInstance> {
    vec![
        host("a1", "ACTIVE", Some(true), "t3.large"),
        host("a2b", "ACTIVE", Some(true), "t3.large"),
        host("a3", "ACTIVE", Some(true), "m5.large"),
        host("d1", "DRAINING", Some(true), "t3.large"),
        host("x1", "ACTIVE", Some(false), "t3.large"),
        host("x2", "ACTIVE", None, "t3.large"),
        host("r1", "REGISTERING", Some(true), "t3.large"),
        host("g1", "DEREGISTERING", Some(true), "t3.large"),
        host("f1", "REGISTRATION_FAILED", Some(false), "t3.large"),
        host("n1", "SOMETHING_NEW", Some(true), "t3.large"),
    ]
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn eligible_hosts_table() {
    // (case, service constraints, task definition constraints, tasks-per-host tag, expected desired,
    //  expected excluded-by-constraint)
    type Case<'a> = (
        &'a str,
        Vec<&'a str>,
        Vec<&'a str>,
        Option<&'a str>,
        i32,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        // Disconnected agents (i-x1, i-x2) count: they reconnect, and their tasks keep running.
        ("no constraints", vec![], vec![], None, 5, vec![]),
        (
            "task def t3 only",
            vec![],
            vec!["attribute:ecs.instance-type =~ t3.*"],
            None,
            4,
            vec!["i-a3"],
        ),
        (
            "service t3 only",
            vec!["attribute:ecs.instance-type == t3.large"],
            vec![],
            None,
            4,
            vec!["i-a3"],
        ),
        (
            "service AND task def must both hold",
            vec!["attribute:ecs.instance-type =~ t3.*"],
            vec!["attribute:ecs.availability-zone == us-east-1b"],
            None,
            1,
            vec!["i-a1", "i-a3", "i-x1", "i-x2"],
        ),
        (
            "no host matches",
            vec![],
            vec!["attribute:ecs.instance-type == c7g.large"],
            None,
            0,
            vec!["i-a1", "i-a2b", "i-a3", "i-x1", "i-x2"],
        ),
        // Several tasks per host: no distinctInstance (with it ECS could never place them).
        ("two tasks per host", vec![], vec![], Some("2"), 10, vec![]),
        ("tag with spaces", vec![], vec![], Some(" 3 "), 15, vec![]),
    ];
    let hosts = fleet();
    for (case, svc_c, td_c, per_host, want, want_constraint) in cases {
        let mut svc = service("s");
        svc.placement_constraints = svc_c
            .iter()
            .map(|e| PlacementConstraint::member_of(*e))
            .collect();
        // distinctInstance never limits which hosts count.
        match per_host {
            None => svc
                .placement_constraints
                .push(PlacementConstraint::distinct_instance()),
            Some(v) => {
                svc.tags.insert(TASKS_PER_HOST_TAG.into(), v.into());
            }
        }
        match decide(&svc, Some(&td(&td_c)), &hosts) {
            Decision::Desired {
                desired,
                excluded,
                constraints,
                disconnected_kept,
                ..
            } => {
                assert_eq!(desired, want, "{case}");
                let connected_excluded = want_constraint
                    .iter()
                    .filter(|h| h.starts_with("i-x"))
                    .count();
                assert_eq!(disconnected_kept, 2 - connected_excluded, "{case}");
                assert_eq!(
                    excluded,
                    Excluded {
                        draining: names(&["i-d1"]),
                        not_active: names(&["i-r1", "i-g1", "i-f1", "i-n1"]),
                        constraint: names(&want_constraint),
                        ..Excluded::default()
                    },
                    "{case}"
                );
                assert_eq!(constraints.len(), svc_c.len() + td_c.len(), "{case}");
            }
            other => panic!("{case}: expected a count, got {other:?}"),
        }
    }
}

#[test]
fn skip_reasons_table() {
    let hosts = fleet();
    let plain = td(&[]);
    let with = |f: &dyn Fn(&mut Service)| {
        let mut s = service("s");
        f(&mut s);
        s
    };
    let cases: Vec<(&str, Service, Option<TaskDefinition>, &str)> = vec![
        (
            "DAEMON strategy",
            with(&|s| s.scheduling_strategy = SchedulingStrategy::Daemon),
            Some(plain.clone()),
            "DAEMON",
        ),
        (
            "unknown strategy",
            with(&|s| s.scheduling_strategy = SchedulingStrategy::Other("NEW".into())),
            Some(plain.clone()),
            "NEW",
        ),
        (
            "service draining",
            with(&|s| s.status = "DRAINING".into()),
            Some(plain.clone()),
            "DRAINING",
        ),
        (
            "tag not a number",
            with(&|s| {
                s.tags.insert(TASKS_PER_HOST_TAG.into(), "two".into());
            }),
            Some(plain.clone()),
            "\"two\"",
        ),
        (
            "tag zero",
            with(&|s| {
                s.tags.insert(TASKS_PER_HOST_TAG.into(), "0".into());
            }),
            Some(plain.clone()),
            "between 1 and 10000",
        ),
        (
            "tag negative",
            with(&|s| {
                s.tags.insert(TASKS_PER_HOST_TAG.into(), "-1".into());
            }),
            Some(plain.clone()),
            "\"-1\"",
        ),
        (
            "tag too large",
            with(&|s| {
                s.tags.insert(TASKS_PER_HOST_TAG.into(), "10001".into());
            }),
            Some(plain.clone()),
            "10001",
        ),
        (
            "tasks-per-host > 1 with distinctInstance",
            with(&|s| {
                s.tags.insert(TASKS_PER_HOST_TAG.into(), "2".into());
                s.placement_constraints
                    .push(PlacementConstraint::distinct_instance());
            }),
            Some(plain.clone()),
            "can never place",
        ),
        (
            "Fargate launch type",
            with(&|s| s.launch_type = Some("FARGATE".into())),
            Some(plain.clone()),
            "FARGATE",
        ),
        (
            "Fargate capacity providers",
            with(&|s| s.capacity_provider_strategy = vec!["FARGATE_SPOT".into()]),
            Some(plain.clone()),
            "Fargate",
        ),
        (
            "task definition unknown",
            service("s"),
            None,
            "task definition unknown",
        ),
        (
            "invalid expression",
            service("s"),
            Some(td(&["attribute:ecs.instance-type =="])),
            "is invalid",
        ),
        (
            "task:group",
            service("s"),
            Some(td(&["task:group == service:web"])),
            "task:group",
        ),
        (
            "runningTasksCount",
            service("s"),
            Some(td(&["runningTasksCount == 0"])),
            "runningTasksCount",
        ),
        (
            "empty memberOf",
            with(&|s| {
                s.placement_constraints.push(PlacementConstraint {
                    kind: "memberOf".into(),
                    expression: None,
                })
            }),
            Some(plain.clone()),
            "without an expression",
        ),
    ];
    for (case, svc, task_def, want) in cases {
        match decide(&svc, task_def.as_ref(), &hosts) {
            Decision::Skip { reason } => assert!(reason.contains(want), "{case}: {reason}"),
            other => panic!("{case}: expected a skip, got {other:?}"),
        }
    }
}

#[test]
fn empty_cluster_means_zero() {
    match decide(&service("s"), Some(&td(&[])), &[]) {
        Decision::Desired {
            desired, eligible, ..
        } => assert_eq!((desired, eligible), (0, 0)),
        other => panic!("{other:?}"),
    }
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

// ---- the reconcile loop over the in-memory adapter ----

fn tagged(name: &str, desired: i32) -> Service {
    let mut s = service(name);
    s.desired_count = desired;
    s.tags.insert(DAEMON_TAG.into(), "true".into());
    s
}

fn memory_cluster() -> InMemoryEcs {
    let ecs = InMemoryEcs::new();
    for ci in fleet() {
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
    let mut web = service("web");
    web.desired_count = 2;
    ecs.add_service(CLUSTER, web);
    let mut off = service("opted-out");
    off.tags.insert(DAEMON_TAG.into(), "false".into());
    ecs.add_service(CLUSTER, off);
    let mut odd = service("odd-tag");
    odd.tags.insert(DAEMON_TAG.into(), "yes please".into());
    ecs.add_service(CLUSTER, odd);
    ecs
}

#[tokio::test]
async fn reconcile_writes_only_changes_and_caches_task_definitions() {
    let rec = DaemonReconciler::new(memory_cluster(), DaemonConfig::default());
    let report = rec.reconcile_cluster(CLUSTER).await.expect("reconcile");
    let ecs = rec.ecs();
    assert_eq!(ecs.desired_count(CLUSTER, "logs"), Some(5));
    assert_eq!(ecs.desired_count(CLUSTER, "metrics"), Some(5));
    assert_eq!(ecs.desired_count(CLUSTER, "web"), Some(2));
    assert_eq!(ecs.count_calls("UpdateService"), 2);
    assert_eq!(ecs.count_calls("DescribeTaskDefinition"), 2);
    let odd = report
        .services
        .iter()
        .find(|r| r.service == "odd-tag")
        .expect("odd tag reported");
    assert_eq!(odd.action, Action::Skipped);
    assert!(report
        .services
        .iter()
        .all(|r| r.service != "opted-out" && r.service != "web"));

    ecs.clear_calls();
    let again = rec.reconcile_cluster(CLUSTER).await.expect("reconcile");
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
    ecs.add_instance(CLUSTER, host("a1", "ACTIVE", Some(true), "t3.large"));
    ecs.add_service(CLUSTER, service("web"));
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let report = rec.reconcile_cluster(CLUSTER).await.expect("reconcile");
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
    let report = rec.reconcile_cluster(CLUSTER).await.expect("reconcile");
    let logs = report
        .services
        .iter()
        .find(|r| r.service == "logs")
        .expect("logs");
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
    let report = rec
        .reconcile_cluster(CLUSTER)
        .await
        .expect("cluster readable");
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
    let report = rec.reconcile_cluster(CLUSTER).await.expect("reconcile");
    let orphan = report
        .services
        .iter()
        .find(|r| r.service == "orphan")
        .expect("orphan");
    assert_eq!(orphan.action, Action::Failed);
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
    let err = rec.reconcile_cluster("ghost").await.expect_err("missing");
    assert_eq!(
        err,
        EcsError::ClusterNotFound {
            cluster: "ghost".into()
        }
    );
    let reports = rec.reconcile_clusters(&names(&["ghost", "prod"])).await;
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
    let report = rec.reconcile_cluster(CLUSTER).await.expect("reconcile");
    assert_eq!(rec.ecs().count_calls("ListServices"), 0);
    // Named services need no tag: the untagged "web" is managed.
    assert_eq!(rec.ecs().desired_count(CLUSTER, "web"), Some(5));
    let nope = report
        .services
        .iter()
        .find(|r| r.service == "nope")
        .expect("nope");
    assert_eq!(nope.action, Action::Skipped);
    assert!(nope.reason.as_deref().unwrap_or("").contains("MISSING"));
}
