//! task-dispatcher's service over the in-memory adapters: submission, the inversion case,
//! exactly-once launches (duplicates, lost RunTask answers with a backend that ignores
//! `clientToken`), outcomes and retries, RunTask's failure shapes, malformed submissions.

use autopilot_core::dispatch::{DispatchConfig, DispatchError, Dispatcher, JobAction};
use autopilot_core::events::TaskStateChange;
use autopilot_core::job::{Job, JobState};
use autopilot_core::markers::DRAINER_STOP_REASON as STOP_REASON;
use autopilot_core::memory::{InMemoryCapacityStore, InMemoryEcs, InMemoryJobStore};
use autopilot_core::model::TaskDefinition;
use autopilot_core::ports::EcsError;
use autopilot_core::retry::Retryable;
use autopilot_core::testing::{
    container_instance_arn, host, resources, submission, task_definition, task_definition_arn,
};
use serde_json::{json, Value};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/batch";
const HOST: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/batch/h1";

type D = Dispatcher<InMemoryJobStore, InMemoryEcs, InMemoryCapacityStore>;

fn td(name: &str, memory: i64) -> TaskDefinition {
    task_definition(task_definition_arn(CLUSTER, name), 0, memory)
}

/// One 4096 MiB host with `free` MiB free, read from ECS.
fn dispatcher(free: i64) -> D {
    Dispatcher::new(InMemoryJobStore::new(), ecs_with_host(free), None, config())
}

fn config() -> DispatchConfig {
    DispatchConfig::with_jobs_table("jobs")
}

/// ECS with one 4096 MiB host with `free` MiB free, and the task definitions.
fn ecs_with_host(free: i64) -> InMemoryEcs {
    let ecs = InMemoryEcs::new();
    ecs.add_cluster(CLUSTER);
    let mut ci = host(HOST, "i-1");
    ci.registered = resources(4096, 4096);
    ci.remaining = resources(4096, free);
    ecs.add_instance(CLUSTER, ci);
    for (name, mem) in [("work", 1024), ("big", 16384)] {
        let t = td(name, mem);
        ecs.add_task_definition(TaskDefinition {
            arn: name.into(),
            ..t.clone()
        });
        ecs.add_task_definition(t);
    }
    ecs
}

fn job(id: &str, priority: i64) -> Value {
    let mut job = submission(id, "batch", "work");
    job["priority"] = priority.into();
    job
}

fn set_free(d: &D, free: i64) {
    d.ecs()
        .update_instance(CLUSTER, HOST, |ci| ci.remaining.memory = Some(free));
}

fn stored(d: &D, id: &str) -> Job {
    d.store().job(id).expect("stored")
}

fn stopped_event(task_arn: &str, started_by: &str, exit: i32, reason: &str) -> TaskStateChange {
    serde_json::from_value(json!({
        "clusterArn": CLUSTER, "taskArn": task_arn, "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED", "startedBy": started_by, "stoppedReason": reason,
        "containers": [{"name": "app", "exitCode": exit}], "version": 3
    }))
    .expect("event")
}

#[tokio::test]
async fn inversion_fixed_exactly_one_run_task_and_it_is_the_high_jobs() {
    let d = dispatcher(0);
    for i in 0..10 {
        d.submit(job(&format!("low{i}"), 1), 100 + i)
            .await
            .expect("submit");
    }
    d.submit(job("high", 9), 200).await.expect("submit");
    assert!(d.ecs().run_task_calls().is_empty(), "the cluster is full");
    // A task stops (not ours) and frees room for one job.
    set_free(&d, 1024);
    let other: TaskStateChange = serde_json::from_value(json!({
        "clusterArn": CLUSTER, "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/batch/x",
        "lastStatus": "STOPPED", "startedBy": "someone"
    }))
    .expect("event");
    let started = std::time::Instant::now();
    let report = d
        .on_task_event(&other, 300)
        .await
        .expect("wake")
        .expect("woke");
    // Dispatch latency in process (in memory): freed-slot event → RunTask made, 11 jobs queued.
    eprintln!("freed slot → RunTask in memory: {:?}", started.elapsed());
    let calls = d.ecs().run_task_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].client_token, "high/1");
    assert_eq!(calls[0].started_by, "ecs-autopilot/high/1");
    assert_eq!(calls[0].pin_instance.as_deref(), Some("i-1"));
    assert_eq!(stored(&d, "high").state, JobState::Running);
    assert_eq!(report.queue_depth, 11);
    assert_eq!(report.head_job.as_deref(), Some("high"));
    assert_eq!(report.head_wait_seconds, Some(100));
    let low0 = report
        .jobs
        .iter()
        .find(|j| j.job_id == "low0")
        .expect("low0");
    assert_eq!(low0.action, JobAction::Waiting);
    assert!((0..10).all(|i| stored(&d, &format!("low{i}")).state == JobState::Queued));
}

