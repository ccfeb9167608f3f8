//! The next dispatch, pure: which queued job goes to which host, and why the others wait.
//!
//! Rules (the manual: `docs/task-dispatcher.md`):
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
//! - **Reservations at the earliest start (EASY backfill)**: the highest-priority job that waits
//!   for room holds the host where it can start first, given the expected ends of the jobs
//!   running there (each run's start plus its estimate: `expectedSeconds`, else its family's
//!   learned estimate, else 600 s; a run past its end is expected within a minute). A job behind
//!   it may still start on that host now if it is expected to end before the held start, or if
//!   the holder still fits beside it then; otherwise it is kept off and its decision line names
//!   the holder (`blocked_by`). Ties, and hosts whose room depends on a task with no expected
//!   end (not a job's), fall back to the host least short of room, held from now.
//! - **Aging bounds starvation**: a job that has waited [`AGING_FACTOR`] times its own estimate
//!   also holds a host at its earliest start (the longest-waiting first, at most one aged hold per
//!   [`HOSTS_PER_AGED_HOLD`] hosts), binding every job behind it and every job that waited less
//!   **up to one priority level above it** (the next priority present in the queue): aging lifts
//!   a job one level, so a starved low job waits behind the top class but no longer behind the
//!   stream of medium work. Strict priority alone cannot bound a large low-priority job's wait.
//!
//!   | the job X deciding now | a host held for H from t | X on that host now |
//!   |---|---|---|
//!   | X is H | – | yes (its own hold) |
//!   | X ranks ahead of H; H not aged, or X waited as long, or X's priority is two levels or more above H's | – | yes (not bound) |
//!   | X ranks ahead of H, H aged and waited longer than X, X at most one level above H | – | as below (bound) |
//!   | X behind H (bound) | X ends (now + its estimate) at or before t | yes: it is gone by then |
//!   | bound | H still fits at t beside X (room at t minus X ≥ H's need) | yes |
//!   | bound | otherwise, or t unknown and H would not fit beside X now | no: `blocked_by` H |
//!
//!   Every hold is declared on its holder's decision line (`reserves`, `host`, `expected_start`,
//!   `reservation`). Estimates only order work: a wrong one moves holds at the next wake-up,
//!   never a task (only `timeoutSeconds` stops one).
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

mod holds;
mod hosts;

use holds::*;
pub use holds::{AGING_FACTOR, HOSTS_PER_AGED_HOLD, OVERRUN_SECONDS};
pub use hosts::{
    discount_unrecorded_launches, eligible, launch_request, DaemonReservation, DispatchHost,
};

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
    /// When it is expected to start on the host it holds (Unix seconds), from the expected ends
    /// of what runs there; absent when it holds none or a task there has no expected end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_start: Option<i64>,
    /// The hold it declares: the host, from when, and why (the head waiting job, or aged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
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

