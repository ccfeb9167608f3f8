//! The capacity table's pure rules: which write an event causes ([`plan_event`]) and whether a
//! write supersedes what is stored ([`outcome`]: events need a higher `version`, versioned
//! snapshots a higher or equal one, version-less snapshots an unchanged item; tombstones keep the
//! highest version seen; a write other than a tombstone never erases `registered_at`), which items are live
//! ([`is_live`]), which items the live index holds ([`live_index_key`]), what a tombstone keeps
//! ([`fence_of`]), which identities an event may write ([`check_identity`]) and when two records
//! are the same state ([`state_fingerprint`]).
//!
//! **Ordering** — one versioned item per host and per task, and exactly one conditional write per
//! event, so events delivered late, twice or out of order leave the table as in-order delivery
//! would ([`outcome`], `outcome_table` below; the shuffled-delivery property test is in
//! `tests/capacity_recorder.rs`). A refused write is a successful no-op, logged as what it is:
//!
//! | write | condition | stored item | result |
//! |---|---|---|---|
//! | an event, `detail.version` v | newer than stored | none, or one without a version | applied |
//! | | | version < v | applied |
//! | | | version = v | duplicate: no-op |
//! | | | version > v (a tombstone's included) | stale: no-op |
//! | a sweep snapshot with a version v (Describe's version is the event's) | at least stored | none, no version, version ≤ v | applied: the same version too, since PutAttributes changes attributes without an event |
//! | | | version > v | stale |
//! | a snapshot without a version (moto's Describe) | unchanged since the sweep read it | as read | applied, the stored version kept |
//! | | | changed (an event landed in between) | conflict: the event wins |
//! | the sweep's tombstone of an item ECS no longer lists | unchanged since the sweep read it | as read | applied: a tombstone keeping the highest version the table saw |
//! | | | changed | conflict: left for the next sweep |
//!
//! So a late event with a tombstone's version or a lower one is refused (a retried RUNNING event
//! cannot resurrect a stopped task, nor an old ACTIVE event a deregistered host), while a newer one
//! — one the table never saw — applies; if ECS still does not list the resource, the next sweep
//! removes it again. Only a resource Describe reports MISSING is gone for the sweep (any other
//! failure fails the cluster's sweep before any tombstone). What one event writes ([`plan_event`],
//! `ordering_table` below):
//!
//! | event | write |
//! |---|---|
//! | a host, ACTIVE or DRAINING | its record, live, no TTL |
//! | a host, INACTIVE (deregistered) | a tombstone: the fence only ([`fence_of`]), expires after 3 days |
//! | a host without `registeredAt` | its record; the stored registration time is kept ([`keep_registered_at`]), never erased |
//! | a task, PENDING or RUNNING | its record, live, no TTL |
//! | a task, STOPPED | its record, not live, expires after 1 day |
//! | a Fargate task | nothing: no host capacity |
//! | no `detail.version` | refused: cannot be ordered |
//! | an ARN of another cluster, region or account | refused |
//! | a task size that is not an integer | refused |
//! | a malformed identity (table below), an ARN too long for a DynamoDB key (cluster name over 2,048 bytes, sort key over 1,024) | refused, naming its JSON path: DynamoDB would refuse such a key on every retry |
//! | the scheduled event, another detail type | nothing (the sweep handles the schedule) |
//!
//! Identities ([`check_identity`], `identity_table` below):
//!
//! | field | accepted | refused (examples) |
//! |---|---|---|
//! | `detail.clusterArn` | `arn:P:ecs:R:ACCOUNT:cluster/NAME` | `""`, `"  "`, `prod`, `arn:aws:ecs:junk`, a task ARN |
//! | `detail.containerInstanceArn` | `…:container-instance/ID` (old), `…:container-instance/CLUSTER/ID` (new) | `""`, free text, a task ARN, an empty ID |
//! | `detail.taskArn` | `…:task/ID` (old), `…:task/CLUSTER/ID` (new) | `""`, free text, a container-instance ARN |
//!
//! P is `aws` or `aws-…`, R a region (`us-east-1`, `us-gov-west-1`), ACCOUNT twelve digits; NAME,
//! CLUSTER and ID are 1–255 letters, digits, hyphens and underscores (CreateCluster's
//! `clusterName` rule; ids are hex or UUIDs).

