//! The scale group port over `aws-sdk-autoscaling`.
//!
//! - DescribeAutoScalingGroups with the one group name: desired/min/max and each instance's
//!   lifecycle state.
//! - SetDesiredCapacity with `HonorCooldown = false`.
//! - TerminateInstanceInAutoScalingGroup with `ShouldDecrementDesiredCapacity = true`: "Terminates
//!   the specified instance and optionally adjusts the desired group size ... If you do not
//!   specify the option to decrement the desired capacity, Amazon EC2 Auto Scaling launches
//!   instances to replace the ones that are terminated" (API reference,
//!   TerminateInstanceInAutoScalingGroup). "This call simply makes a termination request. The
//!   instance is not terminated immediately": it goes through the group's
//!   `autoscaling:EC2_INSTANCE_TERMINATING` lifecycle hooks ("When a scale-in event occurs, a
//!   lifecycle hook pauses the instance before it is terminated and sends you a notification
//!   using Amazon EventBridge", EC2 Auto Scaling User Guide, lifecycle hooks; their availability
//!   table lists instance termination), which is where instance-drainer drains the host. A `ValidationError` that says the instance is not found or already terminating
//!   means a previous request (ours, lost on the way back) already acted: [`Terminated::AlreadyGone`].

use aws_sdk_autoscaling::Client;

use autopilot_core::ports::scale_group::{
    AutoScalingError, GroupInstance, GroupState, ScaleGroup, Terminated,
};

use crate::autoscaling::{api_error, sdk_error};
use crate::error::AwsError;

#[derive(Clone, Debug)]
pub struct AwsScaleGroup {
    client: Client,
}

impl AwsScaleGroup {
    pub fn new(client: Client) -> Self {
        AwsScaleGroup { client }
    }
}

/// True for Auto Scaling's answer about an instance that is no longer (or not) in service in a
/// group: not found, or already terminating.
pub fn is_already_gone(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError")
        && message.is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("not found") || m.contains("terminat")
        })
}

fn count(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

impl ScaleGroup for AwsScaleGroup {
    async fn describe(&self, group: &str) -> Result<Option<GroupState>, AutoScalingError> {
        let operation = "DescribeAutoScalingGroups";
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .map_err(|e| sdk_error(operation, &e))?;
        Ok(out
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(group))
            .map(|g| GroupState {
                name: group.to_string(),
                desired: count(g.desired_capacity()),
                min: count(g.min_size()),
                max: count(g.max_size()),
                instances: g
                    .instances()
                    .iter()
                    .filter_map(|i| {
                        Some(GroupInstance {
                            instance_id: i.instance_id()?.to_string(),
                            lifecycle_state: i
                                .lifecycle_state()
                                .map(|s| s.as_str().to_string())
                                .unwrap_or_default(),
                        })
                    })
                    .collect(),
                suspended_processes: g
                    .suspended_processes()
                    .iter()
                    .filter_map(|p| p.process_name().map(str::to_string))
                    .collect(),
            }))
    }

    async fn set_desired_capacity(
        &self,
        group: &str,
        desired: u32,
    ) -> Result<(), AutoScalingError> {
        let operation = "SetDesiredCapacity";
        let desired = i32::try_from(desired).map_err(|_| AutoScalingError::Api {
            operation,
            message: format!("desired capacity {desired} is out of range"),
            retryable: false,
        })?;
        self.client
            .set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(desired)
            .honor_cooldown(false)
            .send()
            .await
            .map_err(|e| sdk_error(operation, &e))?;
        Ok(())
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<Terminated, AutoScalingError> {
        let operation = "TerminateInstanceInAutoScalingGroup";
        match self
            .client
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance_id)
            .should_decrement_desired_capacity(true)
            .send()
            .await
        {
            Ok(_) => Ok(Terminated::Requested),
            Err(e) => {
                let err = AwsError::classify(&e);
                if is_already_gone(err.code(), err.aws_message()) {
                    return Ok(Terminated::AlreadyGone);
                }
                Err(api_error(operation, err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autopilot_core::retry::Retryable;

    #[test]
    fn already_gone_is_an_outcome_and_contention_is_retryable() {
        assert!(is_already_gone(
            Some("ValidationError"),
            Some("Instance Id not found - No managed instance found for instance ID: i-1")
        ));
        assert!(is_already_gone(
            Some("ValidationError"),
            Some("The instance i-1 is already terminating")
        ));
        assert!(!is_already_gone(
            Some("ValidationError"),
            Some("1 validation error detected")
        ));
        let e = api_error(
            "SetDesiredCapacity",
            AwsError::Service {
                code: Some("ScalingActivityInProgress".into()),
                aws_message: None,
                message: "busy".into(),
            },
        );
        assert!(e.is_retryable());
        let e = api_error(
            "SetDesiredCapacity",
            AwsError::Service {
                code: Some("ValidationError".into()),
                aws_message: None,
                message: "outside of the range".into(),
            },
        );
        assert!(!e.is_retryable());
        assert!(api_error("X", AwsError::Other("timeout".into())).is_retryable());
    }
}
