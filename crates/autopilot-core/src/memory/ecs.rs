//! ECS in memory: the same [`EcsRead`] / [`EcsWrite`] primitives as the AWS adapter, for every
//! capability's tests and what-if runs. Each primitive is one ECS request and records it (named
//! like the ECS operation), so the calls tests assert are the requests AWS would see; the
//! multi-call lookups are the port's own, shared with the AWS adapter.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::arn::{cluster_name, same_cluster_name};
use crate::model::{Attribute, ContainerInstance, InstanceStatus, Service, Task, TaskDefinition};
use crate::ports::ecs::{
    ArnPage, ClusterDescription, Described, DesiredStatus, EcsError, EcsRead, EcsWrite,
    ListRequest, TaskFilter, CLUSTER_INACTIVE, DESCRIBE_BATCH, DESCRIBE_MISSING,
    DESCRIBE_SERVICES_BATCH, LIST_PAGE,
};

#[derive(Debug, Default)]
pub(super) struct State {
    /// Keyed by cluster ARN.
    pub(super) clusters: BTreeMap<String, ClusterData>,
    pub(super) task_definitions: BTreeMap<String, TaskDefinition>,
    /// Cluster ARN → its default capacity provider strategy.
    default_strategies: BTreeMap<String, Vec<String>>,
    pub(super) calls: Vec<String>,
    /// Operation name → error to return from it (fault injection).
    failures: BTreeMap<&'static str, EcsError>,
    /// Resource ARN → the failure entry reason Describe reports for it (`MISSING`, or a
    /// transient reason), as DescribeContainerInstances / DescribeTasks do.
    describe_failures: BTreeMap<String, String>,
    /// RunTask's state (see `memory::task_launcher`).
    pub(super) launcher: super::task_launcher::LauncherState,
}

#[derive(Debug, Default)]
pub(super) struct ClusterData {
    /// DeleteCluster makes a cluster INACTIVE; ListClusters no longer lists it.
    inactive: bool,
    pub(super) instances: Vec<ContainerInstance>,
    services: Vec<Service>,
    pub(super) tasks: Vec<Task>,
}

#[derive(Debug, Default)]
pub struct InMemoryEcs {
    state: Mutex<State>,
}

impl InMemoryEcs {
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_cluster(&self, cluster_arn: &str) {
        self.state()
            .clusters
            .entry(cluster_arn.to_string())
            .or_default();
    }

    /// DeleteCluster: the cluster turns INACTIVE (DescribeClusters still answers for it) and
    /// ListClusters stops listing it.
    pub fn delete_cluster(&self, cluster_arn: &str) {
        if let Some(c) = self.state().clusters.get_mut(cluster_arn) {
            c.inactive = true;
        }
    }

    /// Forgets a cluster entirely: DescribeClusters reports it MISSING.
    pub fn forget_cluster(&self, cluster_arn: &str) {
        self.state().clusters.remove(cluster_arn);
    }

    pub fn add_instance(&self, cluster_arn: &str, instance: ContainerInstance) {
        self.state()
            .clusters
            .entry(cluster_arn.to_string())
            .or_default()
            .instances
            .push(instance);
    }

    pub fn add_service(&self, cluster_arn: &str, service: Service) {
        self.state()
            .clusters
            .entry(cluster_arn.to_string())
            .or_default()
            .services
            .push(service);
    }

    /// Adds or replaces (by ARN) a task.
    pub fn put_task(&self, cluster_arn: &str, task: Task) {
        let mut st = self.state();
        let tasks = &mut st
            .clusters
            .entry(cluster_arn.to_string())
            .or_default()
            .tasks;
        tasks.retain(|t| t.arn != task.arn);
        tasks.push(task);
    }

    /// Adds a task on a host (sets its container instance).
    pub fn add_task(&self, cluster_arn: &str, container_instance_arn: &str, mut task: Task) {
        task.container_instance_arn = Some(container_instance_arn.to_string());
        self.put_task(cluster_arn, task);
    }

    /// Marks a task STOPPED, as ECS does when it finishes stopping.
    pub fn finish_task(&self, task_arn: &str) {
        for c in self.state().clusters.values_mut() {
            for t in c.tasks.iter_mut().filter(|t| t.arn == task_arn) {
                t.last_status = Some("STOPPED".into());
                t.desired_status = Some("STOPPED".into());
            }
        }
    }

    /// A task by ARN, as stored.
    pub fn task(&self, task_arn: &str) -> Option<Task> {
        self.state()
            .clusters
            .values()
            .flat_map(|c| c.tasks.iter())
            .find(|t| t.arn == task_arn)
            .cloned()
    }

