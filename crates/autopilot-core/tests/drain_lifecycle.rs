//! instance-drainer's flows over the in-memory adapters: a lifecycle action drains the host
//! through re-checks to exactly one completion (duplicates, long drains, deadlines fitted to the
//! hook, standalone tasks, failed marker writes, unreadable hosts); only its own hooks; non-ECS
//! hosts; spot warnings and the host's return after a spot stop. The pure steps' tables are
//! beside them, in `src/drain/decide_table.rs` and `src/drain/recheck.rs`.

use autopilot_core::drain::decide::{attempt_cap, DrainLimits, SPOT_MARKER_ATTRIBUTE};
use autopilot_core::drain::drainer::MARKER_ATTRIBUTE;
use autopilot_core::drain::{DrainConfig, DrainRecord, Drainer, Outcome, RecheckMessage};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::{DrainEvent, EventBridgeEvent, LifecycleActionDetail};
use autopilot_core::markers::DAEMON_TAG;
use autopilot_core::memory::{InMemoryEcs, InMemoryLifecycle, InMemoryQueue};
use autopilot_core::model::{Attribute, InstanceStatus, SchedulingStrategy, Task};
use autopilot_core::ports::{EcsError, HookTimeouts, QueueError};
use autopilot_core::testing::{
    event, host, lifecycle_terminate_event, service, service_task, spot_interruption_event,
    standalone_task, task_arn,
};
use serde_json::json;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";
const CI: &str = "arn:aws:ecs:us-east-1:1:container-instance/prod/ci-1";
const T0: i64 = 1_800_000_000;
/// T0 as an event time.
const T0_TIME: &str = "2027-01-15T08:00:00Z";
const OUR_HOOK: &str = "ecs-autopilot-drain";

type TestDrainer = Drainer<InMemoryEcs, InMemoryLifecycle, InMemoryQueue>;

/// A drainer over one ACTIVE host `i-1` (container instance `CI`, version 10) of `CLUSTER`. Tests
/// handle events at T0 unless they move `now` forward.
fn bed(config: DrainConfig) -> TestDrainer {
    let ecs = InMemoryEcs::new();
    let mut ci = host(CI, "i-1");
    ci.agent_connected = None;
    ci.version = Some(10);
    ecs.add_instance(CLUSTER, ci);
    Drainer::new(ecs, InMemoryLifecycle::new(), InMemoryQueue::new(), config)
}

fn cfg() -> DrainConfig {
    DrainConfig::with_queue("https://q")
}

fn svc_task(id: &str, service: &str) -> Task {
    service_task(task_arn(CLUSTER, id), service)
}

fn standalone(id: &str) -> Task {
    standalone_task(task_arn(CLUSTER, id), "family:batch")
}

/// The lifecycle action for hook `hook` on `instance` at `time`.
fn lifecycle_action(
    hook: &str,
    instance: &str,
    metadata: Option<&str>,
    time: &str,
) -> EventBridgeEvent<LifecycleActionDetail> {
    match DrainEvent::from_value(lifecycle_terminate_event(hook, instance, metadata, time))
        .expect("parses")
    {
        DrainEvent::LifecycleTerminate(e) => e,
        other => panic!("{other:?}"),
    }
}

/// Our hook's lifecycle action at T0.
fn lifecycle_event(
    instance: &str,
    metadata: Option<&str>,
) -> EventBridgeEvent<LifecycleActionDetail> {
    lifecycle_action(OUR_HOOK, instance, metadata, T0_TIME)
}

/// Our hook's lifecycle action at `time`.
fn lifecycle_event_at(
    instance: &str,
    metadata: Option<&str>,
    time: &str,
) -> EventBridgeEvent<LifecycleActionDetail> {
    lifecycle_action(OUR_HOOK, instance, metadata, time)
}

