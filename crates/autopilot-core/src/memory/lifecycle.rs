//! Auto Scaling's lifecycle API in memory: an action is active until completed; every call recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use crate::ports::lifecycle::{
    AutoScalingError, HookTimeouts, LifecycleAction, LifecycleOutcome, LifecyclePort,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One recorded lifecycle call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleCall {
    /// `CompleteLifecycleAction` or `RecordLifecycleActionHeartbeat`.
    pub operation: &'static str,
    pub token: String,
    /// false when the action was no longer active.
    pub accepted: bool,
}

#[derive(Debug, Default)]
struct LifecycleState {
    completed: BTreeSet<String>,
    calls: Vec<LifecycleCall>,
    failure: Option<AutoScalingError>,
    /// (group, hook) → timeouts; absent = hook not found.
    hooks: BTreeMap<(String, String), HookTimeouts>,
}

/// Auto Scaling's lifecycle API in memory: an action is active until completed.
#[derive(Debug, Default)]
pub struct InMemoryLifecycle {
    state: Mutex<LifecycleState>,
}

impl InMemoryLifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn calls(&self) -> Vec<LifecycleCall> {
        lock(&self.state).calls.clone()
    }

    /// Accepted CompleteLifecycleAction calls.
    pub fn completions(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == "CompleteLifecycleAction" && c.accepted)
            .count()
    }

    pub fn count_calls(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    pub fn fail(&self, error: AutoScalingError) {
        lock(&self.state).failure = Some(error);
    }

    /// Declares a lifecycle hook and its timeouts (DescribeLifecycleHooks finds nothing otherwise).
    pub fn add_hook(&self, group: &str, hook: &str, timeouts: HookTimeouts) {
        lock(&self.state)
            .hooks
            .insert((group.to_string(), hook.to_string()), timeouts);
    }

    /// The action timed out or a person completed it.
    pub fn expire(&self, token: &str) {
        lock(&self.state).completed.insert(token.to_string());
    }

    fn call(
        &self,
        operation: &'static str,
        action: &LifecycleAction,
        complete: bool,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        let mut st = lock(&self.state);
        if let Some(e) = st.failure.clone() {
            return Err(e);
        }
        let token = action.lifecycle_action_token.clone();
        let accepted = !st.completed.contains(&token);
        if complete {
            st.completed.insert(token.clone());
        }
        st.calls.push(LifecycleCall {
            operation,
            token,
            accepted,
        });
        Ok(if accepted {
            LifecycleOutcome::Accepted
        } else {
            LifecycleOutcome::NoActiveAction
        })
    }
}

impl LifecyclePort for InMemoryLifecycle {
    async fn hook_timeouts(
        &self,
        auto_scaling_group_name: &str,
        lifecycle_hook_name: &str,
    ) -> Result<Option<HookTimeouts>, AutoScalingError> {
        let st = lock(&self.state);
        if let Some(e) = st.failure.clone() {
            return Err(e);
        }
        Ok(st
            .hooks
            .get(&(
                auto_scaling_group_name.to_string(),
                lifecycle_hook_name.to_string(),
            ))
            .copied())
    }

    async fn complete_continue(
        &self,
        action: &LifecycleAction,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        self.call("CompleteLifecycleAction", action, true)
    }

    async fn heartbeat(
        &self,
        action: &LifecycleAction,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        self.call("RecordLifecycleActionHeartbeat", action, false)
    }
}
