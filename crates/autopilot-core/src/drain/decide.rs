//! The drain decision, pure: what one look at a draining host decides ([`decide`]), from its
//! tasks, which of its services are daemons, and how long the drain has been going; the limits a
//! drain runs with ([`fit_to_hook`]), which hooks are the drainer's ([`hook_in_scope`]) and the
//! spot resume steps ([`spot_step`]). The re-check message and when a re-check is stale are in
//! [`super::recheck`].
//!
//! **Tasks** ([`classify`]; only live ones count: a task is on the host until ECS reports it
//! STOPPED, so one still shutting down blocks):
//!
//! | task | kind | blocks completion |
//! |---|---|---|
//! | group `service:NAME`, NAME a daemon service (DAEMON strategy, or tagged `ecs-autopilot:daemon=true`) | daemon | no: ECS stops DAEMON tasks last, daemon-count lowers tagged daemons' counts |
//! | group `service:NAME`, any other service | service | yes, until ECS moves it |
//! | no service group, started by `ecs-svc/…` | service | yes |
//! | anything else (RunTask, StartTask) | standalone | yes (see the policy below) |
//!
//! **Steps** ([`decide`]; defaults: `RECHECK_INTERVAL_SECONDS` 60, `MAX_DRAIN_SECONDS` 3600,
//! `STANDALONE_GRACE_SECONDS` 300):
//!
//! | host's live tasks | drain so far | decision |
//! |---|---|---|
//! | none, or daemon tasks only | any | complete: `drained` |
//! | STOPPED tasks only | any | complete: `drained` |
//! | service tasks (one shutting down included) | before the deadline | wait one interval |
//! | blocking tasks | at or past `MAX_DRAIN_SECONDS` | complete: `deadline`, the record names what still runs |
//! | blocking tasks | less than an interval before the deadline | wait until the deadline |
//! | standalone, policy `stop`, within the grace | any | wait until the grace ends |
//! | standalone, policy `stop`, grace over | before the deadline | StopTask it, wait one interval |
//! | standalone already stopping (desired STOPPED) | any | not stopped again; wait |
//! | standalone, policy `wait` | before the deadline | wait; never stopped |
//!
//! Every wait is a re-check message delayed 1 s to 900 s (SQS's maximum). A chain of re-checks
//! also ends after [`attempt_cap`] of them, even if the clock stood still (complete:
//! `attempt_cap`).
//!
//! **Limits** ([`fit_to_hook`]): the hook's global timeout is min(GlobalTimeout, 100 ×
//! HeartbeatTimeout, 48 h); the deadline is that less a margin of a tenth (30 s – 5 min), never
//! later than `MAX_DRAIN_SECONDS`; re-checks come at most every HeartbeatTimeout / 2.
//!
//! | `MAX_DRAIN_SECONDS`, interval | hook heartbeat, global | deadline, interval |
//! |---|---|---|
//! | 3600, 60 | not found | 3600, 60 (configuration unchanged) |
//! | 3600, 60 | 3600, 172800 | 3600, 60 |
//! | 3600, 60 | 30, 3000 | 2700, 15 |
//! | 172800, 60 | 300, 172800 (moto's fixed 48 h) | 29700, 60 (100 × heartbeat) |
//! | 172800, 900 | 7200, none | 172500, 900 (48 h) |
//! | 3600, 60 | 60, 200 | 170, 30 (margin at least 30 s) |
//! | 3600, 60 | 1, 1 | 1, 1 (never zero) |
//!
//! The table tests are `decide_table.rs` beside this file; the manual page
//! `docs/instance-drainer.md` tells how the drainer reads, acts and re-checks.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::config::{
    DrainConfig, StandalonePolicy, MAX_GLOBAL_TIMEOUT_SECONDS, MAX_SQS_DELAY_SECONDS,
};
use crate::arn::arn_resource_id;
use crate::markers::DAEMON_TAG;
use crate::model::{SchedulingStrategy, Service, Task};
use crate::ports::lifecycle::HookTimeouts;