#[tokio::test]
async fn the_same_submission_twice_is_one_job_and_the_same_wake_up_twice_one_task() {
    let d = dispatcher(4096);
    let (first, _) = d.submit(job("j", 1), 10).await.expect("submit");
    let (second, wake) = d.submit(job("j", 1), 11).await.expect("submit");
    assert!(!first.duplicate && second.duplicate && wake.is_none());
    assert_eq!(d.store().all().len(), 1);
    d.wake(CLUSTER, "instance-event", 12).await.expect("wake");
    d.wake(CLUSTER, "instance-event", 12).await.expect("wake");
    assert_eq!(d.ecs().launched_tasks().len(), 1);
    assert_eq!(d.ecs().run_task_calls().len(), 1);
}

#[tokio::test]
async fn a_lost_run_task_answer_then_a_retry_is_still_exactly_one_task() {
    let d = dispatcher(4096);
    d.ecs().ignore_client_token(); // like moto: only the reconcile protects
    set_free(&d, 0);
    d.submit(job("j", 1), 10)
        .await
        .expect("stored; no room yet");
    set_free(&d, 4096);
    d.ecs().lose_run_task_responses(1);
    let err = d
        .wake(CLUSTER, "instance-event", 20)
        .await
        .expect_err("the invocation fails");
    assert!(err.is_retryable(), "{err}");
    assert_eq!(stored(&d, "j").state, JobState::Starting);
    // The retried invocation reconciles by startedBy and does not RunTask again.
    let report = d.wake(CLUSTER, "submit", 70).await.expect("retry");
    assert_eq!(d.ecs().launched_tasks().len(), 1);
    assert_eq!(d.ecs().run_task_calls().len(), 1);
    let j = stored(&d, "j");
    assert_eq!((j.state, j.attempts, j.launches), (JobState::Running, 1, 1));
    assert!(report
        .jobs
        .iter()
        .any(|r| r.action == JobAction::Reconciled));
}

#[tokio::test]
async fn a_starting_job_without_a_task_is_relaunched_with_the_same_token() {
    let d = dispatcher(4096);
    d.ecs().fail(
        "RunTask",
        EcsError::Api {
            operation: "RunTask",
            message: "timeout before it acted".into(),
        },
    );
    let (stored_job, wake) = d.submit(job("j", 1), 10).await.expect("stored");
    assert!(
        !stored_job.duplicate && wake.is_none(),
        "the failed wake-up is logged, not returned"
    );
    assert_eq!(stored(&d, "j").state, JobState::Starting);
    d.ecs().clear_failures();
    // ECS has no task for launch 1: the retry runs it again under the same token.
    d.wake(CLUSTER, "submit", 70).await.expect("retry");
    let calls = d.ecs().run_task_calls();
    assert_eq!(
        calls.len(),
        1,
        "the failed call never reached the fake's launcher"
    );
    assert_eq!(calls[0].client_token, "j/1");
    assert_eq!(d.ecs().launched_tasks().len(), 1);
    let j = stored(&d, "j");
    assert_eq!((j.state, j.attempts, j.launches), (JobState::Running, 1, 1));
}