/// Decides the next dispatch over the QUEUED jobs of `jobs`; the STARTING and RUNNING ones on
/// the hosts say when room frees up (their expected ends).
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
    // The priority levels present, for aging's one level up.
    let mut levels: Vec<u32> = queued.iter().map(|j| j.priority).collect();
    levels.sort_unstable();
    levels.dedup();
    let level_above = |p: u32| levels.iter().copied().find(|&l| l > p).unwrap_or(p);

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
    // What each host gives back, and when: its jobs' expected ends.
    let index: BTreeMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.host.id.as_str(), i))
        .collect();
    let mut releases: Vec<Vec<Release>> = vec![Vec::new(); hosts.len()];
    for j in jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Starting | JobState::Running))
    {
        let at = j
            .container_instance_arn
            .as_deref()
            .and_then(|a| index.get(a));
        if let Some(list) = at.and_then(|&i| releases.get_mut(i)) {
            list.push(Release {
                at: expected_end(j, now),
                cpu: j.needs.cpu,
                memory: j.needs.memory,
            });
        }
    }
    for list in &mut releases {
        list.sort_by_key(|r| r.at);
    }
    let mut shortage = Shortage {
        size: hosts
            .iter()
            .map(|h| (h.registered_memory, h.registered_cpu))
            .max()
            .map(|(m, c)| (c, m)),
        open: Vec::new(),
    };
    let mut gpus_left: Vec<i64> = hosts.iter().map(|h| h.remaining_gpus).collect();
    let mut holds: Vec<Hold> = Vec::new();
    let mut held: Vec<Option<usize>> = vec![None; hosts.len()];

    // Aged jobs hold first, the longest-waiting first: one host each, at most one hold a host.
    let mut aged: Vec<(usize, &Job)> = queued
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, j)| {
            let waited = j.waited(now);
            waited > 0
                && waited >= AGING_FACTOR.saturating_mul(j.estimate_seconds())
                && j.not_before.is_none_or(|t| t <= now)
                // A job that expires in this wake-up holds nothing.
                && j.max_wait_seconds.is_none_or(|m| waited < m)
        })
        .collect();
    aged.sort_by_key(|(rank, j)| (Reverse(j.waited(now)), *rank));
    let max_aged = hosts.len().div_ceil(HOSTS_PER_AGED_HOLD);
    for (rank, job) in aged {
        if holds.len() >= max_aged || held.iter().all(Option::is_some) {
            break;
        }
        let Ok((constraints, _)) = job.rules() else {
            continue;
        };
        let candidates = (0..hosts.len()).filter(|&i| {
            held.get(i).is_some_and(Option::is_none)
                && hosts
                    .get(i)
                    .is_some_and(|h| eligible(job, h) && fits_registered(job, &constraints, h))
        });
        if let Some((i, start)) = best_hold(job, candidates, &live, hosts, &releases, &held, now) {
            if let Some(slot) = held.get_mut(i) {
                *slot = Some(holds.len());
            }
            holds.push(Hold {
                host: i,
                job_id: job.job_id.clone(),
                rank,
                waited: job.waited(now),
                aged: true,
                ceiling: level_above(job.priority),
                start,
                cpu: job.needs.cpu,
                memory: job.needs.memory,
            });
        }
    }
    let mut head_held = false;
    let mut decisions = Vec::with_capacity(queued.len());

    for (rank, job) in queued.into_iter().enumerate() {
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
            expected_start: None,
            reservation: None,
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
        let need = (job.needs.cpu, job.needs.memory);
        let end = now.saturating_add(job.estimate_seconds());
        // The holds that keep this job off a host now (EASY backfill: none when it would end
        // before the held start, or the holder still fits beside it then).
        let refused_by = |i: usize, live: &[Host], releases: &[Vec<Release>]| -> Option<usize> {
            let h = held.get(i).copied().flatten()?;
            let hold = holds.get(h)?;
            let room = live.get(i).map(|x| (x.remaining_cpu, x.remaining_memory))?;
            let rel = releases.get(i).map_or(&[][..], Vec::as_slice);
            (hold.binds(rank, waited, job.priority) && !hold.allows(room, rel, need, end))
                .then_some(h)
        };
        let own_hold = holds.iter().position(|h| h.job_id == job.job_id);
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
                    && refused_by(i, &live, &releases).is_none()
            });
            if let Some(i) = first {
                place_on(&mut live, &mut gpus_left, i, job, &mut d);
                settle_placed(&mut releases, &mut held, own_hold, i, job, end);
                decisions.push(d);
                continue;
            }
        }
        let ever = ever_hosts(job, &constraints, hosts);
        if ever.is_empty() {
            d.never_fits = true;
            d.reason = Some(never_fits_reason(job, &constraints, hosts));
            decisions.push(expire_if_due(d, job, waited));
            continue;
        }
        let req = request(job);
        // Hosts held against it are full for this placement (their room is restored after).
        let refused: Vec<(usize, i64, i64)> = (0..live.len())
            .filter(|&i| refused_by(i, &live, &releases).is_some())
            .filter_map(|i| {
                live.get(i)
                    .map(|h| (i, h.remaining_cpu, h.remaining_memory))
            })
            .collect();
        for &(i, _, _) in &refused {
            if let Some(h) = live.get_mut(i) {
                (h.remaining_cpu, h.remaining_memory) = (-1, -1);
            }
        }
        // Hosts ECS may use for it now: eligible, with its GPUs free (only filtered when that
        // leaves some out).
        let usable: Vec<bool> = (0..hosts.len())
            .map(|i| {
                hosts.get(i).is_some_and(|h| eligible(job, h))
                    && gpus_left.get(i).is_some_and(|g| *g >= job.needs.gpus)
            })
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
        for &(i, cpu, memory) in &refused {
            if let Some(h) = live.get_mut(i) {
                (h.remaining_cpu, h.remaining_memory) = (cpu, memory);
            }
        }
        if let Some(i) = result
            .placed
            .first()
            .and_then(|id| live.iter().position(|h| h.id == *id))
        {
            place_on(&mut live, &mut gpus_left, i, job, &mut d);
            settle_placed(&mut releases, &mut held, own_hold, i, job, end);
            decisions.push(d);
            continue;
        }
        // It waits. Blocked by a hold when a held host has the room it needs now.
        let mut reason = result
            .reason
            .unwrap_or_else(|| "no host has room".to_string());
        let blocker = ever.iter().find_map(|&i| {
            let h = live.get(i)?;
            let room = h.remaining_cpu >= need.0
                && h.remaining_memory >= need.1
                && job.needs.ports.iter().all(|p| !h.used_ports.contains(p));
            let hold = refused_by(i, &live, &releases).filter(|_| room)?;
            Some((i, hold))
        });
        if let Some((i, hold)) = blocker.and_then(|(i, h)| holds.get(h).map(|x| (i, x))) {
            let label = live
                .get(i)
                .map(|h| h.label().to_string())
                .unwrap_or_default();
            let whose = if hold.rank < rank {
                format!("higher-priority job {}", hold.job_id)
            } else {
                format!(
                    "job {}, which has waited longer ({} s, aged)",
                    hold.job_id, hold.waited
                )
            };
            d.blocked_by = Some(hold.job_id.clone());
            reason = format!("{label} has room but is reserved for {whose}");
        } else if !refused.is_empty() {
            // The reason names the hosts' real room, the held ones' included (not the -1 that
            // kept them out of the placement above).
            if let Some(r) = placement::place(&live, &req, 1, &constraints, &strategies).reason {
                reason = r;
            }
        }
        // Its hold: an aged job's (made above), or the head waiting job's.
        let mine = own_hold.or_else(|| {
            if head_held || d.blocked_by.is_some() {
                return None;
            }
            head_held = true;
            let candidates = ever.iter().copied();
            let (i, start) = best_hold(job, candidates, &live, hosts, &releases, &held, now)?;
            if let Some(slot) = held.get_mut(i) {
                *slot = Some(holds.len());
            }
            holds.push(Hold {
                host: i,
                job_id: job.job_id.clone(),
                rank,
                waited,
                aged: false,
                ceiling: job.priority,
                start,
                cpu: need.0,
                memory: need.1,
            });
            Some(holds.len() - 1)
        });
        if let Some(hold) = mine
            .and_then(|h| holds.get(h))
            .filter(|h| held[h.host].is_some())
        {
            if let Some(h) = live.get(hold.host) {
                d.host = Some(h.id.clone());
                d.ec2_instance_id = h.ec2_instance_id.clone();
                d.reserves = true;
                d.expected_start = hold.start;
                let why = if hold.aged {
                    format!(
                        "aged (waited {waited} s, at least {AGING_FACTOR} × its {} s estimate): ",
                        job.estimate_seconds()
                    )
                } else {
                    String::new()
                };
                d.reservation = Some(format!(
                    "{why}reserves {} {}",
                    h.label(),
                    hold.describe(now)
                ));
            }
        }
        d.reason = Some(reason);
        d.hosts_short = shortage.add(job);
        let d = expire_if_due(d, job, waited);
        // An expiring job holds nothing for the jobs after it.
        if let (Action::Expire, Some(h)) = (d.action, mine) {
            for slot in held.iter_mut().filter(|s| **s == Some(h)) {
                *slot = None;
            }
        }
        decisions.push(d);
    }
    Plan { decisions }
}

