//! task-dispatcher's owned group over the in-memory adapters (a fake Auto Scaling group): scale
//! from zero counting hosts on their way, dispatch onto the registered host, back to zero after
//! IDLE_SECONDS without touching a busy host, MaxSize, retried wake-ups, and schedule ticks.

use autopilot_core::dispatch::config::ScaleGroupConfig;
use autopilot_core::dispatch::dispatcher::idle_clock_key;
use autopilot_core::dispatch::{DispatchConfig, Dispatcher, HostSize, JobAction, WakeReport};
use autopilot_core::events::TaskStateChange;
use autopilot_core::job::{Job, JobState};
use autopilot_core::memory::{
    InMemoryCapacityStore, InMemoryEcs, InMemoryJobStore, InMemoryScaleGroup,
};
use autopilot_core::ports::AutoScalingError;
use autopilot_core::retry::Retryable;
use autopilot_core::testing::{host, resources, submission, task_definition};
use serde_json::{json, Value};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/nightly";
const GROUP: &str = "nightly-hosts";
const T0: i64 = 1_800_000_000;

type D = Dispatcher<InMemoryJobStore, InMemoryEcs, InMemoryCapacityStore, InMemoryScaleGroup>;

fn dispatcher(max: u32) -> D {
    let ecs = InMemoryEcs::new();
    ecs.add_cluster(CLUSTER);
    for (name, mem) in [("sync", 3000), ("huge", 16000)] {
        ecs.add_task_definition(task_definition(name, 256, mem));
    }
    Dispatcher::new(
        InMemoryJobStore::new(),
        ecs,
        None::<InMemoryCapacityStore>,
        DispatchConfig {
            scale_group: Some(ScaleGroupConfig {
                name: GROUP.into(),
                cluster: "nightly".into(),
                host_size: HostSize {
                    cpu: 4096,
                    memory: 7482,
                },
                idle_seconds: 300,
                register_grace: 600,
            }),
            ..DispatchConfig::with_jobs_table("jobs")
        },
    )
    .with_scale_group(InMemoryScaleGroup::new(GROUP, max))
}

fn job(id: &str) -> Value {
    submission(id, "nightly", "sync")
}

/// What the ECS agent does on a new instance: register it (4096 CPU, 7482 MiB, as moto's hosts).
fn register_new_hosts(d: &D) -> Vec<String> {
    let mut out = Vec::new();
    for id in d.scale_group().instance_ids() {
        let arn = format!("arn:aws:ecs:us-east-1:123456789012:container-instance/nightly/{id}");
        if d.ecs().instance(&arn).is_some() {
            continue;
        }
        let mut ci = host(&arn, id.clone());
        ci.registered = resources(4096, 7482);
        ci.remaining = ci.registered.clone();
        d.ecs().add_instance(CLUSTER, ci);
        out.push(arn);
    }
    out
}

fn stored(d: &D, id: &str) -> Job {
    d.store().job(id).expect("stored")
}

async fn sweep(d: &D, now: i64) -> WakeReport {
    d.wake(CLUSTER, "schedule", now).await.expect("wake")
}

async fn finish(d: &D, id: &str, exit: i32, now: i64) {
    let j = stored(d, id);
    let task = j.task_arn.clone().expect("running");
    d.ecs().stop_launched(
        &task,
        &[("app", exit)],
        "Essential container in task exited",
    );
    let ev: TaskStateChange = serde_json::from_value(json!({
        "clusterArn": CLUSTER, "taskArn": task, "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED", "startedBy": j.started_by(j.launches),
        "containers": [{"name": "app", "exitCode": exit}], "version": 3
    }))
    .expect("event");
    d.on_task_event(&ev, now).await.expect("event");
}

