//! The ECS port every capability shares: [`EcsRead`] (lists and describes) and [`EcsWrite`]
//! (the few state changes), plus [`EcsError`] and the rule that only `MISSING` means gone.
//!
//! Adapters: `autopilot_aws::AwsEcs` (the real API, paginated and batched within ECS's limits) and
//! [`crate::memory::InMemoryEcs`] (tests, what-if runs). Methods return `impl Future + Send` so the
//! services are generic over the adapter and still run on a multi-threaded runtime.

use std::future::Future;

use thiserror::Error;

use crate::model::{ContainerInstance, InstanceStatus, Service, Task, TaskDefinition};
use crate::retry::Retryable;

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
    /// ECS refused the request itself (AccessDenied, an invalid parameter, a service it will not
    /// update): the same request fails the same way, so a retry cannot fix it.
    #[error("ECS refused {operation} ({code}): {message}")]
    Refused {
        operation: &'static str,
        code: String,
        message: String,
    },
}

impl Retryable for EcsError {
    /// Throttling past the SDK's retries, a server error, a timeout or a lost connection (`Api`)
    /// can succeed on a retry; a refusal, a missing cluster or a response we cannot read cannot.
    fn is_retryable(&self) -> bool {
        matches!(self, EcsError::Throttled { .. } | EcsError::Api { .. })
    }
}

/// What DescribeServices returned: the services found, and the ones it reported missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedServices {
    pub services: Vec<Service>,
    /// `(arn or name, reason)` for each requested service ECS reported as a failure (e.g. MISSING).
    pub failures: Vec<(String, String)>,
}

/// The failure reason DescribeContainerInstances / DescribeTasks / DescribeClusters give for a
/// resource ECS does not have (deregistered, stopped long ago, a cluster deleted or never created).
pub const DESCRIBE_MISSING: &str = "MISSING";

/// One page of a List call: up to 100 ARNs, and the token of the next page (`None`: the last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArnPage {
    pub arns: Vec<String>,
    pub next: Option<String>,
}

/// ListTasks' `desiredStatus` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredStatus {
    /// ECS's default: tasks it wants running (PENDING and RUNNING ones).
    Running,
    /// Tasks ECS has set to stop: the ones still stopping, and the recently stopped ones
    /// ("stopped tasks appear in the returned results for at least one hour", ListTasks).
    Stopped,
}

/// What DescribeClusters says about one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterState {
    /// The cluster as it was asked for (name or ARN).
    pub cluster: String,
    pub arn: Option<String>,
    /// ECS's status (`ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED`, `INACTIVE`), or
    /// [`DESCRIBE_MISSING`] when ECS answered with a failure entry of that reason.
    pub status: String,
}

/// DescribeClusters' status of a deleted cluster ("The cluster transitions to the INACTIVE state",
/// DeleteCluster).
pub const CLUSTER_INACTIVE: &str = "INACTIVE";

impl ClusterState {
    /// Only INACTIVE (deleted) and MISSING (unknown to ECS) mean gone; a cluster that is being
    /// created, deleted or failed still has its resources.
    pub fn is_gone(&self) -> bool {
        self.status == CLUSTER_INACTIVE || self.status == DESCRIBE_MISSING
    }
}

/// The rule for Describe* failure entries `(arn, reason)` when listing a cluster: `MISSING` means
/// the resource is gone (it went away between List and Describe) and it is left out; any other
/// reason means ECS did not answer for a resource it just listed, which is not "gone" — the read
/// fails, naming them, so no caller mistakes a live host or task for a removed one.
pub fn check_describe_failures(
    operation: &'static str,
    failures: &[(String, String)],
) -> Result<(), EcsError> {
    let unanswered: Vec<String> = failures
        .iter()
        .filter(|(_, reason)| reason != DESCRIBE_MISSING)
        .map(|(arn, reason)| format!("{arn}: {reason}"))
        .collect();
    if unanswered.is_empty() {
        return Ok(());
    }
    Err(EcsError::Api {
        operation,
        message: format!(
            "ECS did not describe {} listed resource(s) ({}); not treated as gone",
            unanswered.len(),
            unanswered.join("; ")
        ),
    })
}