/// What a task on a draining host is, for the drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A task of a daemon service (DAEMON strategy, or tagged `ecs-autopilot:daemon=true`): it
    /// never blocks completion. ECS stops DAEMON-strategy tasks last by itself; daemon-count lowers
    /// the count of tagged REPLICA daemons when the host turns DRAINING.
    Daemon,
    /// A service task: ECS replaces it elsewhere and stops it; completion waits for that.
    Service,
    /// RunTask/StartTask: nothing moves it off the host (see [`StandalonePolicy`]).
    Standalone,
}

/// A service is a daemon for the drain when it uses the DAEMON strategy or is tagged
/// `ecs-autopilot:daemon=true` (any case), like daemon-count's opt-in.
pub fn is_daemon_service(service: &Service) -> bool {
    service.scheduling_strategy == SchedulingStrategy::Daemon
        || service
            .tags
            .get(DAEMON_TAG)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The service name of a service task (`group = service:NAME`), if it is one.
pub fn service_name(task: &Task) -> Option<&str> {
    task.group.as_deref()?.strip_prefix("service:")
}

/// Classifies a task: `daemon_services` holds the names of the host's daemon services.
pub fn classify(task: &Task, daemon_services: &BTreeSet<String>) -> TaskKind {
    if let Some(name) = service_name(task) {
        if daemon_services.contains(name) {
            return TaskKind::Daemon;
        }
        return TaskKind::Service;
    }
    if task
        .started_by
        .as_deref()
        .is_some_and(|s| s.starts_with("ecs-svc/"))
    {
        return TaskKind::Service;
    }
    TaskKind::Standalone
}

/// A task is still on the host until ECS reports it STOPPED (or DELETED): a task that is shutting
/// down (desired STOPPED, last RUNNING/DEACTIVATING/STOPPING/DEPROVISIONING) still counts, so its
/// containers get their stop timeout before the instance goes.
pub fn is_live(task: &Task) -> bool {
    !matches!(task.last_status.as_deref(), Some("STOPPED" | "DELETED"))
}

/// A task in a decision record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskNote {
    pub task: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub last_status: String,
}

impl TaskNote {
    fn of(t: &Task) -> Self {
        TaskNote {
            task: arn_resource_id(&t.arn).to_string(),
            group: t.group.clone(),
            last_status: t.last_status.clone().unwrap_or_default(),
        }
    }
}

/// The live tasks on the host, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostTasks {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<TaskNote>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub standalone: Vec<TaskNote>,
    /// Daemon tasks: reported, never waited on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub daemon: Vec<TaskNote>,
}