#[tokio::test]
async fn exit_zero_succeeds_and_exit_one_with_two_attempts_runs_twice_then_fails() {
    let d = dispatcher(4096);
    d.submit(job("ok", 1), 10).await.expect("submit");
    let mut bad = job("bad", 1);
    bad["maxAttempts"] = json!(2);
    d.submit(bad, 11).await.expect("submit");
    let ok = stored(&d, "ok");
    let ok_task = ok.task_arn.clone().expect("started");
    d.ecs().stop_launched(
        &ok_task,
        &[("app", 0)],
        "Essential container in task exited",
    );
    d.on_task_event(&stopped_event(&ok_task, &ok.started_by(1), 0, "done"), 20)
        .await
        .expect("event");
    assert_eq!(stored(&d, "ok").state, JobState::Succeeded);

    let b = stored(&d, "bad");
    let t1 = b.task_arn.clone().expect("started");
    d.ecs()
        .stop_launched(&t1, &[("app", 1)], "Essential container in task exited");
    let ev = stopped_event(
        &t1,
        &b.started_by(1),
        1,
        "Essential container in task exited",
    );
    d.on_task_event(&ev, 30).await.expect("event");
    let b = stored(&d, "bad");
    assert_eq!(b.state, JobState::Queued);
    assert_eq!(b.not_before, Some(60), "30 s backoff");
    assert_eq!(b.submitted_at, 11, "keeps its place");
    // The same event again changes nothing.
    d.on_task_event(&ev, 31).await.expect("duplicate");
    assert_eq!(stored(&d, "bad").revision, b.revision);
    d.wake(CLUSTER, "schedule", 59).await.expect("backoff");
    assert_eq!(d.ecs().run_task_calls().len(), 2);
    d.wake(CLUSTER, "schedule", 60).await.expect("retry");
    let b = stored(&d, "bad");
    assert_eq!((b.state, b.attempts), (JobState::Running, 2));
    let t2 = b.task_arn.clone().expect("second run");
    assert_ne!(t1, t2);
    d.ecs()
        .stop_launched(&t2, &[("app", 1)], "Essential container in task exited");
    d.on_task_event(
        &stopped_event(
            &t2,
            &b.started_by(2),
            1,
            "Essential container in task exited",
        ),
        90,
    )
    .await
    .expect("event");
    let b = stored(&d, "bad");
    assert_eq!(b.state, JobState::Failed);
    assert_eq!(b.exit_codes, ["app=1"]);
    assert!(
        b.reason
            .as_deref()
            .unwrap_or("")
            .contains("exit codes app=1"),
        "{b:?}"
    );
    assert_eq!(d.ecs().run_task_calls().len(), 3);
}

#[tokio::test]
async fn a_task_the_drainer_stopped_is_requeued_without_using_an_attempt() {
    let d = dispatcher(4096);
    d.submit(job("j", 1), 10).await.expect("submit");
    let j = stored(&d, "j");
    let t = j.task_arn.clone().expect("started");
    // Room is gone while the host drains: the job waits QUEUED.
    d.ecs().stop_launched(&t, &[("app", 137)], STOP_REASON);
    set_free(&d, 0);
    d.on_task_event(&stopped_event(&t, &j.started_by(1), 137, STOP_REASON), 20)
        .await
        .expect("event");
    let j = stored(&d, "j");
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert_eq!(j.not_before, None);
}

