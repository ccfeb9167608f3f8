//! capacity-recorder's handler.
//!
//! - `ECS Container Instance State Change` / `ECS Task State Change` → exactly one conditional
//!   write, applied only when the table holds nothing newer (duplicates and stale deliveries are
//!   successful no-ops, logged as such).
//! - `Scheduled Event` → the sweep of `CLUSTERS` (or every cluster, and every cluster the table's
//!   registry remembers): repairs lost events, picks up attribute changes (which emit no event),
//!   and retires the items of clusters ECS reports deleted or does not know — a reported skip,
//!   not a failure.
//! - Other detail types, Fargate tasks, clusters outside `CLUSTERS` → a logged skip, no write.
//! - An event that cannot be recorded (no `detail.version`, an ARN of another cluster, a bad size)
//!   → a logged rejection, no write, success: retrying cannot fix it and the sweep repairs the item.
//! - Malformed events and table/ECS failures a retry can fix fail the invocation (Lambda retries,
//!   then the on-failure destination keeps the event); others (a refusal, an unreadable item) are
//!   recorded — logged with the `Failed` metric (alarmed in the template) and answered in `error`
//!   ([`autopilot_core::retry`]). A sweep that could not run or left a cluster unswept fails
//!   whatever the class: the next minute's sweep is its retry. Retries are safe: every write is
//!   conditional.

use autopilot_core::capacity::{CapacityRecorder, EventResult, RecorderError, SweepReport};
use autopilot_core::events::{EcsEvent, EventError};
use autopilot_core::log::{json_line, json_line_with_metrics, Metrics};
use autopilot_core::ports::CapacityStore;
use autopilot_core::ports::EcsRead;
use autopilot_core::retry::fail_or_record;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("recording failed: {0}")]
    Record(#[source] RecorderError),
    #[error("finding the clusters to sweep failed: {0}")]
    SweepTargets(#[source] RecorderError),
    #[error("sweep incomplete: {0}")]
    Incomplete(String),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Record(_) => "RecordFailed",
            HandlerError::SweepTargets(_) => "SweepTargetsFailed",
            HandlerError::Incomplete(_) => "SweepIncomplete",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// `event` or `sweep`.
    pub trigger: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweeps: Vec<SweepReport>,
    /// Why the event was refused (logged; no write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// A failure a retry cannot fix (recorded, not retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn handle<S: CapacityStore, E: EcsRead>(
    recorder: &CapacityRecorder<S, E>,
    payload: serde_json::Value,
    now: i64,
) -> Result<Response, HandlerError> {
    let event = match EcsEvent::from_value(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "rejected event");
            return Err(e.into());
        }
    };
    if let EcsEvent::Scheduled(_) = event {
        // A sweep that could not run, or left a cluster unswept, fails the invocation whatever the
        // error's class: the sweep is the table's repair, the next minute's run is its retry, and
        // the failure is what the Errors alarm sees (recorded, a refused DescribeClusters would
        // silently stop every sweep).
        let sweeps = recorder
            .sweep(now)
            .await
            .map_err(HandlerError::SweepTargets)?;
        for s in &sweeps {
            let level = match (&s.error, &s.skipped) {
                (Some(_), _) => "ERROR",
                (None, Some(_)) => "WARN",
                (None, None) => "INFO",
            };
            json_line(level, "capacity sweep", s);
        }
        let errors: Vec<String> = sweeps
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.cluster)))
            .collect();
        if !errors.is_empty() {
            return Err(HandlerError::Incomplete(errors.join("; ")));
        }
        return Ok(Response {
            trigger: "sweep",
            event: None,
            sweeps,
            rejected: None,
            error: None,
        });
    }
    match recorder.record_event(&event, now).await {
        Ok(result) => {
            let metrics = Metrics::new("capacity-recorder", result.cluster.as_deref())
                .count("Events", 1)
                .count("Writes", result.writes as usize)
                .count("Skipped", usize::from(result.skipped.is_some()));
            json_line_with_metrics("INFO", "capacity event", &result, &metrics);
            Ok(Response {
                trigger: "event",
                event: Some(result),
                sweeps: Vec::new(),
                rejected: None,
                error: None,
            })
        }
        Err(RecorderError::Record(e)) => {
            #[derive(Serialize)]
            struct Rejection<'a> {
                detail_type: &'a str,
                rejected: String,
                writes: u32,
            }
            let rejected = e.to_string();
            json_line(
                "WARN",
                "capacity event rejected",
                &Rejection {
                    detail_type: event.detail_type(),
                    rejected: rejected.clone(),
                    writes: 0,
                },
            );
            Ok(Response {
                trigger: "event",
                event: None,
                sweeps: Vec::new(),
                rejected: Some(rejected),
                error: None,
            })
        }
        Err(e) => {
            let error = fail_or_record(
                e,
                "recording failed",
                serde_json::json!({"detail_type": event.detail_type()}),
            )
            .map_err(HandlerError::Record)?;
            // Not failing the invocation hides it from the Errors alarm: the Failed metric is
            // what pages (CapacityRecorderFailedEventsAlarm).
            json_line_with_metrics(
                "ERROR",
                "capacity event failed",
                &serde_json::json!({"detail_type": event.detail_type(), "error": error}),
                &Metrics::new("capacity-recorder", None).count("Failed", 1),
            );
            Ok(Response {
                trigger: "event",
                event: None,
                sweeps: Vec::new(),
                rejected: None,
                error: Some(error),
            })
        }
    }
}
