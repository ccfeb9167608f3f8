//! task-dispatcher's handler.
//!
//! - `{"action": "submit", "job": {...}}` → the job is validated (nothing is written when it is
//!   malformed: not JSON, no task definition, negative priority, unknown cluster, unknown task
//!   definition → `InvalidJob`), stored once per `jobId`, and the cluster wakes up. With
//!   `scheduleName` (EventBridge Scheduler): one job per tick, SKIPPED while the schedule's
//!   previous run is not finished (overlap `skip`), one catch-up run after missed ticks.
//! - With `SCALE_GROUP`, every wake-up of its cluster also raises the owned group for the jobs
//!   that wait and removes hosts idle for `IDLE_SECONDS` (`autopilot_core::dispatch::scale`).
//! - `{"action": "cancel", "jobId": "..."}` → CANCELLED (its task stopped if it runs).
//! - `{"action": "wake", "cluster": "..."}` → a wake-up of that cluster (what `ecs-autopilot
//!   jobs submit` sends to the queue after it stored a job, so the job starts at once).
//! - `ECS Task State Change` → the job's outcome (and a wake-up: room was freed);
//!   `ECS Container Instance State Change` → a wake-up; `Scheduled Event` → the safety sweep of
//!   every cluster in `CLUSTERS` (or of the region): lost events, lost RunTask answers, expiry.
//! - An SQS batch (the intake queue: the ECS rules, the one-minute sweep, submissions, the
//!   Scheduler's ticks) → each message handled as above, then one wake-up per cluster per
//!   batch; the answer is Lambda's partial batch response (`batchItemFailures`), and an invalid
//!   message is never retried (it goes to `DEAD_LETTER_QUEUE_URL`, when set, with its reason).
//! - Other detail types and clusters outside `CLUSTERS` → a logged skip.
//! - Errors a retry can fix (throttling, 5xx, a lost RunTask answer) fail the invocation
//!   (`DispatchFailed`); others are recorded in the response (`error`) and logged
//!   ([`autopilot_core::retry`]).

use autopilot_core::dispatch::{DispatchEcs, DispatchError, Dispatcher, SubmitResult, WakeReport};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::{EcsEvent, EventError};
use autopilot_core::job::Job;
use autopilot_core::log::json_line;
use autopilot_core::ports::{CapacityStore, EcsError, JobStore, ScaleGroup};
use autopilot_core::retry::fail_or_record;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{0}")]
    InvalidJob(String),
    #[error("dispatch failed: {0}")]
    Dispatch(#[source] DispatchError),
    #[error("listing clusters for the sweep failed: {0}")]
    ListClusters(#[source] EcsError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::InvalidJob(_) => "InvalidJob",
            HandlerError::Dispatch(_) => "DispatchFailed",
            HandlerError::ListClusters(_) => "ListClustersFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Response {
    /// `submit`, `cancel`, `task-event`, `instance-event`, `schedule` or `skip`.
    pub trigger: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted: Option<SubmitResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Job>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wakes: Vec<WakeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// A failure a retry cannot fix (recorded, not retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An SQS batch: the messages to deliver again (Lambda's partial batch response; the event
    /// source mapping needs `ReportBatchItemFailures`).
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    /// An SQS batch: the messages refused as invalid, with their reason (not retried: sent to the
    /// dead-letter queue when one is configured).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidMessage>,
}

/// One message of an SQS batch to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// One message of an SQS batch refused as invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidMessage {
    pub message_id: String,
    pub reason: String,
}

/// What one message of the dispatcher's SQS queue asks for.
#[derive(Debug)]
enum Message {
    /// A submission: `{"action": "submit", "job": {...}}`, a bare job, or an EventBridge event
    /// of source `ecs-autopilot`, detail-type `Job Submission` (the job is its detail). `key`
    /// names a job without `jobId`: the message id (kept across redeliveries) or the event id.
    Submit {
        job: serde_json::Value,
        key: String,
    },
    Cancel {
        job_id: String,
    },
    /// A wake-up of the cluster (name or ARN).
    Wake {
        cluster: String,
    },
    /// An ECS event or the schedule's sweep, as a direct invocation carries it.
    Event(serde_json::Value),
}

/// The EventBridge `source` and `detail-type` of submissions sent as events.
pub const SUBMISSION_SOURCE: &str = "ecs-autopilot";
pub const SUBMISSION_DETAIL_TYPE: &str = "Job Submission";

