//! The ECS port ([`EcsRead`], [`EcsWrite`]) over `aws-sdk-ecs`.
//!
//! - Host lookup by EC2 id: ListContainerInstances with the server-side filter
//!   `ec2InstanceId == i-…`, then a client-side check of the id (moto ignores the filter).
//! - A host's tasks: ListTasks for desired RUNNING and desired STOPPED (tasks still shutting down
//!   are seen), then DescribeTasks by 100.
//!
//! Page and batch sizes follow ECS's limits: List* calls ask for 100 per page (ListServices
//! defaults to 10 otherwise) and follow every page through the SDK's paginators;
//! DescribeContainerInstances takes 100 ARNs per call, DescribeServices 10. Throttling is retried
//! by the SDK's standard retry strategy (configured on the client); when it runs out the error says so.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::list_tasks::builders::ListTasksFluentBuilder;
use aws_sdk_ecs::types::{self as ecs, ContainerInstanceStatus, DesiredStatus, ServiceField};
use aws_sdk_ecs::Client;

use autopilot_core::arn::cluster_name;
use autopilot_core::model::{ContainerInstance, InstanceStatus, Task, TaskDefinition};
use autopilot_core::ports::{
    check_describe_failures, ArnPage, ClusterState, DescribedServices,
    DesiredStatus as PortDesiredStatus, EcsError, EcsRead, EcsWrite, DESCRIBE_MISSING,
};

use crate::error::AwsError;

/// ECS page size for List* calls (the API maximum).
pub const LIST_PAGE_SIZE: i32 = 100;
/// DescribeContainerInstances accepts at most 100 ARNs per call.
pub const DESCRIBE_INSTANCES_BATCH: usize = 100;
/// DescribeTasks accepts at most 100 task ARNs per call.
pub const DESCRIBE_TASKS_BATCH: usize = 100;
/// DescribeServices accepts at most 10 services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// DescribeClusters accepts at most 100 clusters per call.
pub const DESCRIBE_CLUSTERS_BATCH: usize = 100;

#[derive(Clone, Debug)]
pub struct AwsEcs {
    client: Client,
}

