//! daemon-count's handler: turns an EventBridge event into reconcile runs and reports them.
//!
//! - `ECS Container Instance State Change` → reconcile the event's cluster (level-triggered: the
//!   event only says *which* cluster; the state is read fresh).
//! - `Scheduled Event` (the periodic sweep) → reconcile `CLUSTERS`, or every cluster.
//! - Any other detail type → a logged skip, not an error.
//!
//! Every decision is logged as one JSON line and returned in the response. The invocation fails
//! (so Lambda retries it, then sends it to the on-failure destination) when the event is invalid or
//! a cluster or service could not be read or written; retrying is safe because every run only
//! writes counts that differ from what it just read.

use autopilot_core::daemon::{summarize, Action, ClusterReport, DaemonReconciler};
use autopilot_core::events::{EcsEvent, EventError};
use autopilot_core::log::json_line;
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
    /// `instance_event`, `schedule` or `skipped`.
    pub trigger: &'static str,
    pub dry_run: bool,
    pub clusters: Vec<ClusterReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Handles one invocation payload.
pub async fn handle<E: EcsRead + EcsWrite>(
    reconciler: &DaemonReconciler<E>,
    payload: serde_json::Value,
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
            ("instance_event", vec![e.detail.cluster_arn.clone()])
        }
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
            });
        }
    };

    let reports = reconciler.reconcile_clusters(&clusters).await;
    for report in &reports {
        for record in &report.services {
            let level = if record.action == Action::Failed {
                "ERROR"
            } else {
                "INFO"
            };
            json_line(level, "daemon-count decision", record);
        }
        if let Some(error) = &report.error {
            tracing::error!(cluster = %report.cluster, error = %error, "cluster not reconciled");
        }
    }
    let summary = summarize(&reports);
    tracing::info!(trigger, dry_run, clusters = reports.len(), summary = ?summary, "reconcile finished");

    let problems: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.error
                .iter()
                .map(move |e| format!("{}: {e}", r.cluster))
                .chain(
                    r.services
                        .iter()
                        .filter(|s| s.action == Action::Failed)
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
    })
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
