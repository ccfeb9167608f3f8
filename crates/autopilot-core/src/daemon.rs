//! daemon-count: keep a REPLICA "daemon" service's desired count equal to its eligible hosts.
//!
//! Two layers:
//! - [`decide`] is the pure decision (service + task definition + hosts → desired count and why),
//!   tested by tables of cases without any I/O.
//! - [`DaemonReconciler`] reads current state through an [`EcsPort`], calls [`decide`] per service and
//!   writes only when the value changes. It is level-triggered: the event that woke us only names
//!   the cluster; the state is always read fresh.
//!
//! A host is **eligible** (Kubernetes DaemonSet semantics) when it is ACTIVE, its agent is connected,
//! and it satisfies every `memberOf` constraint of the service and of its task definition.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ecs_cluster_query::Expression;
use serde::Serialize;

use crate::config::DaemonConfig;
use crate::model::{
    arn_resource_id, ContainerInstance, InstanceStatus, PlacementConstraint, SchedulingStrategy,
    Service, TaskDefinition,
};
use crate::ports::{EcsError, EcsPort};

/// Tag that opts a service in (value `true`, any case) when `DAEMON_SERVICES` is not set.
pub const DAEMON_TAG: &str = "ecs-autopilot:daemon";
/// Optional tag: tasks per eligible host (integer ≥ 1, default 1).
pub const TASKS_PER_HOST_TAG: &str = "ecs-autopilot:tasks-per-host";

/// Hosts left out of the count, grouped by why. Each entry is the EC2 instance id when known,
/// else the container instance id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Excluded {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<String>,
    /// REGISTERING, DEREGISTERING, REGISTRATION_FAILED, INACTIVE or a status we do not know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_active: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disconnected: Vec<String>,
    /// Fails at least one `memberOf` constraint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraint: Vec<String>,
}

impl Excluded {
    pub fn total(&self) -> usize {
        self.draining.len()
            + self.not_active.len()
            + self.disconnected.len()
            + self.constraint.len()
    }
}

/// The outcome of [`decide`] for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The service should have `desired` tasks.
    Desired {
        desired: i32,
        eligible: usize,
        tasks_per_host: u32,
        excluded: Excluded,
        constraints: Vec<String>,
    },
    /// The service is not managed by this run, with the reason (reported, never silent).
    Skip { reason: String },
}

/// Pure decision: what the desired count of `service` should be over `instances`.
///
/// `task_definition` is the service's current task definition revision (for its `memberOf`
/// constraints); `None` means it could not be read, and the service is skipped rather than
/// counted without its constraints.
pub fn decide(
    service: &Service,
    task_definition: Option<&TaskDefinition>,
    instances: &[ContainerInstance],
) -> Decision {
    let skip = |reason: String| Decision::Skip { reason };
    if service.status != "ACTIVE" {
        return skip(format!("service status is {}, not ACTIVE", service.status));
    }
    match &service.scheduling_strategy {
        SchedulingStrategy::Replica => {}
        SchedulingStrategy::Daemon => {
            return skip(
                "service uses the DAEMON scheduling strategy; ECS already runs one task per host"
                    .into(),
            )
        }
        SchedulingStrategy::Other(s) => return skip(format!("unknown scheduling strategy {s:?}")),
    }
    let tasks_per_host = match tasks_per_host(service) {
        Ok(n) => n,
        Err(reason) => return skip(reason),
    };
    let Some(task_definition) = task_definition else {
        return skip("task definition unknown; its memberOf constraints cannot be checked".into());
    };

    let constraint_sources = service
        .placement_constraints
        .iter()
        .chain(task_definition.placement_constraints.iter());
    let expressions = match member_of_expressions(constraint_sources) {
        Ok(e) => e,
        Err(reason) => return skip(reason),
    };

    let mut excluded = Excluded::default();
    let mut eligible = 0usize;
    for ci in instances {
        let name = ci.display_name().to_string();
        match &ci.status {
            InstanceStatus::Active => {}
            InstanceStatus::Draining => {
                excluded.draining.push(name);
                continue;
            }
            _ => {
                excluded.not_active.push(name);
                continue;
            }
        }
        if ci.agent_connected != Some(true) {
            excluded.disconnected.push(name);
            continue;
        }
        if !expressions.iter().all(|(_, e)| e.evaluate(ci)) {
            excluded.constraint.push(name);
            continue;
        }
        eligible += 1;
    }

    let desired = i32::try_from(eligible)
        .ok()
        .and_then(|e| e.checked_mul(tasks_per_host as i32));
    let Some(desired) = desired else {
        return skip(format!(
            "{eligible} hosts × {tasks_per_host} tasks per host overflows a desired count"
        ));
    };
    Decision::Desired {
        desired,
        eligible,
        tasks_per_host,
        excluded,
        constraints: expressions.into_iter().map(|(text, _)| text).collect(),
    }
}

