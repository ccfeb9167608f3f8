//! The capacity store in memory, with DynamoDB's conditional-write semantics; counts requests.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::arn::cluster_name;
use crate::capacity::{
    keep_registered_at, outcome, Outcome, Record, RecordKey, StoredVersion, WriteCondition,
};
use crate::ports::capacity_store::{CapacityStore, StoreError};

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
        cluster_name(&key.cluster_arn).to_string(),
        key.sort_key.clone(),
    )
}

/// The write rule both stores share: a host record without `registered_at` keeps the stored one.
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
        let pk = cluster_name(cluster);
        Ok(self
            .items()
            .iter()
            .filter(|((p, _), _)| p == pk)
            .map(|(_, r)| r.clone())
            .collect())
    }
}