#[tokio::test]
async fn from_zero_to_one_and_back_to_zero() {
    let d = dispatcher(3);
    let (_, wake) = d.submit(job("nightly-1"), T0).await.expect("submit");
    let scale = wake.and_then(|w| w.scale).expect("scale report");
    assert_eq!((scale.desired, scale.raised_to), (0, Some(1)));
    assert_eq!(
        d.scale_group().desired(),
        1,
        "one job, one host: desired 1, not 2"
    );
    assert_eq!(d.scale_group().count_calls("SetDesiredCapacity"), 1);

    // Wake-ups before the host registers (the sweep, other events): no second raise.
    for i in 1..=3 {
        let r = sweep(&d, T0 + 10 * i).await;
        assert_eq!(
            r.scale.as_ref().map(|s| (s.coming, s.raised_to)),
            Some((1, None))
        );
        let rec = r
            .jobs
            .iter()
            .find(|j| j.job_id == "nightly-1")
            .expect("record");
        assert!(
            rec.reason
                .as_deref()
                .unwrap_or("")
                .contains("waits for a new host"),
            "{rec:?}"
        );
        assert!(!rec.never_fits, "a group host can hold it");
    }
    assert_eq!(d.scale_group().count_calls("SetDesiredCapacity"), 1);

    // The host registers: its registration event wakes the dispatcher, the job starts there.
    let hosts = register_new_hosts(&d);
    assert_eq!(hosts.len(), 1);
    let r = d
        .wake(CLUSTER, "instance-event", T0 + 60)
        .await
        .expect("wake");
    assert_eq!(r.started, 1);
    let j = stored(&d, "nightly-1");
    assert_eq!(j.state, JobState::Running);
    assert_eq!(j.container_instance_arn.as_deref(), Some(hosts[0].as_str()));
    assert_eq!(
        d.ecs().run_task_calls()[0].pin_instance.as_deref(),
        Some("i-mem-1")
    );

    // Long after IDLE_SECONDS, the job still runs: the host is never removed.
    let r = sweep(&d, T0 + 5000).await;
    assert_eq!(
        r.scale.as_ref().map(|s| s.busy.clone()),
        Some(vec!["i-mem-1".to_string()])
    );
    assert_eq!(
        d.scale_group()
            .count_calls("TerminateInstanceInAutoScalingGroup"),
        0
    );

    // Exit 0 → SUCCEEDED; the host is idle from now.
    finish(&d, "nightly-1", 0, T0 + 6000).await;
    assert_eq!(stored(&d, "nightly-1").state, JobState::Succeeded);
    let r = sweep(&d, T0 + 6000).await;
    assert!(r.scale.as_ref().is_some_and(|s| s.terminated.is_empty()));
    let clock = d
        .store()
        .control(&idle_clock_key(GROUP))
        .expect("idle clock stored");
    assert_eq!(clock.body["idleSince"]["i-mem-1"], json!(T0 + 6000));
    // 299 s idle: kept. 300 s: removed, with decrement.
    sweep(&d, T0 + 6299).await;
    assert_eq!(
        d.scale_group()
            .count_calls("TerminateInstanceInAutoScalingGroup"),
        0
    );
    let r = sweep(&d, T0 + 6300).await;
    assert_eq!(
        r.scale.map(|s| s.terminated),
        Some(vec!["i-mem-1".to_string()])
    );
    assert_eq!(d.scale_group().desired(), 0, "the group is back at 0");
    // A retried sweep (the instance Terminating:Wait while the drainer drains it): no second call.
    sweep(&d, T0 + 6301).await;
    sweep(&d, T0 + 6400).await;
    assert_eq!(
        d.scale_group()
            .count_calls("TerminateInstanceInAutoScalingGroup"),
        1
    );
    assert_eq!(
        d.scale_group().count_calls("SetDesiredCapacity"),
        1,
        "never lowered by desired"
    );
}