impl HostTasks {
    /// Tasks that keep the host from completing.
    pub fn blocking(&self) -> usize {
        self.service.len() + self.standalone.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompleteReason {
    /// No live tasks but daemon tasks.
    Drained,
    /// `MAX_DRAIN_SECONDS` ran out: completing anyway, the record lists what still runs.
    Deadline,
    /// The drain's own bound on re-checks ([`attempt_cap`]) ran out: a safety net that only a
    /// clock that stands still or a bug can reach, so a re-check loop can never run forever.
    AttemptCap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainDecision {
    /// CompleteLifecycleAction(CONTINUE).
    Complete {
        reason: CompleteReason,
        tasks: HostTasks,
    },
    /// Not yet: stop `stop` (standalone tasks past their grace), re-check in `delay_seconds`.
    Wait {
        tasks: HostTasks,
        stop: Vec<String>,
        delay_seconds: u32,
    },
}

/// The pure decision. `elapsed` = seconds since the drain started (the lifecycle action's time).
pub fn decide(
    tasks: &[Task],
    daemon_services: &BTreeSet<String>,
    elapsed: u64,
    config: &DrainConfig,
) -> DrainDecision {
    let mut out = HostTasks::default();
    let mut stop = Vec::new();
    for t in tasks.iter().filter(|t| is_live(t)) {
        match classify(t, daemon_services) {
            TaskKind::Daemon => out.daemon.push(TaskNote::of(t)),
            TaskKind::Service => out.service.push(TaskNote::of(t)),
            TaskKind::Standalone => {
                if config.standalone == StandalonePolicy::Stop
                    && elapsed >= config.standalone_grace_seconds
                    && t.desired_status.as_deref() != Some("STOPPED")
                {
                    stop.push(t.arn.clone());
                }
                out.standalone.push(TaskNote::of(t));
            }
        }
    }
    if out.blocking() == 0 {
        return DrainDecision::Complete {
            reason: CompleteReason::Drained,
            tasks: out,
        };
    }
    if elapsed >= config.max_drain_seconds {
        return DrainDecision::Complete {
            reason: CompleteReason::Deadline,
            tasks: out,
        };
    }
    let left = config.max_drain_seconds - elapsed;
    let mut delay = u64::from(config.recheck_interval_seconds).min(left);
    if config.standalone == StandalonePolicy::Stop
        && !out.standalone.is_empty()
        && stop.is_empty()
        && elapsed < config.standalone_grace_seconds
    {
        // Come back when the grace period ends rather than a whole interval later.
        delay = delay.min(config.standalone_grace_seconds - elapsed);
    }
    DrainDecision::Wait {
        tasks: out,
        stop,
        delay_seconds: delay.clamp(1, u64::from(MAX_SQS_DELAY_SECONDS)) as u32,
    }
}

impl DrainDecision {
    /// The host's live tasks, by kind, whatever was decided.
    pub fn tasks(&self) -> &HostTasks {
        match self {
            DrainDecision::Complete { tasks, .. } | DrainDecision::Wait { tasks, .. } => tasks,
        }
    }
}

/// The deadline and re-check interval one drain runs with, fixed when the lifecycle event arrives
/// and carried in every re-check message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainLimits {
    pub max_drain_seconds: u64,
    pub recheck_interval_seconds: u32,
}

/// Fits `MAX_DRAIN_SECONDS` and `RECHECK_INTERVAL_SECONDS` to the hook, so the drain completes
/// before Auto Scaling gives up on its own and every re-check lands inside the heartbeat timeout:
/// - the hook's global timeout is taken as min(reported GlobalTimeout, 100 × HeartbeatTimeout,
///   48 h) — AWS documents the latter two as the rule, and moto reports a fixed 48 h;
/// - the deadline is that global timeout less a margin (a tenth of it, 30 s to 5 min) for the last
///   re-check's delivery and CompleteLifecycleAction, and never later than `MAX_DRAIN_SECONDS`;
/// - re-checks (each sends a heartbeat) come at most every HeartbeatTimeout / 2.
///
/// Without the hook's timeouts (not found, or DescribeLifecycleHooks failed) the configuration
/// stands as it is.
pub fn fit_to_hook(config: &DrainConfig, hook: Option<HookTimeouts>) -> DrainLimits {
    let mut limits = DrainLimits {
        max_drain_seconds: config.max_drain_seconds,
        recheck_interval_seconds: config.recheck_interval_seconds,
    };
    let Some(hook) = hook else {
        return limits;
    };
    let heartbeat = hook.heartbeat_seconds.max(1);
    let global = hook
        .global_seconds
        .unwrap_or(u64::MAX)
        .min(heartbeat.saturating_mul(100))
        .min(MAX_GLOBAL_TIMEOUT_SECONDS);
    let margin = (global / 10).clamp(30, 300);
    limits.max_drain_seconds = limits
        .max_drain_seconds
        .min(global.saturating_sub(margin).max(1));
    let half_heartbeat = u32::try_from((heartbeat / 2).max(1)).unwrap_or(u32::MAX);
    limits.recheck_interval_seconds = limits.recheck_interval_seconds.min(half_heartbeat);
    limits
}

impl DrainConfig {
    /// This configuration with one drain's limits applied.
    pub fn with_limits(&self, limits: DrainLimits) -> DrainConfig {
        DrainConfig {
            max_drain_seconds: limits.max_drain_seconds,
            recheck_interval_seconds: limits.recheck_interval_seconds,
            ..self.clone()
        }
    }
}

/// The most re-checks one drain may take: one per interval until the deadline, plus slack for the
/// shorter delays (the standalone grace period's end, the deadline itself). Past it the drain
/// completes ([`CompleteReason::AttemptCap`]) whatever the clock says.
pub fn attempt_cap(limits: DrainLimits) -> u32 {
    let per_interval = limits.max_drain_seconds / u64::from(limits.recheck_interval_seconds.max(1));
    u32::try_from(per_interval.saturating_add(10)).unwrap_or(u32::MAX)
}

/// The name ECS gives the lifecycle hook of managed instance draining starts with this: that hook
/// is ECS's own, and completing it would end ECS's drain early, so it is never in scope.
pub const ECS_MANAGED_DRAINING_HOOK_PREFIX: &str = "ecs-managed-draining";

/// Whether the drainer may act on lifecycle hook `hook`: it must match one of `patterns`
/// (`LIFECYCLE_HOOK_NAMES`: names, or wildcards where `*` matches any run of characters, as in
/// the EventBridge rule) and must not be ECS's managed-draining hook.
///
/// | hook | patterns | in scope |
/// |---|---|---|
/// | `ecs-autopilot-drain` | `ecs-autopilot-drain*` | yes |
/// | `ecs-autopilot-drain-prod` | `ecs-autopilot-drain*` | yes |
/// | `flush-logs` | `ecs-autopilot-drain*` | no: another system's hook |
/// | `drain` | `drain`, `other` | yes: an exact name |
/// | `ecs-managed-draining-termination-hook` | `*` | no: ECS's own hook |
pub fn hook_in_scope(hook: &str, patterns: &[String]) -> bool {
    !hook.starts_with(ECS_MANAGED_DRAINING_HOOK_PREFIX)
        && patterns.iter().any(|p| wildcard_match(p, hook))
}

/// `*` matches any run of characters (none included); everything else matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Container instance attribute that marks a host the drainer set DRAINING for a spot `stop` or
/// `hibernate` warning: `stop/V` (V = the host's version then), then `stopped/V` once its agent
/// disconnected (the instance stopped). ECS attribute names allow `.` and `-`, not `:`.
pub const SPOT_MARKER_ATTRIBUTE: &str = "ecs-autopilot.spot-resume";

/// What a container instance state change means for a host with a spot marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpotStep {
    /// Nothing to do (the reason is logged).
    Ignore(String),
    /// The instance stopped: record it (`stopped/VERSION`).
    MarkStopped(i64),
    /// The instance is back: set the host ACTIVE and remove the marker.
    Reactivate,
}

/// The spot resume rule, from one `ECS Container Instance State Change` of a host. Events come out
/// of order, so each step needs an event newer than the marker's version:
///
/// | marker | status | agent | event version | step |
/// |---|---|---|---|---|
/// | none | any | any | any | ignore: not a host we set DRAINING for a spot stop |
/// | `stop/5` | DRAINING | disconnected | 6 | mark stopped at 6 |
/// | `stop/5` | DRAINING | connected | 6 | ignore: not stopped yet (still draining) |
/// | `stopped/6` | DRAINING | connected | 7 | reactivate |
/// | `stopped/6` | DRAINING | connected | 6 or less | ignore: older than the stop |
/// | `stopped/6` | DRAINING | disconnected | 7 | ignore: still stopped |
/// | any | ACTIVE (or another status) | any | any | ignore: someone else changed the host |
///
/// An event without a version cannot be ordered and is ignored.
pub fn spot_step(
    marker: Option<&str>,
    status: &crate::model::InstanceStatus,
    agent_connected: Option<bool>,
    version: Option<i64>,
) -> SpotStep {
    let Some(marker) = marker else {
        return SpotStep::Ignore("no spot resume marker".into());
    };
    if *status != crate::model::InstanceStatus::Draining {
        return SpotStep::Ignore(format!("host is {status}, not DRAINING"));
    }
    let Some(version) = version else {
        return SpotStep::Ignore("event has no detail.version: cannot be ordered".into());
    };
    let (phase, since) = match marker.split_once('/') {
        Some((phase, v)) => (phase, v.parse::<i64>().unwrap_or(i64::MAX)),
        None => return SpotStep::Ignore(format!("unreadable marker {marker:?}")),
    };
    if version <= since {
        return SpotStep::Ignore(format!("event version {version} is not after {marker}"));
    }
    match (phase, agent_connected) {
        ("stopped", Some(true)) => SpotStep::Reactivate,
        ("stopped", _) => SpotStep::Ignore("instance still stopped".into()),
        (_, Some(false)) => SpotStep::MarkStopped(version),
        _ => SpotStep::Ignore("instance not stopped yet".into()),
    }
}

#[cfg(test)]
#[path = "decide_table.rs"]
mod table;
