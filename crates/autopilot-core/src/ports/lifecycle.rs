//! The Auto Scaling lifecycle port: a hook's timeouts, CompleteLifecycleAction and heartbeats.
//! Adapters: `autopilot_aws::AwsAutoScaling`, [`crate::memory::InMemoryLifecycle`].

use std::future::Future;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::retry::Retryable;

/// Identity of one Auto Scaling lifecycle action (what Complete and Heartbeat need).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleAction {
    pub auto_scaling_group_name: String,
    pub lifecycle_hook_name: String,
    pub lifecycle_action_token: String,
    pub ec2_instance_id: String,
}

/// What Auto Scaling said to CompleteLifecycleAction / RecordLifecycleActionHeartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleOutcome {
    /// The call was accepted.
    Accepted,
    /// `ValidationError: No active Lifecycle Action found …`: the action was already completed (by
    /// us, a duplicate, a person) or timed out. For us that is success: nothing is left to do.
    NoActiveAction,
}

/// A failed Auto Scaling call, of either Auto Scaling port (this one and
/// [`super::scale_group::ScaleGroup`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AutoScalingError {
    #[error("Auto Scaling throttled {operation} and the SDK's retries ran out: {message}")]
    Throttled {
        operation: &'static str,
        message: String,
    },
    #[error("Auto Scaling {operation} failed: {message}")]
    Api {
        operation: &'static str,
        message: String,
        /// A 5xx, a timeout, `ScalingActivityInProgress`, `ResourceContention`: may succeed later.
        retryable: bool,
    },
}

impl Retryable for AutoScalingError {
    fn is_retryable(&self) -> bool {
        match self {
            AutoScalingError::Throttled { .. } => true,
            AutoScalingError::Api { retryable, .. } => *retryable,
        }
    }
}

/// A lifecycle hook's timeouts, as DescribeLifecycleHooks reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookTimeouts {
    /// HeartbeatTimeout: the action is abandoned/continued when no heartbeat comes this long.
    pub heartbeat_seconds: u64,
    /// GlobalTimeout, when reported: the hard limit however many heartbeats are sent.
    pub global_seconds: Option<u64>,
}

/// Auto Scaling lifecycle operations.
pub trait LifecyclePort: Send + Sync {
    /// The hook's timeouts (DescribeLifecycleHooks); `None` when the hook is not found.
    fn hook_timeouts(
        &self,
        auto_scaling_group_name: &str,
        lifecycle_hook_name: &str,
    ) -> impl Future<Output = Result<Option<HookTimeouts>, AutoScalingError>> + Send;

    /// CompleteLifecycleAction with result CONTINUE.
    fn complete_continue(
        &self,
        action: &LifecycleAction,
    ) -> impl Future<Output = Result<LifecycleOutcome, AutoScalingError>> + Send;

    /// RecordLifecycleActionHeartbeat (restarts the hook's heartbeat timeout).
    fn heartbeat(
        &self,
        action: &LifecycleAction,
    ) -> impl Future<Output = Result<LifecycleOutcome, AutoScalingError>> + Send;
}