/// Hook `hook`'s lifecycle action at T0, its metadata naming cluster `prod`.
fn lifecycle(hook: &str, instance: &str) -> EventBridgeEvent<LifecycleActionDetail> {
    lifecycle_action(hook, instance, Some(r#"{"cluster":"prod"}"#), T0_TIME)
}

fn take_recheck(d: &TestDrainer) -> RecheckMessage {
    let sent = d.queue().drain();
    assert_eq!(sent.len(), 1, "exactly one re-check queued: {sent:?}");
    RecheckMessage::parse(&sent[0].0).expect("valid body")
}

/// `bed(config)` with service task `id` (of `web`) on the host: a drain must wait for it.
fn bed_with_task(config: DrainConfig, id: &str) -> TestDrainer {
    let d = bed(config);
    d.ecs().add_task(CLUSTER, CI, svc_task(id, "web"));
    d
}

/// `d` handles lifecycle action `ev` at `now`, without error.
async fn handle_action(
    d: &TestDrainer,
    ev: &EventBridgeEvent<LifecycleActionDetail>,
    now: i64,
) -> DrainRecord {
    d.on_lifecycle_action(ev, now).await.expect("ok")
}

/// `d` handles re-check `msg` at `now`, without error.
async fn handle_recheck(d: &TestDrainer, msg: &RecheckMessage, now: i64) -> DrainRecord {
    d.on_recheck(msg, now).await.expect("ok")
}

/// A drain under way: `bed_with_task(cfg(), id)` has handled `ev` at T0. Returns the drainer and
/// the first re-check it queued.
async fn under_way(
    id: &str,
    ev: &EventBridgeEvent<LifecycleActionDetail>,
) -> (TestDrainer, RecheckMessage) {
    let d = bed_with_task(cfg(), id);
    handle_action(&d, ev, T0).await;
    let msg = take_recheck(&d);
    (d, msg)
}

#[tokio::test]
async fn two_service_tasks_drain_then_complete_exactly_once_despite_duplicates() {
    let mut now = T0;
    let d = bed_with_task(cfg(), "a");
    d.ecs().add_task(CLUSTER, CI, svc_task("b", "web"));
    let ev = lifecycle_event("i-1", Some(r#"{"cluster":"prod"}"#));

    let r = handle_action(&d, &ev, now).await;
    assert_eq!(r.outcome, Outcome::RecheckScheduled);
    assert!(r.set_draining);
    assert_eq!(r.tasks.service.len(), 2);
    assert_eq!(
        d.ecs().instance(CI).expect("ci").status,
        InstanceStatus::Draining
    );
    let sent = d.queue().sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, 60, "delay = RECHECK_INTERVAL_SECONDS");

    // The same event again: the marker says a chain exists; nothing is called or queued.
    d.ecs().clear_calls();
    let dup = handle_action(&d, &ev, now).await;
    assert_eq!(dup.outcome, Outcome::Duplicate);
    assert_eq!(
        d.ecs().calls(),
        vec!["ListContainerInstances", "DescribeContainerInstances"]
    );
    let msg = take_recheck(&d);
    assert_eq!(msg.attempt, 1);
    assert_eq!(msg.started_at, T0, "the event's time");

    // Re-check 1: tasks still there → heartbeat, re-check 2.
    now += 60;
    let r1 = handle_recheck(&d, &msg, now).await;
    assert_eq!(r1.outcome, Outcome::RecheckScheduled);
    assert_eq!(
        d.autoscaling()
            .count_calls("RecordLifecycleActionHeartbeat"),
        1
    );
    // Re-check 1 delivered twice: the marker moved on to attempt 2; dropped without any call.
    let heartbeats = d
        .autoscaling()
        .count_calls("RecordLifecycleActionHeartbeat");
    assert_eq!(
        handle_recheck(&d, &msg, now).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        d.autoscaling()
            .count_calls("RecordLifecycleActionHeartbeat"),
        heartbeats
    );
    let msg2 = take_recheck(&d);
    assert_eq!(msg2.attempt, 2);

    // The tasks stop; re-check 2 completes; its duplicate completes nothing.
    d.ecs().finish_task("arn:aws:ecs:us-east-1:1:task/prod/a");
    d.ecs().finish_task("arn:aws:ecs:us-east-1:1:task/prod/b");
    now += 60;
    let done = handle_recheck(&d, &msg2, now).await;
    assert_eq!(
        (done.outcome, done.reason.as_deref()),
        (Outcome::Completed, Some("drained"))
    );
    assert_eq!(
        handle_recheck(&d, &msg2, now).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        handle_action(&d, &ev, now).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        d.autoscaling().count_calls("CompleteLifecycleAction"),
        1,
        "{:?}",
        d.autoscaling().calls()
    );
    assert_eq!(d.autoscaling().completions(), 1);
    assert!(d.queue().sent().is_empty(), "no further re-check");
}

#[tokio::test]
async fn daemon_tasks_alone_complete_at_once() {
    let d = bed(cfg());
    let mut logs = service(CLUSTER, "logs");
    logs.desired_count = 3;
    logs.task_definition = None;
    logs.tags = [(DAEMON_TAG.to_string(), "true".to_string())].into();
    d.ecs().add_service(CLUSTER, logs.clone());
    logs.name = "agent".into();
    logs.tags.clear();
    logs.scheduling_strategy = SchedulingStrategy::Daemon;
    d.ecs().add_service(CLUSTER, logs);
    d.ecs().add_task(CLUSTER, CI, svc_task("l", "logs"));
    d.ecs().add_task(CLUSTER, CI, svc_task("g", "agent"));
    let r = handle_action(&d, &lifecycle_event("i-1", None), T0).await;
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("drained"))
    );
    assert_eq!(r.tasks.daemon.len(), 2);
    assert!(d.queue().sent().is_empty());
    assert_eq!(
        d.ecs()
            .instance(CI)
            .expect("ci")
            .attribute(MARKER_ATTRIBUTE)
            .and_then(|a| a.value.clone()),
        Some("tok-1/done".into())
    );
}

#[tokio::test]
async fn non_ecs_instance_completes_at_once_and_searches_configured_clusters() {
    let d = bed(DrainConfig {
        clusters: ClusterScope::Only(vec!["staging".into(), "prod".into()]),
        ..cfg()
    });
    let r = handle_action(&d, &lifecycle_event("i-unknown", None), T0).await;
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("not_ecs_host"))
    );
    assert!(r.warnings.iter().any(|w| w.contains("staging")), "{r:?}");
    assert_eq!(d.autoscaling().completions(), 1);
    assert_eq!(d.ecs().count_calls("UpdateContainerInstancesState"), 0);
}

