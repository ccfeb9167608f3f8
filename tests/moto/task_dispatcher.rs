//! task-dispatcher against moto: the real handler, the DynamoDB job store and RunTask through the
//! SDK. Hosts come from ECS (no capacity table). moto's gaps, worked around in the test bed
//! (tests/moto_server.py) and named here:
//! - moto ignores RunTask's `clientToken`: exactly-once rests on the dispatcher's reconcile
//!   (ListTasks by `startedBy`) — the lost-answer test proves it on moto;
//! - a lost RunTask answer is made by the bed's wrapper of moto's RunTask handler (it acts, then
//!   answers HTTP 500: `lose_run_task_responses`); RunTask is sent without SDK retries;
//! - moto cannot set task exit codes: the bed sets them on moto's task model (`finish_task`)
//!   after a real StopTask has freed the room;
//! - tasks are pinned (moto otherwise advances a task one status per Describe);
//! - moto ignores placement constraints, so the host pin is not checked by moto (every test has
//!   one host, where the pin and moto agree).

use autopilot_aws::{AwsEcs, AwsScaleGroup, CallCounter, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::job::JobState;
use autopilot_core::ports::JobStore;
use integration_tests::fixtures::{error_type, scheduled_event};
use integration_tests::{EcsFixture, Moto};
use serde_json::{json, Value};
use task_dispatcher::handle;

const TABLE: &str = "ecs-autopilot-jobs";
const NOW: i64 = 1_800_000_000;
/// moto registers every host with 7482 MiB: two tasks of half fill it.
const HALF: i32 = 3741;

type D = Dispatcher<DynamoJobStore, AwsEcs, DynamoCapacityStore>;

struct Bed<'a> {
    fx: EcsFixture<'a>,
    host: String,
    dispatcher: D,
    calls: CallCounter,
}

async fn register(fx: &EcsFixture<'_>, family: &str, memory: i32) -> String {
    fx.ecs
        .register_task_definition()
        .family(family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("public.ecr.aws/docker/library/busybox:latest")
                .memory(memory)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .expect("register task definition")
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_string()
}

async fn bed(moto: &Moto) -> Bed<'_> {
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(moto, "batch", 1).await;
    register(&fx, "job", HALF).await;
    register(&fx, "filler", HALF).await;
    register(&fx, "huge", 16_000).await;
    let clients = moto.function_clients(integration_tests::TASK_DISPATCHER);
    let store = DynamoJobStore::new(clients.dynamodb, TABLE);
    integration_tests::create_jobs_table(moto, TABLE).await;
    let dispatcher = Dispatcher::new(
        store,
        AwsEcs::new(clients.ecs),
        None,
        DispatchConfig::with_jobs_table(TABLE),
    );
    Bed {
        fx,
        host: hosts[0].clone(),
        dispatcher,
        calls: clients.counter,
    }
}

fn submit(id: &str, priority: i64, extra: Value) -> Value {
    let mut job =
        json!({"jobId": id, "cluster": "batch", "taskDefinition": "job", "priority": priority});
    if let (Some(j), Value::Object(e)) = (job.as_object_mut(), extra) {
        j.extend(e);
    }
    json!({"action": "submit", "job": job})
}

