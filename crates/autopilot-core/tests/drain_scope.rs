//! instance-drainer, second round: it acts only on its own hooks, survives long drains, reads only
//! MISSING as gone, and brings hosts back from a spot stop/hibernate. In-memory adapters.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use autopilot_core::drain::decide::{
    attempt_cap, hook_in_scope, spot_step, wildcard_match, DrainLimits, SpotStep,
    SPOT_MARKER_ATTRIBUTE,
};
use autopilot_core::drain::{DrainConfig, Drainer, Outcome, RecheckMessage};
use autopilot_core::events::{DrainEvent, EventBridgeEvent, LifecycleActionDetail};
use autopilot_core::memory::{InMemoryEcs, InMemoryLifecycle, InMemoryQueue};
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Task};
use serde_json::json;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";
const CI: &str = "arn:aws:ecs:us-east-1:1:container-instance/prod/ci-1";
const T0: i64 = 1_800_000_000;

type TestDrainer = Drainer<InMemoryEcs, InMemoryLifecycle, InMemoryQueue>;

fn bed(config: DrainConfig) -> (TestDrainer, Arc<AtomicI64>) {
    let ecs = InMemoryEcs::new();
    let mut ci = ContainerInstance::new(CI, InstanceStatus::Active);
    ci.ec2_instance_id = Some("i-1".into());
    ci.version = Some(10);
    ecs.add_instance(CLUSTER, ci);
    let now = Arc::new(AtomicI64::new(T0));
    let clock = now.clone();
    let drainer = Drainer::new(ecs, InMemoryLifecycle::new(), InMemoryQueue::new(), config)
        .with_clock(move || clock.load(Ordering::SeqCst));
    (drainer, now)
}

fn cfg() -> DrainConfig {
    DrainConfig::with_queue("https://q")
}

fn service_task(id: &str) -> Task {
    Task::running(
        format!("arn:aws:ecs:us-east-1:1:task/prod/{id}"),
        Some("service:web"),
        Some("ecs-svc/1"),
    )
}

fn lifecycle(hook: &str, instance: &str) -> EventBridgeEvent<LifecycleActionDetail> {
    let v = json!({"version": "0", "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling", "time": "2027-01-15T08:00:00Z", "detail": {
        "LifecycleActionToken": "tok-1", "AutoScalingGroupName": "asg", "LifecycleHookName": hook,
        "EC2InstanceId": instance, "NotificationMetadata": "{\"cluster\":\"prod\"}"}});
    match DrainEvent::from_value(v).expect("parses") {
        DrainEvent::LifecycleTerminate(e) => e,
        other => panic!("{other:?}"),
    }
}

fn take_recheck(d: &TestDrainer) -> RecheckMessage {
    let sent = d.queue().drain();
    assert_eq!(sent.len(), 1, "exactly one re-check queued: {sent:?}");
    RecheckMessage::parse(&sent[0].0).expect("valid body")
}

// ---- scope ------------------------------------------------------------------------------------

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