impl AwsEcs {
    pub fn new(client: Client) -> Self {
        AwsEcs { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// ECS error codes for requests ECS refuses as they are: the same request fails the same way, so
/// they are recorded rather than retried (ECS API reference, "Common errors" and each action's
/// errors). ServerException and anything unlisted stay retryable.
const REFUSALS: [&str; 9] = [
    "AccessDeniedException",
    "ClientException",
    "InvalidParameterException",
    "ServiceNotActiveException",
    "ServiceNotFoundException",
    "UnsupportedFeatureException",
    "PlatformUnknownException",
    "PlatformTaskDefinitionIncompatibilityException",
    "ValidationException",
];

/// Maps an SDK error to the port's error, keeping AWS's message: ClusterNotFoundException names
/// the cluster (when the call had one), throttling is [`EcsError::Throttled`], the rest
/// [`EcsError::Api`].
pub(crate) fn map_err<E, R>(
    operation: &'static str,
    cluster: Option<&str>,
    err: SdkError<E, R>,
) -> EcsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (AwsError::classify(&err), cluster) {
        (
            AwsError::Service {
                code: Some(code), ..
            },
            Some(cluster),
        ) if code == "ClusterNotFoundException" => EcsError::ClusterNotFound {
            cluster: cluster.to_string(),
        },
        (AwsError::Throttled { message, .. }, _) => EcsError::Throttled { operation, message },
        (
            AwsError::Service {
                code: Some(code),
                message,
                ..
            },
            _,
        ) if REFUSALS.contains(&code.as_str()) => EcsError::Refused {
            operation,
            code,
            message,
        },
        (other, _) => EcsError::Api {
            operation,
            message: other.into_message(),
        },
    }
}

/// Failure entries of a Describe call: `(arn, reason)`.
type Failures = Vec<(String, String)>;

/// What a batched Describe collects: the items, and ECS's failure entries (logged); callers
/// apply [`check_describe_failures`].
struct Described<T> {
    items: Vec<T>,
    failures: Failures,
}

impl<T> Described<T> {
    fn with_capacity(n: usize) -> Self {
        Described {
            items: Vec::with_capacity(n),
            failures: Vec::new(),
        }
    }

    /// Adds one response's converted items and failure entries.
    fn add(
        &mut self,
        items: impl Iterator<Item = Result<T, EcsError>>,
        failures: &[ecs::Failure],
    ) -> Result<(), EcsError> {
        for item in items {
            self.items.push(item?);
        }
        for f in failures {
            let (arn, reason) = failure_entry(f);
            tracing::info!(arn = %arn, reason = %reason, "Describe failure entry");
            self.failures.push((arn, reason));
        }
        Ok(())
    }

    fn into_parts(self) -> (Vec<T>, Failures) {
        (self.items, self.failures)
    }
}

impl AwsEcs {
    /// DescribeContainerInstances in batches of 100, with ECS's failure entries.
    async fn describe_instance_batches(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<(Vec<ContainerInstance>, Failures), EcsError> {
        let mut out = Described::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_INSTANCES_BATCH) {
            let resp = self
                .client
                .describe_container_instances()
                .cluster(cluster)
                .set_container_instances(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| map_err("DescribeContainerInstances", Some(cluster), e))?;
            let items = resp.container_instances().iter();
            out.add(items.map(container_instance_from_sdk), resp.failures())?;
        }
        Ok(out.into_parts())
    }

    /// DescribeTasks in batches of 100, with ECS's failure entries: each described task through
    /// `convert` (`None` leaves it out).
    pub(super) async fn describe_task_batches<T>(
        &self,
        cluster: &str,
        arns: &[String],
        convert: impl Fn(&ecs::Task) -> Option<Result<T, EcsError>>,
    ) -> Result<(Vec<T>, Failures), EcsError> {
        let mut out = Described::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_TASKS_BATCH) {
            let resp = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| map_err("DescribeTasks", Some(cluster), e))?;
            out.add(resp.tasks().iter().filter_map(&convert), resp.failures())?;
        }
        Ok(out.into_parts())
    }
}

/// Every described task, as the port's [`Task`].
fn every_task(t: &ecs::Task) -> Option<Result<Task, EcsError>> {
    Some(task_from_sdk(t))
}

fn failure_entry(f: &ecs::Failure) -> (String, String) {
    (
        f.arn().unwrap_or("").to_string(),
        f.reason().unwrap_or("failure").to_string(),
    )
}

impl EcsRead for AwsEcs {
    async fn list_cluster_arns(&self) -> Result<Vec<String>, EcsError> {
        all_pages!(self.client.list_clusters(), "ListClusters", None)
    }

    async fn container_instances(&self, cluster: &str) -> Result<Vec<ContainerInstance>, EcsError> {
        // No status filter: ECS then returns every status but INACTIVE, so the decision record can
        // name the DRAINING and REGISTERING hosts it left out.
        let arns: Vec<String> = all_pages!(
            self.client.list_container_instances().cluster(cluster),
            "ListContainerInstances",
            Some(cluster)
        )?;

        // A listed host ECS did not describe is not gone unless ECS says MISSING: the sweep
        // would otherwise remove a live host, and daemon-count would under-count.
        let (instances, failures) = self.describe_instance_batches(cluster, &arns).await?;
        check_describe_failures("DescribeContainerInstances", &failures)?;
        Ok(instances)
    }

