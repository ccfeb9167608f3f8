//! The job trace the simulator runs: its JSON file and checks, its jobs' classes and estimates, and
//! the seeded random traces of the acceptance run.

use super::*;
use crate::job::path_error_message;

/// What the dispatcher is told of run times (module doc: estimates).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Estimates {
    /// `expectedSeconds` = the run time.
    #[default]
    Known,
    /// No estimate: the dispatcher's 600 s default.
    Unknown,
    /// The family's estimate learned from the runs ended before the job's arrival.
    Learned,
}

impl Estimates {
    pub const ALL: [Estimates; 3] = [Estimates::Known, Estimates::Unknown, Estimates::Learned];

    /// `known`, `unknown` or `learned`.
    pub fn name(self) -> &'static str {
        match self {
            Estimates::Known => "known",
            Estimates::Unknown => "unknown",
            Estimates::Learned => "learned",
        }
    }

    /// Parses a name of [`Estimates::name`].
    pub fn from_name(name: &str) -> Option<Estimates> {
        Estimates::ALL.into_iter().find(|e| e.name() == name)
    }

    /// How a summary line says it.
    fn describe(self) -> &'static str {
        match self {
            Estimates::Known => "estimates known (each job's run time)",
            Estimates::Unknown => "estimates unknown (the 600 s default)",
            Estimates::Learned => {
                "estimates learned per family (the 600 s default before a first run)"
            }
        }
    }
}

/// A job's priority class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    High,
    Medium,
    Low,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::High, Class::Medium, Class::Low];

    /// The job's `priority` for the dispatcher (higher first).
    pub fn priority(self) -> u32 {
        match self {
            Class::High => 3,
            Class::Medium => 2,
            Class::Low => 1,
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Class::High => 0,
            Class::Medium => 1,
            Class::Low => 2,
        }
    }
}

/// The trace's hosts: `count` hosts of one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceHosts {
    pub count: usize,
    pub cpu: i64,
    pub memory: i64,
}

/// One job of a trace (module doc: the trace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceJob {
    pub id: String,
    /// Its task definition family; `None`: [`DEFAULT_FAMILY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub arrival: u64,
    pub priority: Class,
    pub cpu: i64,
    pub memory: i64,
    pub run: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<u64>,
}

impl TraceJob {
    /// Its task definition family.
    pub fn family(&self) -> &str {
        self.family.as_deref().unwrap_or(DEFAULT_FAMILY)
    }
}

/// A job trace (module doc: the trace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "TraceFile")]
pub struct Trace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub hosts: TraceHosts,
    pub estimates: Estimates,
    pub jobs: Vec<TraceJob>,
}

/// A trace as written, with the older `runTimesKnown`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TraceFile {
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) hosts: TraceHosts,
    #[serde(default)]
    pub(super) estimates: Option<Estimates>,
    #[serde(default)]
    pub(super) run_times_known: Option<bool>,
    pub(super) jobs: Vec<TraceJob>,
}

impl TryFrom<TraceFile> for Trace {
    type Error = String;

    fn try_from(f: TraceFile) -> Result<Trace, String> {
        let estimates = match (f.estimates, f.run_times_known) {
            (Some(_), Some(_)) => {
                return Err("`estimates` or `runTimesKnown`, not both".to_string());
            }
            (Some(e), None) => e,
            (None, Some(false)) => Estimates::Unknown,
            (None, Some(true) | None) => Estimates::Known,
        };
        Ok(Trace {
            description: f.description,
            hosts: f.hosts,
            estimates,
            jobs: f.jobs,
        })
    }
}

/// A trace that cannot be simulated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TraceError {
    #[error("invalid trace: {0}")]
    Invalid(String),
}

pub(super) fn invalid(msg: impl Into<String>) -> TraceError {
    TraceError::Invalid(msg.into())
}

