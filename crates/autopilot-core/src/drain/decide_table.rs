//! The tables of cases of [`super`]: task kinds, drain steps, limits fitted to the hook, hook
//! scope and spot resume steps.

use std::collections::BTreeSet;

use super::*;
use crate::model::InstanceStatus;
use crate::testing::{service_task, standalone_task, task_arn};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

fn svc_task(id: &str, service: &str) -> Task {
    service_task(task_arn(CLUSTER, id), service)
}

fn standalone(id: &str) -> Task {
    standalone_task(task_arn(CLUSTER, id), "family:batch")
}

fn with_status(mut t: Task, last: &str, desired: &str) -> Task {
    t.last_status = Some(last.into());
    t.desired_status = Some(desired.into());
    t
}

fn daemons(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn cfg() -> DrainConfig {
    DrainConfig::with_queue("https://q")
}

#[test]
fn classification_table() {
    let d = daemons(&["logs"]);
    let cases: Vec<(Task, TaskKind)> = vec![
        (svc_task("a", "web"), TaskKind::Service),
        (svc_task("b", "logs"), TaskKind::Daemon),
        (standalone("c"), TaskKind::Standalone),
        (
            Task::running("t", None, Some("ecs-svc/9")),
            TaskKind::Service,
        ),
        (
            Task::running("t", Some("batch-group"), Some("cron")),
            TaskKind::Standalone,
        ),
        (Task::running("t", None, None), TaskKind::Standalone),
    ];
    for (task, want) in cases {
        assert_eq!(classify(&task, &d), want, "{task:?}");
    }
}

#[test]
fn decision_table() {
    struct Case {
        name: &'static str,
        tasks: Vec<Task>,
        daemons: &'static [&'static str],
        elapsed: u64,
        policy: StandalonePolicy,
        /// None = Complete(reason); Some((stop count, delay)) = Wait.
        complete: Option<CompleteReason>,
        wait: Option<(usize, u32)>,
    }
    let cases = vec![
        Case {
            name: "empty host",
            tasks: vec![],
            daemons: &[],
            elapsed: 0,
            policy: StandalonePolicy::Stop,
            complete: Some(CompleteReason::Drained),
            wait: None,
        },
        Case {
            name: "daemon tasks alone never block",
            tasks: vec![svc_task("a", "logs"), svc_task("b", "agent")],
            daemons: &["logs", "agent"],
            elapsed: 0,
            policy: StandalonePolicy::Stop,
            complete: Some(CompleteReason::Drained),
            wait: None,
        },
        Case {
            name: "two service tasks wait one interval",
            tasks: vec![svc_task("a", "web"), svc_task("b", "web")],
            daemons: &[],
            elapsed: 0,
            policy: StandalonePolicy::Stop,
            complete: None,
            wait: Some((0, 60)),
        },
        Case {
            name: "stopped tasks do not count",
            tasks: vec![with_status(svc_task("a", "web"), "STOPPED", "STOPPED")],
            daemons: &[],
            elapsed: 10,
            policy: StandalonePolicy::Stop,
            complete: Some(CompleteReason::Drained),
            wait: None,
        },
        Case {
            name: "a task still shutting down counts",
            tasks: vec![with_status(svc_task("a", "web"), "DEACTIVATING", "STOPPED")],
            daemons: &[],
            elapsed: 10,
            policy: StandalonePolicy::Stop,
            complete: None,
            wait: Some((0, 60)),
        },
        Case {
            name: "standalone within grace: re-check when grace ends",
            tasks: vec![standalone("s")],
            daemons: &[],
            elapsed: 270,
            policy: StandalonePolicy::Stop,
            complete: None,
            wait: Some((0, 30)),
        },
        Case {
            name: "standalone past grace is stopped",
            tasks: vec![standalone("s")],
            daemons: &[],
            elapsed: 300,
            policy: StandalonePolicy::Stop,
            complete: None,
            wait: Some((1, 60)),
        },
        Case {
            name: "standalone already stopping is not stopped again",
            tasks: vec![with_status(standalone("s"), "RUNNING", "STOPPED")],
            daemons: &[],
            elapsed: 400,
            policy: StandalonePolicy::Stop,
            complete: None,
            wait: Some((0, 60)),
        },
        Case {
            name: "wait policy never stops",
            tasks: vec![standalone("s")],
            daemons: &[],
            elapsed: 1000,
            policy: StandalonePolicy::Wait,
            complete: None,
            wait: Some((0, 60)),
        },
        Case {
            name: "deadline completes with tasks left",
            tasks: vec![svc_task("a", "web"), standalone("s")],
            daemons: &[],
            elapsed: 3600,
            policy: StandalonePolicy::Wait,
            complete: Some(CompleteReason::Deadline),
            wait: None,
        },
        Case {
            name: "last interval is shortened to the deadline",
            tasks: vec![svc_task("a", "web")],
            daemons: &[],
            elapsed: 3590,
            policy: StandalonePolicy::Stop,
            complete: None,
            wait: Some((0, 10)),
        },
    ];
    for c in cases {
        let config = DrainConfig {
            standalone: c.policy,
            ..cfg()
        };
        let got = decide(&c.tasks, &daemons(c.daemons), c.elapsed, &config);
        match (got, c.complete, c.wait) {
            (DrainDecision::Complete { reason, .. }, Some(want), None) => {
                assert_eq!(reason, want, "{}", c.name)
            }
            (
                DrainDecision::Wait {
                    stop,
                    delay_seconds,
                    ..
                },
                None,
                Some((n, delay)),
            ) => {
                assert_eq!((stop.len(), delay_seconds), (n, delay), "{}", c.name)
            }
            (other, _, _) => panic!("{}: unexpected {other:?}", c.name),
        }
    }
}

