//! The job store port: the job queue's table. Every write is conditional — a create only when the
//! job id is new, a replace only when the stored `revision` is the one the caller read — so two
//! dispatchers at once can never both move a job (and never both start it).
//!
//! Adapters: `autopilot_aws::DynamoJobStore` and [`crate::memory::InMemoryJobStore`] (same
//! semantics; tests over it exercise the conditions).

use std::future::Future;

use thiserror::Error;

use crate::job::Job;
use crate::retry::Retryable;

/// The jobs table's schema — the one place it is defined in code. `template.yaml` declares the
/// same table; `tests/template.rs` keeps the two equal.
pub mod schema {
    /// Partition key (S): the job id.
    pub const PARTITION_KEY: &str = "jobId";
    /// The global secondary index over the cluster, for one Query per wake-up.
    pub const CLUSTER_INDEX: &str = "by-cluster";
    /// Its partition key (S): the cluster **name**.
    pub const CLUSTER_ATTRIBUTE: &str = "cluster";
    /// TTL attribute (N, Unix seconds): set when a job reaches a terminal state.
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    /// Terminal jobs are kept this long for `jobs show`.
    pub const TERMINAL_RETENTION_SECONDS: i64 = 14 * 24 * 3600;
    /// Version attribute (N) the conditional writes compare.
    pub const REVISION_ATTRIBUTE: &str = "revision";
    /// State attribute (S), next to the JSON body so a console or a filter can read it.
    pub const STATE_ATTRIBUTE: &str = "state";
    /// The job as JSON (S).
    pub const BODY_ATTRIBUTE: &str = "job";
    /// The sparse index of live jobs (QUEUED, STARTING, RUNNING) by cluster, in queue order: a
    /// job item carries its two key attributes only while it is live, so DynamoDB keeps a
    /// terminal job out of the index (global secondary indexes are sparse: only the items that
    /// have the index's key attributes appear in it; DynamoDB developer guide, "Take advantage
    /// of sparse indexes").
    pub const LIVE_INDEX: &str = "by-cluster-live";
    /// Its partition key (S): the cluster name, set only while the job is live.
    pub const LIVE_CLUSTER_ATTRIBUTE: &str = "live_cluster";
    /// Its sort key (S): the queue order ([`crate::job::Job::queue_key`]).
    pub const QUEUE_KEY_ATTRIBUTE: &str = "queue_key";
    pub const BILLING_MODE: &str = "PAY_PER_REQUEST";
    /// A control item's JSON body (S); control items have no `cluster`, so the index skips them.
    pub const CONTROL_ATTRIBUTE: &str = "control";
    /// Control item keys contain this, which no job id may (`check_job_id`).
    pub const CONTROL_KEY_SEPARATOR: char = '#';
}

/// A small JSON document kept in the jobs table beside the jobs, under a key no job id can take
/// (it contains [`schema::CONTROL_KEY_SEPARATOR`]): the owned group's idle clock
/// (`scale-group#NAME`), a schedule's last run (`schedule#NAME`). Each invocation is stateless;
/// these are what one wake-up remembers for the next. Written conditionally on `revision`.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlItem {
    pub key: String,
    pub body: serde_json::Value,
    /// Incremented by every write; the condition of the next one.
    pub revision: u64,
    /// The live index partition the item is listed under (its sort key is the item's key), so
    /// [`JobStore::listed_controls`] finds it: a schedule's last run is listed under
    /// `schedule#CLUSTER` for the sweep. No cluster name contains `#`, so such a partition never
    /// mixes with a cluster's live jobs.
    pub listed_under: Option<String>,
}

impl ControlItem {
    /// The item that replaces `stored` (or creates the key): the next revision, with `body`.
    pub fn next(key: String, body: serde_json::Value, stored: Option<&ControlItem>) -> Self {
        ControlItem {
            key,
            body,
            revision: stored.map_or(1, |c| c.revision + 1),
            listed_under: None,
        }
    }

    /// The same item, listed under `partition` of the live index.
    pub fn listed_under(mut self, partition: Option<String>) -> Self {
        self.listed_under = partition;
        self
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JobStoreError {
    #[error("jobs table {operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
        /// Throttling, a 5xx, a timeout: the same request may succeed later.
        retryable: bool,
    },
    #[error("jobs table item {job_id} is unreadable: {message}")]
    Corrupt { job_id: String, message: String },
}

impl Retryable for JobStoreError {
    /// A backend failure the adapter classed retryable can succeed later; an unreadable item
    /// cannot.
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            JobStoreError::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// What a conditional create found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    Created,
    /// A job with this id exists: the stored one (the submission is a duplicate).
    Exists(Box<Job>),
}

/// What a conditional replace did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    Written,
    /// The stored revision was not the expected one (someone else moved the job): nothing written.
    Conflict,
}

pub trait JobStore: Send + Sync {
    /// PutItem with `attribute_not_exists(jobId)`.
    fn create(&self, job: &Job) -> impl Future<Output = Result<Created, JobStoreError>> + Send;

    /// GetItem, strongly consistent.
    fn get(&self, job_id: &str) -> impl Future<Output = Result<Option<Job>, JobStoreError>> + Send;

    /// PutItem with `revision = expected_revision`; `job.revision` must be the next one.
    fn replace(
        &self,
        job: &Job,
        expected_revision: u64,
    ) -> impl Future<Output = Result<Replaced, JobStoreError>> + Send;

    /// Every job of a cluster (name or ARN), any state (Query on the cluster index, all pages).
    /// The index is eventually consistent: a job written a moment ago may be missing, and a
    /// stale copy's write fails its condition; callers re-read by id before acting.
    fn cluster_jobs(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<Job>, JobStoreError>> + Send;

    /// The cluster's live jobs (QUEUED, STARTING, RUNNING), in queue order: a Query on the sparse
    /// live index, which holds a job only while it is live. What a wake-up reads: its cost
    /// follows the live queue, not the terminal jobs kept for `jobs list` and `jobs show`.
    /// Eventually consistent like [`JobStore::cluster_jobs`].
    fn live_jobs(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<Job>, JobStoreError>> + Send;

    /// GetItem of a control item, strongly consistent.
    fn get_control(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ControlItem>, JobStoreError>> + Send;

    /// PutItem of a control item: `expected_revision` `None` = only when the key is new, else
    /// only when the stored revision is that one; `item.revision` must be the next one.
    fn put_control(
        &self,
        item: &ControlItem,
        expected_revision: Option<u64>,
    ) -> impl Future<Output = Result<Replaced, JobStoreError>> + Send;

    /// The control items listed under `partition` ([`ControlItem::listed_under`]): a Query of
    /// the live index, eventually consistent (re-read by key before acting).
    fn listed_controls(
        &self,
        partition: &str,
    ) -> impl Future<Output = Result<Vec<ControlItem>, JobStoreError>> + Send;
}
