//! Answers from stored records, no ECS calls: free capacity per host, the hosts a question
//! sees, and why none is schedulable.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{ContainerInstance, InstanceStatus};
#[cfg(test)]
use crate::record::TaskRecord;
use crate::record::{InstanceRecord, Record};

/// One host row of `capacity show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCapacity {
    pub container_instance_arn: String,
    pub ec2_instance_id: Option<String>,
    pub status: String,
    pub agent_connected: Option<bool>,
    pub registered_cpu: Option<i64>,
    pub registered_memory: Option<i64>,
    pub remaining_cpu: Option<i64>,
    pub remaining_memory: Option<i64>,
    pub running_tasks: Option<i64>,
    pub instance_type: Option<String>,
    pub availability_zone: Option<String>,
    pub version: Option<i64>,
}

/// Cluster totals, computed from the host records of one Query (not maintained as a counter:
/// nothing to keep consistent under concurrent writers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub hosts: usize,
    /// ACTIVE with a connected agent: where new tasks can go.
    pub schedulable_hosts: usize,
    pub registered_cpu: i64,
    pub registered_memory: i64,
    /// Remaining on schedulable hosts only.
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    pub running_tasks: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterCapacity {
    pub cluster: String,
    pub hosts: Vec<HostCapacity>,
    pub totals: Totals,
}

fn attr<'a>(ci: &'a ContainerInstance, name: &str) -> Option<&'a str> {
    ci.attribute(name).and_then(|a| a.value.as_deref())
}

/// True for hosts new tasks can be placed on.
pub fn schedulable(ci: &ContainerInstance) -> bool {
    ci.status == InstanceStatus::Active && ci.agent_connected == Some(true)
}

/// Live (non-tombstone) host records, sorted by EC2 id then ARN.
pub fn live_instances(records: &[Record]) -> Vec<&InstanceRecord> {
    let mut out: Vec<&InstanceRecord> = records
        .iter()
        .filter_map(|r| match r {
            Record::Instance(i) if !i.tombstone => Some(i),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| {
        (a.instance.ec2_instance_id.as_deref(), &a.instance.arn)
            .cmp(&(b.instance.ec2_instance_id.as_deref(), &b.instance.arn))
    });
    out
}

pub fn cluster_capacity(cluster: &str, records: &[Record]) -> ClusterCapacity {
    let mut totals = Totals::default();
    let hosts: Vec<HostCapacity> = live_instances(records)
        .into_iter()
        .map(|r| {
            let ci = &r.instance;
            totals.hosts += 1;
            totals.registered_cpu += ci.registered.cpu.unwrap_or(0);
            totals.registered_memory += ci.registered.memory.unwrap_or(0);
            totals.running_tasks += ci.running_tasks_count.unwrap_or(0);
            if schedulable(ci) {
                totals.schedulable_hosts += 1;
                totals.remaining_cpu += ci.remaining.cpu.unwrap_or(0);
                totals.remaining_memory += ci.remaining.memory.unwrap_or(0);
            }
            HostCapacity {
                container_instance_arn: ci.arn.clone(),
                ec2_instance_id: ci.ec2_instance_id.clone(),
                status: ci.status.to_string(),
                agent_connected: ci.agent_connected,
                registered_cpu: ci.registered.cpu,
                registered_memory: ci.registered.memory,
                remaining_cpu: ci.remaining.cpu,
                remaining_memory: ci.remaining.memory,
                running_tasks: ci.running_tasks_count,
                instance_type: attr(ci, "ecs.instance-type").map(str::to_string),
                availability_zone: attr(ci, "ecs.availability-zone").map(str::to_string),
                version: ci.version,
            }
        })
        .collect();
    ClusterCapacity {
        cluster: cluster.to_string(),
        hosts,
        totals,
    }
}

/// Which live hosts a query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSelection {
    /// ACTIVE with a connected agent: where ECS can place a task (and what daemon-count counts).
    Schedulable,
    /// Every host that is not a tombstone (DRAINING, disconnected, ... included).
    AllLive,
}

/// The query view of one host: its record, and the cluster query language's view of it (remaining
/// CPU, memory and ports, plus the groups of the tasks the table says run on it, for `task:group`
/// and `distinctInstance`). `can-place` and `filter` evaluate the same view.
#[derive(Debug, Clone)]
pub struct QueryHost<'a> {
    pub record: &'a InstanceRecord,
    pub host: ecs_cluster_query::Host,
}

/// The hosts of `selection`, sorted by EC2 id then ARN, each with its task groups.
pub fn query_hosts(records: &[Record], selection: HostSelection) -> Vec<QueryHost<'_>> {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in records {
        if let Record::Task(t) = r {
            if let (true, Some(ci), Some(g)) =
                (t.is_active(), &t.task.container_instance_arn, &t.task.group)
            {
                groups.entry(ci.as_str()).or_default().push(g.clone());
            }
        }
    }
    live_instances(records)
        .into_iter()
        .filter(|r| selection == HostSelection::AllLive || schedulable(&r.instance))
        .map(|r| {
            let ci = &r.instance;
            let used_ports: BTreeSet<u16> = ci
                .remaining
                .ports
                .iter()
                .filter_map(|p| p.trim().parse::<u16>().ok())
                .collect();
            QueryHost {
                record: r,
                host: ecs_cluster_query::Host {
                    id: ci.arn.clone(),
                    attributes: ci
                        .attributes
                        .iter()
                        .map(|a| (a.name.clone(), a.value.clone()))
                        .collect(),
                    ec2_instance_id: ci.ec2_instance_id.clone(),
                    agent_connected: ci.agent_connected,
                    agent_version: ci.agent_version.clone(),
                    registered_at: ci.registered_at,
                    running_tasks_count: ci.running_tasks_count,
                    task_groups: groups.get(ci.arn.as_str()).cloned().unwrap_or_default(),
                    remaining_cpu: ci.remaining.cpu.unwrap_or(0),
                    remaining_memory: ci.remaining.memory.unwrap_or(0),
                    used_ports,
                },
            }
        })
        .collect()
}

