//! The capacity table's pure rules: which write an event causes ([`plan_event`]) and whether a
//! write supersedes what is stored ([`outcome`]: events need a higher `version`, versioned
//! snapshots a higher or equal one, version-less snapshots an unchanged item; tombstones keep the
//! highest version seen; a write never erases `registered_at`). The full specification is the
//! README's "Ordering rules".

use thiserror::Error;

use crate::arn::same_cluster;
use crate::events::{ContainerInstanceStateChange, EcsEvent, TaskStateChange};
use crate::model::{ContainerInstance, InstanceStatus};
use crate::record::{
    task_skip_reason, InstanceRecord, Outcome, Record, StoredVersion, TaskRecord, WriteCondition,
    STOPPED_TASK_TTL_SECS, TASK_TOMBSTONE_TTL_SECS, TOMBSTONE_TTL_SECS,
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

/// The write rule both stores share: a host record without `registered_at` keeps the stored one.
pub fn keep_registered_at(new: &mut Record, stored: Option<&Record>) {
    if let (Record::Instance(n), Some(Record::Instance(old))) = (new, stored) {
        if n.instance.registered_at.is_none() {
            n.instance.registered_at = old.instance.registered_at;
        }
    }
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
}