    /// A container instance by ARN, as stored.
    pub fn instance(&self, container_instance_arn: &str) -> Option<ContainerInstance> {
        self.state()
            .clusters
            .values()
            .flat_map(|c| c.instances.iter())
            .find(|ci| ci.arn == container_instance_arn)
            .cloned()
    }

    /// Sets a container instance's status, in whichever cluster it is.
    pub fn set_status(&self, container_instance_arn: &str, status: InstanceStatus) {
        for c in self.state().clusters.values_mut() {
            for ci in c
                .instances
                .iter_mut()
                .filter(|ci| ci.arn == container_instance_arn)
            {
                ci.status = status.clone();
            }
        }
    }

    /// Removes a task (it stopped and ECS no longer lists it).
    pub fn remove_task(&self, cluster_arn: &str, task_arn: &str) {
        if let Some(c) = self.state().clusters.get_mut(cluster_arn) {
            c.tasks.retain(|t| t.arn != task_arn);
        }
    }

    /// Changes a container instance in place (status, attributes, resources, ...).
    pub fn update_instance(
        &self,
        cluster_arn: &str,
        arn: &str,
        f: impl FnOnce(&mut ContainerInstance),
    ) {
        if let Some(ci) = self
            .state()
            .clusters
            .get_mut(cluster_arn)
            .and_then(|c| c.instances.iter_mut().find(|ci| ci.arn == arn))
        {
            f(ci);
        }
    }

    /// Removes a container instance (deregistered).
    pub fn remove_instance(&self, cluster_arn: &str, arn: &str) {
        if let Some(c) = self.state().clusters.get_mut(cluster_arn) {
            c.instances.retain(|ci| ci.arn != arn);
        }
    }

    /// Sets a cluster's default capacity provider strategy (provider names).
    pub fn set_default_strategy(&self, cluster_arn: &str, providers: &[&str]) {
        self.state().default_strategies.insert(
            cluster_arn.to_string(),
            providers.iter().map(|p| p.to_string()).collect(),
        );
    }

    pub fn add_task_definition(&self, td: TaskDefinition) {
        self.state().task_definitions.insert(td.arn.clone(), td);
    }

    /// Makes `operation` (e.g. `"UpdateService"`) fail with `error` from now on.
    pub fn fail(&self, operation: &'static str, error: EcsError) {
        self.state().failures.insert(operation, error);
    }

    /// Stops every injected failure of [`InMemoryEcs::fail`].
    pub fn clear_failures(&self) {
        self.state().failures.clear();
    }

    /// Makes DescribeContainerInstances / DescribeTasks report a failure entry with `reason` for
    /// this resource while it is still listed (`MISSING`: gone between List and Describe).
    pub fn fail_describe(&self, arn: &str, reason: &str) {
        self.state()
            .describe_failures
            .insert(arn.to_string(), reason.to_string());
    }

    /// Current desired count of a service, by name.
    pub fn desired_count(&self, cluster_arn: &str, service: &str) -> Option<i32> {
        let st = self.state();
        st.clusters
            .get(cluster_arn)?
            .services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.desired_count)
    }

    /// The API operations called so far, in order (`"UpdateService"`, ...).
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    pub fn count_calls(&self, operation: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| *c == operation)
            .count()
    }

    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// Records `operation` and changes the host `arn` of the cluster (no-op if absent).
    fn change_instance(
        &self,
        operation: &'static str,
        cluster_id: &str,
        arn: &str,
        change: impl Fn(&mut ContainerInstance),
    ) -> Result<(), EcsError> {
        let mut st = self.enter(operation)?;
        for ci in cluster(&mut st, cluster_id)?
            .instances
            .iter_mut()
            .filter(|ci| ci.arn == arn)
        {
            change(ci);
        }
        Ok(())
    }

    /// Records the call and returns the injected failure, if any.
    pub(super) fn enter(&self, operation: &'static str) -> Result<MutexGuard<'_, State>, EcsError> {
        let mut st = self.state();
        st.calls.push(operation.to_string());
        match st.failures.get(operation) {
            Some(e) => Err(e.clone()),
            None => Ok(st),
        }
    }
}

/// The items a Describe call's `arns` name, and its failure entries: the reason set up with
/// [`InMemoryEcs::fail_describe`], or `MISSING` for an ARN the cluster does not have — as ECS
/// answers.
fn describe_batch<T: Clone>(
    operation: &'static str,
    items: &[T],
    arns: &[String],
    arn: impl Fn(&T) -> &str,
    describe_failures: &BTreeMap<String, String>,
) -> Result<Described<T>, EcsError> {
    check_batch(operation, arns, DESCRIBE_BATCH)?;
    let mut out = Described::default();
    for wanted in arns {
        match (
            describe_failures.get(wanted),
            items.iter().find(|i| arn(i) == wanted),
        ) {
            (Some(reason), _) => out.failures.push((wanted.clone(), reason.clone())),
            (None, Some(item)) => out.items.push(item.clone()),
            (None, None) => out.failures.push((wanted.clone(), DESCRIBE_MISSING.into())),
        }
    }
    Ok(out)
}