fn run_task_calls(moto: &Moto) -> Vec<Value> {
    moto.command(json!({"op": "run_task_calls"}))["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn job_state(b: &Bed<'_>, id: &str) -> autopilot_core::job::Job {
    b.dispatcher
        .store()
        .get(id)
        .await
        .expect("get")
        .expect("stored")
}

/// A task event of a task of this cluster.
fn task_event(
    b: &Bed<'_>,
    task_arn: &str,
    last: &str,
    started_by: Option<&str>,
    exit: Option<i32>,
) -> Value {
    let mut detail = json!({
        "clusterArn": b.fx.cluster_arn, "taskArn": task_arn, "containerInstanceArn": b.host,
        "lastStatus": last, "desiredStatus": if last == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "launchType": "EC2", "version": 2
    });
    if let Some(s) = started_by {
        detail["startedBy"] = json!(s);
    }
    if let Some(code) = exit {
        detail["containers"] = json!([{"name": "app", "exitCode": code, "lastStatus": "STOPPED"}]);
        detail["stoppedReason"] = json!("Essential container in task exited");
    }
    integration_tests::fixtures::ecs_event("ECS Task State Change", detail)
}

/// StopTask (frees the room in moto), then the exit code on moto's model, then the event.
async fn finish(b: &Bed<'_>, moto: &Moto, id: &str, exit: i32) {
    let job = job_state(b, id).await;
    let task = job.task_arn.clone().expect("a task");
    b.fx.stop_task(&task).await;
    moto.command(
        json!({"op": "finish_task", "cluster": "batch", "task": task, "exit_code": exit,
                        "reason": "Essential container in task exited"}),
    );
    let started_by = job.started_by(job.launches);
    handle(
        &b.dispatcher,
        task_event(b, &task, "STOPPED", Some(&started_by), Some(exit)),
        NOW + 100,
    )
    .await
    .expect("outcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inversion_fixed_exactly_one_run_task_and_it_is_the_high_jobs() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    // A full cluster: two fillers take the host's 7482 MiB.
    let f1 =
        b.fx.start_task("filler", &b.host, "family:filler", None)
            .await;
    b.fx.start_task("filler", &b.host, "family:filler", None)
        .await;
    for i in 0..10 {
        handle(
            &b.dispatcher,
            submit(&format!("low{i}"), 1, json!({})),
            NOW + i,
        )
        .await
        .expect("submit");
    }
    handle(&b.dispatcher, submit("high", 9, json!({})), NOW + 20)
        .await
        .expect("submit");
    assert!(
        run_task_calls(&moto).is_empty(),
        "no room: no RunTask at all"
    );
    // A filler stops: room for one job.
    b.fx.stop_task(&f1).await;
    b.calls.reset();
    let started = std::time::Instant::now();
    let r = handle(
        &b.dispatcher,
        task_event(&b, &f1, "STOPPED", None, None),
        NOW + 30,
    )
    .await
    .expect("wake");
    // What a wake-up that starts one job costs (reported in docs/task-dispatcher.md): one Query, the hosts
    // from ECS (List + Describe), two conditional PutItems, one RunTask; no GetItem.
    eprintln!(
        "freed slot → RunTask answered, on moto: {:?}",
        started.elapsed()
    );
    let snapshot = b.calls.snapshot();
    eprintln!("calls for a wake-up that starts one of 11 queued jobs: {snapshot:?}");
    assert_eq!(
        snapshot.into_iter().collect::<Vec<_>>(),
        [
            ("DescribeContainerInstances".to_string(), 1),
            ("ListContainerInstances".to_string(), 1),
            ("PutItem".to_string(), 2),
            ("Query".to_string(), 1),
            ("RunTask".to_string(), 1),
        ]
    );
    let calls = run_task_calls(&moto);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["startedBy"], "ecs-autopilot/high/1");
    assert_eq!(calls[0]["clientToken"], "high/1");
    assert_eq!(job_state(&b, "high").await.state, JobState::Running);
    for i in 0..10 {
        assert_eq!(
            job_state(&b, &format!("low{i}")).await.state,
            JobState::Queued
        );
    }
    let wake = &r.wakes[0];
    assert_eq!((wake.queue_depth, wake.started), (11, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_submission_twice_is_one_job_and_the_same_event_twice_no_second_task() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    let first = handle(&b.dispatcher, submit("once", 1, json!({})), NOW)
        .await
        .expect("submit");
    let again = handle(&b.dispatcher, submit("once", 1, json!({})), NOW + 1)
        .await
        .expect("submit");
    assert!(!first.submitted.expect("first").duplicate);
    assert!(again.submitted.expect("again").duplicate);
    let event = integration_tests::fixtures::instance_event(&b.fx.cluster_arn, &b.host, "ACTIVE");
    handle(&b.dispatcher, event.clone(), NOW + 2)
        .await
        .expect("wake");
    handle(&b.dispatcher, event, NOW + 2)
        .await
        .expect("wake again");
    assert_eq!(run_task_calls(&moto).len(), 1);
    let listed =
        b.fx.ecs
            .list_tasks()
            .cluster("batch")
            .started_by("ecs-autopilot/once/1")
            .send()
            .await
            .expect("list");
    assert_eq!(listed.task_arns().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_acting_but_its_answer_lost_then_the_event_retried_is_one_task() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    // Full: the job is stored and waits.
    let f1 =
        b.fx.start_task("filler", &b.host, "family:filler", None)
            .await;
    b.fx.start_task("filler", &b.host, "family:filler", None)
        .await;
    handle(&b.dispatcher, submit("lost", 1, json!({})), NOW)
        .await
        .expect("submit");
    assert!(run_task_calls(&moto).is_empty());
    // Room frees; the wake-up's RunTask acts but its answer is lost.
    b.fx.stop_task(&f1).await;
    moto.command(json!({"op": "lose_run_task_responses", "count": 1}));
    let event = task_event(&b, &f1, "STOPPED", None, None);
    let err = handle(&b.dispatcher, event.clone(), NOW + 10)
        .await
        .expect_err("the invocation fails: RunTask's answer is unknown");
    assert_eq!(error_type(err), "DispatchFailed");
    assert_eq!(job_state(&b, "lost").await.state, JobState::Starting);
    // Lambda retries the same event: the dispatcher finds the task by startedBy.
    let r = handle(&b.dispatcher, event, NOW + 70).await.expect("retry");
    let reconciled = r.wakes[0]
        .jobs
        .iter()
        .find(|j| j.job_id == "lost")
        .expect("lost reported");
    assert_eq!(
        reconciled.action,
        autopilot_core::dispatch::JobAction::Reconciled
    );
    let calls = run_task_calls(&moto);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["lost"], true);
    let job = job_state(&b, "lost").await;
    assert_eq!(
        (job.state, job.attempts, job.launches),
        (JobState::Running, 1, 1)
    );
    let listed =
        b.fx.ecs
            .list_tasks()
            .cluster("batch")
            .started_by("ecs-autopilot/lost/1")
            .send()
            .await
            .expect("list");
    assert_eq!(listed.task_arns().len(), 1, "exactly one task on moto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_zero_succeeds_and_exit_one_with_two_attempts_runs_twice_then_fails() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    handle(&b.dispatcher, submit("ok", 1, json!({})), NOW)
        .await
        .expect("submit");
    finish(&b, &moto, "ok", 0).await;
    assert_eq!(job_state(&b, "ok").await.state, JobState::Succeeded);

    handle(
        &b.dispatcher,
        submit("bad", 1, json!({"maxAttempts": 2})),
        NOW,
    )
    .await
    .expect("submit");
    finish(&b, &moto, "bad", 1).await;
    let job = job_state(&b, "bad").await;
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1));
    let retry_at = job.not_before.expect("backoff");
    handle(&b.dispatcher, scheduled_event(), retry_at)
        .await
        .expect("sweep");
    assert_eq!(job_state(&b, "bad").await.state, JobState::Running);
    finish(&b, &moto, "bad", 1).await;
    let job = job_state(&b, "bad").await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempts, 2);
    assert_eq!(job.exit_codes, ["app=1"]);
    assert!(
        job.reason
            .as_deref()
            .unwrap_or("")
            .contains("exit codes app=1"),
        "{job:?}"
    );
    let runs: Vec<Value> = run_task_calls(&moto)
        .into_iter()
        .filter(|c| c["startedBy"].as_str().unwrap_or("").contains("/bad/"))
        .collect();
    assert_eq!(runs.len(), 2, "run twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_submissions_are_a_clear_error_and_write_nothing() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    let cases = [
        json!("{not json"),
        json!({"action": "submit", "job": {"cluster": "batch"}}),
        json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "job", "priority": -1}}),
        json!({"action": "submit", "job": {"cluster": "nowhere", "taskDefinition": "job"}}),
        json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "nope"}}),
    ];
    b.calls.reset();
    for c in cases {
        let err = handle(&b.dispatcher, c.clone(), NOW)
            .await
            .expect_err("refused");
        assert_eq!(error_type(err), "InvalidJob", "{c}");
    }
    assert_eq!(b.calls.get("PutItem"), 0, "nothing written");
    let scan = moto
        .dynamodb()
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan");
    assert_eq!(scan.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_bigger_than_every_host_never_starts_and_a_waiting_job_expires() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    b.fx.start_task("filler", &b.host, "family:filler", None)
        .await;
    b.fx.start_task("filler", &b.host, "family:filler", None)
        .await;
    let huge = json!({"action": "submit", "job": {"jobId": "huge", "cluster": "batch", "taskDefinition": "huge"}});
    handle(&b.dispatcher, huge, NOW).await.expect("submit");
    handle(
        &b.dispatcher,
        submit("wait", 1, json!({"maxWaitSeconds": 60})),
        NOW,
    )
    .await
    .expect("submit");
    handle(&b.dispatcher, scheduled_event(), NOW + 60)
        .await
        .expect("sweep");
    assert!(run_task_calls(&moto).is_empty());
    let huge = job_state(&b, "huge").await;
    assert_eq!(
        huge.state,
        JobState::Queued,
        "never started, still says why (explain)"
    );
    let wait = job_state(&b, "wait").await;
    assert_eq!(wait.state, JobState::Expired);
    let reason = wait.reason.unwrap_or_default();
    assert!(
        reason.contains("no host has 3741 MiB memory free; the largest free is 0 MiB on i-"),
        "{reason}"
    );
}