use thiserror::Error;

use crate::arn::same_cluster;
use crate::events::{ContainerInstanceStateChange, EcsEvent, TaskStateChange};
use crate::model::{ContainerInstance, InstanceStatus, Task};
use crate::record::{
    task_skip_reason, InstanceRecord, Outcome, Record, StoredVersion, TaskRecord, WriteCondition,
    INSTANCE_PREFIX, STOPPED_TASK_TTL_SECS, TASK_PREFIX, TASK_TOMBSTONE_TTL_SECS,
    TOMBSTONE_TTL_SECS,
};

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
    #[error(
        "{arn} is too long to be a key of the capacity table ({bytes} bytes; DynamoDB allows {limit})"
    )]
    KeyTooLong {
        arn: String,
        bytes: usize,
        limit: usize,
    },
    #[error("{path} {value:?} is not {expected}; the event is not recorded")]
    InvalidIdentity {
        /// JSON path of the field, e.g. `detail.clusterArn`.
        path: &'static str,
        value: String,
        expected: &'static str,
    },
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

/// DynamoDB's key size limits (partition key 2,048 bytes, sort key 1,024): an event whose ARNs
/// exceed them is one DynamoDB would refuse on every retry, so it is rejected before any write.
pub const PARTITION_KEY_LIMIT: usize = 2048;
pub const SORT_KEY_LIMIT: usize = 1024;

/// Turns an event into the one write it causes, or a reasoned skip. `now` is Unix seconds (for TTLs).
pub fn plan_event(event: &EcsEvent, now: i64) -> Result<Plan, RecordError> {
    let plan = plan_event_unchecked(event, now)?;
    if let Plan::Write(record, _) = &plan {
        let key = record.key();
        let partition = crate::arn::cluster_name(&key.cluster_arn);
        for (arn, bytes, limit) in [
            (&key.cluster_arn, partition.len(), PARTITION_KEY_LIMIT),
            (&key.sort_key, key.sort_key.len(), SORT_KEY_LIMIT),
        ] {
            if bytes > limit {
                return Err(RecordError::KeyTooLong {
                    arn: arn.chars().take(120).collect::<String>() + "…",
                    bytes,
                    limit,
                });
            }
        }
    }
    Ok(plan)
}

fn plan_event_unchecked(event: &EcsEvent, now: i64) -> Result<Plan, RecordError> {
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
    check_identity("detail.clusterArn", &d.cluster_arn, ArnKind::Cluster)?;
    check_identity(
        "detail.containerInstanceArn",
        &d.container_instance_arn,
        ArnKind::ContainerInstance,
    )?;
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
    let record = Record::Instance(InstanceRecord {
        cluster_arn: cluster_arn.to_string(),
        instance,
        updated_at,
        tombstone,
        expires_at: tombstone.then_some(now + TOMBSTONE_TTL_SECS),
    });
    if tombstone {
        fence_of(&record)
    } else {
        record
    }
}

fn task_record(d: &TaskStateChange, now: i64) -> Result<(Record, i64), RecordError> {
    check_identity("detail.clusterArn", &d.cluster_arn, ArnKind::Cluster)?;
    check_identity("detail.taskArn", &d.task_arn, ArnKind::Task)?;
    if let Some(ci) = &d.container_instance_arn {
        check_identity(
            "detail.containerInstanceArn",
            ci,
            ArnKind::ContainerInstance,
        )?;
    }
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
    let task = Task {
        arn: d.task_arn.clone(),
        cluster_arn: None,
        container_instance_arn: d.container_instance_arn.clone(),
        group: d.group.clone(),
        started_by: d.started_by.clone(),
        last_status: d.last_status.clone(),
        desired_status: d.desired_status.clone(),
        cpu: size("cpu", &d.cpu)?,
        memory: size("memory", &d.memory)?,
        launch_type: d.launch_type.clone(),
        version: Some(version),
    };
    let record = TaskRecord {
        updated_at: d.updated_at.clone(),
        ..TaskRecord::new(d.cluster_arn.clone(), task)
    };
    Ok((with_task_ttl(record, now), version))
}

