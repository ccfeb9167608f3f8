//! Faults on the real wire protocol: the functions talk to moto through the test bed's
//! fault-injecting proxy (tests/moto_server.py: throttling errors, 500s, responses lost after moto
//! acted). A failed invocation is retried the way Lambda retries an event.

use autopilot_aws::{AwsAutoScaling, AwsEcs, AwsSqs};
use autopilot_core::daemon::{DaemonConfig, DaemonReconciler};
use autopilot_core::drain::{DrainConfig, Drainer, Outcome};
use integration_tests::fixtures::{lifecycle_terminate_event, DAEMON_TAG};
use integration_tests::{
    EcsFixture, Moto, CAPACITY_RECORDER, DAEMON_COUNT, INSTANCE_DRAINER, LIFECYCLE_EVENT_UNIX,
    TASK_DISPATCHER,
};
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
    let clients = moto.faulty_clients(DAEMON_COUNT);
    let counter = clients.counter.clone();
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
    // The per-invocation `Throttles` metric counts every throttled answer on the wire.
    assert_eq!(
        counter.throttles(),
        injected["throttle"].as_u64().unwrap_or(0),
        "throttles counted as injected"
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
    let clients = moto.faulty_clients(INSTANCE_DRAINER);
    let d = Drainer::new(
        AwsEcs::new(clients.ecs),
        AwsAutoScaling::new(clients.autoscaling),
        AwsSqs::new(clients.sqs, url),
        DrainConfig::with_queue("unused"),
    );
    let event = lifecycle_terminate_event(&ec2_id, "tok-lost", Some(r#"{"cluster": "prod"}"#));
    let mut outcomes = Vec::new();
    for _ in 0..ATTEMPTS {
        match instance_drainer::handle(&d, event.clone(), None, LIFECYCLE_EVENT_UNIX + 30).await {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_shuffled_log_leaves_the_in_order_capacity_table() {
    use autopilot_aws::DynamoCapacityStore;
    use autopilot_core::capacity::{CapacityRecorder, Record, RecorderConfig};
    use autopilot_core::env::ClusterScope;
    use autopilot_core::memory::{InMemoryCapacityStore, InMemoryEcs};
    use autopilot_core::ports::CapacityStore;
    use integration_tests::fixtures::{
        capacity_instance_event, cluster_arn, container_instance_arn, task_arn, task_event,
    };

    const NOW: i64 = 1_800_000_000;
    let moto = Moto::start();
    let config = || RecorderConfig {
        table: "faulty".into(),
        clusters: ClusterScope::All,
    };
    let mut log = Vec::new();
    for h in 0..3 {
        let host = container_instance_arn("prod", &format!("h{h:04}"));
        for v in 1..=3 {
            log.push(capacity_instance_event(
                "prod",
                &host,
                v,
                "ACTIVE",
                7680 - 100 * v,
            ));
        }
    }
    for t in 0..6 {
        for (v, s) in [(1, "PENDING"), (2, "RUNNING"), (3, "STOPPED")] {
            let mut e = task_event(
                &cluster_arn("prod"),
                &task_arn("prod", &format!("t{t}")),
                &container_instance_arn("prod", &format!("h{:04}", t % 3)),
                v,
                s,
            );
            e["detail"]["memory"] = json!("256");
            log.push(e);
        }
    }
    let expected =
        CapacityRecorder::new(InMemoryCapacityStore::new(), InMemoryEcs::new(), config());
    for e in &log {
        capacity_recorder::handle(&expected, e.clone(), NOW)
            .await
            .expect("in order");
    }

    let setup = DynamoCapacityStore::new(moto.dynamodb(), "faulty");
    setup.create_table().await.expect("create table");
    // 20% of the writes throttled, 10% acted on but their answer lost (the SDK retries; the retry
    // meets its own write and is a duplicate).
    moto.faults(json!({"throttle": 0.2, "drop": 0.1, "only": ["UpdateItem"], "seed": 3}));
    let clients = moto.faulty_clients(CAPACITY_RECORDER);
    let rec = CapacityRecorder::new(
        DynamoCapacityStore::new(clients.dynamodb, "faulty"),
        AwsEcs::new(clients.ecs),
        config(),
    );
    // Reversed, every other event twice: out of order and duplicated.
    let mut delivered: Vec<_> = log.iter().rev().cloned().collect();
    delivered.extend(log.iter().step_by(2).cloned());
    for e in &delivered {
        let mut done = false;
        for _ in 0..ATTEMPTS {
            if capacity_recorder::handle(&rec, e.clone(), NOW)
                .await
                .is_ok()
            {
                done = true;
                break;
            }
        }
        assert!(done, "delivered within {ATTEMPTS} attempts: {e}");
    }
    let injected = moto.fault_stats();
    moto.faults(json!({}));
    assert!(
        injected["throttle"].as_u64().unwrap_or(0) > 0
            && injected["drop"].as_u64().unwrap_or(0) > 0,
        "faults were injected: {injected}"
    );
    let sorted = |mut r: Vec<Record>| {
        r.sort_by_key(|r| r.key());
        r
    };
    let got = sorted(setup.cluster_records("prod").await.expect("query"));
    assert_eq!(
        got,
        sorted(expected.store().snapshot()),
        "faults: {injected}"
    );
}

/// task-dispatcher through the proxy with throttling, 500s and answers lost after moto acted, on
/// every call (DynamoDB and ECS, RunTask included): each failed invocation is retried as Lambda
/// retries it, then the every-minute sweep runs until nothing is left to do. Each job has exactly
/// one task on moto. moto ignores RunTask's `clientToken` (see tests/moto/task_dispatcher.rs), so
/// this rests on the dispatcher's own STARTING-before-RunTask write and reconcile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_starts_each_job_exactly_once_under_faults() {
    use autopilot_aws::{DynamoCapacityStore, DynamoJobStore};
    use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
    use autopilot_core::job::JobState;
    use autopilot_core::ports::JobStore;
    use integration_tests::fixtures::scheduled_event;

    const NOW: i64 = 1_800_000_000;
    const JOBS: usize = 6;
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, _) = EcsFixture::with_hosts(&moto, "batch", 1).await;
    // 64 MiB each: all six fit the one host, so every job must start, once.
    fx.register_task_definition("job", None).await;
    DynamoJobStore::new(moto.dynamodb(), "jobs")
        .create_table()
        .await
        .expect("jobs table");
    moto.faults(json!({"throttle": 0.15, "error500": 0.1, "drop": 0.2, "seed": 11}));
    let clients = moto.faulty_clients(TASK_DISPATCHER);
    let d: Dispatcher<DynamoJobStore, AwsEcs, DynamoCapacityStore> = Dispatcher::new(
        DynamoJobStore::new(clients.dynamodb, "jobs"),
        AwsEcs::new(clients.ecs),
        None,
        DispatchConfig::with_jobs_table("jobs"),
    );
    let mut t = NOW;
    for i in 0..JOBS {
        let submission = json!({"action": "submit", "job": {
            "jobId": format!("j{i}"), "cluster": "batch", "taskDefinition": "job", "priority": i}});
        for _ in 0..ATTEMPTS {
            t += 1;
            if task_dispatcher::handle(&d, submission.clone(), t)
                .await
                .is_ok()
            {
                break;
            }
        }
    }
    // The schedule's sweep every minute: lost answers reconciled, the rest started.
    let mut sweeps = 0;
    for _ in 0..20 {
        t += 60;
        sweeps += 1;
        let _ = task_dispatcher::handle(&d, scheduled_event(), t).await;
        let mut done = 0;
        for i in 0..JOBS {
            if let Ok(Some(job)) = d.store().get(&format!("j{i}")).await {
                if job.state == JobState::Running {
                    done += 1;
                }
            }
        }
        if done == JOBS {
            break;
        }
    }
    let injected = moto.fault_stats();
    moto.faults(json!({}));
    assert!(
        injected["drop"].as_u64().unwrap_or(0) > 0
            && injected["throttle"].as_u64().unwrap_or(0) > 0,
        "the proxy injected faults: {injected}"
    );
    for i in 0..JOBS {
        let listed = fx
            .ecs
            .list_tasks()
            .cluster("batch")
            .send()
            .await
            .expect("list");
        let described = fx
            .ecs
            .describe_tasks()
            .cluster("batch")
            .set_tasks(Some(listed.task_arns().to_vec()))
            .send()
            .await
            .expect("describe");
        let prefix = format!("ecs-autopilot/j{i}/");
        let tasks = described
            .tasks()
            .iter()
            .filter(|t| t.started_by().is_some_and(|s| s.starts_with(&prefix)))
            .count();
        let job = DynamoJobStore::new(moto.dynamodb(), "jobs")
            .get(&format!("j{i}"))
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(tasks, 1, "j{i}: exactly one task (faults: {injected})");
        assert_eq!(job.state, JobState::Running, "j{i} after {sweeps} sweeps");
    }
    eprintln!("dispatcher under faults: {injected}, {sweeps} sweeps");
}
