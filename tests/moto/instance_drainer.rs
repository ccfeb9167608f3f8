//! instance-drainer against moto (ECS, Auto Scaling, SQS): lifecycle and spot events, re-checks,
//! duplicates, daemon and standalone tasks, malformed input.

// The test bed adds the two lifecycle calls moto lacks and records them (`tests/moto_server.py`).
// Where moto differs from AWS it is said at the point of use:
// - moto ignores `ListContainerInstances --filter`: every test has a second host, so the adapter's
//   client-side check of the EC2 id is what picks the right one;
// - moto's StopTask makes a task STOPPED at once (ECS goes through DEACTIVATING/STOPPING; the
//   in-memory tests cover a task that is still shutting down);
// - delayed SQS messages are taken off the queue with their delay (`take_messages`), never waited out.
//
// Call counts per event and per re-check are printed with `eprintln!` (run with `--nocapture`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autopilot_aws::{AwsAutoScaling, AwsEcs, AwsSqs, CallCounter};
use autopilot_core::daemon::{DaemonConfig, DaemonReconciler};
use autopilot_core::drain::{DrainConfig, Drainer, Outcome, StandalonePolicy};
use autopilot_core::env::ClusterScope;
use instance_drainer::{handle, Response};
use integration_tests::fixtures::{
    bare_event, error_type, lifecycle_terminate_event, spot_interruption_event, sqs_batch_event,
    DAEMON_TAG,
};
use integration_tests::{EcsFixture, Moto, DAEMON_COUNT, INSTANCE_DRAINER, LIFECYCLE_EVENT_UNIX};
use serde_json::json;

const QUEUE: &str = "drainer-rechecks";
/// The events carry a fixed `time`; the drainer handles them 30 s after it (a freshly delivered
/// event), so no outcome depends on the day the suite runs.
const NOW: i64 = LIFECYCLE_EVENT_UNIX + 30;

type AwsDrainer = Drainer<AwsEcs, AwsAutoScaling, AwsSqs>;

async fn drainer(
    moto: &Moto,
    config: impl FnOnce(DrainConfig) -> DrainConfig,
) -> (AwsDrainer, CallCounter) {
    let url = moto.create_queue(QUEUE).await;
    let clients = moto.function_clients(INSTANCE_DRAINER);
    let config = config(DrainConfig::with_queue(url.clone()));
    let d = Drainer::new(
        AwsEcs::new(clients.ecs),
        AwsAutoScaling::new(clients.autoscaling),
        AwsSqs::new(clients.sqs, url),
        config,
    );
    (d, clients.counter)
}

/// Runs the handler, checks it answered quickly, and returns the response plus the calls it made.
async fn invoke(
    d: &AwsDrainer,
    calls: &CallCounter,
    label: &str,
    payload: serde_json::Value,
) -> (Response, BTreeMap<String, u64>) {
    calls.reset();
    let t = Instant::now();
    let response = handle(d, payload, None, NOW)
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    let took = t.elapsed();
    // Not a speed target (those are benchmarks): a guard that no invocation waits for tasks. The
    // shortest wait the drainer could make is a re-check interval (45–60 s here), so a generous
    // bound cannot flake on a loaded machine yet still catches a drainer that sleeps.
    assert!(
        took < Duration::from_secs(30),
        "{label} took {took:?}: no invocation may wait"
    );
    let snapshot = calls.snapshot();
    eprintln!(
        "calls, {label}: {} total {snapshot:?} ({} ms)",
        calls.total(),
        took.as_millis()
    );
    (response, snapshot)
}

/// [`invoke`] with an SQS batch of one message (a re-check, or what claims to be one).
async fn recheck(
    d: &AwsDrainer,
    calls: &CallCounter,
    label: &str,
    body: &str,
) -> (Response, BTreeMap<String, u64>) {
    invoke(d, calls, label, sqs_batch_event(&[body])).await
}

