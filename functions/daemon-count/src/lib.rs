//! daemon-count's handler: turns an EventBridge event into reconcile runs and reports them.
//!
//! - `ECS Container Instance State Change` → reconcile the event's cluster (level-triggered: the
//!   event only says *which* cluster; the state is read fresh).
//! - `Scheduled Event` (the periodic sweep) → reconcile `CLUSTERS`, or every cluster.
//! - Any other detail type → a logged skip, not an error.
//!
//! Every decision is logged as one JSON line and returned in the response. The invocation fails
//! (so Lambda retries it, then sends it to the on-failure destination) when the event is invalid or
//! a read or write that a retry can fix failed (throttling past the SDK's retries, a 5xx, a
//! timeout); retrying is safe because every run only writes counts that differ from what it just
//! read. A failure a retry cannot fix (AccessDenied, an invalid parameter, a missing cluster) is
//! recorded (`failed`, with the reason, and the `Failed` metric) and does not fail the invocation.
//! Not listing the clusters of a scheduled run fails it whatever the cause. An event already
//! covered by a complete reconcile of its cluster costs no ECS call.

use autopilot_core::daemon::{summarize, Action, ClusterReport, DaemonReconciler};
use std::time::{Duration, Instant};

use autopilot_core::events::{event_time_unix, EcsEvent, EventError};
use autopilot_core::log::{json_line_with_metrics, Metrics};
use autopilot_core::ports::{EcsError, EcsRead, EcsWrite};
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("listing clusters for the scheduled reconcile failed: {0}")]
    ListClusters(#[source] EcsError),
    #[error("reconcile incomplete: {0}")]
    Incomplete(String),
}

/// What an invocation did: returned to the caller and summarised in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    /// `instance_event`, `schedule`, `covered` (a later reconcile already saw the event) or
    /// `skipped`.
    pub trigger: &'static str,
    pub dry_run: bool,
    pub clusters: Vec<ClusterReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Clusters a scheduled sweep did not start before the deadline (reached by a later sweep).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_reached: Vec<String>,
}

/// A scheduled sweep starts no new cluster when less than this is left of the invocation: one
/// cluster's reconcile is a handful of reads and writes, well under it.
pub const SWEEP_RESERVE: Duration = Duration::from_secs(15);

/// Handles one invocation payload now, with no deadline (tests).
pub async fn handle<E: EcsRead + EcsWrite>(
    reconciler: &DaemonReconciler<E>,
    payload: serde_json::Value,
) -> Result<Response, HandlerError> {
    handle_until(reconciler, payload, None, autopilot_core::clock::unix_now()).await
}

