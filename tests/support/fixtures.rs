//! Fixtures shared by the moto tests: ARNs, ECS set-up through the real API (cluster, hosts, task
//! definitions, services, tasks) and the events each function receives, built in one place.

use autopilot_core::testing;
use serde_json::{json, Value};

use crate::{Moto, ACCOUNT, LIFECYCLE_EVENT_TIME, REGION};

/// The tag that makes a service a daemon for daemon-count (and for the drainer's task split).
pub const DAEMON_TAG: &[(&str, &str)] = &[("ecs-autopilot:daemon", "true")];

pub fn cluster_arn(cluster: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}")
}

/// [`testing::container_instance_arn`] of cluster `cluster` (a name) in this account.
pub fn container_instance_arn(cluster: &str, id: &str) -> String {
    testing::container_instance_arn(&cluster_arn(cluster), id)
}

/// [`testing::task_arn`] of cluster `cluster` (a name) in this account.
pub fn task_arn(cluster: &str, id: &str) -> String {
    testing::task_arn(&cluster_arn(cluster), id)
}

/// Builds ECS fixtures in moto through the real API.
pub struct EcsFixture<'a> {
    pub moto: &'a Moto,
    pub ecs: aws_sdk_ecs::Client,
    pub cluster: String,
    pub cluster_arn: String,
}

impl<'a> EcsFixture<'a> {
    pub async fn new(moto: &'a Moto, cluster: &str) -> EcsFixture<'a> {
        let ecs = moto.ecs();
        let out = ecs
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .expect("create cluster");
        let cluster_arn = out
            .cluster()
            .and_then(|c| c.cluster_arn())
            .expect("cluster arn")
            .to_string();
        EcsFixture {
            moto,
            ecs,
            cluster: cluster.to_string(),
            cluster_arn,
        }
    }

    /// The usual start: cluster `cluster` with `count` t3.large hosts in us-east-1a (their ARNs).
    pub async fn with_hosts(
        moto: &'a Moto,
        cluster: &str,
        count: usize,
    ) -> (EcsFixture<'a>, Vec<String>) {
        let fx = EcsFixture::new(moto, cluster).await;
        let hosts = fx.add_hosts("t3.large", "us-east-1a", count).await;
        (fx, hosts)
    }

    /// Registers `count` hosts of `instance_type` in `az`; returns their container instance ARNs.
    pub async fn add_hosts(&self, instance_type: &str, az: &str, count: usize) -> Vec<String> {
        let mut arns = Vec::new();
        for id in self.moto.run_instances(instance_type, az, count) {
            let doc = json!({
                "instanceId": id,
                "instanceType": instance_type,
                "availabilityZone": az,
                "region": REGION,
                "accountId": ACCOUNT,
            });
            let out = self
                .ecs
                .register_container_instance()
                .cluster(&self.cluster)
                .instance_identity_document(doc.to_string())
                .send()
                .await
                .expect("register container instance");
            arns.push(
                out.container_instance()
                    .and_then(|c| c.container_instance_arn())
                    .expect("container instance arn")
                    .to_string(),
            );
        }
        arns
    }

    pub async fn set_draining(&self, container_instance_arn: &str) {
        self.ecs
            .update_container_instances_state()
            .cluster(&self.cluster)
            .container_instances(container_instance_arn)
            .status(aws_sdk_ecs::types::ContainerInstanceStatus::Draining)
            .send()
            .await
            .expect("set draining");
    }

    /// PutAttributes on one host. moto accepts only the short container instance id as targetId.
    pub async fn put_attribute(&self, container_instance_arn: &str, name: &str, value: &str) {
        let short_id = container_instance_arn
            .rsplit('/')
            .next()
            .unwrap_or(container_instance_arn);
        self.ecs
            .put_attributes()
            .cluster(&self.cluster)
            .attributes(
                aws_sdk_ecs::types::Attribute::builder()
                    .name(name)
                    .value(value)
                    .target_type(aws_sdk_ecs::types::TargetType::ContainerInstance)
                    .target_id(short_id)
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("put attributes");
    }

    /// Registers a task definition (no ports: see the notes on moto's StopTask with dynamic ports).
    pub async fn register_task_definition(&self, family: &str, member_of: Option<&str>) -> String {
        let mut req = self
            .ecs
            .register_task_definition()
            .family(family)
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name(family)
                    .image("public.ecr.aws/docker/library/busybox:latest")
                    .memory(64)
                    .cpu(64)
                    .build(),
            );
        if let Some(expr) = member_of {
            req = req.placement_constraints(
                aws_sdk_ecs::types::TaskDefinitionPlacementConstraint::builder()
                    .r#type(aws_sdk_ecs::types::TaskDefinitionPlacementConstraintType::MemberOf)
                    .expression(expr)
                    .build(),
            );
        }
        req.send()
            .await
            .expect("register task definition")
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .expect("task definition arn")
            .to_string()
    }

    /// Creates a service; `tags` are (key, value) pairs; `daemon_strategy` uses DAEMON scheduling.
    pub async fn create_service(
        &self,
        name: &str,
        task_definition: &str,
        desired: i32,
        tags: &[(&str, &str)],
        daemon_strategy: bool,
    ) -> String {
        let mut req = self
            .ecs
            .create_service()
            .cluster(&self.cluster)
            .service_name(name)
            .task_definition(task_definition)
            .scheduling_strategy(if daemon_strategy {
                aws_sdk_ecs::types::SchedulingStrategy::Daemon
            } else {
                aws_sdk_ecs::types::SchedulingStrategy::Replica
            });
        if !daemon_strategy {
            req = req.desired_count(desired);
        }
        for (k, v) in tags {
            req = req.tags(aws_sdk_ecs::types::Tag::builder().key(*k).value(*v).build());
        }
        req.send()
            .await
            .expect("create service")
            .service()
            .and_then(|s| s.service_arn())
            .expect("service arn")
            .to_string()
    }

    pub async fn desired_count(&self, service: &str) -> i32 {
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.cluster)
            .services(service)
            .send()
            .await
            .expect("describe service");
        out.services()
            .first()
            .expect("service exists")
            .desired_count()
    }

