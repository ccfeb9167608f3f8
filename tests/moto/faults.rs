//! Faults on the real wire protocol: the functions talk to moto through the test bed's
//! fault-injecting proxy (tests/moto_server.py: throttling errors, 500s, responses lost after moto
//! acted). A failed invocation is retried the way Lambda retries an event.

use autopilot_aws::{AwsAutoScaling, AwsEcs, AwsSqs};
use autopilot_core::daemon::{DaemonConfig, DaemonReconciler};
use autopilot_core::drain::{DrainConfig, Drainer, Outcome};
use integration_tests::fixtures::{lifecycle_terminate_event, DAEMON_TAG};
use integration_tests::{EcsFixture, Moto, LIFECYCLE_EVENT_UNIX};
use serde_json::json;

/// Lambda retries a failed asynchronous event twice; a test may allow a few more attempts (the
/// scheduled sweep repairs the rest in production).
const ATTEMPTS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_count_converges_under_thirty_percent_throttling() {
    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 5).await;
    fx.set_draining(&hosts[4]).await;
    let td = fx.register_task_definition("sidecar", None).await;
    fx.create_service("logs", &td, 0, DAEMON_TAG, false).await;
    fx.create_service("metrics", &td, 7, DAEMON_TAG, false)
        .await;
    fx.create_service("web", &td, 2, &[], false).await;
    moto.faults(json!({"throttle": 0.3, "seed": 7}));
    let clients = moto.faulty_clients();
    let rec = DaemonReconciler::new(AwsEcs::new(clients.ecs), DaemonConfig::default());
    let mut ok = false;
    for attempt in 0..ATTEMPTS {
        let mut event = fx.instance_event(&hosts[0], "ACTIVE");
        // Each retry is a later delivery of the change: never "covered" by a failed run.
        event["time"] = json!(format!("2026-11-22T06:00:0{attempt}Z"));
        if daemon_count::handle(&rec, event).await.is_ok() {
            ok = true;
            break;
        }
    }
    let injected = moto.fault_stats();
    moto.faults(json!({}));
    assert!(
        ok,
        "converged within {ATTEMPTS} deliveries (faults: {injected})"
    );
    assert!(
        injected["throttle"].as_u64().unwrap_or(0) > 0,
        "the proxy throttled: {injected}"
    );
    assert_eq!(fx.desired_count("logs").await, 4);
    assert_eq!(fx.desired_count("metrics").await, 4);
    assert_eq!(
        fx.desired_count("web").await,
        2,
        "untagged service untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drainer_completes_once_when_the_completion_response_is_lost() {
    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let (ec2_id, _) = fx.host(&hosts[0]).await;
    let url = moto.create_queue("rechecks").await;
    // The first CompleteLifecycleAction reaches Auto Scaling, its answer is lost; the SDK retries
    // and Auto Scaling says the action is no longer active — which the drainer takes as done.
    moto.faults(json!({"drop": 1.0, "only": ["CompleteLifecycleAction"], "limit": 1}));
    let clients = moto.faulty_clients();
    let d = Drainer::new(
        AwsEcs::new(clients.ecs),
        AwsAutoScaling::new(clients.autoscaling),
        AwsSqs::new(clients.sqs, url),
        DrainConfig::with_queue("unused"),
    )
    .with_clock(|| LIFECYCLE_EVENT_UNIX + 30);
    let event = lifecycle_terminate_event(&ec2_id, "tok-lost", Some(r#"{"cluster": "prod"}"#));
    let mut outcomes = Vec::new();
    for _ in 0..ATTEMPTS {
        match instance_drainer::handle(&d, event.clone(), None).await {
            Ok(r) => {
                outcomes.push(r.record().map(|r| r.outcome));
                break;
            }
            Err(_) => outcomes.push(None),
        }
    }
    let injected = moto.fault_stats();
    assert_eq!(injected["drop"], 1, "one answer was lost: {injected}");
    let accepted: Vec<_> = moto
        .lifecycle_calls()
        .into_iter()
        .filter(|c| c.operation == "CompleteLifecycleAction" && c.accepted)
        .collect();
    assert_eq!(accepted.len(), 1, "completed exactly once: {outcomes:?}");
    assert!(
        matches!(
            outcomes.last(),
            Some(Some(Outcome::Completed | Outcome::AlreadyCompleted))
        ),
        "{outcomes:?}"
    );
}
