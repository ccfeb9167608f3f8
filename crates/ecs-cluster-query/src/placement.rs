//! A deterministic simulation of ECS task placement on EC2 container instances.
//!
//! For each task, in order: hosts with a disconnected agent are skipped → hosts whose remaining
//! CPU, memory and host ports fit the request → constraints (binding, in order) → the survivors
//! are ordered by the strategies, chained (a later strategy only breaks ties of the earlier
//! ones; the input order of `hosts` breaks the final ties) → the first host gets the task, its
//! resources and ports are deducted, and the next task is placed. The first task that cannot be
//! placed stops the run (nothing changed, so every later task would fail the same way) and the
//! reason is explained in words. One call simulates at most [`MAX_TASKS_PER_PLACEMENT`] tasks.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use crate::ast::Expression;
use crate::host::{Host, HostView};
use crate::parser::{parse, ParseError};

/// ECS's limit on placement constraints per task / service.
pub const MAX_CONSTRAINTS: usize = 10;
/// ECS's limit on placement strategies per task / service.
pub const MAX_STRATEGIES: usize = 5;

/// The most tasks one [`place`] call simulates. Not an ECS limit: a bound on the work of one
/// call (at most this many rounds over the hosts), because a request that needs no CPU, memory
/// or ports fits forever and `count` comes from users. When resources run out first (the usual
/// case) the run stops there, as for any count; when this many tasks were placed and more were
/// asked for, the rest are reported unplaced with a reason naming this limit.
pub const MAX_TASKS_PER_PLACEMENT: usize = 10_000;

/// A binding placement constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// `memberOf:EXPRESSION`: only hosts satisfying the expression.
    MemberOf(Expression),
    /// `distinctInstance`: no two tasks of this placement (nor of the request's group) on one host.
    DistinctInstance,
}

/// A resource for `binpack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// CPU units.
    Cpu,
    /// Memory, MiB.
    Memory,
}

/// What `spread` balances over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpreadField {
    /// `instanceId` or `host`: one bucket per host.
    InstanceId,
    /// `attribute:NAME`: one bucket per attribute value (hosts without a value share a bucket).
    Attribute(String),
}

/// A best-effort placement strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Least remaining amount of the resource first.
    Binpack(Resource),
    /// Fewest tasks of this placement (and of the request's group) in the field's bucket first.
    Spread(SpreadField),
    /// A deterministic pseudo-random order derived from the seed and the task's index.
    Random {
        /// Seed; same seed and input, same placement.
        seed: u64,
    },
}

/// Errors from parsing constraints and strategies, and from the ECS limits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlacementError {
    /// Not `memberOf:...` nor `distinctInstance`.
    #[error(
        "unknown placement constraint '{0}' (expected memberOf:EXPRESSION or distinctInstance)"
    )]
    UnknownConstraint(String),
    /// The `memberOf` expression does not parse (columns count from the expression's start).
    #[error("invalid memberOf expression: {0}")]
    MemberOf(#[from] ParseError),
    /// Not one of the known strategies.
    #[error(
        "unknown placement strategy '{0}' (expected binpack:cpu, binpack:memory, \
         spread:instanceId, spread:host, spread:attribute:NAME or random)"
    )]
    UnknownStrategy(String),
    /// More than [`MAX_CONSTRAINTS`].
    #[error("too many placement constraints: {0} (ECS allows at most {MAX_CONSTRAINTS})")]
    TooManyConstraints(usize),
    /// More than [`MAX_STRATEGIES`].
    #[error("too many placement strategies: {0} (ECS allows at most {MAX_STRATEGIES})")]
    TooManyStrategies(usize),
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

impl Constraint {
    /// Parses `memberOf:EXPRESSION` or `distinctInstance` (type names ignore ASCII case).
    pub fn parse(s: &str) -> Result<Constraint, PlacementError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("distinctInstance") {
            return Ok(Constraint::DistinctInstance);
        }
        match strip_prefix_ci(t, "memberOf:") {
            Some(expr) => Ok(Constraint::MemberOf(parse(expr)?)),
            None => Err(PlacementError::UnknownConstraint(s.to_string())),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::MemberOf(e) => write!(f, "memberOf({e})"),
            Constraint::DistinctInstance => f.write_str("distinctInstance"),
        }
    }
}