    /// StartTask of `task_definition` on one host with the given group and startedBy (service
    /// tasks: `service:NAME` + `ecs-svc/…`). Returns the task ARN.
    pub async fn start_task(
        &self,
        task_definition: &str,
        container_instance_arn: &str,
        group: &str,
        started_by: Option<&str>,
    ) -> String {
        let mut req = self
            .ecs
            .start_task()
            .cluster(&self.cluster)
            .task_definition(task_definition)
            .container_instances(container_instance_arn)
            .group(group);
        if let Some(s) = started_by {
            req = req.started_by(s);
        }
        req.send()
            .await
            .expect("start task")
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .expect("task arn")
            .to_string()
    }

    pub async fn stop_task(&self, task_arn: &str) {
        self.ecs
            .stop_task()
            .cluster(&self.cluster)
            .task(task_arn)
            .send()
            .await
            .expect("stop task");
    }

    pub async fn task_status(&self, task_arn: &str) -> (String, String) {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(task_arn)
            .send()
            .await
            .expect("describe task");
        let t = out.tasks().first().expect("task");
        (
            t.last_status().unwrap_or("").to_string(),
            t.desired_status().unwrap_or("").to_string(),
        )
    }

    /// (EC2 instance id, status) of a container instance.
    pub async fn host(&self, container_instance_arn: &str) -> (String, String) {
        let out = self
            .ecs
            .describe_container_instances()
            .cluster(&self.cluster)
            .container_instances(container_instance_arn)
            .send()
            .await
            .expect("describe container instance");
        let ci = out
            .container_instances()
            .first()
            .expect("container instance");
        (
            ci.ec2_instance_id().unwrap_or("").to_string(),
            ci.status().unwrap_or("").to_string(),
        )
    }

    /// An `ECS Container Instance State Change` event for one of this cluster's hosts.
    pub fn instance_event(&self, container_instance_arn: &str, status: &str) -> Value {
        instance_event(&self.cluster_arn, container_instance_arn, status)
    }

    /// An `ECS Task State Change` event for a task moto started (its real ARN and host).
    pub fn task_event(
        &self,
        task_arn: &str,
        container_instance_arn: &str,
        version: i64,
        last_status: &str,
    ) -> Value {
        task_event(
            &self.cluster_arn,
            task_arn,
            container_instance_arn,
            version,
            last_status,
        )
    }
}