#[tokio::test]
async fn three_jobs_need_two_hosts_and_max_size_makes_the_rest_wait_saying_so() {
    let d = dispatcher(3);
    for i in 0..3 {
        d.submit(job(&format!("j{i}")), T0 + i)
            .await
            .expect("submit");
    }
    assert_eq!(
        d.scale_group().desired(),
        2,
        "two 3000 MiB jobs per 7482 MiB host"
    );

    let d = dispatcher(1);
    for i in 0..3 {
        d.submit(job(&format!("j{i}")), T0 + i)
            .await
            .expect("submit");
    }
    assert_eq!(d.scale_group().desired(), 1);
    let r = sweep(&d, T0 + 10).await;
    let rec = r.jobs.iter().find(|j| j.job_id == "j2").expect("record");
    assert_eq!(rec.action, JobAction::Waiting);
    assert!(
        rec.reason.as_deref().unwrap_or("").contains("at MaxSize 1"),
        "{rec:?}"
    );
    assert_eq!(r.scale.map(|s| s.at_max), Some(vec!["j2".to_string()]));
    // A job no group host could hold never raises the group.
    let d = dispatcher(3);
    d.submit(
        json!({"jobId": "huge", "cluster": "nightly", "taskDefinition": "huge"}),
        T0,
    )
    .await
    .expect("submit");
    assert_eq!(d.scale_group().count_calls("SetDesiredCapacity"), 0);
}

#[tokio::test]
async fn two_hosts_one_busy_only_the_idle_one_goes() {
    let d = dispatcher(3);
    d.submit(job("a"), T0).await.expect("submit");
    d.submit(job("b"), T0 + 1).await.expect("submit");
    d.submit(job("c"), T0 + 2).await.expect("submit");
    assert_eq!(d.scale_group().desired(), 2);
    register_new_hosts(&d);
    let r = d
        .wake(CLUSTER, "instance-event", T0 + 60)
        .await
        .expect("wake");
    assert_eq!(r.started, 3);
    // The host that runs one job finishes first; the other still runs two.
    let a_host = stored(&d, "a").container_instance_arn.expect("host");
    let (alone, pair): (Vec<&str>, Vec<&str>) = ["a", "b", "c"].into_iter().partition(|id| {
        let h = stored(&d, id).container_instance_arn.expect("host");
        ["a", "b", "c"]
            .iter()
            .filter(|o| stored(&d, o).container_instance_arn.as_deref() == Some(h.as_str()))
            .count()
            == 1
    });
    assert_eq!((alone.len(), pair.len()), (1, 2), "{a_host}");
    finish(&d, alone[0], 0, T0 + 100).await;
    sweep(&d, T0 + 100).await;
    let r = sweep(&d, T0 + 400).await;
    let gone = r.scale.map(|s| s.terminated).expect("scale");
    assert_eq!(gone.len(), 1);
    let busy_host = stored(&d, pair[0]).container_instance_arn.expect("host");
    assert!(
        !busy_host.ends_with(&gone[0]),
        "the busy host is never removed"
    );
    assert_eq!(d.scale_group().desired(), 1);
}

#[tokio::test]
async fn a_failing_terminate_fails_the_wake_up_and_the_retry_terminates_once() {
    let d = dispatcher(3);
    d.submit(job("a"), T0).await.expect("submit");
    register_new_hosts(&d);
    sweep(&d, T0 + 10).await;
    finish(&d, "a", 0, T0 + 20).await;
    sweep(&d, T0 + 20).await;
    d.scale_group().fail(
        "TerminateInstanceInAutoScalingGroup",
        Some(AutoScalingError::Throttled {
            operation: "TerminateInstanceInAutoScalingGroup",
            message: "Rate exceeded".into(),
        }),
    );
    let err = d
        .wake(CLUSTER, "schedule", T0 + 400)
        .await
        .expect_err("retryable");
    assert!(err.is_retryable(), "{err}");
    d.scale_group()
        .fail("TerminateInstanceInAutoScalingGroup", None);
    let r = sweep(&d, T0 + 401).await;
    assert_eq!(r.scale.map(|s| s.terminated.len()), Some(1));
    sweep(&d, T0 + 402).await;
    // Two calls: the throttled one and the one that acted.
    assert_eq!(
        d.scale_group()
            .count_calls("TerminateInstanceInAutoScalingGroup"),
        2
    );
    assert_eq!(d.scale_group().desired(), 0);
}

