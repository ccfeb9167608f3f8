//! The scale group port: the one Auto Scaling group task-dispatcher owns (`SCALE_GROUP`, managed
//! scaling off). Three calls: DescribeAutoScalingGroups, SetDesiredCapacity (raise only) and
//! TerminateInstanceInAutoScalingGroup with `ShouldDecrementDesiredCapacity = true` (remove one
//! named idle host). The dispatcher never lowers desired capacity itself: the group chooses which
//! instance a lower desired capacity terminates, and that could be a busy host.
//!
//! Adapters: `autopilot_aws::AwsScaleGroup` and [`crate::memory::InMemoryScaleGroup`].

use std::collections::BTreeSet;
use std::future::Future;

use serde::Serialize;

/// One instance of the group as DescribeAutoScalingGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupInstance {
    pub instance_id: String,
    /// `Pending`, `Pending:Wait`, `InService`, `Terminating`, `Terminating:Wait`, ...
    pub lifecycle_state: String,
}

impl GroupInstance {
    /// On its way in or in service: a host the group counts toward desired capacity and that is
    /// not leaving.
    pub fn is_live(&self) -> bool {
        self.lifecycle_state == "InService" || self.lifecycle_state.starts_with("Pending")
    }

    /// In service: the only state in which the dispatcher terminates it (a Terminating instance
    /// was already asked to go; asking again is the retry that must not act twice).
    pub fn in_service(&self) -> bool {
        self.lifecycle_state == "InService"
    }
}

/// The group's capacity settings and instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupState {
    pub name: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub instances: Vec<GroupInstance>,
    /// `SuspendedProcesses` (process names: `AZRebalance`, `Launch`, ...).
    pub suspended_processes: Vec<String>,
}

impl GroupState {
    /// Whether Auto Scaling's Availability Zone rebalancing is suspended: only then may the
    /// dispatcher terminate an instance it chose ("rebalancing might terminate instances in
    /// other zones", TerminateInstanceInAutoScalingGroup API reference), possibly a busy host.
    pub fn az_rebalance_suspended(&self) -> bool {
        self.suspended_processes.iter().any(|p| p == "AZRebalance")
    }

    /// The lifecycle state of `instance_id`, when it is in the group.
    pub fn lifecycle_state(&self, instance_id: &str) -> Option<&str> {
        self.instances
            .iter()
            .find(|i| i.instance_id == instance_id)
            .map(|i| i.lifecycle_state.as_str())
    }

    /// The ids of the group's instances that pass `keep` (e.g. [`GroupInstance::is_live`]).
    pub fn instance_ids(&self, keep: impl Fn(&GroupInstance) -> bool) -> BTreeSet<&str> {
        let kept = self.instances.iter().filter(|i| keep(i));
        kept.map(|i| i.instance_id.as_str()).collect()
    }
}

/// What TerminateInstanceInAutoScalingGroup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminated {
    /// The group accepted the request (its terminate lifecycle hooks run: instance-drainer
    /// drains the host before it goes).
    Requested,
    /// The instance is no longer in a group, or already terminating (`ValidationError`): nothing
    /// is left to do.
    AlreadyGone,
}

pub use super::lifecycle::AutoScalingError;

/// The owned group's Auto Scaling operations.
pub trait ScaleGroup: Send + Sync {
    /// DescribeAutoScalingGroups for one group; `None` when it does not exist.
    fn describe(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Option<GroupState>, AutoScalingError>> + Send;

    /// SetDesiredCapacity (HonorCooldown false: the dispatcher's demand is not a policy's alarm).
    fn set_desired_capacity(
        &self,
        group: &str,
        desired: u32,
    ) -> impl Future<Output = Result<(), AutoScalingError>> + Send;

    /// TerminateInstanceInAutoScalingGroup with `ShouldDecrementDesiredCapacity = true`.
    fn terminate_instance(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<Terminated, AutoScalingError>> + Send;
}

/// No group configured (`SCALE_GROUP` unset): never called, since the dispatcher checks its
/// config first; answers "no such group" if it were.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScaleGroup;

impl ScaleGroup for NoScaleGroup {
    async fn describe(&self, _group: &str) -> Result<Option<GroupState>, AutoScalingError> {
        Ok(None)
    }

    async fn set_desired_capacity(
        &self,
        _group: &str,
        _desired: u32,
    ) -> Result<(), AutoScalingError> {
        Err(AutoScalingError::Api {
            operation: "SetDesiredCapacity",
            message: "no SCALE_GROUP configured".into(),
            retryable: false,
        })
    }

    async fn terminate_instance(&self, _instance_id: &str) -> Result<Terminated, AutoScalingError> {
        Err(AutoScalingError::Api {
            operation: "TerminateInstanceInAutoScalingGroup",
            message: "no SCALE_GROUP configured".into(),
            retryable: false,
        })
    }
}