#[tokio::test]
async fn run_task_failure_shapes_are_told_apart() {
    // failures[] → QUEUED in place, no attempt used.
    let d = dispatcher(4096);
    d.ecs().refuse_placement(Some("RESOURCE:MEMORY"));
    d.submit(job("j", 1), 10).await.expect("submit");
    let j = stored(&d, "j");
    assert_eq!((j.state, j.attempts, j.launches), (JobState::Queued, 0, 1));
    assert_eq!(j.queued_at, 10, "the wait clock is kept");
    assert_eq!(j.not_before, Some(70), "a refusal backs off 60 s");
    // Within the backoff: no RunTask.
    d.wake(CLUSTER, "schedule", 20).await.expect("wake");
    assert_eq!(d.ecs().run_task_calls().len(), 1);
    // PROVISIONING cap exception → QUEUED too.
    d.ecs().refuse_placement(None);
    d.ecs().fail(
        "RunTask",
        EcsError::Refused {
            operation: "RunTask",
            code: "ClientException".into(),
            message: "Too many tasks in PROVISIONING state".into(),
        },
    );
    d.wake(CLUSTER, "schedule", 80).await.expect("wake");
    let j = stored(&d, "j");
    assert_eq!((j.state, j.not_before), (JobState::Queued, Some(80 + 120)));
    // An invalid request → FAILED with the reason.
    d.ecs().fail(
        "RunTask",
        EcsError::Refused {
            operation: "RunTask",
            code: "InvalidParameterException".into(),
            message: "TaskDefinition is inactive".into(),
        },
    );
    d.wake(CLUSTER, "schedule", 210).await.expect("wake");
    let j = stored(&d, "j");
    assert_eq!(j.state, JobState::Failed);
    assert!(j
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("TaskDefinition is inactive"));
    assert_eq!(j.history.len(), 7, "{:?}", j.history);
}

#[tokio::test]
async fn malformed_submissions_fail_clearly_and_write_nothing() {
    let d = dispatcher(4096);
    let cases = [
        (json!({"cluster": "batch"}), "taskDefinition is required"),
        (
            json!({"cluster": "batch", "taskDefinition": "work", "priority": -3}),
            "priority",
        ),
        (
            json!({"cluster": "nope", "taskDefinition": "work"}),
            "unknown cluster",
        ),
        (
            json!({"cluster": "batch", "taskDefinition": "missing"}),
            "task definition missing",
        ),
        (json!([1, 2]), "invalid job"),
    ];
    for (v, needle) in cases {
        let err = d.submit(v.clone(), 1).await.expect_err("refused");
        // Refused as the request's own fault: malformed (Invalid), naming what does not exist
        // (NotFound), or a task definition ECS would not describe (TaskDefinition).
        assert!(
            matches!(
                err,
                DispatchError::Invalid(_)
                    | DispatchError::NotFound(_)
                    | DispatchError::TaskDefinition { .. }
            ),
            "{v}: {err:?}"
        );
        assert!(!err.is_retryable());
        assert!(err.to_string().contains(needle), "{v}: {err}");
    }
    assert!(d.store().all().is_empty());
    assert_eq!(d.store().count_calls("PutItem"), 0);
}

#[tokio::test]
async fn a_job_bigger_than_every_host_never_starts_and_expires_with_the_reason() {
    let d = dispatcher(512);
    d.submit(
        json!({"jobId": "huge", "cluster": "batch", "taskDefinition": "big", "maxWaitSeconds": 60}),
        0,
    )
    .await
    .expect("submit");
    let mut two = job("two", 1);
    two["maxWaitSeconds"] = json!(60);
    d.submit(two, 0).await.expect("submit");
    d.wake(CLUSTER, "schedule", 59).await.expect("wake");
    assert!(d.ecs().run_task_calls().is_empty());
    d.wake(CLUSTER, "schedule", 60).await.expect("wake");
    let huge = stored(&d, "huge");
    assert_eq!(huge.state, JobState::Expired);
    assert!(huge
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("never fits: needs 16384 MiB"));
    let two = stored(&d, "two");
    assert_eq!(two.state, JobState::Expired);
    assert_eq!(
        two.reason.as_deref(),
        Some(
            "waited 60 s (maxWaitSeconds 60): no host has 1024 MiB memory free; \
             the largest free is 512 MiB on i-1"
        )
    );
}