impl Strategy {
    /// Parses `binpack:cpu`, `binpack:memory`, `spread:instanceId`, `spread:host`,
    /// `spread:attribute:NAME` or `random` (which uses `random_seed`). Type and field words
    /// ignore ASCII case; attribute names do not.
    pub fn parse(s: &str, random_seed: u64) -> Result<Strategy, PlacementError> {
        let t = s.trim();
        let unknown = || PlacementError::UnknownStrategy(s.to_string());
        if t.eq_ignore_ascii_case("random") {
            return Ok(Strategy::Random { seed: random_seed });
        }
        if let Some(field) = strip_prefix_ci(t, "binpack:") {
            return if field.eq_ignore_ascii_case("cpu") {
                Ok(Strategy::Binpack(Resource::Cpu))
            } else if field.eq_ignore_ascii_case("memory") {
                Ok(Strategy::Binpack(Resource::Memory))
            } else {
                Err(unknown())
            };
        }
        if let Some(field) = strip_prefix_ci(t, "spread:") {
            if field.eq_ignore_ascii_case("instanceId") || field.eq_ignore_ascii_case("host") {
                return Ok(Strategy::Spread(SpreadField::InstanceId));
            }
            return match strip_prefix_ci(field, "attribute:") {
                Some(name) if !name.is_empty() => {
                    Ok(Strategy::Spread(SpreadField::Attribute(name.to_string())))
                }
                _ => Err(unknown()),
            };
        }
        Err(unknown())
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Binpack(Resource::Cpu) => f.write_str("binpack:cpu"),
            Strategy::Binpack(Resource::Memory) => f.write_str("binpack:memory"),
            Strategy::Spread(SpreadField::InstanceId) => f.write_str("spread:instanceId"),
            Strategy::Spread(SpreadField::Attribute(a)) => write!(f, "spread:attribute:{a}"),
            Strategy::Random { .. } => f.write_str("random"),
        }
    }
}

/// Parses a list of constraints, enforcing [`MAX_CONSTRAINTS`].
pub fn parse_constraints<S: AsRef<str>>(items: &[S]) -> Result<Vec<Constraint>, PlacementError> {
    if items.len() > MAX_CONSTRAINTS {
        return Err(PlacementError::TooManyConstraints(items.len()));
    }
    items
        .iter()
        .map(|s| Constraint::parse(s.as_ref()))
        .collect()
}

/// Parses a list of strategies, enforcing [`MAX_STRATEGIES`].
pub fn parse_strategies<S: AsRef<str>>(
    items: &[S],
    random_seed: u64,
) -> Result<Vec<Strategy>, PlacementError> {
    if items.len() > MAX_STRATEGIES {
        return Err(PlacementError::TooManyStrategies(items.len()));
    }
    items
        .iter()
        .map(|s| Strategy::parse(s.as_ref(), random_seed))
        .collect()
}

/// Checks ECS's limits on the number of constraints and strategies.
pub fn check_limits(
    constraints: &[Constraint],
    strategies: &[Strategy],
) -> Result<(), PlacementError> {
    if constraints.len() > MAX_CONSTRAINTS {
        return Err(PlacementError::TooManyConstraints(constraints.len()));
    }
    if strategies.len() > MAX_STRATEGIES {
        return Err(PlacementError::TooManyStrategies(strategies.len()));
    }
    Ok(())
}

/// What one task needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRequest {
    /// CPU units.
    pub cpu: i64,
    /// Memory, MiB.
    pub memory: i64,
    /// Host ports the task binds (static ports; duplicates are ignored).
    pub ports: Vec<u16>,
    /// The task group (`service:web`), if any. When set, placed tasks join the host's
    /// `task:group` for later `memberOf` checks, existing tasks of the group count for `spread`,
    /// and `distinctInstance` avoids hosts already running the group.
    pub group: Option<String>,
}

/// The outcome of [`place`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Host id of each placed task, in placement order.
    pub placed: Vec<String>,
    /// Tasks that could not be placed.
    pub unplaced: usize,
    /// Why the first unplaced task could not be placed.
    pub reason: Option<String>,
}

/// Per-host mutable state during one `place` call.
struct Live<'a> {
    host: &'a Host,
    cpu: i64,
    memory: i64,
    extra_ports: Vec<u16>,
    placed: usize,
    /// Tasks of the request's group already on the host.
    group_existing: usize,
    group: Option<&'a str>,
}

impl Live<'_> {
    fn port_free(&self, p: u16) -> bool {
        !self.host.used_ports.contains(&p) && !self.extra_ports.contains(&p)
    }
}

