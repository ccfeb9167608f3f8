//! The ECS port every capability shares: [`EcsRead`] (lists and describes) and [`EcsWrite`]
//! (the few state changes), plus [`EcsError`] and the rule that only `MISSING` means gone.
//!
//! Two levels, so each multi-call read is written once:
//! - **Primitives**, the trait's required methods: each is exactly one ECS request — one page of a
//!   List call ([`EcsRead::list_page`], a [`ListRequest`] with its typed filter), one Describe
//!   batch within ECS's limit (100 container instances, tasks or clusters; 10 services), one
//!   DescribeTaskDefinition, and the writes. Adapters implement only these:
//!   `autopilot_aws::AwsEcs` (the real API) and `crate::memory::InMemoryEcs` (tests, what-if
//!   runs), whose recorded calls are therefore the requests AWS would see.
//! - **Lookups**, the provided methods (every page, every batch, the failure-entry check of
//!   [`check_describe_failures`], the client-side checks moto needs): written here once, over the
//!   primitives. Adapters do not override them.
//!
//! Methods return `impl Future + Send` so the services are generic over the adapter and still run
//! on a multi-threaded runtime.

use std::future::Future;

use thiserror::Error;

use crate::arn::cluster_name;
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

/// The failure reason DescribeContainerInstances / DescribeTasks / DescribeClusters give for a
/// resource ECS does not have (deregistered, stopped long ago, a cluster deleted or never created).
pub const DESCRIBE_MISSING: &str = "MISSING";

/// ECS's page size for List calls (the API maximum; ListServices defaults to 10 without it).
pub const LIST_PAGE: usize = 100;
/// DescribeContainerInstances, DescribeTasks and DescribeClusters take at most 100 per call.
pub const DESCRIBE_BATCH: usize = 100;
/// DescribeServices takes at most 10 services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;

/// One page of a List call: up to [`LIST_PAGE`] ARNs, and the token of the next page (`None`:
/// the last).
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

/// ListTasks' filters, as this project sends them. Beside `startedBy`, the desired status is
/// always sent: moto lists stopped tasks too without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFilter<'a> {
    /// Every task of the cluster with that desired status.
    Desired(DesiredStatus),
    /// The tasks on one container instance (its ARN) with that desired status.
    OnInstance(&'a str, DesiredStatus),
    /// The tasks of one service (`serviceName`), desired RUNNING.
    Service(&'a str),
    /// The tasks started with this `startedBy`, any desired status: "When you specify startedBy
    /// as the filter, it must be the only filter that you use" (ListTasks).
    StartedBy(&'a str),
}

/// One List request, with its filter: what [`EcsRead::list_page`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRequest<'a> {
    /// ListClusters: the account's clusters in the region.
    Clusters,
    /// ListContainerInstances without a status filter (every status but INACTIVE), with the
    /// cluster query filter `ec2InstanceId == i-…` when one EC2 instance is asked for.
    ContainerInstances {
        cluster: &'a str,
        ec2_instance_id: Option<&'a str>,
    },
    /// ListServices.
    Services { cluster: &'a str },
    /// ListTasks.
    Tasks {
        cluster: &'a str,
        filter: TaskFilter<'a>,
    },
}

impl ListRequest<'_> {
    /// The ECS operation, for errors and call counts.
    pub fn operation(&self) -> &'static str {
        match self {
            ListRequest::Clusters => "ListClusters",
            ListRequest::ContainerInstances { .. } => "ListContainerInstances",
            ListRequest::Services { .. } => "ListServices",
            ListRequest::Tasks { .. } => "ListTasks",
        }
    }

    /// The cluster the request names (`None` for ListClusters).
    pub fn cluster(&self) -> Option<&str> {
        match self {
            ListRequest::Clusters => None,
            ListRequest::ContainerInstances { cluster, .. }
            | ListRequest::Services { cluster }
            | ListRequest::Tasks { cluster, .. } => Some(cluster),
        }
    }
}

