//! [`DaemonReconciler`] reads current state through the ECS port, calls [`decide_with`] per
//! service, writes only when the value changes, and then stops tasks left on hosts that are no
//! longer eligible. It is level-triggered: the event that woke us only names the cluster; the state
//! is read fresh — unless a reconcile that read the cluster after the event already covered it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ecs_cluster_query::Expression;
use futures_util::stream::{self, StreamExt};

use super::config::DaemonConfig;
use super::decide::{decide_with, member_of_expressions, DecideContext, Decision};
use super::report::{Action, ClusterReport, DecisionRecord};
use crate::arn::{arn_resource_id, cluster_name, service_entry_in_cluster};
use crate::markers::DAEMON_TAG;
use crate::model::{ContainerInstance, Service, TaskDefinition};
use crate::ports::ecs::{EcsError, EcsRead, EcsWrite};
use crate::retry::Retryable;

/// StopTask reason for a daemon task on a host that is no longer eligible.
pub const MISPLACED_STOP_REASON: &str =
    "ecs-autopilot daemon-count: host no longer eligible for this daemon service";

/// An event is covered by a reconcile that started reading the cluster at least this long after
/// the event's time (EventBridge `time` has one-second resolution; ECS reads are eventually
/// consistent).
pub const COVERED_MARGIN_SECONDS: i64 = 2;

/// The most clusters a sweep reconciles at once: each reconcile is a handful of sequential reads,
/// so 4 in flight stay well inside ECS's read budget (20 per second refill).
pub const SWEEP_CONCURRENCY: usize = 4;

/// A compiled `memberOf` list, cached per (task definition revision, service constraints).
type Compiled = Arc<Result<Vec<(String, Expression)>, String>>;

/// What a sweep over many clusters did.
#[derive(Debug, Clone, Default)]
pub struct SweepOutcome {
    pub reports: Vec<ClusterReport>,
    /// Clusters not started because the invocation's time ran short (the next sweep, which starts
    /// elsewhere, reaches them).
    pub not_reached: Vec<String>,
}

