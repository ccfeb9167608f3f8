//! In-memory adapters of the drainer's ports, recording every call (unit tests, what-if runs).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use super::ports::{
    AutoScalingError, DrainEcsPort, HookTimeouts, HostTask, LifecycleAction, LifecycleOutcome,
    LifecyclePort, QueueError, RecheckQueue,
};
use crate::model::{arn_resource_id, Attribute, ContainerInstance, InstanceStatus, Service};
use crate::ports::EcsError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
struct Cluster {
    instances: Vec<ContainerInstance>,
    /// (container instance ARN, task)
    tasks: Vec<(String, HostTask)>,
    services: Vec<Service>,
}

#[derive(Debug, Default)]
struct EcsState {
    clusters: BTreeMap<String, Cluster>,
    calls: Vec<String>,
    failures: BTreeMap<&'static str, EcsError>,
}

/// ECS for the drainer, in memory.
#[derive(Debug, Default)]
pub struct InMemoryDrainEcs {
    state: Mutex<EcsState>,
}

impl InMemoryDrainEcs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_instance(&self, cluster: &str, instance: ContainerInstance) {
        lock(&self.state)
            .clusters
            .entry(cluster.to_string())
            .or_default()
            .instances
            .push(instance);
    }

    pub fn add_task(&self, cluster: &str, container_instance_arn: &str, task: HostTask) {
        lock(&self.state)
            .clusters
            .entry(cluster.to_string())
            .or_default()
            .tasks
            .push((container_instance_arn.to_string(), task));
    }

    pub fn add_service(&self, cluster: &str, service: Service) {
        lock(&self.state)
            .clusters
            .entry(cluster.to_string())
            .or_default()
            .services
            .push(service);
    }

    /// Marks a task STOPPED, as ECS does when it finishes stopping.
    pub fn finish_task(&self, task_arn: &str) {
        for c in lock(&self.state).clusters.values_mut() {
            for (_, t) in c.tasks.iter_mut().filter(|(_, t)| t.arn == task_arn) {
                t.last_status = "STOPPED".into();
                t.desired_status = "STOPPED".into();
            }
        }
    }

    pub fn set_status(&self, container_instance_arn: &str, status: InstanceStatus) {
        for c in lock(&self.state).clusters.values_mut() {
            for ci in c
                .instances
                .iter_mut()
                .filter(|ci| ci.arn == container_instance_arn)
            {
                ci.status = status.clone();
            }
        }
    }

    pub fn instance(&self, container_instance_arn: &str) -> Option<ContainerInstance> {
        lock(&self.state)
            .clusters
            .values()
            .flat_map(|c| c.instances.iter())
            .find(|ci| ci.arn == container_instance_arn)
            .cloned()
    }

    pub fn task(&self, task_arn: &str) -> Option<HostTask> {
        lock(&self.state)
            .clusters
            .values()
            .flat_map(|c| c.tasks.iter())
            .find(|(_, t)| t.arn == task_arn)
            .map(|(_, t)| t.clone())
    }

    pub fn fail(&self, operation: &'static str, error: EcsError) {
        lock(&self.state).failures.insert(operation, error);
    }

    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    pub fn count_calls(&self, operation: &str) -> usize {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| *c == operation)
            .count()
    }

    pub fn clear_calls(&self) {
        lock(&self.state).calls.clear();
    }

    fn enter(&self, operation: &'static str) -> Result<MutexGuard<'_, EcsState>, EcsError> {
        let mut st = lock(&self.state);
        st.calls.push(operation.to_string());
        match st.failures.get(operation) {
            Some(e) => Err(e.clone()),
            None => Ok(st),
        }
    }
}

fn cluster<'a>(st: &'a mut EcsState, id: &str) -> Result<&'a mut Cluster, EcsError> {
    let name = arn_resource_id(id);
    st.clusters
        .iter_mut()
        .find(|(arn, _)| arn.as_str() == id || arn_resource_id(arn) == name)
        .map(|(_, c)| c)
        .ok_or_else(|| EcsError::ClusterNotFound {
            cluster: id.to_string(),
        })
}

impl DrainEcsPort for InMemoryDrainEcs {
    async fn drain_cluster_arns(&self) -> Result<Vec<String>, EcsError> {
        let st = self.enter("ListClusters")?;
        Ok(st.clusters.keys().cloned().collect())
    }

    async fn find_container_instance(
        &self,
        cluster_id: &str,
        ec2_instance_id: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        let mut st = self.enter("ListContainerInstances")?;
        let c = cluster(&mut st, cluster_id)?;
        let found = c
            .instances
            .iter()
            .find(|ci| ci.ec2_instance_id.as_deref() == Some(ec2_instance_id))
            .cloned();
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
        let mut st = self.enter("DescribeContainerInstances")?;
        Ok(cluster(&mut st, cluster_id)?
            .instances
            .iter()
            .find(|ci| ci.arn == arn)
            .cloned())
    }

    async fn set_draining(&self, cluster_id: &str, arn: &str) -> Result<(), EcsError> {
        let mut st = self.enter("UpdateContainerInstancesState")?;
        for ci in cluster(&mut st, cluster_id)?
            .instances
            .iter_mut()
            .filter(|ci| ci.arn == arn)
        {
            ci.status = InstanceStatus::Draining;
        }
        Ok(())
    }

    async fn instance_tasks(&self, cluster_id: &str, arn: &str) -> Result<Vec<HostTask>, EcsError> {
        let mut st = self.enter("ListTasks")?;
        st.calls.push("ListTasks".into()); // desired RUNNING, then desired STOPPED
        let tasks: Vec<HostTask> = cluster(&mut st, cluster_id)?
            .tasks
            .iter()
            .filter(|(ci, _)| ci == arn)
            .map(|(_, t)| t.clone())
            .collect();
        if !tasks.is_empty() {
            st.calls.push("DescribeTasks".into());
        }
        Ok(tasks)
    }