/// STOPPED tasks and task tombstones expire; others do not. A tombstone keeps only its fence
/// ([`fence_of`]).
pub fn with_task_ttl(mut record: TaskRecord, now: i64) -> Record {
    record.expires_at = if record.tombstone {
        Some(now + TASK_TOMBSTONE_TTL_SECS)
    } else {
        (record.task.last_status.as_deref() == Some("STOPPED"))
            .then_some(now + STOPPED_TASK_TTL_SECS)
    };
    if record.tombstone {
        fence_of(&Record::Task(record))
    } else {
        Record::Task(record)
    }
}

/// What a tombstone keeps: its identity (cluster, ARN) and its **fence** — `version`, status
/// (`INACTIVE` for a host, the last status for a task), `tombstone`, `expires_at` — and nothing
/// else. The fence is all that refuses a late event; the payload (a host's attributes and
/// resources, about 1–3 KB) would only be stored, and read by every unfiltered read, for days.
/// Both stores apply it to every tombstone they write (events, Describe, the sweep's removals).
pub fn fence_of(record: &Record) -> Record {
    match record {
        Record::Instance(i) => {
            let mut ci = ContainerInstance::new(i.instance.arn.clone(), InstanceStatus::Inactive);
            ci.version = i.instance.version;
            Record::Instance(InstanceRecord {
                cluster_arn: i.cluster_arn.clone(),
                instance: ci,
                updated_at: None,
                tombstone: true,
                expires_at: i.expires_at,
            })
        }
        Record::Task(t) => Record::Task(TaskRecord {
            cluster_arn: t.cluster_arn.clone(),
            task: Task {
                arn: t.task.arn.clone(),
                cluster_arn: None,
                container_instance_arn: None,
                group: None,
                started_by: None,
                last_status: t.task.last_status.clone(),
                desired_status: None,
                cpu: None,
                memory: None,
                launch_type: None,
                version: t.task.version,
            },
            updated_at: None,
            tombstone: true,
            expires_at: t.expires_at,
        }),
    }
}

/// The sort key of a record in the live index ([`crate::ports::capacity_store::schema::LIVE_INDEX`]),
/// or `None` for a dead item (a tombstone, a STOPPED task), which the index does not hold. Set
/// and removed by the same conditional write that sets the version, so the index is the live
/// view of the fenced items. `instance#<ARN>` for a host; `task#<group>` for a task, the group
/// exactly (empty without one), so the tasks of one group are one key value.
///
/// [`is_live`] at `now` = this is `Some` and the item is not past its TTL (live items carry none:
/// only dead ones expire; the reads filter on it anyway).
pub fn live_index_key(record: &Record) -> Option<String> {
    match record {
        Record::Instance(i) if !i.tombstone => Some(format!("{INSTANCE_PREFIX}{}", i.instance.arn)),
        Record::Task(t) if !t.tombstone && t.task.last_status.as_deref() != Some("STOPPED") => {
            Some(format!(
                "{TASK_PREFIX}{}",
                t.task.group.as_deref().unwrap_or_default()
            ))
        }
        _ => None,
    }
}

pub use crate::arn::{is_ecs_arn, ArnKind};

/// Refuses an identity field that is not a well-formed ECS ARN of its kind, naming its JSON path.
pub fn check_identity(path: &'static str, value: &str, kind: ArnKind) -> Result<(), RecordError> {
    if is_ecs_arn(value, kind) {
        Ok(())
    } else {
        Err(RecordError::InvalidIdentity {
            path,
            value: value.chars().take(120).collect(),
            expected: kind.expected(),
        })
    }
}

/// Refuses a resource ARN of another cluster, region or account ([`same_cluster`]).
fn check_same_cluster(arn: &str, kind: &str, cluster_arn: &str) -> Result<(), RecordError> {
    if same_cluster(arn, kind, cluster_arn) {
        Ok(())
    } else {
        Err(RecordError::ForeignArn {
            arn: arn.to_string(),
            cluster_arn: cluster_arn.to_string(),
        })
    }
}