#[tokio::test]
async fn another_systems_hook_gets_no_call_whatever_the_instance() {
    let (d, _) = bed(cfg());
    d.ecs().add_task(CLUSTER, CI, service_task("a"));
    for instance in ["i-1", "i-not-an-ecs-host"] {
        for hook in ["flush-logs", "ecs-managed-draining-termination-hook"] {
            let r = d
                .on_lifecycle_action(&lifecycle(hook, instance))
                .await
                .expect("ok");
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
    let (d, _) = bed(cfg());
    let r = d
        .on_lifecycle_action(&lifecycle("ecs-autopilot-drain", "i-unknown"))
        .await
        .expect("ok");
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
    let (d, now) = bed(DrainConfig {
        max_drain_seconds: 7200,
        ..cfg()
    });
    d.ecs().add_task(CLUSTER, CI, service_task("slow"));
    let ev = lifecycle("ecs-autopilot-drain", "i-1");
    assert_eq!(
        d.on_lifecycle_action(&ev).await.expect("ok").outcome,
        Outcome::RecheckScheduled
    );
    // The lifecycle event delivered again: nothing new.
    assert_eq!(
        d.on_lifecycle_action(&ev).await.expect("ok").outcome,
        Outcome::Duplicate
    );
    let mut msg = take_recheck(&d);
    for attempt in 1..=40u32 {
        assert_eq!(msg.attempt, attempt);
        now.fetch_add(60, Ordering::SeqCst);
        if attempt == 40 {
            d.ecs()
                .finish_task("arn:aws:ecs:us-east-1:1:task/prod/slow");
        }
        let r = d.on_recheck(&msg).await.expect("ok");
        // Every re-check arrives twice (SQS is at-least-once): the copy does nothing.
        let dup = d.on_recheck(&msg).await.expect("ok");
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
    let (d, _) = bed(cfg());
    d.ecs().add_task(CLUSTER, CI, service_task("stuck"));
    d.on_lifecycle_action(&lifecycle("ecs-autopilot-drain", "i-1"))
        .await
        .expect("ok");
    let mut msg = take_recheck(&d);
    let limits = msg.limits.expect("limits travel with the re-check");
    let cap = attempt_cap(limits);
    assert_eq!(cap, 3600 / 60 + 10);
    // A clock that never moves: the deadline is never reached; the cap still ends the chain.
    msg.attempt = cap + 1;
    let r = d.on_recheck(&msg).await.expect("ok");
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
    let (d, _) = bed(cfg());
    d.ecs().add_task(CLUSTER, CI, service_task("a"));
    d.on_lifecycle_action(&lifecycle("ecs-autopilot-drain", "i-1"))
        .await
        .expect("ok");
    let msg = take_recheck(&d);

    d.ecs().fail_describe(CI, "INTERNAL_ERROR");
    let err = d.on_recheck(&msg).await.expect_err("not an answer");
    assert!(err.to_string().contains("INTERNAL_ERROR"), "{err}");
    assert_eq!(d.autoscaling().completions(), 0);

    // The host answers again, a task does not: still no completion.
    let (d, _) = bed(cfg());
    d.ecs().add_task(CLUSTER, CI, service_task("a"));
    d.on_lifecycle_action(&lifecycle("ecs-autopilot-drain", "i-1"))
        .await
        .expect("ok");
    let msg = take_recheck(&d);
    d.ecs()
        .fail_describe("arn:aws:ecs:us-east-1:1:task/prod/a", "INTERNAL_ERROR");
    assert!(d.on_recheck(&msg).await.is_err());
    assert_eq!(d.autoscaling().completions(), 0);

    // MISSING is gone: the host was deregistered, the drain is over.
    d.ecs().fail_describe(CI, "MISSING");
    let r = d.on_recheck(&msg).await.expect("ok");
    assert_eq!(
        (r.outcome, r.reason.as_deref()),
        (Outcome::Completed, Some("instance_gone"))
    );
}

// ---- spot stop / hibernate ------------------------------------------------------------------

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

fn spot_warning(action: &str) -> DrainEvent {
    DrainEvent::from_value(
        json!({"version": "0", "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2", "detail": {"instance-id": "i-1", "instance-action": action}}),
    )
    .expect("parses")
}

/// The host's `ECS Container Instance State Change`, as ECS sends it (attributes included).
fn host_event(d: &TestDrainer, agent_connected: bool, version: i64) -> DrainEvent {
    let ci = d.ecs().instance(CI).expect("ci");
    let attributes: Vec<serde_json::Value> = ci
        .attributes
        .iter()
        .map(|a: &Attribute| json!({"name": a.name, "value": a.value}))
        .collect();
    DrainEvent::from_value(
        json!({"version": "0", "detail-type": "ECS Container Instance State Change",
        "source": "aws.ecs", "detail": {"clusterArn": CLUSTER, "containerInstanceArn": CI,
        "ec2InstanceId": "i-1", "status": ci.status.as_str(), "agentConnected": agent_connected,
        "attributes": attributes, "version": version}}),
    )
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
    let (d, _) = bed(cfg());
    let DrainEvent::SpotInterruption(warning) = spot_warning("stop") else {
        panic!()
    };
    let r = d.on_spot_interruption(&warning).await.expect("ok");
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
    let (d, _) = bed(cfg());
    let DrainEvent::SpotInterruption(warning) = spot_warning("terminate") else {
        panic!()
    };
    d.on_spot_interruption(&warning).await.expect("ok");
    assert!(d
        .ecs()
        .instance(CI)
        .expect("ci")
        .attribute(SPOT_MARKER_ATTRIBUTE)
        .is_none());

    // Already DRAINING (a lifecycle drain, a person): a stop warning leaves it to them.
    let (d, _) = bed(cfg());
    d.ecs().set_status(CI, InstanceStatus::Draining);
    let DrainEvent::SpotInterruption(warning) = spot_warning("hibernate") else {
        panic!()
    };
    d.on_spot_interruption(&warning).await.expect("ok");
    assert!(d
        .ecs()
        .instance(CI)
        .expect("ci")
        .attribute(SPOT_MARKER_ATTRIBUTE)
        .is_none());
    assert_eq!(d.ecs().count_calls("PutAttributes"), 0);
}