#[tokio::test]
async fn standalone_tasks_are_stopped_after_grace_and_deadline_completes() {
    let mut now = T0;
    let d = bed(DrainConfig {
        max_drain_seconds: 900,
        ..cfg()
    });
    let s = standalone("s");
    d.ecs().add_task(CLUSTER, CI, s.clone());
    d.ecs().add_task(CLUSTER, CI, svc_task("stuck", "web"));
    let r = handle_action(&d, &lifecycle_event("i-1", None), now).await;
    assert_eq!(r.outcome, Outcome::RecheckScheduled);
    assert!(r.stopped_tasks.is_empty(), "within grace");
    let mut msg = take_recheck(&d);
    // Walk the chain forward in time until it completes.
    let mut hops = 0;
    loop {
        now = msg.started_at + 60 * i64::from(msg.attempt) + 240;
        let r = handle_recheck(&d, &msg, now).await;
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
        msg = take_recheck(&d);
    }
    assert_eq!(
        d.ecs().count_calls("StopTask"),
        1,
        "stopped once, then seen as stopping"
    );
    assert_eq!(
        d.ecs()
            .task(&s.arn)
            .expect("task")
            .desired_status
            .as_deref(),
        Some("STOPPED")
    );
    assert_eq!(d.autoscaling().completions(), 1);
}

#[tokio::test]
async fn recheck_after_someone_else_completed_stops_the_chain() {
    let (d, msg) = under_way("a", &lifecycle_event("i-1", None)).await;
    d.autoscaling().expire("tok-1");
    let r = handle_recheck(&d, &msg, T0).await;
    assert_eq!(r.outcome, Outcome::AlreadyCompleted);
    assert!(d.queue().sent().is_empty());
    assert_eq!(d.autoscaling().count_calls("CompleteLifecycleAction"), 0);
}

