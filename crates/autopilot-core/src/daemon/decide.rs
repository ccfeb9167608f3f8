//! daemon-count's decision, pure: what a REPLICA "daemon" service's desired count should be over
//! the cluster's hosts ([`decide`], [`decide_with`]). Kubernetes' DaemonSet
//! `desiredNumberScheduled`: desired = hosts where **ECS could place the service's task** × tasks
//! per host ([`TASKS_PER_HOST_TAG`], default 1). A host counted where ECS cannot place the task
//! leaves a task PROVISIONING, which managed scaling answers with a new host, which raises the
//! count again: the group runs away to MaxSize. So every row below must hold for a host to count.
//!
//! **Hosts** (each excluded host is reported under the name in the last column, by EC2 id):
//!
//! | host | counts | excluded as |
//! |---|---|---|
//! | ACTIVE, in scope, attributes and `memberOf` hold, room for one task | yes | — |
//! | … its agent disconnected (or not reported) | yes: agents reconnect several times an hour and the host keeps running its tasks; reported as `disconnected_kept` | — |
//! | DRAINING | no: ECS is emptying it | `draining` |
//! | REGISTERING, DEREGISTERING, REGISTRATION_FAILED, INACTIVE, a status not known yet | no | `not_active` |
//! | outside the service's scope (table below) | no | `out_of_scope` |
//! | lacks a `requiresAttributes` entry of the task definition (by name; by value when given) | no | `missing_attribute` |
//! | fails a `memberOf` of the service **or** of its task definition | no | `constraint` |
//! | no room now (remaining CPU or memory below the task's, or a static host port taken) and runs no task of the service | no | `no_room` |
//! | no room, but already runs a task of the service | yes | — |
//!
//! A task of the service on a host excluded as `out_of_scope`, `missing_attribute` or
//! `constraint` is *misplaced*: ECS checks constraints only when it places a task, so it is
//! stopped once the count is right and ECS places it again on an eligible host (tasks on DRAINING
//! hosts are ECS's to move). Whether a host runs a task of the service needs the service's tasks:
//! without them ([`DecideContext::tasks_by_host`] `None`) the decision is [`Decision::NeedTasks`]
//! as soon as a host has no room or an excluded host runs tasks at all.
//!
//! **Scope** — where the service's tasks may go, before any constraint:
//!
//! | service | hosts in scope |
//! |---|---|
//! | a capacity provider strategy | its providers' hosts (a Fargate-only strategy: skipped) |
//! | no strategy, no launch type, a cluster default strategy | the default strategy's providers' hosts |
//! | no strategy, no launch type, no default strategy | EC2 hosts (ECS's default launch type) |
//! | launch type EC2 (the default strategy does not apply) | EC2 hosts, not external (`mi-…`) instances |
//! | launch type EXTERNAL | external instances only |
//! | launch type FARGATE | none: skipped |
//!
//! **Services** — counted, counted with a warning, or skipped (reported with the reason, never
//! written):
//!
//! | service | result |
//! |---|---|
//! | ACTIVE REPLICA, `distinctInstance` (or a spread on `instanceId`) | desired = eligible hosts × tasks per host |
//! | no `distinctInstance` and no spread on the instance | counted, with a warning: a count alone does not put one task on each host |
//! | tasks per host `n` (`" 3 "` reads as 3) | eligible hosts × n |
//! | no host at all | 0 |
//! | status not ACTIVE (DRAINING, INACTIVE) | skip |
//! | DAEMON scheduling strategy | skip: ECS already runs one task per host |
//! | a scheduling strategy not known yet | skip |
//! | tasks-per-host tag not an integer from 1 to 10,000 (`two`, `0`, `-1`, `10001`) | skip |
//! | tasks per host > 1 **and** `distinctInstance` | skip: tasks ECS could never place |
//! | Fargate (launch type, or a Fargate-only strategy) | skip: no hosts to count |
//! | task definition unknown (could not be read) | skip: its constraints cannot be checked |
//! | a `memberOf` without an expression, or an invalid one | skip |
//! | a `memberOf` on `task:group` | skip: the hosts carry no task placement |
//! | a `memberOf` on `runningTasksCount` | skip: the daemon's own tasks move it, the count would not settle |
//! | eligible hosts × tasks per host overflows an `i32` | skip |
//!
//! The table test is `decide_table.rs` beside this file. the manual page
//! `docs/daemon-count.md` tells the story (why, and how the reconciler reads and writes).

use std::collections::BTreeMap;

use ecs_cluster_query::Expression;
use serde::Serialize;

use crate::model::{
    ContainerInstance, InstanceStatus, PlacementConstraint, SchedulingStrategy, Service,
    TaskDefinition,
};

/// Optional tag: tasks per eligible host (integer ≥ 1, default 1).
pub const TASKS_PER_HOST_TAG: &str = "ecs-autopilot:tasks-per-host";

/// Capacity providers that are Fargate, not hosts of the cluster.
const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