/// ECS reads.
pub trait EcsRead: Send + Sync {
    /// Every cluster ARN in the account and region (ListClusters, all pages).
    fn list_cluster_arns(&self) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// Every container instance of the cluster in any status but INACTIVE, fully described
    /// (ListContainerInstances, all pages, then DescribeContainerInstances in batches of 100).
    fn container_instances(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, EcsError>> + Send;

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

    /// One page (up to 100) of the cluster's container instance ARNs, every status but INACTIVE
    /// (ListContainerInstances without a status filter), starting at `next`.
    fn list_container_instance_arns(
        &self,
        cluster: &str,
        next: Option<&str>,
    ) -> impl Future<Output = Result<ArnPage, EcsError>> + Send;

    /// Describes up to 100 container instances (one DescribeContainerInstances). A `MISSING`
    /// failure entry leaves the instance out; any other fails the call ([`check_describe_failures`]).
    fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, EcsError>> + Send;

    /// One page (up to 100) of the cluster's task ARNs with that desired status (ListTasks),
    /// starting at `next`.
    fn list_task_arns(
        &self,
        cluster: &str,
        desired: DesiredStatus,
        next: Option<&str>,
    ) -> impl Future<Output = Result<ArnPage, EcsError>> + Send;

    /// Describes up to 100 tasks (one DescribeTasks), with the same failure rule as
    /// [`EcsRead::describe_container_instances`].
    fn describe_tasks(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send;

    /// The cluster's default capacity provider strategy (provider names; DescribeClusters), the
    /// scope of services with neither a strategy nor a launch type.
    fn cluster_default_strategy(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// The service's live tasks (ListTasks by service name, all pages; DescribeTasks by 100),
    /// kept to those whose `group` is `service:NAME` (moto ignores the service filter).
    fn service_tasks(
        &self,
        cluster: &str,
        service_name: &str,
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send;

    /// The status of each cluster (DescribeClusters, 100 per call), one entry per cluster asked
    /// for, in order. A failure entry other than MISSING fails the call: it is not "gone".
    fn describe_clusters(
        &self,
        clusters: &[String],
    ) -> impl Future<Output = Result<Vec<ClusterState>, EcsError>> + Send;

    /// Every task on the host that ECS still lists (desired RUNNING, and desired STOPPED so tasks
    /// that are still shutting down are seen), described (ListTasks all pages, DescribeTasks by 100).
    fn instance_tasks(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send;
}

/// ECS writes: each is one request, made only when the value changes.
pub trait EcsWrite: Send + Sync {
    /// UpdateService with a new desired count (nothing else).
    fn update_desired_count(
        &self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// UpdateContainerInstancesState for one instance: `Draining`, or `Active` to undo a drain
    /// (the only two states the API accepts).
    fn set_instance_status(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        status: InstanceStatus,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

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

    /// DeleteAttributes of one attribute of the container instance (target = its full ARN).
    fn delete_instance_attribute(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_describe_failures_mean_gone() {
        let missing = vec![("arn:a".to_string(), "MISSING".to_string())];
        assert_eq!(check_describe_failures("DescribeTasks", &missing), Ok(()));
        assert_eq!(check_describe_failures("DescribeTasks", &[]), Ok(()));
        let transient = vec![
            ("arn:a".to_string(), "MISSING".to_string()),
            ("arn:b".to_string(), "INTERNAL_ERROR".to_string()),
        ];
        let err = check_describe_failures("DescribeContainerInstances", &transient)
            .expect_err("a non-MISSING failure is an error")
            .to_string();
        assert!(err.contains("DescribeContainerInstances"), "{err}");
        assert!(err.contains("arn:b: INTERNAL_ERROR"), "{err}");
        assert!(
            !err.contains("arn:a"),
            "MISSING entries are not errors: {err}"
        );
    }
}