#[tokio::test]
async fn recheck_for_a_deregistered_host_completes() {
    let (d, msg) = under_way("a", &lifecycle_event("i-1", None)).await;
    d.ecs().set_status(CI, InstanceStatus::Inactive);
    let r = handle_recheck(&d, &msg, T0).await;
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("instance_gone"))
    );
}

#[tokio::test]
async fn host_reactivated_during_drain_is_drained_again() {
    let (d, msg) = under_way("a", &lifecycle_event("i-1", None)).await;
    d.ecs().set_status(CI, InstanceStatus::Active);
    let r = handle_recheck(&d, &msg, T0).await;
    assert!(r.set_draining);
    assert!(!r.warnings.is_empty());
    assert_eq!(
        d.ecs().instance(CI).expect("ci").status,
        InstanceStatus::Draining
    );
}

#[tokio::test]
async fn queue_failure_fails_the_invocation_and_leaves_no_marker() {
    let d = bed_with_task(cfg(), "a");
    d.queue().fail(Some(QueueError::Api {
        operation: "SendMessage",
        message: "boom".into(),
    }));
    let ev = lifecycle_event("i-1", None);
    let err = d.on_lifecycle_action(&ev, T0).await.expect_err("must fail");
    assert!(err.to_string().contains("SendMessage"), "{err}");
    // The retry (Lambda's) is not mistaken for a duplicate: it queues the re-check.
    d.queue().fail(None);
    let r = d.on_lifecycle_action(&ev, T0).await.expect("retry ok");
    assert_eq!(r.outcome, Outcome::RecheckScheduled);
    assert!(!r.set_draining, "already DRAINING: not set twice");
}

#[tokio::test]
async fn spot_warning_drains_at_once_without_lifecycle_calls() {
    let d = bed_with_task(cfg(), "a");
    let r = handle_spot_warning(&d, "terminate").await;
    assert_eq!(r.outcome, Outcome::Draining);
    assert!(r.set_draining);
    let again = handle_spot_warning(&d, "terminate").await;
    assert!(!again.set_draining, "already DRAINING: no second write");
    assert_eq!(d.ecs().count_calls("UpdateContainerInstancesState"), 1);
    assert!(d.autoscaling().calls().is_empty());
    assert!(d.queue().sent().is_empty());
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

#[tokio::test]
async fn the_hooks_timeouts_bound_the_drain_and_travel_with_the_rechecks() {
    let mut now = T0;
    let d = bed_with_task(cfg(), "a");
    d.autoscaling().add_hook(
        "asg",
        "ecs-autopilot-drain",
        HookTimeouts {
            heartbeat_seconds: 30,
            global_seconds: Some(3000),
        },
    );
    let r = handle_action(&d, &lifecycle_event("i-1", None), now).await;
    assert_eq!(r.recheck_delay_seconds, Some(15), "HeartbeatTimeout / 2");
    let msg = take_recheck(&d);
    assert_eq!(
        msg.limits,
        Some(DrainLimits {
            max_drain_seconds: 2700,
            recheck_interval_seconds: 15
        })
    );
    // Past the fitted deadline (well before MAX_DRAIN_SECONDS = 3600): complete, name the task.
    now += 2700;
    let done = handle_recheck(&d, &msg, now).await;
    assert_eq!(
        (done.outcome, done.reason.as_deref()),
        (Outcome::Completed, Some("deadline"))
    );
    assert_eq!(done.tasks.service[0].task, "a");
    assert_eq!(d.autoscaling().completions(), 1);
}

#[tokio::test]
async fn a_missing_hook_keeps_the_configuration_and_says_so() {
    let d = bed_with_task(cfg(), "a");
    let r = handle_action(&d, &lifecycle_event("i-1", None), T0).await;
    assert_eq!(r.recheck_delay_seconds, Some(60));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("hook ecs-autopilot-drain of asg not found")),
        "{r:?}"
    );
    let msg = take_recheck(&d);
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
    let d = bed_with_task(cfg(), "a");
    let late = lifecycle_event_at("i-1", None, "2027-01-15T06:53:20Z"); // T0 - 4000
    let r = handle_action(&d, &late, T0).await;
    assert_eq!(r.elapsed_seconds, Some(4000));
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("deadline"))
    );
    assert!(d.queue().sent().is_empty());
}