/// What one Describe call returned: the items it described, and its failure entries
/// `(arn or name as asked, reason)` — left to the caller ([`check_describe_failures`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described<T> {
    pub items: Vec<T>,
    pub failures: Vec<(String, String)>,
}

impl<T> Default for Described<T> {
    fn default() -> Self {
        Described {
            items: Vec::new(),
            failures: Vec::new(),
        }
    }
}

/// What DescribeServices returned: the services found, and the ones it reported missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedServices {
    pub services: Vec<Service>,
    /// `(arn or name, reason)` for each requested service ECS reported as a failure (e.g. MISSING).
    pub failures: Vec<(String, String)>,
}

/// One cluster as DescribeClusters describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDescription {
    pub arn: String,
    pub name: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED` or `INACTIVE`.
    pub status: String,
    /// The default capacity provider strategy's provider names.
    pub default_strategy: Vec<String>,
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

/// The pages of one List request, fetched one request at a time: for reads that handle a page
/// and drop it (the capacity sweep), and for the lookups that collect every page.
pub struct ListPages<'a, E: ?Sized> {
    ecs: &'a E,
    request: ListRequest<'a>,
    next: Option<String>,
    done: bool,
}

impl<'a, E: EcsRead + ?Sized> ListPages<'a, E> {
    pub fn new(ecs: &'a E, request: ListRequest<'a>) -> Self {
        ListPages {
            ecs,
            request,
            next: None,
            done: false,
        }
    }

    /// The next page's ARNs (one List request), or `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<String>>, EcsError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .ecs
            .list_page(self.request, self.next.as_deref())
            .await?;
        // A token equal to the one just sent would list the same page forever: the SDK's
        // paginators stop there too.
        self.done = page.next.is_none() || page.next == self.next;
        self.next = page.next;
        Ok(Some(page.arns))
    }

    /// Every page's ARNs, in order.
    pub async fn all(mut self) -> Result<Vec<String>, EcsError> {
        let mut arns = Vec::new();
        while let Some(page) = self.next_page().await? {
            arns.extend(page);
        }
        Ok(arns)
    }
}

/// ECS reads: the primitives adapters implement (one request each), then the lookups written over
/// them (provided; not overridden).
pub trait EcsRead: Send + Sync {
    // ---- Primitives: one ECS request each. ----

    /// One page (up to [`LIST_PAGE`]) of `request`'s ARNs, starting at `next`.
    fn list_page(
        &self,
        request: ListRequest<'_>,
        next: Option<&str>,
    ) -> impl Future<Output = Result<ArnPage, EcsError>> + Send;

