//! The re-check queue in memory: what was sent, with its delay; failures injectable.

use std::sync::{Mutex, MutexGuard};

use crate::ports::queue::{QueueError, RecheckQueue};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The re-check queue in memory: keeps (body, delay) in order.
#[derive(Debug, Default)]
pub struct InMemoryQueue {
    sent: Mutex<Vec<(String, u32)>>,
    failure: Mutex<Option<QueueError>>,
}

impl InMemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<(String, u32)> {
        lock(&self.sent).clone()
    }

    /// Takes the queued messages (as the event source mapping would deliver them).
    pub fn drain(&self) -> Vec<(String, u32)> {
        std::mem::take(&mut *lock(&self.sent))
    }

    pub fn fail(&self, error: Option<QueueError>) {
        *lock(&self.failure) = error;
    }
}

impl RecheckQueue for InMemoryQueue {
    async fn send_recheck(&self, body: &str, delay_seconds: u32) -> Result<String, QueueError> {
        if let Some(e) = lock(&self.failure).clone() {
            return Err(e);
        }
        let mut sent = lock(&self.sent);
        sent.push((body.to_string(), delay_seconds));
        Ok(format!("msg-{}", sent.len()))
    }
}