#[tokio::test]
async fn cancel_stops_nothing_for_a_queued_job_and_a_wake_up_costs_one_query() {
    let d = dispatcher(0);
    d.submit(job("j", 1), 0).await.expect("submit");
    d.store().clear_calls();
    d.ecs().clear_calls();
    d.wake(CLUSTER, "instance-event", 5).await.expect("wake");
    assert_eq!(d.store().count_calls("Query"), 1);
    assert_eq!(
        d.store().count_calls("PutItem"),
        0,
        "waiting writes nothing"
    );
    assert_eq!(
        d.ecs().calls(),
        ["ListContainerInstances", "DescribeContainerInstances"]
    );
    let c = d.cancel("j", 6).await.expect("cancel");
    assert_eq!(c.state, JobState::Cancelled);
    assert_eq!(d.ecs().count_calls("StopTask"), 0);
    set_free(&d, 4096);
    d.wake(CLUSTER, "instance-event", 7).await.expect("wake");
    assert!(d.ecs().run_task_calls().is_empty());
}

/// Hosts from the capacity table: the item of a host is as of ECS's last report, so a job the
/// dispatcher launched after it still holds its room — a duplicate wake-up before ECS's next
/// host event starts nothing more (it used to call RunTask for the next job into room that was
/// not there; found by scripts/demo).
#[tokio::test]
async fn table_hosts_keep_the_room_of_launches_they_do_not_show_yet() {
    use autopilot_core::capacity::{instance_to_record, WriteCondition};
    use autopilot_core::ports::CapacityStore;

    // ECS itself has room (RunTask would place anything); the table is what the dispatcher reads.
    let ecs = ecs_with_host(4096);
    let host = ecs.instance(HOST).expect("the host");
    let table = InMemoryCapacityStore::new();
    let config = DispatchConfig {
        capacity_table: Some("capacity".into()),
        ..config()
    };
    let host_as_of = |free: i64, at: i64| {
        let mut ci = host.clone();
        ci.remaining.memory = Some(free);
        ci.version = Some(at);
        instance_to_record(
            CLUSTER,
            ci,
            Some(autopilot_core::clock::format_unix(at)),
            at,
        )
    };
    // ECS reported the host at t=100 with room for one 1024 MiB job.
    table
        .write(&host_as_of(1024, 100), WriteCondition::NewerThanStored(100))
        .await
        .expect("write");
    let d = Dispatcher::new(InMemoryJobStore::new(), ecs, Some(table), config);
    d.submit(job("first", 5), 150).await.expect("submit");
    assert_eq!(d.ecs().run_task_calls().len(), 1, "first starts at t=150");
    d.submit(job("second", 1), 160).await.expect("submit");
    d.wake(CLUSTER, "task-event", 170).await.expect("wake");
    d.wake(CLUSTER, "task-event", 171).await.expect("wake");
    assert_eq!(
        d.ecs().run_task_calls().len(),
        1,
        "the item (t=100) does not show first's task; its room stays taken"
    );
    // ECS's event after the start (t=200): 0 free, first's task counted by the item itself.
    d.capacity()
        .expect("table")
        .write(&host_as_of(0, 200), WriteCondition::NewerThanStored(200))
        .await
        .expect("write");
    d.wake(CLUSTER, "instance-event", 210).await.expect("wake");
    assert_eq!(d.ecs().run_task_calls().len(), 1);
    // Another task ends (t=300): room for one more, and first is not counted twice.
    d.capacity()
        .expect("table")
        .write(&host_as_of(1024, 300), WriteCondition::NewerThanStored(300))
        .await
        .expect("write");
    d.wake(CLUSTER, "instance-event", 310).await.expect("wake");
    let calls = d.ecs().run_task_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].client_token, "second/1");
}

