//! Reservations: when room frees up on a host (the expected ends of what runs there), the earliest
//! start of a waiting job, and the host it holds (the head waiting job's, or an aged job's). The
//! rules are in the module doc of [`super`].

use super::*;

/// How many of its own expected runs a job waits before it is **aged**: it then holds the host
/// where it can start first, ahead of lower work and of jobs up to one level above it that
/// waited less (module doc). 1, from the simulator: on 100 seeded contended traces, all of
/// issue 25's criteria hold on 95 with 1, 90 with 2, 86 with 3.
pub const AGING_FACTOR: i64 = 1;
/// A running job past its expected end is expected to end within this (the sweep's period).
pub const OVERRUN_SECONDS: i64 = 60;
/// Aged holds are at most one per this many hosts (at least one): the longest-waiting jobs get
/// them, and the rest of the cluster keeps serving the queue in priority order.
pub const HOSTS_PER_AGED_HOLD: usize = 4;

/// Room a running (or just placed) job gives back on its host when it is expected to end.
#[derive(Debug, Clone, Copy)]
pub(super) struct Release {
    pub(super) at: i64,
    pub(super) cpu: i64,
    pub(super) memory: i64,
}

/// When a running job is expected to end: its start plus its estimate; one past it is expected
/// within [`OVERRUN_SECONDS`] (a wrong estimate moves reservations, it never stops a task).
pub(super) fn expected_end(job: &Job, now: i64) -> i64 {
    let start = job.run_started_at().unwrap_or(job.updated_at);
    let end = start.saturating_add(job.estimate_seconds());
    if end > now {
        end
    } else {
        now + OVERRUN_SECONDS
    }
}

/// The room free on a host at `t`: free now plus what the releases due by `t` give back.
pub(super) fn free_at(free: (i64, i64), releases: &[Release], t: i64) -> (i64, i64) {
    releases
        .iter()
        .filter(|r| r.at <= t)
        .fold(free, |(c, m), r| (c + r.cpu, m + r.memory))
}

/// The earliest time at or after `now` when `need` fits on a host, given its free room and its
/// releases in time order (`None`: not even when every known release is in — a task without an
/// expected end, one that is not a job's, holds the rest).
pub(super) fn earliest_start(
    free: (i64, i64),
    releases: &[Release],
    need: (i64, i64),
    now: i64,
) -> Option<i64> {
    let fits = |(c, m): (i64, i64)| c >= need.0 && m >= need.1;
    if fits(free) {
        return Some(now);
    }
    let mut room = free;
    for r in releases {
        room = (room.0 + r.cpu, room.1 + r.memory);
        if fits(room) {
            return Some(r.at.max(now));
        }
    }
    None
}

/// A host held for a waiting job from `start` (`None`: unknown — held from now).
#[derive(Debug, Clone)]
pub(super) struct Hold {
    pub(super) host: usize,
    pub(super) job_id: String,
    /// The holder's place in the queue, its wait, and whether it is aged.
    pub(super) rank: usize,
    pub(super) waited: i64,
    pub(super) aged: bool,
    /// An aged hold binds jobs up to this priority: the next priority above the holder's among
    /// the queued jobs (aging lifts a job one level, not to the top).
    pub(super) ceiling: u32,
    pub(super) start: Option<i64>,
    pub(super) cpu: i64,
    pub(super) memory: i64,
}

impl Hold {
    /// Whether the hold binds a job (its rank, wait and priority): every job behind the holder,
    /// and — for an aged holder — every job that waited less up to one priority level above it.
    pub(super) fn binds(&self, rank: usize, waited: i64, priority: u32) -> bool {
        rank != self.rank
            && (rank > self.rank || (self.aged && self.waited > waited && priority <= self.ceiling))
    }

    /// Whether a bound job may start on the held host now and end at `end`: it ends before
    /// the held start, or the holder still fits beside it then (EASY backfill).
    pub(super) fn allows(
        &self,
        free: (i64, i64),
        releases: &[Release],
        need: (i64, i64),
        end: i64,
    ) -> bool {
        let after = |(c, m): (i64, i64)| c - need.0 >= self.cpu && m - need.1 >= self.memory;
        match self.start {
            Some(t) if end <= t => true,
            Some(t) => after(free_at(free, releases, t)),
            None => after(free),
        }
    }

    /// The decision line's words for it.
    pub(super) fn describe(&self, now: i64) -> String {
        match self.start {
            Some(t) if t <= now => "from now".to_string(),
            Some(t) => format!(
                "from {} (in {} s, when tasks there are expected to end)",
                crate::clock::format_unix(t),
                t - now
            ),
            None => "until its tasks end (expected start unknown: a task there has no expected \
                     end)"
                .to_string(),
        }
    }
}

/// The hosts a job could ever run on: eligible, large enough, every `memberOf` true.
pub(super) fn ever_hosts(
    job: &Job,
    constraints: &[Constraint],
    hosts: &[DispatchHost],
) -> Vec<usize> {
    hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| eligible(job, h) && fits_registered(job, constraints, h))
        .map(|(i, _)| i)
        .collect()
}

/// The unheld host of `candidates` where the job can start first (then the least short of
/// room, then input order), and when. A host where it fits now is the best there is: the scan
/// stops at the first.
pub(super) fn best_hold(
    job: &Job,
    candidates: impl Iterator<Item = usize>,
    live: &[Host],
    hosts: &[DispatchHost],
    releases: &[Vec<Release>],
    held: &[Option<usize>],
    now: i64,
) -> Option<(usize, Option<i64>)> {
    let mut best: Option<(i64, i64, usize, Option<i64>)> = None;
    for i in candidates {
        if held.get(i).is_none_or(Option::is_some) {
            continue;
        }
        let (Some(h), Some(r)) = (live.get(i), hosts.get(i)) else {
            continue;
        };
        let start = earliest_start(
            (h.remaining_cpu, h.remaining_memory),
            releases.get(i).map_or(&[][..], Vec::as_slice),
            (job.needs.cpu, job.needs.memory),
            now,
        );
        let short = shortfall(job, h, r);
        if start == Some(now) && short == 0 {
            return Some((i, start));
        }
        let key = (start.unwrap_or(i64::MAX), short, i, start);
        if best.is_none_or(|b| (key.0, key.1, key.2) < (b.0, b.1, b.2)) {
            best = Some(key);
        }
    }
    best.map(|(_, _, i, start)| (i, start))
}
