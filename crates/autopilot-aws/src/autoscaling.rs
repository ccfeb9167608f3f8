//! The lifecycle port over `aws-sdk-autoscaling`, and the one mapping of Auto Scaling's errors
//! (this port's and [`crate::scale_group`]'s) to [`AutoScalingError`].
//!
//! `ValidationError: No active Lifecycle Action found …` from CompleteLifecycleAction or
//! RecordLifecycleActionHeartbeat means the action was already completed (or timed out): it maps to
//! [`LifecycleOutcome::NoActiveAction`], not an error, so duplicates are no-ops.

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_autoscaling::Client;

use autopilot_core::ports::{
    AutoScalingError, HookTimeouts, LifecycleAction, LifecycleOutcome, LifecyclePort,
};

use crate::error::AwsError;

#[derive(Clone, Debug)]
pub struct AwsAutoScaling {
    client: Client,
}

impl AwsAutoScaling {
    pub fn new(client: Client) -> Self {
        AwsAutoScaling { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// True for Auto Scaling's answer about an action that is no longer active.
pub fn is_no_active_action(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError")
        && message.is_some_and(|m| {
            m.to_ascii_lowercase()
                .contains("no active lifecycle action found")
        })
}

fn outcome<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<LifecycleOutcome, AutoScalingError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(LifecycleOutcome::Accepted),
        Err(err) => {
            let err = AwsError::classify(&err);
            if is_no_active_action(err.code(), err.aws_message()) {
                return Ok(LifecycleOutcome::NoActiveAction);
            }
            Err(api_error(operation, err))
        }
    }
}

/// Service codes a retry can fix (besides throttling and no answer at all).
const RETRYABLE_CODES: &[&str] = &[
    "ScalingActivityInProgress",
    "ResourceContention",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Throttling (after the SDK's retries) or any other API error, with the SDK's full context; no
/// answer at all (a timeout, a dropped connection) is retryable.
pub(crate) fn api_error(operation: &'static str, err: AwsError) -> AutoScalingError {
    match err {
        AwsError::Throttled { message, .. } => AutoScalingError::Throttled { operation, message },
        AwsError::Other(message) => AutoScalingError::Api {
            operation,
            message,
            retryable: true,
        },
        AwsError::Service { code, message, .. } => AutoScalingError::Api {
            operation,
            retryable: code
                .as_deref()
                .is_some_and(|c| RETRYABLE_CODES.contains(&c)),
            message,
        },
    }
}

pub(crate) fn sdk_error<E, R>(operation: &'static str, err: &SdkError<E, R>) -> AutoScalingError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    api_error(operation, AwsError::classify(err))
}

impl LifecyclePort for AwsAutoScaling {
    async fn hook_timeouts(
        &self,
        auto_scaling_group_name: &str,
        lifecycle_hook_name: &str,
    ) -> Result<Option<HookTimeouts>, AutoScalingError> {
        let operation = "DescribeLifecycleHooks";
        let out = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(auto_scaling_group_name)
            .lifecycle_hook_names(lifecycle_hook_name)
            .send()
            .await
            .map_err(|err| sdk_error(operation, &err))?;
        Ok(out
            .lifecycle_hooks()
            .iter()
            .find(|h| h.lifecycle_hook_name() == Some(lifecycle_hook_name))
            .and_then(|h| {
                let heartbeat = u64::try_from(h.heartbeat_timeout()?).ok()?;
                Some(HookTimeouts {
                    heartbeat_seconds: heartbeat,
                    global_seconds: h.global_timeout().and_then(|g| u64::try_from(g).ok()),
                })
            }))
    }

    async fn complete_continue(
        &self,
        action: &LifecycleAction,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        let result = self
            .client
            .complete_lifecycle_action()
            .auto_scaling_group_name(&action.auto_scaling_group_name)
            .lifecycle_hook_name(&action.lifecycle_hook_name)
            .lifecycle_action_token(&action.lifecycle_action_token)
            .instance_id(&action.ec2_instance_id)
            .lifecycle_action_result("CONTINUE")
            .send()
            .await;
        outcome("CompleteLifecycleAction", result)
    }

    async fn heartbeat(
        &self,
        action: &LifecycleAction,
    ) -> Result<LifecycleOutcome, AutoScalingError> {
        let result = self
            .client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(&action.auto_scaling_group_name)
            .lifecycle_hook_name(&action.lifecycle_hook_name)
            .lifecycle_action_token(&action.lifecycle_action_token)
            .instance_id(&action.ec2_instance_id)
            .send()
            .await;
        outcome("RecordLifecycleActionHeartbeat", result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::{metadata, service_error};
    use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionError;

    fn complete(code: &str, message: &str) -> Result<LifecycleOutcome, AutoScalingError> {
        let err = CompleteLifecycleActionError::generic(metadata(code, message));
        outcome::<(), _, _>("CompleteLifecycleAction", Err(service_error(err)))
    }

    #[test]
    fn no_active_action_is_an_outcome_not_an_error() {
        assert_eq!(
            complete(
                "ValidationError",
                "No active Lifecycle Action found with instance ID i-1"
            ),
            Ok(LifecycleOutcome::NoActiveAction)
        );
        assert!(matches!(
            complete("ValidationError", "1 validation error detected"),
            Err(AutoScalingError::Api {
                operation: "CompleteLifecycleAction",
                ..
            })
        ));
    }

    #[test]
    fn throttling_is_throttled() {
        assert!(matches!(
            complete("Throttling", "Rate exceeded"),
            Err(AutoScalingError::Throttled {
                operation: "CompleteLifecycleAction",
                message,
            }) if message.contains("Rate exceeded")
        ));
    }
}
