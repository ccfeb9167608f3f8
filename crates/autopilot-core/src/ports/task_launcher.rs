//! The task launcher port: RunTask and the `startedBy` lookup the dispatcher reconciles with.
//! A port of its own (not on [`crate::ports::EcsWrite`]) so the other capabilities' fakes and
//! adapters need not know RunTask; `autopilot_aws::AwsEcs` and [`crate::memory::InMemoryEcs`]
//! implement it next to the ECS port.
//!
//! Exactly once: every RunTask carries `clientToken = JOBID/LAUNCH` (ECS: "If you retry a request
//! that completed successfully using the same client token and the same parameters, the retry
//! succeeds without performing any further actions", ECS API Reference, Ensuring idempotency) and
//! `startedBy = ecs-autopilot/JOBID/LAUNCH`. A retry is the **identical** request (the job keeps
//! its [`LaunchRequest`]: the same pin and strategy): ECS answers a token reused with other
//! parameters with `ConflictException`, naming the tasks the token started (`resourceIds`), which
//! the dispatcher adopts. Before a relaunch the dispatcher lists tasks by that `startedBy` (the
//! only filter: "When you specify startedBy as the filter, it must be the only filter that you
//! use", ListTasks API reference), so even a backend that ignores the token never starts a
//! second task.

use std::future::Future;

use crate::job::{LaunchRequest, RunTaskSpec};
use crate::ports::ecs::{
    Described, EcsError, EcsRead, ListPages, ListRequest, TaskFilter, DESCRIBE_BATCH,
    DESCRIBE_MISSING,
};

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
    /// ECS `stopCode` of a stopped task.
    pub stop_code: Option<String>,
    pub containers: Vec<ContainerExit>,
}

/// DescribeTasks by ARN: the tasks ECS has, and the ARNs it answered MISSING for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedTasks {
    pub tasks: Vec<LaunchedTask>,
    pub missing: Vec<String>,
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
    /// `ConflictException`: this token already started these tasks, with other parameters.
    Conflict {
        task_arns: Vec<String>,
    },
}

/// Whether an exception message is ECS's cap on PROVISIONING tasks. *(The exact wording is not
/// documented; ecs-notes: "past the cap RunTask throws".)* Matched on the word, case-insensitive:
/// a documented choice, so that such a refusal keeps the job QUEUED instead of failing it.
pub fn is_provisioning_cap(message: &str) -> bool {
    message.to_ascii_lowercase().contains("provisioning")
}

/// RunTask and DescribeTasks as the dispatcher reads them (one request each), then the lookups
/// written over them and the ECS port's List primitive (provided; not overridden).
pub trait TaskLauncher: EcsRead {
    // ---- Primitives: one ECS request each. ----

    /// RunTask, one task (`count` 1), with `clientToken` and `startedBy`; with `launch.pin`
    /// the constraint `memberOf(ec2InstanceId == ID)` is added so ECS uses the host the
    /// dispatcher chose (its reservation rule depends on it); with `launch.capacity_provider`
    /// the strategy is that one provider (the pinned host's) instead of the job's.
    fn run_task(
        &self,
        spec: &RunTaskSpec,
        client_token: &str,
        started_by: &str,
        launch: &LaunchRequest,
    ) -> impl Future<Output = Result<RunTaskOutcome, EcsError>> + Send;

    /// One DescribeTasks of at most [`DESCRIBE_BATCH`] ARNs, as [`LaunchedTask`]s (container
    /// exits and stop reasons included), with ECS's failure entries.
    fn describe_launched_batch(
        &self,
        cluster: &str,
        task_arns: &[String],
    ) -> impl Future<Output = Result<Described<LaunchedTask>, EcsError>> + Send;

    // ---- Lookups over the primitives. ----

    /// The tasks ListTasks lists with this `startedBy` (its only filter, all pages), described
    /// (DescribeTasks by [`DESCRIBE_BATCH`]; none when nothing is listed). A listed task ECS no
    /// longer describes is left out.
    fn tasks_started_by(
        &self,
        cluster: &str,
        started_by: &str,
    ) -> impl Future<Output = Result<Vec<LaunchedTask>, EcsError>> + Send {
        async move {
            let filter = TaskFilter::StartedBy(started_by);
            let arns = ListPages::new(self, ListRequest::Tasks { cluster, filter })
                .all()
                .await?;
            Ok(self.describe_launched(cluster, &arns).await?.tasks)
        }
    }

    /// DescribeTasks of these ARNs ([`DESCRIBE_BATCH`] per call), with the ARNs ECS answered
    /// MISSING for; other failure entries are left out of both.
    fn describe_launched(
        &self,
        cluster: &str,
        task_arns: &[String],
    ) -> impl Future<Output = Result<DescribedTasks, EcsError>> + Send {
        async move {
            let mut out = DescribedTasks::default();
            for batch in task_arns.chunks(DESCRIBE_BATCH) {
                let described = self.describe_launched_batch(cluster, batch).await?;
                out.tasks.extend(described.items);
                out.missing.extend(
                    described
                        .failures
                        .into_iter()
                        .filter(|(_, reason)| reason == DESCRIBE_MISSING)
                        .map(|(arn, _)| arn),
                );
            }
            Ok(out)
        }
    }
}
