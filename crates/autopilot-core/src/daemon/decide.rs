//! daemon-count's decision: a pure function of the service, its task definition and the hosts,
//! tested by tables of cases (`tests/daemon.rs`).
//!
//! A host is **eligible** (Kubernetes DaemonSet semantics) when it is ACTIVE, its agent is connected,
//! and it satisfies every `memberOf` constraint of the service and of its task definition.

use ecs_cluster_query::Expression;
use serde::Serialize;

use crate::model::{
    ContainerInstance, InstanceStatus, PlacementConstraint, SchedulingStrategy, Service,
    TaskDefinition,
};

/// Tag that opts a service in (value `true`, any case) when `DAEMON_SERVICES` is not set.
pub const DAEMON_TAG: &str = "ecs-autopilot:daemon";
/// Optional tag: tasks per eligible host (integer ≥ 1, default 1).
pub const TASKS_PER_HOST_TAG: &str = "ecs-autopilot:tasks-per-host";

/// Hosts left out of the count, grouped by why. Each entry is the EC2 instance id when known,
/// else the container instance id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Excluded {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<String>,
    /// REGISTERING, DEREGISTERING, REGISTRATION_FAILED, INACTIVE or a status we do not know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_active: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disconnected: Vec<String>,
    /// Fails at least one `memberOf` constraint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraint: Vec<String>,
}

impl Excluded {
    pub fn total(&self) -> usize {
        self.draining.len()
            + self.not_active.len()
            + self.disconnected.len()
            + self.constraint.len()
    }
}

/// The outcome of [`decide`] for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The service should have `desired` tasks.
    Desired {
        desired: i32,
        eligible: usize,
        tasks_per_host: u32,
        excluded: Excluded,
        constraints: Vec<String>,
    },
    /// The service is not managed by this run, with the reason (reported, never silent).
    Skip { reason: String },
}

/// Pure decision: what the desired count of `service` should be over `instances`.
///
/// `task_definition` is the service's current task definition revision (for its `memberOf`
/// constraints); `None` means it could not be read, and the service is skipped rather than
/// counted without its constraints.
pub fn decide(
    service: &Service,
    task_definition: Option<&TaskDefinition>,
    instances: &[ContainerInstance],
) -> Decision {
    let skip = |reason: String| Decision::Skip { reason };
    if service.status != "ACTIVE" {
        return skip(format!("service status is {}, not ACTIVE", service.status));
    }
    match &service.scheduling_strategy {
        SchedulingStrategy::Replica => {}
        SchedulingStrategy::Daemon => {
            return skip(
                "service uses the DAEMON scheduling strategy; ECS already runs one task per host"
                    .into(),
            )
        }
        SchedulingStrategy::Other(s) => return skip(format!("unknown scheduling strategy {s:?}")),
    }
    let tasks_per_host = match tasks_per_host(service) {
        Ok(n) => n,
        Err(reason) => return skip(reason),
    };
    let Some(task_definition) = task_definition else {
        return skip("task definition unknown; its memberOf constraints cannot be checked".into());
    };

    let constraint_sources = service
        .placement_constraints
        .iter()
        .chain(task_definition.placement_constraints.iter());
    let expressions = match member_of_expressions(constraint_sources) {
        Ok(e) => e,
        Err(reason) => return skip(reason),
    };

    let mut excluded = Excluded::default();
    let mut eligible = 0usize;
    for ci in instances {
        let name = ci.display_name().to_string();
        match &ci.status {
            InstanceStatus::Active => {}
            InstanceStatus::Draining => {
                excluded.draining.push(name);
                continue;
            }
            _ => {
                excluded.not_active.push(name);
                continue;
            }
        }
        if ci.agent_connected != Some(true) {
            excluded.disconnected.push(name);
            continue;
        }
        if !expressions.iter().all(|(_, e)| e.evaluate(ci)) {
            excluded.constraint.push(name);
            continue;
        }
        eligible += 1;
    }

    let desired = i32::try_from(eligible)
        .ok()
        .and_then(|e| e.checked_mul(tasks_per_host as i32));
    let Some(desired) = desired else {
        return skip(format!(
            "{eligible} hosts × {tasks_per_host} tasks per host overflows a desired count"
        ));
    };
    Decision::Desired {
        desired,
        eligible,
        tasks_per_host,
        excluded,
        constraints: expressions.into_iter().map(|(text, _)| text).collect(),
    }
}

/// Reads the tasks-per-host tag: absent = 1; otherwise an integer ≥ 1.
pub fn tasks_per_host(service: &Service) -> Result<u32, String> {
    match service.tags.get(TASKS_PER_HOST_TAG) {
        None => Ok(1),
        Some(v) => match v.trim().parse::<u32>() {
            // ECS caps a service far below this; the bound keeps desired = hosts × n inside i32.
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(format!(
                "tag {TASKS_PER_HOST_TAG}={v:?} is not an integer between 1 and 10000"
            )),
        },
    }
}

/// Parses every `memberOf` expression; other constraint types (`distinctInstance`) do not limit
/// which hosts count. Expressions that look at `task:group` are refused: the host list has no
/// task placement, and guessing would give a wrong count. `runningTasksCount` is refused too: it
/// moves as the daemon's own tasks land, so the count would never settle.
fn member_of_expressions<'a>(
    constraints: impl Iterator<Item = &'a PlacementConstraint>,
) -> Result<Vec<(String, Expression)>, String> {
    let mut out = Vec::new();
    for c in constraints {
        if !c.kind.eq_ignore_ascii_case("memberOf") {
            continue;
        }
        let text = c.expression.as_deref().unwrap_or("").trim();
        if text.is_empty() {
            return Err("memberOf constraint without an expression".into());
        }
        let expression = ecs_cluster_query::parse(text)
            .map_err(|e| format!("memberOf expression {text:?} is invalid: {e}"))?;
        if expression.references_task_group() {
            return Err(format!(
                "memberOf expression {text:?} uses task:group, which a daemon count cannot evaluate"
            ));
        }
        // The daemon's own tasks change runningTasksCount: a count that depends on it would flip
        // between runs as they land (e.g. `runningTasksCount == 0` excludes every host it fills).
        if expression.depends_on_tasks() {
            return Err(format!(
                "memberOf expression {text:?} uses runningTasksCount, which the daemon's own \
                 tasks change: the count would not settle"
            ));
        }
        out.push((text.to_string(), expression));
    }
    Ok(out)
}