/// The owned group on moto (issue 12): group at 0 → one job → desired 1 (and not again before the
/// host registers) → the bed registers the ASG's new instance (moto has no ECS agent) → the job
/// runs there and exits 0 → after IDLE_SECONDS the host is terminated with decrement → group at 0.
/// Time is the handler's `now`: no sleeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_group_scales_from_zero_for_one_job_and_back_to_zero() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let fx = EcsFixture::new(&moto, "nightly").await;
    register(&fx, "sync", 3000).await;
    moto.create_scale_group("nightly-hosts", 3);
    let clients = moto.function_clients(integration_tests::TASK_DISPATCHER);
    let store = DynamoJobStore::new(clients.dynamodb, TABLE);
    integration_tests::create_jobs_table(&moto, TABLE).await;
    let d = Dispatcher::new(
        store,
        AwsEcs::new(clients.ecs),
        None::<DynamoCapacityStore>,
        DispatchConfig {
            scale_group: Some(autopilot_core::dispatch::ScaleGroupConfig {
                name: "nightly-hosts".into(),
                cluster: "nightly".into(),
                host_size: autopilot_core::dispatch::HostSize {
                    cpu: 4096,
                    memory: 7482,
                },
                idle_seconds: 300,
                register_grace: 600,
            }),
            ..DispatchConfig::with_jobs_table(TABLE)
        },
    )
    .with_scale_group(AwsScaleGroup::new(clients.autoscaling));
    let calls = clients.counter;
    let asg = moto.autoscaling();
    let desired = || async {
        asg.describe_auto_scaling_groups()
            .auto_scaling_group_names("nightly-hosts")
            .send()
            .await
            .expect("describe")
            .auto_scaling_groups()[0]
            .desired_capacity()
            .unwrap_or(-1)
    };
    let job = json!({"action": "submit", "job": {"jobId": "n1", "cluster": "nightly", "taskDefinition": "sync"}});
    handle(&d, job, NOW).await.expect("submit");
    assert_eq!(desired().await, 1, "one job, empty group: desired 1, not 2");
    for i in 1..=3 {
        handle(&d, scheduled_event(), NOW + 10 * i)
            .await
            .expect("sweep");
    }
    assert_eq!(desired().await, 1);
    assert_eq!(
        calls.get("SetDesiredCapacity"),
        1,
        "hosts on their way are counted"
    );

    let hosts = moto.register_group_hosts("nightly-hosts", "nightly");
    assert_eq!(hosts.len(), 1);
    let (host_arn, instance_id) = hosts[0].clone();
    let event = integration_tests::fixtures::ecs_event(
        "ECS Container Instance State Change",
        json!({"clusterArn": fx.cluster_arn, "containerInstanceArn": host_arn,
               "ec2InstanceId": instance_id, "status": "ACTIVE", "version": 2}),
    );
    handle(&d, event, NOW + 60).await.expect("instance event");
    let j = d.store().get("n1").await.expect("get").expect("stored");
    assert_eq!(j.state, JobState::Running);
    assert_eq!(j.container_instance_arn.as_deref(), Some(host_arn.as_str()));

    // Busy long past IDLE_SECONDS: never removed.
    handle(&d, scheduled_event(), NOW + 5_000)
        .await
        .expect("sweep");
    assert_eq!(calls.get("TerminateInstanceInAutoScalingGroup"), 0);

    // Exit 0, then idle: removed after IDLE_SECONDS exactly.
    let task = j.task_arn.clone().expect("task");
    fx.stop_task(&task).await;
    moto.command(
        json!({"op": "finish_task", "cluster": "nightly", "task": task, "exit_code": 0,
                        "reason": "Essential container in task exited"}),
    );
    let stopped = integration_tests::fixtures::ecs_event(
        "ECS Task State Change",
        json!({"clusterArn": fx.cluster_arn, "taskArn": task, "containerInstanceArn": host_arn,
               "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "launchType": "EC2",
               "startedBy": j.started_by(j.launches), "version": 3,
               "containers": [{"name": "app", "exitCode": 0}],
               "stoppedReason": "Essential container in task exited"}),
    );
    handle(&d, stopped, NOW + 6_000).await.expect("stopped");
    let j = d.store().get("n1").await.expect("get").expect("stored");
    assert_eq!(j.state, JobState::Succeeded);
    handle(&d, scheduled_event(), NOW + 6_299)
        .await
        .expect("sweep");
    assert_eq!(calls.get("TerminateInstanceInAutoScalingGroup"), 0);
    let r = handle(&d, scheduled_event(), NOW + 6_300)
        .await
        .expect("sweep");
    let scale = r.wakes[0].scale.clone().expect("scale");
    assert_eq!(scale.terminated, std::slice::from_ref(&instance_id));
    assert_eq!(desired().await, 0, "the group is back at 0");
    assert_eq!(moto.deregister_gone_hosts("nightly"), [instance_id]);
    handle(&d, scheduled_event(), NOW + 6_400)
        .await
        .expect("sweep");
    assert_eq!(calls.get("TerminateInstanceInAutoScalingGroup"), 1);
    assert_eq!(calls.get("SetDesiredCapacity"), 1);
}

