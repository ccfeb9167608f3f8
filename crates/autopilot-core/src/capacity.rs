//! The capacity table's model and its pure rules: which record an event becomes, whether a write
//! supersedes what is stored, and what the stored records say about free capacity.
//!
//! # Ordering
//! ECS gives every container instance and task one change counter, `version`, shared by events
//! (`detail.version`) and the Describe APIs. A write carries a [`WriteCondition`]:
//! - an **event** applies only when the item is absent or holds a lower version; an equal version
//!   is a duplicate and a lower one is stale — both are successful no-ops ([`Outcome`]);
//! - a **versioned snapshot** (the sweep's Describe) applies when the stored version is lower *or
//!   equal*: PutAttributes changes attributes without an event (and, we assume, without a version
//!   bump), so an equal-version snapshot refreshes them;
//! - a **version-less snapshot** (moto's Describe has no `version`) applies only when the item is
//!   exactly as the sweep read it a moment before (absent, or the same version), and keeps that
//!   version: it never moves the counter, so it can neither hide a newer event nor let an older one
//!   in. An event that lands between the sweep's read and write wins; the next sweep catches up.
//!
//! # Storage bounds
//! A deregistered host (status INACTIVE) becomes a **tombstone** carrying its version, so a late
//! older event cannot resurrect it; tombstones and STOPPED tasks expire through the table's TTL
//! attribute (`expires_at`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;

use crate::events::{ContainerInstanceStateChange, EcsEvent, TaskStateChange};
use crate::model::{ContainerInstance, InstanceStatus};

/// How long a deregistered host's tombstone is kept (longer than any event's retry window:
/// EventBridge retries for 24 h, Lambda's async queue keeps events up to 6 h).
pub const TOMBSTONE_TTL_SECS: i64 = 3 * 24 * 3600;
/// How long a STOPPED task stays in the table (long enough to answer "what ran here?").
pub const STOPPED_TASK_TTL_SECS: i64 = 24 * 3600;

/// The table's key of one record: partition = cluster ARN, sort = kind + resource ARN, so one
/// Query returns a whole cluster and `begins_with(sk, "instance#")` just its hosts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RecordKey {
    pub cluster_arn: String,
    pub sort_key: String,
}

pub const INSTANCE_PREFIX: &str = "instance#";
pub const TASK_PREFIX: &str = "task#";

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

