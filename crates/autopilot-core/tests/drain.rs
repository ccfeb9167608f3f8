//! instance-drainer: the pure decision by tables of cases, and the drainer's flows over the
//! in-memory adapters (lifecycle → re-checks → exactly one completion; duplicates; deadlines;
//! standalone tasks; spot warnings; non-ECS hosts).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use autopilot_core::drain::config::StandalonePolicy;
use autopilot_core::drain::decide::{classify, CompleteReason, TaskKind};
use autopilot_core::drain::decide::{fit_to_hook, DrainLimits};
use autopilot_core::drain::drainer::marker_supersedes;
use autopilot_core::drain::drainer::MARKER_ATTRIBUTE;
use autopilot_core::drain::RecheckMessage;
use autopilot_core::drain::{decide, DrainConfig, DrainDecision, Drainer, Outcome};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::EventBridgeEvent;
use autopilot_core::events::{DrainEvent, LifecycleActionDetail};
use autopilot_core::memory::{InMemoryEcs, InMemoryLifecycle, InMemoryQueue};
use autopilot_core::model::Task;
use autopilot_core::model::{ContainerInstance, InstanceStatus, SchedulingStrategy, Service};
use autopilot_core::ports::HookTimeouts;

fn svc_task(id: &str, service: &str) -> Task {
    Task::running(
        format!("arn:aws:ecs:us-east-1:1:task/prod/{id}"),
        Some(&format!("service:{service}")),
        Some("ecs-svc/123"),
    )
}

