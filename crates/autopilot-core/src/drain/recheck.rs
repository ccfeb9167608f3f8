//! The drainer's re-checks: the message it sends itself through the re-check queue
//! ([`RecheckMessage`]), and when a delivered re-check is a duplicate or stale.
//!
//! SQS delivers at least once and the lifecycle event may come twice, so a drain's progress is
//! kept on the host, in the container instance attribute
//! [`MARKER_ATTRIBUTE`](super::drainer::MARKER_ATTRIBUTE): `TOKEN/ATTEMPT` once re-check ATTEMPT
//! of lifecycle action TOKEN is queued, `TOKEN/done` once the action is completed. The marker is
//! written after the re-check is queued, best effort; a re-check it supersedes
//! ([`marker_supersedes`](super::drainer::marker_supersedes)) does nothing, not even a call:
//!
//! | marker | re-check of action `tok-1` | stale |
//! |---|---|---|
//! | `tok-1/done` | attempt 3 | yes: the drain completed |
//! | `tok-1/3` | attempt 2 | yes: a later re-check is queued |
//! | `tok-1/3` | attempt 3 | no: this is the current one |
//! | `tok-1/2` | attempt 3 | no: the marker write for attempt 3 failed; a failed best-effort write never ends a drain |
//! | `tok-2/9` | attempt 1 | no: another action's marker |
//! | `tok-10/9` | attempt 1 | no: a token that only starts with `tok-1` is another action |
//! | `tok-1/garbage`, `tok-1` | attempt 1 | no: unreadable |
//!
//! A chain of re-checks ends by completing: drained, the deadline, or the attempt cap
//! ([`attempt_cap`](super::decide::attempt_cap)) — the steps are in
//! [`super::decide`](mod@super::decide).

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

#[cfg(test)]
mod tests {
    use crate::drain::drainer::marker_supersedes;

    #[test]
    fn marker_supersedes_table() {
        for (marker, attempt, stale) in [
            ("tok-1/done", 3, true),
            ("tok-1/3", 2, true),
            ("tok-1/3", 3, false),
            ("tok-1/2", 3, false),  // the write for attempt 3 failed: not stale
            ("tok-2/9", 1, false),  // another action's marker
            ("tok-10/9", 1, false), // prefix of another token is no match
            ("tok-1/garbage", 1, false),
            ("tok-1", 1, false),
        ] {
            assert_eq!(
                marker_supersedes(marker, "tok-1", attempt),
                stale,
                "{marker} vs attempt {attempt}"
            );
        }
    }
}
