//! The next dispatch, pure: which queued job goes to which host, and why the others wait.
//!
//! Rules (README "task-dispatcher"):
//! - **Order**: priority (higher first), then submission time, then job id. Retries keep both.
//! - **In order, with the placement simulator**: each job is placed by
//!   [`ecs_cluster_query::placement::place`] over the hosts as the earlier placements left them,
//!   with the job's constraints and strategies. A freed slot therefore goes to the highest job
//!   that fits it, never to a lower one (strict priority).
//! - **Never fits**: a job that no host could hold even empty (registered CPU/memory smaller than
//!   it needs, or a `memberOf` no host meets) is never started; it waits with that reason (a
//!   bigger host may join) until `maxWaitSeconds`, and it reserves nothing.
//! - **No head-of-line deadlock**: only a host where the waiting job could ever fit is reserved
//!   for it; lower jobs use the others.
//! - **No starvation**: the highest-priority job that waits for room reserves the one host where
//!   it will fit first (the least missing CPU and memory, relative to the host's size); no lower
//!   job takes resources there, so the room it needs builds up as tasks end.
//! - **Daemon headroom**: on a host that does not yet run a task of a daemon service's group, the
//!   daemon's reservation is kept free.
//! - **Expiry**: a job still waiting `maxWaitSeconds` after it became QUEUED is EXPIRED with the
//!   reason it waited.
//! - **Backoff**: a job retried after a failed run, or refused by RunTask, waits until
//!   `not_before`, reserving nothing.
//! - **What ECS enforces for the job** ([`eligible`]): the task definition's own `memberOf`
//!   constraints and `requiresAttributes`, its GPUs, and the capacity-provider scope of the
//!   launch (the job's strategy, else its launch type, else the cluster's default strategy:
//!   "If no capacityProviderStrategy or launchType is specified, the
//!   defaultCapacityProviderStrategy for the cluster is used", RunTask). A host outside any of
//!   them is never chosen: ECS would refuse the pin, or leave the task PROVISIONING.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use ecs_cluster_query::placement::{self, Constraint, TaskRequest};
use ecs_cluster_query::Host;
use serde::Serialize;

use crate::job::{Job, JobState};

/// A host as the dispatcher sees it: the simulator's view (remaining resources, attributes, task
/// groups) and its registered size (for "could it ever fit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchHost {
    pub host: Host,
    pub registered_cpu: i64,
    pub registered_memory: i64,
    /// `capacityProviderName` (DescribeContainerInstances), when it joined through one.
    pub capacity_provider: Option<String>,
    /// Whether a job with neither launch type nor strategy may land here: the cluster has no
    /// default capacity provider strategy (and the host is an EC2 one), or the host's provider
    /// is in it.
    pub in_default_scope: bool,
    pub registered_gpus: i64,
    pub remaining_gpus: i64,
}

impl DispatchHost {
    /// A host without GPUs or capacity provider, in the default scope.
    pub fn new(host: Host, registered_cpu: i64, registered_memory: i64) -> Self {
        DispatchHost {
            host,
            registered_cpu,
            registered_memory,
            capacity_provider: None,
            in_default_scope: true,
            registered_gpus: 0,
            remaining_gpus: 0,
        }
    }
}

/// An ECS Anywhere (external) instance: its EC2 id is a managed-instance id.
fn is_external(h: &DispatchHost) -> bool {
    h.host
        .ec2_instance_id
        .as_deref()
        .is_some_and(|id| id.starts_with("mi-"))
}

/// Whether `provider` is in the job's own `capacityProviderStrategy` (`None`: it has none).
/// No allocation: it runs for every (job, host) pair of a wake-up.
fn in_job_strategy(job: &Job, provider: Option<&str>) -> Option<bool> {
    let items = job.spec.capacity_provider_strategy.as_ref()?.as_array()?;
    Some(provider.is_some_and(|p| {
        items
            .iter()
            .any(|i| i.get("capacityProvider").and_then(|v| v.as_str()) == Some(p))
    }))
}

