//! The owned group's next move, pure (README "task-dispatcher", "Capacity that exists only while
//! jobs need it"): how many hosts to add for the queue, and which idle hosts to remove.
//!
//! **Up.** The queued jobs that wait in the dispatch plan are placed again by the same
//! simulator ([`decide`], priority order, constraints, strategies, daemon headroom) over the
//! hosts that exist plus virtual empty hosts of the group's size: first the hosts already coming
//! (desired capacity minus the group's hosts registered in the cluster: launched or about to be,
//! not yet registered), then `k = 1, 2, ...` new ones, until no waiting job that could ever run on
//! a group host is left, or the group is at MaxSize. Desired capacity is raised by that `k`
//! (never lowered here). A host's size is what a registered host of the group registers, else
//! `SCALE_GROUP_HOST_CPU` / `SCALE_GROUP_HOST_MEMORY`; a virtual host has that host's attributes
//! (none when no group host is registered yet, so a `memberOf` on attributes waits for a real
//! one).
//!
//! **Down.** A group host (in the cluster, schedulable, `InService` in the group) is *idle* when
//! no dispatcher job is STARTING or RUNNING on it, no job is placed on it this wake-up, and no
//! QUEUED job could ever run on it. A STARTING job whose host is not known yet makes every host
//! busy (it may be on any of them). Daemon tasks and tasks the dispatcher did not start do not
//! count: the group is the dispatcher's (the drainer stops what else runs there). An idle host's
//! clock starts at the first wake-up that sees it idle (kept in the jobs table); once idle for
//! `IDLE_SECONDS` it is removed by TerminateInstanceInAutoScalingGroup with decrement.
//!
//! | queue / hosts                                              | result                          |
//! |------------------------------------------------------------|---------------------------------|
//! | group at 0 (max 3), one job that fits one host             | raise to 1                      |
//! | desired 1, its instance launched, not registered           | coming 1 → no raise             |
//! | three jobs, two fit per host, group at 0                   | raise to 2                      |
//! | group at MaxSize, a job still waits                        | no raise; job "at MaxSize"      |
//! | job bigger than a group host                               | no raise (never fits)           |
//! | job fits a host that exists                                | no raise                        |
//! | idle host, first seen idle                                 | clock starts, nothing removed   |
//! | idle host, idle ≥ IDLE_SECONDS                             | terminate it                    |
//! | host with a RUNNING job                                    | busy: clock cleared             |
//! | a STARTING job with no host yet                            | every host busy                 |
//! | a queued job (backoff too) that could run on the host      | busy                            |
//! | host only running daemon tasks                             | idle                            |
//! | instance not InService (Terminating:Wait)                  | not considered                  |

use std::collections::{BTreeMap, BTreeSet};

use ecs_cluster_query::Host;
use serde::Serialize;

use crate::dispatch::decide::{
    could_ever_fit, decide, Action, DaemonReservation, DispatchHost, Plan,
};
use crate::job::{rules, Job, JobState};
use crate::ports::scale_group::{GroupInstance, GroupState};

/// What one host of the group registers (CPU units, MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HostSize {
    pub cpu: i64,
    pub memory: i64,
}

/// Everything the decision reads.
pub struct ScaleInput<'a> {
    /// Every job of the cluster (after the wake-up's reconcile).
    pub jobs: &'a [Job],
    /// The schedulable hosts of the cluster (what `decide` saw).
    pub hosts: &'a [DispatchHost],
    pub daemons: &'a [DaemonReservation],
    /// The wake-up's dispatch plan over `hosts`.
    pub plan: &'a Plan,
    pub group: &'a GroupState,
    /// The configured size (used when no group host is registered).
    pub host_size: HostSize,
    /// Instance id → Unix seconds since which it has been idle (the stored clock).
    pub idle_since: &'a BTreeMap<String, i64>,
    pub idle_seconds: i64,
    pub now: i64,
}