#[tokio::test]
async fn a_schedule_that_fires_while_its_run_is_running_is_skipped_and_recorded() {
    let d = dispatcher(3);
    let tick = |t: &str| {
        json!({"cluster": "nightly", "taskDefinition": "sync", "scheduleName": "nightly-sync",
               "scheduledTime": t})
    };
    let (first, _) = d
        .submit(tick("2027-01-15T00:00:00Z"), T0)
        .await
        .expect("submit");
    assert_eq!(first.job.job_id, "nightly-sync-20270115T0000Z");
    // The Scheduler delivers the same tick again: a duplicate, nothing written.
    let (again, _) = d
        .submit(tick("2027-01-15T00:00:00Z"), T0 + 5)
        .await
        .expect("submit");
    assert!(again.duplicate);
    register_new_hosts(&d);
    d.wake(CLUSTER, "instance-event", T0 + 60)
        .await
        .expect("wake");
    assert_eq!(stored(&d, &first.job.job_id).state, JobState::Running);
    // The next tick fires while the first run still runs: SKIPPED, with the reason.
    let next_tick = T0 + 86_400; // T0 is on a minute
    let next = autopilot_core::clock::format_unix(next_tick);
    let (second, wake) = d.submit(tick(&next), next_tick + 1).await.expect("submit");
    assert!(wake.is_none());
    assert_eq!(second.job.state, JobState::Skipped);
    assert!(
        second
            .skipped
            .as_deref()
            .unwrap_or("")
            .contains("is still RUNNING"),
        "{second:?}"
    );
    assert_eq!(stored(&d, &second.job.job_id).state, JobState::Skipped);
    assert_eq!(d.ecs().run_task_calls().len(), 1, "one run");
    // After it ends, the next tick runs again.
    finish(&d, &first.job.job_id, 0, next_tick + 100).await;
    let later = autopilot_core::clock::format_unix(next_tick + 86_400);
    let (third, _) = d
        .submit(tick(&later), next_tick + 86_401)
        .await
        .expect("submit");
    assert_eq!(third.job.state, JobState::Queued);
    // An invalid schedule name writes nothing.
    let err = d
        .submit(
            json!({"cluster": "nightly", "taskDefinition": "sync", "scheduleName": "bad name"}),
            T0,
        )
        .await
        .expect_err("invalid");
    assert!(err.to_string().contains("scheduleName"), "{err}");
}

#[tokio::test]
async fn capacity_provider_jobs_go_provisioning_within_the_limit_and_never_touch_a_group() {
    let ecs = InMemoryEcs::new();
    ecs.add_cluster(CLUSTER);
    ecs.add_task_definition(task_definition("sync", 256, 3000));
    let d = Dispatcher::new(
        InMemoryJobStore::new(),
        ecs,
        None::<InMemoryCapacityStore>,
        DispatchConfig {
            max_provisioning: 2,
            ..DispatchConfig::with_jobs_table("jobs")
        },
    )
    .with_scale_group(InMemoryScaleGroup::new("managed-by-ecs", 10));
    for i in 0..3 {
        let mut j = job(&format!("cp{i}"));
        j["capacityProviderStrategy"] = json!([{"capacityProvider": "batch-cp", "weight": 1}]);
        d.submit(j, T0 + i).await.expect("submit");
    }
    let calls = d.ecs().run_task_calls();
    assert_eq!(calls.len(), 2, "the head two, within MAX_PROVISIONING 2");
    assert!(
        calls.iter().all(|c| c.pin_instance.is_none()),
        "no host pin"
    );
    assert_eq!(stored(&d, "cp2").state, JobState::Queued);
    let r = sweep_any(&d, T0 + 10).await;
    assert!(r.jobs.iter().all(|j| j.action != JobAction::Started));
    // ECS's autoscaler adds a host; cp0's task is placed there (its RUNNING event).
    let j0 = stored(&d, "cp0");
    let ev: TaskStateChange = serde_json::from_value(json!({
        "clusterArn": CLUSTER, "taskArn": j0.task_arn, "lastStatus": "RUNNING",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/nightly/x",
        "startedBy": j0.started_by(j0.launches), "version": 2
    }))
    .expect("event");
    d.on_task_event(&ev, T0 + 20).await.expect("event");
    assert!(stored(&d, "cp0").container_instance_arn.is_some());
    sweep_any(&d, T0 + 30).await;
    assert_eq!(
        d.ecs().run_task_calls().len(),
        3,
        "room in the PROVISIONING budget: cp2"
    );
    assert!(
        d.scale_group().calls().is_empty(),
        "never a call to a group it does not own"
    );
}