/// Whether ECS may run `job` on `h`, whatever its room now (module doc):
///
/// | job launch | host |
/// |---|---|
/// | `capacityProviderStrategy` | its provider is in the strategy |
/// | launch type `EC2` | an EC2 instance (not external) |
/// | launch type `EXTERNAL` | an external instance |
/// | other launch type (`FARGATE`) | none |
/// | neither | in the cluster's default scope |
///
/// and in every case: every `requiresAttributes` of the task definition on the host, and at
/// least the job's GPUs registered.
pub fn eligible(job: &Job, h: &DispatchHost) -> bool {
    let strategy = in_job_strategy(job, h.capacity_provider.as_deref());
    let scope = match (strategy, job.spec.launch_type.as_deref()) {
        (Some(in_strategy), _) => in_strategy,
        (None, Some(t)) if t.eq_ignore_ascii_case("EC2") => !is_external(h),
        (None, Some(t)) if t.eq_ignore_ascii_case("EXTERNAL") => is_external(h),
        (None, Some(_)) => false,
        (None, None) => h.in_default_scope,
    };
    scope && h.registered_gpus >= job.needs.gpus && job.needs.attributes_on(&h.host)
}

/// The request for a job placed on `h`: the host pin, and the one capacity provider of the
/// host when the job's launch goes through providers (its own strategy, or the cluster's
/// default), so the pin can hold.
pub fn launch_request(job: &Job, h: &DispatchHost) -> crate::job::LaunchRequest {
    let through_providers = job.spec.capacity_provider_strategy.is_some()
        || (job.spec.launch_type.is_none() && h.capacity_provider.is_some());
    crate::job::LaunchRequest {
        pin: h.host.ec2_instance_id.clone(),
        capacity_provider: h.capacity_provider.clone().filter(|_| through_providers),
    }
}

/// The dispatcher's own launches that a host snapshot from the capacity table cannot show yet.
///
/// The table's host item says what was free when ECS last reported the host (its event's
/// `updatedAt`, or the sweep's Describe time). A job launched at or after that moment holds room
/// the item still shows free, until ECS's next event for the host; without this rule a second
/// wake-up in that window (a duplicate event) would call RunTask for the next job into room that
/// is not there. ECS's own Describe is current (RunTask places synchronously): only table
/// snapshots need it.
///
/// | job state | launched (`→ STARTING`) | host item as of | the host's remaining |
/// |---|---|---|---|
/// | STARTING or RUNNING on the host | at or after the item's time | time known | minus the job's CPU, memory and ports |
/// | STARTING or RUNNING on the host | any | unknown | minus the job's needs (the safe side) |
/// | STARTING or RUNNING on the host | before the item's time | time known | unchanged: the item counts it |
/// | any other state, or no host | – | – | unchanged |
///
/// `as_of`: each host's snapshot time (Unix seconds) by container instance ARN (`None`: unknown).
pub fn discount_unrecorded_launches(
    hosts: &mut [DispatchHost],
    jobs: &[Job],
    as_of: &BTreeMap<String, Option<i64>>,
) {
    for job in jobs {
        if !matches!(job.state, JobState::Starting | JobState::Running) {
            continue;
        }
        let Some(arn) = job.container_instance_arn.as_deref() else {
            continue;
        };
        let Some(h) = hosts.iter_mut().find(|h| h.host.id == arn) else {
            continue;
        };
        let launched = job
            .history
            .iter()
            .rev()
            .find(|t| t.to == JobState::Starting)
            .map_or(job.updated_at, |t| t.at);
        let counted = matches!(as_of.get(arn), Some(Some(at)) if launched < *at);
        if !counted {
            h.host.remaining_cpu -= job.needs.cpu;
            h.host.remaining_memory -= job.needs.memory;
            h.host.used_ports.extend(job.needs.ports.iter().copied());
        }
    }
}