fn classify(body: &str, message_id: &str) -> Result<Message, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
    if v.get("detail-type").is_some() {
        let source = v.get("source").and_then(|s| s.as_str());
        let kind = v.get("detail-type").and_then(|s| s.as_str());
        if source == Some(SUBMISSION_SOURCE) && kind == Some(SUBMISSION_DETAIL_TYPE) {
            let key = v
                .get("id")
                .and_then(|s| s.as_str())
                .unwrap_or(message_id)
                .to_string();
            let job = v.get("detail").cloned().unwrap_or(serde_json::Value::Null);
            return Ok(Message::Submit { job, key });
        }
        return Ok(Message::Event(v));
    }
    if v.get("action").is_some() {
        return match serde_json::from_value::<Action>(v) {
            Ok(Action::Submit { job }) => Ok(Message::Submit {
                job,
                key: message_id.to_string(),
            }),
            Ok(Action::Cancel { job_id }) => Ok(Message::Cancel { job_id }),
            Ok(Action::Wake { cluster }) => {
                check_cluster(&cluster).map(|()| Message::Wake { cluster })
            }
            Err(e) => Err(format!("invalid request: {e}")),
        };
    }
    if v.is_object() {
        return Ok(Message::Submit {
            job: v,
            key: message_id.to_string(),
        });
    }
    Err("the message is neither a submission nor an event".to_string())
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum Action {
    Submit {
        job: serde_json::Value,
    },
    Cancel {
        #[serde(rename = "jobId")]
        job_id: String,
    },
    Wake {
        cluster: String,
    },
}

/// A wake's cluster: an ECS cluster name (letters, digits, `-`, `_`; CreateCluster's rule) or
/// its ARN. Anything else — a control item's partition such as `schedule#batch` — is refused.
fn check_cluster(cluster: &str) -> Result<(), String> {
    let name = autopilot_core::arn::cluster_name(cluster);
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid request: {cluster:?} is not a cluster name or ARN"
        ))
    }
}

/// Job records an invocation's answer keeps per wake-up (the head of the queue; the rest are
/// counted in `jobs_omitted`, and every decision that changed is logged).
pub const MAX_ANSWERED_JOBS: usize = 100;

/// The answer, kept small at any queue depth ([`WakeReport::keep_head`]).
fn answer(mut r: Response) -> Response {
    r.wakes = std::mem::take(&mut r.wakes)
        .into_iter()
        .map(|w| w.keep_head(MAX_ANSWERED_JOBS))
        .collect();
    r
}

fn response(trigger: &str) -> Response {
    Response {
        trigger: trigger.to_string(),
        ..Response::default()
    }
}

/// Why an event of a cluster outside `CLUSTERS` is skipped (`None`: it is ours).
fn outside(scope: &ClusterScope, cluster_arn: &str) -> Option<String> {
    (!scope.includes(cluster_arn)).then(|| format!("cluster {cluster_arn} is not in CLUSTERS"))
}

/// A dispatch error: an invalid request is refused; otherwise retryable → fail the invocation,
/// others recorded ([`fail_or_record`]).
fn settle(mut r: Response, e: DispatchError) -> Result<Response, HandlerError> {
    if let DispatchError::Invalid(_)
    | DispatchError::NotFound(_)
    | DispatchError::TaskDefinition { .. } = e
    {
        return Err(HandlerError::InvalidJob(e.to_string()));
    }
    let error = fail_or_record(e, "task-dispatcher error", serde_json::Value::Null)
        .map_err(HandlerError::Dispatch)?;
    r.error = Some(error);
    Ok(r)
}

/// [`handle_invocation`] without a request id.
pub async fn handle<S: JobStore, E: DispatchEcs, C: CapacityStore, G: ScaleGroup>(
    dispatcher: &Dispatcher<S, E, C, G>,
    payload: serde_json::Value,
    now: i64,
) -> Result<Response, HandlerError> {
    handle_invocation(dispatcher, payload, now, None).await
}