/// Task definition `app` (essential) + `sidecar` (essential false).
async fn register_with_sidecar(fx: &EcsFixture<'_>, family: &str) {
    let container = |name: &str, essential: bool| {
        aws_sdk_ecs::types::ContainerDefinition::builder()
            .name(name)
            .image("public.ecr.aws/docker/library/busybox:latest")
            .memory(64)
            .essential(essential)
            .build()
    };
    fx.ecs
        .register_task_definition()
        .family(family)
        .container_definitions(container("app", true))
        .container_definitions(container("sidecar", false))
        .send()
        .await
        .expect("register task definition");
}

/// StopTask, then per-container exit codes and the stopCode on moto's model (the bed's
/// `finish_task`: moto sets neither), then the STOPPED event as ECS sends it (no `essential`).
async fn stop_with(b: &Bed<'_>, moto: &Moto, id: &str, containers: Value, stop_code: &str) {
    let job = job_state(b, id).await;
    let task = job.task_arn.clone().expect("a task");
    b.fx.stop_task(&task).await;
    moto.command(
        json!({"op": "finish_task", "cluster": "batch", "task": task,
                        "containers": containers, "stop_code": stop_code, "reason": stop_code}),
    );
    let mut event = task_event(
        b,
        &task,
        "STOPPED",
        Some(&job.started_by(job.launches)),
        None,
    );
    let list: Vec<Value> = containers
        .as_object()
        .map(|m| {
            m.iter()
                .map(
                    |(name, code)| json!({"name": name, "exitCode": code, "lastStatus": "STOPPED"}),
                )
                .collect()
        })
        .unwrap_or_default();
    event["detail"]["containers"] = json!(list);
    event["detail"]["stopCode"] = json!(stop_code);
    handle(&b.dispatcher, event, NOW + 100)
        .await
        .expect("outcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_stopped_by_ecs_does_not_fail_the_run_and_an_app_failure_does() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    register_with_sidecar(&b.fx, "with-sidecar").await;
    let extra = json!({"taskDefinition": "with-sidecar", "maxAttempts": 2});
    handle(&b.dispatcher, submit("ok", 1, extra.clone()), NOW)
        .await
        .expect("submit");
    let stored = job_state(&b, "ok").await;
    assert_eq!(
        stored.non_essential,
        ["sidecar"],
        "kept from the task definition"
    );
    stop_with(
        &b,
        &moto,
        "ok",
        json!({"app": 0, "sidecar": 137}),
        "EssentialContainerExited",
    )
    .await;
    let job = job_state(&b, "ok").await;
    assert_eq!((job.state, job.attempts), (JobState::Succeeded, 1));
    assert_eq!(run_task_calls(&moto).len(), 1, "exactly one RunTask");

    handle(&b.dispatcher, submit("bad", 1, extra), NOW + 1)
        .await
        .expect("submit");
    stop_with(
        &b,
        &moto,
        "bad",
        json!({"app": 1, "sidecar": 0}),
        "EssentialContainerExited",
    )
    .await;
    let job = job_state(&b, "bad").await;
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1), "retried");
    assert!(job.not_before.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_termination_notice_requeues_without_using_an_attempt() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    handle(
        &b.dispatcher,
        submit("spot", 1, json!({"maxAttempts": 1})),
        NOW,
    )
    .await
    .expect("submit");
    assert_eq!(job_state(&b, "spot").await.attempts, 1);
    stop_with(&b, &moto, "spot", json!({"app": null}), "TerminationNotice").await;
    let job = job_state(&b, "spot").await;
    // Re-queued in place: the run did not count; the wake-up after the event may start it again.
    assert!(
        matches!(job.state, JobState::Queued | JobState::Running),
        "{job:?}"
    );
    assert_eq!(job.counters.not_its_fault, 1);
    assert!(job
        .history
        .iter()
        .any(|t| t.reason.contains("without using an attempt")));
    assert_eq!(job.attempts, u32::from(job.state == JobState::Running));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_the_list_does_not_show_yet_is_retried_as_the_same_request() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    // The bed honours clientToken as ECS does (same request → the same task; other parameters
    // → ConflictException) and hides the task from the next ListTasks (eventual consistency).
    moto.command(json!({"op": "lose_run_task_responses", "count": 1}));
    let r = handle(&b.dispatcher, submit("same", 1, json!({})), NOW)
        .await
        .expect("stored: the failed wake-up after it is logged");
    assert!(r.submitted.is_some());
    assert_eq!(job_state(&b, "same").await.state, JobState::Starting);
    moto.command(json!({"op": "hide_tasks_from_list", "count": 1}));
    handle(&b.dispatcher, scheduled_event(), NOW + 60)
        .await
        .expect("sweep");
    let calls = run_task_calls(&moto);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["clientToken"], calls[1]["clientToken"]);
    assert_eq!(
        calls[0]["placementConstraints"], calls[1]["placementConstraints"],
        "the retry carries the same host pin"
    );
    assert!(
        calls[0]["placementConstraints"]
            .to_string()
            .contains("ec2InstanceId"),
        "{calls:?}"
    );
    let job = job_state(&b, "same").await;
    assert_eq!(job.state, JobState::Running);
    let listed =
        b.fx.ecs
            .list_tasks()
            .cluster("batch")
            .started_by("ecs-autopilot/same/1")
            .send()
            .await
            .expect("list");
    assert_eq!(listed.task_arns().len(), 1, "one task");
    assert_eq!(listed.task_arns()[0], job.task_arn.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_whose_task_ecs_forgot_leaves_running_within_two_sweeps() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    handle(&b.dispatcher, submit("gone", 1, json!({})), NOW)
        .await
        .expect("submit");
    let task = job_state(&b, "gone").await.task_arn.expect("task");
    // ECS lists stopped tasks "for at least one hour", then DescribeTasks answers MISSING: the
    // bed removes the task from moto's model (moto cannot age tasks out).
    b.fx.stop_task(&task).await;
    moto.command(json!({"op": "forget_task", "cluster": "batch", "task": task}));
    b.calls.reset();
    handle(&b.dispatcher, scheduled_event(), NOW + 60)
        .await
        .expect("sweep");
    let calls = b.calls.snapshot();
    assert_eq!(calls.get("DescribeTasks"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("ListTasks"),
        None,
        "no per-job ListTasks: {calls:?}"
    );
    let noted = job_state(&b, "gone").await;
    assert_eq!(
        (noted.state, noted.missing_since),
        (JobState::Running, Some(NOW + 60))
    );
    handle(&b.dispatcher, scheduled_event(), NOW + 120)
        .await
        .expect("sweep");
    let job = job_state(&b, "gone").await;
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.reason
            .as_deref()
            .unwrap_or("")
            .contains("outcome unknown"),
        "{job:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_submission_without_job_id_is_one_job() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    let payload = json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "job"}});
    let first =
        task_dispatcher::handle_invocation(&b.dispatcher, payload.clone(), NOW, Some("req-1"))
            .await
            .expect("submit");
    let again = task_dispatcher::handle_invocation(&b.dispatcher, payload, NOW + 60, Some("req-1"))
        .await
        .expect("retry");
    let (first, again) = (
        first.submitted.expect("first"),
        again.submitted.expect("again"),
    );
    assert_eq!(first.job.job_id, again.job.job_id);
    assert!(again.duplicate);
    assert_eq!(run_task_calls(&moto).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_reads_the_live_jobs_not_the_finished_ones() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    // 300 finished jobs (kept 14 days for `jobs list` / `jobs show`) and 3 queued ones.
    for i in 0..300 {
        let mut job = autopilot_core::job::Submission {
            spec: autopilot_core::job::RunTaskSpec {
                cluster: "batch".into(),
                task_definition: "job".into(),
                ..Default::default()
            },
            ..Default::default()
        }
        .into_job(format!("done{i}"), Default::default(), NOW - 1000);
        job.state = JobState::Succeeded;
        b.dispatcher.store().create(&job).await.expect("plant");
    }
    let filler =
        b.fx.start_task("filler", &b.host, "family:filler", None)
            .await;
    b.fx.start_task("filler", &b.host, "family:filler", None)
        .await;
    for i in 0..3 {
        handle(
            &b.dispatcher,
            submit(&format!("q{i}"), 1, json!({})),
            NOW + i,
        )
        .await
        .expect("submit");
    }
    b.fx.stop_task(&filler).await;
    // DynamoDB bills a Query by the items its key condition reads (the bed counts them).
    moto.command(json!({"op": "dynamodb_accounting", "enable": true}));
    let event = integration_tests::fixtures::instance_event(&b.fx.cluster_arn, &b.host, "ACTIVE");
    handle(&b.dispatcher, event, NOW + 10).await.expect("wake");
    let read = moto.command(json!({"op": "dynamodb_accounting"}));
    eprintln!("one wake-up over 300 finished + 3 queued jobs: {read}");
    assert_eq!(read["queries"], 1, "{read}");
    assert!(
        read["scanned_items"].as_u64().unwrap_or(u64::MAX) <= 3,
        "only live jobs are read: {read}"
    );
    assert_eq!(job_state(&b, "q0").await.state, JobState::Running);
    // `jobs list` (the CLI, with its own credentials: the dispatcher may Query only the live
    // index) still sees the finished ones (the by-cluster index).
    let all = DynamoJobStore::new(moto.dynamodb(), TABLE)
        .cluster_jobs("batch")
        .await
        .expect("list");
    assert_eq!(all.len(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_key_is_refused_with_its_path_and_nothing_is_written() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    let payload = json!({"action": "submit",
        "job": {"jobId": "typo", "cluster": "batch", "taskDefinition": "job", "prority": 5}});
    let err = handle(&b.dispatcher, payload, NOW)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("job.prority"), "{err}");
    assert_eq!(error_type(err), "InvalidJob");
    assert!(b
        .dispatcher
        .store()
        .get("typo")
        .await
        .expect("get")
        .is_none());
    // A container override naming a container the task definition lacks: refused at submit.
    let payload = json!({"action": "submit", "job": {"jobId": "bad-override", "cluster": "batch",
        "taskDefinition": "job", "overrides": {"containerOverrides": [{"name": "ap"}]}}});
    let err = handle(&b.dispatcher, payload, NOW)
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("containerOverrides[0].name"),
        "{err}"
    );
    assert!(b
        .dispatcher
        .store()
        .get("bad-override")
        .await
        .expect("get")
        .is_none());
    assert!(run_task_calls(&moto).is_empty());
}

/// Issue 21: `jobs submit` goes through the dispatcher's queue. The CLI stores the job (the same
/// checks and conditional create as the function) and sends a wake-up of its cluster to the
/// queue; the dispatcher's batch of that queue starts the job at once (no sweep needed). A
/// duplicate submission sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_submit_wakes_the_dispatcher_through_its_queue() {
    use clap::Parser;
    let moto = Moto::start();
    let b = bed(&moto).await;
    let queue = moto.create_queue("dispatcher-intake").await;
    let args = |id: &str| {
        ecs_autopilot::Cli::try_parse_from([
            "ecs-autopilot",
            "jobs",
            "submit",
            "--jobs-table",
            TABLE,
            "--cluster",
            "batch",
            "--task-definition",
            "job",
            "--job-id",
            id,
            "--queue-url",
            &queue,
        ])
        .expect("arguments")
    };
    let sdk = moto.sdk_config();
    let mut out = String::new();
    let code = ecs_autopilot::run(args("from-cli"), &sdk, &mut out)
        .await
        .expect("submitted");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("queued job from-cli"), "{out}");
    let stored = job_state(&b, "from-cli").await;
    assert_eq!(
        stored.state,
        JobState::Queued,
        "stored, not started by the CLI"
    );
    // Again: a duplicate, no second wake-up.
    let mut out = String::new();
    ecs_autopilot::run(args("from-cli"), &sdk, &mut out)
        .await
        .expect("duplicate");
    assert!(out.contains("existing job from-cli"), "{out}");
    let received = moto
        .sqs()
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<&str> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies.len(), 1, "one wake-up: {bodies:?}");
    let wake: Value = serde_json::from_str(bodies[0]).expect("json");
    assert_eq!(wake, json!({"action": "wake", "cluster": "batch"}));
    // The dispatcher's batch: the job starts.
    let batch = integration_tests::fixtures::sqs_batch_event(&bodies);
    let r = task_dispatcher::handle_sqs_batch(
        &b.dispatcher,
        &batch,
        NOW,
        task_dispatcher::NO_DEAD_LETTERS,
    )
    .await;
    assert_eq!(r.wakes.len(), 1, "{r:?}");
    assert_eq!(r.wakes[0].started, 1, "{r:?}");
    assert_eq!(run_task_calls(&moto).len(), 1);
    assert_ne!(job_state(&b, "from-cli").await.state, JobState::Queued);
}