fn standalone(id: &str) -> Task {
    Task::running(
        format!("arn:aws:ecs:us-east-1:1:task/prod/{id}"),
        Some("family:batch"),
        None,
    )
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

// ---- the drainer over the in-memory adapters -------------------------------------------------

const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";
const CI: &str = "arn:aws:ecs:us-east-1:1:container-instance/prod/ci-1";
const T0: i64 = 1_800_000_000;

struct Bed {
    drainer: Drainer<InMemoryEcs, InMemoryLifecycle, InMemoryQueue>,
    now: Arc<AtomicI64>,
}

impl Bed {
    fn new(config: DrainConfig) -> Bed {
        let ecs = InMemoryEcs::new();
        let mut ci = ContainerInstance::new(CI, InstanceStatus::Active);
        ci.ec2_instance_id = Some("i-1".into());
        ecs.add_instance(CLUSTER, ci);
        let now = Arc::new(AtomicI64::new(T0));
        let clock = now.clone();
        let drainer = Drainer::new(ecs, InMemoryLifecycle::new(), InMemoryQueue::new(), config)
            .with_clock(move || clock.load(Ordering::SeqCst));
        Bed { drainer, now }
    }
    fn ecs(&self) -> &InMemoryEcs {
        self.drainer.ecs()
    }
    fn asg(&self) -> &InMemoryLifecycle {
        self.drainer.autoscaling()
    }
    fn advance(&self, secs: i64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

fn lifecycle_event(
    instance: &str,
    metadata: Option<&str>,
) -> EventBridgeEvent<LifecycleActionDetail> {
    lifecycle_event_at(instance, metadata, "2027-01-15T08:00:00Z") // = T0
}

fn lifecycle_event_at(
    instance: &str,
    metadata: Option<&str>,
    time: &str,
) -> EventBridgeEvent<LifecycleActionDetail> {
    let mut detail = serde_json::json!({
        "LifecycleActionToken": "tok-1", "AutoScalingGroupName": "asg", "LifecycleHookName": "ecs-autopilot-drain",
        "EC2InstanceId": instance, "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"
    });
    if let Some(m) = metadata {
        detail["NotificationMetadata"] = m.into();
    }
    let v = serde_json::json!({"version": "0", "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling", "time": time, "detail": detail});
    match DrainEvent::from_value(v).expect("parses") {
        DrainEvent::LifecycleTerminate(e) => e,
        other => panic!("{other:?}"),
    }
}

fn recheck(bed: &Bed) -> RecheckMessage {
    let sent = bed.drainer.queue().drain();
    assert_eq!(sent.len(), 1, "exactly one re-check queued: {sent:?}");
    RecheckMessage::parse(&sent[0].0).expect("valid body")
}

#[tokio::test]
async fn two_service_tasks_drain_then_complete_exactly_once_despite_duplicates() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    bed.ecs().add_task(CLUSTER, CI, svc_task("b", "web"));
    let ev = lifecycle_event("i-1", Some(r#"{"cluster":"prod"}"#));

    let r = bed.drainer.on_lifecycle_action(&ev).await.expect("ok");
    assert_eq!(r.outcome, Outcome::RecheckScheduled);
    assert!(r.set_draining);
    assert_eq!(r.tasks.service.len(), 2);
    assert_eq!(
        bed.ecs().instance(CI).expect("ci").status,
        InstanceStatus::Draining
    );
    let sent = bed.drainer.queue().sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, 60, "delay = RECHECK_INTERVAL_SECONDS");

    // The same event again: the marker says a chain exists; nothing is called or queued.
    bed.ecs().clear_calls();
    let dup = bed.drainer.on_lifecycle_action(&ev).await.expect("ok");
    assert_eq!(dup.outcome, Outcome::Duplicate);
    assert_eq!(
        bed.ecs().calls(),
        vec!["ListContainerInstances", "DescribeContainerInstances"]
    );
    let msg = recheck(&bed);
    assert_eq!(msg.attempt, 1);
    assert_eq!(msg.started_at, T0, "the event's time");

    // Re-check 1: tasks still there → heartbeat, re-check 2.
    bed.advance(60);
    let r1 = bed.drainer.on_recheck(&msg).await.expect("ok");
    assert_eq!(r1.outcome, Outcome::RecheckScheduled);
    assert_eq!(bed.asg().count_calls("RecordLifecycleActionHeartbeat"), 1);
    // Re-check 1 delivered twice: the marker moved on to attempt 2; dropped without any call.
    let heartbeats = bed.asg().count_calls("RecordLifecycleActionHeartbeat");
    assert_eq!(
        bed.drainer.on_recheck(&msg).await.expect("ok").outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        bed.asg().count_calls("RecordLifecycleActionHeartbeat"),
        heartbeats
    );
    let msg2 = recheck(&bed);
    assert_eq!(msg2.attempt, 2);

    // The tasks stop; re-check 2 completes; its duplicate completes nothing.
    bed.ecs().finish_task("arn:aws:ecs:us-east-1:1:task/prod/a");
    bed.ecs().finish_task("arn:aws:ecs:us-east-1:1:task/prod/b");
    bed.advance(60);
    let done = bed.drainer.on_recheck(&msg2).await.expect("ok");
    assert_eq!(
        (done.outcome, done.reason.as_deref()),
        (Outcome::Completed, Some("drained"))
    );
    assert_eq!(
        bed.drainer.on_recheck(&msg2).await.expect("ok").outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        bed.drainer
            .on_lifecycle_action(&ev)
            .await
            .expect("ok")
            .outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        bed.asg().count_calls("CompleteLifecycleAction"),
        1,
        "{:?}",
        bed.asg().calls()
    );
    assert_eq!(bed.asg().completions(), 1);
    assert!(bed.drainer.queue().sent().is_empty(), "no further re-check");
}

#[tokio::test]
async fn daemon_tasks_alone_complete_at_once() {
    let bed = Bed::new(cfg());
    let mut logs = Service {
        arn: "arn:aws:ecs:us-east-1:1:service/prod/logs".into(),
        name: "logs".into(),
        cluster_arn: Some(CLUSTER.into()),
        status: "ACTIVE".into(),
        scheduling_strategy: SchedulingStrategy::Replica,
        desired_count: 3,
        task_definition: None,
        placement_constraints: vec![],
        tags: [("ecs-autopilot:daemon".to_string(), "true".to_string())].into(),
        ..Default::default()
    };
    bed.ecs().add_service(CLUSTER, logs.clone());
    logs.name = "agent".into();
    logs.tags.clear();
    logs.scheduling_strategy = SchedulingStrategy::Daemon;
    bed.ecs().add_service(CLUSTER, logs);
    bed.ecs().add_task(CLUSTER, CI, svc_task("l", "logs"));
    bed.ecs().add_task(CLUSTER, CI, svc_task("g", "agent"));
    let r = bed
        .drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("drained"))
    );
    assert_eq!(r.tasks.daemon.len(), 2);
    assert!(bed.drainer.queue().sent().is_empty());
    assert_eq!(
        bed.ecs()
            .instance(CI)
            .expect("ci")
            .attribute(MARKER_ATTRIBUTE)
            .and_then(|a| a.value.clone()),
        Some("tok-1/done".into())
    );
}

#[tokio::test]
async fn non_ecs_instance_completes_at_once_and_searches_configured_clusters() {
    let bed = Bed::new(DrainConfig {
        clusters: ClusterScope::Only(vec!["staging".into(), "prod".into()]),
        ..cfg()
    });
    let r = bed
        .drainer
        .on_lifecycle_action(&lifecycle_event("i-unknown", None))
        .await
        .expect("ok");
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("not_ecs_host"))
    );
    assert!(r.warnings.iter().any(|w| w.contains("staging")), "{r:?}");
    assert_eq!(bed.asg().completions(), 1);
    assert_eq!(bed.ecs().count_calls("UpdateContainerInstancesState"), 0);
}