    async fn list_service_arns(&self, cluster: &str) -> Result<Vec<String>, EcsError> {
        all_pages!(
            self.client.list_services().cluster(cluster),
            "ListServices",
            Some(cluster)
        )
    }

    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<DescribedServices, EcsError> {
        let mut out = DescribedServices::default();
        for batch in services.chunks(DESCRIBE_SERVICES_BATCH) {
            let resp = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| map_err("DescribeServices", Some(cluster), e))?;
            for f in resp.failures() {
                out.failures.push((
                    f.arn().unwrap_or("").to_string(),
                    f.reason().unwrap_or("failure").to_string(),
                ));
            }
            for s in resp.services() {
                out.services.push(service_from_sdk(s)?);
            }
        }
        Ok(out)
    }

    async fn task_definition(&self, task_definition: &str) -> Result<TaskDefinition, EcsError> {
        let resp = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| map_err("DescribeTaskDefinition", None, e))?;
        let td = resp
            .task_definition()
            .ok_or_else(|| EcsError::InvalidResponse {
                operation: "DescribeTaskDefinition",
                message: format!("no task definition in the response for {task_definition}"),
            })?;
        Ok(task_definition_from_sdk(td, task_definition))
    }

    async fn list_container_instance_arns(
        &self,
        cluster: &str,
        next: Option<&str>,
    ) -> Result<ArnPage, EcsError> {
        // No status filter: every status but INACTIVE.
        let resp = self
            .client
            .list_container_instances()
            .cluster(cluster)
            .max_results(LIST_PAGE_SIZE)
            .set_next_token(next.map(str::to_string))
            .send()
            .await
            .map_err(|e| map_err("ListContainerInstances", Some(cluster), e))?;
        Ok(ArnPage {
            arns: resp.container_instance_arns().to_vec(),
            next: resp.next_token().map(str::to_string),
        })
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ContainerInstance>, EcsError> {
        let (instances, failures) = self.describe_instance_batches(cluster, arns).await?;
        check_describe_failures("DescribeContainerInstances", &failures)?;
        Ok(instances)
    }

    async fn list_task_arns(
        &self,
        cluster: &str,
        desired: PortDesiredStatus,
        next: Option<&str>,
    ) -> Result<ArnPage, EcsError> {
        // The desired status is always sent: moto lists stopped tasks too without it.
        let resp = self
            .client
            .list_tasks()
            .cluster(cluster)
            .desired_status(match desired {
                PortDesiredStatus::Running => DesiredStatus::Running,
                PortDesiredStatus::Stopped => DesiredStatus::Stopped,
            })
            .max_results(LIST_PAGE_SIZE)
            .set_next_token(next.map(str::to_string))
            .send()
            .await
            .map_err(|e| map_err("ListTasks", Some(cluster), e))?;
        Ok(ArnPage {
            arns: resp.task_arns().to_vec(),
            next: resp.next_token().map(str::to_string),
        })
    }

    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<Task>, EcsError> {
        // As for hosts: only MISSING means the task is gone.
        let (tasks, failures) = self
            .describe_task_batches(cluster, arns, every_task)
            .await?;
        check_describe_failures("DescribeTasks", &failures)?;
        Ok(tasks)
    }

    async fn describe_clusters(&self, clusters: &[String]) -> Result<Vec<ClusterState>, EcsError> {
        let mut out = Vec::with_capacity(clusters.len());
        for batch in clusters.chunks(DESCRIBE_CLUSTERS_BATCH) {
            let resp = self
                .client
                .describe_clusters()
                .set_clusters(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| map_err("DescribeClusters", None, e))?;
            let mut unanswered = Vec::new();
            for wanted in batch {
                let name = cluster_name(wanted);
                let found = resp.clusters().iter().find(|c| {
                    c.cluster_name() == Some(name) || c.cluster_arn() == Some(wanted.as_str())
                });
                let failure = resp.failures().iter().find(|f| {
                    f.arn()
                        .is_some_and(|arn| arn == wanted.as_str() || cluster_name(arn) == name)
                });
                out.push(match (found, failure) {
                    (Some(c), _) => ClusterState {
                        cluster: wanted.clone(),
                        arn: c.cluster_arn().map(str::to_string),
                        status: c.status().unwrap_or("").to_string(),
                    },
                    (None, Some(f)) if f.reason() == Some(DESCRIBE_MISSING) => ClusterState {
                        cluster: wanted.clone(),
                        arn: None,
                        status: DESCRIBE_MISSING.to_string(),
                    },
                    (None, f) => {
                        let reason = f.and_then(|f| f.reason()).unwrap_or("no answer");
                        unanswered.push(format!("{wanted}: {reason}"));
                        continue;
                    }
                });
            }
            if !unanswered.is_empty() {
                // Not MISSING: not gone. Fail rather than retire a live cluster's partition.
                return Err(EcsError::Api {
                    operation: "DescribeClusters",
                    message: format!(
                        "ECS did not describe {} cluster(s) ({}); not treated as gone",
                        unanswered.len(),
                        unanswered.join("; ")
                    ),
                });
            }
        }
        Ok(out)
    }

    async fn find_container_instance(
        &self,
        cluster: &str,
        ec2_instance_id: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        let arns: Vec<String> = all_pages!(
            self.client
                .list_container_instances()
                .cluster(cluster)
                .filter(ec2_instance_filter(ec2_instance_id)),
            "ListContainerInstances",
            Some(cluster)
        )?;
        if arns.is_empty() {
            return Ok(None);
        }
        // With the filter applied this is one ARN; without it (moto), every host: check the id.
        // Only MISSING means gone: a host ECS listed but did not describe fails the search.
        let (instances, failures) = self.describe_instance_batches(cluster, &arns).await?;
        check_describe_failures("DescribeContainerInstances", &failures)?;
        Ok(instances
            .into_iter()
            .find(|ci| ci.ec2_instance_id.as_deref() == Some(ec2_instance_id)))
    }

    async fn describe_container_instance(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        let (instances, failures) = self
            .describe_instance_batches(cluster, &[container_instance_arn.to_string()])
            .await?;
        // MISSING: gone (None); any other failure is not an answer and fails the read.
        check_describe_failures("DescribeContainerInstances", &failures)?;
        Ok(instances
            .into_iter()
            .find(|ci| ci.arn == container_instance_arn))
    }

    async fn cluster_default_strategy(&self, cluster: &str) -> Result<Vec<String>, EcsError> {
        let resp = self
            .client
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|e| map_err("DescribeClusters", Some(cluster), e))?;
        let Some(c) = resp.clusters().first() else {
            return Err(EcsError::ClusterNotFound {
                cluster: cluster.to_string(),
            });
        };
        Ok(c.default_capacity_provider_strategy()
            .iter()
            .map(|p| p.capacity_provider().to_string())
            .collect())
    }

    async fn service_tasks(
        &self,
        cluster: &str,
        service_name: &str,
    ) -> Result<Vec<Task>, EcsError> {
        let arns: Vec<String> = all_pages!(
            self.client
                .list_tasks()
                .cluster(cluster)
                .service_name(service_name)
                .desired_status(DesiredStatus::Running),
            "ListTasks",
            Some(cluster)
        )?;
        let (tasks, failures) = self
            .describe_task_batches(cluster, &arns, every_task)
            .await?;
        check_describe_failures("DescribeTasks", &failures)?;
        let group = format!("service:{service_name}");
        // moto ignores serviceName and lists every task of the cluster: keep the service's own.
        Ok(tasks
            .into_iter()
            .filter(|t| t.group.as_deref() == Some(group.as_str()))
            .collect())
    }

    async fn instance_tasks(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<Vec<Task>, EcsError> {
        let arns = self
            .running_and_stopped_task_arns(cluster, |r| {
                r.container_instance(container_instance_arn)
            })
            .await?;
        let (tasks, failures) = self
            .describe_task_batches(cluster, &arns, every_task)
            .await?;
        // A task ECS listed but did not describe may still run: not "gone".
        check_describe_failures("DescribeTasks", &failures)?;
        Ok(tasks)
    }
}

