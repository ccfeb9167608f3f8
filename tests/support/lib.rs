//! Test bed: a moto server per test, on 127.0.0.1 and a free port, plus builders for ECS fixtures.
//!
//! `Moto::start()` runs `tests/moto_server.py` with the project's `.venv` Python (override with
//! `MOTO_PYTHON`), reads the endpoint it prints, and stops it on drop (the script also exits when
//! its stdin closes, so a crashed test leaves nothing behind). SDK clients get the endpoint the way
//! `AWS_ENDPOINT_URL` would give it, with dummy credentials and `us-east-1`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::Credentials;
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// The `time` of the lifecycle and spot events built here. Tests that depend on elapsed time run
/// the drainer on a clock pinned near it ([`LIFECYCLE_EVENT_UNIX`]): a wall clock would make the
/// outcome depend on the day the suite runs (a hard-coded past time plus the real clock once put
/// every drain past its deadline).
pub const LIFECYCLE_EVENT_TIME: &str = "2026-11-22T06:00:00Z";
/// [`LIFECYCLE_EVENT_TIME`] in Unix seconds.
pub const LIFECYCLE_EVENT_UNIX: i64 = 1_795_327_200;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "moto is not installed: run `scripts/bootstrap` (creates .venv with the pinned dev tools) \
         or set MOTO_PYTHON to a Python that has moto[server]"
    );
    venv
}

/// A running moto server, stopped on drop.
pub struct Moto {
    child: Child,
    control: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/moto_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn moto server");
        let stdin = child.stdin.take().expect("moto stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("moto stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read moto endpoint");
        let hello: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto did not start (got {line:?}): {e}"));
        let endpoint = hello["endpoint"].as_str().expect("endpoint").to_string();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        Moto {
            child,
            control: Mutex::new((stdin, stdout)),
            endpoint,
        }
    }

    /// Sends one control command to the moto wrapper and returns its answer.
    pub fn command(&self, cmd: Value) -> Value {
        let mut guard = self.control.lock().expect("moto control lock");
        let (stdin, stdout) = &mut *guard;
        writeln!(stdin, "{cmd}").expect("write moto command");
        stdin.flush().expect("flush moto command");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read moto answer");
        let answer: Value = serde_json::from_str(&line).expect("moto answer is JSON");
        assert!(
            answer.get("error").is_none(),
            "moto command {cmd} failed: {answer}"
        );
        answer
    }

    /// Creates EC2 instances (moto's ECS refuses to register a host whose EC2 id it does not know).
    pub fn run_instances(
        &self,
        instance_type: &str,
        availability_zone: &str,
        count: usize,
    ) -> Vec<String> {
        let answer = self.command(json!({
            "op": "run_instances",
            "instance_type": instance_type,
            "availability_zone": availability_zone,
            "count": count,
        }));
        answer["instance_ids"]
            .as_array()
            .expect("instance_ids")
            .iter()
            .map(|v| v.as_str().expect("id").to_string())
            .collect()
    }

    /// SDK configuration pointing at this moto, as `AWS_ENDPOINT_URL` would.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
                Credentials::for_tests(),
            ))
            .build()
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk_config())
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
    }

    /// Environment for a child process (the CLI, a function) that should talk to this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

    /// An `ECS Container Instance State Change` event for one of this cluster's hosts.
    pub fn instance_event(&self, container_instance_arn: &str, status: &str) -> Value {
        json!({
            "version": "0",
            "id": "6a7e4feb-b491-4cf7-a9f1-bf3703497718",
            "detail-type": "ECS Container Instance State Change",
            "source": "aws.ecs",
            "account": ACCOUNT,
            "time": "2026-11-22T06:00:00Z",
            "region": REGION,
            "resources": [container_instance_arn],
            "detail": {
                "agentConnected": true,
                "clusterArn": self.cluster_arn,
                "containerInstanceArn": container_instance_arn,
                "ec2InstanceId": "i-00000000000000000",
                "status": status,
                "version": 3,
                "updatedAt": "2026-11-22T06:00:00.000Z"
            }
        })
    }
}

/// A `Scheduled Event`, as an EventBridge schedule delivers it.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-22T06:10:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/daemon-count-reconcile")],
        "detail": {}
    })
}

// --- instance-drainer (issue #5) ------------------------------------------------------------------

/// One CompleteLifecycleAction / RecordLifecycleActionHeartbeat call recorded by the test bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleCall {
    pub operation: String,
    pub token: String,
    pub instance_id: String,
    pub result: Option<String>,
    /// false when moto answered `No active Lifecycle Action found`.
    pub accepted: bool,
}

/// A message taken off a moto SQS queue, with the delay it was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub body: String,
    pub delay_seconds: u64,
}

impl Moto {
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }

    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk_config())
    }

    /// Tasks stay RUNNING until stopped (moto otherwise advances them one step per describe).
    pub fn pin_ecs_tasks(&self) {
        self.command(json!({"op": "pin_ecs_tasks"}));
    }

    pub fn lifecycle_calls(&self) -> Vec<LifecycleCall> {
        self.command(json!({"op": "lifecycle_calls"}))["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .map(|c| LifecycleCall {
                operation: c["operation"].as_str().unwrap_or("").to_string(),
                token: c["token"].as_str().unwrap_or("").to_string(),
                instance_id: c["instance_id"].as_str().unwrap_or("").to_string(),
                result: c["result"].as_str().map(str::to_string),
                accepted: c["accepted"].as_bool().unwrap_or(false),
            })
            .collect()
    }

    /// Removes and returns every message of the queue, delayed ones included.
    pub fn take_messages(&self, queue_name: &str) -> Vec<QueuedMessage> {
        self.command(json!({"op": "take_messages", "queue": queue_name}))["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| QueuedMessage {
                id: m["id"].as_str().unwrap_or("").to_string(),
                body: m["body"].as_str().unwrap_or("").to_string(),
                delay_seconds: m["delay_seconds"].as_u64().unwrap_or(0),
            })
            .collect()
    }

    /// Creates an SQS queue; returns its URL.
    pub async fn create_queue(&self, name: &str) -> String {
        self.sqs()
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .expect("queue url")
            .to_string()
    }
}

impl EcsFixture<'_> {
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
        "LifecycleHookName": "ecs-drain",
        "EC2InstanceId": ec2_instance_id,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"
    });
    if let Some(m) = notification_metadata {
        detail["NotificationMetadata"] = Value::String(m.to_string());
    }
    json!({
        "version": "0",
        "id": "468fe059-f4b7-445f-bb22-2a271b94974d",
        "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling",
        "account": ACCOUNT,
        "time": LIFECYCLE_EVENT_TIME,
        "region": REGION,
        "resources": [format!("arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:59fcbb81-bd02-485d-80ce-563ef5b237bf:autoScalingGroupName/ecs-asg")],
        "detail": detail
    })
}

/// An `EC2 Spot Instance Interruption Warning` event.
pub fn spot_interruption_event(ec2_instance_id: &str) -> Value {
    json!({
        "version": "0",
        "id": "1e5527d7-bb36-4607-3370-4164db56a40e",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": LIFECYCLE_EVENT_TIME,
        "region": REGION,
        "resources": [format!("arn:aws:ec2:{REGION}b:instance/{ec2_instance_id}")],
        "detail": {"instance-id": ec2_instance_id, "instance-action": "terminate"}
    })
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