impl Trace {
    /// Parses and checks a trace, naming the path of a bad field.
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let trace: Trace =
            serde_path_to_error::deserialize(de).map_err(|e| invalid(path_error_message(e)))?;
        trace.validate()?;
        Ok(trace)
    }

    /// Checks what the simulation relies on: hosts, unique ids, sizes that fit a host (a job
    /// that fits no host would never start), runs and estimates within bounds.
    pub fn validate(&self) -> Result<(), TraceError> {
        let h = self.hosts;
        if h.count == 0 || h.count > MAX_HOSTS {
            return Err(invalid(format!(
                "hosts.count must be 1 to {MAX_HOSTS} (got {})",
                h.count
            )));
        }
        if h.cpu <= 0 || h.memory <= 0 {
            return Err(invalid("hosts.cpu and hosts.memory must be positive"));
        }
        if self.jobs.is_empty() || self.jobs.len() > MAX_JOBS {
            return Err(invalid(format!(
                "a trace has 1 to {MAX_JOBS} jobs (got {})",
                self.jobs.len()
            )));
        }
        let mut ids = BTreeSet::new();
        for (i, j) in self.jobs.iter().enumerate() {
            let at = |msg: String| invalid(format!("jobs[{i}] ({}): {msg}", j.id));
            check_job_id(&j.id).map_err(|e| at(e.to_string()))?;
            if !ids.insert(j.id.as_str()) {
                return Err(at("duplicate id".into()));
            }
            if let Some(f) = &j.family {
                let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
                if f.is_empty() || f.len() > MAX_FAMILY_LEN || !f.chars().all(allowed) {
                    return Err(at(format!(
                        "family must be 1 to {MAX_FAMILY_LEN} letters, digits, `-` or `_` (got {f:?})"
                    )));
                }
            }
            if j.cpu < 0 || j.memory <= 0 {
                return Err(at("cpu must be ≥ 0 and memory > 0".into()));
            }
            if j.cpu > h.cpu || j.memory > h.memory {
                return Err(at(format!(
                    "needs {} CPU / {} MiB, more than a host's {} / {}: it would never start",
                    j.cpu, j.memory, h.cpu, h.memory
                )));
            }
            if j.arrival > MAX_ARRIVAL_STEP {
                return Err(at(format!("arrival must be ≤ {MAX_ARRIVAL_STEP}")));
            }
            for (name, steps) in [("run", Some(j.run)), ("expected", j.expected)] {
                if let Some(s) = steps.filter(|s| *s == 0 || *s > MAX_RUN_STEPS) {
                    return Err(at(format!("{name} must be 1 to {MAX_RUN_STEPS} (got {s})")));
                }
            }
        }
        Ok(())
    }

    /// Whether the job needs more than half a host's CPU or memory (two never share a host).
    pub fn is_large(&self, j: &TraceJob) -> bool {
        j.cpu * 2 > self.hosts.cpu || j.memory * 2 > self.hosts.memory
    }

    /// The job's `expectedSeconds`, as it submits it (module doc: estimates).
    pub(super) fn expected_seconds(&self, j: &TraceJob) -> Option<i64> {
        let steps = j
            .expected
            .or(Some(j.run).filter(|_| self.estimates == Estimates::Known))?;
        i64::try_from(steps).ok().map(|s| s * STEP_SECONDS)
    }

    /// Per job, whether it arrives after a run of its family ended (at or before its arrival
    /// step) in the schedule `starts` (a [`Report`]'s): the jobs that carry a learned estimate in
    /// the `learned` mode.
    pub fn after_first_run(&self, starts: &[(u64, usize)]) -> Vec<bool> {
        let mut first_end: BTreeMap<&str, u64> = BTreeMap::new();
        for (j, s) in self.jobs.iter().zip(starts) {
            let end = s.0.saturating_add(j.run);
            first_end
                .entry(j.family())
                .and_modify(|e| *e = (*e).min(end))
                .or_insert(end);
        }
        self.jobs
            .iter()
            .map(|j| first_end.get(j.family()).is_some_and(|&e| e <= j.arrival))
            .collect()
    }

    /// One line: jobs per class, large jobs, hosts, estimates.
    pub fn summary(&self) -> String {
        let count = |c: Class| self.jobs.iter().filter(|j| j.priority == c).count();
        let large = self.jobs.iter().filter(|j| self.is_large(j)).count();
        let last = self.jobs.iter().map(|j| j.arrival).max().unwrap_or(0);
        let families: BTreeSet<&str> = self.jobs.iter().map(TraceJob::family).collect();
        format!(
            "{} jobs ({} high, {} medium, {} low; {large} large; {} families) arriving over \
             steps 0–{last}, {} hosts × {} CPU / {} MiB, {}",
            self.jobs.len(),
            count(Class::High),
            count(Class::Medium),
            count(Class::Low),
            families.len(),
            self.hosts.count,
            self.hosts.cpu,
            self.hosts.memory,
            self.estimates.describe(),
        )
    }

    /// The trace as JSON, one job per line (how `docs/traces/` files are written).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut out = String::from("{\n");
        if let Some(d) = &self.description {
            let _ = writeln!(out, "  \"description\": {},", serde_json::to_string(d)?);
        }
        let _ = writeln!(out, "  \"hosts\": {},", serde_json::to_string(&self.hosts)?);
        let _ = writeln!(
            out,
            "  \"estimates\": {},",
            serde_json::to_string(&self.estimates)?
        );
        out.push_str("  \"jobs\": [\n");
        for (i, j) in self.jobs.iter().enumerate() {
            let sep = if i + 1 == self.jobs.len() { "" } else { "," };
            let _ = writeln!(out, "    {}{sep}", serde_json::to_string(j)?);
        }
        out.push_str("  ]\n}\n");
        Ok(out)
    }
}

