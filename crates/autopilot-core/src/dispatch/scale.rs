//! The owned group's next move, pure (docs/task-dispatcher-capacity.md, "Capacity that exists only
//! while jobs need it"): how many hosts to add for the queue, and which idle hosts to remove.
//!
//! **Up.** The queued jobs that wait in the dispatch plan (they fit no host there now) and could
//! ever run on a group host are packed in one pass, in queue order, first-fit onto virtual empty
//! hosts of the group's size (less daemon headroom; CPU, memory, host ports, `distinctInstance`
//! per task group): first the hosts already coming (desired capacity not yet launched, plus
//! launched instances not yet registered), then new ones, at most up to MaxSize. Desired
//! capacity is raised by the number of new hosts (never lowered here); the jobs left over wait
//! "at MaxSize". One pass over the waiting jobs, not one dispatch per added host: the cost
//! follows the queue (10,000 jobs, MaxSize 100). A host's size is what a registered host of the group registers, else
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
//! **Sizes from real hosts.** A host registers less memory than its instance has (ECS's
//! memory-management page), so `SCALE_GROUP_HOST_*` is only a guess: the last registered group
//! host's resources, attributes and provider are remembered in the control item and used for
//! virtual hosts once any host ever registered (a warning when they differ from the config). A
//! job that does not fit such a host is "never fits the group": no raise for it, ever.
//!
//! **Instances that never register** (a bad AMI, a user-data error) count as coming for
//! `REGISTER_GRACE_SECONDS` after the first wake-up that sees them, then no longer: they are
//! reported and terminated.
//!
//! **Only with AZRebalance suspended.** TerminateInstanceInAutoScalingGroup with decrement can
//! leave the group's zones unbalanced, and Auto Scaling's rebalancing then "might terminate
//! instances in other zones" (API reference) — a busy host. While the group's `AZRebalance`
//! process is not suspended, nothing is terminated and the plan says why.
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
//! | idle host due, AZRebalance not suspended                   | kept; the plan says why         |
//! | instance live but not registered for REGISTER_GRACE_SECONDS | not coming; terminated         |
//! | group at 0, a host once registered with less than the job needs | no raise; never fits the group |

use std::collections::{BTreeMap, BTreeSet};

use ecs_cluster_query::Host;
use serde::{Deserialize, Serialize};

use crate::dispatch::decide::{could_ever_fit, Action, DaemonReservation, DispatchHost, Plan};
use crate::job::{Job, JobState};
use crate::ports::scale_group::{GroupInstance, GroupState};

/// What one host of the group registers (CPU units, MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSize {
    pub cpu: i64,
    pub memory: i64,
}

/// What a registered host of the group looked like: the model of the hosts a raise adds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RememberedHost {
    pub cpu: i64,
    pub memory: i64,
    #[serde(default)]
    pub gpus: i64,
    #[serde(default)]
    pub attributes: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<String>,
    #[serde(default = "yes")]
    pub in_default_scope: bool,
}

fn yes() -> bool {
    true
}

impl RememberedHost {
    fn of(h: &DispatchHost) -> Self {
        RememberedHost {
            cpu: h.registered_cpu,
            memory: h.registered_memory,
            gpus: h.registered_gpus,
            attributes: h.host.attributes.clone(),
            capacity_provider: h.capacity_provider.clone(),
            in_default_scope: h.in_default_scope,
        }
    }

    fn configured(size: HostSize) -> Self {
        RememberedHost {
            cpu: size.cpu,
            memory: size.memory,
            in_default_scope: true,
            ..RememberedHost::default()
        }
    }
}

/// The owned group's control item (`scale-group#NAME` in the jobs table): what one wake-up
/// remembers for the next, written conditionally on its revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupControl {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub cluster: String,
    /// Idle instance → since (Unix seconds).
    #[serde(default)]
    pub idle_since: BTreeMap<String, i64>,
    /// Live instance not registered in the cluster → first seen so (Unix seconds).
    #[serde(default)]
    pub unregistered_since: BTreeMap<String, i64>,
    /// The last registered group host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_host: Option<RememberedHost>,
    #[serde(default)]
    pub updated_at: i64,
}