// --- events -----------------------------------------------------------------------------------

/// Adds `extra`'s fields to the object `base`.
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// Only what the handlers route on: `detail-type`, `source` and `detail` (for malformed input).
pub fn bare_event(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({"detail-type": detail_type, "source": source, "detail": detail})
}

/// An `aws.ecs` event with `version` but none of the fields EventBridge adds on delivery.
pub fn ecs_event(detail_type: &str, detail: Value) -> Value {
    testing::event(detail_type, "aws.ecs", detail)
}

/// An event as EventBridge delivers it: with `id`, `account`, `time`, `region` and `resources`.
fn delivered_event(
    id: &str,
    detail_type: &str,
    source: &str,
    time: &str,
    resources: Value,
    detail: Value,
) -> Value {
    merged(
        bare_event(detail_type, source, detail),
        json!({"version": "0", "id": id, "account": ACCOUNT, "time": time, "region": REGION,
               "resources": resources}),
    )
}

/// The identity part of an instance event's detail.
fn instance_detail(
    cluster_arn: &str,
    container_instance_arn: &str,
    status: &str,
    version: i64,
) -> Value {
    json!({
        "agentConnected": true,
        "clusterArn": cluster_arn,
        "containerInstanceArn": container_instance_arn,
        "status": status,
        "version": version,
    })
}

/// An `ECS Container Instance State Change` event as EventBridge delivers it (version 3, a fixed
/// EC2 id): what daemon-count and the drainer read.
pub fn instance_event(cluster_arn: &str, container_instance_arn: &str, status: &str) -> Value {
    delivered_event(
        "6a7e4feb-b491-4cf7-a9f1-bf3703497718",
        "ECS Container Instance State Change",
        "aws.ecs",
        "2026-11-22T06:00:00Z",
        json!([container_instance_arn]),
        merged(
            instance_detail(cluster_arn, container_instance_arn, status, 3),
            json!({"ec2InstanceId": "i-00000000000000000", "updatedAt": "2026-11-22T06:00:00.000Z"}),
        ),
    )
}

/// An `ECS Container Instance State Change` event with what capacity-recorder stores: a t3.large
/// host of `cluster` at `version` with `free_mem` MiB left; its EC2 id ends like its ARN.
pub fn capacity_instance_event(
    cluster: &str,
    container_instance_arn: &str,
    version: i64,
    status: &str,
    free_mem: i64,
) -> Value {
    let ci = container_instance_arn;
    merged(
        ecs_event(
            "ECS Container Instance State Change",
            merged(
                instance_detail(&cluster_arn(cluster), ci, status, version),
                json!({
                    "ec2InstanceId": format!("i-{}", &ci[ci.len() - 8..]),
                    "attributes": [{"name": "ecs.instance-type", "value": "t3.large"}, {"name": "com.amazonaws.ecs.capability.ecr-auth"}],
                    "registeredResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                                            {"name": "MEMORY", "type": "INTEGER", "integerValue": 7680},
                                            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376"]},
                                            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}],
                    "remainingResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                                           {"name": "MEMORY", "type": "INTEGER", "integerValue": free_mem},
                                           {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376", "8080"]},
                                           {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}],
                    "runningTasksCount": 1
                }),
            ),
        ),
        json!({"account": ACCOUNT, "region": REGION}),
    )
}

/// An `ECS Task State Change` event of an EC2 task of service `web` (desired STOPPED once stopped).
pub fn task_event(
    cluster_arn: &str,
    task_arn: &str,
    container_instance_arn: &str,
    version: i64,
    last_status: &str,
) -> Value {
    ecs_event(
        "ECS Task State Change",
        json!({
            "clusterArn": cluster_arn, "taskArn": task_arn, "containerInstanceArn": container_instance_arn,
            "lastStatus": last_status,
            "desiredStatus": if last_status == "STOPPED" { "STOPPED" } else { "RUNNING" },
            "group": "service:web", "launchType": "EC2", "version": version
        }),
    )
}

