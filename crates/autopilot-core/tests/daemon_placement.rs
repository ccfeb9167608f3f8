//! daemon-count, second round: a host counts where ECS could place the daemon's task (scope,
//! requiresAttributes, room), misplaced tasks are stopped, the sweep scales, covered events cost
//! nothing. In-memory adapter.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autopilot_core::daemon::{
    decide, decide_with, Action, DaemonConfig, DaemonReconciler, DecideContext, Decision,
    DAEMON_TAG,
};
use autopilot_core::memory::InMemoryEcs;
use autopilot_core::model::{
    Attribute, ContainerInstance, InstanceStatus, PlacementConstraint, Resources, Service, Task,
    TaskDefinition, TaskSet,
};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

fn host(name: &str) -> ContainerInstance {
    let mut ci = ContainerInstance::new(
        format!("arn:aws:ecs:us-east-1:1:container-instance/prod/{name}"),
        InstanceStatus::Active,
    );
    ci.ec2_instance_id = Some(format!("i-{name}"));
    ci.agent_connected = Some(true);
    ci.running_tasks_count = Some(0);
    ci.remaining = Resources {
        cpu: Some(4096),
        memory: Some(8192),
        ports: vec!["22".into()],
        ports_udp: vec![],
        gpus: None,
    };
    ci
}

fn daemon(name: &str) -> Service {
    let mut tags = BTreeMap::new();
    tags.insert(DAEMON_TAG.to_string(), "true".to_string());
    Service {
        arn: format!("arn:aws:ecs:us-east-1:1:service/prod/{name}"),
        name: name.into(),
        status: "ACTIVE".into(),
        task_definition: Some(format!("arn:aws:ecs:us-east-1:1:task-definition/{name}:1")),
        placement_constraints: vec![PlacementConstraint::distinct_instance()],
        tags,
        launch_type: Some("EC2".into()),
        ..Default::default()
    }
}

fn td(name: &str) -> TaskDefinition {
    TaskDefinition {
        arn: format!("arn:aws:ecs:us-east-1:1:task-definition/{name}:1"),
        cpu: Some(256),
        memory: Some(512),
        ..Default::default()
    }
}

fn desired(d: &Decision) -> i32 {
    match d {
        Decision::Desired { desired, .. } => *desired,
        other => panic!("expected a count, got {other:?}"),
    }
}

#[test]
fn scope_table() {
    let mut external = host("ext");
    external.ec2_instance_id = Some("mi-0123456789abcdef0".into());
    let mut in_a = host("a");
    in_a.capacity_provider_name = Some("cp-a".into());
    let mut in_b = host("b");
    in_b.capacity_provider_name = Some("cp-b".into());
    let plain = host("plain");
    let hosts = vec![external, in_a, in_b, plain];
    let with = |f: &dyn Fn(&mut Service)| {
        let mut s = daemon("logs");
        f(&mut s);
        s
    };
    let cp_a = vec!["cp-a".to_string()];
    // (case, service, cluster default strategy, expected count)
    let cases: Vec<(&str, Service, &[String], i32)> = vec![
        (
            "launch type EC2: every EC2 host, no external",
            with(&|_| {}),
            &[],
            3,
        ),
        (
            "launch type EXTERNAL: external instances only",
            with(&|s| s.launch_type = Some("EXTERNAL".into())),
            &[],
            1,
        ),
        (
            "service strategy: that provider's hosts",
            with(&|s| {
                s.launch_type = None;
                s.capacity_provider_strategy = vec!["cp-a".into()];
            }),
            &[],
            1,
        ),
        (
            "no strategy, no launch type: the cluster's default strategy",
            with(&|s| s.launch_type = None),
            &cp_a,
            1,
        ),
        (
            "no strategy, no launch type, no default: EC2 hosts",
            with(&|s| s.launch_type = None),
            &[],
            3,
        ),
        (
            "launch type set: the default strategy does not apply",
            with(&|_| {}),
            &cp_a,
            3,
        ),
    ];
    for (case, service, default_strategy, want) in cases {
        let none = BTreeMap::new();
        let d = decide_with(
            &service,
            Some(&td("logs")),
            &hosts,
            DecideContext {
                default_strategy,
                tasks_by_host: Some(&none),
                expressions: None,
            },
        );
        assert_eq!(desired(&d), want, "{case}: {d:?}");
    }
}