/// Room kept for a daemon service's task on hosts that do not run one yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonReservation {
    /// The daemon's task group, `service:NAME`.
    pub group: String,
    pub cpu: i64,
    pub memory: i64,
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Start it now on `host`.
    Place,
    /// Keep it QUEUED.
    Wait,
    /// In retry backoff until `not_before`.
    Backoff,
    /// Waited past `maxWaitSeconds`: EXPIRED.
    Expire,
}

/// The decision for one queued job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobDecision {
    pub job_id: String,
    pub priority: u32,
    pub action: Action,
    /// Container instance ARN (Place), or the host it reserved (Wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_instance_id: Option<String>,
    /// Why it waits or expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The higher-priority job whose reservation is why this one waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// This job reserved `host`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reserves: bool,
    /// No host could ever hold it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub never_fits: bool,
    pub waited_seconds: i64,
    /// Hosts of the cluster's largest registered size missing for this job and every waiting job
    /// ahead of it (first fit, in queue order); absent when it never fits such a host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts_short: Option<usize>,
}

/// The whole next dispatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// In queue order.
    pub decisions: Vec<JobDecision>,
}

impl Plan {
    pub fn placed(&self) -> impl Iterator<Item = &JobDecision> {
        self.decisions.iter().filter(|d| d.action == Action::Place)
    }
}

/// Queue order: priority desc, then submission time, then id.
pub fn queue_order(jobs: &mut [&Job]) {
    jobs.sort_by_key(|j| (Reverse(j.priority), j.submitted_at, j.job_id.clone()));
}

fn request(job: &Job) -> TaskRequest {
    TaskRequest {
        cpu: job.needs.cpu,
        memory: job.needs.memory,
        ports: job.needs.ports.clone(),
        group: job.spec.group.clone(),
    }
}

/// Whether the job could ever run on `h`: its registered size holds the job, and every
/// `memberOf` holds on the host.
pub(crate) fn could_ever_fit(job: &Job, constraints: &[Constraint], h: &DispatchHost) -> bool {
    eligible(job, h) && fits_registered(job, constraints, h)
}

/// [`could_ever_fit`] without the eligibility part: the host's registered size and `memberOf`.
fn fits_registered(job: &Job, constraints: &[Constraint], h: &DispatchHost) -> bool {
    h.host.agent_connected != Some(false)
        && h.registered_cpu >= job.needs.cpu
        && h.registered_memory >= job.needs.memory
        && constraints.iter().all(|c| match c {
            Constraint::MemberOf(e) => e.evaluate(&h.host),
            Constraint::DistinctInstance => true,
        })
}

/// How far `h` is from holding the job now, in thousandths of the host's size (0 = fits).
fn shortfall(job: &Job, h: &Host, reg: &DispatchHost) -> i64 {
    let part = |need: i64, have: i64, size: i64| (need - have).max(0) * 1000 / size.max(1);
    let ports = job
        .needs
        .ports
        .iter()
        .filter(|p| h.used_ports.contains(p))
        .count() as i64;
    part(job.needs.cpu, h.remaining_cpu, reg.registered_cpu)
        + part(job.needs.memory, h.remaining_memory, reg.registered_memory)
        + ports * 1000
}

fn never_fits_reason(job: &Job, constraints: &[Constraint], hosts: &[DispatchHost]) -> String {
    if hosts.is_empty() {
        return "the cluster has no schedulable host".to_string();
    }
    let largest_mem = hosts.iter().map(|h| h.registered_memory).max().unwrap_or(0);
    let largest_cpu = hosts.iter().map(|h| h.registered_cpu).max().unwrap_or(0);
    if job.needs.memory > largest_mem {
        return format!(
            "never fits: needs {} MiB and the largest host registers {largest_mem} MiB",
            job.needs.memory
        );
    }
    if job.needs.cpu > largest_cpu {
        return format!(
            "never fits: needs {} CPU units and the largest host registers {largest_cpu}",
            job.needs.cpu
        );
    }
    let names: Vec<String> = constraints.iter().map(ToString::to_string).collect();
    format!(
        "never fits: no host large enough satisfies {}",
        names.join(" and ")
    )
}

