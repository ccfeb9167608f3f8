//! instance-drainer's handler: one function for four inputs.
//!
//! - `EC2 Instance-terminate Lifecycle Action` (EventBridge, `aws.autoscaling`) → find the host,
//!   set DRAINING, complete at once or queue a delayed re-check.
//! - An SQS batch of re-check messages (event source mapping with `ReportBatchItemFailures`) →
//!   heartbeat, re-evaluate, complete or queue the next re-check. Each failed message is reported
//!   alone in `batchItemFailures`, so SQS redelivers only it (and, after `maxReceiveCount`, moves it
//!   to the DLQ); near the invocation's deadline no further re-check starts.
//! - `EC2 Spot Instance Interruption Warning` (EventBridge, `aws.ec2`) → DRAINING at once.
//! - `ECS Container Instance State Change` of a host with the spot resume marker → back ACTIVE
//!   after a spot stop/hibernate.
//!
//! Any other EventBridge detail type is a logged skip. Invalid events fail the invocation with a
//! clear error and make no call. A drain step's failure fails the invocation, or its message, whatever
//! its class ([`autopilot_core::drain::DrainError`]'s classification, through
//! [`autopilot_core::retry`]): the drain exists only in its event or message, so it goes on to the
//! failure or dead-letter queue and its alarm rather than being acknowledged. Every decision is logged as
//! one JSON line.

use autopilot_core::drain::{DrainError, DrainRecord, Drainer, Outcome, RecheckMessage};
use autopilot_core::events::{DrainEvent, EventError, SqsBatchResponse};
use autopilot_core::log::{json_line_with_metrics, Metrics};
use autopilot_core::ports::{EcsRead, EcsWrite, LifecyclePort, RecheckQueue};
use autopilot_core::retry::fail_or_record;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("drain of {instance} failed: {source}")]
    Drain {
        instance: String,
        #[source]
        source: DrainError,
    },
}

/// What an invocation returns. For SQS batches exactly `{"batchItemFailures": [...]}` (what the
/// event source mapping reads); the records are in the log and, for tests, in `records`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Event(EventResponse),
    Batch(BatchResponse),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventResponse {
    /// `lifecycle_action`, `spot_interruption` or `skipped`.
    pub trigger: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<DrainRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// A failure a retry cannot fix (recorded, not retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An SQS batch's answer: the event source mapping's [`SqsBatchResponse`], plus (not serialised)
/// what happened to each message, for tests and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(flatten)]
    pub response: SqsBatchResponse,
    #[serde(skip)]
    pub records: Vec<DrainRecord>,
    /// `(messageId, error)` for each failed message.
    #[serde(skip)]
    pub errors: Vec<(String, String)>,
}

impl Response {
    /// The record of an EventBridge invocation.
    pub fn record(&self) -> Option<&DrainRecord> {
        match self {
            Response::Event(e) => e.record.as_deref(),
            Response::Batch(_) => None,
        }
    }

    pub fn batch(&self) -> Option<&BatchResponse> {
        match self {
            Response::Batch(b) => Some(b),
            Response::Event(_) => None,
        }
    }
}

/// A batch stops starting re-checks when less than this is left of the invocation: the rest are
/// reported as failures, so SQS redelivers them, rather than cut off mid-way by the timeout.
pub const START_RESERVE: Duration = Duration::from_secs(5);
/// A started re-check must finish this long before the deadline, so the batch answer gets out.
pub const FINISH_RESERVE: Duration = Duration::from_secs(1);