/// One page of `arns` from `next` (an offset, as the fake's token).
fn page_of(arns: Vec<String>, next: Option<&str>) -> Result<ArnPage, EcsError> {
    let from = match next {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| EcsError::Api {
            operation: "List",
            message: format!("invalid nextToken {token:?}"),
        })?,
    };
    let to = (from + LIST_PAGE).min(arns.len());
    Ok(ArnPage {
        arns: arns
            .get(from..to)
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
        next: (to < arns.len()).then(|| to.to_string()),
    })
}

/// A Describe call takes at most `limit` names, like ECS's.
fn check_batch(operation: &'static str, arns: &[String], limit: usize) -> Result<(), EcsError> {
    if arns.len() > limit {
        return Err(EcsError::Api {
            operation,
            message: format!("{} ARNs in one call (at most {limit})", arns.len()),
        });
    }
    Ok(())
}

/// Finds a cluster by name or ARN, like ECS does.
pub(super) fn cluster<'a>(
    st: &'a mut State,
    cluster: &str,
) -> Result<&'a mut ClusterData, EcsError> {
    st.clusters
        .iter_mut()
        .find(|(arn, _)| same_cluster_name(arn, cluster))
        .map(|(_, c)| c)
        .ok_or_else(|| EcsError::ClusterNotFound {
            cluster: cluster.to_string(),
        })
}

/// [`cluster`], read-only.
fn cluster_in<'a>(
    clusters: &'a BTreeMap<String, ClusterData>,
    cluster: &str,
) -> Result<&'a ClusterData, EcsError> {
    clusters
        .iter()
        .find(|(arn, _)| same_cluster_name(arn, cluster))
        .map(|(_, c)| c)
        .ok_or_else(|| EcsError::ClusterNotFound {
            cluster: cluster.to_string(),
        })
}

fn matches_service(s: &Service, wanted: &str) -> bool {
    s.arn == wanted || s.name == wanted
}

/// Whether ListTasks with `filter` lists `task`. The service filter is the task's group
/// (`service:NAME`), as ECS's service scheduler sets it.
fn lists_task(task: &Task, filter: TaskFilter<'_>) -> bool {
    let stopping = task.desired_status.as_deref() == Some("STOPPED");
    let desired_is = |d: DesiredStatus| stopping == (d == DesiredStatus::Stopped);
    match filter {
        TaskFilter::Desired(d) => desired_is(d),
        TaskFilter::OnInstance(arn, d) => {
            task.container_instance_arn.as_deref() == Some(arn) && desired_is(d)
        }
        TaskFilter::Service(name) => {
            task.group.as_deref() == Some(format!("service:{name}").as_str())
                && desired_is(DesiredStatus::Running)
        }
        TaskFilter::StartedBy(started_by) => task.started_by.as_deref() == Some(started_by),
    }
}

impl EcsRead for InMemoryEcs {
    async fn list_page(
        &self,
        request: ListRequest<'_>,
        next: Option<&str>,
    ) -> Result<ArnPage, EcsError> {
        let mut st = self.enter(request.operation())?;
        let arns: Vec<String> = match request {
            ListRequest::Clusters => st
                .clusters
                .iter()
                .filter(|(_, c)| !c.inactive)
                .map(|(arn, _)| arn.clone())
                .collect(),
            ListRequest::ContainerInstances {
                cluster: id,
                ec2_instance_id,
            } => cluster(&mut st, id)?
                .instances
                .iter()
                // Without a status filter ECS lists every status but INACTIVE.
                .filter(|ci| ci.status != InstanceStatus::Inactive)
                .filter(|ci| {
                    ec2_instance_id.is_none() || ci.ec2_instance_id.as_deref() == ec2_instance_id
                })
                .map(|ci| ci.arn.clone())
                .collect(),
            ListRequest::Services { cluster: id } => cluster(&mut st, id)?
                .services
                .iter()
                .filter(|s| s.status != "INACTIVE")
                .map(|s| s.arn.clone())
                .collect(),
            ListRequest::Tasks {
                cluster: id,
                filter,
            } => cluster(&mut st, id)?
                .tasks
                .iter()
                .filter(|t| lists_task(t, filter))
                .map(|t| t.arn.clone())
                .collect(),
        };
        page_of(arns, next)
    }

    async fn describe_container_instances_batch(
        &self,
        cluster_id: &str,
        arns: &[String],
    ) -> Result<Described<ContainerInstance>, EcsError> {
        const OPERATION: &str = "DescribeContainerInstances";
        let st = self.enter(OPERATION)?;
        let instances = &cluster_in(&st.clusters, cluster_id)?.instances;
        describe_batch(
            OPERATION,
            instances,
            arns,
            |ci| &ci.arn,
            &st.describe_failures,
        )
    }

