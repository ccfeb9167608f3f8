//! Typed EventBridge events from ECS (`source: aws.ecs`) and the schedule (`source: aws.events`).
//!
//! Rules we follow (see the project's ECS notes):
//! - AWS adds fields over time: unknown fields are ignored, never rejected.
//! - Only identity fields are required (`clusterArn` plus the resource ARN); everything else is
//!   optional so a thin event still parses.
//! - The envelope's `"version": "0"` is the envelope schema version; the resource's change counter is
//!   `detail.version`.
//! - Unknown detail types are not errors: they parse to [`EcsEvent::Other`] and callers skip them.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{Attribute, ContainerInstance, InstanceStatus, Resources};

pub const CONTAINER_INSTANCE_STATE_CHANGE: &str = "ECS Container Instance State Change";
pub const TASK_STATE_CHANGE: &str = "ECS Task State Change";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// The EventBridge envelope around a detail of type `T`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: T,
}

/// A resource entry of `registeredResources` / `remainingResources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventResource {
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub integer_value: Option<i64>,
    #[serde(default)]
    pub long_value: Option<i64>,
    #[serde(default)]
    pub double_value: Option<f64>,
    #[serde(default)]
    pub string_set_value: Option<Vec<String>>,
}

impl EventResource {
    fn number(&self) -> Option<i64> {
        self.integer_value
            .or(self.long_value)
            // CPU and MEMORY are integers in practice; a double is truncated, not rounded up, so we
            // never claim more free capacity than ECS reported.
            .or(self.double_value.map(|d| d as i64))
    }
}