/// Hosts left out of the count, grouped by why. Each entry is the EC2 instance id when known,
/// else the container instance id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Excluded {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<String>,
    /// REGISTERING, DEREGISTERING, REGISTRATION_FAILED, INACTIVE or a status we do not know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_active: Vec<String>,
    /// Outside the service's placement scope: another capacity provider than its strategy's, an
    /// external instance for an EC2 service, an EC2 instance for an EXTERNAL one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub out_of_scope: Vec<String>,
    /// Lacks an attribute the task definition `requiresAttributes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_attribute: Vec<String>,
    /// Fails at least one `memberOf` constraint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraint: Vec<String>,
    /// Runs no task of the service and has no room for one (CPU, memory, a static host port).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_room: Vec<String>,
}

impl Excluded {
    pub fn total(&self) -> usize {
        self.draining.len()
            + self.not_active.len()
            + self.out_of_scope.len()
            + self.missing_attribute.len()
            + self.constraint.len()
            + self.no_room.len()
    }
}

/// What [`decide`] needs beyond the service, its task definition and the hosts.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecideContext<'a> {
    /// The cluster's default capacity provider strategy (provider names): the scope of a service
    /// that has neither a strategy nor a launch type.
    pub default_strategy: &'a [String],
    /// The service's live tasks by host (container instance ARN → task ARNs), once read. `None`:
    /// not read; [`decide`] asks for them ([`Decision::NeedTasks`]) only when the answer depends
    /// on them (a host without room, or an excluded host that runs tasks).
    pub tasks_by_host: Option<&'a BTreeMap<String, Vec<String>>>,
    /// The `memberOf` expressions, already compiled (once per task definition revision); `None`:
    /// compiled here.
    pub expressions: Option<&'a [(String, Expression)]>,
}

/// The outcome of [`decide`] for one service.
// One value per service per run, moved once: the size of the large variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The service should have `desired` tasks.
    Desired {
        desired: i32,
        eligible: usize,
        tasks_per_host: u32,
        excluded: Excluded,
        constraints: Vec<String>,
        /// Eligible hosts whose agent is disconnected (kept: they still run their tasks).
        disconnected_kept: usize,
        /// Tasks of the service on hosts that are not eligible for a reason ECS does not handle
        /// itself (scope, attributes, `memberOf`): to stop once the count is right, so ECS places
        /// them again on eligible hosts. Tasks on DRAINING hosts are ECS's to move.
        misplaced: Vec<String>,
        /// Said in the record, not acted on (e.g. no `distinctInstance`).
        warnings: Vec<String>,
    },
    /// The answer depends on where the service's tasks run: read them, then decide again.
    NeedTasks,
    /// The service is not managed by this run, with the reason (reported, never silent).
    Skip { reason: String },
}

/// Where a service's tasks may go, as ECS decides it before any constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Hosts of these capacity providers.
    Providers(Vec<String>),
    /// EC2 hosts (not external).
    Ec2,
    /// External (ECS Anywhere) instances only.
    External,
}

/// The service's placement scope (the scope table in the module doc), or why it cannot be a
/// daemon on hosts.
fn scope(service: &Service, default_strategy: &[String]) -> Result<Scope, String> {
    let strategy: &[String] = if !service.capacity_provider_strategy.is_empty() {
        &service.capacity_provider_strategy
    } else if service.launch_type.is_none() {
        default_strategy
    } else {
        &[]
    };
    if !strategy.is_empty() {
        if strategy
            .iter()
            .all(|p| FARGATE_PROVIDERS.contains(&p.as_str()))
        {
            return Err(format!(
                "capacity provider strategy {} is Fargate: there are no hosts to count",
                strategy.join(",")
            ));
        }
        return Ok(Scope::Providers(strategy.to_vec()));
    }
    match service.launch_type.as_deref() {
        None | Some("EC2") => Ok(Scope::Ec2),
        Some("EXTERNAL") => Ok(Scope::External),
        Some("FARGATE") => Err("launch type FARGATE: there are no hosts to count".into()),
        Some(other) => Err(format!("unknown launch type {other:?}")),
    }
}

fn in_scope(scope: &Scope, ci: &ContainerInstance) -> bool {
    match scope {
        Scope::Providers(names) => ci
            .capacity_provider_name
            .as_ref()
            .is_some_and(|p| names.contains(p)),
        Scope::Ec2 => !ci.is_external(),
        Scope::External => ci.is_external(),
    }
}

/// Every `requiresAttributes` entry is on the host (by name; and by value when one is given).
fn has_required_attributes(td: &TaskDefinition, ci: &ContainerInstance) -> bool {
    td.requires_attributes.iter().all(|want| {
        ci.attribute(&want.name)
            .is_some_and(|got| want.value.is_none() || got.value == want.value)
    })
}

/// Room for one more task now: remaining CPU and memory at least the task's reservation, and none
/// of its static host ports in use. Unknown amounts (the source did not report them) do not
/// exclude a host.
fn has_room(td: &TaskDefinition, ci: &ContainerInstance) -> bool {
    let enough = |need: Option<i64>, left: Option<i64>| match (need, left) {
        (Some(need), Some(left)) => left >= need,
        _ => true,
    };
    enough(td.cpu, ci.remaining.cpu)
        && enough(td.memory, ci.remaining.memory)
        && !td.host_ports.iter().any(|p| ci.remaining.ports.contains(p))
        && !td
            .host_ports_udp
            .iter()
            .any(|p| ci.remaining.ports_udp.contains(p))
}

