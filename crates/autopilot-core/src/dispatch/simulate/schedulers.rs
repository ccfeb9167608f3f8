//! The schedulers compared (the table of [`super`]'s module doc): task-dispatcher's [`decide`]
//! and the three baselines, each answering "what starts now" for one step.

use super::*;

/// A task holding room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Running {
    pub(super) job: usize,
    pub(super) host: usize,
    pub(super) end: u64,
}

/// What a scheduler sees at a step.
pub(super) struct StepView<'a> {
    pub(super) trace: &'a Trace,
    pub(super) step: u64,
    /// Waiting jobs (trace indexes), in arrival order.
    pub(super) waiting: &'a [usize],
    /// Each host's free (cpu, memory).
    pub(super) free: &'a [(i64, i64)],
    pub(super) running: &'a [Running],
}

/// What a scheduler does at a step.
#[derive(Debug, Default)]
pub(super) struct Picks {
    /// (job, host), in the order the scheduler started them.
    pub(super) starts: Vec<(usize, usize)>,
    /// Waiting jobs held back by a declared reservation.
    pub(super) declared: BTreeSet<usize>,
}

pub(super) trait Scheduler {
    fn pick(&mut self, view: &StepView<'_>) -> Result<Picks, String>;
}

pub(super) fn fits(room: (i64, i64), j: &TraceJob) -> bool {
    room.0 >= j.cpu && room.1 >= j.memory
}

pub(super) fn first_fit(free: &[(i64, i64)], j: &TraceJob) -> Option<usize> {
    free.iter().position(|r| fits(*r, j))
}

pub(super) fn take(free: &mut [(i64, i64)], host: usize, j: &TraceJob) {
    if let Some(r) = free.get_mut(host) {
        r.0 -= j.cpu;
        r.1 -= j.memory;
    }
}

/// `jobs` in order, each on its first fit; `strict`: stop at the first that fits nowhere.
pub(super) fn first_fit_in_order(view: &StepView<'_>, jobs: &[usize], strict: bool) -> Picks {
    let mut free = view.free.to_vec();
    let mut picks = Picks::default();
    for &i in jobs {
        let Some(j) = view.trace.jobs.get(i) else {
            continue;
        };
        match first_fit(&free, j) {
            Some(h) => {
                take(&mut free, h, j);
                picks.starts.push((i, h));
            }
            None if strict => break,
            None => {}
        }
    }
    picks
}

/// The dispatcher's queue order: priority, then arrival, then id.
pub(super) fn queue_order(trace: &Trace, jobs: &mut [usize]) {
    jobs.sort_by(|&a, &b| {
        let (ja, jb) = (&trace.jobs[a], &trace.jobs[b]);
        (
            std::cmp::Reverse(ja.priority.priority()),
            ja.arrival,
            &ja.id,
        )
            .cmp(&(
                std::cmp::Reverse(jb.priority.priority()),
                jb.arrival,
                &jb.id,
            ))
    });
}

pub(super) struct Greedy;

impl Scheduler for Greedy {
    fn pick(&mut self, view: &StepView<'_>) -> Result<Picks, String> {
        let mut order = view.waiting.to_vec();
        queue_order(view.trace, &mut order);
        Ok(first_fit_in_order(view, &order, false))
    }
}

pub(super) struct Fifo;

impl Scheduler for Fifo {
    fn pick(&mut self, view: &StepView<'_>) -> Result<Picks, String> {
        Ok(first_fit_in_order(view, view.waiting, true))
    }
}

/// The step each message is visible again from (absent: since its arrival).
pub(super) struct SqsRetry {
    pub(super) visible_at: BTreeMap<usize, u64>,
}

impl Scheduler for SqsRetry {
    fn pick(&mut self, view: &StepView<'_>) -> Result<Picks, String> {
        let visible: Vec<usize> = view
            .waiting
            .iter()
            .copied()
            .filter(|i| self.visible_at.get(i).is_none_or(|at| *at <= view.step))
            .collect();
        let picks = first_fit_in_order(view, &visible, false);
        // A visible message that fits nowhere is invisible for the next step, whatever its priority.
        let started: BTreeSet<usize> = picks.starts.iter().map(|(i, _)| *i).collect();
        for i in visible {
            if view.trace.jobs.get(i).is_some() && !started.contains(&i) {
                self.visible_at
                    .insert(i, view.step + 1 + SQS_INVISIBLE_STEPS);
            }
        }
        Ok(picks)
    }
}

pub(super) fn host_id(h: usize) -> String {
    format!("i-sim{h:04}")
}

/// The project's policy: [`decide`] over the queued and running jobs.
pub(super) struct Dispatcher {
    /// Each trace job as submitted (QUEUED at its arrival).
    pub(super) queued: Vec<Job>,
    /// Each started job as RUNNING on its host.
    pub(super) running: Vec<Option<Job>>,
    pub(super) host_ids: Vec<String>,
    /// `learned` estimates: each family's succeeded runs, as its control item keeps them.
    pub(super) learning: Option<Learning>,
}

/// The runs the `learned` mode learns from.
#[derive(Default)]
pub(super) struct Learning {
    pub(super) families: BTreeMap<String, FamilyRuns>,
    /// (end step, trace index) of the runs started and not yet recorded.
    pub(super) ends: BTreeSet<(u64, usize)>,
    /// Jobs already given their estimate (at their arrival step: the first step they wait).
    pub(super) arrived: BTreeSet<usize>,
}

impl Dispatcher {
    pub(super) fn new(trace: &Trace) -> Dispatcher {
        let queued = trace
            .jobs
            .iter()
            .map(|j| {
                Submission {
                    spec: RunTaskSpec {
                        cluster: "simulated".into(),
                        task_definition: j.family().into(),
                        ..RunTaskSpec::default()
                    },
                    priority: Some(i64::from(j.priority.priority())),
                    expected_seconds: trace.expected_seconds(j),
                    ..Submission::default()
                }
                .into_job(
                    j.id.clone(),
                    JobNeeds {
                        cpu: j.cpu,
                        memory: j.memory,
                        ..JobNeeds::default()
                    },
                    step_seconds(j.arrival),
                )
            })
            .collect();
        Dispatcher {
            queued,
            running: vec![None; trace.jobs.len()],
            host_ids: (0..trace.hosts.count).map(host_id).collect(),
            learning: (trace.estimates == Estimates::Learned).then(Learning::default),
        }
    }