/// The placement engine's view of the schedulable hosts (see [`query_hosts`]).
pub fn placement_hosts(records: &[Record]) -> Vec<ecs_cluster_query::Host> {
    query_hosts(records, HostSelection::Schedulable)
        .into_iter()
        .map(|q| q.host)
        .collect()
}

/// Why no task can go anywhere, when the cluster has no schedulable host: `None` when it has one.
/// Names what the hosts are instead, e.g. `no ACTIVE connected host: 3 DRAINING, 1 disconnected`.
pub fn no_schedulable_host_reason(records: &[Record]) -> Option<String> {
    let live = live_instances(records);
    if live.iter().any(|r| schedulable(&r.instance)) {
        return None;
    }
    if live.is_empty() {
        let deregistered = records
            .iter()
            .filter(|r| matches!(r, Record::Instance(i) if i.tombstone))
            .count();
        return Some(if deregistered > 0 {
            format!("the cluster has no registered host ({deregistered} deregistered)")
        } else {
            "the cluster has no hosts".to_string()
        });
    }
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let (mut disconnected, mut agent_unknown) = (0, 0);
    for r in &live {
        let ci = &r.instance;
        if ci.status != InstanceStatus::Active {
            let status = match ci.status.as_str() {
                "" => "status unknown".to_string(),
                s => s.to_string(),
            };
            *by_status.entry(status).or_insert(0) += 1;
        } else if ci.agent_connected == Some(false) {
            disconnected += 1;
        } else {
            agent_unknown += 1;
        }
    }
    let mut parts: Vec<String> = by_status
        .into_iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    if disconnected > 0 {
        parts.push(format!("{disconnected} disconnected"));
    }
    if agent_unknown > 0 {
        parts.push(format!("{agent_unknown} with no known agent state"));
    }
    Some(format!("no ACTIVE connected host: {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::decide::instance_to_record;

    fn host(i: usize, status: InstanceStatus, connected: Option<bool>) -> Record {
        let mut ci = ContainerInstance::new(format!("ci/{i}"), status);
        ci.ec2_instance_id = Some(format!("i-{i}"));
        ci.agent_connected = connected;
        instance_to_record("c", ci, None, 0)
    }

    fn task(i: usize, host: usize, last: &str, tombstone: bool) -> Record {
        Record::Task(TaskRecord {
            cluster_arn: "c".into(),
            task: crate::model::Task {
                arn: format!("t/{i}"),
                cluster_arn: None,
                container_instance_arn: Some(format!("ci/{host}")),
                group: Some(format!("service:s{i}")),
                started_by: None,
                last_status: Some(last.into()),
                desired_status: None,
                cpu: None,
                memory: None,
                launch_type: Some("EC2".into()),
                version: Some(1),
            },
            updated_at: None,
            tombstone,
            expires_at: None,
        })
    }

    #[test]
    fn no_schedulable_host_names_what_the_hosts_are() {
        use InstanceStatus::*;
        let draining = |i| host(i, Draining, Some(true));
        let records = vec![
            draining(1),
            draining(2),
            draining(3),
            host(4, Active, Some(false)),
            host(5, Inactive, Some(false)), // a tombstone: not counted
        ];
        assert_eq!(
            no_schedulable_host_reason(&records).as_deref(),
            Some("no ACTIVE connected host: 3 DRAINING, 1 disconnected")
        );
        let mut with_one = records.clone();
        with_one.push(host(6, Active, Some(true)));
        assert_eq!(no_schedulable_host_reason(&with_one), None);
        assert_eq!(
            no_schedulable_host_reason(&[host(5, Inactive, None)]).as_deref(),
            Some("the cluster has no registered host (1 deregistered)")
        );
        assert_eq!(
            no_schedulable_host_reason(&[task(1, 1, "RUNNING", false)]).as_deref(),
            Some("the cluster has no hosts")
        );
        assert_eq!(
            no_schedulable_host_reason(&[host(7, Registering, None), host(8, Active, None)])
                .as_deref(),
            Some("no ACTIVE connected host: 1 REGISTERING, 1 with no known agent state")
        );
    }

    #[test]
    fn query_hosts_carry_the_groups_of_active_tasks_only() {
        use InstanceStatus::*;
        let records = vec![
            host(1, Active, Some(true)),
            host(2, Draining, Some(true)),
            task(1, 1, "RUNNING", false),
            task(2, 1, "STOPPED", false),
            task(3, 1, "RUNNING", true), // the sweep found it gone
            task(4, 2, "PENDING", false),
        ];
        let schedulable = query_hosts(&records, HostSelection::Schedulable);
        assert_eq!(schedulable.len(), 1);
        assert_eq!(schedulable[0].host.task_groups, vec!["service:s1"]);
        let all = query_hosts(&records, HostSelection::AllLive);
        assert_eq!(
            all.iter().map(|q| q.host.id.as_str()).collect::<Vec<_>>(),
            ["ci/1", "ci/2"]
        );
        assert_eq!(all[1].host.task_groups, vec!["service:s4"]);
        assert_eq!(
            placement_hosts(&records),
            vec![schedulable[0].host.clone()],
            "can-place sees the schedulable view"
        );
    }
}