impl EcsWrite for AwsEcs {
    async fn update_desired_count(
        &self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> Result<(), EcsError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(desired_count)
            .send()
            .await
            .map_err(|e| map_err("UpdateService", Some(cluster), e))?;
        Ok(())
    }

    async fn set_instance_status(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        status: InstanceStatus,
    ) -> Result<(), EcsError> {
        let status = match status {
            InstanceStatus::Active => ContainerInstanceStatus::Active,
            InstanceStatus::Draining => ContainerInstanceStatus::Draining,
            other => {
                return Err(EcsError::Api {
                    operation: "UpdateContainerInstancesState",
                    message: format!("{other} is not a status UpdateContainerInstancesState sets"),
                })
            }
        };
        let resp = self
            .client()
            .update_container_instances_state()
            .cluster(cluster)
            .container_instances(container_instance_arn)
            .status(status)
            .send()
            .await
            .map_err(|e| map_err("UpdateContainerInstancesState", Some(cluster), e))?;
        if let Some(f) = resp.failures().first() {
            return Err(EcsError::Api {
                operation: "UpdateContainerInstancesState",
                message: format!(
                    "{}: {} {}",
                    f.arn().unwrap_or(container_instance_arn),
                    f.reason().unwrap_or("failure"),
                    f.detail().unwrap_or("")
                ),
            });
        }
        Ok(())
    }