#[test]
fn required_attributes_room_and_running_tasks_decide_each_host() {
    let ssd = |name: &str| {
        let mut h = host(name);
        h.attributes.push(Attribute {
            name: "example.disk".into(),
            value: Some("ssd".into()),
        });
        h
    };
    let room = ssd("room");
    let mut full_with_daemon = ssd("full-with");
    full_with_daemon.remaining.memory = Some(0);
    full_with_daemon.running_tasks_count = Some(1);
    let mut full_without = ssd("full-without");
    full_without.remaining.memory = Some(0);
    let mut port_taken = ssd("port-taken");
    port_taken.remaining.ports.push("8125".into());
    let hdd = {
        let mut h = host("hdd");
        h.attributes.push(Attribute {
            name: "example.disk".into(),
            value: Some("hdd".into()),
        });
        h
    };
    let hosts = vec![room, full_with_daemon, full_without, port_taken, hdd];
    let mut t = td("logs");
    t.requires_attributes = vec![Attribute {
        name: "example.disk".into(),
        value: Some("ssd".into()),
    }];
    t.host_ports = vec!["8125".into()];
    let svc = daemon("logs");

    // Without the tasks the answer depends on them: the reconciler reads them.
    assert_eq!(
        decide_with(&svc, Some(&t), &hosts, DecideContext::default()),
        Decision::NeedTasks
    );
    let mut by_host = BTreeMap::new();
    by_host.insert(hosts[1].arn.clone(), vec!["task-on-full-host".to_string()]);
    let d = decide_with(
        &svc,
        Some(&t),
        &hosts,
        DecideContext {
            tasks_by_host: Some(&by_host),
            ..DecideContext::default()
        },
    );
    let Decision::Desired {
        desired,
        excluded,
        misplaced,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!(
        desired, 2,
        "room, and the full host that already runs the daemon"
    );
    assert_eq!(excluded.no_room, vec!["i-full-without", "i-port-taken"]);
    assert_eq!(excluded.missing_attribute, vec!["i-hdd"]);
    assert!(misplaced.is_empty());
}

#[test]
fn a_count_without_distinct_instance_is_warned_about() {
    let mut svc = daemon("logs");
    svc.placement_constraints.clear();
    match decide(&svc, Some(&td("logs")), &[host("a")]) {
        Decision::Desired { warnings, .. } => {
            assert!(
                warnings.iter().any(|w| w.contains("distinctInstance")),
                "{warnings:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    match decide(&daemon("logs"), Some(&td("logs")), &[host("a")]) {
        Decision::Desired { warnings, .. } => assert!(warnings.is_empty(), "{warnings:?}"),
        other => panic!("{other:?}"),
    }
}

fn cluster_with(hosts: &[ContainerInstance], services: &[Service]) -> InMemoryEcs {
    let ecs = InMemoryEcs::new();
    for h in hosts {
        ecs.add_instance(CLUSTER, h.clone());
    }
    for s in services {
        ecs.add_service(CLUSTER, s.clone());
        ecs.add_task_definition(td(&s.name));
    }
    ecs
}

fn only(
    report: &[autopilot_core::daemon::ClusterReport],
) -> &autopilot_core::daemon::DecisionRecord {
    &report[0].services[0]
}

#[tokio::test]
async fn a_task_left_on_a_host_that_stopped_matching_is_stopped_after_the_count() {
    let mut svc = daemon("logs");
    svc.desired_count = 3;
    let mut t = td("logs");
    t.placement_constraints = vec![PlacementConstraint::member_of("attribute:role == daemon")];
    let role = |name: &str, value: &str| {
        let mut h = host(name);
        h.running_tasks_count = Some(1);
        h.attributes.push(Attribute {
            name: "role".into(),
            value: Some(value.into()),
        });
        h
    };
    let hosts = vec![role("a", "daemon"), role("b", "daemon"), role("c", "batch")];
    let ecs = InMemoryEcs::new();
    for h in &hosts {
        ecs.add_instance(CLUSTER, h.clone());
        ecs.add_task(
            CLUSTER,
            &h.arn,
            Task::running(
                format!("task-{}", h.display_name()),
                Some("service:logs"),
                Some("ecs-svc/1"),
            ),
        );
    }
    ecs.add_service(CLUSTER, svc);
    ecs.add_task_definition(t);
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let reports = rec.reconcile_clusters(&[CLUSTER.to_string()]).await;
    let r = only(&reports);
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
    let ecs = InMemoryEcs::new();
    for h in &hosts {
        ecs.add_instance(CLUSTER, h.clone());
        ecs.add_task(
            CLUSTER,
            &h.arn,
            Task::running(
                format!("task-{}", h.display_name()),
                Some("service:logs"),
                None,
            ),
        );
    }
    let mut svc = daemon("logs");
    svc.desired_count = 2;
    ecs.add_service(CLUSTER, svc);
    let mut t = td("logs");
    t.placement_constraints = vec![PlacementConstraint::member_of("attribute:role == daemon")];
    ecs.add_task_definition(t);
    let rec = DaemonReconciler::new(
        ecs,
        DaemonConfig {
            dry_run: true,
            ..DaemonConfig::default()
        },
    );
    let reports = rec.reconcile_clusters(&[CLUSTER.to_string()]).await;
    assert_eq!(only(&reports).action, Action::DryRun);
    assert_eq!(rec.ecs().count_calls("StopTask"), 0);
}

#[tokio::test]
async fn an_external_controller_service_is_counted_from_its_primary_task_set() {
    let mut svc = daemon("logs");
    svc.deployment_controller = Some("EXTERNAL".into());
    svc.task_definition = None;
    svc.task_sets = vec![
        TaskSet {
            status: "ACTIVE".into(),
            task_definition: Some("arn:aws:ecs:us-east-1:1:task-definition/old:1".into()),
        },
        TaskSet {
            status: "PRIMARY".into(),
            task_definition: Some("arn:aws:ecs:us-east-1:1:task-definition/logs:1".into()),
        },
    ];
    let ecs = cluster_with(&[host("a"), host("b")], &[svc]);
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
    let reports = rec.reconcile_clusters(&[CLUSTER.to_string()]).await;
    let r = only(&reports);
    assert_eq!(
        (r.action, r.new_desired),
        (Action::Updated, Some(2)),
        "{r:?}"
    );
    assert_eq!(rec.ecs().count_calls("DescribeTaskDefinition"), 1);
}

#[tokio::test]
async fn refusals_are_recorded_and_retryable_failures_are_marked() {
    use autopilot_core::ports::EcsError;
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
        let ecs = cluster_with(&[host("a")], &[daemon("logs")]);
        ecs.fail("UpdateService", error);
        let rec = DaemonReconciler::new(ecs, DaemonConfig::default());
        let reports = rec.reconcile_clusters(&[CLUSTER.to_string()]).await;
        let r = only(&reports);
        assert_eq!(r.action, Action::Failed);
        assert_eq!(r.retryable, retryable, "{r:?}");
    }
}

#[tokio::test]
async fn a_covered_event_is_known_and_a_failed_reconcile_covers_nothing() {
    let ecs = cluster_with(&[host("a")], &[daemon("logs")]);
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default()).with_clock(|| 1_000);
    assert!(!rec.covered(CLUSTER, 900), "nothing read yet");
    rec.reconcile_clusters(&["prod".to_string()]).await;
    assert!(rec.covered(CLUSTER, 998), "read at 1000, event at 998");
    assert!(!rec.covered(CLUSTER, 999), "within the margin: read again");
    assert!(!rec.covered("arn:aws:ecs:us-east-1:1:cluster/other", 0));

    let ecs = cluster_with(&[host("a")], &[daemon("logs")]);
    ecs.fail(
        "UpdateService",
        autopilot_core::ports::EcsError::Api {
            operation: "UpdateService",
            message: "500".into(),
        },
    );
    let rec = DaemonReconciler::new(ecs, DaemonConfig::default()).with_clock(|| 1_000);
    rec.reconcile_clusters(&[CLUSTER.to_string()]).await;
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
    let out = rec.sweep(&clusters, None, 13).await;
    assert_eq!(out.reports.len(), 10);
    assert_eq!(out.reports[0].cluster, clusters[3], "13 % 10: starts at c3");
    assert_eq!(out.reports[9].cluster, clusters[2]);
    let past = Instant::now() - Duration::from_millis(1);
    let out = rec.sweep(&clusters, Some(past), 0).await;
    assert_eq!(out.reports.len(), 1, "the first cluster always starts");
    assert_eq!(out.reports[0].cluster, clusters[0]);
    assert_eq!(
        out.not_reached,
        clusters[1..],
        "the rest reported, left for the next sweep"
    );
    // An event's one cluster is reconciled even when the invocation has almost no time left.
    let out = rec.sweep(&clusters[4..5], Some(past), 7).await;
    assert_eq!(out.reports.len(), 1);
    assert!(out.not_reached.is_empty());
}
