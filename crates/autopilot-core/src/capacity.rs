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
//! # Tombstones and storage bounds
//! A deregistered host (status INACTIVE) becomes a **tombstone** carrying its version, so a late
//! older event cannot resurrect it. The sweep removes what ECS no longer lists the same way: a
//! host or task that is gone becomes a tombstone carrying the **highest version the table saw**
//! for it, so a late event with the same or a lower version is refused (duplicate / stale) like
//! any other. A newer event still applies (it is information the table never had); the next
//! sweep removes the item again if ECS still does not list it. Tombstones and STOPPED tasks expire
//! through the table's TTL attribute (`expires_at`).
//!
//! # Fields a write never erases
//! ECS's events carry no `registeredAt`; only the Describe API does. A write of a host record
//! without `registered_at` keeps the stored one (the DynamoDB adapter writes with UpdateItem:
//! SET of every present field, REMOVE of the absent optional ones except `registered_at`), so
//! `registeredAt` expressions keep working after events, and the sweep does not rewrite every host
//! an event touched.

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
/// How long the tombstone of a task the sweep found gone is kept: as for hosts, longer than any
/// event's retry window, so a late RUNNING event of the task cannot bring it back.
pub const TASK_TOMBSTONE_TTL_SECS: i64 = TOMBSTONE_TTL_SECS;

/// The table's key of one record. `cluster_arn` names the cluster (ARN, or name when no ARN is
/// known); the table's partition key is the cluster **name** derived from it
/// ([`crate::store::cluster_partition`]), and the sort key is kind + resource ARN, so one Query
/// returns a whole cluster and `begins_with(sk, "instance#")` just its hosts.
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
    /// The sweep found the task gone (ECS no longer lists it): kept only to refuse late events
    /// until it expires. Not a task on its host.
    pub tombstone: bool,
    pub expires_at: Option<i64>,
}

impl TaskRecord {
    /// Still occupying its host, as far as the table knows.
    pub fn is_active(&self) -> bool {
        !self.tombstone
            && !matches!(
                self.last_status.as_deref(),
                Some("STOPPED") | Some("DEPROVISIONING")
            )
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
            if let Some(reason) =
                task_skip_reason(&e.detail.task_arn, e.detail.launch_type.as_deref())
            {
                return Ok(Plan::Skip(reason));
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
        tombstone: false,
        expires_at: None,
    };
    Ok((with_task_ttl(record, now), version))
}

/// STOPPED tasks and task tombstones expire; others do not.
pub fn with_task_ttl(mut record: TaskRecord, now: i64) -> Record {
    record.expires_at = if record.tombstone {
        Some(now + TASK_TOMBSTONE_TTL_SECS)
    } else {
        (record.last_status.as_deref() == Some("STOPPED")).then_some(now + STOPPED_TASK_TTL_SECS)
    };
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

/// Which live hosts a query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSelection {
    /// ACTIVE with a connected agent: where ECS can place a task (and what daemon-count counts).
    Schedulable,
    /// Every host that is not a tombstone (DRAINING, disconnected, ... included).
    AllLive,
}

/// The query view of one host: its record, and the cluster query language's view of it (remaining
/// CPU, memory and ports, plus the groups of the tasks the table says run on it, for `task:group`
/// and `distinctInstance`). `can-place` and `filter` evaluate the same view.
#[derive(Debug, Clone)]
pub struct QueryHost<'a> {
    pub record: &'a InstanceRecord,
    pub host: ecs_cluster_query::Host,
}

/// The hosts of `selection`, sorted by EC2 id then ARN, each with its task groups.
pub fn query_hosts(records: &[Record], selection: HostSelection) -> Vec<QueryHost<'_>> {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in records {
        if let Record::Task(t) = r {
            if let (true, Some(ci), Some(g)) = (t.is_active(), &t.container_instance_arn, &t.group)
            {
                groups.entry(ci.as_str()).or_default().push(g.clone());
            }
        }
    }
    live_instances(records)
        .into_iter()
        .filter(|r| selection == HostSelection::AllLive || schedulable(&r.instance))
        .map(|r| {
            let ci = &r.instance;
            let used_ports: BTreeSet<u16> = ci
                .remaining
                .ports
                .iter()
                .filter_map(|p| p.trim().parse::<u16>().ok())
                .collect();
            QueryHost {
                record: r,
                host: ecs_cluster_query::Host {
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
                },
            }
        })
        .collect()
}

/// The placement engine's view of the schedulable hosts (see [`query_hosts`]).
pub fn placement_hosts(records: &[Record]) -> Vec<ecs_cluster_query::Host> {
    query_hosts(records, HostSelection::Schedulable)
        .into_iter()
        .map(|q| q.host)
        .collect()
}

