//! The capacity store in memory, with DynamoDB's semantics: conditional writes, reads by key
//! range in pages of at most [`InMemoryCapacityStore::page_items`] evaluated items (the filter runs
//! after the page is read, as DynamoDB's does), the sparse live index (an entry per item that
//! has a [`live_index_key`], kept by the same write; live reads read it, not the table), and the
//! cluster registry. Counts requests and the items each read evaluated (what DynamoDB bills).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use crate::arn::cluster_name;
use crate::capacity::{
    fence_of, is_live, keep_registered_at, live_index_key, outcome, ClusterEntry, Outcome, Record,
    RecordKey, StoredVersion, WriteCondition,
};
use crate::ports::capacity_store::{
    CapacityStore, ItemFilter, ItemKind, ItemQuery, Page, StoreError,
};

/// Items a page reads unless set otherwise: small, so tests cross page boundaries (DynamoDB's
/// pages hold up to 1 MB).
pub const DEFAULT_PAGE_ITEMS: usize = 100;

#[derive(Debug)]
pub struct InMemoryCapacityStore {
    items: Mutex<BTreeMap<(String, String), Record>>,
    /// The live index: (partition, live sort key, table sort key).
    live: Mutex<BTreeMap<(String, String, String), ()>>,
    registry: Mutex<BTreeMap<String, ClusterEntry>>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    items_read: Mutex<u64>,
    page_items: usize,
}

impl Default for InMemoryCapacityStore {
    fn default() -> Self {
        Self::with_page_items(DEFAULT_PAGE_ITEMS)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl InMemoryCapacityStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose pages read at most `page_items` items (at least 1).
    pub fn with_page_items(page_items: usize) -> Self {
        InMemoryCapacityStore {
            items: Mutex::default(),
            live: Mutex::default(),
            registry: Mutex::default(),
            calls: Mutex::default(),
            items_read: Mutex::default(),
            page_items: page_items.max(1),
        }
    }

    pub fn page_items(&self) -> usize {
        self.page_items
    }

    fn items(&self) -> MutexGuard<'_, BTreeMap<(String, String), Record>> {
        lock(&self.items)
    }

    fn record_call(&self, op: &'static str) {
        *lock(&self.calls).entry(op).or_insert(0) += 1;
    }

    /// Requests so far per operation (`UpdateItem`, `Query`), named like the DynamoDB requests
    /// the same calls make.
    pub fn count_calls(&self, operation: &str) -> usize {
        lock(&self.calls).get(operation).copied().unwrap_or(0)
    }

    /// Items the reads so far evaluated (read from a key range, before filters): what DynamoDB
    /// bills read units for.
    pub fn items_read(&self) -> u64 {
        *lock(&self.items_read)
    }

    /// Everything stored, in key order (for comparing two stores).
    pub fn snapshot(&self) -> Vec<Record> {
        self.items().values().cloned().collect()
    }

    /// Removes an item without conditions (tests: simulate a lost event).
    pub fn remove(&self, key: &RecordKey) {
        let key = storage_key(key);
        let old = self.items().remove(&key);
        self.reindex(&key, old.as_ref(), None);
    }

    /// Keeps the live index in step with one item's change (what DynamoDB does for a GSI).
    fn reindex(&self, key: &(String, String), old: Option<&Record>, new: Option<&Record>) {
        let mut live = lock(&self.live);
        if let Some(old_key) = old.and_then(live_index_key) {
            live.remove(&(key.0.clone(), old_key, key.1.clone()));
        }
        if let Some(new_key) = new.and_then(live_index_key) {
            live.insert((key.0.clone(), new_key, key.1.clone()), ());
        }
    }

    /// One page of the live index (see [`CapacityStore::page`]); the cursor is
    /// `live sort key \n table sort key`.
    fn live_page(&self, query: &ItemQuery<'_>, start: Option<&str>, now: i64) -> Page {
        let pk = cluster_name(query.cluster).to_string();
        let (prefix, exact) = match query.group {
            Some(g) if query.kind == ItemKind::Tasks => {
                (format!("{}{g}", query.kind.prefix()), true)
            }
            _ => (query.kind.prefix().to_string(), false),
        };
        let from = match start.and_then(|c| c.rsplit_once('\n')) {
            Some((live_sk, sk)) => {
                Bound::Excluded((pk.clone(), live_sk.to_string(), sk.to_string()))
            }
            None => Bound::Included((pk.clone(), prefix.clone(), String::new())),
        };
        let live = lock(&self.live);
        let items = self.items();
        let mut in_range = live
            .range((from, Bound::Unbounded))
            .take_while(|((p, l, _), _)| {
                *p == pk
                    && if exact {
                        *l == prefix
                    } else {
                        l.starts_with(&prefix)
                    }
            });
        let mut page = Page::default();
        let mut last = None;
        for ((_, live_sk, sk), _) in in_range.by_ref().take(self.page_items) {
            page.scanned += 1;
            last = Some(format!("{live_sk}\n{sk}"));
            if let Some(record) = items.get(&(pk.clone(), sk.clone())) {
                if is_live(record, now) {
                    page.records.push(record.clone());
                }
            }
        }
        if in_range.next().is_some() {
            page.next = last;
        }
        page
    }