/// [`handle`] for one Lambda invocation: `request_id` (Lambda keeps it across its async
/// retries of one event) names a submission without `jobId`, so a retried invocation stores
/// one job, not two.
pub async fn handle_invocation<S, E, C, G>(
    dispatcher: &Dispatcher<S, E, C, G>,
    payload: serde_json::Value,
    now: i64,
    request_id: Option<&str>,
) -> Result<Response, HandlerError>
where
    S: JobStore,
    E: DispatchEcs,
    C: CapacityStore,
    G: ScaleGroup,
{
    // One answer shape for every path below (early returns included).
    let response: Result<Response, HandlerError> = async {
        // A string payload is what a caller that double-encodes JSON sends: parse it once.
        let payload = match payload {
            serde_json::Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                HandlerError::InvalidJob(format!("invalid job: payload is not JSON: {e}"))
            })?,
            v => v,
        };
        if is_sqs_batch(&payload) {
            return Ok(handle_sqs_batch(dispatcher, &payload, now, NO_DEAD_LETTERS).await);
        }
        if payload.get("action").is_some() {
            let action: Action = serde_json::from_value(payload).map_err(|e| {
                HandlerError::InvalidJob(format!(
                    "invalid request: {e} (expected {{\"action\": \"submit\", \"job\": {{...}}}}, \
                     {{\"action\": \"cancel\", \"jobId\": \"...\"}} or {{\"action\": \"wake\", \
                     \"cluster\": \"...\"}})"
                ))
            })?;
            return match action {
                Action::Submit { job } => {
                    let mut r = response("submit");
                    match dispatcher.submit_keyed(job, now, request_id).await {
                        Ok((result, wake)) => {
                            r.submitted = Some(result);
                            r.wakes.extend(wake);
                            Ok(r)
                        }
                        Err(e) => settle(r, e),
                    }
                }
                Action::Cancel { job_id } => {
                    let mut r = response("cancel");
                    match dispatcher.cancel(&job_id, now).await {
                        Ok(job) => {
                            r.cancelled = Some(job);
                            Ok(r)
                        }
                        Err(e) => settle(r, e),
                    }
                }
                Action::Wake { cluster } => {
                    check_cluster(&cluster).map_err(HandlerError::InvalidJob)?;
                    let mut r = response("wake");
                    if let Some(skipped) = outside(&dispatcher.config().clusters, &cluster) {
                        r.skipped = Some(skipped);
                        return Ok(r);
                    }
                    match dispatcher.wake(&cluster, "wake", now).await {
                        Ok(w) => {
                            r.wakes.push(w);
                            Ok(r)
                        }
                        Err(e) => settle(r, e),
                    }
                }
            };
        }
        let event = EcsEvent::from_value(payload)?;
        let scope = &dispatcher.config().clusters;
        match event {
            EcsEvent::TaskStateChange(e) => {
                let mut r = response("task-event");
                if let Some(skipped) = outside(scope, &e.detail.cluster_arn) {
                    r.skipped = Some(skipped);
                    return Ok(r);
                }
                match dispatcher.on_task_event(&e.detail, now).await {
                    Ok(wake) => {
                        r.wakes.extend(wake);
                        Ok(r)
                    }
                    Err(e) => settle(r, e),
                }
            }
            EcsEvent::ContainerInstanceStateChange(e) => {
                let mut r = response("instance-event");
                if let Some(skipped) = outside(scope, &e.detail.cluster_arn) {
                    r.skipped = Some(skipped);
                    return Ok(r);
                }
                match dispatcher
                    .wake(&e.detail.cluster_arn, "instance-event", now)
                    .await
                {
                    Ok(w) => {
                        r.wakes.push(w);
                        Ok(r)
                    }
                    Err(e) => settle(r, e),
                }
            }
            EcsEvent::Scheduled(_) => {
                let clusters = scope
                    .resolve(dispatcher.ecs())
                    .await
                    .map_err(HandlerError::ListClusters)?;
                let mut r = response("schedule");
                let mut retryable = Vec::new();
                for c in clusters {
                    match dispatcher.wake(&c, "schedule", now).await {
                        Ok(w) => r.wakes.push(w),
                        Err(e) => match fail_or_record(
                            e,
                            "task-dispatcher error",
                            serde_json::json!({"cluster": c}),
                        ) {
                            Err(e) => retryable.push(format!("{c}: {e}")),
                            Ok(error) => r.error = Some(format!("{c}: {error}")),
                        },
                    }
                }
                if !retryable.is_empty() {
                    return Err(HandlerError::Dispatch(DispatchError::Incomplete(
                        retryable.join("; "),
                    )));
                }
                Ok(r)
            }
            EcsEvent::Other {
                source,
                detail_type,
            } => {
                let mut r = response("skip");
                r.skipped = Some(format!("{source} / {detail_type} is not handled"));
                json_line("INFO", "task-dispatcher skip", &r);
                Ok(r)
            }
        }
    }
    .await;
    response.map(answer)
}

/// Whether the payload is an SQS event (`Records` from `aws:sqs`).
pub fn is_sqs_batch(payload: &serde_json::Value) -> bool {
    payload
        .get("Records")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|m| m.get("eventSource"))
        .and_then(|s| s.as_str())
        == Some("aws:sqs")
}

/// No dead-letter queue configured: invalid messages are only reported (logged and answered).
#[derive(Debug, Clone, Copy)]
pub struct NoDeadLetters;

impl autopilot_core::ports::RecheckQueue for NoDeadLetters {
    async fn send_recheck(
        &self,
        _body: &str,
        _delay_seconds: u32,
    ) -> Result<String, autopilot_core::ports::QueueError> {
        Ok(String::new())
    }
}

pub const NO_DEAD_LETTERS: Option<&NoDeadLetters> = None;

