//! The drainer's re-check message: the body it sends itself through the re-check queue.

use serde::{Deserialize, Serialize};

use super::decide::DrainLimits;
use crate::ports::lifecycle::LifecycleAction;

/// `kind` of a re-check message body.
pub const RECHECK_KIND: &str = "ecs-autopilot.instance-drainer.recheck";

/// The body of a re-check message. It carries everything a re-check needs, so a re-check never
/// searches for the host again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecheckMessage {
    /// Always [`RECHECK_KIND`]: anything else on the queue is rejected, not guessed at.
    pub kind: String,
    pub cluster: String,
    pub container_instance_arn: String,
    pub lifecycle: LifecycleAction,
    /// When the drain started (the lifecycle action's event time), Unix seconds: the deadline
    /// is derived from it, so it survives any number of hops.
    pub started_at: i64,
    /// 1 for the first re-check, then 2, 3, …
    pub attempt: u32,
    /// The drain's deadline and re-check interval, fitted to the hook's timeouts when the
    /// lifecycle event arrived ([`super::decide::fit_to_hook`]). Absent in messages of earlier
    /// versions: the function's configuration applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<DrainLimits>,
}

impl RecheckMessage {
    pub fn parse(body: &str) -> Result<Self, String> {
        let m: RecheckMessage = serde_json::from_str(body)
            .map_err(|e| format!("re-check message body is not a valid re-check: {e}"))?;
        if m.kind != RECHECK_KIND {
            return Err(format!(
                "re-check message kind is {:?}, expected {RECHECK_KIND:?}",
                m.kind
            ));
        }
        Ok(m)
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