/// Whether an item still describes something on the cluster at `now`: not a tombstone, not a
/// STOPPED task, not past its TTL (DynamoDB deletes expired items lazily, up to days later, and
/// until then reads return them). The reads' `Live` filter, and the items a sweep may tombstone.
/// A DEPROVISIONING task is live here (it is not STOPPED yet), though not on its host for
/// placement ([`TaskRecord::is_active`]).
pub fn is_live(record: &Record, now: i64) -> bool {
    let (tombstone, expires_at) = match record {
        Record::Instance(i) => (i.tombstone, i.expires_at),
        Record::Task(t) => (
            t.tombstone || t.task.last_status.as_deref() == Some("STOPPED"),
            t.expires_at,
        ),
    };
    !tombstone && expires_at.is_none_or(|at| at > now)
}

/// A 64-bit fingerprint of everything a record says but its `updated_at` stamp: two records
/// with the same fingerprint are the same state for the table's purposes. The sweep keeps one
/// per live item instead of the item, and writes a snapshot only when its fingerprint differs.
/// (A collision would skip one write until the state changes again: odds of 2^-64 per item.)
pub fn state_fingerprint(record: &Record) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same record always gives the same fingerprint in a process
    // (fingerprints are compared within one sweep, never stored).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match record {
        Record::Instance(i) => {
            0u8.hash(&mut h);
            (&i.cluster_arn, &i.instance, i.tombstone, i.expires_at).hash(&mut h);
        }
        Record::Task(t) => {
            1u8.hash(&mut h);
            (&t.cluster_arn, &t.task, t.tombstone, t.expires_at).hash(&mut h);
        }
    }
    h.finish()
}

/// The write rule both stores share: a host record without `registered_at` keeps the stored one.
pub fn keep_registered_at(new: &mut Record, stored: Option<&Record>) {
    if let (Record::Instance(n), Some(Record::Instance(old))) = (new, stored) {
        // A tombstone keeps its fence only (DynamoDB's write removes the rest).
        if n.instance.registered_at.is_none() && !n.tombstone {
            n.instance.registered_at = old.instance.registered_at;
        }
    }
}