/// Reads state through the ECS port and applies [`decide_with`]. Holds the task-definition and
/// compiled-expression caches and the time each cluster was last read, so keep one per process
/// (Lambda init) and share it by reference.
pub struct DaemonReconciler<E> {
    ecs: E,
    config: DaemonConfig,
    task_definitions: Mutex<HashMap<String, TaskDefinition>>,
    expressions: Mutex<HashMap<String, Compiled>>,
    /// Cluster name → when the last complete reconcile started reading it (Unix seconds).
    last_read: Mutex<HashMap<String, i64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<E: EcsRead + EcsWrite> DaemonReconciler<E> {
    pub fn new(ecs: E, config: DaemonConfig) -> Self {
        DaemonReconciler {
            ecs,
            config,
            task_definitions: Mutex::new(HashMap::new()),
            expressions: Mutex::new(HashMap::new()),
            last_read: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &DaemonConfig {
        &self.config
    }

    pub fn ecs(&self) -> &E {
        &self.ecs
    }

    /// The clusters a scheduled run covers: `CLUSTERS`, or every cluster of the account.
    pub async fn scheduled_clusters(&self) -> Result<Vec<String>, EcsError> {
        self.config.clusters.resolve(&self.ecs).await
    }

    /// Whether an event of `cluster` at `event_time` (Unix seconds) is covered by a complete
    /// reconcile that started reading the cluster after it: then it can change nothing, and costs
    /// no call.
    pub fn covered(&self, cluster: &str, event_time: i64) -> bool {
        lock(&self.last_read)
            .get(cluster_name(cluster))
            .is_some_and(|read| event_time + COVERED_MARGIN_SECONDS <= *read)
    }

    /// Reconciles every cluster at `now` (Unix seconds); one cluster's failure is recorded and
    /// does not stop the rest.
    pub async fn reconcile_clusters(&self, clusters: &[String], now: i64) -> Vec<ClusterReport> {
        self.sweep(clusters, None, 0, now).await.reports
    }

    /// Reconciles `clusters`, [`SWEEP_CONCURRENCY`] at a time, starting at `rotate % len` so that
    /// successive sweeps start at different clusters; no cluster is started once `stop_starting`
    /// has passed (those are returned as not reached). `now` (Unix seconds) is when the sweep
    /// starts reading: each cluster's reconcile counts as started then.
    pub async fn sweep(
        &self,
        clusters: &[String],
        stop_starting: Option<Instant>,
        rotate: usize,
        now: i64,
    ) -> SweepOutcome {
        let n = clusters.len();
        let start = if n == 0 { 0 } else { rotate % n };
        let order: Vec<&String> = (0..n).map(|i| &clusters[(i + start) % n]).collect();
        let results: Vec<(String, Option<ClusterReport>)> =
            stream::iter(order.into_iter().enumerate())
                .map(|(i, cluster)| async move {
                    // The first cluster always starts: an event's own cluster is never left out (a
                    // reconcile is a few calls; Lambda's timeout still bounds it) and every sweep
                    // makes progress, however little time the invocation was given.
                    if i > 0 && stop_starting.is_some_and(|t| Instant::now() >= t) {
                        return (cluster.clone(), None);
                    }
                    let report = match self.reconcile_cluster(cluster, now).await {
                        Ok(report) => report,
                        Err(e) => ClusterReport {
                            cluster: cluster.clone(),
                            services: Vec::new(),
                            error: Some(e.to_string()),
                            retryable: e.is_retryable(),
                        },
                    };
                    (cluster.clone(), Some(report))
                })
                .buffered(SWEEP_CONCURRENCY)
                .collect()
                .await;
        let mut out = SweepOutcome::default();
        for (cluster, report) in results {
            match report {
                Some(r) => out.reports.push(r),
                None => out.not_reached.push(cluster),
            }
        }
        out
    }

    /// Reconciles one cluster (name or ARN). Errors only when the cluster itself cannot be read;
    /// per-service problems are recorded in that service's [`DecisionRecord`]. `now` (Unix
    /// seconds) is taken at or before the first read: the events [`Self::covered`] by this
    /// reconcile are those at least [`COVERED_MARGIN_SECONDS`] older.
    pub async fn reconcile_cluster(
        &self,
        cluster: &str,
        now: i64,
    ) -> Result<ClusterReport, EcsError> {
        let mut records = Vec::new();
        let candidates = self.candidate_services(cluster, &mut records).await?;

        // No managed service: no need to read the hosts (saves the calls on every event for
        // clusters without daemon services).
        if !candidates.is_empty() {
            let instances = self.ecs.container_instances(cluster).await?;
            let needs_default = candidates
                .iter()
                .any(|s| s.capacity_provider_strategy.is_empty() && s.launch_type.is_none());
            let default_strategy = if needs_default {
                self.ecs.cluster_default_strategy(cluster).await?
            } else {
                Vec::new()
            };
            for service in &candidates {
                records.push(
                    self.reconcile_service(cluster, service, &instances, &default_strategy)
                        .await,
                );
            }
        }
        if !records.iter().any(|r| r.retryable) {
            lock(&self.last_read).insert(cluster_name(cluster).to_string(), now);
        }
        Ok(ClusterReport {
            cluster: cluster.to_string(),
            services: records,
            error: None,
            retryable: false,
        })
    }

    /// The services this run manages. Services that were asked for (named, or tagged) but cannot
    /// be managed are recorded as skipped in `records` here.
    async fn candidate_services(
        &self,
        cluster: &str,
        records: &mut Vec<DecisionRecord>,
    ) -> Result<Vec<Service>, EcsError> {
        let (requested, by_name) = match &self.config.services {
            Some(names) => (services_for_cluster(names, cluster), true),
            None => (self.ecs.list_service_arns(cluster).await?, false),
        };
        if requested.is_empty() {
            return Ok(Vec::new());
        }
        let described = self.ecs.describe_services(cluster, &requested).await?;
        for (service, reason) in described.failures {
            records.push(DecisionRecord::skipped(
                cluster,
                arn_resource_id(&service),
                None,
                format!("DescribeServices reported {reason}"),
            ));
        }
        let mut out = Vec::new();
        for service in described.services {
            if !by_name {
                match service
                    .tags
                    .get(DAEMON_TAG)
                    .map(|v| v.trim().to_ascii_lowercase())
                {
                    Some(v) if v == "true" => {}
                    Some(v) if v == "false" => continue,
                    Some(v) => {
                        records.push(DecisionRecord::skipped(
                            cluster,
                            &service.name,
                            Some(service.desired_count),
                            format!("tag {DAEMON_TAG}={v:?} is neither true nor false"),
                        ));
                        continue;
                    }
                    None => continue,
                }
            }
            out.push(service);
        }
        Ok(out)
    }

    async fn reconcile_service(
        &self,
        cluster: &str,
        service: &Service,
        instances: &[ContainerInstance],
        default_strategy: &[String],
    ) -> DecisionRecord {
        let previous = service.desired_count;
        let failed = |e: EcsError| {
            let mut r =
                DecisionRecord::skipped(cluster, &service.name, Some(previous), e.to_string());
            r.action = Action::Failed;
            r.retryable = e.is_retryable();
            r
        };
        let task_definition = match service.effective_task_definition() {
            Some(arn) => match self.task_definition(arn).await {
                Ok(td) => Some(td),
                Err(e) => return failed(e),
            },
            None => None,
        };
        let compiled = task_definition
            .as_ref()
            .map(|td| self.compiled_expressions(service, td));
        if let Some(Err(reason)) = compiled.as_deref() {
            return DecisionRecord::skipped(cluster, &service.name, Some(previous), reason.clone());
        }
        let expressions = compiled
            .as_deref()
            .and_then(|c| c.as_ref().ok())
            .map(Vec::as_slice);
        let mut context = DecideContext {
            default_strategy,
            tasks_by_host: None,
            expressions,
        };
        let mut decision = decide_with(service, task_definition.as_ref(), instances, context);
        let by_host;
        if decision == Decision::NeedTasks {
            by_host = match self.ecs.service_tasks(cluster, &service.name).await {
                Ok(tasks) => tasks_by_host(tasks),
                Err(e) => return failed(e),
            };
            context.tasks_by_host = Some(&by_host);
            decision = decide_with(service, task_definition.as_ref(), instances, context);
        }
        match decision {
            Decision::Skip { reason } => {
                DecisionRecord::skipped(cluster, &service.name, Some(previous), reason)
            }
            Decision::NeedTasks => failed(EcsError::InvalidResponse {
                operation: "ListTasks",
                message: "the decision still needs the service's tasks".into(),
            }),
            Decision::Desired {
                desired,
                eligible,
                tasks_per_host,
                excluded,
                constraints,
                disconnected_kept,
                misplaced,
                warnings,
            } => {
                let mut record = DecisionRecord {
                    cluster: cluster.to_string(),
                    service: service.name.clone(),
                    previous_desired: Some(previous),
                    new_desired: Some(desired),
                    eligible: Some(eligible),
                    tasks_per_host: Some(tasks_per_host),
                    excluded,
                    constraints,
                    action: Action::Unchanged,
                    reason: None,
                    disconnected_kept,
                    misplaced_tasks: misplaced,
                    warnings,
                    retryable: false,
                };
                if self.config.dry_run {
                    if desired != previous || !record.misplaced_tasks.is_empty() {
                        record.action = Action::DryRun;
                        record.reason = Some("DRY_RUN is set: nothing written".to_string());
                    }
                    return record;
                }
                if desired != previous {
                    match self
                        .ecs
                        .update_desired_count(cluster, &service.arn, desired)
                        .await
                    {
                        Ok(()) => record.action = Action::Updated,
                        Err(e) => {
                            record.action = Action::Failed;
                            record.retryable = e.is_retryable();
                            record.reason = Some(e.to_string());
                            return record;
                        }
                    }
                }
                // The count is right: a task on a host that no longer qualifies is stopped, and
                // ECS places its replacement on an eligible host.
                let mut stopped = Vec::new();
                for task in std::mem::take(&mut record.misplaced_tasks) {
                    match self
                        .ecs
                        .stop_task(cluster, &task, MISPLACED_STOP_REASON)
                        .await
                    {
                        Ok(()) => stopped.push(task),
                        Err(e) => {
                            record.action = Action::Failed;
                            record.retryable = e.is_retryable();
                            record.reason = Some(format!("StopTask {task}: {e}"));
                        }
                    }
                }
                record.misplaced_tasks = stopped;
                record
            }
        }
    }

    /// The `memberOf` expressions of the service and its task definition, compiled once per
    /// (revision, service constraints): revisions are immutable, services rarely change.
    fn compiled_expressions(&self, service: &Service, td: &TaskDefinition) -> Compiled {
        let key = format!(
            "{}|{}",
            td.arn,
            service
                .placement_constraints
                .iter()
                .filter_map(|c| c.expression.as_deref())
                .collect::<Vec<_>>()
                .join("|")
        );
        if let Some(c) = lock(&self.expressions).get(&key) {
            return c.clone();
        }
        let compiled = Arc::new(member_of_expressions(
            service
                .placement_constraints
                .iter()
                .chain(td.placement_constraints.iter()),
        ));
        lock(&self.expressions).insert(key, compiled.clone());
        compiled
    }

    /// Task definition revisions are immutable: fetch each once per process.
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        if let Some(td) = lock(&self.task_definitions).get(arn) {
            return Ok(td.clone());
        }
        let td = self.ecs.describe_task_definition(arn).await?;
        lock(&self.task_definitions).insert(arn.to_string(), td.clone());
        Ok(td)
    }
}

/// The service's tasks by host (container instance ARN → task ARNs).
fn tasks_by_host(tasks: Vec<crate::model::Task>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in tasks {
        if let Some(ci) = t.container_instance_arn {
            out.entry(ci).or_default().push(t.arn);
        }
    }
    out
}

/// Which of the configured `DAEMON_SERVICES` entries belong to `cluster`: bare names apply to
/// every cluster; a long-format service ARN (`service/CLUSTER/NAME`) only to its own cluster.
pub fn services_for_cluster(names: &[String], cluster: &str) -> Vec<String> {
    names
        .iter()
        .filter(|entry| service_entry_in_cluster(entry, cluster))
        .cloned()
        .collect()
}