#[test]
fn deadline_record_names_what_still_runs() {
    let tasks = vec![svc_task("a", "web"), svc_task("d", "logs"), standalone("s")];
    let DrainDecision::Complete { reason, tasks } = decide(
        &tasks,
        &daemons(&["logs"]),
        4000,
        &DrainConfig {
            standalone: StandalonePolicy::Wait,
            ..cfg()
        },
    ) else {
        panic!("must complete")
    };
    assert_eq!(reason, CompleteReason::Deadline);
    assert_eq!(tasks.service[0].task, "a");
    assert_eq!(tasks.standalone[0].task, "s");
    assert_eq!(tasks.daemon[0].task, "d");
}

#[test]
fn limits_fit_the_hook() {
    struct Case {
        name: &'static str,
        max_drain: u64,
        interval: u32,
        hook: Option<HookTimeouts>,
        want: (u64, u32),
    }
    let hook = |heartbeat_seconds, global_seconds| {
        Some(HookTimeouts {
            heartbeat_seconds,
            global_seconds,
        })
    };
    let cases = [
        Case {
            name: "no hook: configuration unchanged",
            max_drain: 3600,
            interval: 60,
            hook: None,
            want: (3600, 60),
        },
        Case {
            name: "generous hook: configuration unchanged",
            max_drain: 3600,
            interval: 60,
            hook: hook(3600, Some(172_800)),
            want: (3600, 60),
        },
        Case {
            name: "heartbeat 30 s: global 3000 s (100 x) less 300 s margin; re-check every 15 s",
            max_drain: 3600,
            interval: 60,
            hook: hook(30, Some(3000)),
            want: (2700, 15),
        },
        Case {
            name: "moto reports a fixed 48 h global: 100 x heartbeat still bounds it",
            max_drain: 172_800,
            interval: 60,
            hook: hook(300, Some(172_800)),
            want: (30_000 - 300, 60),
        },
        Case {
            name: "no GlobalTimeout reported: 100 x heartbeat, capped at 48 h",
            max_drain: 172_800,
            interval: 900,
            hook: hook(7200, None),
            want: (172_800 - 300, 900),
        },
        Case {
            name: "reported global below 100 x heartbeat wins; margin a tenth (min 30 s)",
            max_drain: 3600,
            interval: 60,
            hook: hook(60, Some(200)),
            want: (170, 30),
        },
        Case {
            name: "heartbeat 1 s (not valid in AWS): never a zero interval or deadline",
            max_drain: 3600,
            interval: 60,
            hook: hook(1, Some(1)),
            want: (1, 1),
        },
    ];
    for c in cases {
        let config = DrainConfig {
            max_drain_seconds: c.max_drain,
            recheck_interval_seconds: c.interval,
            ..cfg()
        };
        let got = fit_to_hook(&config, c.hook);
        assert_eq!(
            got,
            DrainLimits {
                max_drain_seconds: c.want.0,
                recheck_interval_seconds: c.want.1
            },
            "{}",
            c.name
        );
    }
}