    async fn stop_task(&self, cluster: &str, task_arn: &str, reason: &str) -> Result<(), EcsError> {
        self.client()
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| map_err("StopTask", Some(cluster), e))?;
        Ok(())
    }

    async fn put_instance_attribute(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        name: &str,
        value: &str,
    ) -> Result<(), EcsError> {
        let attribute =
            instance_attribute("PutAttributes", container_instance_arn, name, Some(value))?;
        self.client()
            .put_attributes()
            .cluster(cluster)
            .attributes(attribute)
            .send()
            .await
            .map_err(|e| map_err("PutAttributes", Some(cluster), e))?;
        Ok(())
    }

    async fn delete_instance_attribute(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        name: &str,
    ) -> Result<(), EcsError> {
        // AWS: a custom attribute is deleted by name and target, without its value.
        let attribute = instance_attribute("DeleteAttributes", container_instance_arn, name, None)?;
        self.client()
            .delete_attributes()
            .cluster(cluster)
            .attributes(attribute)
            .send()
            .await
            .map_err(|e| map_err("DeleteAttributes", Some(cluster), e))?;
        Ok(())
    }
}

impl AwsEcs {
    /// ListTasks for desired RUNNING, then desired STOPPED (tasks still shutting down are seen),
    /// all pages, each ARN once; `filter` narrows the request (a host, a `startedBy`).
    pub(super) async fn running_and_stopped_task_arns(
        &self,
        cluster: &str,
        filter: impl Fn(ListTasksFluentBuilder) -> ListTasksFluentBuilder,
    ) -> Result<Vec<String>, EcsError> {
        let mut arns: Vec<String> = Vec::new();
        for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let request = filter(self.client.list_tasks().cluster(cluster));
            let page: Vec<String> =
                all_pages!(request.desired_status(desired), "ListTasks", Some(cluster))?;
            for arn in page {
                if !arns.contains(&arn) {
                    arns.push(arn);
                }
            }
        }
        Ok(arns)
    }
}

/// Every item of a List* request, all pages at ECS's maximum page size, errors mapped.
macro_rules! all_pages {
    ($request:expr, $operation:literal, $cluster:expr) => {
        $request
            .max_results(LIST_PAGE_SIZE)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| map_err($operation, $cluster, e))
    };
}
use all_pages;

/// A custom attribute of one container instance: the full ARN as targetId and no targetType,
/// accepted by ECS and by moto alike.
fn instance_attribute(
    operation: &'static str,
    container_instance_arn: &str,
    name: &str,
    value: Option<&str>,
) -> Result<ecs::Attribute, EcsError> {
    ecs::Attribute::builder()
        .name(name)
        .set_value(value.map(str::to_string))
        .target_id(container_instance_arn)
        .build()
        .map_err(|e| EcsError::Api {
            operation,
            message: e.to_string(),
        })
}