/// One task per host needs `distinctInstance` (or a spread on the instance): a count alone does
/// not stop ECS from putting two tasks on one host.
fn spreads_one_per_host(service: &Service) -> bool {
    service
        .placement_constraints
        .iter()
        .any(|c| c.kind.eq_ignore_ascii_case("distinctInstance"))
        || service.placement_strategy.iter().any(|s| {
            s.kind.eq_ignore_ascii_case("spread")
                && matches!(s.field.as_deref(), Some("instanceId" | "host"))
        })
}

/// Pure decision: what the desired count of `service` should be over `instances` (the tables in
/// the module doc). `task_definition` is the revision the service's tasks run; `None` means it
/// could not be read, and the service is skipped rather than counted without its constraints.
pub fn decide(
    service: &Service,
    task_definition: Option<&TaskDefinition>,
    instances: &[ContainerInstance],
) -> Decision {
    // Without the service's tasks: as if it ran none (pure tables of cases, benchmarks).
    let none = BTreeMap::new();
    decide_with(
        service,
        task_definition,
        instances,
        DecideContext {
            tasks_by_host: Some(&none),
            ..DecideContext::default()
        },
    )
}

/// [`decide`] with the cluster's default strategy, the service's tasks and compiled expressions.
pub fn decide_with(
    service: &Service,
    task_definition: Option<&TaskDefinition>,
    instances: &[ContainerInstance],
    context: DecideContext<'_>,
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
    let has_distinct = service
        .placement_constraints
        .iter()
        .any(|c| c.kind.eq_ignore_ascii_case("distinctInstance"));
    if tasks_per_host > 1 && has_distinct {
        return skip(format!(
            "tag {TASKS_PER_HOST_TAG}={tasks_per_host} with a distinctInstance constraint asks for \
             tasks ECS can never place (one per host): remove one of the two"
        ));
    }
    let scope = match scope(service, context.default_strategy) {
        Ok(s) => s,
        Err(reason) => return skip(reason),
    };
    let Some(task_definition) = task_definition else {
        return skip("task definition unknown; its memberOf constraints cannot be checked".into());
    };
    let compiled;
    let expressions: &[(String, Expression)] = match context.expressions {
        Some(e) => e,
        None => {
            let constraint_sources = service
                .placement_constraints
                .iter()
                .chain(task_definition.placement_constraints.iter());
            compiled = match member_of_expressions(constraint_sources) {
                Ok(e) => e,
                Err(reason) => return skip(reason),
            };
            &compiled
        }
    };

    let runs_task = |ci: &ContainerInstance| -> Option<&Vec<String>> {
        context
            .tasks_by_host
            .and_then(|m| m.get(&ci.arn))
            .filter(|t| !t.is_empty())
    };
    let mut excluded = Excluded::default();
    let mut misplaced = Vec::new();
    let mut eligible = 0usize;
    let mut disconnected_kept = 0usize;
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
        let bucket = if !in_scope(&scope, ci) {
            Some(&mut excluded.out_of_scope)
        } else if !has_required_attributes(task_definition, ci) {
            Some(&mut excluded.missing_attribute)
        } else if !expressions.iter().all(|(_, e)| e.evaluate(ci)) {
            Some(&mut excluded.constraint)
        } else {
            None
        };
        if let Some(bucket) = bucket {
            // A task of the service left here (the host stopped matching): stop it once the count
            // is right. Whether there is one needs the tasks, unless the host runs none at all.
            if ci.running_tasks_count.unwrap_or(1) > 0 {
                match context.tasks_by_host {
                    None => return Decision::NeedTasks,
                    Some(_) => misplaced.extend(runs_task(ci).cloned().unwrap_or_default()),
                }
            }
            bucket.push(name);
            continue;
        }
        if !has_room(task_definition, ci) {
            match context.tasks_by_host {
                None => return Decision::NeedTasks,
                Some(_) if runs_task(ci).is_none() => {
                    excluded.no_room.push(name);
                    continue;
                }
                Some(_) => {} // a full host that already runs the daemon counts
            }
        }
        if ci.agent_connected != Some(true) {
            disconnected_kept += 1;
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
    let mut warnings = Vec::new();
    if !spreads_one_per_host(service) {
        warnings.push(
            "no distinctInstance constraint (or spread on instanceId): the count alone does not \
             put one task on each host"
                .to_string(),
        );
    }
    Decision::Desired {
        desired,
        eligible,
        tasks_per_host,
        excluded,
        constraints: expressions.iter().map(|(text, _)| text.clone()).collect(),
        disconnected_kept,
        misplaced,
        warnings,
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
pub fn member_of_expressions<'a>(
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

#[cfg(test)]
#[path = "decide_table.rs"]
mod table;