/// A placed job gives its room back when it is expected to end; a hold it had is released.
fn settle_placed(
    releases: &mut [Vec<Release>],
    held: &mut [Option<usize>],
    own_hold: Option<usize>,
    i: usize,
    job: &Job,
    end: i64,
) {
    if let Some(list) = releases.get_mut(i) {
        let at = list.partition_point(|r| r.at <= end);
        list.insert(
            at,
            Release {
                at: end,
                cpu: job.needs.cpu,
                memory: job.needs.memory,
            },
        );
    }
    if let Some(h) = own_hold {
        for slot in held.iter_mut() {
            if *slot == Some(h) {
                *slot = None;
            }
        }
    }
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
    use crate::job::JobConstraint;
    use crate::testing::queued_job as job;

    fn host(id: &str, reg_mem: i64, free_mem: i64) -> DispatchHost {
        let mut h = Host::new(id);
        h.remaining_cpu = 4096;
        h.remaining_memory = free_mem;
        DispatchHost::new(h, 4096, reg_mem)
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

    /// A job running on `host` since `started`, expected to take `expected` seconds.
    fn running(id: &str, memory: i64, host: &str, started: i64, expected: i64) -> Job {
        let mut j = job(id, 1, memory, 0)
            .transition(JobState::Starting, "placed", started)
            .transition(JobState::Running, "running", started);
        j.container_instance_arn = Some(host.into());
        j.expected_seconds = Some(expected);
        j
    }

    fn with_estimate(mut j: Job, seconds: i64) -> Job {
        j.expected_seconds = Some(seconds);
        j
    }

    /// The backfill table of the module doc, one row each: host h1 (4096 MiB) runs a 3072 MiB
    /// job ending at 1000 (1024 free); h2 (4096) runs one ending at 5000. The head job needs
    /// 4096: it holds h1 from 1000. Lower jobs then try h1 (h2 is full) at now = 100.
    #[test]
    fn backfill_table() {
        let now = 100;
        let base = || {
            vec![
                running("r1", 3072, "h1", 0, 1000),
                running("r2", 4096, "h2", 0, 5000),
                job("head", 9, 4096, 50),
            ]
        };
        let hosts = [host("h1", 4096, 1024), host("h2", 4096, 0)];
        // (case, lower job, placed on h1)
        let cases = [
            (
                "ends before the held start",
                with_estimate(job("short", 1, 512, 60), 600),
                true,
            ),
            (
                "ends after it, and the holder would not fit beside it",
                with_estimate(job("long", 1, 512, 60), 3600),
                false,
            ),
            (
                "ends exactly at the held start",
                with_estimate(job("exact", 1, 512, 60), 900),
                true,
            ),
        ];
        for (name, lower, on_h1) in cases {
            let id = lower.job_id.clone();
            let mut jobs = base();
            jobs.push(lower);
            let plan = decide(&jobs, &hosts, &[], now);
            let head = decision(&plan, "head");
            assert!(head.reserves, "{name}: {head:?}");
            assert_eq!(head.host.as_deref(), Some("h1"), "{name}");
            assert_eq!(head.expected_start, Some(1000), "{name}");
            assert!(head
                .reservation
                .as_deref()
                .unwrap_or("")
                .contains("reserves h1"));
            let d = decision(&plan, &id);
            assert_eq!(d.action == Action::Place, on_h1, "{name}: {d:?}");
            if !on_h1 {
                assert_eq!(d.blocked_by.as_deref(), Some("head"), "{name}");
                assert!(
                    d.reason
                        .as_deref()
                        .unwrap_or("")
                        .contains("reserved for higher-priority job head"),
                    "{name}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn a_lower_job_the_holder_still_fits_beside_may_stay_past_the_held_start() {
        // h1: 8192, a 6144 job ends at 1000 (2048 free). The head needs 4096: holds h1 from
        // 1000, when 8192 are free. A long 2048 job leaves 6144 then: the head still fits.
        let jobs = vec![
            running("r1", 6144, "h1", 0, 1000),
            job("head", 9, 4096, 50),
            with_estimate(job("beside", 1, 2048, 60), 36_000),
        ];
        let mut h1 = host("h1", 8192, 2048);
        h1.registered_memory = 8192;
        let plan = decide(&jobs, &[h1], &[], 100);
        assert_eq!(placed(&plan), [("beside", "h1")]);
        assert_eq!(decision(&plan, "head").expected_start, Some(1000));
    }

    #[test]
    fn an_overrunning_job_moves_the_hold_it_does_not_break_it() {
        // r1 was expected to end at 1000; at 2000 it still runs: it is expected within a minute.
        let jobs = vec![
            running("r1", 3072, "h1", 0, 1000),
            job("head", 9, 4096, 50),
            with_estimate(job("long", 1, 512, 60), 3600),
        ];
        let plan = decide(&jobs, &[host("h1", 4096, 1024)], &[], 2000);
        let head = decision(&plan, "head");
        assert_eq!(head.expected_start, Some(2000 + OVERRUN_SECONDS));
        assert_eq!(decision(&plan, "long").blocked_by.as_deref(), Some("head"));
    }

    #[test]
    fn an_aged_job_holds_against_jobs_one_level_above_that_waited_less_not_two() {
        // "big" (priority 1, 7000 MiB, estimate 1200 s) has waited 1300 s ≥ 1 × 1200: aged. h1
        // (8192) frees 6144 at 1500. "mid" (priority 5, the next level up, 2048 MiB, long)
        // waited 100 s and would take h1's room now, leaving big short at 1500: it is bound by
        // the aged hold. "top" (priority 9, two levels up) is not.
        let now = 1300;
        let hosts = [host("h1", 8192, 2048)];
        // Priority 9 is present (a job in retry backoff): mid is not the top level.
        let mut urgent = job("urgent", 9, 1024, now - 5);
        urgent.not_before = Some(now + 60);
        let mut jobs = vec![
            running("r1", 6144, "h1", 0, 1500),
            with_estimate(job("big", 1, 7000, 0), 1200),
            with_estimate(job("mid", 5, 2048, now - 100), 3600),
            urgent,
        ];
        let plan = decide(&jobs, &hosts, &[], now);
        let big = decision(&plan, "big");
        assert!(big.reserves && big.expected_start == Some(1500), "{big:?}");
        assert!(
            big.reservation.as_deref().unwrap_or("").starts_with("aged"),
            "{big:?}"
        );
        let mid = decision(&plan, "mid");
        assert_eq!(mid.action, Action::Wait, "{mid:?}");
        assert_eq!(mid.blocked_by.as_deref(), Some("big"));
        assert!(
            mid.reason
                .as_deref()
                .unwrap_or("")
                .contains("waited longer"),
            "{mid:?}"
        );
        // Without the priority-9 job, mid is the queue's top level and still one level up: bound.
        let alone = [jobs[0].clone(), jobs[1].clone(), jobs[2].clone()];
        let plan = decide(&alone, &hosts, &[], now);
        assert_eq!(decision(&plan, "mid").blocked_by.as_deref(), Some("big"));
        // Two levels up is not held back by an aged hold.
        jobs.push(with_estimate(job("top", 9, 1024, now - 10), 3600));
        let plan = decide(&jobs, &hosts, &[], now);
        assert_eq!(placed(&plan), [("top", "h1")]);
        // Not aged yet (waited 1100 < its 1200 s estimate): no hold against mid, which starts.
        let plan = decide(&jobs[..4], &hosts, &[], 1100);
        assert_eq!(placed(&plan), [("mid", "h1")]);
    }

    #[test]
    fn a_held_host_is_named_with_its_real_room_and_an_expiring_job_holds_nothing() {
        // h1 (4096) runs a 3072 job until 1000: 1024 free. The head (4096) holds h1; a lower
        // 2048 job fits nowhere now: its reason names h1's real 1024 MiB, not the hold's -1.
        let jobs = vec![
            running("r1", 3072, "h1", 0, 1000),
            job("head", 9, 4096, 50),
            with_estimate(job("mid", 5, 2048, 60), 60),
        ];
        let plan = decide(&jobs, &[host("h1", 4096, 1024)], &[], 100);
        let mid = decision(&plan, "mid");
        let reason = mid.reason.as_deref().unwrap_or("");
        assert!(reason.contains("1024 MiB"), "{reason}");
        assert!(!reason.contains("-1"), "{reason}");
        // An aged job that expires now holds nothing against the jobs ranked ahead of it: "old"
        // (priority 1, estimate 60 s, maxWaitSeconds 90) waited 90 s; "mid" (priority 5) takes
        // h1's room although it waited less.
        let mut old = with_estimate(job("old", 1, 1024, 10), 60);
        old.max_wait_seconds = Some(90);
        let mid = with_estimate(job("mid", 5, 1024, 95), 3600);
        let plan = decide(&[old, mid], &[host("h1", 4096, 1024)], &[], 100);
        assert_eq!(placed(&plan), [("mid", "h1")]);
        assert_eq!(decision(&plan, "old").action, Action::Expire);
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
        // Expiring, it holds nothing: a lower job takes i-1's room in the same wake-up.
        let mut expiring = job("j", 9, 2048, 0);
        expiring.max_wait_seconds = Some(60);
        let small = job("small", 1, 256, 1);
        let plan = decide(&[expiring.clone(), small.clone()], &hosts, &[], 60);
        assert_eq!(placed(&plan), [("small", "i-1")]);
        let plan = decide(&[expiring, small], &hosts, &[], 59);
        assert!(placed(&plan).is_empty(), "held while it still waits");
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
