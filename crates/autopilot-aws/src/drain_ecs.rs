//! instance-drainer's ECS operations ([`DrainEcsPort`]) on [`AwsEcs`].
//!
//! - Host lookup: ListContainerInstances with the server-side filter `ec2InstanceId == i-…` (all
//!   pages, 100 per page), DescribeContainerInstances by 100, and a client-side check of the EC2 id,
//!   so the answer is right when the filter is not applied (moto ignores it).
//! - Tasks: ListTasks on the container instance for desired RUNNING and desired STOPPED (so tasks
//!   still shutting down are seen), all pages, then DescribeTasks by 100.

use aws_sdk_ecs::types::{Attribute, ContainerInstanceStatus, DesiredStatus};

use autopilot_core::drain::ports::{DrainEcsPort, HostTask};
use autopilot_core::model::{ContainerInstance, Service};
use autopilot_core::ports::{EcsError, EcsPort};

use crate::ecs::{map_err, AwsEcs, LIST_PAGE_SIZE};

/// The cluster query filter for one EC2 instance.
pub fn ec2_instance_filter(ec2_instance_id: &str) -> String {
    format!("ec2InstanceId == {ec2_instance_id}")
}

impl AwsEcs {
    async fn list_tasks(
        &self,
        cluster: &str,
        container_instance_arn: &str,
        desired: DesiredStatus,
    ) -> Result<Vec<String>, EcsError> {
        self.client()
            .list_tasks()
            .cluster(cluster)
            .container_instance(container_instance_arn)
            .desired_status(desired)
            .max_results(LIST_PAGE_SIZE)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| map_err("ListTasks", Some(cluster), e))
    }
}

impl DrainEcsPort for AwsEcs {
    async fn drain_cluster_arns(&self) -> Result<Vec<String>, EcsError> {
        EcsPort::list_cluster_arns(self).await
    }

    async fn find_container_instance(
        &self,
        cluster: &str,
        ec2_instance_id: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        let arns: Vec<String> = self
            .client()
            .list_container_instances()
            .cluster(cluster)
            .filter(ec2_instance_filter(ec2_instance_id))
            .max_results(LIST_PAGE_SIZE)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| map_err("ListContainerInstances", Some(cluster), e))?;
        if arns.is_empty() {
            return Ok(None);
        }
        // With the filter applied this is one ARN; without it (moto), every host: check the id.
        Ok(self
            .describe_instances(cluster, &arns)
            .await?
            .into_iter()
            .find(|ci| ci.ec2_instance_id.as_deref() == Some(ec2_instance_id)))
    }

    async fn describe_container_instance(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<Option<ContainerInstance>, EcsError> {
        Ok(self
            .describe_instances(cluster, &[container_instance_arn.to_string()])
            .await?
            .into_iter()
            .find(|ci| ci.arn == container_instance_arn))
    }

    async fn set_draining(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<(), EcsError> {
        let resp = self
            .client()
            .update_container_instances_state()
            .cluster(cluster)
            .container_instances(container_instance_arn)
            .status(ContainerInstanceStatus::Draining)
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

    async fn instance_tasks(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<Vec<HostTask>, EcsError> {
        let mut arns = self
            .list_tasks(cluster, container_instance_arn, DesiredStatus::Running)
            .await?;
        for arn in self
            .list_tasks(cluster, container_instance_arn, DesiredStatus::Stopped)
            .await?
        {
            if !arns.contains(&arn) {
                arns.push(arn);
            }
        }
        Ok(self
            .describe_tasks(cluster, &arns)
            .await?
            .into_iter()
            .map(|t| HostTask {
                arn: t.arn,
                last_status: t.last_status.unwrap_or_default(),
                desired_status: t.desired_status.unwrap_or_default(),
                group: t.group,
                started_by: t.started_by,
            })
            .collect())
    }

    async fn drain_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Vec<Service>, EcsError> {
        Ok(EcsPort::describe_services(self, cluster, services)
            .await?
            .services)
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
        // Full ARN as targetId and no targetType: accepted by ECS and by moto alike.
        let attribute = Attribute::builder()
            .name(name)
            .value(value)
            .target_id(container_instance_arn)
            .build()
            .map_err(|e| EcsError::Api {
                operation: "PutAttributes",
                message: e.to_string(),
            })?;
        self.client()
            .put_attributes()
            .cluster(cluster)
            .attributes(attribute)
            .send()
            .await
            .map_err(|e| map_err("PutAttributes", Some(cluster), e))?;
        Ok(())
    }
}
