//! The owned Auto Scaling group in memory, behaving like the group does for the calls the port
//! makes: SetDesiredCapacity launches (`InService` at once, ids `i-mem-N`) or terminates
//! instances to match, TerminateInstanceInAutoScalingGroup with decrement removes the named
//! instance `Terminating:Wait` (its hook holds it until [`InMemoryScaleGroup::finish_termination`])
//! and lowers desired capacity by one (an instance not in the group: `AlreadyGone`, as
//! Auto Scaling's `ValidationError`). Every call is recorded.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::ports::scale_group::{
    AutoScalingError, GroupInstance, GroupState, ScaleGroup, Terminated,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One recorded call: operation and its argument (`desired` or the instance id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleGroupCall {
    pub operation: &'static str,
    pub argument: String,
}

#[derive(Debug, Default)]
struct State {
    group: Option<GroupState>,
    launched: u32,
    calls: Vec<ScaleGroupCall>,
    failures: BTreeMap<&'static str, AutoScalingError>,
}

#[derive(Debug, Default)]
pub struct InMemoryScaleGroup {
    state: Mutex<State>,
}

impl InMemoryScaleGroup {
    /// A group `name` at desired 0 with MinSize 0 and MaxSize `max`, set up as docs/task-dispatcher-capacity.md asks
    /// of an owned group: `AZRebalance` suspended.
    pub fn new(name: &str, max: u32) -> Self {
        let g = InMemoryScaleGroup::default();
        lock(&g.state).group = Some(GroupState {
            name: name.to_string(),
            desired: 0,
            min: 0,
            max,
            instances: Vec::new(),
            suspended_processes: vec!["AZRebalance".to_string()],
        });
        g
    }

    /// Resumes every suspended process (a group not set up as docs/task-dispatcher-capacity.md asks).
    pub fn resume_processes(&self) {
        if let Some(g) = lock(&self.state).group.as_mut() {
            g.suspended_processes.clear();
        }
    }

    pub fn group(&self) -> Option<GroupState> {
        lock(&self.state).group.clone()
    }

    pub fn desired(&self) -> u32 {
        self.group().map(|g| g.desired).unwrap_or(0)
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.group()
            .map(|g| g.instances.into_iter().map(|i| i.instance_id).collect())
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<ScaleGroupCall> {
        lock(&self.state).calls.clone()
    }

    pub fn count_calls(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Sets an instance's lifecycle state (e.g. `Terminating:Wait`).
    pub fn set_lifecycle_state(&self, instance_id: &str, state: &str) {
        if let Some(g) = lock(&self.state).group.as_mut() {
            for i in g
                .instances
                .iter_mut()
                .filter(|i| i.instance_id == instance_id)
            {
                i.lifecycle_state = state.to_string();
            }
        }
    }

    /// The terminate hook completed: the instance leaves the group.
    pub fn finish_termination(&self, instance_id: &str) {
        if let Some(g) = lock(&self.state).group.as_mut() {
            g.instances.retain(|i| i.instance_id != instance_id);
        }
    }

    /// Makes `operation` fail with `error` (`None`: stop failing). The call is still recorded.
    pub fn fail(&self, operation: &'static str, error: Option<AutoScalingError>) {
        let mut s = lock(&self.state);
        match error {
            Some(e) => s.failures.insert(operation, e),
            None => s.failures.remove(operation),
        };
    }

    fn enter(&self, operation: &'static str, argument: String) -> Result<(), AutoScalingError> {
        let mut s = lock(&self.state);
        s.calls.push(ScaleGroupCall {
            operation,
            argument,
        });
        match s.failures.get(operation) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl ScaleGroup for InMemoryScaleGroup {
    async fn describe(&self, group: &str) -> Result<Option<GroupState>, AutoScalingError> {
        self.enter("DescribeAutoScalingGroups", group.to_string())?;
        Ok(self.group().filter(|g| g.name == group))
    }

    async fn set_desired_capacity(
        &self,
        group: &str,
        desired: u32,
    ) -> Result<(), AutoScalingError> {
        self.enter("SetDesiredCapacity", desired.to_string())?;
        let mut s = lock(&self.state);
        let mut launched = s.launched;
        let Some(g) = s.group.as_mut().filter(|g| g.name == group) else {
            return Err(AutoScalingError::Api {
                operation: "SetDesiredCapacity",
                message: format!("ValidationError: AutoScalingGroup name not found - {group}"),
                retryable: false,
            });
        };
        if desired > g.max || desired < g.min {
            return Err(AutoScalingError::Api {
                operation: "SetDesiredCapacity",
                message: format!(
                    "ValidationError: New SetDesiredCapacity value {desired} is outside of the \
                     range [{}, {}]",
                    g.min, g.max
                ),
                retryable: false,
            });
        }
        g.desired = desired;
        let mut live = g.instances.iter().filter(|i| i.is_live()).count() as u32;
        while live < desired {
            launched += 1;
            live += 1;
            g.instances.push(GroupInstance {
                instance_id: format!("i-mem-{launched}"),
                lifecycle_state: "InService".into(),
            });
        }
        // Scale-in by desired capacity: the group picks (here: the newest live ones).
        for i in g.instances.iter_mut().rev().filter(|i| i.is_live()) {
            if live <= desired {
                break;
            }
            i.lifecycle_state = "Terminating".into();
            live -= 1;
        }
        s.launched = launched;
        Ok(())
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<Terminated, AutoScalingError> {
        self.enter(
            "TerminateInstanceInAutoScalingGroup",
            instance_id.to_string(),
        )?;
        let mut s = lock(&self.state);
        let Some(g) = s.group.as_mut() else {
            return Ok(Terminated::AlreadyGone);
        };
        let Some(instance) = g
            .instances
            .iter_mut()
            .find(|i| i.instance_id == instance_id && i.in_service())
        else {
            return Ok(Terminated::AlreadyGone);
        };
        // The terminate hook holds it (instance-drainer drains it) until `finish_termination`.
        instance.lifecycle_state = "Terminating:Wait".into();
        g.desired = g.desired.saturating_sub(1);
        Ok(Terminated::Requested)
    }
}
