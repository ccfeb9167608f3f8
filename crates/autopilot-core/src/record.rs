//! The capacity table's vocabulary: its records (one per host and per task, keyed by cluster and
//! resource), the cluster registry's entries, and the conditions and outcomes of a conditional
//! write. The rules live in [`crate::capacity`]; the store port in [`crate::ports::capacity_store`].

use serde::Serialize;

use crate::model::{ContainerInstance, Task};

/// How long a deregistered host's tombstone is kept (longer than any event's retry window:
/// EventBridge retries for 24 h, Lambda's async queue keeps events up to 6 h).
pub const TOMBSTONE_TTL_SECS: i64 = 3 * 24 * 3600;
/// How long a STOPPED task stays in the table (long enough to answer "what ran here?").
pub const STOPPED_TASK_TTL_SECS: i64 = 24 * 3600;
/// How long the tombstone of a task the sweep found gone is kept: as for hosts, longer than any
/// event's retry window, so a late RUNNING event of the task cannot bring it back.
pub const TASK_TOMBSTONE_TTL_SECS: i64 = TOMBSTONE_TTL_SECS;
/// How long after retiring a gone cluster the sweep retires it again: a late event with a version
/// the table never saw (a host's DRAINING, delivered after the cluster was retired) would
/// otherwise leave a ghost. EventBridge retries a target for up to 24 h.
pub const LATE_EVENT_WINDOW_SECS: i64 = 24 * 3600;

/// The table's key of one record. `cluster_arn` names the cluster (ARN, or name when no ARN is
/// known); the table's partition key is the cluster **name** derived from it
/// ([`crate::arn::cluster_name`]), and the sort key is kind + resource ARN, so one Query
/// returns a whole cluster and `begins_with(sk, "instance#")` just its hosts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RecordKey {
    pub cluster_arn: String,
    pub sort_key: String,
}

pub const INSTANCE_PREFIX: &str = "instance#";
pub const TASK_PREFIX: &str = "task#";

/// The partition of the cluster registry: one item per cluster the sweep has seen (sort key
/// [`CLUSTER_PREFIX`] + name). No cluster can be called this: ECS cluster names are letters,
/// numbers, hyphens and underscores (CreateCluster's `clusterName`).
pub const REGISTRY_PARTITION: &str = "#clusters";
pub const CLUSTER_PREFIX: &str = "cluster#";

/// What the registry knows about a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterStatus {
    /// ECS has it (any status but INACTIVE): the sweep sweeps it.
    Active,
    /// ECS reports it INACTIVE (deleted) or does not know it (MISSING): the sweep turned its live
    /// items into tombstones and no longer reads its partition.
    Gone,
}

/// One entry of the cluster registry ([`REGISTRY_PARTITION`]): how the sweep finds the partitions of
/// clusters ECS no longer lists, and how `capacity show` says a cluster is gone. Written by the
/// sweep only, and only when it changes.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterEntry {
    /// The cluster's name (its partition in the table).
    pub name: String,
    pub cluster_arn: Option<String>,
    pub status: ClusterStatus,
    /// Why it is gone: `INACTIVE` (DescribeClusters: deleted) or `MISSING` (ECS does not know it).
    pub reason: Option<String>,
    /// Unix seconds: when the sweep recorded this status.
    pub since: i64,
    /// Gone clusters: the live hosts and tasks the sweep turned into tombstones.
    pub retired_hosts: u64,
    pub retired_tasks: u64,
    /// TTL (gone clusters: as long as the tombstones of their items).
    pub expires_at: Option<i64>,
}

impl ClusterEntry {
    pub fn active(name: &str, cluster_arn: Option<String>, now: i64) -> Self {
        ClusterEntry {
            name: name.to_string(),
            cluster_arn,
            status: ClusterStatus::Active,
            reason: None,
            since: now,
            retired_hosts: 0,
            retired_tasks: 0,
            expires_at: None,
        }
    }
}

/// One container instance in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceRecord {
    pub cluster_arn: String,
    pub instance: ContainerInstance,
    /// ECS's `updatedAt` from the event, or when the sweep read it.
    pub updated_at: Option<String>,
    /// Deregistered: kept only to reject older events until it expires.
    pub tombstone: bool,
    /// TTL, Unix epoch seconds.
    pub expires_at: Option<i64>,
}

/// One task in the table: the task as ECS reports it, and what the table adds. As
/// [`InstanceRecord`] embeds the host, this embeds the [`Task`]; the record's `cluster_arn` is the
/// cluster (`task.cluster_arn` is not stored: [`TaskRecord::new`] clears it, so a record read back
/// equals the one written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub cluster_arn: String,
    /// `cpu`/`memory` are the task-level sizes, when the task sets them (optional on EC2).
    pub task: Task,
    /// ECS's `updatedAt` from the event (`None` from the Describe API).
    pub updated_at: Option<String>,
    /// The sweep found the task gone (ECS no longer lists it): kept only to refuse late events
    /// until it expires. Not a task on its host.
    pub tombstone: bool,
    pub expires_at: Option<i64>,
}

