//! The capacity store port: conditional writes of the capacity table, reads by key range and page
//! (hosts without tasks, live items only, one page at a time), the cluster registry, and the
//! table's schema. Adapters: `autopilot_aws::DynamoCapacityStore` and
//! [`crate::memory::InMemoryCapacityStore`]; both apply [`crate::capacity::outcome`] (the DynamoDB
//! one as a ConditionExpression), so tests over the in-memory store exercise the table's rule.

use std::future::Future;

use thiserror::Error;

use crate::retry::Retryable;

use crate::record::{
    ClusterEntry, Outcome, Record, RecordKey, WriteCondition, INSTANCE_PREFIX, TASK_PREFIX,
};

/// The capacity table's schema — the one place it is defined in code. `template.yaml` declares the
/// same table; a test keeps the two equal.
pub mod schema {
    /// Partition key (S): the cluster **name** (unique per account and region, and what people type).
    pub const PARTITION_KEY: &str = "pk";
    /// Sort key (S): `instance#<container instance ARN>` or `task#<task ARN>`.
    pub const SORT_KEY: &str = "sk";
    /// TTL attribute (N, Unix seconds): set on tombstones and STOPPED tasks.
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    /// On-demand: event traffic is bursty (a deployment, a scale-out) and idle most of the time.
    pub const BILLING_MODE: &str = "PAY_PER_REQUEST";
    /// Version attribute (N) the conditional writes compare.
    pub const VERSION_ATTRIBUTE: &str = "version";
    /// The sparse global secondary index of live items: partition key [`PARTITION_KEY`], sort key
    /// [`LIVE_SORT_KEY`], projection ALL. An item is in it only while it has `live_sk`
    /// ("DynamoDB writes a corresponding index entry only if the index key value is present in
    /// the item", Sparse indexes), which the same conditional UpdateItem that sets the item's
    /// version SETs while the item is live and REMOVEs when it dies: the live view is derived from
    /// the fenced item and cannot diverge from it. Reads of it are eventually consistent.
    pub const LIVE_INDEX: &str = "live";
    /// Sort key (S) of [`LIVE_INDEX`], present only on live items
    /// ([`crate::capacity::live_index_key`]): `instance#<ARN>` for a host, `task#<group>` for a
    /// task (the group exactly: `can-place --group G` reads one key value, the tasks of G).
    pub const LIVE_SORT_KEY: &str = "live_sk";
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("capacity table {operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    #[error("capacity table item {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

impl Retryable for StoreError {
    /// A backend failure (throttling, a 5xx, a timeout) can succeed later; an unreadable item
    /// reads the same way again.
    fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { .. })
    }
}

/// Which items of a cluster's partition a read covers: a range of sort keys, so hosts are read
/// without a single task item (and the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// `instance#…`
    Hosts,
    /// `task#…`
    Tasks,
}

impl ItemKind {
    pub fn prefix(self) -> &'static str {
        match self {
            ItemKind::Hosts => INSTANCE_PREFIX,
            ItemKind::Tasks => TASK_PREFIX,
        }
    }
}

/// Which items of the range a read returns. The store applies the filter (DynamoDB: a
/// FilterExpression). It cuts what comes back, not what the read costs: DynamoDB bills a Query by
/// the items the key range reads, before the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFilter {
    /// Everything, tombstones and expired items included.
    All,
    /// Only [`crate::capacity::is_live`] items at `now`: no tombstones, no STOPPED tasks, nothing
    /// past its TTL (DynamoDB deletes expired items lazily, days later).
    Live { now: i64 },
}

/// A read of one cluster's items.
///
/// [`ItemFilter::Live`] reads the sparse index of live items ([`schema::LIVE_INDEX`]): what it
/// costs is the live items of the kind (of `group`, when set), whatever the number of tombstones
/// and STOPPED tasks. [`ItemFilter::All`] reads the table's key range, dead items included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemQuery<'a> {
    /// Name or ARN.
    pub cluster: &'a str,
    pub kind: ItemKind,
    pub filter: ItemFilter,
    /// Tasks only: just the tasks of this task group (`service:web`), read as one key value of
    /// the live index. `None`: every task.
    pub group: Option<&'a str>,
}