    async fn drain_services(
        &self,
        cluster_id: &str,
        services: &[String],
    ) -> Result<Vec<Service>, EcsError> {
        let mut st = self.enter("DescribeServices")?;
        let wanted: BTreeSet<&str> = services.iter().map(|s| arn_resource_id(s)).collect();
        Ok(cluster(&mut st, cluster_id)?
            .services
            .iter()
            .filter(|s| wanted.contains(s.name.as_str()))
            .cloned()
            .collect())
    }

    async fn stop_task(&self, cluster_id: &str, task_arn: &str, _: &str) -> Result<(), EcsError> {
        let mut st = self.enter("StopTask")?;
        // Like ECS: desired STOPPED now; last status follows when the containers exit
        // (`finish_task`).
        for (_, t) in cluster(&mut st, cluster_id)?
            .tasks
            .iter_mut()
            .filter(|(_, t)| t.arn == task_arn)
        {
            t.desired_status = "STOPPED".into();
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
        let mut st = self.enter("PutAttributes")?;
        for ci in cluster(&mut st, cluster_id)?
            .instances
            .iter_mut()
            .filter(|ci| ci.arn == arn)
        {
            ci.attributes.retain(|a| a.name != name);
            ci.attributes.push(Attribute {
                name: name.into(),
                value: Some(value.into()),
            });
        }
        Ok(())
    }
}

/// One recorded lifecycle call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleCall {
    /// `CompleteLifecycleAction` or `RecordLifecycleActionHeartbeat`.
    pub operation: &'static str,
    pub token: String,
    /// false when the action was no longer active.
    pub accepted: bool,
}

#[derive(Debug, Default)]
struct LifecycleState {
    completed: BTreeSet<String>,
    calls: Vec<LifecycleCall>,
    failure: Option<AutoScalingError>,
    /// (group, hook) → timeouts; absent = hook not found.
    hooks: BTreeMap<(String, String), HookTimeouts>,
}

/// Auto Scaling's lifecycle API in memory: an action is active until completed.
#[derive(Debug, Default)]
pub struct InMemoryLifecycle {
    state: Mutex<LifecycleState>,
}

impl InMemoryLifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn calls(&self) -> Vec<LifecycleCall> {
        lock(&self.state).calls.clone()
    }

    /// Accepted CompleteLifecycleAction calls.
    pub fn completions(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == "CompleteLifecycleAction" && c.accepted)
            .count()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    pub fn fail(&self, error: AutoScalingError) {
        lock(&self.state).failure = Some(error);
    }

    /// Declares a lifecycle hook and its timeouts (DescribeLifecycleHooks finds nothing otherwise).
    pub fn add_hook(&self, group: &str, hook: &str, timeouts: HookTimeouts) {
        lock(&self.state)
            .hooks
            .insert((group.to_string(), hook.to_string()), timeouts);
    }

    /// The action timed out or a person completed it.
    pub fn expire(&self, token: &str) {
        lock(&self.state).completed.insert(token.to_string());
    }

    fn call(
        &self,
        operation: &'static str,
        action: &LifecycleAction,
        complete: bool,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        let mut st = lock(&self.state);
        if let Some(e) = st.failure.clone() {
            return Err(e);
        }
        let token = action.lifecycle_action_token.clone();
        let accepted = !st.completed.contains(&token);
        if complete {
            st.completed.insert(token.clone());
        }
        st.calls.push(LifecycleCall {
            operation,
            token,
            accepted,
        });
        Ok(if accepted {
            LifecycleOutcome::Accepted
        } else {
            LifecycleOutcome::NoActiveAction
        })
    }
}

impl LifecyclePort for InMemoryLifecycle {
    async fn hook_timeouts(
        &self,
        auto_scaling_group_name: &str,
        lifecycle_hook_name: &str,
    ) -> Result<Option<HookTimeouts>, AutoScalingError> {
        let st = lock(&self.state);
        if let Some(e) = st.failure.clone() {
            return Err(e);
        }
        Ok(st
            .hooks
            .get(&(
                auto_scaling_group_name.to_string(),
                lifecycle_hook_name.to_string(),
            ))
            .copied())
    }

    async fn complete_continue(
        &self,
        action: &LifecycleAction,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        self.call("CompleteLifecycleAction", action, true)
    }

    async fn heartbeat(
        &self,
        action: &LifecycleAction,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        self.call("RecordLifecycleActionHeartbeat", action, false)
    }
}

/// The re-check queue in memory: keeps (body, delay) in order.
#[derive(Debug, Default)]
pub struct InMemoryQueue {
    sent: Mutex<Vec<(String, u32)>>,
    failure: Mutex<Option<QueueError>>,
}

impl InMemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<(String, u32)> {
        lock(&self.sent).clone()
    }

    /// Takes the queued messages (as the event source mapping would deliver them).
    pub fn drain(&self) -> Vec<(String, u32)> {
        std::mem::take(&mut *lock(&self.sent))
    }

    pub fn fail(&self, error: Option<QueueError>) {
        *lock(&self.failure) = error;
    }
}

impl RecheckQueue for InMemoryQueue {
    async fn send_recheck(&self, body: &str, delay_seconds: u32) -> Result<String, QueueError> {
        if let Some(e) = lock(&self.failure).clone() {
            return Err(e);
        }
        let mut sent = lock(&self.sent);
        sent.push((body.to_string(), delay_seconds));
        Ok(format!("msg-{}", sent.len()))
    }
}