/// One SQS batch of the dispatcher's queue (submissions, ECS events, Scheduler ticks), with
/// **one wake-up per cluster per batch**: a burst of ECS events (an Auto Scaling group adding
/// hosts, a wave of tasks ending) arrives as a few batches (the event source mapping's batching
/// window) and costs a few wake-ups, not one per event.
///
/// | message | done now | then |
/// |---|---|---|
/// | submission (`{"action": "submit"}`, a bare job, an `ecs-autopilot` / `Job Submission` event) | stored once (no `jobId`: named from the message or event id, which redeliveries keep) | its cluster wakes |
/// | cancel | cancelled | – |
/// | wake (`{"action": "wake", "cluster": ...}`) | – | its cluster wakes (outside `CLUSTERS`: a logged skip) |
/// | `ECS Task State Change` | the job's outcome written | its cluster wakes when room was freed |
/// | `ECS Container Instance State Change` | – | its cluster wakes |
/// | Scheduled Event | – | every cluster wakes (the sweep) |
/// | not JSON, malformed, unknown key | refused with its reason, never retried (to the dead-letter queue when configured; if that send fails, the message is delivered again to send it, and after the queue's `maxReceiveCount` SQS moves it there itself) | – |
/// | a retryable failure (its own, or its cluster's wake-up) | – | in `batchItemFailures`: delivered again |
pub async fn handle_sqs_batch<S, E, C, G, Q>(
    dispatcher: &Dispatcher<S, E, C, G>,
    payload: &serde_json::Value,
    now: i64,
    dead_letters: Option<&Q>,
) -> Response
where
    S: JobStore,
    E: DispatchEcs,
    C: CapacityStore,
    G: ScaleGroup,
    Q: autopilot_core::ports::RecheckQueue,
{
    let mut r = response("sqs-batch");
    let mut failures: Vec<String> = Vec::new();
    // Cluster → the messages whose wake-up it is.
    let mut wake: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut sweep: Vec<String> = Vec::new();
    let mut reads = autopilot_core::dispatch::dispatcher::SubmitReads::default();
    let scope = &dispatcher.config().clusters;
    let records = payload
        .get("Records")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    for record in &records {
        let id = record
            .get("messageId")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_string();
        let body = record.get("body").and_then(|s| s.as_str()).unwrap_or("");
        let span = tracing::info_span!("message", message_id = %id);
        let _enter = span.enter();
        let outcome: Result<Option<String>, DispatchError> = match classify(body, &id) {
            Err(reason) => Err(DispatchError::Invalid(reason)),
            Ok(Message::Submit { job, key }) => dispatcher
                .enqueue_batched(job, now, Some(&key), &mut reads)
                .await
                .map(|s| (!s.duplicate && s.skipped.is_none()).then(|| s.job.spec.cluster.clone())),
            Ok(Message::Cancel { job_id }) => dispatcher.cancel(&job_id, now).await.map(|_| None),
            Ok(Message::Wake { cluster }) if scope.includes(&cluster) => Ok(Some(cluster)),
            Ok(Message::Wake { cluster }) => {
                json_line(
                    "INFO",
                    "task-dispatcher skip",
                    &serde_json::json!({"messageId": id, "skipped": outside(scope, &cluster)}),
                );
                Ok(None)
            }
            Ok(Message::Event(v)) => match EcsEvent::from_value(v) {
                Err(e) => Err(DispatchError::Invalid(e.to_string())),
                Ok(EcsEvent::TaskStateChange(e)) if scope.includes(&e.detail.cluster_arn) => {
                    dispatcher
                        .settle_task_event(&e.detail, now)
                        .await
                        .map(|freed| freed.then(|| e.detail.cluster_arn.clone()))
                }
                Ok(EcsEvent::ContainerInstanceStateChange(e))
                    if scope.includes(&e.detail.cluster_arn) =>
                {
                    Ok(Some(e.detail.cluster_arn.clone()))
                }
                Ok(EcsEvent::Scheduled(_)) => {
                    sweep.push(id.clone());
                    Ok(None)
                }
                Ok(_) => Ok(None),
            },
        };
        match outcome {
            Ok(Some(cluster)) => {
                let name = autopilot_core::arn::cluster_name(&cluster).to_string();
                wake.entry(name).or_default().push(id);
            }
            Ok(None) => {}
            Err(e) => {
                let reason = match fail_or_record(
                    e,
                    "task-dispatcher invalid message",
                    serde_json::json!({"messageId": id}),
                ) {
                    Err(e) => {
                        tracing::warn!(error = %e, "retried by SQS");
                        failures.push(id);
                        continue;
                    }
                    Ok(reason) => reason,
                };
                if let Some(q) = dead_letters {
                    let letter =
                        serde_json::json!({"reason": reason, "messageId": id, "body": body});
                    if let Err(e) = q.send_recheck(&letter.to_string(), 0).await {
                        tracing::warn!(error = %e, "dead-letter queue: retried by SQS");
                        failures.push(id.clone());
                    }
                }
                r.invalid.push(InvalidMessage {
                    message_id: id,
                    reason,
                });
            }
        }
    }
    if !sweep.is_empty() {
        match scope.resolve(dispatcher.ecs()).await {
            Ok(clusters) => {
                for c in clusters {
                    wake.entry(autopilot_core::arn::cluster_name(&c).to_string())
                        .or_default()
                        .extend(sweep.iter().cloned());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing clusters for the sweep: retried by SQS");
                failures.extend(sweep.iter().cloned());
            }
        }
    }
    let trigger = if sweep.is_empty() {
        "sqs-batch"
    } else {
        "schedule"
    };
    for (cluster, ids) in wake {
        match dispatcher.wake(&cluster, trigger, now).await {
            Ok(w) => r.wakes.push(w),
            Err(e) => match fail_or_record(
                e,
                "task-dispatcher error",
                serde_json::json!({"cluster": cluster}),
            ) {
                Err(_) => failures.extend(ids),
                Ok(error) => r.error = Some(format!("{cluster}: {error}")),
            },
        }
    }
    failures.sort();
    failures.dedup();
    r.batch_item_failures = Some(
        failures
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    );
    answer(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use autopilot_core::dispatch::DispatchConfig;
    use autopilot_core::memory::{InMemoryCapacityStore, InMemoryEcs, InMemoryJobStore};
    use autopilot_core::model::TaskDefinition;
    use serde_json::json;

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/batch";

    fn dispatcher() -> Dispatcher<InMemoryJobStore, InMemoryEcs, InMemoryCapacityStore> {
        let ecs = InMemoryEcs::new();
        ecs.add_cluster(CLUSTER);
        ecs.add_task_definition(TaskDefinition {
            arn: "work".into(),
            memory: Some(512),
            ..TaskDefinition::default()
        });
        Dispatcher::new(
            InMemoryJobStore::new(),
            ecs,
            None,
            DispatchConfig::with_jobs_table("jobs"),
        )
    }

    #[tokio::test]
    async fn malformed_submissions_are_a_clear_error_and_write_nothing() {
        let d = dispatcher();
        let cases = [
            (json!("{not json"), "payload is not JSON"),
            (json!({"action": "submit"}), "missing field `job`"),
            (
                json!({"action": "submit", "job": {"cluster": "batch"}}),
                "taskDefinition is required",
            ),
            (
                json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "work", "priority": -1}}),
                "priority must be an integer ≥ 0",
            ),
            (
                json!({"action": "submit", "job": {"cluster": "other", "taskDefinition": "work"}}),
                "unknown cluster other",
            ),
            (json!({"action": "launch"}), "invalid request"),
        ];
        for (payload, needle) in cases {
            let err = handle(&d, payload.clone(), 1).await.expect_err("refused");
            let diag = lambda_runtime::Diagnostic::from(err);
            assert_eq!(diag.error_type, "InvalidJob", "{payload}");
            assert!(
                diag.error_message.contains(needle),
                "{payload}: {}",
                diag.error_message
            );
        }
        assert!(d.store().all().is_empty());
        assert_eq!(d.store().count_calls("PutItem"), 0);
    }

    #[tokio::test]
    async fn the_schedulers_tick_is_one_job_per_tick_and_skipped_while_it_runs() {
        let d = dispatcher();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/dispatcher-schedule-tick.json"
        );
        let tick: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).expect("sample")).expect("JSON");
        let r = handle(&d, tick.clone(), 1_795_000_000)
            .await
            .expect("submitted");
        let job = r.submitted.expect("job").job;
        assert_eq!(job.job_id, "nightly-sync-20261201T2300Z");
        // The Scheduler's retry of the same tick: the same job.
        let r = handle(&d, tick.clone(), 1_795_000_005)
            .await
            .expect("again");
        assert!(r.submitted.is_some_and(|s| s.duplicate));
        // The next night's tick while the first run is still queued (no host here): SKIPPED.
        let mut next = tick;
        next["job"]["scheduledTime"] = json!("2026-12-02T23:00:00Z");
        let r = handle(&d, next, 1_795_100_000).await.expect("next");
        let s = r.submitted.expect("skipped");
        assert_eq!(s.job.state.as_str(), "SKIPPED");
        assert!(s.skipped.is_some_and(|why| why.contains("still QUEUED")));
    }

    #[tokio::test]
    async fn submit_then_cancel_and_unknown_detail_types_are_skipped() {
        let d = dispatcher();
        let r = handle(
            &d,
            json!({"action": "submit", "job": {"jobId": "a", "cluster": "batch", "taskDefinition": "work"}}),
            1,
        )
        .await
        .expect("submitted");
        assert_eq!(
            r.submitted.as_ref().map(|s| s.job.job_id.as_str()),
            Some("a")
        );
        assert_eq!(r.wakes.len(), 1, "the submission wakes the cluster");
        let r = handle(&d, json!({"action": "cancel", "jobId": "a"}), 2)
            .await
            .expect("cancelled");
        assert_eq!(r.cancelled.map(|j| j.state.as_str()), Some("CANCELLED"));
        let r = handle(
            &d,
            json!({"version": "0", "id": "1", "detail-type": "ECS Service Action", "source": "aws.ecs",
                   "account": "1", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
                   "resources": [], "detail": {}}),
            3,
        )
        .await
        .expect("skipped");
        assert_eq!(r.trigger, "skip");
    }
}

