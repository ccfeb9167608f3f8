//! What capacity-recorder did: one result per event, one report per swept cluster.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::Outcome;

/// What one event did: logged as one JSON line and returned.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventResult {
    pub detail_type: String,
    pub cluster: Option<String>,
    pub resource: Option<String>,
    pub version: Option<i64>,
    /// `applied`, `duplicate`, `stale`, `conflict` — or absent when skipped.
    pub outcome: Option<Outcome>,
    /// Item writes made (0 or 1).
    pub writes: u32,
    /// The cluster's registry entry: `Some(true)` when this event created it, `Some(false)` when
    /// it existed (one conditional UpdateItem either way, once per cluster per execution
    /// environment), absent when this environment had already registered the cluster.
    pub registered_cluster: Option<bool>,
    pub skipped: Option<String>,
}

/// What one sweep of one cluster did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    pub cluster: String,
    pub hosts: usize,
    /// Tasks recorded (EC2 / external tasks ECS lists: desired RUNNING, and stopping ones).
    pub tasks: usize,
    /// Of those, tasks ECS is stopping (desired STOPPED, last status not yet STOPPED): they still
    /// hold their host's ports and memory, so the sweep keeps them like events do.
    pub stopping: usize,
    /// Tasks ECS lists that are not recorded (Fargate: no container instance capacity), the same
    /// rule as for events.
    pub skipped_tasks: usize,
    /// Items written because they were missing or differed.
    pub written: usize,
    /// Items already equal to ECS's state: no write.
    pub unchanged: usize,
    /// Writes refused because the table held a newer version (an event won).
    pub stale: usize,
    /// Version-less writes refused because an event changed the item since the sweep read it.
    pub conflicts: usize,
    /// Hosts and tasks turned into tombstones because ECS no longer lists them.
    pub removed: usize,
    /// Of those, hosts.
    pub removed_hosts: usize,
    /// Table items the sweep read (pages of live hosts and tasks, before the filter: what the
    /// read units pay for is their size).
    pub items_read: usize,
    /// Query requests (pages) the sweep made.
    pub pages: usize,
    /// Read units those Queries consumed, as DynamoDB reported them (ConsumedCapacity; 0 from
    /// the in-memory store).
    pub read_units: f64,
    /// Why the cluster was not swept (it is gone: DescribeClusters says INACTIVE or MISSING; its
    /// live items, if any, were turned into tombstones). Not an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Outcome counts of many event results (for the closing log line).
pub fn count_outcomes(results: &[EventResult]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in results {
        let key = match (&r.outcome, &r.skipped) {
            (Some(o), _) => format!("{o:?}").to_lowercase(),
            (None, _) => "skipped".to_string(),
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}
