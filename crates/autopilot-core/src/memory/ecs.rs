//! ECS in memory: the same [`EcsRead`] / [`EcsWrite`] contract as the AWS adapter, for every
//! capability's tests and what-if runs. It records every call (named like the ECS operations the
//! AWS adapter sends) so tests can assert how many reads and writes a run made.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use crate::arn::same_cluster_name;
use crate::model::{Attribute, ContainerInstance, InstanceStatus, Service, Task, TaskDefinition};
use crate::ports::ecs::{
    check_describe_failures, ArnPage, ClusterState, DescribedServices, DesiredStatus, EcsError,
    EcsRead, EcsWrite, CLUSTER_INACTIVE, DESCRIBE_MISSING,
};

/// ECS's page size for List calls.
pub const LIST_PAGE: usize = 100;

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

    /// Records `operation` and finds the first host of the cluster that matches.
    fn instance_where(
        &self,
        operation: &'static str,
        cluster_id: &str,
        matches: impl Fn(&ContainerInstance) -> bool,
    ) -> Result<(MutexGuard<'_, State>, Option<ContainerInstance>), EcsError> {
        let mut st = self.enter(operation)?;
        let found = cluster(&mut st, cluster_id)?
            .instances
            .iter()
            .find(|ci| matches(ci))
            .cloned();
        Ok((st, found))
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

/// Splits listed resources into the described ones and Describe's failure entries, then applies
/// the adapters' shared rule ([`check_describe_failures`]).
fn described<T: Clone>(
    operation: &'static str,
    listed: Vec<T>,
    arn: impl Fn(&T) -> &str,
    describe_failures: &BTreeMap<String, String>,
) -> Result<Vec<T>, EcsError> {
    let mut out = Vec::with_capacity(listed.len());
    let mut failures = Vec::new();
    for item in listed {
        match describe_failures.get(arn(&item)) {
            Some(reason) => failures.push((arn(&item).to_string(), reason.clone())),
            None => out.push(item),
        }
    }
    check_describe_failures(operation, &failures)?;
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

/// The `items` a Describe call's `arns` name (batch already checked with [`check_batch`]); the
/// failure entries set up for them are applied by [`described`].
fn by_arn<T: Clone>(items: &[T], arns: &[String], arn: impl Fn(&T) -> &str) -> Vec<T> {
    let wanted: HashSet<&str> = arns.iter().map(String::as_str).collect();
    items
        .iter()
        .filter(|i| wanted.contains(arn(i)))
        .cloned()
        .collect()
}

/// Describe calls take at most 100 ARNs, like ECS's (checked before the cluster is looked up).
fn check_batch(operation: &'static str, arns: &[String]) -> Result<(), EcsError> {
    if arns.len() > LIST_PAGE {
        return Err(EcsError::Api {
            operation,
            message: format!("{} ARNs in one call (at most {LIST_PAGE})", arns.len()),
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

fn matches_service(s: &Service, wanted: &str) -> bool {
    s.arn == wanted || s.name == wanted
}

impl EcsRead for InMemoryEcs {
    async fn list_cluster_arns(&self) -> Result<Vec<String>, EcsError> {
        let st = self.enter("ListClusters")?;
        Ok(st
            .clusters
            .iter()
            .filter(|(_, c)| !c.inactive)
            .map(|(arn, _)| arn.clone())
            .collect())
    }

    async fn container_instances(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<ContainerInstance>, EcsError> {
        let mut st = self.enter("ListContainerInstances")?;
        let instances: Vec<ContainerInstance> = cluster(&mut st, cluster_id)?
            .instances
            .iter()
            // Like ListContainerInstances without a status filter: everything but INACTIVE.
            .filter(|ci| ci.status != crate::model::InstanceStatus::Inactive)
            .cloned()
            .collect();
        if !instances.is_empty() {
            st.calls.push("DescribeContainerInstances".into());
        }
        described(
            "DescribeContainerInstances",
            instances,
            |ci| &ci.arn,
            &st.describe_failures,
        )
    }

    async fn find_container_instance(
        &self,
        cluster_id: &str,
        ec2_instance_id: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        let (mut st, found) = self.instance_where("ListContainerInstances", cluster_id, |ci| {
            ci.ec2_instance_id.as_deref() == Some(ec2_instance_id)
        })?;
        if found.is_some() {
            st.calls.push("DescribeContainerInstances".into());
        }
        Ok(found)
    }

    async fn describe_container_instance(
        &self,
        cluster_id: &str,
        arn: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        let (st, found) =
            self.instance_where("DescribeContainerInstances", cluster_id, |ci| ci.arn == arn)?;
        let listed = found.into_iter().collect();
        let mut described = described(
            "DescribeContainerInstances",
            listed,
            |ci| &ci.arn,
            &st.describe_failures,
        )?;
        Ok(described.pop())
    }

    async fn list_service_arns(&self, cluster_id: &str) -> Result<Vec<String>, EcsError> {
        let mut st = self.enter("ListServices")?;
        Ok(cluster(&mut st, cluster_id)?
            .services
            .iter()
            .filter(|s| s.status != "INACTIVE")
            .map(|s| s.arn.clone())
            .collect())
    }

    async fn describe_services(
        &self,
        cluster_id: &str,
        services: &[String],
    ) -> Result<DescribedServices, EcsError> {
        let mut st = self.enter("DescribeServices")?;
        let extra_batches = services.len().saturating_sub(1) / 10;
        for _ in 0..extra_batches {
            st.calls.push("DescribeServices".into());
        }
        let c = cluster(&mut st, cluster_id)?;
        let mut out = DescribedServices::default();
        for wanted in services {
            match c.services.iter().find(|s| matches_service(s, wanted)) {
                Some(s) => out.services.push(s.clone()),
                None => out.failures.push((wanted.clone(), "MISSING".into())),
            }
        }
        Ok(out)
    }

    async fn task_definition(&self, task_definition: &str) -> Result<TaskDefinition, EcsError> {
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

    async fn list_container_instance_arns(
        &self,
        cluster_id: &str,
        next: Option<&str>,
    ) -> Result<ArnPage, EcsError> {
        let mut st = self.enter("ListContainerInstances")?;
        let arns: Vec<String> = cluster(&mut st, cluster_id)?
            .instances
            .iter()
            .filter(|ci| ci.status != crate::model::InstanceStatus::Inactive)
            .map(|ci| ci.arn.clone())
            .collect();
        page_of(arns, next)
    }

    async fn describe_container_instances(
        &self,
        cluster_id: &str,
        arns: &[String],
    ) -> Result<Vec<ContainerInstance>, EcsError> {
        let mut st = self.enter("DescribeContainerInstances")?;
        check_batch("DescribeContainerInstances", arns)?;
        let found = by_arn(&cluster(&mut st, cluster_id)?.instances, arns, |ci| &ci.arn);
        described(
            "DescribeContainerInstances",
            found,
            |ci| &ci.arn,
            &st.describe_failures,
        )
    }

    async fn list_task_arns(
        &self,
        cluster_id: &str,
        desired: DesiredStatus,
        next: Option<&str>,
    ) -> Result<ArnPage, EcsError> {
        let mut st = self.enter("ListTasks")?;
        let arns: Vec<String> = cluster(&mut st, cluster_id)?
            .tasks
            .iter()
            .filter(|t| {
                let stopping = t.desired_status.as_deref() == Some("STOPPED");
                stopping == (desired == DesiredStatus::Stopped)
            })
            .map(|t| t.arn.clone())
            .collect();
        page_of(arns, next)
    }

    async fn describe_tasks(
        &self,
        cluster_id: &str,
        arns: &[String],
    ) -> Result<Vec<Task>, EcsError> {
        let mut st = self.enter("DescribeTasks")?;
        check_batch("DescribeTasks", arns)?;
        let found = by_arn(&cluster(&mut st, cluster_id)?.tasks, arns, |t| &t.arn);
        described("DescribeTasks", found, |t| &t.arn, &st.describe_failures)
    }

    async fn describe_clusters(&self, clusters: &[String]) -> Result<Vec<ClusterState>, EcsError> {
        let mut st = self.enter("DescribeClusters")?;
        for _ in 0..clusters.len().saturating_sub(1) / LIST_PAGE {
            st.calls.push("DescribeClusters".into());
        }
        Ok(clusters
            .iter()
            .map(|wanted| {
                match st
                    .clusters
                    .iter()
                    .find(|(arn, _)| same_cluster_name(arn, wanted))
                {
                    Some((arn, c)) => ClusterState {
                        cluster: wanted.clone(),
                        arn: Some(arn.clone()),
                        status: if c.inactive {
                            CLUSTER_INACTIVE
                        } else {
                            "ACTIVE"
                        }
                        .to_string(),
                    },
                    None => ClusterState {
                        cluster: wanted.clone(),
                        arn: None,
                        status: DESCRIBE_MISSING.to_string(),
                    },
                }
            })
            .collect())
    }

    async fn cluster_default_strategy(&self, cluster_id: &str) -> Result<Vec<String>, EcsError> {
        let mut st = self.enter("DescribeClusters")?;
        cluster(&mut st, cluster_id)?;
        Ok(st
            .default_strategies
            .iter()
            .find(|(arn, _)| same_cluster_name(arn, cluster_id))
            .map(|(_, s)| s.clone())
            .unwrap_or_default())
    }

    async fn service_tasks(
        &self,
        cluster_id: &str,
        service_name: &str,
    ) -> Result<Vec<Task>, EcsError> {
        let mut st = self.enter("ListTasks")?;
        let group = format!("service:{service_name}");
        let tasks: Vec<Task> = cluster(&mut st, cluster_id)?
            .tasks
            .iter()
            .filter(|t| t.group.as_deref() == Some(group.as_str()))
            .filter(|t| t.desired_status.as_deref() != Some("STOPPED"))
            .cloned()
            .collect();
        if !tasks.is_empty() {
            st.calls.push("DescribeTasks".into());
        }
        described("DescribeTasks", tasks, |t| &t.arn, &st.describe_failures)
    }

    async fn instance_tasks(&self, cluster_id: &str, arn: &str) -> Result<Vec<Task>, EcsError> {
        let mut st = self.enter("ListTasks")?;
        st.calls.push("ListTasks".into()); // desired RUNNING, then desired STOPPED
        let tasks: Vec<Task> = cluster(&mut st, cluster_id)?
            .tasks
            .iter()
            .filter(|t| t.container_instance_arn.as_deref() == Some(arn))
            .cloned()
            .collect();
        if !tasks.is_empty() {
            st.calls.push("DescribeTasks".into());
        }
        described("DescribeTasks", tasks, |t| &t.arn, &st.describe_failures)
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
