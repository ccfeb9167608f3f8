//! The capacity store port: conditional writes and reads of the capacity table, and the table's
//! schema. Adapters: `autopilot_aws::DynamoCapacityStore` and
//! [`crate::memory::InMemoryCapacityStore`]; both apply [`crate::capacity::outcome`] (the DynamoDB
//! one as a ConditionExpression), so tests over the in-memory store exercise the table's rule.

use std::future::Future;

use thiserror::Error;

use crate::record::{Outcome, Record, RecordKey, WriteCondition};

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