#[tokio::test]
async fn standalone_tasks_are_stopped_after_grace_and_deadline_completes() {
    let bed = Bed::new(DrainConfig {
        max_drain_seconds: 900,
        ..cfg()
    });
    let s = standalone("s");
    bed.ecs().add_task(CLUSTER, CI, s.clone());
    bed.ecs().add_task(CLUSTER, CI, svc_task("stuck", "web"));
    let r = bed
        .drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    assert_eq!(r.outcome, Outcome::RecheckScheduled);
    assert!(r.stopped_tasks.is_empty(), "within grace");
    let mut msg = recheck(&bed);
    // Walk the chain forward in time until it completes.
    let mut hops = 0;
    loop {
        bed.now.store(
            msg.started_at + 60 * i64::from(msg.attempt) + 240,
            Ordering::SeqCst,
        );
        let r = bed.drainer.on_recheck(&msg).await.expect("ok");
        hops += 1;
        if r.outcome == Outcome::Completed {
            assert_eq!(r.reason.as_deref(), Some("deadline"));
            assert_eq!(
                r.tasks.service[0].task, "stuck",
                "the record names what still ran"
            );
            break;
        }
        assert!(hops < 30, "chain must end");
        msg = recheck(&bed);
    }
    assert_eq!(
        bed.ecs().count_calls("StopTask"),
        1,
        "stopped once, then seen as stopping"
    );
    assert_eq!(
        bed.ecs()
            .task(&s.arn)
            .expect("task")
            .desired_status
            .as_deref(),
        Some("STOPPED")
    );
    assert_eq!(bed.asg().completions(), 1);
}

#[tokio::test]
async fn recheck_after_someone_else_completed_stops_the_chain() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    bed.drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    let msg = recheck(&bed);
    bed.asg().expire("tok-1");
    let r = bed.drainer.on_recheck(&msg).await.expect("ok");
    assert_eq!(r.outcome, Outcome::AlreadyCompleted);
    assert!(bed.drainer.queue().sent().is_empty());
    assert_eq!(bed.asg().count_calls("CompleteLifecycleAction"), 0);
}

#[tokio::test]
async fn recheck_for_a_deregistered_host_completes() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    bed.drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    let msg = recheck(&bed);
    bed.ecs().set_status(CI, InstanceStatus::Inactive);
    let r = bed.drainer.on_recheck(&msg).await.expect("ok");
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("instance_gone"))
    );
}

#[tokio::test]
async fn host_reactivated_during_drain_is_drained_again() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    bed.drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    let msg = recheck(&bed);
    bed.ecs().set_status(CI, InstanceStatus::Active);
    let r = bed.drainer.on_recheck(&msg).await.expect("ok");
    assert!(r.set_draining);
    assert!(!r.warnings.is_empty());
    assert_eq!(
        bed.ecs().instance(CI).expect("ci").status,
        InstanceStatus::Draining
    );
}