/// Handles one invocation payload at `now` (Unix seconds). `deadline` bounds SQS batches (see
/// [`START_RESERVE`]); every re-check of a batch is handled at the invocation's `now`.
pub async fn handle<E, A, Q>(
    drainer: &Drainer<E, A, Q>,
    payload: serde_json::Value,
    deadline: Option<Instant>,
    now: i64,
) -> Result<Response, HandlerError>
where
    E: EcsRead + EcsWrite,
    A: LifecyclePort,
    Q: RecheckQueue,
{
    let event = match DrainEvent::from_value(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "rejected event");
            return Err(e.into());
        }
    };
    match event {
        DrainEvent::LifecycleTerminate(e) => event_response(
            "lifecycle_action",
            &e.detail.ec2_instance_id,
            drainer.on_lifecycle_action(&e, now).await,
        ),
        DrainEvent::SpotInterruption(e) => event_response(
            "spot_interruption",
            &e.detail.instance_id,
            drainer.on_spot_interruption(&e).await,
        ),
        DrainEvent::ContainerInstance(e) => event_response(
            "instance_event",
            &e.detail.container_instance_arn,
            drainer.on_instance_event(&e).await,
        ),
        DrainEvent::Sqs(batch) => {
            let mut out = BatchResponse::default();
            for r in batch.records {
                // A record without an id cannot be reported back; SQS always sets one.
                let message_id = r.message_id.unwrap_or_default();
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let result = if left.is_some_and(|l| l < START_RESERVE) {
                    Err(format!(
                        "not started: less than {}s of the invocation left",
                        START_RESERVE.as_secs()
                    ))
                } else {
                    let recheck = async {
                        let msg = RecheckMessage::parse(r.body.as_deref().unwrap_or_default())?;
                        match drainer.on_recheck(&msg, now).await {
                            Ok(record) => Ok(Some(record)),
                            // Every drain failure is retryable (DrainError): the message is
                            // redelivered, then dead-lettered, never consumed.
                            Err(e) => fail_or_record(
                                e,
                                "re-check failed; not retried",
                                serde_json::json!({"messageId": message_id}),
                            )
                            .map(|_| None)
                            .map_err(|e| e.to_string()),
                        }
                    };
                    match left {
                        None => recheck.await,
                        Some(l) => tokio::time::timeout(l.saturating_sub(FINISH_RESERVE), recheck)
                            .await
                            .unwrap_or_else(|_| {
                                Err("timed out before the invocation's deadline".into())
                            }),
                    }
                };
                match result {
                    Ok(Some(record)) => {
                        log_record(&record);
                        out.records.push(record);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(%message_id, error = %error, "re-check failed; SQS will redeliver it");
                        out.response.add_failure(message_id.clone());
                        out.errors.push((message_id, error));
                    }
                }
            }
            Ok(Response::Batch(out))
        }
        DrainEvent::Other {
            source,
            detail_type,
        } => {
            tracing::info!(%source, %detail_type, "skipped event");
            Ok(Response::Event(EventResponse {
                trigger: "skipped",
                record: None,
                skipped: Some(format!(
                    "{source} / {detail_type:?} is not handled by instance-drainer; nothing to do"
                )),
                error: None,
            }))
        }
    }
}

/// The answer to one EventBridge event: its record (logged), or the failure: retryable, the
/// invocation fails; otherwise recorded.
fn event_response(
    trigger: &'static str,
    instance: &str,
    result: Result<DrainRecord, DrainError>,
) -> Result<Response, HandlerError> {
    let record = match result {
        Ok(record) => record,
        Err(e) => {
            let error = fail_or_record(
                e,
                "drain step failed; not retried",
                serde_json::json!({"instance": instance}),
            )
            .map_err(|source| failed(instance, source))?;
            return Ok(Response::Event(EventResponse {
                trigger,
                record: None,
                skipped: None,
                error: Some(error),
            }));
        }
    };
    log_record(&record);
    Ok(Response::Event(EventResponse {
        trigger,
        record: Some(Box::new(record)),
        skipped: None,
        error: None,
    }))
}

fn failed(instance: &str, source: DrainError) -> HandlerError {
    tracing::error!(instance, error = %source, "drain step failed; the invocation fails and is retried");
    HandlerError::Drain {
        instance: instance.to_string(),
        source,
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Drain { .. } => "DrainFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

/// The metric name of an outcome (`recheck_scheduled` → `RecheckScheduled`).
fn outcome_metric(outcome: &str) -> &'static str {
    match outcome {
        "completed" => "Completed",
        "already_completed" => "AlreadyCompleted",
        "recheck_scheduled" => "RecheckScheduled",
        "duplicate" => "Duplicate",
        "draining" => "Draining",
        "not_ecs_host" => "NotEcsHost",
        "not_our_hook" => "NotOurHook",
        "reactivated" => "Reactivated",
        "marked_stopped" => "MarkedStopped",
        "skipped" => "Skipped",
        _ => "Other",
    }
}

/// One JSON line per decision on stdout.
fn log_record(record: &DrainRecord) {
    let (level, metrics) = record_metrics(record);
    json_line_with_metrics(level, "instance-drainer decision", record, &metrics);
}

/// A decision's level and metrics: one count per outcome, the drain's time on completion, and
/// `DeadlineTasksRunning` (the service and standalone tasks still running) when a drain was
/// completed at its deadline (or its re-check cap) - the host is then terminated with them, which
/// is alarmed.
pub fn record_metrics(record: &DrainRecord) -> (&'static str, Metrics) {
    // `attempt_cap` is the drain's last-resort bound: tasks left running then are the same loss.
    let at_deadline_with_tasks = record.outcome == Outcome::Completed
        && matches!(record.reason.as_deref(), Some("deadline" | "attempt_cap"))
        && record.tasks.blocking() > 0;
    let level = if record.warnings.is_empty() && !at_deadline_with_tasks {
        "INFO"
    } else {
        "WARN"
    };
    let outcome = serde_json::to_value(record.outcome)
        .ok()
        .and_then(|v| v.as_str().map(outcome_metric))
        .unwrap_or("Other");
    let mut metrics = Metrics::new("instance-drainer", record.cluster.as_deref())
        .count("Decisions", 1)
        .count(outcome, 1);
    if record.outcome == Outcome::Completed {
        metrics = metrics.seconds("DrainSeconds", record.elapsed_seconds.unwrap_or(0));
    }
    if at_deadline_with_tasks {
        metrics = metrics.count("DeadlineTasksRunning", record.tasks.blocking());
    }
    (level, metrics)
}