/// One task in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRecord {
    pub cluster_arn: String,
    pub task_arn: String,
    pub container_instance_arn: Option<String>,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    /// Task-level CPU units, when the task sets them (optional on EC2).
    pub cpu: Option<i64>,
    /// Task-level memory MiB, when the task sets it (optional on EC2).
    pub memory: Option<i64>,
    pub launch_type: Option<String>,
    pub version: Option<i64>,
    pub updated_at: Option<String>,
    pub expires_at: Option<i64>,
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
                sort_key: format!("{TASK_PREFIX}{}", r.task_arn),
            },
        }
    }

    pub fn version(&self) -> Option<i64> {
        match self {
            Record::Instance(r) => r.instance.version,
            Record::Task(r) => r.version,
        }
    }

    pub fn set_version(&mut self, version: Option<i64>) {
        match self {
            Record::Instance(r) => r.instance.version = version,
            Record::Task(r) => r.version = version,
        }
    }

    pub fn arn(&self) -> &str {
        match self {
            Record::Instance(r) => &r.instance.arn,
            Record::Task(r) => &r.task_arn,
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

/// The pure rule behind every conditional write (the in-memory store applies it directly; the
/// DynamoDB adapter expresses the same rule as a ConditionExpression and classifies failures with it).
pub fn outcome(condition: WriteCondition, stored: StoredVersion) -> Outcome {
    match condition {
        WriteCondition::NewerThanStored(v) => match stored {
            None | Some(None) => Outcome::Applied,
            Some(Some(s)) if s < v => Outcome::Applied,
            Some(Some(s)) if s == v => Outcome::Duplicate,
            Some(Some(_)) => Outcome::Stale,
        },
        WriteCondition::AtLeastStored(v) => match stored {
            None | Some(None) => Outcome::Applied,
            Some(Some(s)) if s <= v => Outcome::Applied,
            Some(Some(_)) => Outcome::Stale,
        },
        WriteCondition::Unchanged(seen) => {
            if seen == stored {
                Outcome::Applied
            } else {
                Outcome::Conflict
            }
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error(
        "{kind} event for {arn} has no detail.version; it cannot be ordered, so it is not recorded"
    )]
    MissingVersion { kind: &'static str, arn: String },
    #[error("{arn} does not belong to cluster {cluster_arn} (an ARN from another cluster, region or account)")]
    ForeignArn { arn: String, cluster_arn: String },
    #[error("task {arn} has an invalid {field} {value:?} (expected an integer)")]
    InvalidSize {
        arn: String,
        field: &'static str,
        value: String,
    },
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Write this record with this condition (exactly one write).
    Write(Box<Record>, WriteCondition),
    /// Nothing to record, and why (logged).
    Skip(String),
}

/// Turns an event into the one write it causes, or a reasoned skip. `now` is Unix seconds (for TTLs).
pub fn plan_event(event: &EcsEvent, now: i64) -> Result<Plan, RecordError> {
    match event {
        EcsEvent::ContainerInstanceStateChange(e) => {
            let (record, version) = instance_record(&e.detail, now)?;
            Ok(Plan::Write(
                Box::new(record),
                WriteCondition::NewerThanStored(version),
            ))
        }
        EcsEvent::TaskStateChange(e) => {
            if e.detail.launch_type.as_deref() == Some("FARGATE") {
                return Ok(Plan::Skip(format!(
                    "task {} runs on Fargate: it uses no container instance capacity",
                    e.detail.task_arn
                )));
            }
            let (record, version) = task_record(&e.detail, now)?;
            Ok(Plan::Write(
                Box::new(record),
                WriteCondition::NewerThanStored(version),
            ))
        }
        EcsEvent::Scheduled(_) => Ok(Plan::Skip("scheduled event: handled by the sweep".into())),
        EcsEvent::Other { detail_type, .. } => Ok(Plan::Skip(format!(
            "detail-type {detail_type:?} is not recorded"
        ))),
    }
}

fn instance_record(
    d: &ContainerInstanceStateChange,
    now: i64,
) -> Result<(Record, i64), RecordError> {
    check_same_cluster(
        &d.container_instance_arn,
        "container-instance",
        &d.cluster_arn,
    )?;
    let version = d.version.ok_or_else(|| RecordError::MissingVersion {
        kind: "container instance",
        arn: d.container_instance_arn.clone(),
    })?;
    let instance = d.to_container_instance();
    Ok((
        instance_to_record(&d.cluster_arn, instance, d.updated_at.clone(), now),
        version,
    ))
}

/// Wraps a container instance (from an event or a Describe) as a record, with its tombstone and TTL.
pub fn instance_to_record(
    cluster_arn: &str,
    mut instance: ContainerInstance,
    updated_at: Option<String>,
    now: i64,
) -> Record {
    // One canonical order, so records from events, Describe and the table compare equal.
    instance.attributes.sort_by(|a, b| a.name.cmp(&b.name));
    let tombstone = instance.status == InstanceStatus::Inactive;
    Record::Instance(InstanceRecord {
        cluster_arn: cluster_arn.to_string(),
        instance,
        updated_at,
        tombstone,
        expires_at: tombstone.then_some(now + TOMBSTONE_TTL_SECS),
    })
}

fn task_record(d: &TaskStateChange, now: i64) -> Result<(Record, i64), RecordError> {
    check_same_cluster(&d.task_arn, "task", &d.cluster_arn)?;
    if let Some(ci) = &d.container_instance_arn {
        check_same_cluster(ci, "container-instance", &d.cluster_arn)?;
    }
    let version = d.version.ok_or_else(|| RecordError::MissingVersion {
        kind: "task",
        arn: d.task_arn.clone(),
    })?;
    let size = |field: &'static str, v: &Option<String>| -> Result<Option<i64>, RecordError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| RecordError::InvalidSize {
                    arn: d.task_arn.clone(),
                    field,
                    value: s.to_string(),
                }),
        }
    };
    let record = TaskRecord {
        cluster_arn: d.cluster_arn.clone(),
        task_arn: d.task_arn.clone(),
        container_instance_arn: d.container_instance_arn.clone(),
        group: d.group.clone(),
        started_by: d.started_by.clone(),
        last_status: d.last_status.clone(),
        desired_status: d.desired_status.clone(),
        cpu: size("cpu", &d.cpu)?,
        memory: size("memory", &d.memory)?,
        launch_type: d.launch_type.clone(),
        version: Some(version),
        updated_at: d.updated_at.clone(),
        expires_at: None,
    };
    Ok((with_task_ttl(record, now), version))
}

