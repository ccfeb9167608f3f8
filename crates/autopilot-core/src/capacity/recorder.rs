//! capacity-recorder's logic: one conditional write per event, and the periodic sweep that repairs
//! lost events, picks up attribute changes (which emit no event) and retires the partitions of
//! deleted clusters — page by page, in memory bounded by a page and a few bytes per live item.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use thiserror::Error;

use super::{
    instance_to_record, plan_event, state_fingerprint, task_skip_reason, task_to_record,
    ClusterEntry, ClusterStatus, EventResult, Outcome, Plan, Record, RecordError, RecordKey,
    RecorderConfig, StoredVersion, SweepReport, WriteCondition, LATE_EVENT_WINDOW_SECS,
    TASK_PREFIX, TOMBSTONE_TTL_SECS,
};
use crate::arn::{cluster_arn_from_instance, cluster_name, same_cluster_name};
use crate::clock::format_unix;
use crate::events::EcsEvent;
use crate::ports::capacity_store::{CapacityStore, ItemKind, ItemQuery, StoreError};
use crate::ports::ecs::{
    ClusterState, DesiredStatus, EcsError, EcsRead, ListPages, ListRequest, TaskFilter,
    DESCRIBE_BATCH, DESCRIBE_MISSING,
};
use crate::retry::Retryable;

#[derive(Debug, Error)]
pub enum RecorderError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ecs(#[from] EcsError),
}

impl Retryable for RecorderError {
    /// A refused event is recorded, never retried.
    fn is_retryable(&self) -> bool {
        match self {
            RecorderError::Record(_) => false,
            RecorderError::Store(e) => e.is_retryable(),
            RecorderError::Ecs(e) => e.is_retryable(),
        }
    }
}

pub struct CapacityRecorder<S, E> {
    store: S,
    ecs: E,
    config: RecorderConfig,
    /// Clusters this execution environment has registered (or found registered) from an event:
    /// one registry write per cluster per environment, not one per event.
    registered: Mutex<HashSet<String>>,
}