/// The record of a task as the Describe API reports it (the sweep; the dispatcher without a
/// capacity table).
pub fn task_to_record(cluster_arn: &str, t: Task, now: i64) -> Record {
    with_task_ttl(TaskRecord::new(cluster_arn, t), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(last: &str, tombstone: bool, expires_at: Option<i64>) -> Record {
        Record::Task(TaskRecord {
            cluster_arn: "c".into(),
            task: Task {
                arn: "t/1".into(),
                cluster_arn: None,
                container_instance_arn: Some("ci/1".into()),
                group: Some("service:web".into()),
                started_by: None,
                last_status: Some(last.into()),
                desired_status: Some("RUNNING".into()),
                cpu: None,
                memory: Some(256),
                launch_type: Some("EC2".into()),
                version: Some(3),
            },
            updated_at: Some("2026-11-22T06:00:00Z".into()),
            tombstone,
            expires_at,
        })
    }

    fn host(status: InstanceStatus, tombstone: bool, expires_at: Option<i64>) -> Record {
        let mut r = instance_to_record("c", ContainerInstance::new("ci/1", status), None, 0);
        if let Record::Instance(i) = &mut r {
            i.tombstone = tombstone;
            i.expires_at = expires_at;
        }
        r
    }

    #[test]
    fn live_items_table() {
        use InstanceStatus::*;
        let now = 1_000;
        let cases = [
            (host(Active, false, None), true),
            (host(Draining, false, None), true),
            (host(Inactive, true, Some(now + 10)), false),
            // Expired but not yet deleted by TTL: not live, whatever it says.
            (host(Active, false, Some(now)), false),
            (host(Active, false, Some(now + 1)), true),
            (task("RUNNING", false, None), true),
            (task("PENDING", false, None), true),
            // Not STOPPED yet: still holds its host's resources as far as the sweep goes.
            (task("DEPROVISIONING", false, None), true),
            (task("STOPPED", false, Some(now + 10)), false),
            (task("STOPPED", false, None), false),
            (task("RUNNING", true, Some(now + 10)), false),
            (task("RUNNING", false, Some(now - 1)), false),
        ];
        for (record, want) in cases {
            assert_eq!(is_live(&record, now), want, "{record:?}");
            // The live index holds what is live, less what is only past its TTL (the reads
            // filter that: DynamoDB deletes expired items lazily).
            let unexpired = match &record {
                Record::Instance(i) => i.expires_at.is_none_or(|at| at > now),
                Record::Task(t) => t.expires_at.is_none_or(|at| at > now),
            };
            assert_eq!(
                live_index_key(&record).is_some() && unexpired,
                want,
                "{record:?}"
            );
        }
        assert_eq!(
            live_index_key(&task("RUNNING", false, None)).as_deref(),
            Some("task#service:web")
        );
        assert_eq!(
            live_index_key(&host(InstanceStatus::Active, false, None)).as_deref(),
            Some("instance#ci/1")
        );
    }

    #[test]
    fn a_tombstone_keeps_its_fence_and_nothing_else() {
        let mut ci = ContainerInstance::new("ci/1", InstanceStatus::Inactive);
        ci.version = Some(9);
        ci.ec2_instance_id = Some("i-1".into());
        ci.registered_at = Some(1_700_000_000);
        ci.attributes = vec![crate::model::Attribute {
            name: "ecs.instance-type".into(),
            value: Some("t3.large".into()),
        }];
        let Record::Instance(i) = instance_to_record("c", ci, Some("t".into()), 100) else {
            panic!("a host")
        };
        assert!(i.tombstone);
        assert_eq!(i.expires_at, Some(100 + TOMBSTONE_TTL_SECS));
        assert_eq!(i.instance.version, Some(9));
        assert_eq!(i.instance.status, InstanceStatus::Inactive);
        assert!(i.instance.attributes.is_empty() && i.instance.ec2_instance_id.is_none());
        assert_eq!(i.instance.registered_at, None);
        let Record::Task(t) = fence_of(&task("RUNNING", true, Some(5))) else {
            panic!("a task")
        };
        assert_eq!(
            (
                t.task.version,
                t.task.last_status.as_deref(),
                t.tombstone,
                t.expires_at
            ),
            (Some(3), Some("RUNNING"), true, Some(5))
        );
        assert!(
            t.task.group.is_none()
                && t.task.memory.is_none()
                && t.task.container_instance_arn.is_none()
        );
        assert_eq!(live_index_key(&Record::Task(t)), None);
    }

    #[test]
    fn identity_table() {
        use ArnKind::*;
        let a = "arn:aws:ecs:us-east-1:123456789012";
        let long = "x".repeat(256);
        let cases: Vec<(String, ArnKind, bool)> = vec![
            (format!("{a}:cluster/prod"), Cluster, true),
            (format!("{a}:cluster/prod_2-b"), Cluster, true),
            (
                "arn:aws-cn:ecs:cn-north-1:123456789012:cluster/p".into(),
                Cluster,
                true,
            ),
            (
                "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:cluster/p".into(),
                Cluster,
                true,
            ),
            ("".into(), Cluster, false),
            ("   ".into(), Cluster, false),
            ("prod".into(), Cluster, false),
            ("the prod cluster".into(), Cluster, false),
            ("arn:aws:ecs:".into(), Cluster, false),
            ("arn:aws:ecs:junk".into(), Cluster, false),
            (
                "arn:aws:ecs:us-east-1:123:cluster/prod".into(),
                Cluster,
                false,
            ),
            (
                "arn:aws:ecs:us-east-1:123456789012:cluster/".into(),
                Cluster,
                false,
            ),
            (
                "arn:aws:ecs:us-east-1:123456789012:cluster/a b".into(),
                Cluster,
                false,
            ),
            (
                "arn:aws:ecs:us-east-1:123456789012:cluster/a/b".into(),
                Cluster,
                false,
            ),
            (
                "arn:aws:ecs:useast1:123456789012:cluster/p".into(),
                Cluster,
                false,
            ),
            (
                "arn:aws:sqs:us-east-1:123456789012:cluster/p".into(),
                Cluster,
                false,
            ),
            (
                "arn:foo:ecs:us-east-1:123456789012:cluster/p".into(),
                Cluster,
                false,
            ),
            (format!("{a}:cluster/{long}"), Cluster, false),
            (format!("{a}:task/prod/abc"), Cluster, false),
            (
                format!("{a}:container-instance/0f1e2d3c"),
                ContainerInstance,
                true,
            ),
            (
                format!("{a}:container-instance/prod/0f1e2d3c"),
                ContainerInstance,
                true,
            ),
            (format!("{a}:container-instance/"), ContainerInstance, false),
            (
                format!("{a}:container-instance/prod/"),
                ContainerInstance,
                false,
            ),
            (
                format!("{a}:container-instance/a/b/c"),
                ContainerInstance,
                false,
            ),
            (format!("{a}:task/prod/abc"), ContainerInstance, false),
            ("i-0123456789abcdef0".into(), ContainerInstance, false),
            (format!("{a}:task/abc"), Task, true),
            (format!("{a}:task/prod/8f9e7d6c5b4a"), Task, true),
            (format!("{a}:task/prod/abc def"), Task, false),
            (format!("{a}:container-instance/prod/abc"), Task, false),
            ("".into(), Task, false),
        ];
        for (value, kind, want) in cases {
            assert_eq!(is_ecs_arn(&value, kind), want, "{value:?} as {kind:?}");
        }
        let err = check_identity("detail.clusterArn", " ", Cluster).expect_err("blank");
        assert!(
            err.to_string()
                .starts_with("detail.clusterArn \" \" is not an ECS cluster ARN"),
            "{err}"
        );
    }

    #[test]
    fn fingerprints_ignore_the_update_stamp_and_nothing_else() {
        let base = task("RUNNING", false, None);
        let mut restamped = base.clone();
        if let Record::Task(t) = &mut restamped {
            t.updated_at = None;
        }
        assert_eq!(state_fingerprint(&base), state_fingerprint(&restamped));
        let changes: [fn(&mut TaskRecord); 6] = [
            |t| t.task.version = Some(4),
            |t| t.task.group = Some("service:api".into()),
            |t| t.task.last_status = Some("STOPPED".into()),
            |t| t.task.desired_status = Some("STOPPED".into()),
            |t| t.tombstone = true,
            |t| t.task.memory = None,
        ];
        for change in changes {
            let mut other = base.clone();
            if let Record::Task(t) = &mut other {
                change(t);
            }
            assert_ne!(
                state_fingerprint(&base),
                state_fingerprint(&other),
                "{other:?}"
            );
        }
        let active = host(InstanceStatus::Active, false, None);
        let mut with_attr = active.clone();
        if let Record::Instance(i) = &mut with_attr {
            i.instance.attributes.push(crate::model::Attribute {
                name: "stack".into(),
                value: Some("green".into()),
            });
        }
        assert_ne!(state_fingerprint(&active), state_fingerprint(&with_attr));
        assert_ne!(
            state_fingerprint(&active),
            state_fingerprint(&host(InstanceStatus::Draining, false, None))
        );
    }

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
    fn ordering_table() {
        use crate::testing::event;
        use serde_json::json;
        const NOW: i64 = 1_000;
        let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
        let host_arn = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/h1";
        let host = |status: &str, version: Option<i64>| {
            event(
                "ECS Container Instance State Change",
                "aws.ecs",
                json!({"clusterArn": cluster, "containerInstanceArn": host_arn,
                    "ec2InstanceId": "i-1", "status": status, "agentConnected": true,
                    "version": version}),
            )
        };
        let task = |last: &str, extra: serde_json::Value| {
            let mut detail = json!({"clusterArn": cluster,
                "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/prod/t1",
                "containerInstanceArn": host_arn, "lastStatus": last, "desiredStatus": "RUNNING",
                "group": "service:web", "launchType": "EC2", "version": 4});
            if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            event("ECS Task State Change", "aws.ecs", detail)
        };
        let plan =
            |e: serde_json::Value| plan_event(&EcsEvent::from_value(e).expect("an event"), NOW);
        let expires_at = |r: &Record| match r {
            Record::Instance(i) => i.expires_at,
            Record::Task(t) => t.expires_at,
        };
        // (case, event, (live, expires at, version) of the one write, or the skip / refusal)
        enum Want {
            Write(bool, Option<i64>, i64),
            Skip,
            Refused(&'static str),
        }
        use Want::*;
        let long = format!("{host_arn}{}", "x".repeat(1024));
        let cases = [
            ("host ACTIVE", host("ACTIVE", Some(3)), Write(true, None, 3)),
            (
                "host DRAINING",
                host("DRAINING", Some(4)),
                Write(true, None, 4),
            ),
            (
                "host INACTIVE: a tombstone for 3 days",
                host("INACTIVE", Some(5)),
                Write(false, Some(NOW + TOMBSTONE_TTL_SECS), 5),
            ),
            (
                "task RUNNING",
                task("RUNNING", json!({})),
                Write(true, None, 4),
            ),
            (
                "task STOPPED: kept a day, not live",
                task("STOPPED", json!({"desiredStatus": "STOPPED"})),
                Write(false, Some(NOW + STOPPED_TASK_TTL_SECS), 4),
            ),
            (
                "Fargate task",
                task("RUNNING", json!({"launchType": "FARGATE"})),
                Skip,
            ),
            (
                "no detail.version",
                host("ACTIVE", None),
                Refused("no detail.version"),
            ),
            (
                "an ARN of another account",
                task(
                    "RUNNING",
                    json!({"taskArn": "arn:aws:ecs:us-east-1:999999999999:task/prod/t1"}),
                ),
                Refused("does not belong to cluster"),
            ),
            (
                "a task size that is not an integer",
                task("RUNNING", json!({"memory": "lots"})),
                Refused("expected an integer"),
            ),
            (
                "an ARN over 1,024 bytes",
                task("RUNNING", json!({"containerInstanceArn": long})),
                Refused("is not"),
            ),
            (
                "the scheduled event",
                event("Scheduled Event", "aws.events", json!({})),
                Skip,
            ),
        ];
        for (case, e, want) in cases {
            match (plan(e), want) {
                (Ok(Plan::Write(record, condition)), Write(live, expires, version)) => {
                    assert_eq!(is_live(&record, NOW), live, "{case}");
                    assert_eq!(expires_at(&record), expires, "{case}");
                    assert_eq!(record.version(), Some(version), "{case}");
                    assert_eq!(
                        condition,
                        WriteCondition::NewerThanStored(version),
                        "{case}"
                    );
                    assert_eq!(
                        record.is_tombstone(),
                        *record == fence_of(&record),
                        "{case}"
                    );
                }
                (Ok(Plan::Skip(_)), Skip) => {}
                (Err(e), Refused(needle)) => {
                    assert!(e.to_string().contains(needle), "{case}: {e}")
                }
                (got, _) => panic!("{case}: {got:?}"),
            }
        }

        // A host event without registeredAt keeps the stored one; a tombstone keeps only its
        // fence.
        let mut stored = ContainerInstance::new(host_arn, InstanceStatus::Active);
        stored.registered_at = Some(1_700_000_000);
        let stored = instance_to_record(cluster, stored, None, NOW);
        let Ok(Plan::Write(mut thin, _)) = plan(host("DRAINING", Some(6))) else {
            panic!("a write")
        };
        keep_registered_at(&mut thin, Some(&stored));
        let Record::Instance(i) = &*thin else {
            panic!("a host")
        };
        assert_eq!(i.instance.registered_at, Some(1_700_000_000));
        let Ok(Plan::Write(mut gone, _)) = plan(host("INACTIVE", Some(7))) else {
            panic!("a write")
        };
        keep_registered_at(&mut gone, Some(&stored));
        let Record::Instance(i) = &*gone else {
            panic!("a host")
        };
        assert_eq!(i.instance.registered_at, None);
    }
}
