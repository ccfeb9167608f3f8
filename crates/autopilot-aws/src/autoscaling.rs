//! The lifecycle port over `aws-sdk-autoscaling`.
//!
//! `ValidationError: No active Lifecycle Action found …` from CompleteLifecycleAction or
//! RecordLifecycleActionHeartbeat means the action was already completed (or timed out): it maps to
//! [`LifecycleOutcome::NoActiveAction`], not an error, so duplicates are no-ops.

use aws_sdk_autoscaling::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_autoscaling::Client;

use autopilot_core::drain::ports::{
    AutoScalingError, HookTimeouts, LifecycleAction, LifecycleOutcome, LifecyclePort,
};

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

fn outcome<T, E>(
    operation: &'static str,
    result: Result<T, SdkError<E>>,
) -> Result<LifecycleOutcome, AutoScalingError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(LifecycleOutcome::Accepted),
        Err(err) => {
            if is_no_active_action(err.code(), err.message()) {
                return Ok(LifecycleOutcome::NoActiveAction);
            }
            Err(api_error(operation, &err))
        }
    }
}

/// Throttling (after the SDK's retries) or any other API error, with the SDK's full context.
fn api_error<E>(operation: &'static str, err: &SdkError<E>) -> AutoScalingError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = DisplayErrorContext(err).to_string();
    match err.code() {
        Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => {
            AutoScalingError::Throttled { operation, message }
        }
        _ => AutoScalingError::Api { operation, message },
    }
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
            .map_err(|err| api_error(operation, &err))?;
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
