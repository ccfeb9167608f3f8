//! The task launcher in memory, on [`InMemoryEcs`] (RunTask places on the same hosts the ECS
//! fake lists, and takes their room). Like ECS it honours `clientToken`: a repeated token with
//! the same parameters returns the first answer, with other parameters a `Conflict` naming the
//! first answer's task; [`InMemoryEcs::ignore_client_token`] makes it behave like moto, which
//! does not. Faults: [`InMemoryEcs::refuse_placement`] (answers `failures[]`),
//! [`InMemoryEcs::lose_run_task_responses`] (RunTask acts, then the answer is lost).

use std::collections::BTreeMap;

use crate::job::{LaunchRequest, RunTaskSpec};
use crate::memory::ecs::cluster;
use crate::memory::InMemoryEcs;
use crate::model::{InstanceStatus, Task};
use crate::ports::ecs::{Described, EcsError, DESCRIBE_BATCH, DESCRIBE_MISSING};
use crate::ports::task_launcher::{ContainerExit, LaunchedTask, RunTaskOutcome, TaskLauncher};

/// One RunTask request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTaskCall {
    pub cluster: String,
    pub task_definition: String,
    pub client_token: String,
    pub started_by: String,
    pub pin_instance: Option<String>,
    pub capacity_provider: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct LauncherState {
    by_token: BTreeMap<String, (RunTaskCall, RunTaskOutcome)>,
    tasks: BTreeMap<String, (String, LaunchedTask, i64, i64)>,
    runs: Vec<RunTaskCall>,
    not_placed: Option<String>,
    lose_responses: u32,
    ignore_token: bool,
    next: u64,
}

impl InMemoryEcs {
    /// Every RunTask received, in order.
    pub fn run_task_calls(&self) -> Vec<RunTaskCall> {
        self.state().launcher.runs.clone()
    }

    /// Tasks started by RunTask (any state), in start order.
    pub fn launched_tasks(&self) -> Vec<LaunchedTask> {
        let st = self.state();
        let mut v: Vec<&(String, LaunchedTask, i64, i64)> = st.launcher.tasks.values().collect();
        v.sort_by(|a, b| a.1.task_arn.cmp(&b.1.task_arn));
        v.into_iter().map(|t| t.1.clone()).collect()
    }

    /// While `Some`, RunTask answers with a `failures[]` entry with this reason.
    pub fn refuse_placement(&self, reason: Option<&str>) {
        self.state().launcher.not_placed = reason.map(str::to_string);
    }

    /// The next `n` RunTask calls act, then their answer is lost (an `Api` error).
    pub fn lose_run_task_responses(&self, n: u32) {
        self.state().launcher.lose_responses = n;
    }

    /// Behave like moto: every RunTask starts a task, whatever its `clientToken`.
    pub fn ignore_client_token(&self) {
        self.state().launcher.ignore_token = true;
    }

    /// The task stops with these container exit codes and reason; its room returns to the host.
    pub fn stop_launched(&self, task_arn: &str, exits: &[(&str, i32)], reason: &str) {
        let exits: Vec<(&str, Option<i32>)> = exits.iter().map(|(n, c)| (*n, Some(*c))).collect();
        self.stop_launched_with(task_arn, &exits, None, reason);
    }

    /// ECS no longer has the task (stopped tasks are listed "for at least one hour"):
    /// DescribeTasks answers MISSING for it and ListTasks does not list it.
    pub fn forget_launched(&self, task_arn: &str) {
        let mut st = self.state();
        st.launcher.tasks.remove(task_arn);
        for c in st.clusters.values_mut() {
            c.tasks.retain(|t| t.arn != task_arn);
        }
    }