/// Folds ECS's resource list into [`Resources`]; unknown resource names (e.g. GPU) are ignored.
pub fn resources_from_list(list: &[EventResource]) -> Resources {
    let mut out = Resources::default();
    for r in list {
        match r.name.as_str() {
            "CPU" => out.cpu = r.number(),
            "MEMORY" => out.memory = r.number(),
            "PORTS" => out.ports = r.string_set_value.clone().unwrap_or_default(),
            "PORTS_UDP" => out.ports_udp = r.string_set_value.clone().unwrap_or_default(),
            _ => {}
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub agent_hash: Option<String>,
    #[serde(default)]
    pub docker_version: Option<String>,
}

/// `detail` of an `ECS Container Instance State Change` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstanceStateChange {
    pub cluster_arn: String,
    pub container_instance_arn: String,
    #[serde(default)]
    pub ec2_instance_id: Option<String>,
    #[serde(default)]
    pub status: Option<InstanceStatus>,
    #[serde(default)]
    pub agent_connected: Option<bool>,
    #[serde(default)]
    pub attributes: Option<Vec<Attribute>>,
    #[serde(default)]
    pub registered_resources: Option<Vec<EventResource>>,
    #[serde(default)]
    pub remaining_resources: Option<Vec<EventResource>>,
    #[serde(default)]
    pub running_tasks_count: Option<i64>,
    #[serde(default)]
    pub pending_tasks_count: Option<i64>,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub version_info: Option<VersionInfo>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl ContainerInstanceStateChange {
    /// The event's view of the host. `status` defaults to the unknown value `""` when absent, so a
    /// thin event is never mistaken for an ACTIVE host.
    pub fn to_container_instance(&self) -> ContainerInstance {
        let status = self
            .status
            .clone()
            .unwrap_or_else(|| InstanceStatus::Other(String::new()));
        let mut ci = ContainerInstance::new(self.container_instance_arn.clone(), status);
        ci.ec2_instance_id = self.ec2_instance_id.clone();
        ci.agent_connected = self.agent_connected;
        ci.agent_version = self
            .version_info
            .as_ref()
            .and_then(|v| v.agent_version.clone());
        ci.attributes = self.attributes.clone().unwrap_or_default();
        ci.registered = resources_from_list(self.registered_resources.as_deref().unwrap_or(&[]));
        ci.remaining = resources_from_list(self.remaining_resources.as_deref().unwrap_or(&[]));
        ci.running_tasks_count = self.running_tasks_count;
        ci.pending_tasks_count = self.pending_tasks_count;
        ci.version = self.version;
        ci
    }
}

/// `detail` of an `ECS Task State Change` event. `cpu` and `memory` are strings in events and may be
/// absent for EC2 tasks whose containers carry the sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    pub cluster_arn: String,
    pub task_arn: String,
    #[serde(default)]
    pub container_instance_arn: Option<String>,
    #[serde(default)]
    pub last_status: Option<String>,
    #[serde(default)]
    pub desired_status: Option<String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub started_by: Option<String>,
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub stopped_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// Every event the functions receive, dispatched on `detail-type`.
#[derive(Debug, Clone, PartialEq)]
pub enum EcsEvent {
    ContainerInstanceStateChange(Envelope<ContainerInstanceStateChange>),
    TaskStateChange(Envelope<TaskStateChange>),
    /// An EventBridge schedule (`source: aws.events`, `detail-type: Scheduled Event`).
    Scheduled(Envelope<serde_json::Value>),
    /// Anything else (`ECS Service Action`, `ECS Deployment State Change`, ...): callers skip it.
    Other {
        source: String,
        detail_type: String,
    },
}

#[derive(Debug, Error)]
pub enum EventError {
    #[error("event is not valid JSON: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("event is not an EventBridge event (needs `source`, `detail-type` and `detail`): {0}")]
    NotAnEnvelope(#[source] serde_json::Error),
    #[error("invalid `{detail_type}` detail: {source}")]
    InvalidDetail {
        detail_type: String,
        #[source]
        source: serde_json::Error,
    },
}

impl EcsEvent {
    /// Parses raw bytes (what Lambda hands the runtime).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(EventError::Malformed)?;
        Self::from_value(value)
    }

    /// Dispatches an already-decoded JSON value on `detail-type`.
    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_value(value).map_err(EventError::NotAnEnvelope)?;
        match (envelope.source.as_str(), envelope.detail_type.as_str()) {
            ("aws.ecs", CONTAINER_INSTANCE_STATE_CHANGE) => Ok(
                EcsEvent::ContainerInstanceStateChange(typed_detail(envelope)?),
            ),
            ("aws.ecs", TASK_STATE_CHANGE) => {
                Ok(EcsEvent::TaskStateChange(typed_detail(envelope)?))
            }
            ("aws.events", SCHEDULED_EVENT) => Ok(EcsEvent::Scheduled(envelope)),
            _ => Ok(EcsEvent::Other {
                source: envelope.source,
                detail_type: envelope.detail_type,
            }),
        }
    }

    pub fn detail_type(&self) -> &str {
        match self {
            EcsEvent::ContainerInstanceStateChange(e) => &e.detail_type,
            EcsEvent::TaskStateChange(e) => &e.detail_type,
            EcsEvent::Scheduled(e) => &e.detail_type,
            EcsEvent::Other { detail_type, .. } => detail_type,
        }
    }
}

fn typed_detail<T: serde::de::DeserializeOwned>(
    envelope: Envelope<serde_json::Value>,
) -> Result<Envelope<T>, EventError> {
    let Envelope {
        id,
        detail_type,
        source,
        account,
        time,
        region,
        resources,
        detail,
    } = envelope;
    let detail = serde_json::from_value(detail).map_err(|source| EventError::InvalidDetail {
        detail_type: detail_type.clone(),
        source,
    })?;
    Ok(Envelope {
        id,
        detail_type,
        source,
        account,
        time,
        region,
        resources,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE_EVENT: &str = r#"{
      "version": "0", "id": "8952ba83", "detail-type": "ECS Container Instance State Change",
      "source": "aws.ecs", "account": "111122223333", "time": "2016-12-06T16:41:06Z",
      "region": "us-east-1", "resources": ["arn:aws:ecs:us-east-1:111122223333:container-instance/b54a"],
      "detail": {
        "agentConnected": true,
        "attributes": [{"name": "ecs.instance-type", "value": "t3.large"}, {"name": "com.amazonaws.ecs.capability.ecr-auth"}],
        "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:111122223333:container-instance/b54a",
        "ec2InstanceId": "i-f3a8506b",
        "registeredResources": [
          {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
          {"name": "MEMORY", "type": "INTEGER", "integerValue": 3767},
          {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376"]},
          {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
        ],
        "remainingResources": [
          {"name": "CPU", "type": "INTEGER", "integerValue": 1988},
          {"name": "MEMORY", "type": "INTEGER", "integerValue": 767},
          {"name": "GPU", "type": "STRINGSET", "stringSetValue": []}
        ],
        "status": "ACTIVE", "version": 14801,
        "versionInfo": {"agentHash": "aebcbca", "agentVersion": "1.13.0", "dockerVersion": "DockerVersion: 1.11.2"},
        "updatedAt": "2016-12-06T16:41:06.991Z",
        "someFieldAwsAddsLater": {"nested": [1, 2, 3]}
      }
    }"#;

    #[test]
    fn parses_container_instance_event_and_ignores_unknown_fields() {
        let EcsEvent::ContainerInstanceStateChange(e) =
            EcsEvent::from_slice(INSTANCE_EVENT.as_bytes()).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.detail.version, Some(14801));
        assert_eq!(
            e.detail.cluster_arn,
            "arn:aws:ecs:us-east-1:111122223333:cluster/default"
        );
        let ci = e.detail.to_container_instance();
        assert_eq!(ci.status, InstanceStatus::Active);
        assert_eq!(ci.agent_connected, Some(true));
        assert_eq!(ci.agent_version.as_deref(), Some("1.13.0"));
        assert_eq!(ci.registered.cpu, Some(2048));
        assert_eq!(ci.registered.memory, Some(3767));
        assert_eq!(ci.registered.ports, vec!["22", "2376"]);
        assert_eq!(ci.remaining.cpu, Some(1988));
        assert_eq!(ci.remaining.memory, Some(767));
        assert_eq!(
            ci.attribute("ecs.instance-type")
                .and_then(|a| a.value.as_deref()),
            Some("t3.large")
        );
        assert_eq!(
            ci.attribute("com.amazonaws.ecs.capability.ecr-auth")
                .map(|a| a.value.clone()),
            Some(None)
        );
    }

    #[test]
    fn thin_event_with_only_identity_fields_parses() {
        let json = r#"{"detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
            "detail": {"clusterArn": "c", "containerInstanceArn": "ci"}}"#;
        let EcsEvent::ContainerInstanceStateChange(e) =
            EcsEvent::from_slice(json.as_bytes()).expect("parses")
        else {
            panic!("wrong variant")
        };
        let ci = e.detail.to_container_instance();
        assert_eq!(ci.status, InstanceStatus::Other(String::new()));
        assert_eq!(ci.version, None);
    }

    #[test]
    fn missing_identity_field_is_a_clear_error() {
        let json = r#"{"detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
            "detail": {"containerInstanceArn": "ci"}}"#;
        let err = EcsEvent::from_slice(json.as_bytes()).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("ECS Container Instance State Change"), "{msg}");
        assert!(msg.contains("clusterArn"), "{msg}");
    }

    #[test]
    fn malformed_json_is_a_clear_error() {
        let err = EcsEvent::from_slice(b"{\"detail-type\": ").expect_err("must fail");
        assert!(matches!(err, EventError::Malformed(_)));
        assert!(err.to_string().starts_with("event is not valid JSON"));
    }

    #[test]
    fn non_envelope_json_is_a_clear_error() {
        let err = EcsEvent::from_slice(b"[1,2,3]").expect_err("must fail");
        assert!(matches!(err, EventError::NotAnEnvelope(_)), "{err}");
    }

    #[test]
    fn unknown_detail_types_parse_to_other() {
        let json = r#"{"version":"0","detail-type": "ECS Service Action", "source": "aws.ecs",
            "detail": {"eventName": "SERVICE_STEADY_STATE"}}"#;
        let ev = EcsEvent::from_slice(json.as_bytes()).expect("parses");
        assert_eq!(
            ev,
            EcsEvent::Other {
                source: "aws.ecs".into(),
                detail_type: "ECS Service Action".into()
            }
        );
        // Same detail-type from a different source is not trusted as ECS.
        let json = r#"{"detail-type": "ECS Task State Change", "source": "my.app", "detail": {}}"#;
        assert!(matches!(
            EcsEvent::from_slice(json.as_bytes()).expect("parses"),
            EcsEvent::Other { .. }
        ));
    }

    #[test]
    fn parses_task_event_with_string_sizes() {
        let json = r#"{"version":"0","detail-type":"ECS Task State Change","source":"aws.ecs",
            "detail":{"clusterArn":"c","taskArn":"t","cpu":"256","memory":"512","lastStatus":"RUNNING",
            "desiredStatus":"RUNNING","group":"service:web","startedBy":"ecs-svc/1","version":4,
            "launchType":"EC2","containers":[{"name":"x"}]}}"#;
        let EcsEvent::TaskStateChange(e) = EcsEvent::from_slice(json.as_bytes()).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.detail.cpu.as_deref(), Some("256"));
        assert_eq!(e.detail.group.as_deref(), Some("service:web"));
        assert_eq!(e.detail.version, Some(4));
    }

    #[test]
    fn parses_scheduled_event() {
        let json = r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events",
            "account":"1","time":"2026-01-01T00:00:00Z","region":"us-east-1",
            "resources":["arn:aws:events:us-east-1:1:rule/r"],"detail":{}}"#;
        assert!(matches!(
            EcsEvent::from_slice(json.as_bytes()).expect("parses"),
            EcsEvent::Scheduled(_)
        ));
    }
}
