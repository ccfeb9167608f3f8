//! The host read of the [`Dispatcher`]: the hosts a decision sees (the capacity table through
//! [`crate::capacity::read_capacity_view`], else ECS), the daemon services' reservations, and
//! the owned scale group.

use std::collections::{BTreeMap, BTreeSet};

use crate::arn::same_cluster_name;
use crate::capacity::{
    instance_to_record, query_hosts, read_capacity_view, task_to_record, HostSelection, ReadStats,
    Record, TaskRead,
};
use crate::dispatch::decide::{discount_unrecorded_launches, DaemonReservation, DispatchHost};
use crate::job::{Job, JobNeeds};
use crate::ports::capacity_store::CapacityStore;
use crate::ports::job_store::JobStore;
use crate::ports::scale_group::{GroupState, ScaleGroup};

use super::dispatcher::{DispatchEcs, DispatchError, Dispatcher};

/// The hosts a job may be placed on: with an owned group, its instances that are not
/// `InService` are left out (an instance the group is terminating, `Terminating:Wait`, stays
/// ACTIVE in ECS until the drainer sets it DRAINING: it must get no new work).
pub(super) fn placement_targets(
    hosts: Vec<DispatchHost>,
    group: Option<&GroupState>,
) -> Vec<DispatchHost> {
    let Some(group) = group else {
        return hosts;
    };
    hosts
        .into_iter()
        .filter(|h| {
            let state = h
                .host
                .ec2_instance_id
                .as_deref()
                .and_then(|id| group.lifecycle_state(id));
            state.is_none_or(|s| s == "InService")
        })
        .collect()
}

impl<S: JobStore, E: DispatchEcs, C: CapacityStore, G: ScaleGroup> Dispatcher<S, E, C, G> {
    /// The hosts decide sees: schedulable hosts from the capacity table (less the room of
    /// `jobs` launched since each host item was written: [`discount_unrecorded_launches`]), else
    /// from ECS; with the EC2 ids of every container instance of the cluster (any status).
    /// Hosts carry their capacity provider and whether a job without launch type or strategy
    /// may land there (the cluster's default strategy, read only when a host has a provider).
    pub(super) async fn hosts(
        &self,
        cluster: &str,
        jobs: &[Job],
        now: i64,
    ) -> Result<(Vec<DispatchHost>, BTreeSet<String>), DispatchError> {
        let records: Vec<Record> = match &self.capacity {
            // Only what placement needs: the live hosts (the table's live index: no tombstone or
            // expired item is read), and live tasks only for daemon headroom.
            Some(table) => {
                let tasks = if self.config.daemon_services.is_empty() {
                    TaskRead::None
                } else {
                    TaskRead::All
                };
                let mut stats = ReadStats::default();
                read_capacity_view(table, cluster, &tasks, now, &mut stats).await?
            }
            None => {
                let mut records: Vec<Record> = self
                    .ecs
                    .container_instances(cluster)
                    .await?
                    .into_iter()
                    .map(|ci| instance_to_record(cluster, ci, None, now))
                    .collect();
                if !self.config.daemon_services.is_empty() {
                    // Task groups on each host, so daemon headroom sees where daemons run.
                    for t in self.ecs.running_tasks(cluster).await? {
                        records.push(task_to_record(cluster, t, now));
                    }
                }
                records
            }
        };
        let registered: BTreeSet<String> = records
            .iter()
            .filter_map(|r| match r {
                Record::Instance(i) => i.instance.ec2_instance_id.clone(),
                _ => None,
            })
            .collect();
        let selected = query_hosts(&records, HostSelection::Schedulable);
        let default_strategy: Vec<String> = if selected
            .iter()
            .any(|q| q.record.instance.capacity_provider_name.is_some())
        {
            self.ecs.cluster_default_strategy(cluster).await?
        } else {
            Vec::new()
        };
        let as_of: BTreeMap<String, Option<i64>> = selected
            .iter()
            .map(|q| {
                let at = q.record.updated_at.as_deref().and_then(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .ok()
                        .map(|d| d.timestamp())
                });
                (q.host.id.clone(), at)
            })
            .collect();
        let mut hosts: Vec<DispatchHost> = selected
            .into_iter()
            .map(|q| {
                let ci = &q.record.instance;
                let provider = ci.capacity_provider_name.clone();
                let external = ci
                    .ec2_instance_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("mi-"));
                let in_default_scope = if default_strategy.is_empty() {
                    !external
                } else {
                    provider
                        .as_ref()
                        .is_some_and(|p| default_strategy.contains(p))
                };
                let mut h = DispatchHost::new(
                    q.host,
                    ci.registered.cpu.unwrap_or(0),
                    ci.registered.memory.unwrap_or(0),
                );
                h.capacity_provider = provider;
                h.in_default_scope = in_default_scope;
                h.registered_gpus = ci.registered.gpus.unwrap_or(0);
                h.remaining_gpus = ci.remaining.gpus.unwrap_or(0);
                h
            })
            .collect();
        if self.capacity.is_some() {
            discount_unrecorded_launches(&mut hosts, jobs, &as_of);
        }
        Ok((hosts, registered))
    }

    pub(super) async fn daemons(
        &self,
        cluster: &str,
    ) -> Result<Vec<DaemonReservation>, DispatchError> {
        if self.config.daemon_services.is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .ecs
            .describe_services(cluster, &self.config.daemon_services)
            .await?;
        let mut out = Vec::new();
        for s in described.services {
            let Some(td) = s.effective_task_definition() else {
                continue;
            };
            let needs = JobNeeds::of_task_definition(&self.ecs.describe_task_definition(td).await?);
            out.push(DaemonReservation {
                group: format!("service:{}", s.name),
                cpu: needs.cpu,
                memory: needs.memory,
                ports: needs.ports,
            });
        }
        Ok(out)
    }

    /// The owned group, when `SCALE_GROUP` is this cluster's (DescribeAutoScalingGroups).
    pub(super) async fn owned_group(
        &self,
        cluster: &str,
    ) -> Result<Option<GroupState>, DispatchError> {
        let Some(sg) = self
            .config
            .scale_group
            .as_ref()
            .filter(|g| same_cluster_name(&g.cluster, cluster))
        else {
            return Ok(None);
        };
        match self.group.describe(&sg.name).await? {
            Some(g) => Ok(Some(g)),
            None => Err(DispatchError::Invalid(format!(
                "scale group {} does not exist (SCALE_GROUP)",
                sg.name
            ))),
        }
    }
}