fn n(calls: &BTreeMap<String, u64>, op: &str) -> u64 {
    calls.get(op).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_service_tasks_drain_then_complete_exactly_once_despite_duplicates() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("web", None).await;
    let t1 = fx
        .start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let t2 = fx
        .start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let (ec2_id, _) = fx.host(&hosts[0]).await;
    // The hook: HeartbeatTimeout 90 s → re-checks every 45 s (not the configured 60). moto reports
    // a fixed GlobalTimeout of 48 h; the drainer bounds it by 100 × HeartbeatTimeout as AWS does.
    moto.autoscaling()
        .put_lifecycle_hook()
        .auto_scaling_group_name("ecs-asg")
        .lifecycle_hook_name("ecs-autopilot-drain")
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(90)
        .send()
        .await
        .expect("put lifecycle hook");
    let (d, calls) = drainer(&moto, |c| c).await;
    let event = lifecycle_terminate_event(&ec2_id, "tok-1", Some(r#"{"cluster": "prod"}"#));

    // The lifecycle event: DRAINING, one delayed re-check, no completion.
    let (r, first) = invoke(
        &d,
        &calls,
        "lifecycle event (2 service tasks)",
        event.clone(),
    )
    .await;
    let record = r.record().expect("record");
    assert_eq!(record.outcome, Outcome::RecheckScheduled, "{record:?}");
    assert!(record.set_draining);
    assert_eq!(record.tasks.service.len(), 2);
    assert_eq!(fx.host(&hosts[0]).await.1, "DRAINING");
    assert_eq!(
        fx.host(&hosts[1]).await.1,
        "ACTIVE",
        "moto ignored the filter; we did not"
    );
    assert_eq!(n(&first, "UpdateContainerInstancesState"), 1);
    assert_eq!(n(&first, "SendMessage"), 1);
    assert_eq!(n(&first, "CompleteLifecycleAction"), 0);

    // The same event delivered again: no second DRAINING, no second re-check.
    let (r, dup) = invoke(&d, &calls, "duplicate lifecycle event", event.clone()).await;
    assert_eq!(r.record().expect("record").outcome, Outcome::Duplicate);
    assert_eq!(
        n(&dup, "UpdateContainerInstancesState") + n(&dup, "SendMessage"),
        0
    );

    let queued = moto.take_messages(QUEUE);
    assert_eq!(queued.len(), 1, "exactly one re-check queued: {queued:?}");
    assert_eq!(
        queued[0].delay_seconds, 45,
        "delayed by HeartbeatTimeout / 2 (below RECHECK_INTERVAL_SECONDS = 60)"
    );
    let body: serde_json::Value = serde_json::from_str(&queued[0].body).expect("json body");
    assert_eq!(
        body["limits"],
        json!({"maxDrainSeconds": 3600, "recheckIntervalSeconds": 45}),
        "9000 s (100 × 90) less 300 s would allow more: MAX_DRAIN_SECONDS = 3600 stands"
    );
    assert_eq!(n(&first, "DescribeLifecycleHooks"), 1);
    assert!(
        moto.lifecycle_calls().is_empty(),
        "no heartbeat or completion yet"
    );

    // Re-check 1: tasks still run → heartbeat, next re-check.
    let (r, recheck_wait) =
        recheck(&d, &calls, "re-check, tasks still running", &queued[0].body).await;
    let batch = r.batch().expect("batch");
    assert!(
        batch.response.batch_item_failures.is_empty(),
        "{:?}",
        batch.errors
    );
    assert_eq!(batch.records[0].outcome, Outcome::RecheckScheduled);
    assert_eq!(n(&recheck_wait, "RecordLifecycleActionHeartbeat"), 1);
    assert_eq!(
        serde_json::to_value(&r).expect("json"),
        json!({"batchItemFailures": []}),
        "the SQS answer is exactly the partial batch response"
    );
    // Re-check 1 delivered twice (SQS is at least once): stale, dropped.
    let (r, _) = recheck(&d, &calls, "duplicate re-check 1", &queued[0].body).await;
    assert_eq!(
        r.batch().expect("batch").records[0].outcome,
        Outcome::Duplicate
    );
    let queued2 = moto.take_messages(QUEUE);
    assert_eq!(queued2.len(), 1, "{queued2:?}");
    assert_eq!(
        queued2[0].delay_seconds, 45,
        "the limits travel with the re-check"
    );

    // ECS stops the service tasks; re-check 2 completes, delivered twice.
    fx.stop_task(&t1).await;
    fx.stop_task(&t2).await;
    let (r, recheck_done) = recheck(&d, &calls, "re-check, host empty", &queued2[0].body).await;
    let rec = &r.batch().expect("batch").records[0];
    assert_eq!(
        (rec.outcome, rec.reason.as_deref()),
        (Outcome::Completed, Some("drained"))
    );
    assert_eq!(n(&recheck_done, "CompleteLifecycleAction"), 1);
    let (r, _) = recheck(&d, &calls, "duplicate re-check 2", &queued2[0].body).await;
    assert_eq!(
        r.batch().expect("batch").records[0].outcome,
        Outcome::Duplicate
    );
    let (r, _) = invoke(&d, &calls, "lifecycle event after completion", event).await;
    assert_eq!(r.record().expect("record").outcome, Outcome::Duplicate);

    let lifecycle = moto.lifecycle_calls();
    let completes: Vec<_> = lifecycle
        .iter()
        .filter(|c| c.operation == "CompleteLifecycleAction")
        .collect();
    assert_eq!(
        completes.len(),
        1,
        "exactly one CompleteLifecycleAction: {lifecycle:?}"
    );
    assert_eq!(completes[0].result.as_deref(), Some("CONTINUE"));
    assert!(completes[0].accepted);
    assert_eq!(
        (
            completes[0].token.as_str(),
            completes[0].instance_id.as_str()
        ),
        ("tok-1", ec2_id.as_str())
    );
    assert!(moto.take_messages(QUEUE).is_empty(), "the chain ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ecs_instance_completes_at_once() {
    let moto = Moto::start();
    EcsFixture::with_hosts(&moto, "prod", 2).await;
    let stranger = moto.run_instances("t3.micro", "us-east-1a", 1).remove(0);
    // CLUSTERS instead of metadata; one listed cluster does not exist.
    let (d, calls) = drainer(&moto, |c| DrainConfig {
        clusters: ClusterScope::Only(vec!["gone".into(), "prod".into()]),
        ..c
    })
    .await;
    let (r, counts) = invoke(
        &d,
        &calls,
        "lifecycle event (not an ECS host)",
        lifecycle_terminate_event(&stranger, "tok-x", None),
    )
    .await;
    let rec = r.record().expect("record");
    assert_eq!(
        (rec.outcome, rec.reason.as_deref()),
        (Outcome::Completed, Some("not_ecs_host"))
    );
    // moto lists no hosts for a cluster that does not exist (ECS raises ClusterNotFoundException,
    // which the drainer records as a warning and moves on: covered by the in-memory tests).
    assert_eq!(
        n(&counts, "ListContainerInstances"),
        2,
        "both listed clusters searched"
    );
    assert_eq!(n(&counts, "CompleteLifecycleAction"), 1);
    assert_eq!(
        n(&counts, "UpdateContainerInstancesState") + n(&counts, "SendMessage"),
        0
    );
    let lifecycle = moto.lifecycle_calls();
    assert_eq!(lifecycle.len(), 1);
    assert_eq!(lifecycle[0].result.as_deref(), Some("CONTINUE"));
    assert!(moto.take_messages(QUEUE).is_empty());
}

/// The daemon-count interplay: daemon tasks do not hold the drain, and once the host is DRAINING
/// daemon-count lowers the tagged daemon service's count by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_tasks_alone_do_not_block_and_daemon_count_lowers_the_count() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("sidecar", None).await;
    fx.create_service("logs", &td, 2, DAEMON_TAG, false).await;
    fx.create_service("agent", &td, 0, &[], true).await;
    let (ec2_id, _) = fx.host(&hosts[0]).await;
    for h in &hosts {
        fx.start_task(&td, h, "service:logs", Some("ecs-svc/7"))
            .await;
        fx.start_task(&td, h, "service:agent", Some("ecs-svc/8"))
            .await;
    }
    let (d, calls) = drainer(&moto, |c| c).await;
    let (r, counts) = invoke(
        &d,
        &calls,
        "lifecycle event (daemon tasks only)",
        lifecycle_terminate_event(&ec2_id, "tok-d", Some(r#"{"cluster":"prod"}"#)),
    )
    .await;
    let rec = r.record().expect("record");
    assert_eq!(
        (rec.outcome, rec.reason.as_deref()),
        (Outcome::Completed, Some("drained")),
        "{rec:?}"
    );
    assert_eq!(
        rec.tasks.daemon.len(),
        2,
        "tagged REPLICA daemon and DAEMON-strategy task"
    );
    assert_eq!(n(&counts, "CompleteLifecycleAction"), 1);
    assert!(moto.take_messages(QUEUE).is_empty(), "no re-check");
    assert_eq!(fx.host(&hosts[0]).await.1, "DRAINING");

    // daemon-count sees the DRAINING host and lowers `logs` from 2 to 1.
    let rec = DaemonReconciler::new(
        AwsEcs::new(moto.function_clients(DAEMON_COUNT).ecs),
        DaemonConfig::default(),
    );
    daemon_count::handle(&rec, fx.instance_event(&hosts[0], "DRAINING"))
        .await
        .expect("daemon-count");
    assert_eq!(fx.desired_count("logs").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_task_is_stopped_after_its_grace_then_the_host_completes() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("batch", None).await;
    let task = fx.start_task(&td, &hosts[0], "family:batch", None).await;
    let (ec2_id, _) = fx.host(&hosts[0]).await;
    let (d, calls) = drainer(&moto, |c| DrainConfig {
        standalone: StandalonePolicy::Stop,
        standalone_grace_seconds: 0,
        ..c
    })
    .await;
    let (r, counts) = invoke(
        &d,
        &calls,
        "lifecycle event (standalone task, grace 0)",
        lifecycle_terminate_event(&ec2_id, "tok-s", Some(r#"{"cluster":"prod"}"#)),
    )
    .await;
    let rec = r.record().expect("record");
    assert_eq!(rec.outcome, Outcome::RecheckScheduled);
    assert_eq!(rec.stopped_tasks, vec![task.clone()]);
    assert_eq!(n(&counts, "StopTask"), 1);
    assert_eq!(fx.task_status(&task).await.1, "STOPPED");
    let queued = moto.take_messages(QUEUE);
    let (r, _) = recheck(&d, &calls, "re-check after StopTask", &queued[0].body).await;
    assert_eq!(
        r.batch().expect("batch").records[0].outcome,
        Outcome::Completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_warning_drains_at_once_without_waiting() {
    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let (ec2_id, _) = fx.host(&hosts[1]).await;
    let (d, calls) = drainer(&moto, |c| c).await;
    let (r, counts) = invoke(
        &d,
        &calls,
        "spot interruption warning",
        spot_interruption_event(&ec2_id),
    )
    .await;
    assert_eq!(r.record().expect("record").outcome, Outcome::Draining);
    assert_eq!(fx.host(&hosts[1]).await.1, "DRAINING");
    assert_eq!(fx.host(&hosts[0]).await.1, "ACTIVE");
    assert_eq!(n(&counts, "UpdateContainerInstancesState"), 1);
    assert!(moto.lifecycle_calls().is_empty());
    assert!(moto.take_messages(QUEUE).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_clear_errors_and_make_no_call() {
    let moto = Moto::start();
    let (d, calls) = drainer(&moto, |c| c).await;
    calls.reset();
    for (payload, needle) in [
        (
            bare_event(
                "EC2 Instance-terminate Lifecycle Action",
                "aws.autoscaling",
                json!({"AutoScalingGroupName": "g", "LifecycleHookName": "h"}),
            ),
            "LifecycleActionToken",
        ),
        (
            bare_event(
                "EC2 Spot Instance Interruption Warning",
                "aws.ec2",
                json!({}),
            ),
            "instance-id",
        ),
        (json!("just a string"), "not an EventBridge event"),
        (json!({"Records": "nope"}), "SQS batch"),
    ] {
        let err = handle(&d, payload.clone(), None, NOW)
            .await
            .expect_err("must fail");
        assert!(err.to_string().contains(needle), "{payload}: {err}");
        assert_eq!(error_type(err), "InvalidEvent");
    }
    // A bad message in a batch fails alone, by message id.
    let (r, _) = recheck(&d, &calls, "batch with a bad message", "{\"hello\": 1}").await;
    let batch = r.batch().expect("batch");
    assert_eq!(batch.response.batch_item_failures.len(), 1);
    assert_eq!(
        batch.response.batch_item_failures[0].item_identifier,
        "msg-0"
    );
    assert!(
        batch.errors[0].1.contains("not a valid re-check"),
        "{:?}",
        batch.errors
    );
    // Other detail types are skipped, not errors.
    let (r, _) = invoke(
        &d,
        &calls,
        "unrelated event",
        bare_event(
            "EC2 Instance Launch Successful",
            "aws.autoscaling",
            json!({}),
        ),
    )
    .await;
    assert!(matches!(r, Response::Event(ref e) if e.trigger == "skipped"));
    assert_eq!(calls.total(), 0, "no AWS call: {:?}", calls.snapshot());
    assert!(moto.lifecycle_calls().is_empty());
}

// ---- second round: scope, long drains, only MISSING means gone, spot stop ------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_outside_the_scope_gets_no_lifecycle_call_whatever_the_instance() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("web", None).await;
    fx.start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let (ecs_host, _) = fx.host(&hosts[0]).await;
    let stranger = moto.run_instances("t3.micro", "us-east-1a", 1).remove(0);
    let (d, calls) = drainer(&moto, |c| c).await;
    for (instance, hook) in [
        (&ecs_host, "flush-logs"),
        (&stranger, "flush-logs"),
        (&ecs_host, "ecs-managed-draining-termination-hook"),
    ] {
        let mut event = lifecycle_terminate_event(instance, "tok-other", None);
        event["detail"]["LifecycleHookName"] = json!(hook);
        let (r, counts) = invoke(&d, &calls, &format!("{hook} on {instance}"), event).await;
        assert_eq!(r.record().expect("record").outcome, Outcome::NotOurHook);
        assert_eq!(
            counts.values().sum::<u64>(),
            0,
            "no call at all: {counts:?}"
        );
    }
    assert!(
        moto.lifecycle_calls().is_empty(),
        "no completion, no heartbeat"
    );
    assert_eq!(fx.host(&hosts[0]).await.1, "ACTIVE");
    assert!(moto.take_messages(QUEUE).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_whose_host_ecs_cannot_describe_fails_alone_and_does_not_complete() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("web", None).await;
    let task = fx
        .start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let (ec2_id, _) = fx.host(&hosts[0]).await;
    let (d, calls) = drainer(&moto, |c| c).await;
    invoke(
        &d,
        &calls,
        "lifecycle event",
        lifecycle_terminate_event(&ec2_id, "tok-1", Some(r#"{"cluster": "prod"}"#)),
    )
    .await;
    let queued = moto.take_messages(QUEUE);
    assert_eq!(queued.len(), 1);

    // ECS lists the host but answers its Describe with a failure entry other than MISSING (the
    // test bed injects it: moto cannot): not "gone".
    moto.fail_describe(&hosts[0], Some("INTERNAL_ERROR"));
    fx.stop_task(&task).await;
    let (r, counts) = recheck(&d, &calls, "re-check, Describe failed", &queued[0].body).await;
    let batch = r.batch().expect("batch");
    assert_eq!(
        batch.response.batch_item_failures.len(),
        1,
        "this message fails"
    );
    assert!(
        batch.errors[0].1.contains("INTERNAL_ERROR"),
        "{:?}",
        batch.errors
    );
    assert_eq!(n(&counts, "CompleteLifecycleAction"), 0);
    assert!(moto.lifecycle_calls().is_empty(), "no completion");

    // SQS redelivers it once Describe answers: the host is empty now, the drain completes.
    moto.fail_describe(&hosts[0], None);
    let (r, _) = recheck(&d, &calls, "re-check, redelivered", &queued[0].body).await;
    let rec = &r.batch().expect("batch").records[0];
    assert_eq!(
        (rec.outcome, rec.reason.as_deref()),
        (Outcome::Completed, Some("drained"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_of_forty_rechecks_completes_exactly_once() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let td = fx.register_task_definition("web", None).await;
    let task = fx
        .start_task(&td, &hosts[0], "service:web", Some("ecs-svc/1"))
        .await;
    let (ec2_id, _) = fx.host(&hosts[0]).await;
    let (d, calls) = drainer(&moto, |c| c).await;
    let event = lifecycle_terminate_event(&ec2_id, "tok-40", Some(r#"{"cluster": "prod"}"#));
    invoke(&d, &calls, "lifecycle event", event.clone()).await;
    let mut body = moto.take_messages(QUEUE).remove(0).body;
    for attempt in 1..=40 {
        if attempt == 40 {
            fx.stop_task(&task).await;
        }
        let (r, _) = recheck(&d, &calls, &format!("re-check {attempt}"), &body).await;
        let outcome = r.batch().expect("batch").records[0].outcome;
        // Each re-check, and the lifecycle event, delivered again: nothing new.
        let (again, _) = recheck(&d, &calls, "duplicate", &body).await;
        assert_eq!(
            again.batch().expect("batch").records[0].outcome,
            Outcome::Duplicate
        );
        let (again, _) = invoke(&d, &calls, "duplicate lifecycle event", event.clone()).await;
        assert_eq!(again.record().expect("record").outcome, Outcome::Duplicate);
        if attempt < 40 {
            assert_eq!(outcome, Outcome::RecheckScheduled, "re-check {attempt}");
            let mut queued = moto.take_messages(QUEUE);
            assert_eq!(queued.len(), 1, "one chain, re-check {attempt}: {queued:?}");
            body = queued.remove(0).body;
        } else {
            assert_eq!(outcome, Outcome::Completed);
        }
    }
    let lifecycle = moto.lifecycle_calls();
    let count = |op: &str| lifecycle.iter().filter(|c| c.operation == op).count();
    assert_eq!(count("CompleteLifecycleAction"), 1, "exactly once");
    assert_eq!(count("RecordLifecycleActionHeartbeat"), 40);
    assert!(moto.take_messages(QUEUE).is_empty(), "the chain ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_stop_then_the_instance_back_ends_active() {
    use autopilot_core::ports::EcsRead;

    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 2).await;
    let (ec2_id, _) = fx.host(&hosts[1]).await;
    let (d, calls) = drainer(&moto, |c| c).await;
    let mut warning = spot_interruption_event(&ec2_id);
    warning["detail"]["instance-action"] = json!("stop");
    let (r, counts) = invoke(&d, &calls, "spot stop warning", warning).await;
    assert_eq!(r.record().expect("record").outcome, Outcome::Draining);
    assert_eq!(n(&counts, "PutAttributes"), 1, "the resume marker");
    assert_eq!(fx.host(&hosts[1]).await.1, "DRAINING");

    // The host's state changes as ECS reports them (moto emits no events: they are built from
    // the host as moto describes it, with ECS's version counter, which moto lacks, made up).
    let reader = AwsEcs::new(moto.ecs());
    let host_event = |agent_connected: bool, version: i64| {
        let reader = &reader;
        let fx = &fx;
        let arn = hosts[1].clone();
        async move {
            let ci = reader
                .describe_container_instance(&fx.cluster_arn, &arn)
                .await
                .expect("describe")
                .expect("host");
            let mut event = fx.instance_event(&arn, ci.status.as_str());
            event["detail"]["agentConnected"] = json!(agent_connected);
            event["detail"]["version"] = json!(version);
            event["detail"]["attributes"] = json!(ci
                .attributes
                .iter()
                .map(|a| json!({"name": a.name, "value": a.value}))
                .collect::<Vec<_>>());
            event
        }
    };
    let (r, _) = invoke(
        &d,
        &calls,
        "stopped (agent disconnected)",
        host_event(false, 5).await,
    )
    .await;
    assert_eq!(r.record().expect("record").outcome, Outcome::MarkedStopped);
    let (r, counts) = invoke(
        &d,
        &calls,
        "back (agent connected)",
        host_event(true, 6).await,
    )
    .await;
    assert_eq!(r.record().expect("record").outcome, Outcome::Reactivated);
    assert_eq!(n(&counts, "UpdateContainerInstancesState"), 1);
    assert_eq!(n(&counts, "DeleteAttributes"), 1);
    assert_eq!(
        fx.host(&hosts[1]).await.1,
        "ACTIVE",
        "back without a person"
    );
    let (r, counts) = invoke(&d, &calls, "a later event", host_event(true, 7).await).await;
    assert_eq!(r.record().expect("record").outcome, Outcome::Skipped);
    assert_eq!(
        counts.values().sum::<u64>(),
        0,
        "the marker is gone: no call"
    );
    assert!(moto.lifecycle_calls().is_empty());
}