impl HostView for Live<'_> {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.host.attribute(name)
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        self.host.ec2_instance_id()
    }
    fn agent_connected(&self) -> Option<bool> {
        self.host.agent_connected()
    }
    fn agent_version(&self) -> Option<&str> {
        self.host.agent_version()
    }
    fn registered_at(&self) -> Option<i64> {
        self.host.registered_at()
    }
    fn running_tasks_count(&self) -> Option<i64> {
        let placed = i64::try_from(self.placed).unwrap_or(i64::MAX);
        match self.host.running_tasks_count {
            Some(n) => Some(n.saturating_add(placed)),
            None if placed > 0 => Some(placed),
            None => None,
        }
    }
    fn task_groups(&self) -> Vec<&str> {
        let mut v = self.host.task_groups();
        if let (Some(g), true) = (self.group, self.placed > 0) {
            v.push(g);
        }
        v
    }
    fn any_task_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        if self.host.any_task_group(f) {
            return true;
        }
        match (self.group, self.placed > 0) {
            (Some(g), true) => f(g),
            _ => false,
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps an i64 to a u64 with the same order.
fn ordered(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Spread bookkeeping for one strategy.
struct SpreadBuckets {
    /// Bucket of each host.
    of_host: Vec<usize>,
    /// Tasks counted in each bucket.
    count: Vec<u64>,
}

/// Places `count` tasks (see the module docs for the algorithm). Deterministic for a given input.
pub fn place(
    hosts: &[Host],
    request: &TaskRequest,
    count: usize,
    constraints: &[Constraint],
    strategies: &[Strategy],
) -> Placement {
    if let Err(e) = check_limits(constraints, strategies) {
        return Placement {
            placed: Vec::new(),
            unplaced: count,
            reason: Some(e.to_string()),
        };
    }
    let mut ports = request.ports.clone();
    ports.sort_unstable();
    ports.dedup();
    let group = request.group.as_deref();

    let mut live: Vec<Live<'_>> = hosts
        .iter()
        .map(|h| Live {
            host: h,
            cpu: h.remaining_cpu,
            memory: h.remaining_memory,
            extra_ports: Vec::new(),
            placed: 0,
            group_existing: group.map_or(0, |g| h.task_groups.iter().filter(|t| *t == g).count()),
            group,
        })
        .collect();

    // memberOf results that cannot change while placing are computed once.
    let static_member: Vec<Option<Vec<bool>>> = constraints
        .iter()
        .map(|c| match c {
            Constraint::MemberOf(e) if !e.depends_on_tasks() => {
                Some(live.iter().map(|l| e.evaluate(l)).collect())
            }
            _ => None,
        })
        .collect();

    let mut spreads: Vec<Option<SpreadBuckets>> = strategies
        .iter()
        .map(|s| match s {
            Strategy::Spread(field) => {
                let mut ids: BTreeMap<Option<&str>, usize> = BTreeMap::new();
                let mut of_host = Vec::with_capacity(live.len());
                let mut count: Vec<u64> = Vec::new();
                for (i, l) in live.iter().enumerate() {
                    let b = match field {
                        SpreadField::InstanceId => i,
                        SpreadField::Attribute(name) => {
                            let key = l.host.attribute(name).flatten();
                            let next = ids.len();
                            *ids.entry(key).or_insert(next)
                        }
                    };
                    if b >= count.len() {
                        count.resize(b + 1, 0);
                    }
                    if let Some(c) = count.get_mut(b) {
                        *c += l.group_existing as u64;
                    }
                    of_host.push(b);
                }
                Some(SpreadBuckets { of_host, count })
            }
            _ => None,
        })
        .collect();

    // `count` is untrusted: reserve for what can plausibly be placed, not for what was asked
    // (`Vec::with_capacity(usize::MAX)` aborts the process).
    let mut placed = Vec::with_capacity(count.min(live.len()).min(MAX_TASKS_PER_PLACEMENT));
    let mut candidates: Vec<usize> = Vec::with_capacity(live.len());
    for task in 0..count {
        if task == MAX_TASKS_PER_PLACEMENT {
            return fail(
                placed,
                count,
                format!(
                    "the simulation stops at {MAX_TASKS_PER_PLACEMENT} tasks per call \
                     (MAX_TASKS_PER_PLACEMENT); the remaining tasks were not tried"
                ),
            );
        }
        // 1. Resources (and a connected agent).
        candidates.clear();
        candidates.extend(live.iter().enumerate().filter_map(|(i, l)| {
            let fits = l.host.agent_connected != Some(false)
                && l.cpu >= request.cpu
                && l.memory >= request.memory
                && ports.iter().all(|p| l.port_free(*p));
            fits.then_some(i)
        }));
        if candidates.is_empty() {
            return fail(placed, count, resource_reason(&live, request, &ports));
        }
        let fitting = candidates.len();
        // 2. Constraints, in order.
        for (ci, c) in constraints.iter().enumerate() {
            let before = candidates.len();
            match c {
                Constraint::DistinctInstance => candidates.retain(|&i| {
                    live.get(i)
                        .is_some_and(|l| l.placed == 0 && l.group_existing == 0)
                }),
                Constraint::MemberOf(e) => match static_member.get(ci).and_then(Option::as_ref) {
                    Some(ok) => candidates.retain(|&i| ok.get(i).copied().unwrap_or(false)),
                    None => candidates.retain(|&i| live.get(i).is_some_and(|l| e.evaluate(l))),
                },
            }
            if candidates.is_empty() {
                let hosts_fit = plural(fitting, "host fits", "hosts fit");
                let reason = if ci == 0 {
                    format!("{hosts_fit} the resources but none satisfies {c}")
                } else {
                    let earlier: Vec<String> = constraints
                        .iter()
                        .take(ci)
                        .map(ToString::to_string)
                        .collect();
                    format!(
                        "{hosts_fit} the resources and {before} of them satisfy {}, \
                         but none also satisfies {c}",
                        earlier.join(" and ")
                    )
                };
                return fail(placed, count, reason);
            }
        }
        // 3. Strategies: smallest key wins; the host index breaks final ties.
        let key = |i: usize| -> [u64; MAX_STRATEGIES + 1] {
            let mut k = [0u64; MAX_STRATEGIES + 1];
            let Some(l) = live.get(i) else {
                return [u64::MAX; MAX_STRATEGIES + 1];
            };
            for (si, (s, slot)) in strategies.iter().zip(k.iter_mut()).enumerate() {
                *slot = match s {
                    Strategy::Binpack(Resource::Cpu) => ordered(l.cpu),
                    Strategy::Binpack(Resource::Memory) => ordered(l.memory),
                    Strategy::Spread(_) => spreads
                        .get(si)
                        .and_then(Option::as_ref)
                        .and_then(|b| b.of_host.get(i).and_then(|&bi| b.count.get(bi)))
                        .copied()
                        .unwrap_or(0),
                    Strategy::Random { seed } => {
                        splitmix64(splitmix64(seed.wrapping_add(task as u64)) ^ i as u64)
                    }
                };
            }
            k[MAX_STRATEGIES] = i as u64;
            k
        };
        let Some(best) = candidates.iter().copied().min_by_key(|&i| key(i)) else {
            return fail(placed, count, "no candidate host".to_string());
        };
        // 4. Commit.
        if let Some(l) = live.get_mut(best) {
            // Saturating: a negative request (nonsense, but not ours to reject) must not
            // overflow.
            l.cpu = l.cpu.saturating_sub(request.cpu);
            l.memory = l.memory.saturating_sub(request.memory);
            l.extra_ports.extend_from_slice(&ports);
            l.placed += 1;
            placed.push(l.host.id.clone());
        }
        for b in spreads.iter_mut().flatten() {
            if let Some(c) = b.of_host.get(best).and_then(|&bi| b.count.get_mut(bi)) {
                *c += 1;
            }
        }
    }
    Placement {
        placed,
        unplaced: 0,
        reason: None,
    }
}

fn fail(placed: Vec<String>, count: usize, reason: String) -> Placement {
    let reason = if placed.is_empty() {
        reason
    } else {
        format!("after placing {} of {count} tasks, {reason}", placed.len())
    };
    Placement {
        unplaced: count.saturating_sub(placed.len()),
        placed,
        reason: Some(reason),
    }
}

fn resource_reason(live: &[Live<'_>], request: &TaskRequest, ports: &[u16]) -> String {
    let connected: Vec<&Live<'_>> = live
        .iter()
        .filter(|l| l.host.agent_connected != Some(false))
        .collect();
    if live.is_empty() {
        return "the cluster has no hosts".to_string();
    }
    if connected.is_empty() {
        return format!(
            "none of the {} has a connected agent",
            plural(live.len(), "host", "hosts")
        );
    }
    // The first host with the largest amount (ties: input order).
    let largest = |f: fn(&Live<'_>) -> i64| {
        connected
            .iter()
            .copied()
            .fold(None::<&Live<'_>>, |best, l| match best {
                Some(b) if f(b) >= f(l) => Some(b),
                _ => Some(l),
            })
    };
    if !connected.iter().any(|l| l.memory >= request.memory) {
        if let Some(b) = largest(|l| l.memory) {
            return format!(
                "no host has {} MiB memory free; the largest free is {} MiB on {}",
                request.memory,
                b.memory,
                b.host.label()
            );
        }
    }
    if !connected.iter().any(|l| l.cpu >= request.cpu) {
        if let Some(b) = largest(|l| l.cpu) {
            return format!(
                "no host has {} CPU units free; the largest free is {} CPU units on {}",
                request.cpu,
                b.cpu,
                b.host.label()
            );
        }
    }
    let port_list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if !connected
        .iter()
        .any(|l| ports.iter().all(|p| l.port_free(*p)))
    {
        return format!("no host has host port(s) {port_list} free");
    }
    format!(
        "no host has {} CPU units, {} MiB memory{} free at the same time",
        request.cpu,
        request.memory,
        if ports.is_empty() {
            String::new()
        } else {
            format!(" and host port(s) {port_list}")
        }
    )
}