impl GroupControl {
    /// Whether `other` remembers something else (the time aside).
    pub fn differs(&self, other: &GroupControl) -> bool {
        self.idle_since != other.idle_since
            || self.unregistered_since != other.unregistered_since
            || self.last_host != other.last_host
    }
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
    /// The configured size (used until a group host has ever registered).
    pub host_size: HostSize,
    /// The stored control item (idle clock, unregistered instances, the last host seen).
    pub control: &'a GroupControl,
    pub idle_seconds: i64,
    /// How long a live instance may stay unregistered and still count as coming.
    pub register_grace: i64,
    /// The EC2 ids of every container instance of the cluster, whatever its status.
    pub registered: &'a BTreeSet<String>,
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
    /// Instances due for removal: idle ≥ `IDLE_SECONDS`, or never registered within the grace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminate: Vec<String>,
    /// Live instances not registered past `REGISTER_GRACE_SECONDS` (part of `terminate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub never_registered: Vec<String>,
    /// The control item to store.
    pub control: GroupControl,
    /// Warnings: the group's AZRebalance is not suspended (nothing terminated), the configured
    /// size differs from what hosts register.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn virtual_host(i: usize, model: &RememberedHost) -> DispatchHost {
    let mut host = Host::new(format!("new-host-{i}"));
    host.ec2_instance_id = None;
    host.attributes = model.attributes.clone();
    host.remaining_cpu = model.cpu;
    host.remaining_memory = model.memory;
    let mut h = DispatchHost::new(host, model.cpu, model.memory);
    h.capacity_provider = model.capacity_provider.clone();
    h.in_default_scope = model.in_default_scope;
    h.registered_gpus = model.gpus;
    h.remaining_gpus = model.gpus;
    h
}

/// Waiting jobs (in `plan`) that could ever run on a host like `probe`.
fn demand<'a>(jobs: &'a [Job], plan: &Plan, probe: &DispatchHost) -> Vec<&'a Job> {
    let by_id: std::collections::HashMap<&str, &Job> =
        jobs.iter().map(|j| (j.job_id.as_str(), j)).collect();
    plan.decisions
        .iter()
        .filter(|d| d.action == Action::Wait)
        .filter_map(|d| by_id.get(d.job_id.as_str()).copied())
        .filter(|j| {
            j.rules()
                .map(|(c, _)| could_ever_fit(j, &c, probe))
                .unwrap_or(false)
        })
        .collect()
}

/// The room left on a host on its way or to be added, while the waiting jobs are packed onto
/// them: CPU, memory and host ports after daemon headroom, and the task groups placed (a
/// `distinctInstance` job takes a host without its group).
struct VirtualRoom {
    cpu: i64,
    memory: i64,
    ports: BTreeSet<u16>,
    groups: BTreeSet<String>,
}

impl VirtualRoom {
    fn of(model: &RememberedHost, daemon_cpu: i64, daemon_memory: i64) -> Self {
        VirtualRoom {
            cpu: model.cpu - daemon_cpu,
            memory: model.memory - daemon_memory,
            ports: BTreeSet::new(),
            groups: BTreeSet::new(),
        }
    }

    fn holds(&self, job: &Job) -> bool {
        let distinct = job
            .spec
            .placement_constraints
            .iter()
            .any(|c| c.kind.eq_ignore_ascii_case("distinctInstance"));
        self.cpu >= job.needs.cpu
            && self.memory >= job.needs.memory
            && job.needs.ports.iter().all(|p| !self.ports.contains(p))
            && !(distinct
                && job
                    .spec
                    .group
                    .as_ref()
                    .is_some_and(|g| self.groups.contains(g)))
    }

    fn take(&mut self, job: &Job) {
        self.cpu -= job.needs.cpu;
        self.memory -= job.needs.memory;
        self.ports.extend(job.needs.ports.iter().copied());
        if let Some(g) = &job.spec.group {
            self.groups.insert(g.clone());
        }
    }
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
    let mut control = GroupControl {
        idle_since: BTreeMap::new(),
        unregistered_since: BTreeMap::new(),
        updated_at: input.now,
        ..input.control.clone()
    };
    if let Some(h) = group_hosts.first() {
        control.last_host = Some(RememberedHost::of(h));
    }
    let mut warnings = Vec::new();
    let model = match &control.last_host {
        Some(real) => {
            if (real.cpu, real.memory) != (input.host_size.cpu, input.host_size.memory) {
                warnings.push(format!(
                    "hosts of scale group {} register {} CPU units / {} MiB;                      SCALE_GROUP_HOST_CPU / _MEMORY say {} / {}: the registered size is used",
                    group.name, real.cpu, real.memory, input.host_size.cpu, input.host_size.memory
                ));
            }
            real.clone()
        }
        None => RememberedHost::configured(input.host_size),
    };
    // Live instances not registered in the cluster: coming, for the grace only.
    let mut never_registered = Vec::new();
    let mut unregistered = 0_u32;
    for id in &live {
        if input.registered.contains(*id) {
            continue;
        }
        let since = input
            .control
            .unregistered_since
            .get(*id)
            .copied()
            .unwrap_or(input.now);
        control.unregistered_since.insert(id.to_string(), since);
        if input.now - since >= input.register_grace {
            never_registered.push(id.to_string());
        } else {
            unregistered += 1;
        }
    }
    // Desired capacity not yet launched, plus launched instances within the grace.
    let launched = live.len() as u32;
    let coming = group.desired.saturating_sub(launched) + unregistered;
    let mut out = ScalePlan {
        coming,
        ..ScalePlan::default()
    };

