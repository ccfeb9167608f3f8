//! What a daemon-count run did: one record per service, one report per cluster.

use std::collections::BTreeMap;

use serde::Serialize;

use super::decide::Excluded;

/// What a run did with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// UpdateService was called with the new count.
    Updated,
    /// The count was already right: no write.
    Unchanged,
    /// DRY_RUN: the count differs, nothing was written.
    DryRun,
    /// Not managed (see `reason`).
    Skipped,
    /// Reading or writing failed (see `reason`).
    Failed,
}

/// One line of the log and one entry of the response, per service per run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    pub cluster: String,
    pub service: String,
    pub previous_desired: Option<i32>,
    pub new_desired: Option<i32>,
    pub eligible: Option<usize>,
    pub tasks_per_host: Option<u32>,
    pub excluded: Excluded,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Eligible hosts whose agent was disconnected: counted (they keep running their tasks).
    #[serde(skip_serializing_if = "is_zero")]
    pub disconnected_kept: usize,
    /// Tasks stopped because they ran on a host that is no longer eligible (or, under DRY_RUN,
    /// that would be).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub misplaced_tasks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// For `failed`: a retry can fix it (throttling, a 5xx, a timeout), so the invocation fails
    /// and Lambda retries; otherwise (AccessDenied, an invalid request) it is only recorded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl DecisionRecord {
    pub(crate) fn skipped(
        cluster: &str,
        service: &str,
        previous: Option<i32>,
        reason: String,
    ) -> Self {
        DecisionRecord {
            cluster: cluster.to_string(),
            service: service.to_string(),
            previous_desired: previous,
            new_desired: None,
            eligible: None,
            tasks_per_host: None,
            excluded: Excluded::default(),
            constraints: Vec::new(),
            action: Action::Skipped,
            reason: Some(reason),
            disconnected_kept: 0,
            misplaced_tasks: Vec::new(),
            warnings: Vec::new(),
            retryable: false,
        }
    }
}

/// The result of reconciling one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub services: Vec<DecisionRecord>,
    /// Set when the cluster could not be read at all (e.g. it does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `error`: a retry can fix it (see [`DecisionRecord::retryable`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

/// Group the records by action, for a one-line summary.
pub fn summarize(reports: &[ClusterReport]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in reports {
        for s in &r.services {
            let key = match s.action {
                Action::Updated => "updated",
                Action::Unchanged => "unchanged",
                Action::DryRun => "dry_run",
                Action::Skipped => "skipped",
                Action::Failed => "failed",
            };
            *out.entry(key).or_insert(0) += 1;
        }
        if r.error.is_some() {
            *out.entry("cluster_errors").or_insert(0) += 1;
        }
    }
    out
}