/// The decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScalePlan {
    /// SetDesiredCapacity to this (only ever above the current desired capacity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raise_to: Option<u32>,
    /// Hosts coming: desired capacity not yet registered in the cluster.
    pub coming: u32,
    /// New hosts the queue needs beyond those there and coming (capped by MaxSize).
    pub needed: u32,
    /// Jobs that still wait with the group at MaxSize.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub at_max: Vec<String>,
    /// Why each waiting job waits for the group (job id → reason), for its record.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// Group hosts with a dispatcher job (or one that could take a queued job).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub busy: Vec<String>,
    /// The idle clock to store: idle instance → since.
    pub idle_since: BTreeMap<String, i64>,
    /// Idle instances due for removal (idle ≥ `IDLE_SECONDS`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminate: Vec<String>,
}

fn virtual_host(i: usize, size: HostSize, template: Option<&Host>) -> DispatchHost {
    let mut host = Host::new(format!("new-host-{i}"));
    host.ec2_instance_id = None;
    if let Some(t) = template {
        host.attributes = t.attributes.clone();
    }
    host.remaining_cpu = size.cpu;
    host.remaining_memory = size.memory;
    DispatchHost {
        host,
        registered_cpu: size.cpu,
        registered_memory: size.memory,
    }
}

/// Waiting jobs (in `plan`) that could ever run on a host like `probe`.
fn demand<'a>(jobs: &'a [Job], plan: &Plan, probe: &DispatchHost) -> Vec<&'a Job> {
    plan.decisions
        .iter()
        .filter(|d| d.action == Action::Wait)
        .filter_map(|d| jobs.iter().find(|j| j.job_id == d.job_id))
        .filter(|j| {
            rules(&j.spec, j.submitted_at as u64)
                .map(|(c, _)| could_ever_fit(j, &c, probe))
                .unwrap_or(false)
        })
        .collect()
}

/// Decides the group's next move (see the module's table).
pub fn decide_scale(input: &ScaleInput<'_>) -> ScalePlan {
    let group = input.group;
    let live = group.instance_ids(GroupInstance::is_live);
    let in_service = group.instance_ids(GroupInstance::in_service);
    // The group's hosts registered in the cluster (and schedulable).
    let group_hosts: Vec<&DispatchHost> = input
        .hosts
        .iter()
        .filter(|h| {
            h.host
                .ec2_instance_id
                .as_deref()
                .is_some_and(|id| live.contains(id))
        })
        .collect();
    let size = group_hosts
        .first()
        .map(|h| HostSize {
            cpu: h.registered_cpu,
            memory: h.registered_memory,
        })
        .unwrap_or(input.host_size);
    let template = group_hosts.first().map(|h| &h.host);
    let coming = group.desired.saturating_sub(group_hosts.len() as u32);
    let mut out = ScalePlan {
        coming,
        ..ScalePlan::default()
    };

    // Up.
    let probe = virtual_host(0, size, template);
    let waiting = demand(input.jobs, input.plan, &probe);
    if !waiting.is_empty() {
        let room = group.max.saturating_sub(group.desired);
        let bound = room.min(waiting.len() as u32);
        let mut extra = 0;
        let mut augmented;
        loop {
            let mut hosts = input.hosts.to_vec();
            hosts.extend(
                (0..(coming + extra) as usize).map(|i| virtual_host(i + 1, size, template)),
            );
            augmented = decide(input.jobs, &hosts, input.daemons, input.now);
            if demand(input.jobs, &augmented, &probe).is_empty() || extra >= bound {
                break;
            }
            extra += 1;
        }
        out.needed = extra;
        if extra > 0 {
            out.raise_to = Some(group.desired + extra);
        }
        let target = group.desired + extra;
        let still: BTreeSet<&str> = demand(input.jobs, &augmented, &probe)
            .iter()
            .map(|j| j.job_id.as_str())
            .collect();
        for j in &waiting {
            let note = if still.contains(j.job_id.as_str()) {
                out.at_max.push(j.job_id.clone());
                format!(
                    "waits for room: scale group {} is at MaxSize {} (desired {target})",
                    group.name, group.max
                )
            } else {
                format!(
                    "waits for a new host of scale group {} (desired {target}, {} not registered yet)",
                    group.name,
                    coming + extra
                )
            };
            out.notes.insert(j.job_id.clone(), note);
        }
    }

    // Down.
    let unknown_host = input
        .jobs
        .iter()
        .any(|j| j.state == JobState::Starting && j.container_instance_arn.is_none());
    for h in &group_hosts {
        let Some(id) = h.host.ec2_instance_id.as_deref() else {
            continue;
        };
        if !in_service.contains(id) {
            continue;
        }
        let runs_job = input.jobs.iter().any(|j| {
            matches!(j.state, JobState::Starting | JobState::Running)
                && j.container_instance_arn.as_deref() == Some(h.host.id.as_str())
        });
        let placed_now = input
            .plan
            .placed()
            .any(|d| d.host.as_deref() == Some(h.host.id.as_str()));
        let wanted = input.jobs.iter().any(|j| {
            j.state == JobState::Queued
                && rules(&j.spec, j.submitted_at as u64)
                    .map(|(c, _)| could_ever_fit(j, &c, h))
                    .unwrap_or(false)
        });
        if unknown_host || runs_job || placed_now || wanted {
            out.busy.push(id.to_string());
            continue;
        }
        let since = input.idle_since.get(id).copied().unwrap_or(input.now);
        out.idle_since.insert(id.to_string(), since);
        if input.now - since >= input.idle_seconds {
            out.terminate.push(id.to_string());
        }
    }
    out
}

