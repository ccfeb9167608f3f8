//! Test bed: a moto server per test on 127.0.0.1 (a free port) and SDK clients for it; the ECS
//! fixtures and event builders the tests share are in [`fixtures`].

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use autopilot_aws::CallCounter;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::Credentials;
use serde_json::{json, Value};

pub mod fixtures;

/// The crate-root paths these had before [`fixtures`], for code outside this package
/// (`crates/cli/tests`).
pub use fixtures::{
    lifecycle_terminate_event, scheduled_event, spot_interruption_event, sqs_batch_event,
    EcsFixture, HostEvent,
};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// The `time` of the lifecycle and spot events built here. Tests that depend on elapsed time run
/// the drainer at a time near it ([`LIFECYCLE_EVENT_UNIX`]): a wall clock would make the
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
///
/// [`Moto::start`] runs `tests/moto_server.py` with the project's `.venv` Python (override with
/// `MOTO_PYTHON`) and reads the endpoint it prints; the script also exits when its stdin closes,
/// so a crashed test leaves nothing behind. Each test starts its own: moto's state, the wrapper's
/// recorded lifecycle calls and pinned task transitions are per process, and tests run in
/// parallel threads, so one shared server (reset between tests) would not keep them apart. SDK
/// clients get the endpoint the way `AWS_ENDPOINT_URL` would give it, with dummy credentials and
/// `us-east-1`.
pub struct Moto {
    child: Child,
    control: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    /// Set by a test that expects the IAM bed to refuse a call ([`Moto::expect_access_denied`]).
    expect_denied: std::sync::atomic::AtomicBool,
    pub endpoint: String,
    /// The fault-injecting proxy in front of moto (tests/moto_server.py `faults`).
    pub proxy: String,
}

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

