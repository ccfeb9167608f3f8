//! The capacity store port, its in-memory adapter, and the capacity table's schema.
//!
//! The DynamoDB adapter lives in `autopilot-aws`; both apply [`crate::capacity::outcome`] — the
//! in-memory one directly, the DynamoDB one as a ConditionExpression — so the property tests over
//! the in-memory store exercise the same rule the table enforces.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use thiserror::Error;

use crate::capacity::{outcome, Outcome, Record, RecordKey, StoredVersion, WriteCondition};
use crate::model::arn_resource_id;

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
}

/// The partition key of a cluster given by name or ARN.
pub fn cluster_partition(cluster: &str) -> &str {
    arn_resource_id(cluster)
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

pub trait CapacityStore: Send + Sync {
    /// One conditional write (UpdateItem): when `condition` holds, the item becomes `record` —
    /// except that a host record without `registered_at` keeps the stored one (events carry no
    /// registration time; see [`crate::capacity`]). Never more than one request per call.
    fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// One conditional delete.
    fn delete(
        &self,
        key: &RecordKey,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// Every record of a cluster (name or ARN), tombstones and stopped tasks included.
    fn cluster_records(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send;
}

/// In-memory store with DynamoDB's conditional-write semantics; counts requests.
#[derive(Debug, Default)]
pub struct InMemoryCapacityStore {
    items: Mutex<BTreeMap<(String, String), Record>>,
    requests: Mutex<BTreeMap<&'static str, u64>>,
}

impl InMemoryCapacityStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn items(&self) -> MutexGuard<'_, BTreeMap<(String, String), Record>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, op: &'static str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(op)
            .or_insert(0) += 1;
    }

    /// Requests so far per operation (`UpdateItem`, `DeleteItem`, `Query`), named like the
    /// DynamoDB requests the same calls make.
    pub fn requests(&self, op: &str) -> u64 {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// Everything stored, in key order (for comparing two stores).
    pub fn snapshot(&self) -> Vec<Record> {
        self.items().values().cloned().collect()
    }

    /// Removes an item without conditions (tests: simulate a lost event).
    pub fn remove(&self, key: &RecordKey) {
        self.items().remove(&storage_key(key));
    }
}

fn storage_key(key: &RecordKey) -> (String, String) {
    (
        cluster_partition(&key.cluster_arn).to_string(),
        key.sort_key.clone(),
    )
}

/// The write rule both stores share: a host record without `registered_at` keeps the stored one.
pub fn keep_registered_at(new: &mut Record, stored: Option<&Record>) {
    if let (Record::Instance(n), Some(Record::Instance(old))) = (new, stored) {
        if n.instance.registered_at.is_none() {
            n.instance.registered_at = old.instance.registered_at;
        }
    }
}

fn stored_version(
    items: &BTreeMap<(String, String), Record>,
    key: &(String, String),
) -> StoredVersion {
    items.get(key).map(Record::version)
}

impl CapacityStore for InMemoryCapacityStore {
    async fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        self.count("UpdateItem");
        let key = storage_key(&record.key());
        let mut items = self.items();
        let result = outcome(condition, stored_version(&items, &key));
        if result == Outcome::Applied {
            let mut new = record.clone();
            keep_registered_at(&mut new, items.get(&key));
            items.insert(key, new);
        }
        Ok(result)
    }

    async fn delete(
        &self,
        key: &RecordKey,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        self.count("DeleteItem");
        let key = storage_key(key);
        let mut items = self.items();
        let result = outcome(condition, stored_version(&items, &key));
        if result == Outcome::Applied {
            items.remove(&key);
        }
        Ok(result)
    }

    async fn cluster_records(&self, cluster: &str) -> Result<Vec<Record>, StoreError> {
        self.count("Query");
        let pk = cluster_partition(cluster);
        Ok(self
            .items()
            .iter()
            .filter(|((p, _), _)| p == pk)
            .map(|(_, r)| r.clone())
            .collect())
    }
}
