//! What instance-drainer receives: EventBridge events from Auto Scaling and EC2, and SQS batches of
//! its own re-check messages. Same rules as [`crate::events`]: unknown fields are ignored, only
//! identity fields are required, unknown detail types are skipped, not errors.

use serde::{Deserialize, Serialize};

use super::decide::DrainLimits;
use super::ports::LifecycleAction;
use crate::events::{Envelope, EventError};

pub const LIFECYCLE_TERMINATE: &str = "EC2 Instance-terminate Lifecycle Action";
pub const SPOT_INTERRUPTION_WARNING: &str = "EC2 Spot Instance Interruption Warning";
/// `kind` of a re-check message body.
pub const RECHECK_KIND: &str = "ecs-autopilot.instance-drainer.recheck";

/// `detail` of `EC2 Instance-terminate Lifecycle Action` (source `aws.autoscaling`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleActionDetail {
    #[serde(rename = "LifecycleActionToken")]
    pub lifecycle_action_token: String,
    #[serde(rename = "AutoScalingGroupName")]
    pub auto_scaling_group_name: String,
    #[serde(rename = "LifecycleHookName")]
    pub lifecycle_hook_name: String,
    #[serde(rename = "EC2InstanceId")]
    pub ec2_instance_id: String,
    #[serde(rename = "LifecycleTransition", default)]
    pub lifecycle_transition: Option<String>,
    /// The hook's NotificationMetadata, verbatim (a string). We document `{"cluster": "NAME"}`.
    #[serde(rename = "NotificationMetadata", default)]
    pub notification_metadata: Option<String>,
}

impl LifecycleActionDetail {
    pub fn action(&self) -> LifecycleAction {
        LifecycleAction {
            auto_scaling_group_name: self.auto_scaling_group_name.clone(),
            lifecycle_hook_name: self.lifecycle_hook_name.clone(),
            lifecycle_action_token: self.lifecycle_action_token.clone(),
            ec2_instance_id: self.ec2_instance_id.clone(),
        }
    }

    /// The cluster named by NotificationMetadata `{"cluster": "NAME or ARN"}`; `Err` explains
    /// metadata that is present but not in that shape (the caller falls back to `CLUSTERS`).
    pub fn metadata_cluster(&self) -> Result<Option<String>, String> {
        let Some(raw) = self.notification_metadata.as_deref() else {
            return Ok(None);
        };
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| format!("NotificationMetadata is not JSON ({e}): {raw:?}"))?;
        match value.get("cluster") {
            Some(serde_json::Value::String(c)) if !c.trim().is_empty() => {
                Ok(Some(c.trim().to_string()))
            }
            None if value.is_object() => Ok(None),
            _ => Err(format!(
                "NotificationMetadata should be {{\"cluster\": \"NAME\"}}, got {raw:?}"
            )),
        }
    }
}

/// `detail` of `EC2 Spot Instance Interruption Warning` (source `aws.ec2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotInterruptionDetail {
    #[serde(rename = "instance-id")]
    pub instance_id: String,
    #[serde(rename = "instance-action", default)]
    pub instance_action: Option<String>,
}

/// One SQS record of an event source mapping batch (only the fields we use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord {
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub event_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqsBatch {
    #[serde(rename = "Records")]
    pub records: Vec<SqsRecord>,
}

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

/// Everything instance-drainer can be invoked with.
#[derive(Debug, Clone, PartialEq)]
pub enum DrainEvent {
    LifecycleTerminate(Envelope<LifecycleActionDetail>),
    SpotInterruption(Envelope<SpotInterruptionDetail>),
    /// An SQS batch (re-checks); each record's body is parsed on its own so one bad message
    /// fails alone (partial batch response).
    Sqs(SqsBatch),
    Other {
        source: String,
        detail_type: String,
    },
}

impl DrainEvent {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(EventError::Malformed)?;
        Self::from_value(value)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        if value.get("Records").is_some() {
            return serde_json::from_value(value)
                .map(DrainEvent::Sqs)
                .map_err(|source| EventError::InvalidDetail {
                    detail_type: "SQS batch".into(),
                    source,
                });
        }
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_value(value).map_err(EventError::NotAnEnvelope)?;
        match (envelope.source.as_str(), envelope.detail_type.as_str()) {
            ("aws.autoscaling", LIFECYCLE_TERMINATE) => {
                Ok(DrainEvent::LifecycleTerminate(typed(envelope)?))
            }
            ("aws.ec2", SPOT_INTERRUPTION_WARNING) => {
                Ok(DrainEvent::SpotInterruption(typed(envelope)?))
            }
            _ => Ok(DrainEvent::Other {
                source: envelope.source,
                detail_type: envelope.detail_type,
            }),
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    e: Envelope<serde_json::Value>,
) -> Result<Envelope<T>, EventError> {
    let detail = serde_json::from_value(e.detail).map_err(|source| EventError::InvalidDetail {
        detail_type: e.detail_type.clone(),
        source,
    })?;
    Ok(Envelope {
        id: e.id,
        detail_type: e.detail_type,
        source: e.source,
        account: e.account,
        time: e.time,
        region: e.region,
        resources: e.resources,
        detail,
    })
}

/// Parses EventBridge's `time` (`2026-11-22T06:00:00Z`, optionally with fractional seconds) to
/// Unix seconds. `None` for anything else.
pub fn parse_event_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_parses() {
        assert_eq!(parse_event_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_event_time("2015-12-22T18:43:48Z"),
            Some(1_450_809_828)
        );
        assert_eq!(
            parse_event_time("2026-11-22T06:00:00.123Z"),
            parse_event_time("2026-11-22T06:00:00Z")
        );
        assert_eq!(parse_event_time("yesterday"), None);
        assert_eq!(parse_event_time("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn metadata_cluster_shapes() {
        let mut d = LifecycleActionDetail {
            lifecycle_action_token: "t".into(),
            auto_scaling_group_name: "g".into(),
            lifecycle_hook_name: "h".into(),
            ec2_instance_id: "i-1".into(),
            lifecycle_transition: None,
            notification_metadata: None,
        };
        assert_eq!(d.metadata_cluster(), Ok(None));
        d.notification_metadata = Some(r#"{"cluster": "prod"}"#.into());
        assert_eq!(d.metadata_cluster(), Ok(Some("prod".into())));
        d.notification_metadata = Some(r#"{"team": "x"}"#.into());
        assert_eq!(d.metadata_cluster(), Ok(None));
        d.notification_metadata = Some("prod".into());
        assert!(d.metadata_cluster().is_err());
        d.notification_metadata = Some(r#"{"cluster": 3}"#.into());
        assert!(d.metadata_cluster().is_err());
    }
}