    /// [`Self::stop_launched`] with exit codes that may be absent and a `stopCode`.
    pub fn stop_launched_with(
        &self,
        task_arn: &str,
        exits: &[(&str, Option<i32>)],
        stop_code: Option<&str>,
        reason: &str,
    ) {
        let mut st = self.state();
        let Some((cluster_arn, task, cpu, memory)) = st.launcher.tasks.get_mut(task_arn) else {
            return;
        };
        task.last_status = Some("STOPPED".into());
        task.stopped_reason = Some(reason.to_string());
        task.stop_code = stop_code.map(str::to_string);
        // As in ECS: no `essential` flag on a described container.
        task.containers = exits
            .iter()
            .map(|(name, code)| ContainerExit {
                name: (*name).to_string(),
                exit_code: *code,
                essential: None,
                reason: None,
            })
            .collect();
        let (cluster_arn, host, cpu, memory) = (
            cluster_arn.clone(),
            task.container_instance_arn.clone(),
            *cpu,
            *memory,
        );
        if let Ok(c) = cluster(&mut st, &cluster_arn) {
            if let Some(ci) = c
                .instances
                .iter_mut()
                .find(|ci| Some(&ci.arn) == host.as_ref())
            {
                ci.remaining.cpu = Some(ci.remaining.cpu.unwrap_or(0) + cpu);
                ci.remaining.memory = Some(ci.remaining.memory.unwrap_or(0) + memory);
                ci.running_tasks_count = Some((ci.running_tasks_count.unwrap_or(1) - 1).max(0));
            }
            for t in c.tasks.iter_mut().filter(|t| t.arn == task_arn) {
                t.last_status = Some("STOPPED".into());
                t.desired_status = Some("STOPPED".into());
            }
        }
    }
}

/// What RunTask answers for a task it just started: no exit or stop yet.
fn just_launched(task_arn: &str, host: Option<String>, status: &str) -> LaunchedTask {
    LaunchedTask {
        task_arn: task_arn.to_string(),
        container_instance_arn: host,
        last_status: Some(status.to_string()),
        stopped_reason: None,
        stop_code: None,
        containers: Vec::new(),
    }
}

