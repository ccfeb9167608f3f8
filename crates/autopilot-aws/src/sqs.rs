//! The re-check queue over `aws-sdk-sqs`: one SendMessage with DelaySeconds per re-check.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;

use autopilot_core::drain::config::MAX_SQS_DELAY_SECONDS;
use autopilot_core::drain::ports::{QueueError, RecheckQueue};

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
            .map_err(|e| QueueError::Api {
                operation: "SendMessage",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(resp.message_id().unwrap_or_default().to_string())
    }
}
