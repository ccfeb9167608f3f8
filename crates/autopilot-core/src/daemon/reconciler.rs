//! [`DaemonReconciler`] reads current state through the ECS port, calls [`decide`] per service and
//! writes only when the value changes. It is level-triggered: the event that woke us only names the
//! cluster; the state is always read fresh.

use std::collections::HashMap;
use std::sync::Mutex;

use super::config::DaemonConfig;
use super::decide::{decide, Decision, DAEMON_TAG};
use super::report::{Action, ClusterReport, DecisionRecord};
use crate::arn::{arn_resource_id, service_entry_in_cluster};
use crate::model::{ContainerInstance, Service, TaskDefinition};
use crate::ports::ecs::{EcsError, EcsRead, EcsWrite};

/// Reads state through the ECS port and applies [`decide`]. Holds the task-definition cache, so
/// keep one per process (Lambda init) and share it by reference.
pub struct DaemonReconciler<E> {
    ecs: E,
    config: DaemonConfig,
    task_definitions: Mutex<HashMap<String, TaskDefinition>>,
}

impl<E: EcsRead + EcsWrite> DaemonReconciler<E> {
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
        self.config.clusters.resolve(&self.ecs).await
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
    names
        .iter()
        .filter(|entry| service_entry_in_cluster(entry, cluster))
        .cloned()
        .collect()
}