/// The cluster query filter for one EC2 instance.
pub fn ec2_instance_filter(ec2_instance_id: &str) -> String {
    format!("ec2InstanceId == {ec2_instance_id}")
}

mod convert;
pub use convert::*;
mod launcher;
pub use launcher::task_override;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_container_instances::DescribeContainerInstancesOutput;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_container_instances::ListContainerInstancesOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const LIVE: &str = "arn:aws:ecs:us-east-1:1:container-instance/prod/live";
    const OTHER: &str = "arn:aws:ecs:us-east-1:1:container-instance/prod/other";

    /// Lists LIVE and OTHER; describes LIVE and reports OTHER as a failure with `reason`.
    fn hosts_with_failure(reason: &'static str) -> AwsEcs {
        let list = mock!(Client::list_container_instances).then_output(|| {
            ListContainerInstancesOutput::builder()
                .container_instance_arns(LIVE)
                .container_instance_arns(OTHER)
                .build()
        });
        let describe = mock!(Client::describe_container_instances).then_output(move || {
            DescribeContainerInstancesOutput::builder()
                .container_instances(
                    ecs::ContainerInstance::builder()
                        .container_instance_arn(LIVE)
                        .status("ACTIVE")
                        .build(),
                )
                .failures(ecs::Failure::builder().arn(OTHER).reason(reason).build())
                .build()
        });
        AwsEcs::new(mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&list, &describe]
        ))
    }

    #[test]
    fn errors_map_to_the_port() {
        use crate::error::tests::{metadata, service_error};
        use aws_sdk_ecs::operation::list_services::ListServicesError;
        let err = |code: &str| {
            service_error(ListServicesError::generic(metadata(
                code,
                "Cluster not found.",
            )))
        };
        assert_eq!(
            map_err(
                "ListServices",
                Some("ghost"),
                err("ClusterNotFoundException")
            ),
            EcsError::ClusterNotFound {
                cluster: "ghost".into()
            }
        );
        // Without a cluster to name, it stays an API error.
        assert!(matches!(
            map_err("ListServices", None, err("ClusterNotFoundException")),
            EcsError::Api { .. }
        ));
        assert!(matches!(
            map_err("ListServices", Some("prod"), err("ThrottlingException")),
            EcsError::Throttled {
                operation: "ListServices",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_missing_host_is_left_out() {
        let hosts = hosts_with_failure("MISSING")
            .container_instances("prod")
            .await
            .expect("MISSING is not an error");
        assert_eq!(
            hosts.iter().map(|h| h.arn.as_str()).collect::<Vec<_>>(),
            [LIVE]
        );
    }

    #[tokio::test]
    async fn a_host_ecs_did_not_describe_fails_the_read() {
        let err = hosts_with_failure("INTERNAL_ERROR")
            .container_instances("prod")
            .await
            .expect_err("a listed host ECS did not describe is not gone")
            .to_string();
        assert!(
            err.contains(OTHER) && err.contains("INTERNAL_ERROR"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_task_ecs_did_not_describe_fails_the_read() {
        let task = "arn:aws:ecs:us-east-1:1:task/prod/t1";
        let list = mock!(Client::list_tasks)
            .then_output(move || ListTasksOutput::builder().task_arns(task).build());
        let describe = mock!(Client::describe_tasks).then_output(move || {
            DescribeTasksOutput::builder()
                .failures(ecs::Failure::builder().arn(task).reason("TIMEOUT").build())
                .build()
        });
        let ecs = AwsEcs::new(mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&list, &describe]
        ));
        let err = ecs
            .describe_tasks("prod", &[task.to_string()])
            .await
            .expect_err("not gone")
            .to_string();
        assert!(err.contains("TIMEOUT"), "{err}");
    }
}
