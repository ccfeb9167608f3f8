//! What a capacity question reads from the table, and no more: the cluster's live hosts (the
//! live index: no tombstone, STOPPED task or expired item is read), then the live tasks it
//! needs (one group's, every one, or none), kept only if they hold their host. Pages are folded
//! in as they come. The CLI's questions and the dispatcher's host read both read through here.

use serde::Serialize;

use crate::ports::capacity_store::{CapacityStore, ItemKind, ItemQuery, StoreError};
use crate::record::Record;

/// Which tasks a capacity question reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRead {
    /// None: resources, attributes, binpack, random — the hosts alone answer.
    None,
    /// The live tasks of one group: `--group G` counted by `distinctInstance` or `spread`.
    Group(String),
    /// Every live task: an expression on `task:group` (it may name any group), daemon headroom.
    All,
}

/// What a question read from the table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadStats {
    pub queries: usize,
    pub items_read: usize,
    pub read_units: f64,
}

/// The live hosts of `cluster` and, when there is one, the live tasks `tasks` asks for (tasks
/// matter only where there is a host). Empty when the cluster has no live host: the caller says
/// why (the CLI reads on to tell a gone or unknown cluster apart).
pub async fn read_capacity_view<S: CapacityStore>(
    store: &S,
    cluster: &str,
    tasks: &TaskRead,
    now: i64,
    stats: &mut ReadStats,
) -> Result<Vec<Record>, StoreError> {
    let mut records = Vec::new();
    let hosts = ItemQuery::live(cluster, ItemKind::Hosts, now);
    read_all(store, hosts, stats, &mut records, |_| true).await?;
    if records.is_empty() {
        return Ok(records);
    }
    let query = match tasks {
        TaskRead::None => return Ok(records),
        TaskRead::Group(group) => ItemQuery::live_group(cluster, group, now),
        TaskRead::All => ItemQuery::live(cluster, ItemKind::Tasks, now),
    };
    read_all(
        store,
        query,
        stats,
        &mut records,
        |r| matches!(r, Record::Task(t) if t.is_active()),
    )
    .await?;
    Ok(records)
}

/// Every page of `query`, folded into `out` as it comes (only the records `keep` accepts).
pub async fn read_all<S: CapacityStore>(
    store: &S,
    query: ItemQuery<'_>,
    stats: &mut ReadStats,
    out: &mut Vec<Record>,
    keep: impl Fn(&Record) -> bool,
) -> Result<(), StoreError> {
    let mut start: Option<String> = None;
    loop {
        let page = store.page(&query, start.as_deref()).await?;
        stats.queries += 1;
        stats.items_read += page.scanned;
        stats.read_units += page.read_units;
        out.extend(page.records.into_iter().filter(|r| keep(r)));
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(()),
        }
    }
}