/// Reads the tasks-per-host tag: absent = 1; otherwise an integer ≥ 1.
pub fn tasks_per_host(service: &Service) -> Result<u32, String> {
    match service.tags.get(TASKS_PER_HOST_TAG) {
        None => Ok(1),
        Some(v) => match v.trim().parse::<u32>() {
            // ECS caps a service far below this; the bound keeps desired = hosts × n inside i32.
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(format!(
                "tag {TASKS_PER_HOST_TAG}={v:?} is not an integer between 1 and 10000"
            )),
        },
    }
}

/// Parses every `memberOf` expression; other constraint types (`distinctInstance`) do not limit
/// which hosts count. Expressions that look at `task:group` are refused: the host list has no
/// task placement, and guessing would give a wrong count. `runningTasksCount` is refused too: it
/// moves as the daemon's own tasks land, so the count would never settle.
fn member_of_expressions<'a>(
    constraints: impl Iterator<Item = &'a PlacementConstraint>,
) -> Result<Vec<(String, Expression)>, String> {
    let mut out = Vec::new();
    for c in constraints {
        if !c.kind.eq_ignore_ascii_case("memberOf") {
            continue;
        }
        let text = c.expression.as_deref().unwrap_or("").trim();
        if text.is_empty() {
            return Err("memberOf constraint without an expression".into());
        }
        let expression = ecs_cluster_query::parse(text)
            .map_err(|e| format!("memberOf expression {text:?} is invalid: {e}"))?;
        if expression.references_task_group() {
            return Err(format!(
                "memberOf expression {text:?} uses task:group, which a daemon count cannot evaluate"
            ));
        }
        // The daemon's own tasks change runningTasksCount: a count that depends on it would flip
        // between runs as they land (e.g. `runningTasksCount == 0` excludes every host it fills).
        if expression.depends_on_tasks() {
            return Err(format!(
                "memberOf expression {text:?} uses runningTasksCount, which the daemon's own \
                 tasks change: the count would not settle"
            ));
        }
        out.push((text.to_string(), expression));
    }
    Ok(out)
}

/// What a run did with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// UpdateService was called with the new count.
    Updated,
    /// The count was already right: no write.
    Unchanged,
    /// DRY_RUN: the count differs, nothing was written.
    DryRun,
    /// Not managed (see `reason`).
    Skipped,
    /// Reading or writing failed (see `reason`).
    Failed,
}

/// One line of the log and one entry of the response, per service per run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    pub cluster: String,
    pub service: String,
    pub previous_desired: Option<i32>,
    pub new_desired: Option<i32>,
    pub eligible: Option<usize>,
    pub tasks_per_host: Option<u32>,
    pub excluded: Excluded,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DecisionRecord {
    fn skipped(cluster: &str, service: &str, previous: Option<i32>, reason: String) -> Self {
        DecisionRecord {
            cluster: cluster.to_string(),
            service: service.to_string(),
            previous_desired: previous,
            new_desired: None,
            eligible: None,
            tasks_per_host: None,
            excluded: Excluded::default(),
            constraints: Vec::new(),
            action: Action::Skipped,
            reason: Some(reason),
        }
    }
}

/// The result of reconciling one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub services: Vec<DecisionRecord>,
    /// Set when the cluster could not be read at all (e.g. it does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads state through an [`EcsPort`] and applies [`decide`]. Holds the task-definition cache, so
/// keep one per process (Lambda init) and share it by reference.
pub struct DaemonReconciler<E> {
    ecs: E,
    config: DaemonConfig,
    task_definitions: Mutex<HashMap<String, TaskDefinition>>,
}

