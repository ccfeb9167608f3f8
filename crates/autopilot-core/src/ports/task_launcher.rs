//! The task launcher port: RunTask and the `startedBy` lookup the dispatcher reconciles with.
//! A port of its own (not on [`crate::ports::EcsWrite`]) so the other capabilities' fakes and
//! adapters need not know RunTask; `autopilot_aws::AwsEcs` and [`crate::memory::InMemoryEcs`]
//! implement it next to the ECS port.
//!
//! Exactly once: every RunTask carries `clientToken = JOBID/LAUNCH` (ECS: "If you retry a request
//! that completed successfully using the same client token and the same parameters, the retry
//! succeeds without performing any further actions", ECS API Reference, Ensuring idempotency) and
//! `startedBy = ecs-autopilot/JOBID/LAUNCH`; before a relaunch the dispatcher lists tasks by that
//! `startedBy`, so even a backend that ignores the token (moto) never starts a second task.

use std::future::Future;

use crate::job::RunTaskSpec;
use crate::ports::ecs::EcsError;

/// One container's end, from DescribeTasks or a task event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerExit {
    pub name: String,
    pub exit_code: Option<i32>,
    /// `None` when the source does not say (task events do not carry it): counted as essential.
    pub essential: Option<bool>,
    pub reason: Option<String>,
}

/// A task the dispatcher started, as ECS describes it now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaunchedTask {
    pub task_arn: String,
    pub container_instance_arn: Option<String>,
    pub last_status: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerExit>,
}

/// RunTask's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTaskOutcome {
    Started(LaunchedTask),
    /// Not placed now: `failures[]` (`RESOURCE:MEMORY`, `AGENT`, ...) or the exception ECS
    /// throws past its per-cluster cap of PROVISIONING tasks. The job stays QUEUED in its place.
    NotPlaced {
        reason: String,
    },
}

/// Whether an exception message is ECS's cap on PROVISIONING tasks. *(The exact wording is not
/// documented; ecs-notes: "past the cap RunTask throws".)* Matched on the word, case-insensitive:
/// a documented choice, so that such a refusal keeps the job QUEUED instead of failing it.
pub fn is_provisioning_cap(message: &str) -> bool {
    message.to_ascii_lowercase().contains("provisioning")
}

pub trait TaskLauncher: Send + Sync {
    /// RunTask, one task (`count` 1), with `clientToken` and `startedBy`; when `pin_instance` is
    /// set, the constraint `memberOf(ec2InstanceId == ID)` is added so ECS uses the host the
    /// dispatcher chose (its reservation rule depends on it).
    fn run_task(
        &self,
        spec: &RunTaskSpec,
        client_token: &str,
        started_by: &str,
        pin_instance: Option<&str>,
    ) -> impl Future<Output = Result<RunTaskOutcome, EcsError>> + Send;

    /// Every task of the cluster with this `startedBy`, running or stopped (ListTasks with
    /// `startedBy`, desired status RUNNING then STOPPED, all pages; DescribeTasks).
    fn tasks_started_by(
        &self,
        cluster: &str,
        started_by: &str,
    ) -> impl Future<Output = Result<Vec<LaunchedTask>, EcsError>> + Send;
}