/// A small deterministic generator (SplitMix64): the same seed gives the same trace everywhere.
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias is below 2⁻⁵⁰ for these ranges).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Jobs in a random trace.
pub const RANDOM_TRACE_JOBS: usize = 120;

/// A contended random trace like issue 25's, from `seed`: 4 hosts of 4096 CPU / 7482 MiB (an
/// m5.xlarge's registered size); 120 jobs, 20 % high, 30 % medium, 50 % low; 60 % small (256–1024
/// CPU, 512–2048 MiB), 30 % medium (1024–2048 CPU, 2048–3584 MiB), 10 % host-sized (3072–4096
/// CPU, 5120–7424 MiB); in bursts of 1–16 jobs at one step, 1–6 steps apart; runs of 1–8 steps.
/// About as contended as issue 25's trace: over 100 seeds FIFO's mean wait is ~4.6 steps in
/// each class and greedy priority's ~0.45 · 1.0 · 3.0.
///
/// **Families** (`random_family`): nine, one per size class (`small`, `medium`, `large`) and
/// run-length group (`short` 1–2 steps, `mid` 3–5, `long` 6–8), e.g. `medium-long`: a family's
/// jobs need alike and run alike but not the same (as one task definition run on different
/// inputs), so a learned estimate (90th percentile) is near each run, above most. Derived from
/// what was drawn, not drawn: a seed's jobs are the same as before families existed.
pub fn random_trace(seed: u64) -> Trace {
    let mut rng = SplitMix64(seed);
    let mut jobs = Vec::with_capacity(RANDOM_TRACE_JOBS);
    let mut step = 0;
    while jobs.len() < RANDOM_TRACE_JOBS {
        let burst = rng.range(1, 16);
        for _ in 0..burst {
            if jobs.len() == RANDOM_TRACE_JOBS {
                break;
            }
            let priority = match rng.range(0, 9) {
                0..=1 => Class::High,
                2..=4 => Class::Medium,
                _ => Class::Low,
            };
            let size = rng.range(0, 19);
            let (cpu, memory) = match size {
                0..=11 => (rng.range(1, 4) * 256, rng.range(2, 8) * 256),
                12..=17 => (rng.range(4, 8) * 256, rng.range(8, 14) * 256),
                _ => (rng.range(12, 16) * 256, rng.range(20, 29) * 256),
            };
            let run = rng.range(1, 8);
            jobs.push(TraceJob {
                id: format!("j{:03}", jobs.len()),
                family: Some(random_family(size, run)),
                arrival: step,
                priority,
                cpu: cpu as i64,
                memory: memory as i64,
                run,
                expected: None,
            });
        }
        step += rng.range(1, 6);
    }
    Trace {
        description: Some(format!(
            "scripts/simulate --seed {seed} --write-trace: a contended random trace (issue 25)"
        )),
        hosts: TraceHosts {
            count: 4,
            cpu: 4096,
            memory: 7482,
        },
        estimates: Estimates::Known,
        jobs,
    }
}

/// A random job's family: its size class (the draw `size`, 0–19: 0–11 small, 12–17 medium,
/// 18–19 large) and its run-length group (1–2 short, 3–5 mid, 6–8 long).
pub(super) fn random_family(size: u64, run: u64) -> String {
    let class = match size {
        0..=11 => "small",
        12..=17 => "medium",
        _ => "large",
    };
    let length = match run {
        0..=2 => "short",
        3..=5 => "mid",
        _ => "long",
    };
    format!("{class}-{length}")
}

/// How the acceptance run changes each random trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceOverrides {
    /// The host count.
    pub hosts: Option<usize>,
    /// The estimate mode; in [`acceptance`], `None` runs the dispatcher under each.
    pub estimates: Option<Estimates>,
}

impl TraceOverrides {
    pub fn apply(&self, trace: &mut Trace) {
        if let Some(h) = self.hosts {
            trace.hosts.count = h;
        }
        if let Some(e) = self.estimates {
            trace.estimates = e;
        }
    }
}