/// Issue 21: an invalid message of the dispatcher's queue is answered with its reason in the
/// dead-letter queue (SendMessage with the function's own credentials, which the IAM bed checks
/// against the template's grant) and is not listed for redelivery; the valid ones are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_queue_messages_go_to_the_dead_letter_queue_with_their_reason() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    let dlq_url = moto.create_queue("dispatcher-failures").await;
    let clients = moto.function_clients(integration_tests::TASK_DISPATCHER);
    let dead_letters = autopilot_aws::AwsSqs::new(clients.sqs, &dlq_url);
    let valid = submit("fine", 0, json!({})).to_string();
    let misspelt = json!({"cluster": "batch", "taskDefinition": "job", "prority": 5}).to_string();
    let batch = integration_tests::fixtures::sqs_batch_event(&[&valid, "{not json", &misspelt]);
    let r =
        task_dispatcher::handle_sqs_batch(&b.dispatcher, &batch, NOW, Some(&dead_letters)).await;
    assert_eq!(r.batch_item_failures.as_deref(), Some(&[][..]), "{r:?}");
    assert_eq!(r.invalid.len(), 2, "{r:?}");
    assert!(job_state(&b, "fine").await.state != JobState::Failed);
    let letters = moto
        .sqs()
        .receive_message()
        .queue_url(&dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let letters: Vec<Value> = letters
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .map(|b| serde_json::from_str(b).expect("json"))
        .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let reasons: Vec<&str> = letters
        .iter()
        .filter_map(|l| l["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("not JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("job.prority")),
        "{reasons:?}"
    );
    assert!(
        letters.iter().any(|l| l["body"] == json!(misspelt)),
        "the message kept"
    );
}