/// Handles one invocation payload at `now` (Unix seconds); `deadline` is when the invocation must
/// have answered (Lambda's `Context::deadline`).
pub async fn handle_until<E: EcsRead + EcsWrite>(
    reconciler: &DaemonReconciler<E>,
    payload: serde_json::Value,
    deadline: Option<Instant>,
    now: i64,
) -> Result<Response, HandlerError> {
    let dry_run = reconciler.config().dry_run;
    let event = match EcsEvent::from_value(payload) {
        Ok(event) => event,
        Err(e) => {
            tracing::error!(error = %e, "rejected event");
            return Err(e.into());
        }
    };
    let (trigger, clusters) = match &event {
        EcsEvent::ContainerInstanceStateChange(e) => {
            let cluster = &e.detail.cluster_arn;
            if let Some(t) = event_time_unix(e).filter(|t| reconciler.covered(cluster, *t)) {
                // A reconcile that started reading this cluster after the event already saw its
                // change: nothing can differ, and the event costs no call (storms, agent flaps).
                tracing::info!(%cluster, event_time = t, "event covered by a later reconcile");
                return Ok(Response {
                    trigger: "covered",
                    dry_run,
                    clusters: Vec::new(),
                    skipped: Some(format!(
                        "a reconcile of {cluster} that read it after this event's time already \
                         covered it"
                    )),
                    not_reached: Vec::new(),
                });
            }
            ("instance_event", vec![cluster.clone()])
        }
        // The clusters a scheduled run reconciles: not listed, it fails whatever the cause — a
        // refused ListClusters recorded and answered would stop every scheduled reconcile
        // without an alarm seeing it; failing, the Errors alarm does.
        EcsEvent::Scheduled(_) => (
            "schedule",
            reconciler
                .scheduled_clusters()
                .await
                .map_err(HandlerError::ListClusters)?,
        ),
        EcsEvent::TaskStateChange(_) | EcsEvent::Other { .. } => {
            let reason = format!(
                "detail-type {:?} is not handled by daemon-count; nothing to do",
                event.detail_type()
            );
            tracing::info!(detail_type = event.detail_type(), "skipped event");
            return Ok(Response {
                trigger: "skipped",
                dry_run,
                clusters: Vec::new(),
                skipped: Some(reason),
                not_reached: Vec::new(),
            });
        }
    };

    // The sweep starts at a different cluster each minute, so a tail cut off by the deadline is
    // reached first by a later sweep.
    let rotate = usize::try_from(now / 60).unwrap_or(0);
    let stop_starting = deadline.map(|d| d.checked_sub(SWEEP_RESERVE).unwrap_or(d));
    let outcome = reconciler
        .sweep(&clusters, stop_starting, rotate, now)
        .await;
    let reports = outcome.reports;
    if !outcome.not_reached.is_empty() {
        tracing::warn!(
            not_reached = outcome.not_reached.len(),
            clusters = ?outcome.not_reached,
            "the invocation's time ran short: clusters left for the next sweep"
        );
    }
    for report in &reports {
        for record in &report.services {
            let level = if record.action == Action::Failed {
                "ERROR"
            } else {
                "INFO"
            };
            let metrics = Metrics::new("daemon-count", Some(&record.cluster))
                .count("Decisions", 1)
                .count(action_metric(record.action), 1)
                .count("Writes", usize::from(record.action == Action::Updated))
                .count("StoppedTasks", record.misplaced_tasks.len())
                .count("ExcludedHosts", record.excluded.total());
            json_line_with_metrics(level, "daemon-count decision", record, &metrics);
        }
        if let Some(error) = &report.error {
            tracing::error!(cluster = %report.cluster, error = %error, "cluster not reconciled");
        }
    }
    let summary = summarize(&reports);
    tracing::info!(trigger, dry_run, clusters = reports.len(), summary = ?summary, "reconcile finished");

    // Only what a retry can fix fails the invocation (so Lambda retries it); a refusal
    // (AccessDenied, an invalid request, a missing cluster) is in the log and the response.
    let problems: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.error
                .iter()
                .filter(move |_| r.retryable)
                .map(move |e| format!("{}: {e}", r.cluster))
                .chain(
                    r.services
                        .iter()
                        .filter(|s| s.action == Action::Failed && s.retryable)
                        .map(|s| {
                            format!(
                                "{}/{}: {}",
                                s.cluster,
                                s.service,
                                s.reason.as_deref().unwrap_or("failed")
                            )
                        }),
                )
        })
        .collect();
    if !problems.is_empty() {
        return Err(HandlerError::Incomplete(problems.join("; ")));
    }
    Ok(Response {
        trigger,
        dry_run,
        clusters: reports,
        skipped: None,
        not_reached: outcome.not_reached,
    })
}

/// The metric that counts decisions of this action.
fn action_metric(action: Action) -> &'static str {
    match action {
        Action::Updated => "Updated",
        Action::Unchanged => "Unchanged",
        Action::DryRun => "DryRun",
        Action::Skipped => "Skipped",
        Action::Failed => "Failed",
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::ListClusters(_) => "ListClustersFailed",
            HandlerError::Incomplete(_) => "ReconcileIncomplete",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}
