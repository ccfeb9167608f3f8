//! capacity-recorder's logic: one conditional write per event, and the periodic sweep that repairs
//! lost events and picks up attribute changes (which emit no event).

use std::collections::{HashMap, HashSet};

use thiserror::Error;

use super::{
    instance_to_record, plan_event, task_skip_reason, with_task_ttl, EventResult, Outcome, Plan,
    Record, RecordError, RecorderConfig, SweepReport, TaskRecord, WriteCondition,
    TOMBSTONE_TTL_SECS,
};
use crate::arn::{cluster_arn_from_instance, cluster_name};
use crate::events::EcsEvent;
use crate::model::{InstanceStatus, Task};
use crate::ports::capacity_store::{CapacityStore, StoreError};
use crate::ports::ecs::{EcsError, EcsRead};

#[derive(Debug, Error)]
pub enum RecorderError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ecs(#[from] EcsError),
}

pub struct CapacityRecorder<S, E> {
    store: S,
    ecs: E,
    config: RecorderConfig,
}

impl<S: CapacityStore, E: EcsRead> CapacityRecorder<S, E> {
    pub fn new(store: S, ecs: E, config: RecorderConfig) -> Self {
        CapacityRecorder { store, ecs, config }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn ecs(&self) -> &E {
        &self.ecs
    }

    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// Records one event: exactly one conditional write, or a reasoned skip with none.
    pub async fn record_event(
        &self,
        event: &EcsEvent,
        now: i64,
    ) -> Result<EventResult, RecorderError> {
        let mut result = EventResult {
            detail_type: event.detail_type().to_string(),
            cluster: None,
            resource: None,
            version: None,
            outcome: None,
            writes: 0,
            skipped: None,
        };
        match plan_event(event, now)? {
            Plan::Skip(reason) => {
                result.skipped = Some(reason);
                Ok(result)
            }
            Plan::Write(record, condition) => {
                let key = record.key();
                result.cluster = Some(key.cluster_arn.clone());
                result.resource = Some(record.arn().to_string());
                result.version = record.version();
                if !self.config.clusters.includes(&key.cluster_arn) {
                    result.skipped = Some(format!(
                        "cluster {} is not in CLUSTERS; not recorded",
                        key.cluster_arn
                    ));
                    return Ok(result);
                }
                result.writes = 1;
                result.outcome = Some(self.store.write(&record, condition).await?);
                Ok(result)
            }
        }
    }

    /// The clusters a scheduled sweep covers: `CLUSTERS`, or every cluster of the account.
    pub async fn sweep_targets(&self) -> Result<Vec<String>, EcsError> {
        self.config.clusters.resolve(&self.ecs).await
    }

    /// Sweeps one cluster: ECS's current hosts and tasks are written through the versioned path;
    /// items for resources ECS no longer lists become tombstones carrying the highest version the
    /// table saw, so late events with that version or a lower one are refused.
    ///
    /// Only a resource ECS does not list, or reports `MISSING`, is gone: an adapter that cannot
    /// describe a listed resource (any other Describe failure) fails the sweep of the cluster
    /// before it writes anything, rather than let it remove a live host or task.
    pub async fn sweep_cluster(
        &self,
        cluster: &str,
        now: i64,
    ) -> Result<SweepReport, RecorderError> {
        // Read the table first: anything written after this read is newer than what we compare
        // against, and the conditional writes below will not overwrite it.
        let stored = self.store.cluster_records(cluster).await?;
        let instances = self.ecs.container_instances(cluster).await?;
        let listed_tasks = self.ecs.active_tasks(cluster).await?;
        let listed = listed_tasks.len();
        // The event path's rule: Fargate tasks use no host capacity and are not recorded.
        let tasks: Vec<Task> = listed_tasks
            .into_iter()
            .filter(|t| task_skip_reason(&t.arn, t.launch_type.as_deref()).is_none())
            .collect();
        let cluster_arn = cluster_arn_for(cluster, &stored, &instances, &tasks);

        let stored_by_key: HashMap<String, &Record> =
            stored.iter().map(|r| (r.key().sort_key, r)).collect();
        let mut report = SweepReport {
            cluster: cluster.to_string(),
            hosts: instances.len(),
            tasks: tasks.len(),
            skipped_tasks: listed - tasks.len(),
            ..SweepReport::default()
        };
        let mut seen = HashSet::new();

        let snapshot_records = instances
            .into_iter()
            .map(|ci| instance_to_record(&cluster_arn, ci, None, now))
            .chain(
                tasks
                    .into_iter()
                    .map(|t| task_to_record(&cluster_arn, t, now)),
            );
        for mut record in snapshot_records {
            let key = record.key().sort_key;
            let old = stored_by_key.get(&key).copied();
            seen.insert(key);
            let condition = match record.version() {
                Some(v) => WriteCondition::AtLeastStored(v),
                None => {
                    // Version-less snapshot: keep the stored version, write only if unchanged.
                    let seen_version = old.map(Record::version);
                    record.set_version(seen_version.flatten());
                    WriteCondition::Unchanged(seen_version)
                }
            };
            if old.is_some_and(|o| same_state(o, &record)) {
                report.unchanged += 1;
                continue;
            }
            self.tally(&mut report, self.store.write(&record, condition).await?);
        }

        for old in &stored {
            if seen.contains(&old.key().sort_key) {
                continue;
            }
            // Conditional on the item being exactly as read: an event that landed since wins.
            let condition = WriteCondition::Unchanged(Some(old.version()));
            // The tombstone keeps the stored version (the highest the table saw): a late event
            // with the same or a lower version is a refused duplicate / stale delivery.
            let tombstone = match old {
                Record::Instance(i) if !i.tombstone => {
                    let mut gone = i.clone();
                    gone.instance.status = InstanceStatus::Inactive;
                    gone.tombstone = true;
                    gone.expires_at = Some(now + TOMBSTONE_TTL_SECS);
                    Record::Instance(gone)
                }
                Record::Task(t) if !t.tombstone && t.last_status.as_deref() != Some("STOPPED") => {
                    let mut gone = t.clone();
                    gone.tombstone = true;
                    with_task_ttl(gone, now)
                }
                // Tombstones and stopped tasks expire through the TTL.
                _ => continue,
            };
            let outcome = self.store.write(&tombstone, condition).await?;
            self.tally_removal(&mut report, outcome);
        }
        Ok(report)
    }

    /// Sweeps every cluster in turn; one cluster's failure is recorded and the rest continue.
    pub async fn sweep_clusters(&self, clusters: &[String], now: i64) -> Vec<SweepReport> {
        let mut out = Vec::with_capacity(clusters.len());
        for c in clusters {
            out.push(match self.sweep_cluster(c, now).await {
                Ok(r) => r,
                Err(e) => SweepReport {
                    cluster: c.clone(),
                    error: Some(e.to_string()),
                    ..SweepReport::default()
                },
            });
        }
        out
    }

    fn tally(&self, report: &mut SweepReport, outcome: Outcome) {
        match outcome {
            Outcome::Applied => report.written += 1,
            Outcome::Duplicate => report.unchanged += 1,
            Outcome::Stale => report.stale += 1,
            Outcome::Conflict => report.conflicts += 1,
        }
    }

    fn tally_removal(&self, report: &mut SweepReport, outcome: Outcome) {
        match outcome {
            Outcome::Applied => report.removed += 1,
            _ => report.conflicts += 1,
        }
    }
}

fn task_to_record(cluster_arn: &str, t: Task, now: i64) -> Record {
    with_task_ttl(
        TaskRecord {
            cluster_arn: cluster_arn.to_string(),
            task_arn: t.arn,
            container_instance_arn: t.container_instance_arn,
            group: t.group,
            started_by: t.started_by,
            last_status: t.last_status,
            desired_status: t.desired_status,
            cpu: t.cpu,
            memory: t.memory,
            launch_type: t.launch_type,
            version: t.version,
            updated_at: None,
            tombstone: false,
            expires_at: None,
        },
        now,
    )
}

/// Equal for the table's purposes: everything but the `updated_at` stamp.
fn same_state(a: &Record, b: &Record) -> bool {
    let strip = |r: &Record| -> Record {
        let mut r = r.clone();
        match &mut r {
            Record::Instance(i) => i.updated_at = None,
            Record::Task(t) => t.updated_at = None,
        }
        r
    };
    strip(a) == strip(b)
}

/// The cluster's ARN: given, or found on a stored record, or derived from a resource ARN
/// (`arn:…:container-instance/…` → `arn:…:cluster/NAME`); the bare name as a last resort.
fn cluster_arn_for(
    cluster: &str,
    stored: &[Record],
    instances: &[crate::model::ContainerInstance],
    tasks: &[Task],
) -> String {
    if cluster.starts_with("arn:") {
        return cluster.to_string();
    }
    if let Some(Record::Instance(i)) = stored.iter().find(|r| matches!(r, Record::Instance(_))) {
        return i.cluster_arn.clone();
    }
    if let Some(arn) = tasks.iter().find_map(|t| t.cluster_arn.clone()) {
        return arn;
    }
    let name = cluster_name(cluster);
    instances
        .first()
        .and_then(|ci| cluster_arn_from_instance(&ci.arn, name))
        .unwrap_or_else(|| name.to_string())
}