#[cfg(test)]
mod sqs_tests {
    use super::*;
    use autopilot_core::dispatch::DispatchConfig;
    use autopilot_core::memory::{
        InMemoryCapacityStore, InMemoryEcs, InMemoryJobStore, InMemoryQueue,
    };
    use autopilot_core::model::{ContainerInstance, InstanceStatus, Resources, TaskDefinition};
    use serde_json::{json, Value};

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/batch";
    const HOST: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/batch/h1";

    /// One host with room for 40 jobs of 256 MiB.
    fn dispatcher() -> Dispatcher<InMemoryJobStore, InMemoryEcs, InMemoryCapacityStore> {
        dispatcher_with(DispatchConfig::with_jobs_table("jobs"))
    }

    fn dispatcher_with(
        config: DispatchConfig,
    ) -> Dispatcher<InMemoryJobStore, InMemoryEcs, InMemoryCapacityStore> {
        let ecs = InMemoryEcs::new();
        ecs.add_cluster(CLUSTER);
        ecs.add_task_definition(TaskDefinition {
            arn: "work".into(),
            cpu: Some(0),
            memory: Some(256),
            ..TaskDefinition::default()
        });
        let mut ci = ContainerInstance::new(HOST, InstanceStatus::Active);
        ci.ec2_instance_id = Some("i-1".into());
        ci.agent_connected = Some(true);
        let size = Resources {
            cpu: Some(4096),
            memory: Some(10_240),
            ..Resources::default()
        };
        ci.registered = size.clone();
        ci.remaining = size;
        ecs.add_instance(CLUSTER, ci);
        Dispatcher::new(InMemoryJobStore::new(), ecs, None, config)
    }