    /// The registry entry of a cluster, as stored.
    pub fn registry_entry(&self, name: &str) -> Option<ClusterEntry> {
        lock(&self.registry).get(cluster_name(name)).cloned()
    }
}

fn storage_key(key: &RecordKey) -> (String, String) {
    (
        cluster_name(&key.cluster_arn).to_string(),
        key.sort_key.clone(),
    )
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
        self.record_call("UpdateItem");
        let key = storage_key(&record.key());
        let mut items = self.items();
        let result = outcome(condition, stored_version(&items, &key));
        if result == Outcome::Applied {
            let mut new = if record.is_tombstone() {
                fence_of(record)
            } else {
                record.clone()
            };
            keep_registered_at(&mut new, items.get(&key));
            let old = items.insert(key.clone(), new.clone());
            drop(items);
            self.reindex(&key, old.as_ref(), Some(&new));
        }
        Ok(result)
    }

    async fn tombstone(
        &self,
        key: &RecordKey,
        seen: Option<i64>,
        expires_at: i64,
    ) -> Result<Outcome, StoreError> {
        self.record_call("UpdateItem");
        let key = storage_key(key);
        let mut items = self.items();
        let result = outcome(
            WriteCondition::Unchanged(Some(seen)),
            stored_version(&items, &key),
        );
        if result == Outcome::Applied {
            // `Unchanged(Some(_))` applies only to a present item.
            let Some(old) = items.get(&key).cloned() else {
                return Ok(Outcome::Conflict);
            };
            let mut dead = old.clone();
            match &mut dead {
                Record::Instance(i) => {
                    i.tombstone = true;
                    i.expires_at = Some(expires_at);
                }
                Record::Task(t) => {
                    t.tombstone = true;
                    t.expires_at = Some(expires_at);
                }
            }
            let dead = fence_of(&dead);
            items.insert(key.clone(), dead.clone());
            drop(items);
            self.reindex(&key, Some(&old), Some(&dead));
        }
        Ok(result)
    }

    async fn page(&self, query: &ItemQuery<'_>, start: Option<&str>) -> Result<Page, StoreError> {
        self.record_call("Query");
        if let ItemFilter::Live { now } = query.filter {
            let page = self.live_page(query, start, now);
            *lock(&self.items_read) += page.scanned as u64;
            return Ok(page);
        }
        let pk = cluster_name(query.cluster).to_string();
        let prefix = query.kind.prefix();
        let from = match start {
            Some(after) => Bound::Excluded((pk.clone(), after.to_string())),
            None => Bound::Included((pk.clone(), prefix.to_string())),
        };
        let items = self.items();
        let mut in_range = items
            .range((from, Bound::Unbounded))
            .take_while(|((p, sk), _)| *p == pk && sk.starts_with(prefix));
        let mut page = Page::default();
        let mut evaluated = 0u64;
        let mut last = None;
        for ((_, sk), record) in in_range.by_ref().take(self.page_items) {
            evaluated += 1;
            last = Some(sk.clone());
            if query.in_group(record) {
                page.records.push(record.clone());
            }
        }
        if in_range.next().is_some() {
            page.next = last;
        }
        page.scanned = evaluated as usize;
        *lock(&self.items_read) += evaluated;
        Ok(page)
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, StoreError> {
        self.record_call("Query");
        Ok(lock(&self.registry).values().cloned().collect())
    }

    async fn cluster_entry(&self, cluster: &str) -> Result<Option<ClusterEntry>, StoreError> {
        self.record_call("Query");
        Ok(lock(&self.registry).get(cluster_name(cluster)).cloned())
    }

    async fn register_cluster(&self, entry: &ClusterEntry) -> Result<bool, StoreError> {
        self.record_call("UpdateItem");
        let mut registry = lock(&self.registry);
        if registry.contains_key(&entry.name) {
            return Ok(false);
        }
        registry.insert(entry.name.clone(), entry.clone());
        Ok(true)
    }

    async fn put_cluster(&self, entry: &ClusterEntry) -> Result<(), StoreError> {
        self.record_call("UpdateItem");
        lock(&self.registry).insert(entry.name.clone(), entry.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{instance_to_record, TaskRecord};
    use crate::model::{ContainerInstance, InstanceStatus};

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

    fn task(i: usize, last: &str, tombstone: bool) -> Record {
        Record::Task(TaskRecord {
            cluster_arn: CLUSTER.into(),
            task: crate::model::Task {
                arn: format!("arn:aws:ecs:us-east-1:1:task/prod/{i:04}"),
                cluster_arn: None,
                container_instance_arn: None,
                group: None,
                started_by: None,
                last_status: Some(last.into()),
                desired_status: None,
                cpu: None,
                memory: None,
                launch_type: None,
                version: Some(1),
            },
            updated_at: None,
            tombstone,
            expires_at: tombstone.then_some(10_000),
        })
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn live_reads_read_the_live_index_and_all_reads_the_key_range() {
        let store = InMemoryCapacityStore::with_page_items(4);
        block_on(async {
            for i in 0..3 {
                let ci = ContainerInstance::new(format!("ci/{i}"), InstanceStatus::Active);
                let host = instance_to_record(CLUSTER, ci, None, 0);
                store
                    .write(&host, WriteCondition::Unchanged(None))
                    .await
                    .expect("write");
            }
            for i in 0..10 {
                let last = if i % 2 == 0 { "RUNNING" } else { "STOPPED" };
                let t = task(i, last, i == 4);
                store
                    .write(&t, WriteCondition::Unchanged(None))
                    .await
                    .expect("write");
            }
            // Hosts alone: one page, no task item read.
            let before = store.items_read();
            let hosts = store
                .records(ItemQuery::live("prod", ItemKind::Hosts, 100))
                .await
                .expect("hosts");
            assert_eq!(hosts.len(), 3);
            assert_eq!(
                store.items_read() - before,
                3,
                "only the host range is read"
            );

            // Live tasks: the live index holds 4 (0, 2, 6, 8): one page, 4 read — the STOPPED
            // ones and the tombstone are not read at all.
            let query = ItemQuery::live(CLUSTER, ItemKind::Tasks, 100);
            let before = store.items_read();
            let page = store.page(&query, None).await.expect("page");
            assert_eq!(page.next, None);
            assert_eq!(store.items_read() - before, 4, "only live items are read");
            let ids: Vec<&str> = page
                .records
                .iter()
                .map(|r| &r.arn()[r.arn().len() - 4..])
                .collect();
            assert_eq!(ids, ["0000", "0002", "0006", "0008"]);
            // The table's range: 10 read over 3 pages (4, 4, 2).
            let query = ItemQuery::all(CLUSTER, ItemKind::Tasks);
            let (mut pages, mut start) = (0, None::<String>);
            let before = store.items_read();
            loop {
                let page = store.page(&query, start.as_deref()).await.expect("page");
                pages += 1;
                assert!(page.scanned <= 4, "a page reads at most page_items items");
                match page.next {
                    Some(n) => start = Some(n),
                    None => break,
                }
            }
            assert_eq!(pages, 3);
            assert_eq!(store.items_read() - before, 10);
            // Unfiltered: everything, tombstones included.
            let all = store
                .records(ItemQuery::all("prod", ItemKind::Tasks))
                .await
                .expect("all");
            assert_eq!(all.len(), 10);
        });
    }

    #[test]
    fn a_tombstone_in_place_keeps_the_fence_and_needs_the_version_seen() {
        let store = InMemoryCapacityStore::new();
        block_on(async {
            let mut ci = ContainerInstance::new("ci/1", InstanceStatus::Active);
            ci.version = Some(7);
            ci.registered_at = Some(1_700_000_000);
            let host = instance_to_record(CLUSTER, ci, None, 0);
            store
                .write(&host, WriteCondition::NewerThanStored(7))
                .await
                .expect("write");
            let key = host.key();
            assert_eq!(
                store.tombstone(&key, Some(6), 99).await.expect("call"),
                Outcome::Conflict,
                "not the version the sweep saw"
            );
            assert_eq!(
                store.tombstone(&key, Some(7), 99).await.expect("call"),
                Outcome::Applied
            );
            let Record::Instance(i) = &store.snapshot()[0] else {
                panic!()
            };
            assert!(i.tombstone);
            assert_eq!(i.expires_at, Some(99));
            assert_eq!(i.instance.status, InstanceStatus::Inactive);
            assert_eq!(i.instance.version, Some(7), "the version is kept");
            assert_eq!(i.instance.registered_at, None, "the payload is not");
            let absent = task(1, "RUNNING", false).key();
            assert_eq!(
                store.tombstone(&absent, None, 99).await.expect("call"),
                Outcome::Conflict,
                "nothing to tombstone"
            );
        });
    }
}
