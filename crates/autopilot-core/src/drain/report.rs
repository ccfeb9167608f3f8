//! What the drainer did: one record per host per invocation (a log line and the answer).

use serde::Serialize;

use super::decide::HostTasks;
use crate::ports::lifecycle::LifecycleAction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    LifecycleAction,
    Recheck,
    SpotInterruption,
    /// `ECS Container Instance State Change` of a host with a spot resume marker.
    InstanceEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// CompleteLifecycleAction(CONTINUE) accepted (see `reason`).
    Completed,
    /// Auto Scaling says the action is no longer active: someone completed it (a duplicate, a
    /// person) or it timed out. Nothing left to do.
    AlreadyCompleted,
    /// Tasks remain: DRAINING is set and a delayed re-check is queued.
    RecheckScheduled,
    /// A duplicate event or re-check (the marker shows the drain moved on): nothing done.
    Duplicate,
    /// Spot warning: the host is DRAINING now.
    Draining,
    /// Spot warning for an instance that is no container instance of the searched clusters.
    NotEcsHost,
    /// A lifecycle action of a hook outside `LIFECYCLE_HOOK_NAMES`: not ours, no call made.
    NotOurHook,
    /// A host back from a spot stop/hibernate was set ACTIVE again.
    Reactivated,
    /// A host with a spot resume marker stopped: the marker records it.
    MarkedStopped,
    /// Nothing to do for this event (see `reason`).
    Skipped,
}

/// One JSON log line and the invocation's answer, per host per invocation.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrainRecord {
    pub trigger: Trigger,
    pub ec2_instance_id: String,
    pub cluster: Option<String>,
    pub container_instance: Option<String>,
    pub auto_scaling_group: Option<String>,
    pub lifecycle_hook: Option<String>,
    pub attempt: Option<u32>,
    pub elapsed_seconds: Option<u64>,
    /// UpdateContainerInstancesState(DRAINING) was called by this invocation.
    pub set_draining: bool,
    pub outcome: Outcome,
    /// `drained`, `deadline`, `not_ecs_host` or `instance_gone` for completions.
    pub reason: Option<String>,
    /// Live tasks seen on the host (for `deadline`: what was still running).
    pub tasks: HostTasks,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopped_tasks: Vec<String>,
    pub recheck_delay_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl DrainRecord {
    pub(crate) fn new(trigger: Trigger, ec2_instance_id: &str) -> Self {
        DrainRecord {
            trigger,
            ec2_instance_id: ec2_instance_id.to_string(),
            cluster: None,
            container_instance: None,
            auto_scaling_group: None,
            lifecycle_hook: None,
            attempt: None,
            elapsed_seconds: None,
            set_draining: false,
            outcome: Outcome::Duplicate,
            reason: None,
            tasks: HostTasks::default(),
            stopped_tasks: Vec::new(),
            recheck_delay_seconds: None,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn for_action(trigger: Trigger, action: &LifecycleAction) -> Self {
        let mut r = DrainRecord::new(trigger, &action.ec2_instance_id);
        r.auto_scaling_group = Some(action.auto_scaling_group_name.clone());
        r.lifecycle_hook = Some(action.lifecycle_hook_name.clone());
        r
    }
}