    async fn describe_tasks_batch(
        &self,
        cluster_id: &str,
        arns: &[String],
    ) -> Result<Described<Task>, EcsError> {
        const OPERATION: &str = "DescribeTasks";
        let st = self.enter(OPERATION)?;
        let tasks = &cluster_in(&st.clusters, cluster_id)?.tasks;
        describe_batch(OPERATION, tasks, arns, |t| &t.arn, &st.describe_failures)
    }

    async fn describe_services_batch(
        &self,
        cluster_id: &str,
        services: &[String],
    ) -> Result<Described<Service>, EcsError> {
        let mut st = self.enter("DescribeServices")?;
        check_batch("DescribeServices", services, DESCRIBE_SERVICES_BATCH)?;
        let c = cluster(&mut st, cluster_id)?;
        let mut out = Described::default();
        for wanted in services {
            match c.services.iter().find(|s| matches_service(s, wanted)) {
                Some(s) => out.items.push(s.clone()),
                None => out.failures.push((wanted.clone(), DESCRIBE_MISSING.into())),
            }
        }
        Ok(out)
    }

    async fn describe_clusters_batch(
        &self,
        clusters: &[String],
    ) -> Result<Described<ClusterDescription>, EcsError> {
        let st = self.enter("DescribeClusters")?;
        check_batch("DescribeClusters", clusters, DESCRIBE_BATCH)?;
        let mut out = Described::default();
        for wanted in clusters {
            match st
                .clusters
                .iter()
                .find(|(arn, _)| same_cluster_name(arn, wanted))
            {
                Some((arn, c)) => out.items.push(ClusterDescription {
                    arn: arn.clone(),
                    name: cluster_name(arn).to_string(),
                    status: if c.inactive {
                        CLUSTER_INACTIVE
                    } else {
                        "ACTIVE"
                    }
                    .to_string(),
                    default_strategy: st
                        .default_strategies
                        .iter()
                        .find(|(key, _)| same_cluster_name(key, arn))
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default(),
                }),
                None => out.failures.push((wanted.clone(), DESCRIBE_MISSING.into())),
            }
        }
        Ok(out)
    }

    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinition, EcsError> {
        let st = self.enter("DescribeTaskDefinition")?;
        st.task_definitions
            .get(task_definition)
            .cloned()
            .ok_or_else(|| EcsError::Refused {
                operation: "DescribeTaskDefinition",
                code: "ClientException".into(),
                message: format!("Unable to describe task definition {task_definition}"),
            })
    }
}

impl EcsWrite for InMemoryEcs {
    async fn update_desired_count(
        &self,
        cluster_id: &str,
        service: &str,
        desired_count: i32,
    ) -> Result<(), EcsError> {
        let mut st = self.enter("UpdateService")?;
        let c = cluster(&mut st, cluster_id)?;
        let s = c
            .services
            .iter_mut()
            .find(|s| matches_service(s, service))
            .ok_or_else(|| EcsError::Api {
                operation: "UpdateService",
                message: format!("service {service} not found"),
            })?;
        s.desired_count = desired_count;
        Ok(())
    }

    async fn set_instance_status(
        &self,
        cluster_id: &str,
        arn: &str,
        status: InstanceStatus,
    ) -> Result<(), EcsError> {
        self.change_instance("UpdateContainerInstancesState", cluster_id, arn, |ci| {
            ci.status = status.clone()
        })
    }

    async fn stop_task(&self, cluster_id: &str, task_arn: &str, _: &str) -> Result<(), EcsError> {
        let mut st = self.enter("StopTask")?;
        // Like ECS: desired STOPPED now; last status follows when the containers exit
        // (`finish_task`).
        for t in cluster(&mut st, cluster_id)?
            .tasks
            .iter_mut()
            .filter(|t| t.arn == task_arn)
        {
            t.desired_status = Some("STOPPED".into());
        }
        Ok(())
    }

    async fn put_instance_attribute(
        &self,
        cluster_id: &str,
        arn: &str,
        name: &str,
        value: &str,
    ) -> Result<(), EcsError> {
        self.change_instance("PutAttributes", cluster_id, arn, |ci| {
            ci.attributes.retain(|a| a.name != name);
            ci.attributes.push(Attribute {
                name: name.into(),
                value: Some(value.into()),
            });
        })
    }

    async fn delete_instance_attribute(
        &self,
        cluster_id: &str,
        arn: &str,
        name: &str,
    ) -> Result<(), EcsError> {
        self.change_instance("DeleteAttributes", cluster_id, arn, |ci| {
            ci.attributes.retain(|a| a.name != name)
        })
    }
}