/// Issue 21 (5c) on DynamoDB: a schedule's control item is listed under `schedule#CLUSTER` in
/// the live index, so the sweep finds it with one Query (the dispatcher's grant is Query on that
/// index only: the IAM bed checks it) and creates the run of a tick that never arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_creates_a_missed_tick_from_the_listed_schedule() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    let day = 86_400;
    let t0 = NOW - NOW % 60;
    let tick = json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "job",
        "scheduleName": "nightly", "schedulePeriodSeconds": day,
        "scheduledTime": autopilot_core::clock::format_unix(t0)}});
    let first = handle(&b.dispatcher, tick, t0 + 1).await.expect("tick");
    let first = first.submitted.expect("job").job;
    handle(
        &b.dispatcher,
        json!({"action": "cancel", "jobId": first.job_id}),
        t0 + 30,
    )
    .await
    .expect("cancelled");
    let r = handle(&b.dispatcher, scheduled_event(), t0 + day + day / 10)
        .await
        .expect("sweep");
    let wake = r
        .wakes
        .iter()
        .find(|w| w.cluster == "batch")
        .expect("batch swept");
    let expected = autopilot_core::job::schedule_job_id("nightly", t0 + day);
    assert_eq!(wake.catch_ups, std::slice::from_ref(&expected), "{r:?}");
    let run = job_state(&b, &expected).await;
    assert_eq!(run.scheduled_time, Some(t0 + day));
    assert_ne!(run.state, JobState::Skipped);
}

