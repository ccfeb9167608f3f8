//! The ECS port's primitives ([`EcsRead`], [`EcsWrite`]) over `aws-sdk-ecs`: each method is one
//! request. The lookups that take several (every page, every batch, the failure-entry check, the
//! client-side checks moto needs) are the port's own, written once over these.
//!
//! What only this adapter does: List requests ask for ECS's maximum page size (ListServices
//! defaults to 10 otherwise) and carry the server-side filters (`ec2InstanceId == i-…`,
//! `containerInstance`, `serviceName`, `desiredStatus`); DescribeServices asks for tags; ECS's
//! failure entries are logged. Throttling is retried by the SDK's standard retry strategy
//! (configured on the client); when it runs out the error says so.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{self as ecs, ContainerInstanceStatus, DesiredStatus, ServiceField};
use aws_sdk_ecs::Client;

use autopilot_core::model::{ContainerInstance, InstanceStatus, Service, Task, TaskDefinition};
use autopilot_core::ports::{
    ArnPage, ClusterDescription, Described, DesiredStatus as PortDesiredStatus, EcsError, EcsRead,
    EcsWrite, ListRequest, TaskFilter,
};

use crate::error::AwsError;

/// ECS page size for List* calls (the API maximum).
pub const LIST_PAGE_SIZE: i32 = 100;
/// DescribeTasks accepts at most 100 task ARNs per call (the launcher's batches).
pub const DESCRIBE_TASKS_BATCH: usize = autopilot_core::ports::ecs::DESCRIBE_BATCH;

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

/// A Describe response's failure entries as `(arn, reason)`, logged.
fn failure_entries(failures: &[ecs::Failure]) -> Vec<(String, String)> {
    failures
        .iter()
        .map(|f| {
            let (arn, reason) = (
                f.arn().unwrap_or("").to_string(),
                f.reason().unwrap_or("failure").to_string(),
            );
            tracing::info!(arn = %arn, reason = %reason, "Describe failure entry");
            (arn, reason)
        })
        .collect()
}

/// One response's converted items and failure entries.
fn described<T, S>(
    items: &[S],
    convert: impl Fn(&S) -> Result<T, EcsError>,
    failures: &[ecs::Failure],
) -> Result<Described<T>, EcsError> {
    Ok(Described {
        items: items.iter().map(convert).collect::<Result<_, _>>()?,
        failures: failure_entries(failures),
    })
}

fn sdk_desired(desired: PortDesiredStatus) -> DesiredStatus {
    match desired {
        PortDesiredStatus::Running => DesiredStatus::Running,
        PortDesiredStatus::Stopped => DesiredStatus::Stopped,
    }
}

impl AwsEcs {
    /// DescribeTasks in batches of 100, with ECS's failure entries: each described task through
    /// `convert` (`None` leaves it out). The launcher's reads, which need the SDK's task.
    pub(super) async fn describe_task_batches<T>(
        &self,
        cluster: &str,
        arns: &[String],
        convert: impl Fn(&ecs::Task) -> Option<T>,
    ) -> Result<Described<T>, EcsError> {
        let mut out = Described::default();
        for batch in arns.chunks(DESCRIBE_TASKS_BATCH) {
            let resp = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| map_err("DescribeTasks", Some(cluster), e))?;
            out.items.extend(resp.tasks().iter().filter_map(&convert));
            out.failures.extend(failure_entries(resp.failures()));
        }
        Ok(out)
    }
}

/// Sends a List request for the page after `next` at ECS's maximum page size, errors mapped.
macro_rules! send_page {
    ($request:expr, $next:expr, $operation:expr, $cluster:expr) => {
        $request
            .max_results(LIST_PAGE_SIZE)
            .set_next_token($next)
            .send()
            .await
            .map_err(|e| map_err($operation, $cluster, e))?
    };
}

impl EcsRead for AwsEcs {
    async fn list_page(
        &self,
        request: ListRequest<'_>,
        next: Option<&str>,
    ) -> Result<ArnPage, EcsError> {
        let operation = request.operation();
        let next = next.map(str::to_string);
        let (arns, next) = match request {
            ListRequest::Clusters => {
                let resp = send_page!(self.client.list_clusters(), next, operation, None);
                (resp.cluster_arns().to_vec(), resp.next_token)
            }
            ListRequest::ContainerInstances {
                cluster,
                ec2_instance_id,
            } => {
                // No status filter: every status but INACTIVE.
                let request = (self.client.list_container_instances())
                    .cluster(cluster)
                    .set_filter(ec2_instance_id.map(ec2_instance_filter));
                let resp = send_page!(request, next, operation, Some(cluster));
                (resp.container_instance_arns().to_vec(), resp.next_token)
            }
            ListRequest::Services { cluster } => {
                let request = self.client.list_services().cluster(cluster);
                let resp = send_page!(request, next, operation, Some(cluster));
                (resp.service_arns().to_vec(), resp.next_token)
            }
            ListRequest::Tasks { cluster, filter } => {
                let request = self.client.list_tasks().cluster(cluster);
                let request = match filter {
                    TaskFilter::Desired(d) => request.desired_status(sdk_desired(d)),
                    TaskFilter::OnInstance(arn, d) => request
                        .container_instance(arn)
                        .desired_status(sdk_desired(d)),
                    TaskFilter::Service(name) => request
                        .service_name(name)
                        .desired_status(DesiredStatus::Running),
                    // startedBy alone: ECS refuses it combined with other filters.
                    TaskFilter::StartedBy(started_by) => request.started_by(started_by),
                };
                let resp = send_page!(request, next, operation, Some(cluster));
                (resp.task_arns().to_vec(), resp.next_token)
            }
        };
        Ok(ArnPage { arns, next })
    }

    async fn describe_container_instances_batch(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Described<ContainerInstance>, EcsError> {
        let resp = self
            .client
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| map_err("DescribeContainerInstances", Some(cluster), e))?;
        described(
            resp.container_instances(),
            container_instance_from_sdk,
            resp.failures(),
        )
    }

    async fn describe_tasks_batch(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Described<Task>, EcsError> {
        let resp = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| map_err("DescribeTasks", Some(cluster), e))?;
        described(resp.tasks(), task_from_sdk, resp.failures())
    }

    async fn describe_services_batch(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Described<Service>, EcsError> {
        let resp = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| map_err("DescribeServices", Some(cluster), e))?;
        described(resp.services(), service_from_sdk, resp.failures())
    }

    async fn describe_clusters_batch(
        &self,
        clusters: &[String],
    ) -> Result<Described<ClusterDescription>, EcsError> {
        // Without a cluster to name: a cluster ECS does not have is a MISSING failure entry.
        let resp = self
            .client
            .describe_clusters()
            .set_clusters(Some(clusters.to_vec()))
            .send()
            .await
            .map_err(|e| map_err("DescribeClusters", None, e))?;
        described(
            resp.clusters(),
            |c| Ok(cluster_from_sdk(c)),
            resp.failures(),
        )
    }

    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinition, EcsError> {
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