impl TaskLauncher for InMemoryEcs {
    async fn run_task(
        &self,
        spec: &RunTaskSpec,
        client_token: &str,
        started_by: &str,
        launch: &LaunchRequest,
    ) -> Result<RunTaskOutcome, EcsError> {
        let pin_instance = launch.pin.as_deref();
        let mut st = self.enter("RunTask")?;
        let call = RunTaskCall {
            cluster: spec.cluster.clone(),
            task_definition: spec.task_definition.clone(),
            client_token: client_token.to_string(),
            started_by: started_by.to_string(),
            pin_instance: pin_instance.map(str::to_string),
            capacity_provider: launch.capacity_provider.clone(),
        };
        st.launcher.runs.push(call.clone());
        let lose = st.launcher.lose_responses > 0;
        if lose {
            st.launcher.lose_responses -= 1;
        }
        let lost = || EcsError::Api {
            operation: "RunTask",
            message: "the response was lost (test fault)".into(),
        };
        if !st.launcher.ignore_token {
            if let Some((first_call, first)) = st.launcher.by_token.get(client_token).cloned() {
                let answer = if first_call == call {
                    first
                } else {
                    // ECS: the same token with other parameters is a ConflictException naming
                    // the tasks the token started.
                    RunTaskOutcome::Conflict {
                        task_arns: match first {
                            RunTaskOutcome::Started(t) => vec![t.task_arn],
                            _ => Vec::new(),
                        },
                    }
                };
                return if lose { Err(lost()) } else { Ok(answer) };
            }
        }
        let td = st
            .task_definitions
            .iter()
            .find(|(arn, _)| {
                *arn == &spec.task_definition
                    || arn.rsplit('/').next().is_some_and(|fam_rev| {
                        fam_rev == spec.task_definition
                            || fam_rev.split(':').next() == Some(spec.task_definition.as_str())
                    })
            })
            .map(|(_, td)| td.clone())
            .ok_or_else(|| EcsError::Refused {
                operation: "RunTask",
                code: "ClientException".into(),
                message: format!("Unable to find task definition '{}'", spec.task_definition),
            })?;
        let (cpu, memory) = (td.cpu.unwrap_or(0), td.memory.unwrap_or(0));
        let outcome = if let Some(reason) = st.launcher.not_placed.clone() {
            RunTaskOutcome::NotPlaced { reason }
        } else {
            st.launcher.next += 1;
            let n = st.launcher.next;
            let c = cluster(&mut st, &spec.cluster)?;
            let host = c.instances.iter_mut().find(|ci| {
                ci.status == InstanceStatus::Active
                    && pin_instance.is_none_or(|p| ci.ec2_instance_id.as_deref() == Some(p))
                    && ci.remaining.cpu.unwrap_or(0) >= cpu
                    && ci.remaining.memory.unwrap_or(0) >= memory
            });
            match host {
                // With a capacity provider strategy (managed scaling), ECS keeps an
                // unplaceable task PROVISIONING instead of failing it.
                None if spec.capacity_provider_strategy.is_some() => {
                    let task_arn = format!("arn:aws:ecs:us-east-1:123456789012:task/mem/{n:08}");
                    let mut task = Task::running(
                        task_arn.clone(),
                        spec.group.as_deref().or(Some("family:job")),
                        Some(started_by),
                    );
                    task.last_status = Some("PROVISIONING".into());
                    c.tasks.push(task);
                    let launched = just_launched(&task_arn, None, "PROVISIONING");
                    let cluster_arn = spec.cluster.clone();
                    st.launcher
                        .tasks
                        .insert(task_arn, (cluster_arn, launched.clone(), 0, 0));
                    RunTaskOutcome::Started(launched)
                }
                None => RunTaskOutcome::NotPlaced {
                    reason: "RESOURCE:MEMORY".into(),
                },
                Some(ci) => {
                    ci.remaining.cpu = Some(ci.remaining.cpu.unwrap_or(0) - cpu);
                    ci.remaining.memory = Some(ci.remaining.memory.unwrap_or(0) - memory);
                    ci.running_tasks_count = Some(ci.running_tasks_count.unwrap_or(0) + 1);
                    let host_arn = ci.arn.clone();
                    let task_arn = format!("arn:aws:ecs:us-east-1:123456789012:task/mem/{n:08}");
                    let mut task = Task::running(
                        task_arn.clone(),
                        spec.group.as_deref().or(Some("family:job")),
                        Some(started_by),
                    );
                    task.container_instance_arn = Some(host_arn.clone());
                    task.cpu = Some(cpu);
                    task.memory = Some(memory);
                    c.tasks.push(task);
                    let launched = just_launched(&task_arn, Some(host_arn), "PENDING");
                    let cluster_arn = spec.cluster.clone();
                    st.launcher
                        .tasks
                        .insert(task_arn, (cluster_arn, launched.clone(), cpu, memory));
                    RunTaskOutcome::Started(launched)
                }
            }
        };
        st.launcher
            .by_token
            .insert(client_token.to_string(), (call, outcome.clone()));
        if lose {
            return Err(lost());
        }
        Ok(outcome)
    }

    async fn describe_launched_batch(
        &self,
        cluster_id: &str,
        task_arns: &[String],
    ) -> Result<Described<LaunchedTask>, EcsError> {
        let mut st = self.enter("DescribeTasks")?;
        if task_arns.len() > DESCRIBE_BATCH {
            return Err(EcsError::Api {
                operation: "DescribeTasks",
                message: format!(
                    "{} ARNs in one call (at most {DESCRIBE_BATCH})",
                    task_arns.len()
                ),
            });
        }
        cluster(&mut st, cluster_id)?;
        let mut out = Described::default();
        for arn in task_arns {
            match st.launcher.tasks.get(arn) {
                Some((_, t, _, _)) => out.items.push(t.clone()),
                None => out.failures.push((arn.clone(), DESCRIBE_MISSING.into())),
            }
        }
        Ok(out)
    }
}