async fn sweep_any<G: autopilot_core::ports::ScaleGroup>(
    d: &Dispatcher<InMemoryJobStore, InMemoryEcs, InMemoryCapacityStore, G>,
    now: i64,
) -> WakeReport {
    d.wake(CLUSTER, "schedule", now).await.expect("wake")
}

#[tokio::test]
async fn ticks_missed_in_an_outage_are_delivered_late_and_start_one_run() {
    let d = dispatcher(3);
    let tick = |t: &str| {
        json!({"cluster": "nightly", "taskDefinition": "sync", "scheduleName": "hourly",
               "scheduledTime": t})
    };
    // Ticks at 01:00, 02:00 and 03:00 failed (the function was broken); the Scheduler's retries
    // deliver them after the fix at 03:30, in any order, after the first run already finished.
    let outage_end = 1_800_000_000; // 2027-01-15T08:00:00Z
    let (run, _) = d
        .submit(tick("2027-01-15T05:00:00Z"), outage_end)
        .await
        .expect("submit");
    assert_eq!(run.job.state, JobState::Queued);
    register_new_hosts(&d);
    d.wake(CLUSTER, "instance-event", outage_end + 60)
        .await
        .expect("wake");
    finish(&d, &run.job.job_id, 0, outage_end + 120).await;
    for (i, t) in ["2027-01-15T07:00:00Z", "2027-01-15T06:00:00Z"]
        .iter()
        .enumerate()
    {
        let (late, _) = d
            .submit(tick(t), outage_end + 200 + i as i64)
            .await
            .expect("submit");
        assert_eq!(late.job.state, JobState::Skipped, "{t}");
        assert!(
            late.skipped.as_deref().unwrap_or("").starts_with("covered"),
            "{late:?}"
        );
    }
    assert_eq!(
        d.ecs().run_task_calls().len(),
        1,
        "one run for three missed ticks"
    );
    // The first regular tick after the outage runs.
    let (next, _) = d
        .submit(tick("2027-01-15T09:00:00Z"), outage_end + 3600)
        .await
        .expect("submit");
    assert_eq!(next.job.state, JobState::Queued);
}

#[tokio::test]
async fn an_instance_the_group_is_terminating_is_never_a_run_task_pin() {
    let d = dispatcher(2);
    for i in 0..3 {
        d.submit(job(&format!("j{i}")), T0 + i)
            .await
            .expect("submit");
    }
    assert_eq!(d.scale_group().desired(), 2);
    register_new_hosts(&d);
    let ids = d.scale_group().instance_ids();
    // The group is terminating the first (its hook holds it in Terminating:Wait); ECS still
    // has it ACTIVE until the drainer sets it DRAINING.
    d.scale_group()
        .set_lifecycle_state(&ids[0], "Terminating:Wait");
    for k in 0..3 {
        sweep(&d, T0 + 60 + k).await;
    }
    let pins: Vec<Option<String>> = d
        .ecs()
        .run_task_calls()
        .into_iter()
        .map(|c| c.pin_instance)
        .collect();
    assert!(!pins.is_empty(), "jobs started on the other host");
    assert!(
        pins.iter().all(|p| p.as_deref() != Some(ids[0].as_str())),
        "{pins:?}"
    );
}

#[tokio::test]
async fn no_host_is_terminated_while_az_rebalance_runs() {
    let d = dispatcher(1);
    d.submit(job("a"), T0).await.expect("submit");
    register_new_hosts(&d);
    sweep(&d, T0 + 10).await;
    finish(&d, "a", 0, T0 + 20).await;
    d.scale_group().resume_processes();
    sweep(&d, T0 + 30).await;
    let r = sweep(&d, T0 + 30 + 10_000).await;
    assert_eq!(
        d.scale_group()
            .count_calls("TerminateInstanceInAutoScalingGroup"),
        0
    );
    let scale = r.scale.expect("scale report");
    assert!(
        scale.warnings.iter().any(|w| w.contains("AZRebalance")),
        "{scale:?}"
    );
    assert_eq!(d.scale_group().desired(), 1, "the idle host is kept");
}