    /// One DescribeContainerInstances of at most [`DESCRIBE_BATCH`] ARNs.
    fn describe_container_instances_batch(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Described<ContainerInstance>, EcsError>> + Send;

    /// One DescribeTasks of at most [`DESCRIBE_BATCH`] ARNs.
    fn describe_tasks_batch(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Described<Task>, EcsError>> + Send;

    /// One DescribeServices (with tags) of at most [`DESCRIBE_SERVICES_BATCH`] names or ARNs.
    fn describe_services_batch(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<Described<Service>, EcsError>> + Send;

    /// One DescribeClusters of at most [`DESCRIBE_BATCH`] names or ARNs.
    fn describe_clusters_batch(
        &self,
        clusters: &[String],
    ) -> impl Future<Output = Result<Described<ClusterDescription>, EcsError>> + Send;

    /// DescribeTaskDefinition of one revision by ARN (or `family:revision`).
    fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> impl Future<Output = Result<TaskDefinition, EcsError>> + Send;

    // ---- Lookups over the primitives. ----

    /// Every cluster ARN in the account and region (ListClusters, all pages).
    fn list_cluster_arns(&self) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send {
        ListPages::new(self, ListRequest::Clusters).all()
    }

    /// Every service ARN in the cluster (ListServices, all pages).
    fn list_service_arns(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send {
        async move {
            ListPages::new(self, ListRequest::Services { cluster })
                .all()
                .await
        }
    }

    /// Describes container instances (DescribeContainerInstances by [`DESCRIBE_BATCH`]). A
    /// `MISSING` failure entry leaves the instance out; any other fails the call
    /// ([`check_describe_failures`]): a listed host ECS did not describe is not gone (the sweep
    /// would otherwise remove a live host, and daemon-count would under-count).
    fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, EcsError>> + Send {
        async move {
            let mut out = Vec::with_capacity(arns.len());
            for batch in arns.chunks(DESCRIBE_BATCH) {
                let described = self
                    .describe_container_instances_batch(cluster, batch)
                    .await?;
                check_describe_failures("DescribeContainerInstances", &described.failures)?;
                out.extend(described.items);
            }
            Ok(out)
        }
    }

    /// Describes tasks (DescribeTasks by [`DESCRIBE_BATCH`]), with the same failure rule as
    /// [`EcsRead::describe_container_instances`]: a task ECS listed but did not describe may
    /// still run.
    fn describe_tasks(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send {
        async move {
            let mut out = Vec::with_capacity(arns.len());
            for batch in arns.chunks(DESCRIBE_BATCH) {
                let described = self.describe_tasks_batch(cluster, batch).await?;
                check_describe_failures("DescribeTasks", &described.failures)?;
                out.extend(described.items);
            }
            Ok(out)
        }
    }

    /// Every container instance of the cluster in any status but INACTIVE, fully described
    /// (ListContainerInstances page by page, each page described: no status filter, so the
    /// decision record can name the DRAINING and REGISTERING hosts it left out).
    fn container_instances(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, EcsError>> + Send {
        async move {
            let request = ListRequest::ContainerInstances {
                cluster,
                ec2_instance_id: None,
            };
            let mut pages = ListPages::new(self, request);
            let mut out = Vec::new();
            while let Some(arns) = pages.next_page().await? {
                out.extend(self.describe_container_instances(cluster, &arns).await?);
            }
            Ok(out)
        }
    }

    /// The container instance of `cluster` running on EC2 instance `ec2_instance_id`, if any:
    /// the server-side filter `ec2InstanceId == i-…` **and** a check of the id on the result
    /// (moto ignores filters and lists every host).
    fn find_container_instance(
        &self,
        cluster: &str,
        ec2_instance_id: &str,
    ) -> impl Future<Output = Result<Option<ContainerInstance>, EcsError>> + Send {
        async move {
            let request = ListRequest::ContainerInstances {
                cluster,
                ec2_instance_id: Some(ec2_instance_id),
            };
            let arns = ListPages::new(self, request).all().await?;
            // Only MISSING means gone: a host ECS listed but did not describe fails the search.
            Ok(self
                .describe_container_instances(cluster, &arns)
                .await?
                .into_iter()
                .find(|ci| ci.ec2_instance_id.as_deref() == Some(ec2_instance_id)))
        }
    }

    /// One container instance by ARN; `None` when ECS reports it missing (any other failure
    /// entry is not an answer and fails the read).
    fn describe_container_instance(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> impl Future<Output = Result<Option<ContainerInstance>, EcsError>> + Send {
        async move {
            let arns = [container_instance_arn.to_string()];
            Ok(self
                .describe_container_instances(cluster, &arns)
                .await?
                .into_iter()
                .find(|ci| ci.arn == container_instance_arn))
        }
    }

    /// Describes services by name or ARN, with tags (DescribeServices by
    /// [`DESCRIBE_SERVICES_BATCH`]); failure entries are returned, not checked (callers record
    /// a missing service).
    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<DescribedServices, EcsError>> + Send {
        async move {
            let mut out = DescribedServices::default();
            for batch in services.chunks(DESCRIBE_SERVICES_BATCH) {
                let described = self.describe_services_batch(cluster, batch).await?;
                out.services.extend(described.items);
                out.failures.extend(described.failures);
            }
            Ok(out)
        }
    }

    /// The status of each cluster (DescribeClusters by [`DESCRIBE_BATCH`]), one entry per
    /// cluster asked for, in order. A failure entry other than MISSING, or no answer at all,
    /// fails the call: it is not "gone" (a live cluster's partition would be retired).
    fn describe_clusters(
        &self,
        clusters: &[String],
    ) -> impl Future<Output = Result<Vec<ClusterState>, EcsError>> + Send {
        async move {
            let mut out = Vec::with_capacity(clusters.len());
            for batch in clusters.chunks(DESCRIBE_BATCH) {
                let described = self.describe_clusters_batch(batch).await?;
                let mut unanswered = Vec::new();
                for wanted in batch {
                    let name = cluster_name(wanted);
                    let found = described
                        .items
                        .iter()
                        .find(|c| c.name == name || c.arn == *wanted);
                    let failure = described
                        .failures
                        .iter()
                        .find(|(arn, _)| arn == wanted || cluster_name(arn) == name);
                    match (found, failure) {
                        (Some(c), _) => out.push(ClusterState {
                            cluster: wanted.clone(),
                            arn: Some(c.arn.clone()).filter(|a| !a.is_empty()),
                            status: c.status.clone(),
                        }),
                        (None, Some((_, reason))) if reason == DESCRIBE_MISSING => {
                            out.push(ClusterState {
                                cluster: wanted.clone(),
                                arn: None,
                                status: DESCRIBE_MISSING.to_string(),
                            })
                        }
                        (None, failure) => {
                            let reason = failure.map_or("no answer", |(_, r)| r.as_str());
                            unanswered.push(format!("{wanted}: {reason}"));
                        }
                    }
                }
                if !unanswered.is_empty() {
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
    }

    /// The cluster's default capacity provider strategy (provider names; one DescribeClusters),
    /// the scope of services and jobs with neither a strategy nor a launch type.
    fn cluster_default_strategy(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send {
        async move {
            let described = self.describe_clusters_batch(&[cluster.to_string()]).await?;
            match described.items.into_iter().next() {
                Some(c) => Ok(c.default_strategy),
                None => Err(EcsError::ClusterNotFound {
                    cluster: cluster.to_string(),
                }),
            }
        }
    }

    /// The service's live tasks (ListTasks by service name, all pages; DescribeTasks by 100),
    /// kept to those whose `group` is `service:NAME` (moto ignores the service filter).
    fn service_tasks(
        &self,
        cluster: &str,
        service_name: &str,
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send {
        async move {
            let filter = TaskFilter::Service(service_name);
            let arns = ListPages::new(self, ListRequest::Tasks { cluster, filter })
                .all()
                .await?;
            let group = format!("service:{service_name}");
            Ok(self
                .describe_tasks(cluster, &arns)
                .await?
                .into_iter()
                .filter(|t| t.group.as_deref() == Some(group.as_str()))
                .collect())
        }
    }

    /// Every task on the host that ECS still lists — desired RUNNING, then desired STOPPED so
    /// tasks that are still shutting down are seen (ListTasks all pages of each, each ARN once)
    /// — described (DescribeTasks by 100).
    fn instance_tasks(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send {
        async move {
            let mut arns: Vec<String> = Vec::new();
            for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
                let filter = TaskFilter::OnInstance(container_instance_arn, desired);
                for arn in ListPages::new(self, ListRequest::Tasks { cluster, filter })
                    .all()
                    .await?
                {
                    if !arns.contains(&arn) {
                        arns.push(arn);
                    }
                }
            }
            self.describe_tasks(cluster, &arns).await
        }
    }

    /// Every task of the cluster ECS wants running (ListTasks desired RUNNING, all pages),
    /// described (DescribeTasks by 100).
    fn running_tasks(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<Task>, EcsError>> + Send {
        async move {
            let filter = TaskFilter::Desired(DesiredStatus::Running);
            let mut pages = ListPages::new(self, ListRequest::Tasks { cluster, filter });
            let mut out = Vec::new();
            while let Some(arns) = pages.next_page().await? {
                out.extend(self.describe_tasks(cluster, &arns).await?);
            }
            Ok(out)
        }
    }
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