#[tokio::test]
async fn queue_failure_fails_the_invocation_and_leaves_no_marker() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    bed.drainer
        .queue()
        .fail(Some(autopilot_core::ports::QueueError::Api {
            operation: "SendMessage",
            message: "boom".into(),
        }));
    let ev = lifecycle_event("i-1", None);
    let err = bed
        .drainer
        .on_lifecycle_action(&ev)
        .await
        .expect_err("must fail");
    assert!(err.to_string().contains("SendMessage"), "{err}");
    // The retry (Lambda's) is not mistaken for a duplicate: it queues the re-check.
    bed.drainer.queue().fail(None);
    let r = bed
        .drainer
        .on_lifecycle_action(&ev)
        .await
        .expect("retry ok");
    assert_eq!(r.outcome, Outcome::RecheckScheduled);
    assert!(!r.set_draining, "already DRAINING: not set twice");
}

#[tokio::test]
async fn spot_warning_drains_at_once_without_lifecycle_calls() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    let v = serde_json::json!({"version":"0","detail-type":"EC2 Spot Instance Interruption Warning",
        "source":"aws.ec2","detail":{"instance-id":"i-1","instance-action":"terminate"}});
    let DrainEvent::SpotInterruption(e) = DrainEvent::from_value(v).expect("parses") else {
        panic!()
    };
    let r = bed.drainer.on_spot_interruption(&e).await.expect("ok");
    assert_eq!(r.outcome, Outcome::Draining);
    assert!(r.set_draining);
    let again = bed.drainer.on_spot_interruption(&e).await.expect("ok");
    assert!(!again.set_draining, "already DRAINING: no second write");
    assert_eq!(bed.ecs().count_calls("UpdateContainerInstancesState"), 1);
    assert!(bed.asg().calls().is_empty());
    assert!(bed.drainer.queue().sent().is_empty());
}

#[test]
fn malformed_drain_events_are_clear_errors() {
    for (bad, needle) in [
        (
            r#"{"detail-type":"EC2 Instance-terminate Lifecycle Action","source":"aws.autoscaling","detail":{"AutoScalingGroupName":"g"}}"#,
            "LifecycleActionToken",
        ),
        (
            r#"{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{}}"#,
            "instance-id",
        ),
        (r#"{"Records": 5}"#, "SQS batch"),
        (r#"[1,2]"#, "not an EventBridge event"),
        (r#"{"detail-type": "#, "not valid JSON"),
    ] {
        let err = DrainEvent::from_slice(bad.as_bytes()).expect_err(bad);
        assert!(err.to_string().contains(needle), "{bad}: {err}");
    }
    assert!(RecheckMessage::parse(r#"{"hello": 1}"#).is_err());
    let other_kind = r#"{"kind":"x","cluster":"c","containerInstanceArn":"a","lifecycle":{"autoScalingGroupName":"g","lifecycleHookName":"h","lifecycleActionToken":"t","ec2InstanceId":"i"},"startedAt":0,"attempt":1}"#;
    assert!(RecheckMessage::parse(other_kind)
        .expect_err("kind")
        .contains("kind"));
}

#[test]
fn sample_drainer_events_parse() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
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

// ---- the hook's timeouts, late and early events, failed marker writes, wrong metadata -----------

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
fn marker_supersedes_table() {
    for (marker, attempt, stale) in [
        ("tok-1/done", 3, true),
        ("tok-1/3", 2, true),
        ("tok-1/3", 3, false),
        ("tok-1/2", 3, false),  // the write for attempt 3 failed: not stale
        ("tok-2/9", 1, false),  // another action's marker
        ("tok-10/9", 1, false), // prefix of another token is no match
        ("tok-1/garbage", 1, false),
        ("tok-1", 1, false),
    ] {
        assert_eq!(
            marker_supersedes(marker, "tok-1", attempt),
            stale,
            "{marker} vs attempt {attempt}"
        );
    }
}

#[tokio::test]
async fn the_hooks_timeouts_bound_the_drain_and_travel_with_the_rechecks() {
    let bed = Bed::new(cfg());
    bed.asg().add_hook(
        "asg",
        "ecs-autopilot-drain",
        HookTimeouts {
            heartbeat_seconds: 30,
            global_seconds: Some(3000),
        },
    );
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    let r = bed
        .drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    assert_eq!(r.recheck_delay_seconds, Some(15), "HeartbeatTimeout / 2");
    let msg = recheck(&bed);
    assert_eq!(
        msg.limits,
        Some(DrainLimits {
            max_drain_seconds: 2700,
            recheck_interval_seconds: 15
        })
    );
    // Past the fitted deadline (well before MAX_DRAIN_SECONDS = 3600): complete, name the task.
    bed.advance(2700);
    let done = bed.drainer.on_recheck(&msg).await.expect("ok");
    assert_eq!(
        (done.outcome, done.reason.as_deref()),
        (Outcome::Completed, Some("deadline"))
    );
    assert_eq!(done.tasks.service[0].task, "a");
    assert_eq!(bed.asg().completions(), 1);
}

#[tokio::test]
async fn a_missing_hook_keeps_the_configuration_and_says_so() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    let r = bed
        .drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    assert_eq!(r.recheck_delay_seconds, Some(60));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("hook ecs-autopilot-drain of asg not found")),
        "{r:?}"
    );
    let msg = recheck(&bed);
    assert_eq!(
        msg.limits,
        Some(DrainLimits {
            max_drain_seconds: 3600,
            recheck_interval_seconds: 60
        })
    );
}

#[tokio::test]
async fn a_late_lifecycle_event_counts_from_its_own_time() {
    // Delivered 4000 s after the action started (EventBridge retries): past MAX_DRAIN_SECONDS.
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    let late = lifecycle_event_at("i-1", None, "2027-01-15T06:53:20Z"); // T0 - 4000
    let r = bed.drainer.on_lifecycle_action(&late).await.expect("ok");
    assert_eq!(r.elapsed_seconds, Some(4000));
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("deadline"))
    );
    assert!(bed.drainer.queue().sent().is_empty());
}