/// SDK clients for one moto whose requests `counter` counts, per operation name.
pub struct CountedClients {
    pub counter: CallCounter,
    pub ecs: aws_sdk_ecs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub sqs: aws_sdk_sqs::Client,
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
        let proxy = hello["proxy"].as_str().expect("proxy").to_string();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        Moto {
            child,
            control: Mutex::new((stdin, stdout)),
            expect_denied: std::sync::atomic::AtomicBool::new(false),
            endpoint,
            proxy,
        }
    }

    /// This test expects the IAM bed to refuse calls: its AccessDenied answers do not fail it.
    pub fn expect_access_denied(&self) {
        self.expect_denied
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Gives `principal` (the access key `fn-<principal>`) this policy instead of a template
    /// function's (tests of the bed's evaluation).
    pub fn iam_policy(&self, principal: &str, statements: Value) {
        self.command(json!({"op": "iam_policy", "principal": principal, "statements": statements}));
    }

    /// What the IAM bed refused, could not authorize (no row in tests/iam_table.py) and allowed.
    pub fn iam_report(&self) -> Value {
        self.command(json!({"op": "iam_report"}))
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

    /// An Auto Scaling group `name` (launch template, us-east-1a, MinSize 0, desired 0, MaxSize
    /// `max`): SetDesiredCapacity then launches EC2 instances in moto.
    pub fn create_scale_group(&self, name: &str, max: u32) {
        self.command(json!({"op": "create_scale_group", "name": name, "max": max}));
    }

    /// What the ECS agent of each new instance of `group` would do (moto has no agent):
    /// RegisterContainerInstance in `cluster`; returns `(container instance ARN, EC2 id)`.
    pub fn register_group_hosts(&self, group: &str, cluster: &str) -> Vec<(String, String)> {
        self.command(json!({"op": "register_group_hosts", "group": group, "cluster": cluster}))
            ["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| {
                (
                    h["arn"].as_str().unwrap_or("").to_string(),
                    h["instance_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// What ECS does when an instance terminates (moto does not): deregisters its container
    /// instance. Returns the EC2 ids.
    pub fn deregister_gone_hosts(&self, cluster: &str) -> Vec<String> {
        self.command(json!({"op": "deregister_gone_hosts", "cluster": cluster}))["deregistered"]
            .as_array()
            .expect("deregistered")
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Tasks stay RUNNING until stopped (moto otherwise advances them one step per describe).
    pub fn pin_ecs_tasks(&self) {
        self.command(json!({"op": "pin_ecs_tasks"}));
    }

    /// DescribeContainerInstances reports this host (its ARN) as a failure entry with `reason`
    /// (`None` clears it). moto cannot produce such an entry itself: the test bed wraps its
    /// backend (tests/moto_server.py).
    pub fn fail_describe(&self, container_instance_arn: &str, reason: Option<&str>) {
        let id = container_instance_arn
            .rsplit('/')
            .next()
            .unwrap_or(container_instance_arn);
        self.command(json!({"op": "fail_describe", "container_instance_id": id, "reason": reason}));
    }

    /// Sets fields of a moto model object its API cannot set (see tests/moto_server.py
    /// `set_model`): `kind` is `container_instance`, `task_definition` or `service`.
    pub fn set_model(&self, kind: &str, cluster: &str, id: &str, fields: Value) {
        let answer = self.command(
            json!({"op": "set_model", "kind": kind, "cluster": cluster, "id": id, "fields": fields}),
        );
        assert!(answer.get("error").is_none(), "set_model: {answer}");
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

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }

    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk_config())
    }

    /// Clients for this moto that share one new [`CallCounter`] (the tests' per-call budgets),
    /// with the fixtures' credentials: the IAM bed does not check them. A function under test
    /// gets [`Self::function_clients`].
    pub fn counted_clients(&self) -> CountedClients {
        self.clients_via(&self.endpoint, None, TEST_ACCESS_KEY)
    }

    /// [`Self::counted_clients`] signed as `function` (a logical id of template.yaml:
    /// [`DAEMON_COUNT`], ...): the IAM bed authorizes each request against that function's
    /// template policy (tests/iam_bed.py), and the test fails on a refusal.
    pub fn function_clients(&self, function: &str) -> CountedClients {
        self.clients_via(&self.endpoint, None, &format!("fn-{function}"))
    }

    /// [`Self::counted_clients`] through the fault-injecting proxy (set faults with
    /// [`Self::faults`]): the real wire protocol, with throttling, 500s and lost responses.
    pub fn faulty_clients(&self, function: &str) -> CountedClients {
        // The SDK's standard retries (3 attempts), with millisecond backoff: the faults are the
        // proxy's, the waiting between attempts only costs the suite time.
        let fast = aws_config::retry::RetryConfig::standard()
            .with_initial_backoff(std::time::Duration::from_millis(5))
            .with_max_backoff(std::time::Duration::from_millis(50));
        self.clients_via(&self.proxy, Some(fast), &format!("fn-{function}"))
    }

    /// Configures the proxy's faults (see tests/moto_server.py); returns nothing.
    pub fn faults(&self, config: Value) {
        let mut cmd = config;
        cmd["op"] = json!("faults");
        self.command(cmd);
    }

    /// How many faults the proxy injected, by kind.
    pub fn fault_stats(&self) -> Value {
        self.command(json!({"op": "fault_stats"}))["stats"].clone()
    }

    fn clients_via(
        &self,
        endpoint: &str,
        retry: Option<aws_config::retry::RetryConfig>,
        access_key: &str,
    ) -> CountedClients {
        let counter = CallCounter::new();
        let mut sdk = SdkConfig::builder();
        if let Some(retry) = retry {
            sdk = sdk.retry_config(retry);
        }
        let sdk = sdk
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
                Credentials::new(access_key, "testing", None, None, "ecs-autopilot-tests"),
            ))
            .build();
        CountedClients {
            ecs: counter.ecs(&sdk),
            dynamodb: counter.dynamodb(&sdk),
            autoscaling: counter.autoscaling(&sdk),
            sqs: counter.sqs(&sdk),
            counter,
        }
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
    /// Stops moto; first, unless the test already failed, fails it on any call the IAM bed
    /// refused (unless expected) or could not authorize, and adds what each function was allowed
    /// to `iam-exercised.jsonl` in the target directory (scripts/iam-unexercised reads it).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let report = self.iam_report();
            record_exercised(&report["exercised"]);
            let unknown = report["unknown"].as_array().cloned().unwrap_or_default();
            let denied = report["denied"].as_array().cloned().unwrap_or_default();
            let expected = self
                .expect_denied
                .load(std::sync::atomic::Ordering::Relaxed);
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert!(
                unknown.is_empty(),
                "calls tests/iam_table.py does not know (add a row citing the Service \
                 Authorization Reference): {unknown:?}"
            );
            assert!(
                expected || denied.is_empty(),
                "the IAM bed refused calls a function's template policy does not allow: {denied:?}"
            );
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixtures' access key: requests signed with it are not checked by the IAM bed.
pub const TEST_ACCESS_KEY: &str = "testing";
/// Logical ids of the functions in template.yaml (the IAM bed's principals).
pub const DAEMON_COUNT: &str = "DaemonCountFunction";
pub const CAPACITY_RECORDER: &str = "CapacityRecorderFunction";
pub const INSTANCE_DRAINER: &str = "InstanceDrainerFunction";
pub const TASK_DISPATCHER: &str = "TaskDispatcherFunction";

/// Creates the jobs table with the fixtures' credentials (the template creates it; the function
/// itself may not).
pub async fn create_jobs_table(moto: &Moto, table: &str) {
    autopilot_aws::DynamoJobStore::new(moto.dynamodb(), table)
        .create_table()
        .await
        .expect("create jobs table");
}

/// Appends one line per principal ({"principal": .., "actions": {..}}) to the report file.
fn record_exercised(exercised: &Value) {
    let Some(map) = exercised.as_object().filter(|m| !m.is_empty()) else {
        return;
    };
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = dir.join("iam-exercised.jsonl");
    let mut lines = String::new();
    for (principal, actions) in map {
        lines.push_str(&format!(
            "{}\n",
            json!({"principal": principal, "actions": actions})
        ));
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = f.write_all(lines.as_bytes());
    }
}