/// Why no task can go anywhere, when the cluster has no schedulable host: `None` when it has one.
/// Names what the hosts are instead, e.g. `no ACTIVE connected host: 3 DRAINING, 1 disconnected`.
pub fn no_schedulable_host_reason(records: &[Record]) -> Option<String> {
    let live = live_instances(records);
    if live.iter().any(|r| schedulable(&r.instance)) {
        return None;
    }
    if live.is_empty() {
        let deregistered = records
            .iter()
            .filter(|r| matches!(r, Record::Instance(i) if i.tombstone))
            .count();
        return Some(if deregistered > 0 {
            format!("the cluster has no registered host ({deregistered} deregistered)")
        } else {
            "the cluster has no hosts".to_string()
        });
    }
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let (mut disconnected, mut agent_unknown) = (0, 0);
    for r in &live {
        let ci = &r.instance;
        if ci.status != InstanceStatus::Active {
            let status = match ci.status.as_str() {
                "" => "status unknown".to_string(),
                s => s.to_string(),
            };
            *by_status.entry(status).or_insert(0) += 1;
        } else if ci.agent_connected == Some(false) {
            disconnected += 1;
        } else {
            agent_unknown += 1;
        }
    }
    let mut parts: Vec<String> = by_status
        .into_iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    if disconnected > 0 {
        parts.push(format!("{disconnected} disconnected"));
    }
    if agent_unknown > 0 {
        parts.push(format!("{agent_unknown} with no known agent state"));
    }
    Some(format!("no ACTIVE connected host: {}", parts.join(", ")))
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

    fn host(i: usize, status: InstanceStatus, connected: Option<bool>) -> Record {
        let mut ci = ContainerInstance::new(format!("ci/{i}"), status);
        ci.ec2_instance_id = Some(format!("i-{i}"));
        ci.agent_connected = connected;
        instance_to_record("c", ci, None, 0)
    }

    fn task(i: usize, host: usize, last: &str, tombstone: bool) -> Record {
        Record::Task(TaskRecord {
            cluster_arn: "c".into(),
            task_arn: format!("t/{i}"),
            container_instance_arn: Some(format!("ci/{host}")),
            group: Some(format!("service:s{i}")),
            started_by: None,
            last_status: Some(last.into()),
            desired_status: None,
            cpu: None,
            memory: None,
            launch_type: Some("EC2".into()),
            version: Some(1),
            updated_at: None,
            tombstone,
            expires_at: None,
        })
    }

    #[test]
    fn no_schedulable_host_names_what_the_hosts_are() {
        use InstanceStatus::*;
        let draining = |i| host(i, Draining, Some(true));
        let records = vec![
            draining(1),
            draining(2),
            draining(3),
            host(4, Active, Some(false)),
            host(5, Inactive, Some(false)), // a tombstone: not counted
        ];
        assert_eq!(
            no_schedulable_host_reason(&records).as_deref(),
            Some("no ACTIVE connected host: 3 DRAINING, 1 disconnected")
        );
        let mut with_one = records.clone();
        with_one.push(host(6, Active, Some(true)));
        assert_eq!(no_schedulable_host_reason(&with_one), None);
        assert_eq!(
            no_schedulable_host_reason(&[host(5, Inactive, None)]).as_deref(),
            Some("the cluster has no registered host (1 deregistered)")
        );
        assert_eq!(
            no_schedulable_host_reason(&[task(1, 1, "RUNNING", false)]).as_deref(),
            Some("the cluster has no hosts")
        );
        assert_eq!(
            no_schedulable_host_reason(&[host(7, Registering, None), host(8, Active, None)])
                .as_deref(),
            Some("no ACTIVE connected host: 1 REGISTERING, 1 with no known agent state")
        );
    }

    #[test]
    fn query_hosts_carry_the_groups_of_active_tasks_only() {
        use InstanceStatus::*;
        let records = vec![
            host(1, Active, Some(true)),
            host(2, Draining, Some(true)),
            task(1, 1, "RUNNING", false),
            task(2, 1, "STOPPED", false),
            task(3, 1, "RUNNING", true), // the sweep found it gone
            task(4, 2, "PENDING", false),
        ];
        let schedulable = query_hosts(&records, HostSelection::Schedulable);
        assert_eq!(schedulable.len(), 1);
        assert_eq!(schedulable[0].host.task_groups, vec!["service:s1"]);
        let all = query_hosts(&records, HostSelection::AllLive);
        assert_eq!(
            all.iter().map(|q| q.host.id.as_str()).collect::<Vec<_>>(),
            ["ci/1", "ci/2"]
        );
        assert_eq!(all[1].host.task_groups, vec!["service:s4"]);
        assert_eq!(
            placement_hosts(&records),
            vec![schedulable[0].host.clone()],
            "can-place sees the schedulable view"
        );
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