impl TaskRecord {
    /// The live record of `task` in `cluster_arn` (no `updated_at`, no TTL yet).
    pub fn new(cluster_arn: impl Into<String>, task: Task) -> Self {
        TaskRecord {
            cluster_arn: cluster_arn.into(),
            task: Task {
                cluster_arn: None,
                ..task
            },
            updated_at: None,
            tombstone: false,
            expires_at: None,
        }
    }

    /// Still occupying its host, as far as the table knows.
    pub fn is_active(&self) -> bool {
        !self.tombstone
            && !matches!(
                self.task.last_status.as_deref(),
                Some("STOPPED") | Some("DEPROVISIONING")
            )
    }
}

/// A task record's serialized shape: flat, the task's ARN as `task_arn` (as before the record
/// embedded [`Task`]).
impl Serialize for TaskRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            cluster_arn: &'a str,
            task_arn: &'a str,
            container_instance_arn: &'a Option<String>,
            group: &'a Option<String>,
            started_by: &'a Option<String>,
            last_status: &'a Option<String>,
            desired_status: &'a Option<String>,
            cpu: Option<i64>,
            memory: Option<i64>,
            launch_type: &'a Option<String>,
            version: Option<i64>,
            updated_at: &'a Option<String>,
            tombstone: bool,
            expires_at: Option<i64>,
        }
        let t = &self.task;
        Flat {
            cluster_arn: &self.cluster_arn,
            task_arn: &t.arn,
            container_instance_arn: &t.container_instance_arn,
            group: &t.group,
            started_by: &t.started_by,
            last_status: &t.last_status,
            desired_status: &t.desired_status,
            cpu: t.cpu,
            memory: t.memory,
            launch_type: &t.launch_type,
            version: t.version,
            updated_at: &self.updated_at,
            tombstone: self.tombstone,
            expires_at: self.expires_at,
        }
        .serialize(serializer)
    }
}

/// Why a task is not recorded, or `None` when it is. One rule for events and the sweep: Fargate
/// tasks use no container instance capacity.
pub fn task_skip_reason(task_arn: &str, launch_type: Option<&str>) -> Option<String> {
    (launch_type == Some("FARGATE"))
        .then(|| format!("task {task_arn} runs on Fargate: it uses no container instance capacity"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Instance(InstanceRecord),
    Task(TaskRecord),
}

impl Record {
    pub fn key(&self) -> RecordKey {
        match self {
            Record::Instance(r) => RecordKey {
                cluster_arn: r.cluster_arn.clone(),
                sort_key: format!("{INSTANCE_PREFIX}{}", r.instance.arn),
            },
            Record::Task(r) => RecordKey {
                cluster_arn: r.cluster_arn.clone(),
                sort_key: format!("{TASK_PREFIX}{}", r.task.arn),
            },
        }
    }

    /// A tombstone (deregistered host, task the sweep found gone): only its fence is kept.
    pub fn is_tombstone(&self) -> bool {
        match self {
            Record::Instance(i) => i.tombstone,
            Record::Task(t) => t.tombstone,
        }
    }

    pub fn version(&self) -> Option<i64> {
        match self {
            Record::Instance(r) => r.instance.version,
            Record::Task(r) => r.task.version,
        }
    }

    pub fn set_version(&mut self, version: Option<i64>) {
        match self {
            Record::Instance(r) => r.instance.version = version,
            Record::Task(r) => r.task.version = version,
        }
    }

    pub fn arn(&self) -> &str {
        match self {
            Record::Instance(r) => &r.instance.arn,
            Record::Task(r) => &r.task.arn,
        }
    }
}

/// What the stored item looked like, as far as ordering goes: `None` = absent,
/// `Some(None)` = present without a version, `Some(Some(v))` = version v.
pub type StoredVersion = Option<Option<i64>>;

/// When a write may replace the stored item (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition {
    /// Events: absent, or stored version lower than this.
    NewerThanStored(i64),
    /// Versioned snapshots: absent, or stored version lower or equal.
    AtLeastStored(i64),
    /// Version-less snapshots and sweep deletions: the item is exactly as read.
    Unchanged(StoredVersion),
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// Same version already stored: a duplicate delivery.
    Duplicate,
    /// A higher version already stored: an out-of-order delivery.
    Stale,
    /// A snapshot lost a race with an event (the item changed since the sweep read it).
    Conflict,
}
