//! The re-check queue port: the drainer sends itself delayed messages through it.
//! Adapters: `autopilot_aws::AwsSqs`, [`crate::memory::InMemoryQueue`].

use std::future::Future;

use thiserror::Error;

use crate::retry::Retryable;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QueueError {
    #[error("SQS {operation} failed: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
}

impl Retryable for QueueError {
    /// The re-check is not sent: the drain must not be left without one, so the step is retried.
    fn is_retryable(&self) -> bool {
        true
    }
}

/// The re-check queue: the same function consumes it through an SQS event source mapping.
pub trait RecheckQueue: Send + Sync {
    /// SendMessage with `DelaySeconds = delay_seconds` (0–900); returns the message id.
    fn send_recheck(
        &self,
        body: &str,
        delay_seconds: u32,
    ) -> impl Future<Output = Result<String, QueueError>> + Send;
}
