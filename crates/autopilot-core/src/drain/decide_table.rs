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
    use CompleteReason::{Deadline, Drained};
    use StandalonePolicy::{Stop, Wait};
    /// What `decide` answers: Complete with a reason, or Wait having stopped n tasks, re-checking
    /// after a delay.
    #[derive(Debug, PartialEq)]
    enum Want {
        Complete(CompleteReason),
        Next(usize, u32),
    }
    use Want::{Complete, Next};
    /// Name, tasks, daemon services, seconds elapsed, standalone policy, answer.
    type Row = (
        &'static str,
        Vec<Task>,
        &'static [&'static str],
        u64,
        StandalonePolicy,
        Want,
    );
    let cases: [Row; 11] = [
        ("empty host", vec![], &[], 0, Stop, Complete(Drained)),
        (
            "daemon tasks alone never block",
            vec![svc_task("a", "logs"), svc_task("b", "agent")],
            &["logs", "agent"],
            0,
            Stop,
            Complete(Drained),
        ),
        (
            "two service tasks wait one interval",
            vec![svc_task("a", "web"), svc_task("b", "web")],
            &[],
            0,
            Stop,
            Next(0, 60),
        ),
        (
            "stopped tasks do not count",
            vec![with_status(svc_task("a", "web"), "STOPPED", "STOPPED")],
            &[],
            10,
            Stop,
            Complete(Drained),
        ),
        (
            "a task still shutting down counts",
            vec![with_status(svc_task("a", "web"), "DEACTIVATING", "STOPPED")],
            &[],
            10,
            Stop,
            Next(0, 60),
        ),
        (
            "standalone within grace: re-check when grace ends",
            vec![standalone("s")],
            &[],
            270,
            Stop,
            Next(0, 30),
        ),
        (
            "standalone past grace is stopped",
            vec![standalone("s")],
            &[],
            300,
            Stop,
            Next(1, 60),
        ),
        (
            "standalone already stopping is not stopped again",
            vec![with_status(standalone("s"), "RUNNING", "STOPPED")],
            &[],
            400,
            Stop,
            Next(0, 60),
        ),
        (
            "wait policy never stops",
            vec![standalone("s")],
            &[],
            1000,
            Wait,
            Next(0, 60),
        ),
        (
            "deadline completes with tasks left",
            vec![svc_task("a", "web"), standalone("s")],
            &[],
            3600,
            Wait,
            Complete(Deadline),
        ),
        (
            "last interval is shortened to the deadline",
            vec![svc_task("a", "web")],
            &[],
            3590,
            Stop,
            Next(0, 10),
        ),
    ];
    for (name, tasks, daemon_services, elapsed, standalone, want) in cases {
        let config = DrainConfig {
            standalone,
            ..cfg()
        };
        let got = match decide(&tasks, &daemons(daemon_services), elapsed, &config) {
            DrainDecision::Complete { reason, .. } => Complete(reason),
            DrainDecision::Wait {
                stop,
                delay_seconds,
                ..
            } => Next(stop.len(), delay_seconds),
        };
        assert_eq!(got, want, "{name}");
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
    let hook = |heartbeat_seconds, global_seconds| {
        Some(HookTimeouts {
            heartbeat_seconds,
            global_seconds,
        })
    };
    // (name, ((configured max drain, re-check interval), hook), (fitted max drain, interval))
    let cases = [
        (
            "no hook: configuration unchanged",
            ((3600, 60), None),
            (3600, 60),
        ),
        (
            "generous hook: configuration unchanged",
            ((3600, 60), hook(3600, Some(172_800))),
            (3600, 60),
        ),
        (
            "heartbeat 30 s: global 3000 s (100 x) less 300 s margin; re-check every 15 s",
            ((3600, 60), hook(30, Some(3000))),
            (2700, 15),
        ),
        (
            "moto reports a fixed 48 h global: 100 x heartbeat still bounds it",
            ((172_800, 60), hook(300, Some(172_800))),
            (30_000 - 300, 60),
        ),
        (
            "no GlobalTimeout reported: 100 x heartbeat, capped at 48 h",
            ((172_800, 900), hook(7200, None)),
            (172_800 - 300, 900),
        ),
        (
            "reported global below 100 x heartbeat wins; margin a tenth (min 30 s)",
            ((3600, 60), hook(60, Some(200))),
            (170, 30),
        ),
        (
            "heartbeat 1 s (not valid in AWS): never a zero interval or deadline",
            ((3600, 60), hook(1, Some(1))),
            (1, 1),
        ),
    ];
    for (name, ((max_drain_seconds, recheck_interval_seconds), hook), want) in cases {
        let config = DrainConfig {
            max_drain_seconds,
            recheck_interval_seconds,
            ..cfg()
        };
        let got = fit_to_hook(&config, hook);
        assert_eq!(
            got,
            DrainLimits {
                max_drain_seconds: want.0,
                recheck_interval_seconds: want.1
            },
            "{name}"
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

/// The marker, the instance's status, whether its agent is connected, the event's version.
type SpotInput = (
    Option<&'static str>,
    InstanceStatus,
    Option<bool>,
    Option<i64>,
);

#[test]
fn spot_step_table() {
    use InstanceStatus::*;
    use SpotStep::{MarkStopped, Reactivate};
    let ignore = || SpotStep::Ignore(String::new());
    let cases: [(SpotInput, SpotStep); 8] = [
        ((None, Draining, Some(false), Some(9)), ignore()),
        (
            (Some("stop/5"), Draining, Some(false), Some(6)),
            MarkStopped(6),
        ),
        (
            (Some("hibernate/5"), Draining, Some(false), Some(6)),
            MarkStopped(6),
        ),
        ((Some("stop/5"), Draining, Some(true), Some(6)), ignore()),
        (
            (Some("stopped/6"), Draining, Some(true), Some(7)),
            Reactivate,
        ),
        ((Some("stopped/6"), Draining, Some(true), Some(6)), ignore()),
        (
            (Some("stopped/6"), Draining, Some(false), Some(7)),
            ignore(),
        ),
        ((Some("stopped/6"), Active, Some(true), Some(7)), ignore()),
    ];
    for ((marker, status, agent, version), want) in cases {
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