/// Capacity-provider jobs (a job with `capacityProviderStrategy`, on a group with managed
/// scaling the dispatcher does not own): the waiting ones RunTask submits anyway, head first, so
/// ECS's cluster autoscaler sees the demand. ECS's managed scale-out works from PROVISIONING
/// tasks: "Tasks without a capacity provider strategy are ignored by capacity providers. A
/// pending task that doesn't have a capacity provider strategy won't cause any capacity
/// provider to scale out", and it groups "all of the provisioning tasks for this capacity
/// provider" to size the scale-out (ECS Developer Guide, managed scaling behavior). A dispatcher
/// that waited for room before RunTask would never scale such a group from zero. The
/// dispatcher never sets such a group's desired capacity.
/// At most `limit` of the cluster's jobs are PROVISIONING at once (the jobs submitted this way
/// whose task has no host yet), well under ECS's per-cluster PROVISIONING cap (past it RunTask
/// throws, and the job is re-queued in its place).
///
/// | waiting job                          | PROVISIONING now | result                      |
/// |--------------------------------------|------------------|-----------------------------|
/// | with a strategy, head of the queue   | < limit          | submitted (no host pin)     |
/// | with a strategy                      | = limit          | waits                       |
/// | without a strategy                   | any              | waits (owned group / hosts) |
/// | in backoff                           | any              | waits                       |
pub fn provision(jobs: &[Job], plan: &Plan, limit: usize) -> Vec<String> {
    let provisioning = jobs
        .iter()
        .filter(|j| {
            matches!(j.state, JobState::Starting | JobState::Running)
                && j.spec.capacity_provider_strategy.is_some()
                && j.container_instance_arn.is_none()
        })
        .count();
    plan.decisions
        .iter()
        .filter(|d| d.action == Action::Wait)
        .filter(|d| {
            jobs.iter()
                .any(|j| j.job_id == d.job_id && j.spec.capacity_provider_strategy.is_some())
        })
        .take(limit.saturating_sub(provisioning))
        .map(|d| d.job_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobNeeds, RunTaskSpec, Submission};
    use crate::ports::scale_group::GroupInstance;

    const SIZE: HostSize = HostSize {
        cpu: 4096,
        memory: 7482,
    };

    fn job(id: &str, memory: i64) -> Job {
        Submission {
            spec: RunTaskSpec {
                cluster: "c".into(),
                task_definition: "td".into(),
                ..RunTaskSpec::default()
            },
            ..Submission::default()
        }
        .into_job(
            id.into(),
            JobNeeds {
                cpu: 0,
                memory,
                ports: vec![],
            },
            0,
        )
    }

    fn group(desired: u32, max: u32, instances: &[(&str, &str)]) -> GroupState {
        GroupState {
            name: "batch".into(),
            desired,
            min: 0,
            max,
            instances: instances
                .iter()
                .map(|(id, state)| GroupInstance {
                    instance_id: id.to_string(),
                    lifecycle_state: state.to_string(),
                })
                .collect(),
        }
    }

    fn host(ec2: &str, free: i64) -> DispatchHost {
        let mut h = Host::new(format!("arn:ci/{ec2}"));
        h.ec2_instance_id = Some(ec2.into());
        h.remaining_cpu = 4096;
        h.remaining_memory = free;
        DispatchHost {
            host: h,
            registered_cpu: 4096,
            registered_memory: 7482,
        }
    }

    fn run(
        jobs: &[Job],
        hosts: &[DispatchHost],
        g: &GroupState,
        idle: &BTreeMap<String, i64>,
        now: i64,
    ) -> ScalePlan {
        let plan = decide(jobs, hosts, &[], now);
        decide_scale(&ScaleInput {
            jobs,
            hosts,
            daemons: &[],
            plan: &plan,
            group: g,
            host_size: SIZE,
            idle_since: idle,
            idle_seconds: 300,
            now,
        })
    }

    #[test]
    fn one_job_on_an_empty_group_raises_it_to_one_and_counts_the_host_on_its_way() {
        let jobs = [job("nightly", 3000)];
        let none = BTreeMap::new();
        let p = run(&jobs, &[], &group(0, 3, &[]), &none, 10);
        assert_eq!((p.raise_to, p.needed, p.coming), (Some(1), 1, 0));
        assert!(p.notes["nightly"].contains("waits for a new host"), "{p:?}");
        // The next wake-up: desired 1, the instance launched, not registered yet.
        for state in ["Pending", "InService"] {
            let p = run(&jobs, &[], &group(1, 3, &[("i-1", state)]), &none, 20);
            assert_eq!((p.raise_to, p.coming), (None, 1), "{state}");
        }
        // Desired raised, the instance not even launched yet: still coming.
        let p = run(&jobs, &[], &group(1, 3, &[]), &none, 20);
        assert_eq!((p.raise_to, p.coming), (None, 1));
    }

    #[test]
    fn three_jobs_two_per_host_need_two_hosts_and_max_size_bounds_it() {
        let jobs = [job("a", 3000), job("b", 3000), job("c", 3000)];
        let none = BTreeMap::new();
        let p = run(&jobs, &[], &group(0, 3, &[]), &none, 10);
        assert_eq!(p.raise_to, Some(2));
        assert!(p.at_max.is_empty());
        let p = run(&jobs, &[], &group(0, 1, &[]), &none, 10);
        assert_eq!(p.raise_to, Some(1));
        assert_eq!(p.at_max, ["c"]);
        assert!(p.notes["c"].contains("at MaxSize 1"), "{:?}", p.notes);
        // At MaxSize already, one host registered and full: no raise, the job says why.
        let full = [host("i-1", 1000)];
        let p = run(
            &jobs[..1],
            &full,
            &group(1, 1, &[("i-1", "InService")]),
            &none,
            10,
        );
        assert_eq!((p.raise_to, p.at_max.len()), (None, 1));
    }

    #[test]
    fn no_raise_for_a_job_that_fits_or_never_fits() {
        let none = BTreeMap::new();
        let hosts = [host("i-1", 7482)];
        let g = group(1, 3, &[("i-1", "InService")]);
        assert_eq!(
            run(&[job("fits", 1000)], &hosts, &g, &none, 5).raise_to,
            None
        );
        let p = run(&[job("huge", 16000)], &[], &group(0, 3, &[]), &none, 5);
        assert_eq!((p.raise_to, p.notes.len()), (None, 0));
    }

    #[test]
    fn an_idle_host_is_removed_after_idle_seconds_and_a_busy_one_never() {
        let g = group(1, 3, &[("i-1", "InService")]);
        let hosts = [host("i-1", 7482)];
        let p = run(&[], &hosts, &g, &BTreeMap::new(), 100);
        assert_eq!(p.idle_since, BTreeMap::from([("i-1".to_string(), 100)]));
        assert!(p.terminate.is_empty());
        let clock = p.idle_since;
        assert!(run(&[], &hosts, &g, &clock, 399).terminate.is_empty());
        assert_eq!(run(&[], &hosts, &g, &clock, 400).terminate, ["i-1"]);

        // A RUNNING job on it: busy, the clock is cleared.
        let mut running = job("r", 1000);
        running.state = JobState::Running;
        running.container_instance_arn = Some("arn:ci/i-1".into());
        let p = run(&[running.clone()], &hosts, &g, &clock, 10_000);
        assert_eq!(
            (p.busy.as_slice(), p.terminate.len()),
            (&["i-1".to_string()][..], 0)
        );
        assert!(p.idle_since.is_empty());

        // A STARTING job without a host yet: every host busy.
        let mut starting = job("s", 1000);
        starting.state = JobState::Starting;
        assert!(run(&[starting], &hosts, &g, &clock, 10_000)
            .terminate
            .is_empty());

        // A queued job in backoff that could run there: busy.
        let mut retry = job("q", 1000);
        retry.not_before = Some(20_000);
        assert!(run(&[retry], &hosts, &g, &clock, 10_000)
            .terminate
            .is_empty());

        // A queued job that never fits the host does not keep it.
        assert_eq!(
            run(&[job("huge", 16000)], &hosts, &g, &clock, 10_000).terminate,
            ["i-1"]
        );

        // Finished jobs and daemon tasks do not keep it either.
        let mut done = running;
        done.state = JobState::Succeeded;
        let mut with_daemon = hosts.clone();
        with_daemon[0].host.task_groups.push("service:logs".into());
        with_daemon[0].host.remaining_memory = 7000;
        assert_eq!(
            run(&[done], &with_daemon, &g, &clock, 10_000).terminate,
            ["i-1"]
        );

        // Already terminating: not considered again.
        let leaving = group(0, 3, &[("i-1", "Terminating:Wait")]);
        let p = run(&[], &hosts, &leaving, &clock, 10_000);
        assert!(p.terminate.is_empty() && p.idle_since.is_empty());
    }

    #[test]
    fn capacity_provider_jobs_are_submitted_head_first_within_the_limit() {
        let cp = |id: &str| {
            let mut j = job(id, 3000);
            j.spec.capacity_provider_strategy =
                Some(serde_json::json!([{"capacityProvider": "cp", "weight": 1}]));
            j
        };
        let mut backoff = cp("backoff");
        backoff.not_before = Some(1_000);
        let jobs = vec![cp("a"), job("plain", 3000), cp("b"), cp("c"), backoff];
        let plan = decide(&jobs, &[], &[], 10);
        assert_eq!(provision(&jobs, &plan, 2), ["a", "b"]);
        // One already PROVISIONING (RUNNING, no host yet): one more.
        let mut prov = cp("p");
        prov.state = JobState::Running;
        let mut with = jobs.clone();
        with.push(prov.clone());
        assert_eq!(provision(&with, &plan, 2), ["a"]);
        // Its task got a host: it no longer counts.
        prov.container_instance_arn = Some("arn:ci/1".into());
        let mut placed = jobs;
        placed.push(prov);
        assert_eq!(provision(&placed, &plan, 2), ["a", "b"]);
    }

    #[test]
    fn a_host_a_job_is_placed_on_this_wake_up_is_busy() {
        let g = group(1, 3, &[("i-1", "InService")]);
        let hosts = [host("i-1", 7482)];
        let clock = BTreeMap::from([("i-1".to_string(), 0)]);
        let p = run(&[job("new", 1000)], &hosts, &g, &clock, 10_000);
        assert_eq!((p.terminate.len(), p.busy.len()), (0, 1));
    }
}