impl<S: CapacityStore, E: EcsRead> CapacityRecorder<S, E> {
    pub fn new(store: S, ecs: E, config: RecorderConfig) -> Self {
        CapacityRecorder {
            store,
            ecs,
            config,
            registered: Mutex::default(),
        }
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
            registered_cluster: None,
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
                // The registry first: no item is written for a cluster the sweep cannot find.
                result.registered_cluster = self.register_from_event(&key.cluster_arn, now).await?;
                result.writes = 1;
                result.outcome = Some(self.store.write(&record, condition).await?);
                Ok(result)
            }
        }
    }

    /// The first event an execution environment records for a cluster registers it (one
    /// conditional UpdateItem that creates the registry entry only when there is none), so the
    /// sweep asks ECS about it — and retires it when ECS does not have it — even if no sweep ever
    /// listed it (a cluster created and deleted between two sweeps). `Some(created)` when a
    /// registry write was made, `None` when this environment already did it.
    async fn register_from_event(
        &self,
        cluster_arn: &str,
        now: i64,
    ) -> Result<Option<bool>, RecorderError> {
        let name = cluster_name(cluster_arn);
        let known = self
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name);
        if known {
            return Ok(None);
        }
        let created = self
            .store
            .register_cluster(&ClusterEntry::active(
                name,
                Some(cluster_arn.to_string()),
                now,
            ))
            .await?;
        self.registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string());
        Ok(Some(created))
    }

    /// The scheduled sweep: every cluster of `CLUSTERS`, or every cluster ECS lists plus the ones
    /// the registry remembers as active. Each is asked about with DescribeClusters first: an
    /// active one is swept ([`CapacityRecorder::sweep_cluster`]) and registered; a gone one
    /// (INACTIVE: deleted, or MISSING: unknown to ECS) is retired — its live items become
    /// tombstones — and reported, never failed; for [`LATE_EVENT_WINDOW_SECS`] after that it is
    /// retired again on each sweep (what a late event brought back goes too), then left alone.
    /// One cluster's failure is recorded in its report and the others continue.
    ///
    /// Errors: the registry, ListClusters or DescribeClusters could not be read; nothing was
    /// written (capacity-recorder fails the invocation whatever the cause).
    pub async fn sweep(&self, now: i64) -> Result<Vec<SweepReport>, RecorderError> {
        let registry = self.store.clusters().await?;
        let mut targets: Vec<String> = match self.config.clusters.listed() {
            Some(list) => list.to_vec(),
            None => {
                let mut listed = self.ecs.list_cluster_arns().await?;
                // Clusters the registry knows as active that ECS no longer lists: deleted (or
                // listed late, ListClusters being eventually consistent) — DescribeClusters says.
                // Gone ones too, while late events may still bring items back.
                for entry in registry.iter().filter(|e| {
                    e.status == ClusterStatus::Active || now - e.since < LATE_EVENT_WINDOW_SECS
                }) {
                    if !listed.iter().any(|c| same_cluster_name(c, &entry.name)) {
                        listed.push(entry.cluster_arn.clone().unwrap_or(entry.name.clone()));
                    }
                }
                listed
            }
        };
        targets.dedup();
        let states = if targets.is_empty() {
            Vec::new()
        } else {
            self.ecs.describe_clusters(&targets).await?
        };
        let mut out = Vec::with_capacity(targets.len());
        for target in &targets {
            let entry = registry.iter().find(|e| same_cluster_name(&e.name, target));
            let state = states.iter().find(|s| s.cluster == *target);
            let report = match state {
                Some(state) => self.sweep_target(target, state, entry, now).await,
                None => Err(RecorderError::Ecs(EcsError::InvalidResponse {
                    operation: "DescribeClusters",
                    message: format!("no answer for cluster {target}"),
                })),
            };
            out.push(report.unwrap_or_else(|e| SweepReport {
                cluster: target.clone(),
                error: Some(e.to_string()),
                ..SweepReport::default()
            }));
        }
        Ok(out)
    }

    async fn sweep_target(
        &self,
        target: &str,
        state: &ClusterState,
        entry: Option<&ClusterEntry>,
        now: i64,
    ) -> Result<SweepReport, RecorderError> {
        let name = cluster_name(target);
        if state.is_gone() {
            let why = if state.status == DESCRIBE_MISSING {
                "ECS does not know it (DescribeClusters: MISSING)".to_string()
            } else {
                format!("ECS reports it {} (deleted)", state.status)
            };
            let retired = entry.filter(|e| e.status == ClusterStatus::Gone);
            if let Some(e) = retired {
                let done = format!(
                    "cluster {name} is gone: {why}; the sweep retired its items at {}",
                    format_unix(e.since)
                );
                if now - e.since >= LATE_EVENT_WINDOW_SECS {
                    return Ok(SweepReport {
                        cluster: target.to_string(),
                        skipped: Some(done),
                        ..SweepReport::default()
                    });
                }
                // Within the late-event window: whatever a late event brought back goes again.
                let mut report = self.retire_cluster(target, now).await?;
                if report.removed > 0 {
                    self.store
                        .put_cluster(&ClusterEntry {
                            retired_hosts: e.retired_hosts + report.removed_hosts as u64,
                            retired_tasks: e.retired_tasks
                                + (report.removed - report.removed_hosts) as u64,
                            ..e.clone()
                        })
                        .await?;
                }
                report.skipped = Some(format!(
                    "{done}; {} item(s) a late event brought back turned into tombstones",
                    report.removed
                ));
                return Ok(report);
            }
            let mut report = self.retire_cluster(target, now).await?;
            if entry.is_some() || report.removed > 0 {
                self.store
                    .put_cluster(&ClusterEntry {
                        name: name.to_string(),
                        cluster_arn: state
                            .arn
                            .clone()
                            .or_else(|| entry.and_then(|e| e.cluster_arn.clone())),
                        status: ClusterStatus::Gone,
                        reason: Some(state.status.clone()),
                        since: now,
                        retired_hosts: report.removed_hosts as u64,
                        retired_tasks: (report.removed - report.removed_hosts) as u64,
                        expires_at: Some(now + TOMBSTONE_TTL_SECS),
                    })
                    .await?;
            }
            report.skipped = Some(format!(
                "cluster {name} is gone: {why}; {} live item(s) turned into tombstones",
                report.removed
            ));
            return Ok(report);
        }
        let report = match self.sweep_in(target, state.arn.as_deref(), true, now).await {
            // Deleted between DescribeClusters and the listing: the next sweep retires it.
            Err(RecorderError::Ecs(EcsError::ClusterNotFound { .. })) => {
                return Ok(SweepReport {
                    cluster: target.to_string(),
                    skipped: Some(format!(
                        "cluster {name} was not found while sweeping it; not swept"
                    )),
                    ..SweepReport::default()
                })
            }
            other => other?,
        };
        let registered = entry.is_some_and(|e| {
            e.status == ClusterStatus::Active && (state.arn.is_none() || e.cluster_arn == state.arn)
        });
        if !registered {
            self.store
                .put_cluster(&ClusterEntry::active(name, state.arn.clone(), now))
                .await?;
        }
        Ok(report)
    }

    /// Sweeps one cluster: ECS's current hosts and tasks are written through the versioned path;
    /// live items for resources ECS no longer lists become tombstones carrying the highest version
    /// the table saw, so late events with that version or a lower one are refused.
    ///
    /// In bounded memory, page by page, and in reads and calls proportional to what is live: first
    /// the table's live hosts and tasks (the live index: no tombstone or STOPPED task is read),
    /// of which it keeps a key, version and state fingerprint each — read before ECS is listed,
    /// so anything written later is newer than what the writes below compare against; then ECS's
    /// hosts, one page of ARNs and one Describe (100) at a time, each snapshot written unless its
    /// fingerprint equals the stored one; then the tasks ECS lists as desired RUNNING, described
    /// only when the table does not already hold them as RUNNING / desired RUNNING; then the
    /// table's live tasks ECS did not list, described to tell stopping ones (kept like events
    /// keep them) from stopped or missing ones; last, tombstones for the live items no page
    /// listed.
    ///
    /// Only a resource ECS does not list, or reports `MISSING`, is gone: a Describe failure with
    /// any other reason fails the sweep of the cluster before it writes any tombstone (snapshots
    /// already written are ECS's state), rather than let it remove a live host or task.
    pub async fn sweep_cluster(
        &self,
        cluster: &str,
        now: i64,
    ) -> Result<SweepReport, RecorderError> {
        self.sweep_in(cluster, None, true, now).await
    }

    /// Turns every live item of a cluster ECS no longer has into a tombstone (the sweep of a cluster
    /// with no hosts and no tasks).
    pub async fn retire_cluster(
        &self,
        cluster: &str,
        now: i64,
    ) -> Result<SweepReport, RecorderError> {
        self.sweep_in(cluster, None, false, now).await
    }

    async fn sweep_in(
        &self,
        cluster: &str,
        arn_hint: Option<&str>,
        in_ecs: bool,
        now: i64,
    ) -> Result<SweepReport, RecorderError> {
        let mut report = SweepReport {
            cluster: cluster.to_string(),
            ..SweepReport::default()
        };
        // The table first (see above).
        let (mut hosts, stored_arn) = self
            .read_live(cluster, ItemKind::Hosts, now, &mut report)
            .await?;
        let (mut tasks, _) = self
            .read_live(cluster, ItemKind::Tasks, now, &mut report)
            .await?;
        let mut cluster_arn = if cluster.starts_with("arn:") {
            Some(cluster.to_string())
        } else {
            arn_hint.map(str::to_string).or(stored_arn)
        };
        if in_ecs {
            let request = ListRequest::ContainerInstances {
                cluster,
                ec2_instance_id: None,
            };
            let mut pages = ListPages::new(&self.ecs, request);
            while let Some(arns) = pages.next_page().await? {
                for ci in self
                    .ecs
                    .describe_container_instances(cluster, &arns)
                    .await?
                {
                    let arn = cluster_arn
                        .get_or_insert_with(|| derived_cluster_arn(cluster, &ci.arn))
                        .clone();
                    report.hosts += 1;
                    // Stamped with the Describe's time: what the item shows is as of
                    // now (task-dispatcher discounts its launches made after it).
                    let record =
                        instance_to_record(&arn, ci, Some(crate::clock::format_unix(now)), now);
                    self.apply_snapshot(&mut hosts, record, &mut report).await?;
                }
            }
            // Tasks ECS runs (desired RUNNING), page by page. A listed task the table already
            // holds as RUNNING with desired RUNNING is settled — nothing the table keeps of it
            // (host, group, sizes, status) changes until ECS stops it — so it is not described;
            // the others are described and written.
            let filter = TaskFilter::Desired(DesiredStatus::Running);
            let mut pages = ListPages::new(&self.ecs, ListRequest::Tasks { cluster, filter });
            while let Some(arns) = pages.next_page().await? {
                let mut unsettled = Vec::new();
                for arn in arns {
                    match tasks.get_mut(&format!("{TASK_PREFIX}{arn}")) {
                        Some(seen) if seen.settled => {
                            if !seen.listed {
                                seen.listed = true;
                                report.tasks += 1;
                                report.unchanged += 1;
                            }
                        }
                        _ => unsettled.push(arn),
                    }
                }
                if !unsettled.is_empty() {
                    let seen = (&mut cluster_arn, &mut tasks, &mut report);
                    self.describe_and_record_tasks(cluster, &unsettled, seen, now)
                        .await?;
                }
            }
            // Live tasks of the table that ECS did not list as running: described, 100 at a
            // time. Stopping (desired STOPPED, last status not yet STOPPED) → kept, as events
            // keep them; listed late (ListTasks is eventually consistent) → written; STOPPED,
            // or MISSING → not listed, so tombstoned below. Only these: not every task ECS
            // lists as desired STOPPED (stopped ones stay listed "for at least one hour").
            let unlisted: Vec<String> = tasks
                .iter()
                .filter(|(_, seen)| !seen.listed)
                .filter_map(|(sk, _)| sk.strip_prefix(TASK_PREFIX).map(str::to_string))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            // One DescribeTasks batch at a time, written before the next: memory stays bounded by
            // a batch, not by how many tasks went unlisted.
            for batch in unlisted.chunks(DESCRIBE_BATCH) {
                let seen = (&mut cluster_arn, &mut tasks, &mut report);
                self.describe_and_record_tasks(cluster, batch, seen, now)
                    .await?;
            }
        }
        // Live items no page listed: gone. Conditional on the item being as read — an event that
        // landed since wins — and keeping its version (the highest the table saw): a late event
        // with the same or a lower version is a refused duplicate / stale delivery.
        let expires_at = now + TOMBSTONE_TTL_SECS;
        for (kind, items) in [(ItemKind::Hosts, &hosts), (ItemKind::Tasks, &tasks)] {
            for (sort_key, seen) in items.iter().filter(|(_, s)| !s.listed) {
                let key = RecordKey {
                    cluster_arn: cluster.to_string(),
                    sort_key: sort_key.clone(),
                };
                let outcome = self.store.tombstone(&key, seen.version, expires_at).await?;
                if outcome == Outcome::Applied {
                    report.removed += 1;
                    if kind == ItemKind::Hosts {
                        report.removed_hosts += 1;
                    }
                } else {
                    report.conflicts += 1;
                }
            }
        }
        Ok(report)
    }

    /// Describes `arns` (DescribeTasks by 100) and writes what it returned (the event
    /// path's rules: Fargate skipped; a STOPPED task is gone for the sweep; a stopping one is
    /// kept and counted).
    async fn describe_and_record_tasks(
        &self,
        cluster: &str,
        arns: &[String],
        (cluster_arn, tasks, report): (&mut Option<String>, &mut SeenItems, &mut SweepReport),
        now: i64,
    ) -> Result<(), RecorderError> {
        let described = self.ecs.describe_tasks(cluster, arns).await?;
        for t in described {
            if task_skip_reason(&t.arn, t.launch_type.as_deref()).is_some() {
                report.skipped_tasks += 1;
                continue;
            }
            if t.last_status.as_deref() == Some("STOPPED") {
                continue;
            }
            if t.desired_status.as_deref() == Some("STOPPED") {
                report.stopping += 1;
            }
            report.tasks += 1;
            let arn = cluster_arn
                .get_or_insert_with(|| {
                    t.cluster_arn
                        .clone()
                        .unwrap_or_else(|| cluster_name(cluster).to_string())
                })
                .clone();
            let record = task_to_record(&arn, t, now);
            self.apply_snapshot(tasks, record, report).await?;
        }
        Ok(())
    }

    /// The live items of one kind, page by page: what the sweep keeps of each, and a cluster ARN
    /// found on them.
    async fn read_live(
        &self,
        cluster: &str,
        kind: ItemKind,
        now: i64,
        report: &mut SweepReport,
    ) -> Result<(SeenItems, Option<String>), RecorderError> {
        let query = ItemQuery::live(cluster, kind, now);
        let mut seen = SeenItems::new();
        let mut cluster_arn = None;
        let mut start: Option<String> = None;
        loop {
            let page = self.store.page(&query, start.as_deref()).await?;
            report.pages += 1;
            report.items_read += page.scanned;
            report.read_units += page.read_units;
            for record in page.records {
                let key = record.key();
                if cluster_arn.is_none() && key.cluster_arn.starts_with("arn:") {
                    cluster_arn = Some(key.cluster_arn.clone());
                }
                // (A Fargate item an earlier version wrote is never settled: described, then
                // removed by the event path's rule.)
                let settled = matches!(&record, Record::Task(t)
                    if t.task.last_status.as_deref() == Some("RUNNING")
                        && t.task.desired_status.as_deref() == Some("RUNNING")
                        && task_skip_reason(&t.task.arn, t.task.launch_type.as_deref()).is_none());
                seen.insert(
                    key.sort_key,
                    Seen {
                        version: record.version(),
                        fingerprint: state_fingerprint(&record),
                        listed: false,
                        settled,
                    },
                );
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok((seen, cluster_arn)),
            }
        }
    }

    /// Writes one snapshot ECS listed, unless the table already holds that state.
    async fn apply_snapshot(
        &self,
        seen: &mut SeenItems,
        mut record: Record,
        report: &mut SweepReport,
    ) -> Result<(), RecorderError> {
        let sort_key = record.key().sort_key;
        let stored = seen.get(&sort_key).copied();
        if stored.is_some_and(|s| s.listed) {
            // Listed twice (desired RUNNING, then desired STOPPED while the sweep ran).
            return Ok(());
        }
        let condition = match record.version() {
            Some(v) => WriteCondition::AtLeastStored(v),
            None => {
                // Version-less snapshot: keep the stored version, write only if unchanged.
                let seen_version: StoredVersion = stored.map(|s| s.version);
                record.set_version(seen_version.flatten());
                WriteCondition::Unchanged(seen_version)
            }
        };
        let fingerprint = state_fingerprint(&record);
        if stored.is_some_and(|s| s.fingerprint == fingerprint) {
            report.unchanged += 1;
        } else {
            let mut outcome = self.store.write(&record, condition).await?;
            if outcome == Outcome::Conflict && condition == WriteCondition::Unchanged(None) {
                // Present but not live when the sweep read: a tombstone or a STOPPED item. One the
                // table only ever saw without a version (a version-less sweep's tombstone) may be
                // replaced — no event ordered it; one with a version may not.
                outcome = self
                    .store
                    .write(&record, WriteCondition::Unchanged(Some(None)))
                    .await?;
            }
            self.tally(report, outcome);
        }
        seen.insert(
            sort_key,
            Seen {
                version: record.version(),
                fingerprint,
                listed: true,
                settled: false,
            },
        );
        Ok(())
    }

    fn tally(&self, report: &mut SweepReport, outcome: Outcome) {
        match outcome {
            Outcome::Applied => report.written += 1,
            Outcome::Duplicate => report.unchanged += 1,
            Outcome::Stale => report.stale += 1,
            Outcome::Conflict => report.conflicts += 1,
        }
    }
}

/// The cluster ARN a container instance ARN implies, for a cluster known by name only; the bare
/// name as a last resort.
fn derived_cluster_arn(cluster: &str, container_instance_arn: &str) -> String {
    let name = cluster_name(cluster);
    cluster_arn_from_instance(container_instance_arn, name).unwrap_or_else(|| name.to_string())
}

/// What the sweep remembers of one live item it read (or one ECS listed): enough to order its
/// write and to tell an unchanged snapshot — not the item.
#[derive(Debug, Clone, Copy)]
struct Seen {
    version: Option<i64>,
    fingerprint: u64,
    /// ECS listed it in this sweep (written, refused or found unchanged): not to be tombstoned.
    listed: bool,
    /// A task the table holds as RUNNING with desired RUNNING: listed as running, it needs no
    /// Describe.
    settled: bool,
}

/// Live items of one kind by sort key: about 200 bytes each.
type SeenItems = HashMap<String, Seen>;
