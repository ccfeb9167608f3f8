//! The drain decision: a pure function of the host's tasks, which services are daemons, and how
//! long the drain has been going. Tested by tables of cases (`tests/drain.rs`).

use std::collections::BTreeSet;

use serde::Serialize;

use super::config::{DrainConfig, StandalonePolicy, MAX_SQS_DELAY_SECONDS};
use super::ports::HostTask;
use crate::daemon::DAEMON_TAG;
use crate::model::{arn_resource_id, SchedulingStrategy, Service};

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
pub fn service_name(task: &HostTask) -> Option<&str> {
    task.group.as_deref()?.strip_prefix("service:")
}

/// Classifies a task: `daemon_services` holds the names of the host's daemon services.
pub fn classify(task: &HostTask, daemon_services: &BTreeSet<String>) -> TaskKind {
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
pub fn is_live(task: &HostTask) -> bool {
    !matches!(task.last_status.as_str(), "STOPPED" | "DELETED")
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
    fn of(t: &HostTask) -> Self {
        TaskNote {
            task: arn_resource_id(&t.arn).to_string(),
            group: t.group.clone(),
            last_status: t.last_status.clone(),
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
    tasks: &[HostTask],
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
                    && t.desired_status != "STOPPED"
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