#[test]
fn hook_scope_table() {
    let default = vec!["ecs-autopilot-drain*".to_string()];
    let cases: [(&str, &[String], bool); 7] = [
        ("ecs-autopilot-drain", &default, true),
        ("ecs-autopilot-drain-prod", &default, true),
        ("flush-logs", &default, false),
        ("ecs-autopilot", &default, false),
        ("drain", &["drain".into(), "other".into()], true),
        (
            "ecs-managed-draining-termination-hook",
            &["*".into()],
            false,
        ),
        ("team-a-drain", &["team-*-drain".into()], true),
    ];
    for (hook, patterns, want) in cases {
        assert_eq!(
            hook_in_scope(hook, patterns),
            want,
            "{hook} in {patterns:?}"
        );
    }
    for (pattern, text, want) in [
        ("a*b*c", "abc", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "acb", false),
        ("a*a", "a", false),
        ("*", "", true),
        ("exact", "exact", true),
        ("exact", "exactly", false),
    ] {
        assert_eq!(wildcard_match(pattern, text), want, "{pattern} ~ {text}");
    }
}

/// (marker, status, agent connected, event version, expected step)
type SpotCase = (
    Option<&'static str>,
    InstanceStatus,
    Option<bool>,
    Option<i64>,
    SpotStep,
);

#[test]
fn spot_step_table() {
    use InstanceStatus::*;
    let cases: [SpotCase; 8] = [
        (
            None,
            Draining,
            Some(false),
            Some(9),
            SpotStep::Ignore(String::new()),
        ),
        (
            Some("stop/5"),
            Draining,
            Some(false),
            Some(6),
            SpotStep::MarkStopped(6),
        ),
        (
            Some("hibernate/5"),
            Draining,
            Some(false),
            Some(6),
            SpotStep::MarkStopped(6),
        ),
        (
            Some("stop/5"),
            Draining,
            Some(true),
            Some(6),
            SpotStep::Ignore(String::new()),
        ),
        (
            Some("stopped/6"),
            Draining,
            Some(true),
            Some(7),
            SpotStep::Reactivate,
        ),
        (
            Some("stopped/6"),
            Draining,
            Some(true),
            Some(6),
            SpotStep::Ignore(String::new()),
        ),
        (
            Some("stopped/6"),
            Draining,
            Some(false),
            Some(7),
            SpotStep::Ignore(String::new()),
        ),
        (
            Some("stopped/6"),
            Active,
            Some(true),
            Some(7),
            SpotStep::Ignore(String::new()),
        ),
    ];
    for (marker, status, agent, version, want) in cases {
        let got = spot_step(marker, &status, agent, version);
        match (&got, &want) {
            (SpotStep::Ignore(_), SpotStep::Ignore(_)) => {}
            _ => assert_eq!(got, want, "{marker:?} {status} {agent:?} {version:?}"),
        }
    }
    assert!(matches!(
        spot_step(
            Some("stopped/6"),
            &InstanceStatus::Draining,
            Some(true),
            None
        ),
        SpotStep::Ignore(_)
    ));
}