#[tokio::test]
async fn a_future_dated_event_is_clamped_to_now() {
    // A skewed clock must not extend the drain past the hook's timeout.
    let d = bed_with_task(cfg(), "a");
    let early = lifecycle_event_at("i-1", None, "2027-01-15T09:00:00Z"); // T0 + 3600
    let r = handle_action(&d, &early, T0).await;
    assert_eq!(r.elapsed_seconds, Some(0));
    assert_eq!(take_recheck(&d).started_at, T0);
}

#[tokio::test]
async fn a_failed_marker_write_does_not_end_the_drain() {
    let mut now = T0;
    let (d, msg1) = under_way("a", &lifecycle_event("i-1", None)).await;
    // Re-check 1 queues re-check 2, but the marker write (TOKEN/2) fails.
    d.ecs().fail(
        "PutAttributes",
        EcsError::Api {
            operation: "PutAttributes",
            message: "boom".into(),
        },
    );
    now += 60;
    let r1 = handle_recheck(&d, &msg1, now).await;
    assert_eq!(r1.outcome, Outcome::RecheckScheduled);
    assert!(
        r1.warnings.iter().any(|w| w.contains("PutAttributes")),
        "{r1:?}"
    );
    let msg2 = take_recheck(&d);
    // Re-check 2 finds the marker behind (TOKEN/1): it must carry on, not stop as "stale".
    d.ecs().finish_task("arn:aws:ecs:us-east-1:1:task/prod/a");
    now += 60;
    let r2 = handle_recheck(&d, &msg2, now).await;
    assert_eq!(
        (r2.outcome, r2.reason.as_deref()),
        (Outcome::Completed, Some("drained")),
        "{r2:?}"
    );
    assert_eq!(d.autoscaling().completions(), 1);
}

#[tokio::test]
async fn wrong_cluster_in_metadata_falls_back_to_the_configured_clusters() {
    let d = bed_with_task(
        DrainConfig {
            clusters: ClusterScope::Only(vec![CLUSTER.into()]),
            ..cfg()
        },
        "a",
    );
    let ev = lifecycle_event("i-1", Some(r#"{"cluster":"staging"}"#));
    let r = handle_action(&d, &ev, T0).await;
    assert_eq!(r.outcome, Outcome::RecheckScheduled, "{r:?}");
    assert_eq!(r.cluster.as_deref(), Some(CLUSTER));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("staging") && w.contains("searching CLUSTERS")),
        "{r:?}"
    );
    assert_eq!(
        d.autoscaling().completions(),
        0,
        "not completed: it has a task"
    );
}
// ---- only its own hooks, long drains, only MISSING means gone ----

#[tokio::test]
async fn another_systems_hook_gets_no_call_whatever_the_instance() {
    let d = bed_with_task(cfg(), "a");
    for instance in ["i-1", "i-not-an-ecs-host"] {
        for hook in ["flush-logs", "ecs-managed-draining-termination-hook"] {
            let r = handle_action(&d, &lifecycle(hook, instance), T0).await;
            assert_eq!(r.outcome, Outcome::NotOurHook, "{hook} on {instance}");
            assert!(r.reason.as_deref().unwrap_or("").contains(hook), "{r:?}");
        }
    }
    assert!(
        d.autoscaling().calls().is_empty(),
        "no Complete, no heartbeat"
    );
    assert!(d.ecs().calls().is_empty(), "not even a lookup");
    assert!(d.queue().sent().is_empty());
    assert_eq!(
        d.ecs().instance(CI).expect("ci").status,
        InstanceStatus::Active
    );
}

#[tokio::test]
async fn our_hook_on_a_non_ecs_instance_completes_once_at_once() {
    let d = bed(cfg());
    let r = handle_action(&d, &lifecycle(OUR_HOOK, "i-unknown"), T0).await;
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("not_ecs_host"))
    );
    assert_eq!(d.autoscaling().completions(), 1);
    assert!(
        d.queue().sent().is_empty(),
        "no re-check for a host that is not there"
    );
}

// ---- long drains --------------------------------------------------------------------------------