/// Virtual hosts of the largest size, for `hosts_short`.
struct Shortage {
    size: Option<(i64, i64)>,
    open: Vec<(i64, i64)>,
}

impl Shortage {
    fn add(&mut self, job: &Job) -> Option<usize> {
        let (cpu, mem) = self.size?;
        if job.needs.cpu > cpu || job.needs.memory > mem {
            return None;
        }
        match self
            .open
            .iter_mut()
            .find(|(c, m)| *c >= job.needs.cpu && *m >= job.needs.memory)
        {
            Some(slot) => {
                slot.0 -= job.needs.cpu;
                slot.1 -= job.needs.memory;
            }
            None => self
                .open
                .push((cpu - job.needs.cpu, mem - job.needs.memory)),
        }
        Some(self.open.len())
    }
}

/// Decides the next dispatch over the QUEUED jobs of `jobs` (others are ignored).
pub fn decide(
    jobs: &[Job],
    hosts: &[DispatchHost],
    daemons: &[DaemonReservation],
    now: i64,
) -> Plan {
    let mut queued: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.state == JobState::Queued)
        .collect();
    queue_order(&mut queued);

    // The simulator's working copy, with daemon headroom taken out.
    let mut live: Vec<Host> = hosts
        .iter()
        .map(|h| {
            let mut host = h.host.clone();
            for d in daemons {
                if !host.task_groups.contains(&d.group) {
                    host.remaining_cpu -= d.cpu;
                    host.remaining_memory -= d.memory;
                    host.used_ports.extend(d.ports.iter().copied());
                }
            }
            host
        })
        .collect();
    let mut shortage = Shortage {
        size: hosts
            .iter()
            .map(|h| (h.registered_memory, h.registered_cpu))
            .max()
            .map(|(m, c)| (c, m)),
        open: Vec::new(),
    };
    let mut gpus_left: Vec<i64> = hosts.iter().map(|h| h.remaining_gpus).collect();
    // (host index, job id, the host's real remaining cpu/memory while it is held at -1).
    let mut reservation: Option<(usize, String, i64, i64)> = None;
    let mut decisions = Vec::with_capacity(queued.len());

    for job in queued {
        let waited = job.waited(now);
        let mut d = JobDecision {
            job_id: job.job_id.clone(),
            priority: job.priority,
            action: Action::Wait,
            host: None,
            ec2_instance_id: None,
            reason: None,
            blocked_by: None,
            reserves: false,
            never_fits: false,
            waited_seconds: waited,
            hosts_short: None,
        };
        if let Some(t) = job.not_before.filter(|t| *t > now) {
            d.action = Action::Backoff;
            d.reason = Some(format!("retry backoff until {t}"));
            decisions.push(d);
            continue;
        }
        let (constraints, strategies) = match job.rules() {
            Ok(r) => r,
            Err(e) => {
                // Validated at submission; a stored job that no longer parses waits, visibly.
                d.reason = Some(format!("invalid placement: {e}"));
                d.never_fits = true;
                decisions.push(expire_if_due(d, job, waited));
                continue;
            }
        };
        // Without constraints or strategies the simulator picks the first host, in input order,
        // with room: found by a scan that stops there. The full path below (never fits, the
        // simulator, the reservation) runs only for the jobs it does not place.
        if constraints.is_empty() && strategies.is_empty() {
            let first = live.iter().enumerate().position(|(i, h)| {
                h.agent_connected != Some(false)
                    && h.remaining_cpu >= job.needs.cpu
                    && h.remaining_memory >= job.needs.memory
                    && job.needs.ports.iter().all(|p| !h.used_ports.contains(p))
                    && gpus_left.get(i).is_some_and(|g| *g >= job.needs.gpus)
                    && hosts.get(i).is_some_and(|dh| eligible(job, dh))
            });
            if let Some(i) = first {
                place_on(&mut live, &mut gpus_left, i, job, &mut d);
                decisions.push(d);
                continue;
            }
        }
        let eligible_here: Vec<bool> = hosts.iter().map(|h| eligible(job, h)).collect();
        let ever: Vec<usize> = hosts
            .iter()
            .enumerate()
            .filter(|(i, h)| eligible_here[*i] && fits_registered(job, &constraints, h))
            .map(|(i, _)| i)
            .collect();
        if ever.is_empty() {
            d.never_fits = true;
            d.reason = Some(never_fits_reason(job, &constraints, hosts));
            decisions.push(expire_if_due(d, job, waited));
            continue;
        }
        let req = request(job);
        // Hosts ECS may use for it now: eligible, with its GPUs free (only filtered when that
        // leaves some out).
        let usable: Vec<bool> = eligible_here
            .iter()
            .zip(&gpus_left)
            .map(|(e, g)| *e && *g >= job.needs.gpus)
            .collect();
        let result = if usable.iter().all(|u| *u) {
            placement::place(&live, &req, 1, &constraints, &strategies)
        } else {
            let subset: Vec<Host> = live
                .iter()
                .zip(&usable)
                .filter(|(_, u)| **u)
                .map(|(h, _)| h.clone())
                .collect();
            placement::place(&subset, &req, 1, &constraints, &strategies)
        };
        if let Some(i) = result
            .placed
            .first()
            .and_then(|id| live.iter().position(|h| h.id == *id))
        {
            place_on(&mut live, &mut gpus_left, i, job, &mut d);
            decisions.push(d);
            continue;
        }
        // It waits. Blocked by a reservation when the reserved host, with its real room, would
        // hold it.
        let mut reason = result
            .reason
            .unwrap_or_else(|| "no host has room".to_string());
        if let Some((ri, holder, cpu, mem)) = &reservation {
            let fits_there = ever.contains(ri)
                && *cpu >= job.needs.cpu
                && *mem >= job.needs.memory
                && live
                    .get(*ri)
                    .is_some_and(|h| job.needs.ports.iter().all(|p| !h.used_ports.contains(p)));
            // The reason names the hosts' real room, the reserved one's included.
            let (ri, cpu, mem) = (*ri, *cpu, *mem);
            if let Some(h) = live.get_mut(ri) {
                (h.remaining_cpu, h.remaining_memory) = (cpu, mem);
            }
            if !fits_there {
                if let Some(r) = placement::place(&live, &req, 1, &constraints, &strategies).reason
                {
                    reason = r;
                }
            }
            if let Some(h) = live.get_mut(ri) {
                (h.remaining_cpu, h.remaining_memory) = (-1, -1);
            }
            if fits_there {
                let label = live
                    .get(ri)
                    .map(|h| h.label().to_string())
                    .unwrap_or_default();
                d.blocked_by = Some(holder.clone());
                reason =
                    format!("{label} has room but is reserved for higher-priority job {holder}");
            }
        } else if let Some(&best) = ever.iter().min_by_key(|&&i| {
            (
                live.get(i)
                    .zip(hosts.get(i))
                    .map_or(i64::MAX, |(h, r)| shortfall(job, h, r)),
                i,
            )
        }) {
            // The head of the waiting jobs reserves the host where it will fit first.
            if let Some(h) = live.get_mut(best) {
                reservation = Some((
                    best,
                    job.job_id.clone(),
                    h.remaining_cpu,
                    h.remaining_memory,
                ));
                h.remaining_cpu = -1;
                h.remaining_memory = -1;
                d.host = Some(h.id.clone());
                d.ec2_instance_id = h.ec2_instance_id.clone();
                d.reserves = true;
            }
        }
        d.reason = Some(reason);
        d.hosts_short = shortage.add(job);
        decisions.push(expire_if_due(d, job, waited));
    }
    Plan { decisions }
}