#[tokio::test]
async fn the_clusters_default_strategy_scopes_a_job_without_launch_type_and_the_pin_names_its_provider(
) {
    // Host i-1 (no provider, full), host i-2 in provider `spot` (empty); the cluster's default
    // strategy is `spot`: a job with neither launch type nor strategy can only go to i-2, and
    // its pinned RunTask names `spot` alone so the pin can hold.
    let d = dispatcher(0);
    let mut ci = host(container_instance_arn(CLUSTER, "two"), "i-2");
    ci.capacity_provider_name = Some("spot".into());
    ci.registered = resources(4096, 4096);
    ci.remaining = ci.registered.clone();
    d.ecs().add_instance(CLUSTER, ci);
    set_free(&d, 4096);
    d.ecs().set_default_strategy(CLUSTER, &["spot"]);
    d.submit(job("j", 1), 10).await.expect("submit");
    let calls = d.ecs().run_task_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].pin_instance.as_deref(), Some("i-2"));
    assert_eq!(calls[0].capacity_provider.as_deref(), Some("spot"));
    // With launch type EC2 the default strategy does not apply: any EC2 host, no provider.
    d.submit(
        json!({"jobId": "ec2", "cluster": "batch", "taskDefinition": "work", "launchType": "EC2"}),
        20,
    )
    .await
    .expect("submit");
    let calls = d.ecs().run_task_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].capacity_provider, None);
}

/// A run past `timeoutSeconds` is stopped by the sweep (not before), and its end fails
/// the attempt with that reason, whatever the exit code; a run past its `expectedSeconds` only
/// is left running.
#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_and_fails_one_past_its_estimate_runs_on() {
    let d = dispatcher(4096);
    let mut slow = job("slow", 1);
    slow["timeoutSeconds"] = json!(600);
    d.submit(slow, 10).await.expect("submit");
    let mut late = job("late", 1);
    late["expectedSeconds"] = json!(60);
    d.submit(late, 10).await.expect("submit");
    d.wake(CLUSTER, "schedule", 609).await.expect("sweep");
    assert_eq!(d.ecs().count_calls("StopTask"), 0, "not yet: 599 s");
    let report = d.wake(CLUSTER, "schedule", 610).await.expect("sweep");
    assert_eq!(d.ecs().count_calls("StopTask"), 1, "slow only");
    let record = report
        .jobs
        .iter()
        .find(|r| r.job_id == "slow")
        .expect("slow");
    assert_eq!(record.action, JobAction::TimedOut);
    let s = stored(&d, "slow");
    let task = s.task_arn.clone().expect("started");
    let reason = autopilot_core::dispatch::lifecycle::timeout_stop_reason(600);
    d.ecs().stop_launched(&task, &[("app", 0)], &reason);
    d.on_task_event(&stopped_event(&task, &s.started_by(1), 0, &reason), 620)
        .await
        .expect("event");
    let s = stored(&d, "slow");
    assert_eq!(s.state, JobState::Failed);
    assert!(
        s.reason.as_deref().unwrap_or("").contains("timed out"),
        "{s:?}"
    );
    assert_eq!(stored(&d, "late").state, JobState::Running, "only ordered");
}

/// A family's succeeded runs teach its estimate (`estimate#FAMILY`), which a later
/// submission without `expectedSeconds` carries; one with it keeps its own.
#[tokio::test]
async fn succeeded_runs_teach_the_familys_estimate_to_later_submissions() {
    let d = dispatcher(4096);
    d.submit(job("first", 1), 10).await.expect("submit");
    assert_eq!(
        stored(&d, "first").learned_seconds,
        None,
        "nothing learned yet"
    );
    let f = stored(&d, "first");
    let task = f.task_arn.clone().expect("started");
    d.ecs()
        .stop_launched(&task, &[("app", 0)], "Essential container in task exited");
    d.on_task_event(&stopped_event(&task, &f.started_by(1), 0, "done"), 310)
        .await
        .expect("event");
    assert_eq!(stored(&d, "first").state, JobState::Succeeded);
    let item = d.store().control("estimate#work").expect("learned");
    assert_eq!(item.body["runs"], json!([300]));
    d.submit(job("second", 1), 400).await.expect("submit");
    let second = stored(&d, "second");
    assert_eq!(second.learned_seconds, Some(300));
    assert_eq!(second.estimate_seconds(), 300);
    let mut own = job("own", 1);
    own["expectedSeconds"] = json!(30);
    d.submit(own, 401).await.expect("submit");
    let own = stored(&d, "own");
    assert_eq!((own.learned_seconds, own.estimate_seconds()), (None, 30));
}