#[tokio::test]
async fn a_drain_of_forty_rechecks_completes_exactly_once_despite_duplicates() {
    let mut now = T0;
    let d = bed_with_task(
        DrainConfig {
            max_drain_seconds: 7200,
            ..cfg()
        },
        "slow",
    );
    let ev = lifecycle(OUR_HOOK, "i-1");
    assert_eq!(
        handle_action(&d, &ev, now).await.outcome,
        Outcome::RecheckScheduled
    );
    // The lifecycle event delivered again: nothing new.
    assert_eq!(
        handle_action(&d, &ev, now).await.outcome,
        Outcome::Duplicate
    );
    let mut msg = take_recheck(&d);
    for attempt in 1..=40u32 {
        assert_eq!(msg.attempt, attempt);
        now += 60;
        if attempt == 40 {
            d.ecs()
                .finish_task("arn:aws:ecs:us-east-1:1:task/prod/slow");
        }
        let r = handle_recheck(&d, &msg, now).await;
        // Every re-check arrives twice (SQS is at-least-once): the copy does nothing.
        let dup = handle_recheck(&d, &msg, now).await;
        assert_eq!(dup.outcome, Outcome::Duplicate, "re-check {attempt} again");
        if attempt < 40 {
            assert_eq!(r.outcome, Outcome::RecheckScheduled, "re-check {attempt}");
            msg = take_recheck(&d);
        } else {
            assert_eq!(
                (r.outcome, r.reason.as_deref()),
                (Outcome::Completed, Some("drained"))
            );
        }
    }
    assert_eq!(d.autoscaling().completions(), 1, "completed exactly once");
    assert_eq!(
        d.autoscaling()
            .count_calls("RecordLifecycleActionHeartbeat"),
        40
    );
    assert!(d.queue().sent().is_empty(), "the chain ended");
}

#[tokio::test]
async fn the_attempt_cap_ends_a_chain_even_when_the_clock_stands_still() {
    let (d, mut msg) = under_way("stuck", &lifecycle(OUR_HOOK, "i-1")).await;
    let limits = msg.limits.expect("limits travel with the re-check");
    let cap = attempt_cap(limits);
    assert_eq!(cap, 3600 / 60 + 10);
    // A clock that never moves: the deadline is never reached; the cap still ends the chain.
    msg.attempt = cap + 1;
    let r = handle_recheck(&d, &msg, T0).await;
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("attempt_cap"))
    );
    assert_eq!(r.tasks.service.len(), 1, "the record names what still runs");
    assert_eq!(
        attempt_cap(DrainLimits {
            max_drain_seconds: 100,
            recheck_interval_seconds: 0
        }),
        110,
        "a zero interval cannot divide by zero"
    );
}

// ---- only MISSING means gone ------------------------------------------------------------------

#[tokio::test]
async fn a_recheck_that_cannot_read_the_host_or_a_task_does_not_complete() {
    let (d, msg) = under_way("a", &lifecycle(OUR_HOOK, "i-1")).await;

    d.ecs().fail_describe(CI, "INTERNAL_ERROR");
    let err = d.on_recheck(&msg, T0).await.expect_err("not an answer");
    assert!(err.to_string().contains("INTERNAL_ERROR"), "{err}");
    assert_eq!(d.autoscaling().completions(), 0);

    // The host answers again, a task does not: still no completion.
    let (d, msg) = under_way("a", &lifecycle(OUR_HOOK, "i-1")).await;
    d.ecs()
        .fail_describe("arn:aws:ecs:us-east-1:1:task/prod/a", "INTERNAL_ERROR");
    assert!(d.on_recheck(&msg, T0).await.is_err());
    assert_eq!(d.autoscaling().completions(), 0);

    // MISSING is gone: the host was deregistered, the drain is over.
    d.ecs().fail_describe(CI, "MISSING");
    let r = handle_recheck(&d, &msg, T0).await;
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("instance_gone"))
    );
}

// ---- spot warnings, stop / hibernate and back ----

fn spot_warning(action: &str) -> DrainEvent {
    DrainEvent::from_value(spot_interruption_event("i-1", action)).expect("parses")
}