    fn batch(bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"messageId": format!("m-{i}"), "body": b, "eventSource": "aws:sqs"}))
            .collect();
        json!({"Records": records})
    }

    #[tokio::test]
    async fn a_batch_of_submissions_stores_each_job_once_and_refuses_the_invalid_ones() {
        let d = dispatcher();
        let mut bodies: Vec<String> = (0..18)
            .map(|i| json!({"action": "submit", "job": {"jobId": format!("j{i}"), "cluster": "batch", "taskDefinition": "work"}}).to_string())
            .collect();
        // Two without jobId (named from their message id), two duplicates of earlier ones.
        bodies.push(json!({"cluster": "batch", "taskDefinition": "work"}).to_string());
        bodies.push(
            json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "work"}})
                .to_string(),
        );
        bodies.push(json!({"action": "submit", "job": {"jobId": "j0", "cluster": "batch", "taskDefinition": "work"}}).to_string());
        bodies
            .push(json!({"jobId": "j1", "cluster": "batch", "taskDefinition": "work"}).to_string());
        // Three invalid.
        bodies.push("{not json".to_string());
        bodies
            .push(json!({"cluster": "batch", "taskDefinition": "work", "prority": 5}).to_string());
        bodies.push(json!({"action": "submit", "job": {"cluster": "batch"}}).to_string());
        assert_eq!(bodies.len(), 25);
        let dlq = InMemoryQueue::new();
        let r = handle_sqs_batch(&d, &batch(&bodies), 100, Some(&dlq)).await;
        let jobs = d.store().all();
        assert_eq!(
            jobs.len(),
            20,
            "{:?}",
            jobs.iter().map(|j| &j.job_id).collect::<Vec<_>>()
        );
        assert_eq!(
            r.batch_item_failures.as_deref(),
            Some(&[][..]),
            "nothing to retry"
        );
        let reasons: Vec<&str> = r.invalid.iter().map(|i| i.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[1].contains("job.prority"), "{reasons:?}");
        assert_eq!(
            dlq.sent().len(),
            3,
            "each invalid message to the dead-letter queue"
        );
        // What the submissions share is read once per batch: the cluster, the task definition
        // and the family's estimate (1 GetItem of it beside the 22 of the job ids).
        assert_eq!(d.ecs().count_calls("DescribeTaskDefinition"), 1);
        assert_eq!(d.store().count_calls("GetItem"), 23);
        // One wake-up for the cluster, every job started once.
        assert_eq!(r.wakes.len(), 1);
        let calls = d.ecs().run_task_calls();
        assert_eq!(calls.len(), 20);
        let mut tokens: Vec<&str> = calls.iter().map(|c| c.client_token.as_str()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        assert_eq!(tokens.len(), 20);
        // The same batch delivered again: no second job, no second task.
        let again = handle_sqs_batch(&d, &batch(&bodies), 160, Some(&dlq)).await;
        assert_eq!(d.store().all().len(), 20);
        assert_eq!(d.ecs().run_task_calls().len(), 20);
        assert_eq!(again.invalid.len(), 3);
    }

    #[tokio::test]
    async fn a_burst_of_instance_events_is_one_wake_up_per_cluster() {
        let d = dispatcher();
        let event = json!({"version": "0", "id": "e", "detail-type": "ECS Container Instance State Change",
            "source": "aws.ecs", "account": "123456789012", "time": "2026-12-04T00:00:00Z",
            "region": "us-east-1", "resources": [HOST],
            "detail": {"clusterArn": CLUSTER, "containerInstanceArn": HOST, "ec2InstanceId": "i-1",
                       "status": "ACTIVE", "agentConnected": true, "version": 3}});
        let bodies: Vec<String> = (0..200).map(|_| event.to_string()).collect();
        let r = handle_sqs_batch(&d, &batch(&bodies), 100, NO_DEAD_LETTERS).await;
        assert_eq!(r.wakes.len(), 1, "one wake-up for 200 events");
        assert!(r.invalid.is_empty(), "{:?}", r.invalid);
        assert_eq!(d.ecs().count_calls("ListContainerInstances"), 1);
    }

    #[tokio::test]
    async fn wake_messages_wake_their_cluster_once_and_other_clusters_are_skipped() {
        let d = dispatcher();
        // Stored directly (as `jobs submit` does), then woken through the queue.
        d.enqueue(
            json!({"jobId": "cli", "cluster": "batch", "taskDefinition": "work"}),
            90,
        )
        .await
        .expect("stored");
        assert!(d.ecs().run_task_calls().is_empty());
        let wake = |c: &str| json!({"action": "wake", "cluster": c}).to_string();
        let d2 = dispatcher_with(DispatchConfig {
            clusters: autopilot_core::env::ClusterScope::Only(vec!["batch".into()]),
            ..DispatchConfig::with_jobs_table("jobs")
        });
        let bodies = [wake("batch"), wake(CLUSTER), wake("other")];
        let r = handle_sqs_batch(&d, &batch(&bodies), 100, NO_DEAD_LETTERS).await;
        assert_eq!(r.wakes.len(), 1, "{:?}", r.wakes);
        assert_eq!(d.ecs().run_task_calls().len(), 1, "the stored job started");
        // A scoped dispatcher skips a wake of a cluster outside CLUSTERS: no wake-up, no error.
        let r = handle_sqs_batch(&d2, &batch(&[wake("other")]), 100, NO_DEAD_LETTERS).await;
        assert!(r.wakes.is_empty() && r.invalid.is_empty(), "{r:?}");
        assert_eq!(d2.ecs().count_calls("ListContainerInstances"), 0);
        // The same as a direct invocation.
        let direct = handle(&d2, json!({"action": "wake", "cluster": "other"}), 100)
            .await
            .expect("a skip");
        assert!(direct.skipped.is_some(), "{direct:?}");
        // A name no cluster can have (a control item's partition) is refused, never read.
        let forged = json!({"action": "wake", "cluster": "schedule#batch"});
        let r = handle_sqs_batch(&d, &batch(&[forged.to_string()]), 100, NO_DEAD_LETTERS).await;
        assert_eq!(r.invalid.len(), 1, "{r:?}");
        assert!(handle(&d, forged, 100).await.is_err());
    }

    /// Issue 21 (5c): a tick that never arrives is created by the sweep, once per gap, and
    /// the real tick turning up late afterwards is covered (no second run).
    #[tokio::test]
    async fn the_sweep_creates_a_missed_tick_once() {
        let d = dispatcher_with(DispatchConfig {
            clusters: autopilot_core::env::ClusterScope::Only(vec!["batch".into()]),
            ..DispatchConfig::with_jobs_table("jobs")
        });
        let day = 86_400;
        let t0 = 1_795_000_000 - 1_795_000_000 % 60;
        let tick = |at: i64| {
            json!({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "work",
                "scheduleName": "nightly", "schedulePeriodSeconds": day,
                "scheduledTime": autopilot_core::clock::format_unix(at), "priority": 3}})
        };
        let sweep = json!({"version": "0", "id": "s", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-12-01T00:00:00Z",
            "region": "us-east-1", "resources": [], "detail": {}});
        let first = handle(&d, tick(t0), t0 + 5).await.expect("tick");
        let first = first.submitted.expect("job").job;
        assert_eq!(first.job_id, "nightly-20261118T1106Z");
        // The run ends (cancelled here); the next day's tick never comes. Within the grace:
        // nothing.
        handle(
            &d,
            json!({"action": "cancel", "jobId": first.job_id}),
            t0 + 60,
        )
        .await
        .expect("cancelled");
        let r = handle(&d, sweep.clone(), t0 + day + day / 10 - 60)
            .await
            .expect("sweep");
        assert!(r.wakes[0].catch_ups.is_empty(), "{r:?}");
        // Past it: the sweep creates the missed tick's run, and it starts.
        let r = handle(&d, sweep.clone(), t0 + day + day / 10)
            .await
            .expect("sweep");
        assert_eq!(r.wakes[0].catch_ups, ["nightly-20261119T1106Z"], "{r:?}");
        let run = d.store().job("nightly-20261119T1106Z").expect("created");
        assert_eq!(run.priority, 3, "the schedule's own submission, replayed");
        assert_eq!(run.scheduled_time, Some(t0 + day));
        assert_ne!(run.state.as_str(), "SKIPPED");
        // One per gap: later sweeps create nothing more.
        let r = handle(&d, sweep.clone(), t0 + 3 * day)
            .await
            .expect("sweep");
        assert!(r.wakes[0].catch_ups.is_empty(), "{r:?}");
        // The missed tick delivered late after all: the same job, nothing new.
        let late = handle(&d, tick(t0 + day), t0 + 3 * day + 10)
            .await
            .expect("late tick");
        assert!(late.submitted.is_some_and(|s| s.duplicate));
        // The next real tick runs as usual (the catch-up run has ended), and the sweep watches
        // again from it.
        handle(
            &d,
            json!({"action": "cancel", "jobId": run.job_id}),
            t0 + 3 * day + 15,
        )
        .await
        .expect("cancelled");
        let next = handle(&d, tick(t0 + 3 * day), t0 + 3 * day + 20)
            .await
            .expect("next tick");
        let next = next.submitted.expect("job");
        assert!(!next.duplicate && next.skipped.is_none(), "{next:?}");
        // A submission without a period is never caught up.
        let mut other = tick(t0);
        other["job"]["scheduleName"] = json!("adhoc");
        other["job"]
            .as_object_mut()
            .map(|o| o.remove("schedulePeriodSeconds"));
        handle(&d, other, t0 + 5).await.expect("tick");
        let r = handle(&d, sweep, t0 + 30 * day).await.expect("sweep");
        assert_eq!(r.wakes[0].catch_ups.len(), 1, "only nightly: {r:?}");
    }

    /// Issue 21 (5b): a submission sent as an EventBridge event (source `ecs-autopilot`,
    /// detail-type `Job Submission`, the job as the detail) is one job per event: without
    /// `jobId` it is named from the event id, which EventBridge's retries keep, so the same event
    /// in two messages is one job. Events of other sources are not submissions.
    #[tokio::test]
    async fn submission_events_are_one_job_per_event() {
        let d = dispatcher();
        let event = |id: &str, source: &str| {
            json!({"version": "0", "id": id, "detail-type": SUBMISSION_DETAIL_TYPE,
                "source": source, "account": "123456789012", "time": "2026-12-04T00:00:00Z",
                "region": "us-east-1", "resources": [],
                "detail": {"cluster": "batch", "taskDefinition": "work", "priority": 4}})
            .to_string()
        };
        let bodies = [
            event("ev-1", SUBMISSION_SOURCE),
            event("ev-1", SUBMISSION_SOURCE),
            event("ev-2", SUBMISSION_SOURCE),
            event("ev-3", "someone.else"),
        ];
        let r = handle_sqs_batch(&d, &batch(&bodies), 100, NO_DEAD_LETTERS).await;
        assert!(r.invalid.is_empty(), "{:?}", r.invalid);
        let jobs = d.store().all();
        assert_eq!(jobs.len(), 2, "{jobs:?}");
        assert!(jobs.iter().all(|j| j.priority == 4));
        assert_eq!(d.ecs().run_task_calls().len(), 2);
    }

    #[tokio::test]
    async fn an_answer_keeps_the_head_of_a_deep_queue() {
        let d = dispatcher();
        // 150 jobs of 1 GiB on a host with room for 10: 140 wait.
        let bodies: Vec<String> = (0..150)
            .map(|i| {
                json!({"jobId": format!("j{i:03}"), "cluster": "batch", "taskDefinition": "work",
                            "overrides": {"memory": 1024}})
                .to_string()
            })
            .collect();
        let r = handle_sqs_batch(&d, &batch(&bodies), 100, NO_DEAD_LETTERS).await;
        assert!(r.invalid.is_empty(), "{:?}", r.invalid);
        let w = &r.wakes[0];
        assert_eq!(w.jobs_read, 150);
        assert_eq!(w.jobs.len(), MAX_ANSWERED_JOBS);
        assert_eq!(w.jobs_omitted, 50);
        assert_eq!(w.jobs[0].job_id, "j000", "the head of the queue is kept");
    }

    #[tokio::test]
    async fn a_retryable_wake_up_failure_redelivers_that_clusters_messages() {
        let d = dispatcher();
        d.ecs().fail(
            "ListContainerInstances",
            autopilot_core::ports::EcsError::Throttled {
                operation: "ListContainerInstances",
                message: "slow down".into(),
            },
        );
        let bodies =
            vec![json!({"jobId": "a", "cluster": "batch", "taskDefinition": "work"}).to_string()];
        let r = handle_sqs_batch(&d, &batch(&bodies), 100, NO_DEAD_LETTERS).await;
        let failed: Vec<&str> = r
            .batch_item_failures
            .iter()
            .flatten()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m-0"]);
        assert!(
            d.store().job("a").is_some(),
            "stored; the redelivery finds it"
        );
    }
}