/// STOPPED tasks expire; others do not.
pub fn with_task_ttl(mut record: TaskRecord, now: i64) -> Record {
    record.expires_at =
        (record.last_status.as_deref() == Some("STOPPED")).then_some(now + STOPPED_TASK_TTL_SECS);
    Record::Task(record)
}

/// Splits `arn:PARTITION:ecs:REGION:ACCOUNT:TYPE/REST` into (`arn:PARTITION:ecs:REGION:ACCOUNT`, TYPE, REST).
fn split_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    let fifth = colons.nth(4)?;
    let (prefix, rest) = (&arn[..fifth], &arn[fifth + 1..]);
    let (kind, tail) = rest.split_once('/')?;
    Some((prefix, kind, tail))
}

/// A resource ARN must share the cluster ARN's partition, region and account, and — in the long
/// ARN format (`container-instance/CLUSTER/ID`, `task/CLUSTER/ID`) — name the same cluster.
fn check_same_cluster(arn: &str, kind: &str, cluster_arn: &str) -> Result<(), RecordError> {
    let foreign = || RecordError::ForeignArn {
        arn: arn.to_string(),
        cluster_arn: cluster_arn.to_string(),
    };
    let (Some((c_prefix, "cluster", c_name)), Some((r_prefix, r_kind, r_tail))) =
        (split_arn(cluster_arn), split_arn(arn))
    else {
        // Not ARNs (names or ids): nothing to compare against.
        return Ok(());
    };
    if c_prefix != r_prefix || r_kind != kind {
        return Err(foreign());
    }
    match r_tail.split_once('/') {
        Some((r_cluster, _)) if r_cluster != c_name => Err(foreign()),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Query side: answers from stored records, no ECS calls.

/// One host row of `capacity show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCapacity {
    pub container_instance_arn: String,
    pub ec2_instance_id: Option<String>,
    pub status: String,
    pub agent_connected: Option<bool>,
    pub registered_cpu: Option<i64>,
    pub registered_memory: Option<i64>,
    pub remaining_cpu: Option<i64>,
    pub remaining_memory: Option<i64>,
    pub running_tasks: Option<i64>,
    pub instance_type: Option<String>,
    pub availability_zone: Option<String>,
    pub version: Option<i64>,
}

/// Cluster totals, computed from the host records of one Query (not maintained as a counter:
/// nothing to keep consistent under concurrent writers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub hosts: usize,
    /// ACTIVE with a connected agent: where new tasks can go.
    pub schedulable_hosts: usize,
    pub registered_cpu: i64,
    pub registered_memory: i64,
    /// Remaining on schedulable hosts only.
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    pub running_tasks: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterCapacity {
    pub cluster: String,
    pub hosts: Vec<HostCapacity>,
    pub totals: Totals,
}

fn attr<'a>(ci: &'a ContainerInstance, name: &str) -> Option<&'a str> {
    ci.attribute(name).and_then(|a| a.value.as_deref())
}

/// True for hosts new tasks can be placed on.
pub fn schedulable(ci: &ContainerInstance) -> bool {
    ci.status == InstanceStatus::Active && ci.agent_connected == Some(true)
}