/// Issue 25 on moto: a run past `timeoutSeconds` is stopped by the sweep (StopTask with the
/// function's own credentials, which the IAM bed checks against the template) and, when
/// DescribeTasks shows it stopped with that reason, its attempt fails "timed out" whatever the
/// exit code; a sweep before the limit stops nothing. (moto cannot set exit codes: the bed
/// sets them on moto's task model, `finish_task`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_timeout_is_stopped_by_the_sweep_and_fails() {
    let moto = Moto::start();
    let b = bed(&moto).await;
    handle(
        &b.dispatcher,
        submit(
            "slow",
            1,
            json!({"timeoutSeconds": 60, "expectedSeconds": 30}),
        ),
        NOW,
    )
    .await
    .expect("submit");
    let job = job_state(&b, "slow").await;
    assert_eq!(job.state, JobState::Running);
    let task = job.task_arn.clone().expect("a task");
    b.calls.reset();
    handle(&b.dispatcher, scheduled_event(), NOW + 59)
        .await
        .expect("sweep");
    assert_eq!(
        b.calls.get("StopTask"),
        0,
        "59 s: not yet (past its estimate only)"
    );
    handle(&b.dispatcher, scheduled_event(), NOW + 60)
        .await
        .expect("sweep");
    assert_eq!(b.calls.get("StopTask"), 1, "60 s: stopped");
    let reason = autopilot_core::dispatch::lifecycle::timeout_stop_reason(60);
    moto.command(
        json!({"op": "finish_task", "cluster": "batch", "task": task,
                        "exit_code": 143, "reason": reason}),
    );
    handle(&b.dispatcher, scheduled_event(), NOW + 120)
        .await
        .expect("sweep");
    let job = job_state(&b, "slow").await;
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    assert!(
        job.reason.as_deref().unwrap_or("").contains("timed out"),
        "{job:?}"
    );
}
