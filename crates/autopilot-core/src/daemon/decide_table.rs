//! The tables of cases of [`super`]: which hosts count, the scope, and which services are
//! skipped or warned about.

use std::collections::BTreeMap;

use super::*;
use crate::model::{Attribute, PlacementConstraint, SchedulingStrategy};
use crate::testing::{
    attribute, daemon_service, fleet, idle_host, service, task_definition, task_definition_arn,
};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

/// A task definition with these `memberOf` constraints and no reservation.
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

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The daemon's task definition: 256 CPU units, 512 MiB.
fn daemon_td(name: &str) -> TaskDefinition {
    task_definition(task_definition_arn(CLUSTER, name), 256, 512)
}

fn desired(d: &Decision) -> i32 {
    match d {
        Decision::Desired { desired, .. } => *desired,
        other => panic!("expected a count, got {other:?}"),
    }
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
    let hosts = fleet(CLUSTER);
    for (case, svc_c, td_c, per_host, want, want_constraint) in cases {
        let mut svc = service(CLUSTER, "s");
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
    let hosts = fleet(CLUSTER);
    let plain = td(&[]);
    let with = |f: &dyn Fn(&mut Service)| {
        let mut s = service(CLUSTER, "s");
        f(&mut s);
        s
    };
    let tagged = |value: &str| {
        with(&|s| {
            s.tags.insert(TASKS_PER_HOST_TAG.into(), value.into());
        })
    };
    // What the service says, its task definition plain: (case, service, reason contains).
    let service_cases = [
        (
            "DAEMON strategy",
            with(&|s| s.scheduling_strategy = SchedulingStrategy::Daemon),
            "DAEMON",
        ),
        (
            "unknown strategy",
            with(&|s| s.scheduling_strategy = SchedulingStrategy::Other("NEW".into())),
            "NEW",
        ),
        (
            "service draining",
            with(&|s| s.status = "DRAINING".into()),
            "DRAINING",
        ),
        ("tag not a number", tagged("two"), "\"two\""),
        ("tag zero", tagged("0"), "between 1 and 10000"),
        ("tag negative", tagged("-1"), "\"-1\""),
        ("tag too large", tagged("10001"), "10001"),
        (
            "tasks-per-host > 1 with distinctInstance",
            with(&|s| {
                s.tags.insert(TASKS_PER_HOST_TAG.into(), "2".into());
                s.placement_constraints
                    .push(PlacementConstraint::distinct_instance());
            }),
            "can never place",
        ),
        (
            "Fargate launch type",
            with(&|s| s.launch_type = Some("FARGATE".into())),
            "FARGATE",
        ),
        (
            "Fargate capacity providers",
            with(&|s| s.capacity_provider_strategy = vec!["FARGATE_SPOT".into()]),
            "Fargate",
        ),
        (
            "empty memberOf",
            with(&|s| {
                s.placement_constraints.push(PlacementConstraint {
                    kind: "memberOf".into(),
                    expression: None,
                })
            }),
            "without an expression",
        ),
    ]
    .map(|(case, svc, want)| (case, svc, Some(plain.clone()), want));
    // What the task definition says, the service plain: (case, task definition, reason contains).
    let task_definition_cases = [
        ("task definition unknown", None, "task definition unknown"),
        (
            "invalid expression",
            Some(td(&["attribute:ecs.instance-type =="])),
            "is invalid",
        ),
        (
            "task:group",
            Some(td(&["task:group == service:web"])),
            "task:group",
        ),
        (
            "runningTasksCount",
            Some(td(&["runningTasksCount == 0"])),
            "runningTasksCount",
        ),
    ]
    .map(|(case, task_def, want)| (case, service(CLUSTER, "s"), task_def, want));
    for (case, svc, task_def, want) in service_cases.into_iter().chain(task_definition_cases) {
        match decide(&svc, task_def.as_ref(), &hosts) {
            Decision::Skip { reason } => assert!(reason.contains(want), "{case}: {reason}"),
            other => panic!("{case}: expected a skip, got {other:?}"),
        }
    }
}

#[test]
fn empty_cluster_means_zero() {
    match decide(&service(CLUSTER, "s"), Some(&td(&[])), &[]) {
        Decision::Desired {
            desired, eligible, ..
        } => assert_eq!((desired, eligible), (0, 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scope_table() {
    let mut external = idle_host(CLUSTER, "ext");
    external.ec2_instance_id = Some("mi-0123456789abcdef0".into());
    let mut in_a = idle_host(CLUSTER, "a");
    in_a.capacity_provider_name = Some("cp-a".into());
    let mut in_b = idle_host(CLUSTER, "b");
    in_b.capacity_provider_name = Some("cp-b".into());
    let plain = idle_host(CLUSTER, "plain");
    let hosts = vec![external, in_a, in_b, plain];
    let with = |f: &dyn Fn(&mut Service)| {
        let mut s = daemon_service(CLUSTER, "logs");
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
            Some(&daemon_td("logs")),
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
        let mut h = idle_host(CLUSTER, name);
        h.attributes.push(attribute("example.disk", "ssd"));
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
        let mut h = idle_host(CLUSTER, "hdd");
        h.attributes.push(attribute("example.disk", "hdd"));
        h
    };
    let hosts = vec![room, full_with_daemon, full_without, port_taken, hdd];
    let mut t = daemon_td("logs");
    t.requires_attributes = vec![Attribute {
        name: "example.disk".into(),
        value: Some("ssd".into()),
    }];
    t.host_ports = vec!["8125".into()];
    let svc = daemon_service(CLUSTER, "logs");

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
    let mut svc = daemon_service(CLUSTER, "logs");
    svc.placement_constraints.clear();
    match decide(&svc, Some(&daemon_td("logs")), &[idle_host(CLUSTER, "a")]) {
        Decision::Desired { warnings, .. } => {
            assert!(
                warnings.iter().any(|w| w.contains("distinctInstance")),
                "{warnings:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    match decide(
        &daemon_service(CLUSTER, "logs"),
        Some(&daemon_td("logs")),
        &[idle_host(CLUSTER, "a")],
    ) {
        Decision::Desired { warnings, .. } => assert!(warnings.is_empty(), "{warnings:?}"),
        other => panic!("{other:?}"),
    }
}