impl<E: EcsPort> DaemonReconciler<E> {
    pub fn new(ecs: E, config: DaemonConfig) -> Self {
        DaemonReconciler {
            ecs,
            config,
            task_definitions: Mutex::new(HashMap::new()),
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
        match &self.config.clusters {
            Some(list) => Ok(list.clone()),
            None => self.ecs.list_cluster_arns().await,
        }
    }

    /// Reconciles every cluster in turn; one cluster's failure is recorded and does not stop the rest.
    pub async fn reconcile_clusters(&self, clusters: &[String]) -> Vec<ClusterReport> {
        let mut reports = Vec::with_capacity(clusters.len());
        for cluster in clusters {
            reports.push(match self.reconcile_cluster(cluster).await {
                Ok(report) => report,
                Err(e) => ClusterReport {
                    cluster: cluster.clone(),
                    services: Vec::new(),
                    error: Some(e.to_string()),
                },
            });
        }
        reports
    }

    /// Reconciles one cluster (name or ARN). Errors only when the cluster itself cannot be read;
    /// per-service problems are recorded in that service's [`DecisionRecord`].
    pub async fn reconcile_cluster(&self, cluster: &str) -> Result<ClusterReport, EcsError> {
        let mut records = Vec::new();
        let candidates = self.candidate_services(cluster, &mut records).await?;

        // No managed service: no need to read the hosts (saves the calls on every event for
        // clusters without daemon services).
        if !candidates.is_empty() {
            let instances = self.ecs.container_instances(cluster).await?;
            for service in &candidates {
                records.push(self.reconcile_service(cluster, service, &instances).await);
            }
        }
        Ok(ClusterReport {
            cluster: cluster.to_string(),
            services: records,
            error: None,
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
    ) -> DecisionRecord {
        let previous = service.desired_count;
        let task_definition = match &service.task_definition {
            Some(arn) => match self.task_definition(arn).await {
                Ok(td) => Some(td),
                Err(e) => {
                    let mut r = DecisionRecord::skipped(
                        cluster,
                        &service.name,
                        Some(previous),
                        e.to_string(),
                    );
                    r.action = Action::Failed;
                    return r;
                }
            },
            None => None,
        };
        match decide(service, task_definition.as_ref(), instances) {
            Decision::Skip { reason } => {
                DecisionRecord::skipped(cluster, &service.name, Some(previous), reason)
            }
            Decision::Desired {
                desired,
                eligible,
                tasks_per_host,
                excluded,
                constraints,
            } => {
                let (action, reason) = if desired == previous {
                    (Action::Unchanged, None)
                } else if self.config.dry_run {
                    (
                        Action::DryRun,
                        Some("DRY_RUN is set: nothing written".to_string()),
                    )
                } else {
                    match self
                        .ecs
                        .update_desired_count(cluster, &service.arn, desired)
                        .await
                    {
                        Ok(()) => (Action::Updated, None),
                        Err(e) => (Action::Failed, Some(e.to_string())),
                    }
                };
                DecisionRecord {
                    cluster: cluster.to_string(),
                    service: service.name.clone(),
                    previous_desired: Some(previous),
                    new_desired: Some(desired),
                    eligible: Some(eligible),
                    tasks_per_host: Some(tasks_per_host),
                    excluded,
                    constraints,
                    action,
                    reason,
                }
            }
        }
    }

    /// Task definition revisions are immutable: fetch each once per process.
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        if let Some(td) = self.cache().get(arn) {
            return Ok(td.clone());
        }
        let td = self.ecs.task_definition(arn).await?;
        self.cache().insert(arn.to_string(), td.clone());
        Ok(td)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, TaskDefinition>> {
        // A poisoned lock only means another thread panicked mid-insert of an immutable value;
        // the map is still valid.
        self.task_definitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Which of the configured `DAEMON_SERVICES` entries belong to `cluster`: bare names apply to
/// every cluster; a long-format service ARN (`service/CLUSTER/NAME`) only to its own cluster.
pub fn services_for_cluster(names: &[String], cluster: &str) -> Vec<String> {
    let cluster_name = arn_resource_id(cluster);
    names
        .iter()
        .filter(|entry| {
            let Some(resource) = entry
                .strip_prefix("arn:")
                .and_then(|_| entry.split_once(":service/"))
            else {
                return true;
            };
            match resource.1.split_once('/') {
                Some((svc_cluster, _)) => svc_cluster == cluster_name,
                // Old short ARN format has no cluster segment: let ECS decide.
                None => true,
            }
        })
        .cloned()
        .collect()
}

/// Group the records by action, for a one-line summary.
pub fn summarize(reports: &[ClusterReport]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in reports {
        for s in &r.services {
            let key = match s.action {
                Action::Updated => "updated",
                Action::Unchanged => "unchanged",
                Action::DryRun => "dry_run",
                Action::Skipped => "skipped",
                Action::Failed => "failed",
            };
            *out.entry(key).or_insert(0) += 1;
        }
        if r.error.is_some() {
            *out.entry("cluster_errors").or_insert(0) += 1;
        }
    }
    out
}