/// Live (non-tombstone) host records, sorted by EC2 id then ARN.
pub fn live_instances(records: &[Record]) -> Vec<&InstanceRecord> {
    let mut out: Vec<&InstanceRecord> = records
        .iter()
        .filter_map(|r| match r {
            Record::Instance(i) if !i.tombstone => Some(i),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| {
        (a.instance.ec2_instance_id.as_deref(), &a.instance.arn)
            .cmp(&(b.instance.ec2_instance_id.as_deref(), &b.instance.arn))
    });
    out
}

pub fn cluster_capacity(cluster: &str, records: &[Record]) -> ClusterCapacity {
    let mut totals = Totals::default();
    let hosts: Vec<HostCapacity> = live_instances(records)
        .into_iter()
        .map(|r| {
            let ci = &r.instance;
            totals.hosts += 1;
            totals.registered_cpu += ci.registered.cpu.unwrap_or(0);
            totals.registered_memory += ci.registered.memory.unwrap_or(0);
            totals.running_tasks += ci.running_tasks_count.unwrap_or(0);
            if schedulable(ci) {
                totals.schedulable_hosts += 1;
                totals.remaining_cpu += ci.remaining.cpu.unwrap_or(0);
                totals.remaining_memory += ci.remaining.memory.unwrap_or(0);
            }
            HostCapacity {
                container_instance_arn: ci.arn.clone(),
                ec2_instance_id: ci.ec2_instance_id.clone(),
                status: ci.status.to_string(),
                agent_connected: ci.agent_connected,
                registered_cpu: ci.registered.cpu,
                registered_memory: ci.registered.memory,
                remaining_cpu: ci.remaining.cpu,
                remaining_memory: ci.remaining.memory,
                running_tasks: ci.running_tasks_count,
                instance_type: attr(ci, "ecs.instance-type").map(str::to_string),
                availability_zone: attr(ci, "ecs.availability-zone").map(str::to_string),
                version: ci.version,
            }
        })
        .collect();
    ClusterCapacity {
        cluster: cluster.to_string(),
        hosts,
        totals,
    }
}

/// The placement engine's view of the schedulable hosts: remaining CPU, memory and ports, plus the
/// groups of the tasks the table says are on each host (for `task:group` and `distinctInstance`).
pub fn placement_hosts(records: &[Record]) -> Vec<ecs_cluster_query::Host> {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in records {
        if let Record::Task(t) = r {
            let active = !matches!(
                t.last_status.as_deref(),
                Some("STOPPED") | Some("DEPROVISIONING")
            );
            if let (true, Some(ci), Some(g)) = (active, &t.container_instance_arn, &t.group) {
                groups.entry(ci.as_str()).or_default().push(g.clone());
            }
        }
    }
    live_instances(records)
        .into_iter()
        .filter(|r| schedulable(&r.instance))
        .map(|r| {
            let ci = &r.instance;
            let used_ports: BTreeSet<u16> = ci
                .remaining
                .ports
                .iter()
                .filter_map(|p| p.trim().parse::<u16>().ok())
                .collect();
            ecs_cluster_query::Host {
                id: ci.arn.clone(),
                attributes: ci
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.value.clone()))
                    .collect(),
                ec2_instance_id: ci.ec2_instance_id.clone(),
                agent_connected: ci.agent_connected,
                agent_version: ci.agent_version.clone(),
                registered_at: ci.registered_at,
                running_tasks_count: ci.running_tasks_count,
                task_groups: groups.get(ci.arn.as_str()).cloned().unwrap_or_default(),
                remaining_cpu: ci.remaining.cpu.unwrap_or(0),
                remaining_memory: ci.remaining.memory.unwrap_or(0),
                used_ports,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_table() {
        use Outcome::*;
        use WriteCondition::*;
        let cases = [
            (NewerThanStored(5), None, Applied),
            (NewerThanStored(5), Some(None), Applied),
            (NewerThanStored(5), Some(Some(4)), Applied),
            (NewerThanStored(5), Some(Some(5)), Duplicate),
            (NewerThanStored(5), Some(Some(6)), Stale),
            (AtLeastStored(5), None, Applied),
            (AtLeastStored(5), Some(Some(5)), Applied),
            (AtLeastStored(5), Some(Some(6)), Stale),
            (Unchanged(None), None, Applied),
            (Unchanged(None), Some(Some(1)), Conflict),
            (Unchanged(Some(Some(3))), Some(Some(3)), Applied),
            (Unchanged(Some(Some(3))), Some(Some(4)), Conflict),
            (Unchanged(Some(None)), Some(None), Applied),
            (Unchanged(Some(Some(3))), None, Conflict),
        ];
        for (cond, stored, want) in cases {
            assert_eq!(outcome(cond, stored), want, "{cond:?} over {stored:?}");
        }
    }

    #[test]
    fn arns_from_another_cluster_region_or_account_are_refused() {
        let c = "arn:aws:ecs:us-east-1:111:cluster/prod";
        assert!(check_same_cluster("arn:aws:ecs:us-east-1:111:task/prod/abc", "task", c).is_ok());
        assert!(
            check_same_cluster("arn:aws:ecs:us-east-1:111:task/abc", "task", c).is_ok(),
            "short format"
        );
        assert!(
            check_same_cluster("arn:aws:ecs:us-east-1:111:task/staging/abc", "task", c).is_err()
        );
        assert!(check_same_cluster("arn:aws:ecs:eu-west-1:111:task/prod/abc", "task", c).is_err());
        assert!(check_same_cluster("arn:aws:ecs:us-east-1:222:task/prod/abc", "task", c).is_err());
        assert!(check_same_cluster(
            "arn:aws:ecs:us-east-1:111:container-instance/prod/abc",
            "task",
            c
        )
        .is_err());
        assert!(
            check_same_cluster("abc", "task", "prod").is_ok(),
            "ids and names are not checked"
        );
    }
}