/// A `Scheduled Event`, as an EventBridge schedule delivers it.
pub fn scheduled_event() -> Value {
    delivered_event(
        "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "Scheduled Event",
        "aws.events",
        "2026-11-22T06:10:00Z",
        json!([format!(
            "arn:aws:events:{REGION}:{ACCOUNT}:rule/daemon-count-reconcile"
        )]),
        json!({}),
    )
}

/// An `EC2 Instance-terminate Lifecycle Action` event, as EventBridge delivers it.
pub fn lifecycle_terminate_event(
    ec2_instance_id: &str,
    token: &str,
    notification_metadata: Option<&str>,
) -> Value {
    let mut detail = json!({
        "LifecycleActionToken": token,
        "AutoScalingGroupName": "ecs-asg",
        "LifecycleHookName": "ecs-autopilot-drain",
        "EC2InstanceId": ec2_instance_id,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"
    });
    if let Some(m) = notification_metadata {
        detail["NotificationMetadata"] = Value::String(m.to_string());
    }
    delivered_event(
        "468fe059-f4b7-445f-bb22-2a271b94974d",
        "EC2 Instance-terminate Lifecycle Action",
        "aws.autoscaling",
        LIFECYCLE_EVENT_TIME,
        json!([format!("arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:59fcbb81-bd02-485d-80ce-563ef5b237bf:autoScalingGroupName/ecs-asg")]),
        detail,
    )
}

/// An `EC2 Spot Instance Interruption Warning` event.
pub fn spot_interruption_event(ec2_instance_id: &str) -> Value {
    delivered_event(
        "1e5527d7-bb36-4607-3370-4164db56a40e",
        "EC2 Spot Instance Interruption Warning",
        "aws.ec2",
        LIFECYCLE_EVENT_TIME,
        json!([format!("arn:aws:ec2:{REGION}b:instance/{ec2_instance_id}")]),
        json!({"instance-id": ec2_instance_id, "instance-action": "terminate"}),
    )
}

/// An SQS event source mapping batch carrying `bodies` (message id = `msg-N`).
pub fn sqs_batch_event(bodies: &[&str]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("msg-{i}"),
                "receiptHandle": "AQEB",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:drainer-rechecks"),
                "awsRegion": REGION
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The `errorType` Lambda would report for a handler's error.
pub fn error_type(error: impl Into<lambda_runtime::Diagnostic>) -> String {
    error.into().error_type
}

/// A container instance state change event for a host of `cluster` (the capacity tests' hosts):
/// what the recorder stores for it is what the CLI's questions read.
#[derive(Debug, Clone)]
pub struct HostEvent<'a> {
    pub cluster: &'a str,
    pub region: &'a str,
    /// The host's index: its container instance id is `h{index:02}`.
    pub index: usize,
    pub ec2_instance_id: String,
    pub status: &'a str,
    pub connected: bool,
    pub instance_type: &'a str,
    pub zone: &'a str,
    /// (registered, remaining) CPU units.
    pub cpu: (i64, i64),
    /// (registered, remaining) MiB.
    pub memory: (i64, i64),
    pub ports_in_use: &'a [&'a str],
    pub running_tasks: i64,
}

impl HostEvent<'_> {
    pub fn event(&self) -> Value {
        let (region, cluster, i) = (self.region, self.cluster, self.index);
        json!({
            "version": "0", "detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
            "detail": {
                "clusterArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:cluster/{cluster}"),
                "containerInstanceArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:container-instance/{cluster}/h{i:02}"),
                "ec2InstanceId": self.ec2_instance_id, "status": self.status,
                "agentConnected": self.connected, "version": 2,
                "attributes": [{"name": "ecs.instance-type", "value": self.instance_type},
                               {"name": "ecs.availability-zone", "value": self.zone}],
                "registeredResources": [{"name": "CPU", "type": "INTEGER", "integerValue": self.cpu.0},
                                        {"name": "MEMORY", "type": "INTEGER", "integerValue": self.memory.0}],
                "remainingResources": [{"name": "CPU", "type": "INTEGER", "integerValue": self.cpu.1},
                                       {"name": "MEMORY", "type": "INTEGER", "integerValue": self.memory.1},
                                       {"name": "PORTS", "type": "STRINGSET", "stringSetValue": self.ports_in_use}],
                "runningTasksCount": self.running_tasks
            }
        })
    }
}
