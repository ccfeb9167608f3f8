//! Ports: the operations the decision code needs from ECS, as a trait.
//!
//! Adapters: `autopilot_aws::AwsEcs` (the real API, paginated and batched within ECS's limits) and
//! [`crate::memory::InMemoryEcs`] (tests, what-if runs). Methods return `impl Future + Send` so the
//! reconcile code is generic over the adapter and still runs on a multi-threaded runtime.

use std::future::Future;

use thiserror::Error;

use crate::model::{ContainerInstance, Service, Task, TaskDefinition};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EcsError {
    #[error("cluster {cluster} not found")]
    ClusterNotFound { cluster: String },
    #[error("ECS throttled {operation} and the SDK's retries ran out: {message}")]
    Throttled {
        operation: &'static str,
        message: String,
    },
    #[error("ECS {operation} failed: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
    #[error("ECS {operation} returned an unusable response: {message}")]
    InvalidResponse {
        operation: &'static str,
        message: String,
    },
}

/// What DescribeServices returned: the services found, and the ones it reported missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedServices {
    pub services: Vec<Service>,
    /// `(arn or name, reason)` for each requested service ECS reported as a failure (e.g. MISSING).
    pub failures: Vec<(String, String)>,
}

pub trait EcsPort: Send + Sync {
    /// Every cluster ARN in the account and region (ListClusters, all pages).
    fn list_cluster_arns(&self) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// Every container instance of the cluster in any status but INACTIVE, fully described
    /// (ListContainerInstances, all pages, then DescribeContainerInstances in batches of 100).
    fn container_instances(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, EcsError>> + Send;

    /// Every service ARN in the cluster (ListServices, 100 per page, all pages).
    fn list_service_arns(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// Describes services by name or ARN, with tags (DescribeServices in batches of 10).
    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<DescribedServices, EcsError>> + Send;

    /// One task definition revision by ARN (or `family:revision`).
    fn task_definition(
        &self,
        task_definition: &str,
    ) -> impl Future<Output = Result<TaskDefinition, EcsError>> + Send;

    /// UpdateService with a new desired count (nothing else).
    fn update_desired_count(
        &self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;
}

/// Task reads for the capacity sweep.
pub trait TaskPort: Send + Sync {
    /// Every task ECS still lists in the cluster (ListTasks with the default desired status
    /// RUNNING, which covers PENDING and RUNNING tasks; all pages), described in batches of 100.
    fn active_tasks(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send;
}
