//! The re-check queue over `aws-sdk-sqs`: one SendMessage with DelaySeconds per re-check.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::Client;

use autopilot_core::drain::config::MAX_SQS_DELAY_SECONDS;
use autopilot_core::ports::{QueueError, RecheckQueue};

use crate::error::AwsError;

#[derive(Clone, Debug)]
pub struct AwsSqs {
    client: Client,
    queue_url: String,
}

impl AwsSqs {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        AwsSqs {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// [`QueueError`] has no throttling variant: throttling (after the SDK's retries) is an API error
/// whose message says "throttled".
fn queue_error<E, R>(operation: &'static str, err: &SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    QueueError::Api {
        operation,
        message: AwsError::classify(err).into_message_noting_throttling(),
    }
}

impl RecheckQueue for AwsSqs {
    async fn send_recheck(&self, body: &str, delay_seconds: u32) -> Result<String, QueueError> {
        let resp = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds.min(MAX_SQS_DELAY_SECONDS) as i32)
            .send()
            .await
            .map_err(|e| queue_error("SendMessage", &e))?;
        Ok(resp.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::{metadata, service_error};
    use aws_sdk_sqs::operation::send_message::SendMessageError;

    #[test]
    fn throttling_is_an_api_error_that_says_throttled() {
        let err = service_error(SendMessageError::generic(metadata(
            "RequestThrottled",
            "Request is throttled.",
        )));
        let QueueError::Api { operation, message } = queue_error("SendMessage", &err);
        assert_eq!(operation, "SendMessage");
        assert!(message.starts_with("throttled"), "{message}");
        let err = service_error(SendMessageError::generic(metadata(
            "InvalidParameterValue",
            "bad delay",
        )));
        let QueueError::Api { message, .. } = queue_error("SendMessage", &err);
        assert!(!message.starts_with("throttled"), "{message}");
    }
}