impl<'a> ItemQuery<'a> {
    /// The live items of one kind (the live index).
    pub fn live(cluster: &'a str, kind: ItemKind, now: i64) -> Self {
        ItemQuery {
            cluster,
            kind,
            filter: ItemFilter::Live { now },
            group: None,
        }
    }

    /// The live tasks of one task group (one key value of the live index).
    pub fn live_group(cluster: &'a str, group: &'a str, now: i64) -> Self {
        ItemQuery {
            group: Some(group),
            ..ItemQuery::live(cluster, ItemKind::Tasks, now)
        }
    }

    /// Every item of one kind, tombstones and STOPPED tasks included (the table's key range).
    pub fn all(cluster: &'a str, kind: ItemKind) -> Self {
        ItemQuery {
            cluster,
            kind,
            filter: ItemFilter::All,
            group: None,
        }
    }

    /// Whether `record` belongs to this read's group (always, without one).
    pub fn in_group(&self, record: &Record) -> bool {
        match (self.group, record) {
            (None, _) => true,
            (Some(g), Record::Task(t)) => t.task.group.as_deref().unwrap_or("") == g,
            (Some(_), Record::Instance(_)) => false,
        }
    }
}

/// One page of a read (one request): records in key order, and the cursor the next page starts
/// after (`None` on the last page; opaque: give it back to the same store's
/// [`CapacityStore::page`]). A page can be empty and still have a next one (every item it read
/// was filtered out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    pub next: Option<String>,
    /// Items the request read before the filter (DynamoDB's ScannedCount): what it is billed for.
    pub scanned: usize,
    /// Read units the request consumed, as the store reports them (DynamoDB's ConsumedCapacity;
    /// 0 where the store reports none, as the in-memory one).
    pub read_units: f64,
}

pub trait CapacityStore: Send + Sync {
    /// One conditional write (UpdateItem): when `condition` holds, the item becomes `record` —
    /// except that a host record without `registered_at` keeps the stored one (a thin event
    /// without `registeredAt`; see [`crate::capacity`]). Never more than one request per call.
    fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// One conditional UpdateItem that makes the stored item a tombstone in place, when it is
    /// still as `seen` (its version, or present without one): `tombstone` set, `expires_at`, and
    /// for a host status `INACTIVE`; the fence (identity, version, status) is kept, the payload
    /// dropped ([`crate::capacity::fence_of`]), and the item leaves the live index. The sweep's
    /// removal, without holding the record it removes.
    fn tombstone(
        &self,
        key: &RecordKey,
        seen: Option<i64>,
        expires_at: i64,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// One page of the items `query` selects, starting after `start` (the previous page's
    /// `next`; `None` for the first page). Callers process a page and drop it.
    fn page(
        &self,
        query: &ItemQuery<'_>,
        start: Option<&str>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Every entry of the cluster registry (one small partition).
    fn clusters(&self) -> impl Future<Output = Result<Vec<ClusterEntry>, StoreError>> + Send;

    /// The registry entry of one cluster (name or ARN).
    fn cluster_entry(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Option<ClusterEntry>, StoreError>> + Send;

    /// Registers a cluster known from an event: writes `entry` only when the registry has no
    /// entry for it (one conditional UpdateItem); `true` when it wrote. Never overwrites what the
    /// sweep wrote (a GONE entry stays GONE).
    fn register_cluster(
        &self,
        entry: &ClusterEntry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes a registry entry (one UpdateItem; the sweep is its other writer).
    fn put_cluster(
        &self,
        entry: &ClusterEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every page of `query`, collected. For small reads and tests: production paths stream
    /// [`CapacityStore::page`] instead.
    fn records(
        &self,
        query: ItemQuery<'_>,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send {
        async move {
            let mut out = Vec::new();
            let mut start: Option<String> = None;
            loop {
                let page = self.page(&query, start.as_deref()).await?;
                out.extend(page.records);
                match page.next {
                    Some(next) => start = Some(next),
                    None => return Ok(out),
                }
            }
        }
    }

    /// Every record of a cluster (name or ARN), hosts then tasks, tombstones and stopped tasks
    /// included: the whole partition, for tests and small tools.
    fn cluster_records(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send {
        async move {
            let mut out = self
                .records(ItemQuery::all(cluster, ItemKind::Hosts))
                .await?;
            out.extend(
                self.records(ItemQuery::all(cluster, ItemKind::Tasks))
                    .await?,
            );
            Ok(out)
        }
    }
}