#[tokio::test]
async fn a_future_dated_event_is_clamped_to_now() {
    // A skewed clock must not extend the drain past the hook's timeout.
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    let early = lifecycle_event_at("i-1", None, "2027-01-15T09:00:00Z"); // T0 + 3600
    let r = bed.drainer.on_lifecycle_action(&early).await.expect("ok");
    assert_eq!(r.elapsed_seconds, Some(0));
    assert_eq!(recheck(&bed).started_at, T0);
}

#[tokio::test]
async fn a_failed_marker_write_does_not_end_the_drain() {
    let bed = Bed::new(cfg());
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    bed.drainer
        .on_lifecycle_action(&lifecycle_event("i-1", None))
        .await
        .expect("ok");
    let msg1 = recheck(&bed);
    // Re-check 1 queues re-check 2, but the marker write (TOKEN/2) fails.
    bed.ecs().fail(
        "PutAttributes",
        autopilot_core::ports::EcsError::Api {
            operation: "PutAttributes",
            message: "boom".into(),
        },
    );
    bed.advance(60);
    let r1 = bed.drainer.on_recheck(&msg1).await.expect("ok");
    assert_eq!(r1.outcome, Outcome::RecheckScheduled);
    assert!(
        r1.warnings.iter().any(|w| w.contains("PutAttributes")),
        "{r1:?}"
    );
    let msg2 = recheck(&bed);
    // Re-check 2 finds the marker behind (TOKEN/1): it must carry on, not stop as "stale".
    bed.ecs().finish_task("arn:aws:ecs:us-east-1:1:task/prod/a");
    bed.advance(60);
    let r2 = bed.drainer.on_recheck(&msg2).await.expect("ok");
    assert_eq!(
        (r2.outcome, r2.reason.as_deref()),
        (Outcome::Completed, Some("drained")),
        "{r2:?}"
    );
    assert_eq!(bed.asg().completions(), 1);
}

#[tokio::test]
async fn wrong_cluster_in_metadata_falls_back_to_the_configured_clusters() {
    let bed = Bed::new(DrainConfig {
        clusters: ClusterScope::Only(vec![CLUSTER.into()]),
        ..cfg()
    });
    bed.ecs().add_task(CLUSTER, CI, svc_task("a", "web"));
    let r = bed
        .drainer
        .on_lifecycle_action(&lifecycle_event("i-1", Some(r#"{"cluster":"staging"}"#)))
        .await
        .expect("ok");
    assert_eq!(r.outcome, Outcome::RecheckScheduled, "{r:?}");
    assert_eq!(r.cluster.as_deref(), Some(CLUSTER));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("staging") && w.contains("searching CLUSTERS")),
        "{r:?}"
    );
    assert_eq!(bed.asg().completions(), 0, "not completed: it has a task");
}
