//! The re-check batch handler: one message's failure is its own, and a batch stops starting
//! re-checks when the invocation's time is nearly up (in-memory adapters).

use std::time::{Duration, Instant};

use autopilot_core::drain::{DrainConfig, Drainer, RecheckMessage};
use autopilot_core::memory::{InMemoryEcs, InMemoryLifecycle, InMemoryQueue};
use autopilot_core::model::{ContainerInstance, InstanceStatus, Task};
use instance_drainer::{handle, BatchResponse, START_RESERVE};
use serde_json::json;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";
/// The batch is handled a minute after the drains started (`startedAt`).
const NOW: i64 = 1_800_000_060;

type TestDrainer = Drainer<InMemoryEcs, InMemoryLifecycle, InMemoryQueue>;

/// `n` hosts draining, each with one service task, and one re-check message per host.
fn draining_hosts(n: usize) -> (TestDrainer, Vec<RecheckMessage>) {
    let ecs = InMemoryEcs::new();
    let mut messages = Vec::new();
    for i in 0..n {
        let arn = format!("arn:aws:ecs:us-east-1:1:container-instance/prod/ci-{i}");
        let mut ci = ContainerInstance::new(&arn, InstanceStatus::Draining);
        ci.ec2_instance_id = Some(format!("i-{i}"));
        ecs.add_instance(CLUSTER, ci);
        ecs.add_task(
            CLUSTER,
            &arn,
            Task::running(
                format!("arn:aws:ecs:us-east-1:1:task/prod/t{i}"),
                Some("service:web"),
                Some("ecs-svc/1"),
            ),
        );
        messages.push(
            RecheckMessage::parse(
                &json!({"kind": "ecs-autopilot.instance-drainer.recheck", "cluster": CLUSTER,
                    "containerInstanceArn": arn, "lifecycle": {"autoScalingGroupName": "asg",
                    "lifecycleHookName": "ecs-autopilot-drain", "lifecycleActionToken": format!("tok-{i}"),
                    "ec2InstanceId": format!("i-{i}")}, "startedAt": 1_800_000_000, "attempt": 1})
                .to_string(),
            )
            .expect("valid"),
        );
    }
    let drainer = Drainer::new(
        ecs,
        InMemoryLifecycle::new(),
        InMemoryQueue::new(),
        DrainConfig::with_queue("https://q"),
    );
    (drainer, messages)
}

/// The message ids the answer reports failed (SQS redelivers exactly these).
fn failed_ids(b: &BatchResponse) -> Vec<&str> {
    b.response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn batch(bodies: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"messageId": format!("m{i}"), "body": b, "eventSource": "aws:sqs"}))
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn a_bad_message_fails_alone_and_the_rest_are_handled() {
    let (d, messages) = draining_hosts(3);
    let mut bodies: Vec<String> = messages.iter().map(RecheckMessage::to_body).collect();
    bodies.insert(1, "not a re-check".into());
    let response = handle(&d, batch(&bodies), None, NOW)
        .await
        .expect("a batch answer");
    let b = response.batch().expect("batch");
    let failed = failed_ids(b);
    assert_eq!(failed, ["m1"]);
    assert_eq!(b.records.len(), 3);
    // The event source mapping reads exactly this shape.
    assert_eq!(
        serde_json::to_value(&response).expect("json"),
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

#[tokio::test]
async fn near_the_deadline_no_recheck_starts_and_all_are_redelivered() {
    let (d, messages) = draining_hosts(10);
    let bodies: Vec<String> = messages.iter().map(RecheckMessage::to_body).collect();
    let deadline = Instant::now() + START_RESERVE - Duration::from_millis(500);
    let response = handle(&d, batch(&bodies), Some(deadline), NOW)
        .await
        .expect("a batch answer");
    let b = response.batch().expect("batch");
    assert_eq!(
        b.response.batch_item_failures.len(),
        10,
        "every one unstarted"
    );
    assert!(
        b.errors.iter().all(|(_, e)| e.contains("not started")),
        "{:?}",
        b.errors
    );
    assert!(d.ecs().calls().is_empty(), "nothing was started");
    assert!(d.autoscaling().calls().is_empty());
}

#[tokio::test]
async fn a_full_batch_with_time_left_is_handled_in_full() {
    let (d, messages) = draining_hosts(10);
    let bodies: Vec<String> = messages.iter().map(RecheckMessage::to_body).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = handle(&d, batch(&bodies), Some(deadline), NOW)
        .await
        .expect("a batch answer");
    let b = response.batch().expect("batch");
    assert!(b.response.batch_item_failures.is_empty(), "{:?}", b.errors);
    assert_eq!(b.records.len(), 10);
    assert_eq!(
        d.autoscaling()
            .count_calls("RecordLifecycleActionHeartbeat"),
        10
    );
    assert_eq!(d.queue().sent().len(), 10, "each host's next re-check");
}

/// A re-check that ECS refuses (AccessDenied) is not acknowledged: the drain exists only in its
/// message, so the message is reported failed — redelivered, then dead-lettered where the alarm
/// sees it — never consumed as if the drain went on.
#[tokio::test]
async fn a_refused_recheck_is_not_consumed() {
    let (d, messages) = draining_hosts(2);
    d.ecs().fail(
        "ListTasks",
        autopilot_core::ports::EcsError::Refused {
            operation: "ListTasks",
            code: "AccessDeniedException".into(),
            message: "not authorized to perform ecs:ListTasks".into(),
        },
    );
    let bodies: Vec<String> = messages.iter().map(RecheckMessage::to_body).collect();
    let response = handle(&d, batch(&bodies), None, NOW)
        .await
        .expect("a batch answer");
    let b = response.batch().expect("batch");
    let failed = failed_ids(b);
    assert_eq!(failed, ["m0", "m1"], "{:?}", b.errors);
    assert!(
        d.queue().sent().is_empty(),
        "no re-check queued past a refusal"
    );
}