    // Up.
    let probe = virtual_host(0, &model);
    let configured = virtual_host(0, &RememberedHost::configured(input.host_size));
    let waiting = demand(input.jobs, input.plan, &probe);
    if control.last_host.is_some() {
        for j in demand(input.jobs, input.plan, &configured) {
            if !waiting.iter().any(|w| w.job_id == j.job_id) {
                out.notes.insert(
                    j.job_id.clone(),
                    format!(
                        "never fits scale group {}: its hosts register {} CPU units / {} MiB",
                        group.name, model.cpu, model.memory
                    ),
                );
            }
        }
    }
    if !waiting.is_empty() {
        let room = group.max.saturating_sub(group.desired);
        // One pass, in queue order: each waiting job goes to the first host on its way (or,
        // past those, the first new host) with its room, a new host opened when none has it,
        // at most `room` new ones.
        let daemon_cpu: i64 = input.daemons.iter().map(|d| d.cpu).sum();
        let daemon_memory: i64 = input.daemons.iter().map(|d| d.memory).sum();
        let mut open: Vec<VirtualRoom> = (0..coming)
            .map(|_| VirtualRoom::of(&model, daemon_cpu, daemon_memory))
            .collect();
        let mut extra = 0_u32;
        let mut still: BTreeSet<&str> = BTreeSet::new();
        for j in &waiting {
            if let Some(slot) = open.iter_mut().find(|r| r.holds(j)) {
                slot.take(j);
                continue;
            }
            let mut fresh = VirtualRoom::of(&model, daemon_cpu, daemon_memory);
            if extra < room && fresh.holds(j) {
                fresh.take(j);
                open.push(fresh);
                extra += 1;
            } else {
                still.insert(j.job_id.as_str());
            }
        }
        out.needed = extra;
        if extra > 0 {
            out.raise_to = Some(group.desired + extra);
        }
        let target = group.desired + extra;
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
                && j.rules()
                    .map(|(c, _)| could_ever_fit(j, &c, h))
                    .unwrap_or(false)
        });
        if unknown_host || runs_job || placed_now || wanted {
            out.busy.push(id.to_string());
            continue;
        }
        let since = input
            .control
            .idle_since
            .get(id)
            .copied()
            .unwrap_or(input.now);
        out.idle_since.insert(id.to_string(), since);
        if input.now - since >= input.idle_seconds {
            out.terminate.push(id.to_string());
        }
    }
    out.terminate.extend(never_registered.iter().cloned());
    if !out.terminate.is_empty() && !group.az_rebalance_suspended() {
        warnings.push(format!(
            "scale group {}: AZRebalance is not suspended, so no instance is terminated              (rebalancing after a terminate could remove a busy host): suspend it              (aws autoscaling suspend-processes --scaling-processes AZRebalance)",
            group.name
        ));
        out.terminate.clear();
    }
    control.idle_since = out.idle_since.clone();
    out.never_registered = never_registered;
    out.control = control;
    out.warnings = warnings;
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
/// | waits only for a higher reservation  | any              | waits (never sent unpinned) |
pub fn provision(jobs: &[Job], plan: &Plan, limit: usize) -> Vec<String> {
    let provisioning = jobs
        .iter()
        .filter(|j| {
            matches!(j.state, JobState::Starting | JobState::Running)
                && j.spec.capacity_provider_strategy.is_some()
                && j.container_instance_arn.is_none()
        })
        .count();
    // Looked up once, not per decision: 10,000 waiting jobs stay linear.
    let with_strategy: std::collections::BTreeSet<&str> = jobs
        .iter()
        .filter(|j| j.spec.capacity_provider_strategy.is_some())
        .map(|j| j.job_id.as_str())
        .collect();
    plan.decisions
        .iter()
        // A job that waits only for a higher job's reservation is not sent: unpinned, ECS could
        // put it in the reserved room.
        .filter(|d| d.action == Action::Wait && d.blocked_by.is_none())
        .filter(|d| with_strategy.contains(d.job_id.as_str()))
        .take(limit.saturating_sub(provisioning))
        .map(|d| d.job_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::decide::decide;
    use crate::ports::scale_group::GroupInstance;

    const SIZE: HostSize = HostSize {
        cpu: 4096,
        memory: 7482,
    };

    fn job(id: &str, memory: i64) -> Job {
        let mut j = crate::testing::job(id);
        j.needs.memory = memory;
        j
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
            suspended_processes: vec!["AZRebalance".into()],
        }
    }

    fn host(ec2: &str, free: i64) -> DispatchHost {
        let mut h = Host::new(format!("arn:ci/{ec2}"));
        h.ec2_instance_id = Some(ec2.into());
        h.remaining_cpu = 4096;
        h.remaining_memory = free;
        DispatchHost::new(h, 4096, 7482)
    }

    fn run(
        jobs: &[Job],
        hosts: &[DispatchHost],
        g: &GroupState,
        idle: &BTreeMap<String, i64>,
        now: i64,
    ) -> ScalePlan {
        let control = GroupControl {
            idle_since: idle.clone(),
            ..GroupControl::default()
        };
        run_with(jobs, hosts, g, &control, now)
    }

    fn run_with(
        jobs: &[Job],
        hosts: &[DispatchHost],
        g: &GroupState,
        control: &GroupControl,
        now: i64,
    ) -> ScalePlan {
        run_sized(jobs, hosts, g, control, SIZE, now)
    }

    fn run_sized(
        jobs: &[Job],
        hosts: &[DispatchHost],
        g: &GroupState,
        control: &GroupControl,
        host_size: HostSize,
        now: i64,
    ) -> ScalePlan {
        let plan = decide(jobs, hosts, &[], now);
        let registered: BTreeSet<String> = hosts
            .iter()
            .filter_map(|h| h.host.ec2_instance_id.clone())
            .collect();
        decide_scale(&ScaleInput {
            jobs,
            hosts,
            daemons: &[],
            plan: &plan,
            group: g,
            host_size,
            control,
            idle_seconds: 300,
            register_grace: 600,
            registered: &registered,
            now,
        })
    }

    #[test]
    fn no_termination_while_az_rebalance_runs() {
        let mut g = group(1, 3, &[("i-1", "InService")]);
        g.suspended_processes.clear();
        let hosts = [host("i-1", 7482)];
        let clock = BTreeMap::from([("i-1".to_string(), 0)]);
        let p = run(&[], &hosts, &g, &clock, 10_000);
        assert!(p.terminate.is_empty(), "{p:?}");
        assert!(
            p.warnings.iter().any(|w| w.contains("AZRebalance")),
            "{p:?}"
        );
        // The idle clock is kept: once suspended, the host goes at once.
        assert_eq!(p.idle_since.get("i-1"), Some(&0));
    }

    #[test]
    fn an_instance_that_never_registers_stops_counting_as_coming_and_is_terminated() {
        let jobs = [job("a", 3000)];
        let g = group(1, 3, &[("i-9", "InService")]);
        let first = run_with(&jobs, &[], &g, &GroupControl::default(), 100);
        assert_eq!((first.coming, first.raise_to), (1, None));
        assert_eq!(first.control.unregistered_since.get("i-9"), Some(&100));
        let late = run_with(&jobs, &[], &g, &first.control, 100 + 600);
        assert_eq!(late.never_registered, ["i-9"]);
        assert_eq!(late.terminate, ["i-9"]);
        assert_eq!(
            (late.coming, late.raise_to),
            (0, Some(2)),
            "a new host replaces it"
        );
    }

    #[test]
    fn the_registered_size_is_remembered_and_a_job_bigger_than_it_never_raises_again() {
        // Configured 8192 MiB; the host that comes registers 7482; the job needs 8000.
        let big = [job("big", 8000)];
        let cfg = HostSize {
            cpu: 4096,
            memory: 8192,
        };
        let g0 = group(0, 3, &[]);
        let p = run_sized(&big, &[], &g0, &GroupControl::default(), cfg, 10);
        assert_eq!(
            p.raise_to,
            Some(1),
            "the configured size holds it: one raise"
        );
        // The host registers 7482: remembered.
        let hosts = [host("i-1", 7482)];
        let g1 = group(1, 3, &[("i-1", "InService")]);
        let seen = run_sized(&big, &hosts, &g1, &p.control, cfg, 20);
        assert_eq!(
            seen.control.last_host.as_ref().map(|h| h.memory),
            Some(7482)
        );
        assert!(seen.warnings.iter().any(|w| w.contains("7482")), "{seen:?}");
        // The host is gone (idled out); back at 0: no second raise, and the job says why.
        let again = run_sized(&big, &[], &g0, &seen.control, cfg, 5000);
        assert_eq!(again.raise_to, None);
        assert!(
            again.notes["big"].contains("never fits scale group"),
            "{again:?}"
        );
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