    /// Records the runs ended by `step` (room frees before arrivals), then copies each newly
    /// arrived job's family estimate into it, as the dispatcher does at submit.
    fn learn(&mut self, trace: &Trace, step: u64, waiting: &[usize]) {
        let Some(l) = self.learning.as_mut() else {
            return;
        };
        while let Some(&(end, i)) = l.ends.first() {
            if end > step {
                break;
            }
            l.ends.pop_first();
            if let Some(j) = trace.jobs.get(i) {
                let family = j.family();
                l.families
                    .entry(family.to_string())
                    .or_insert_with(|| FamilyRuns {
                        family: family.to_string(),
                        runs: Vec::new(),
                    })
                    .record(step_seconds(j.run));
            }
        }
        for &i in waiting {
            if !l.arrived.insert(i) {
                continue;
            }
            // As the dispatcher: a job submitting `expectedSeconds` reads no learned estimate.
            if let (Some(job), Some(j)) = (self.queued.get_mut(i), trace.jobs.get(i)) {
                if job.expected_seconds.is_none() {
                    job.learned_seconds = l.families.get(j.family()).and_then(FamilyRuns::estimate);
                }
            }
        }
    }
}

pub(super) fn step_seconds(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX / STEP_SECONDS) * STEP_SECONDS
}

impl Scheduler for Dispatcher {
    fn pick(&mut self, view: &StepView<'_>) -> Result<Picks, String> {
        let now = step_seconds(view.step);
        self.learn(view.trace, view.step, view.waiting);
        let mut jobs: Vec<Job> = view
            .waiting
            .iter()
            .filter_map(|&i| self.queued.get(i).cloned())
            .collect();
        jobs.extend(
            view.running
                .iter()
                .filter_map(|r| self.running.get(r.job).cloned().flatten()),
        );
        let size = view.trace.hosts;
        let hosts: Vec<DispatchHost> = self
            .host_ids
            .iter()
            .zip(view.free)
            .enumerate()
            .map(|(h, (id, &(cpu, memory)))| {
                let mut host = Host::new(id.clone());
                host.remaining_cpu = cpu;
                host.remaining_memory = memory;
                host.running_tasks_count =
                    Some(view.running.iter().filter(|r| r.host == h).count() as i64);
                DispatchHost::new(host, size.cpu, size.memory)
            })
            .collect();
        let plan = decide(&jobs, &hosts, &[], now);

        let index: BTreeMap<&str, usize> = view
            .waiting
            .iter()
            .filter_map(|&i| view.trace.jobs.get(i).map(|j| (j.id.as_str(), i)))
            .collect();
        let rank: BTreeMap<&str, usize> = plan
            .decisions
            .iter()
            .enumerate()
            .map(|(k, d)| (d.job_id.as_str(), k))
            .collect();
        let mut picks = Picks::default();
        for (k, d) in plan.decisions.iter().enumerate() {
            let Some(&i) = index.get(d.job_id.as_str()) else {
                return Err(format!("decided on {}, which is not queued", d.job_id));
            };
            match d.action {
                Action::Place => {
                    let host = d
                        .host
                        .as_deref()
                        .and_then(|id| self.host_ids.iter().position(|h| h == id))
                        .ok_or_else(|| format!("placed {} on an unknown host", d.job_id))?;
                    picks.starts.push((i, host));
                    if let (Some(l), Some(j)) = (self.learning.as_mut(), view.trace.jobs.get(i)) {
                        l.ends.insert((view.step.saturating_add(j.run), i));
                    }
                    if let (Some(slot), Some(base)) = (self.running.get_mut(i), self.queued.get(i))
                    {
                        let mut run = base
                            .transition(JobState::Starting, "placed", now)
                            .transition(JobState::Running, "started", now);
                        run.container_instance_arn = Some(self.host_ids[host].clone());
                        *slot = Some(run);
                    }
                }
                Action::Wait => {
                    // Declared: `blocked_by` names the reservation's holder, ranked above it or
                    // waiting longer than it. The holder may start in this same wake-up (its
                    // reservation used), so its own decision need not say `reserves`.
                    let holder = d
                        .blocked_by
                        .as_deref()
                        .and_then(|h| rank.get(h).map(|&r| (r, &plan.decisions[r])));
                    if holder.is_some_and(|(r, hd)| r < k || hd.waited_seconds > d.waited_seconds) {
                        picks.declared.insert(i);
                    }
                }
                Action::Backoff | Action::Expire => {
                    return Err(format!(
                        "{:?} for {}: the trace has no retry or maxWaitSeconds",
                        d.action, d.job_id
                    ));
                }
            }
        }
        Ok(picks)
    }
}
