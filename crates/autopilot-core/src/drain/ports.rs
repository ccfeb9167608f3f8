//! Ports of instance-drainer: what it needs from ECS, from Auto Scaling and from the re-check queue.
//!
//! The ECS operations are a separate trait ([`DrainEcsPort`]) rather than additions to
//! [`crate::ports::EcsPort`], so daemon-count's port stays as it is. Adapters:
//! `autopilot_aws::{AwsEcs, AwsAutoScaling, AwsSqs}` and the in-memory ones in
//! [`super::memory`].

use std::future::Future;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{ContainerInstance, Service};
use crate::ports::EcsError;

/// One task on a host, as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTask {
    pub arn: String,
    /// `PROVISIONING` … `RUNNING` … `STOPPED`.
    pub last_status: String,
    /// `RUNNING` or `STOPPED` (ECS sets STOPPED when it, or StopTask, stops the task).
    pub desired_status: String,
    /// `service:NAME` for service tasks, `family:NAME` (or a custom group) for RunTask/StartTask.
    pub group: Option<String>,
    /// `ecs-svc/…` for service tasks.
    pub started_by: Option<String>,
}

impl HostTask {
    pub fn new(arn: impl Into<String>, group: Option<&str>, started_by: Option<&str>) -> Self {
        HostTask {
            arn: arn.into(),
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            group: group.map(str::to_string),
            started_by: started_by.map(str::to_string),
        }
    }
}

/// Identity of one Auto Scaling lifecycle action (what Complete and Heartbeat need).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleAction {
    pub auto_scaling_group_name: String,
    pub lifecycle_hook_name: String,
    pub lifecycle_action_token: String,
    pub ec2_instance_id: String,
}

/// What Auto Scaling said to CompleteLifecycleAction / RecordLifecycleActionHeartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleOutcome {
    /// The call was accepted.
    Accepted,
    /// `ValidationError: No active Lifecycle Action found …`: the action was already completed (by
    /// us, a duplicate, a person) or timed out. For us that is success: nothing is left to do.
    NoActiveAction,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AutoScalingError {
    #[error("Auto Scaling throttled {operation} and the SDK's retries ran out: {message}")]
    Throttled {
        operation: &'static str,
        message: String,
    },
    #[error("Auto Scaling {operation} failed: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QueueError {
    #[error("SQS {operation} failed: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
}

/// ECS operations of the drainer.
pub trait DrainEcsPort: Send + Sync {
    /// Every cluster ARN (ListClusters, all pages): the search space when neither the hook's
    /// metadata nor `CLUSTERS` names a cluster.
    fn drain_cluster_arns(&self) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// The container instance of `cluster` running on EC2 instance `ec2_instance_id`, if any.
    /// Adapters send the server-side filter `ec2InstanceId == i-…` **and** check the id on the
    /// result (moto ignores filters).
    fn find_container_instance(
        &self,
        cluster: &str,
        ec2_instance_id: &str,
    ) -> impl Future<Output = Result<Option<ContainerInstance>, EcsError>> + Send;

    /// One container instance by ARN; `None` when ECS reports it missing.
    fn describe_container_instance(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> impl Future<Output = Result<Option<ContainerInstance>, EcsError>> + Send;

    /// UpdateContainerInstancesState(DRAINING) for one instance.
    fn set_draining(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// Every task on the host that ECS still lists (desired RUNNING, and desired STOPPED so tasks
    /// that are still shutting down are seen), described (ListTasks all pages, DescribeTasks by 100).
    fn instance_tasks(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> impl Future<Output = Result<Vec<HostTask>, EcsError>> + Send;

    /// Services by name or ARN, with tags (DescribeServices by 10). Missing ones are left out.
    fn drain_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<Vec<Service>, EcsError>> + Send;

    /// StopTask with a reason.
    fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// PutAttributes on the container instance (target = its full ARN).
    fn put_instance_attribute(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        name: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;
}

/// A lifecycle hook's timeouts, as DescribeLifecycleHooks reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookTimeouts {
    /// HeartbeatTimeout: the action is abandoned/continued when no heartbeat comes this long.
    pub heartbeat_seconds: u64,
    /// GlobalTimeout, when reported: the hard limit however many heartbeats are sent.
    pub global_seconds: Option<u64>,
}

/// Auto Scaling lifecycle operations.
pub trait LifecyclePort: Send + Sync {
    /// The hook's timeouts (DescribeLifecycleHooks); `None` when the hook is not found.
    fn hook_timeouts(
        &self,
        auto_scaling_group_name: &str,
        lifecycle_hook_name: &str,
    ) -> impl Future<Output = Result<Option<HookTimeouts>, AutoScalingError>> + Send;

    /// CompleteLifecycleAction with result CONTINUE.
    fn complete_continue(
        &self,
        action: &LifecycleAction,
    ) -> impl Future<Output = Result<LifecycleOutcome, AutoScalingError>> + Send;

    /// RecordLifecycleActionHeartbeat (restarts the hook's heartbeat timeout).
    fn heartbeat(
        &self,
        action: &LifecycleAction,
    ) -> impl Future<Output = Result<LifecycleOutcome, AutoScalingError>> + Send;
}

/// The re-check queue: the same function consumes it through an SQS event source mapping.
pub trait RecheckQueue: Send + Sync {
    /// SendMessage with `DelaySeconds = delay_seconds` (0–900); returns the message id.
    fn send_recheck(
        &self,
        body: &str,
        delay_seconds: u32,
    ) -> impl Future<Output = Result<String, QueueError>> + Send;
}
