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
//! - `ECS Task State Change` → the job's outcome (and a wake-up: room was freed);
//!   `ECS Container Instance State Change` → a wake-up; `Scheduled Event` → the safety sweep of
//!   every cluster in `CLUSTERS` (or of the region): lost events, lost RunTask answers, expiry.
//! - Other detail types and clusters outside `CLUSTERS` → a logged skip.
//! - Errors a retry can fix (throttling, 5xx, a lost RunTask answer) fail the invocation
//!   (`DispatchFailed`); others are recorded in the response (`error`) and logged.

use autopilot_core::dispatch::{DispatchError, Dispatcher, SubmitResult, WakeReport};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::{EcsEvent, EventError};
use autopilot_core::job::Job;
use autopilot_core::log::json_line;
use autopilot_core::ports::{
    CapacityStore, EcsError, EcsRead, EcsWrite, JobStore, ScaleGroup, TaskLauncher,
};
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

/// A dispatch error: retryable → fail the invocation; otherwise recorded.
fn settle(mut r: Response, e: DispatchError) -> Result<Response, HandlerError> {
    match e {
        DispatchError::Invalid(msg) => Err(HandlerError::InvalidJob(msg)),
        e if e.is_retryable() => Err(HandlerError::Dispatch(e)),
        e => {
            json_line(
                "ERROR",
                "task-dispatcher error",
                &serde_json::json!({"error": e.to_string()}),
            );
            r.error = Some(e.to_string());
            Ok(r)
        }
    }
}

pub async fn handle<S, E, C, G>(
    dispatcher: &Dispatcher<S, E, C, G>,
    payload: serde_json::Value,
    now: i64,
) -> Result<Response, HandlerError>
where
    S: JobStore,
    E: EcsRead + EcsWrite + TaskLauncher,
    C: CapacityStore,
    G: ScaleGroup,
{
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
    E: EcsRead + EcsWrite + TaskLauncher,
    C: CapacityStore,
    G: ScaleGroup,
{
    // A string payload is what a caller that double-encodes JSON sends: parse it once.
    let payload = match payload {
        serde_json::Value::String(s) => serde_json::from_str(&s).map_err(|e| {
            HandlerError::InvalidJob(format!("invalid job: payload is not JSON: {e}"))
        })?,
        v => v,
    };
    if payload.get("action").is_some() {
        let action: Action = serde_json::from_value(payload).map_err(|e| {
            HandlerError::InvalidJob(format!(
                "invalid request: {e} (expected {{\"action\": \"submit\", \"job\": {{...}}}} or \
                 {{\"action\": \"cancel\", \"jobId\": \"...\"}})"
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
                    Err(e) if e.is_retryable() => retryable.push(format!("{c}: {e}")),
                    Err(e) => r.error = Some(format!("{c}: {e}")),
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
        assert_eq!(d.store().requests("PutItem"), 0);
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