/// The job takes its room on host `i` of the working copy: CPU, memory, ports, GPUs, its task
/// group (for later `distinctInstance`), one more task.
fn place_on(live: &mut [Host], gpus_left: &mut [i64], i: usize, job: &Job, d: &mut JobDecision) {
    if let Some(g) = gpus_left.get_mut(i) {
        *g -= job.needs.gpus;
    }
    if let Some(h) = live.get_mut(i) {
        h.remaining_cpu -= job.needs.cpu;
        h.remaining_memory -= job.needs.memory;
        h.used_ports.extend(job.needs.ports.iter().copied());
        if let Some(g) = &job.spec.group {
            h.task_groups.push(g.clone());
        }
        h.running_tasks_count = Some(h.running_tasks_count.unwrap_or(0) + 1);
        d.ec2_instance_id = h.ec2_instance_id.clone();
        d.host = Some(h.id.clone());
    }
    d.action = Action::Place;
}

fn expire_if_due(mut d: JobDecision, job: &Job, waited: i64) -> JobDecision {
    if job.max_wait_seconds.is_some_and(|max| waited >= max) {
        d.action = Action::Expire;
        d.reserves = false;
        let why = d.reason.take().unwrap_or_default();
        d.reason = Some(format!(
            "waited {waited} s (maxWaitSeconds {}): {why}",
            job.max_wait_seconds.unwrap_or(0)
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobConstraint, JobNeeds, RunTaskSpec, Submission};

    fn host(id: &str, reg_mem: i64, free_mem: i64) -> DispatchHost {
        let mut h = Host::new(id);
        h.remaining_cpu = 4096;
        h.remaining_memory = free_mem;
        DispatchHost::new(h, 4096, reg_mem)
    }

    fn job(id: &str, priority: u32, memory: i64, submitted: i64) -> Job {
        Submission {
            spec: RunTaskSpec {
                cluster: "c".into(),
                task_definition: "td".into(),
                ..RunTaskSpec::default()
            },
            priority: Some(i64::from(priority)),
            ..Submission::default()
        }
        .into_job(
            id.into(),
            JobNeeds {
                cpu: 0,
                memory,
                ports: vec![],
                ..JobNeeds::default()
            },
            submitted,
        )
    }

    fn placed(plan: &Plan) -> Vec<(&str, &str)> {
        plan.placed()
            .map(|d| {
                (
                    d.job_id.as_str(),
                    d.ec2_instance_id.as_deref().unwrap_or(""),
                )
            })
            .collect()
    }

    fn decision<'a>(plan: &'a Plan, id: &str) -> &'a JobDecision {
        plan.decisions
            .iter()
            .find(|d| d.job_id == id)
            .expect("decided")
    }

    #[test]
    fn launches_the_table_cannot_show_yet_take_their_room() {
        let on = |id: &str, state: JobState, launched: i64, host: &str| {
            let mut j = job(id, 1, 1024, 0).transition(JobState::Starting, "launching", launched);
            if state != JobState::Starting {
                j = j.transition(state, "r", launched + 1);
            }
            j.container_instance_arn = Some(host.into());
            j
        };
        let jobs = [
            // h1's item is as of 150.
            on("before", JobState::Running, 100, "h1"),
            on("after", JobState::Running, 200, "h1"),
            on("same-second", JobState::Starting, 150, "h1"),
            // h2's snapshot time is unknown: the safe side.
            on("unknown", JobState::Running, 50, "h2"),
            // Ended: holds nothing. A host not in the snapshot: nothing to discount.
            on("done", JobState::Succeeded, 300, "h1"),
            on("elsewhere", JobState::Running, 300, "h9"),
        ];
        let mut hosts = [host("h1", 8192, 8192), host("h2", 8192, 8192)];
        let as_of = BTreeMap::from([("h1".to_string(), Some(150)), ("h2".to_string(), None)]);
        discount_unrecorded_launches(&mut hosts, &jobs, &as_of);
        assert_eq!(
            hosts[0].host.remaining_memory,
            8192 - 2 * 1024,
            "after + same-second"
        );
        assert_eq!(hosts[1].host.remaining_memory, 8192 - 1024, "unknown");
    }

    #[test]
    fn inversion_fixed_the_freed_slot_goes_to_the_high_job() {
        // Full cluster: one 4096 MiB host, nothing free; ten low jobs queued, then one high job.
        let mut jobs: Vec<Job> = (0..10)
            .map(|i| job(&format!("low{i}"), 1, 1024, i))
            .collect();
        jobs.push(job("high", 9, 1024, 100));
        let full = decide(&jobs, &[host("i-1", 4096, 0)], &[], 200);
        assert!(placed(&full).is_empty());
        // A task stops and frees room for one job.
        let freed = decide(&jobs, &[host("i-1", 4096, 1024)], &[], 200);
        assert_eq!(placed(&freed), [("high", "i-1")]);
        assert_eq!(freed.decisions[0].job_id, "high", "queue order");
        assert!(freed.decisions[1..]
            .iter()
            .all(|d| d.action == Action::Wait));
    }

    #[test]
    fn a_stream_of_small_jobs_does_not_starve_a_big_one() {
        // i-1: 1024 free of 4096. The big job (priority 5) needs 3072; small ones (priority 1)
        // keep arriving. The big one reserves i-1; the small ones never take it.
        let big = job("big", 5, 3072, 0);
        let mut free = 1024;
        for round in 0..5 {
            let mut jobs = vec![big.clone()];
            jobs.extend((0..3).map(|i| job(&format!("small{round}-{i}"), 1, 512, 10 + i)));
            let plan = decide(&jobs, &[host("i-1", 4096, free)], &[], 20);
            if free >= 3072 {
                assert_eq!(placed(&plan), [("big", "i-1")]);
                return;
            }
            assert!(placed(&plan).is_empty(), "round {round}: {plan:?}");
            let d = decision(&plan, "big");
            assert!(d.reserves);
            let small = decision(&plan, &format!("small{round}-0"));
            assert_eq!(small.blocked_by.as_deref(), Some("big"));
            assert!(
                small
                    .reason
                    .as_deref()
                    .unwrap_or("")
                    .contains("reserved for higher-priority job big"),
                "{small:?}"
            );
            free += 1024; // a running task ends
        }
        panic!("the big job never started");
    }

    #[test]
    fn no_head_of_line_deadlock_lower_jobs_use_hosts_the_big_one_never_fits() {
        // The big job needs 6000 MiB: only i-big (8192) could ever hold it, and it is busy. i-small
        // (2048) is free: the lower job goes there.
        let jobs = vec![job("big", 5, 6000, 0), job("small", 1, 1024, 1)];
        let hosts = [host("i-big", 8192, 1000), host("i-small", 2048, 2048)];
        let plan = decide(&jobs, &hosts, &[], 5);
        assert_eq!(placed(&plan), [("small", "i-small")]);
        let big = decision(&plan, "big");
        assert_eq!((big.reserves, big.host.as_deref()), (true, Some("i-big")));
        assert_eq!(big.hosts_short, Some(1));
    }

    #[test]
    fn a_job_bigger_than_every_host_is_never_started_and_says_so() {
        let jobs = vec![job("huge", 9, 16384, 0), job("ok", 1, 512, 1)];
        let plan = decide(&jobs, &[host("i-1", 4096, 4096)], &[], 5);
        assert_eq!(placed(&plan), [("ok", "i-1")]);
        let huge = decision(&plan, "huge");
        assert!(huge.never_fits && !huge.reserves);
        assert_eq!(
            huge.reason.as_deref(),
            Some("never fits: needs 16384 MiB and the largest host registers 4096 MiB")
        );
        // A constraint no host meets is "never" too.
        let mut constrained = job("gpu", 9, 512, 0);
        constrained.spec.placement_constraints = vec![JobConstraint {
            kind: "memberOf".into(),
            expression: Some("attribute:gpu exists".into()),
        }];
        let plan = decide(&[constrained], &[host("i-1", 4096, 4096)], &[], 5);
        assert!(decision(&plan, "gpu").never_fits);
        assert!(placed(&plan).is_empty());
    }

    #[test]
    fn a_job_past_max_wait_expires_with_the_reason() {
        let mut j = job("j", 1, 2048, 0);
        j.max_wait_seconds = Some(60);
        let hosts = [host("i-1", 4096, 512)];
        assert_eq!(
            decide(&[j.clone()], &hosts, &[], 59).decisions[0].action,
            Action::Wait
        );
        let plan = decide(&[j], &hosts, &[], 60);
        let d = &plan.decisions[0];
        assert_eq!(d.action, Action::Expire);
        assert_eq!(
            d.reason.as_deref(),
            Some(
                "waited 60 s (maxWaitSeconds 60): no host has 2048 MiB memory free; \
                 the largest free is 512 MiB on i-1"
            )
        );
    }

    #[test]
    fn daemon_headroom_is_kept_on_hosts_without_the_daemon() {
        let daemon = DaemonReservation {
            group: "service:logs".into(),
            cpu: 0,
            memory: 512,
            ports: vec![],
        };
        let new_host = host("i-new", 4096, 4096);
        let mut old_host = host("i-old", 4096, 1024);
        old_host.host.task_groups.push("service:logs".into());
        let jobs = vec![job("a", 1, 3584, 0), job("b", 1, 1024, 1)];
        // Without the daemon, `a` would fill i-new's 4096 (3584) and b goes to i-old; with it,
        // a still fits (3584 ≤ 4096 - 512), b goes to i-old (it runs the daemon already).
        let plan = decide(
            &jobs,
            &[new_host.clone(), old_host.clone()],
            std::slice::from_ref(&daemon),
            5,
        );
        assert_eq!(placed(&plan), [("a", "i-new"), ("b", "i-old")]);
        // A job that needs the daemon's room on the new host waits.
        let plan = decide(&[job("c", 1, 4000, 0)], &[new_host], &[daemon], 5);
        assert!(placed(&plan).is_empty());
    }

    #[test]
    fn ties_go_by_submission_time_and_backoff_holds_a_retry() {
        let mut retry = job("retry", 5, 512, 0);
        retry.not_before = Some(100);
        let jobs = vec![job("later", 5, 512, 20), job("earlier", 5, 512, 10), retry];
        let plan = decide(&jobs, &[host("i-1", 4096, 512)], &[], 50);
        assert_eq!(placed(&plan), [("earlier", "i-1")]);
        assert_eq!(decision(&plan, "retry").action, Action::Backoff);
        assert_eq!(
            plan.decisions[0].job_id, "retry",
            "retry keeps its place in the order"
        );
        let plan = decide(&jobs, &[host("i-1", 4096, 512)], &[], 100);
        assert_eq!(placed(&plan), [("retry", "i-1")]);
    }

    #[test]
    fn each_placement_uses_the_room_the_earlier_ones_left() {
        let jobs: Vec<Job> = (0..5).map(|i| job(&format!("j{i}"), 1, 1024, i)).collect();
        let plan = decide(
            &jobs,
            &[host("i-1", 4096, 2048), host("i-2", 4096, 1024)],
            &[],
            9,
        );
        assert_eq!(placed(&plan).len(), 3);
        assert_eq!(decision(&plan, "j3").action, Action::Wait);
        assert!(decision(&plan, "j3").reserves);
        assert_eq!(decision(&plan, "j4").action, Action::Wait);
    }
}