/// `d` handles the spot interruption warning for `i-1` with `action`, without error.
async fn handle_spot_warning(d: &TestDrainer, action: &str) -> DrainRecord {
    let DrainEvent::SpotInterruption(warning) = spot_warning(action) else {
        panic!("a spot interruption warning")
    };
    d.on_spot_interruption(&warning).await.expect("ok")
}

/// The host's spot marker attribute, if it has one.
fn spot_marker(d: &TestDrainer) -> Option<Attribute> {
    d.ecs()
        .instance(CI)
        .expect("ci")
        .attribute(SPOT_MARKER_ATTRIBUTE)
        .cloned()
}

/// The host's `ECS Container Instance State Change`, as ECS sends it (attributes included).
fn host_event(d: &TestDrainer, agent_connected: bool, version: i64) -> DrainEvent {
    let ci = d.ecs().instance(CI).expect("ci");
    let attributes: Vec<serde_json::Value> = ci
        .attributes
        .iter()
        .map(|a: &Attribute| json!({"name": a.name, "value": a.value}))
        .collect();
    DrainEvent::from_value(event(
        "ECS Container Instance State Change",
        "aws.ecs",
        json!({"clusterArn": CLUSTER, "containerInstanceArn": CI, "ec2InstanceId": "i-1",
            "status": ci.status.as_str(), "agentConnected": agent_connected,
            "attributes": attributes, "version": version}),
    ))
    .expect("parses")
}

async fn on_host_event(d: &TestDrainer, event: DrainEvent) -> Outcome {
    let DrainEvent::ContainerInstance(e) = event else {
        panic!("a host event")
    };
    d.on_instance_event(&e).await.expect("ok").outcome
}

#[tokio::test]
async fn a_spot_stop_drains_then_the_host_comes_back_active() {
    let d = bed(cfg());
    let r = handle_spot_warning(&d, "stop").await;
    assert_eq!(r.outcome, Outcome::Draining);
    let ci = d.ecs().instance(CI).expect("ci");
    assert_eq!(ci.status, InstanceStatus::Draining);
    assert_eq!(
        ci.attribute(SPOT_MARKER_ATTRIBUTE)
            .and_then(|a| a.value.as_deref()),
        Some("stop/10")
    );

    // Still running and draining (agent connected): not back yet.
    assert_eq!(
        on_host_event(&d, host_event(&d, true, 11)).await,
        Outcome::Skipped
    );
    // The instance stops: its agent disconnects.
    assert_eq!(
        on_host_event(&d, host_event(&d, false, 12)).await,
        Outcome::MarkedStopped
    );
    // A late copy of the earlier "connected" event changes nothing.
    assert_eq!(
        on_host_event(&d, host_event(&d, true, 11)).await,
        Outcome::Skipped
    );
    assert_eq!(
        d.ecs().instance(CI).expect("ci").status,
        InstanceStatus::Draining
    );
    // Back: the agent reconnects.
    assert_eq!(
        on_host_event(&d, host_event(&d, true, 13)).await,
        Outcome::Reactivated
    );
    let ci = d.ecs().instance(CI).expect("ci");
    assert_eq!(ci.status, InstanceStatus::Active);
    assert!(
        ci.attribute(SPOT_MARKER_ATTRIBUTE).is_none(),
        "marker removed"
    );
    // Any later event: no marker, no call.
    d.ecs().clear_calls();
    assert_eq!(
        on_host_event(&d, host_event(&d, true, 14)).await,
        Outcome::Skipped
    );
    assert!(d.ecs().calls().is_empty());
    assert!(d.autoscaling().calls().is_empty());
}

#[tokio::test]
async fn terminate_warnings_and_hosts_drained_by_someone_else_are_not_brought_back() {
    let d = bed(cfg());
    handle_spot_warning(&d, "terminate").await;
    assert!(spot_marker(&d).is_none());

    // Already DRAINING (a lifecycle drain, a person): a stop warning leaves it to them.
    let d = bed(cfg());
    d.ecs().set_status(CI, InstanceStatus::Draining);
    handle_spot_warning(&d, "hibernate").await;
    assert!(spot_marker(&d).is_none());
    assert_eq!(d.ecs().count_calls("PutAttributes"), 0);
}
