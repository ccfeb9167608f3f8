//! A fuzz and soak harness that runs on the stable toolchain: generated and mutated inputs pushed
//! through every function's handler (its parse and decide path) against the in-memory ports,
//! counting panics and any write made for an input the handler rejected as invalid.
//!
//! Targets: daemon-count, capacity-recorder, instance-drainer and task-dispatcher payloads
//! (EventBridge events of every kind, SQS batches, job submissions and cancellations), raw event
//! bytes (the parsers), and `ecs-autopilot` command lines.
//! Inputs come from the project's sample events (`events/`) and generators, then 0–3 mutations:
//! a key removed, a leaf replaced by another JSON type, the detail type or source changed, the
//! whole value wrapped, bytes truncated or flipped. Deterministic for a seed.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::daemon::{DaemonConfig, DaemonReconciler};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::drain::{DrainConfig, Drainer};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::{DrainEvent, EcsEvent};
use autopilot_core::memory::{
    InMemoryCapacityStore, InMemoryEcs, InMemoryJobStore, InMemoryLifecycle, InMemoryQueue,
};
use autopilot_core::model::{
    Attribute, ContainerInstance, InstanceStatus, Service, TaskDefinition,
};
use clap::Parser;
use serde_json::{json, Value};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
/// ECS write operations of the in-memory fake.
const ECS_WRITES: [&str; 5] = [
    "UpdateService",
    "StopTask",
    "UpdateContainerInstancesState",
    "PutAttributes",
    "DeleteAttributes",
];

const SAMPLES: [&str; 15] = [
    include_str!("../../../events/drainer-recheck-message.json"),
    include_str!("../../../events/drainer-spot-interruption-warning.json"),
    include_str!("../../../events/drainer-terminate-lifecycle-action.json"),
    include_str!("../../../events/instance-agent-disconnected.json"),
    include_str!("../../../events/instance-deregistered.json"),
    include_str!("../../../events/instance-draining.json"),
    include_str!("../../../events/instance-registered.json"),
    include_str!("../../../events/instance-task-churn.json"),
    include_str!("../../../events/scheduled-reconcile.json"),
    include_str!("../../../events/task-out-of-order-1-newer.json"),
    include_str!("../../../events/task-out-of-order-2-older.json"),
    include_str!("../../../events/task-started-duplicate.json"),
    include_str!("../../../events/task-started.json"),
    include_str!("../../../events/task-stopped.json"),
    include_str!("../../../events/unknown-detail-type.json"),
];

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What one target saw.
#[derive(Debug, Clone, Default)]
pub struct TargetReport {
    pub target: &'static str,
    pub inputs: usize,
    /// Inputs the handler answered (any answer but a panic).
    pub answered: usize,
    /// Of those, refused as invalid.
    pub rejected: usize,
    pub panics: usize,
    /// Writes made while handling an input that was refused as invalid (must be 0).
    pub writes_on_invalid: usize,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub targets: Vec<TargetReport>,
}

impl Report {
    pub fn clean(&self) -> bool {
        self.targets
            .iter()
            .all(|t| t.panics == 0 && t.writes_on_invalid == 0 && t.answered == t.inputs)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>9} {:>9} {:>9} {:>7} {:>17} {:>12}",
            "target", "inputs", "answered", "rejected", "panics", "writes_on_invalid", "inputs/s"
        )?;
        for t in &self.targets {
            let rate = t.inputs as f64 / t.elapsed.as_secs_f64().max(1e-9);
            writeln!(
                f,
                "{:<20} {:>9} {:>9} {:>9} {:>7} {:>17} {:>12.0}",
                t.target, t.inputs, t.answered, t.rejected, t.panics, t.writes_on_invalid, rate
            )?;
        }
        Ok(())
    }
}

fn random_leaf(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(-(rng.below(1000) as i64)),
        3 => json!(u64::MAX),
        4 => json!(1.5e300),
        5 => json!(""),
        6 => json!("ACTIVE"),
        7 => json!("ünïcødé \u{0} \u{202e}"),
        8 => json!([1, "x", null]),
        _ => json!({"nested": {"deeper": [{}]}}),
    }
}

/// Paths to every node of `v`, as (object key or array index) steps.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(i.to_string());
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(step)?,
            Value::Array(a) => a.get_mut(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn mutate(mut v: Value, rng: &mut Rng) -> Value {
    for _ in 0..rng.below(4) {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        match rng.below(5) {
            0 if !all.is_empty() => {
                // Remove a key.
                let path = rng.pick(&all).clone();
                if let Some((last, parent)) = path.split_last() {
                    if let Some(Value::Object(m)) = node_mut(&mut v, parent) {
                        m.remove(last);
                    }
                }
            }
            1 if !all.is_empty() => {
                let path = rng.pick(&all).clone();
                let leaf = random_leaf(rng);
                if let Some(node) = node_mut(&mut v, &path) {
                    *node = leaf;
                }
            }
            2 => {
                let types = [
                    "ECS Container Instance State Change",
                    "ECS Task State Change",
                    "Scheduled Event",
                    "EC2 Instance-terminate Lifecycle Action",
                    "EC2 Spot Instance Interruption Warning",
                    "Something New",
                ];
                let sources = ["aws.ecs", "aws.events", "aws.autoscaling", "aws.ec2", "x.y"];
                if let Value::Object(m) = &mut v {
                    m.insert("detail-type".into(), json!(rng.pick(&types)));
                    m.insert("source".into(), json!(rng.pick(&sources)));
                }
            }
            3 => v = json!([v]),
            _ => {}
        }
    }
    v
}

/// A generated input: a sample, or one of the generators, for this family of handlers.
fn generated(rng: &mut Rng) -> Value {
    let host = format!(
        "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/h{}",
        rng.below(8)
    );
    let status = *rng.pick(&["ACTIVE", "DRAINING", "INACTIVE", "REGISTERING", "NEW"]);
    match rng.below(6) {
        0 | 1 => serde_json::from_str(SAMPLES[rng.below(SAMPLES.len())]).unwrap_or(Value::Null),
        2 => json!({"version": "0", "detail-type": "ECS Container Instance State Change",
            "source": "aws.ecs", "time": "2026-11-22T06:00:00Z", "detail": {
            "clusterArn": CLUSTER, "containerInstanceArn": host, "status": status,
            "ec2InstanceId": format!("i-{}", rng.below(8)), "agentConnected": rng.below(2) == 0,
            "version": rng.below(100), "remainingResources": [
                {"name": "MEMORY", "type": "INTEGER", "integerValue": rng.below(8000)}],
            "attributes": [{"name": "ecs-autopilot.spot-resume", "value": "stopped/3"}]}}),
        3 => json!({"version": "0", "detail-type": "ECS Task State Change", "source": "aws.ecs",
            "time": "2026-11-22T06:00:00Z", "detail": {"clusterArn": CLUSTER,
            "taskArn": format!("arn:aws:ecs:us-east-1:123456789012:task/prod/t{}", rng.below(16)),
            "containerInstanceArn": host, "lastStatus": *rng.pick(&["RUNNING", "STOPPED", "PENDING"]),
            "memory": *rng.pick(&["256", "x", "-5"]), "version": rng.below(50),
            "group": "service:logs"}}),
        4 => json!({"version": "0", "detail-type": "EC2 Instance-terminate Lifecycle Action",
            "source": "aws.autoscaling", "time": "2026-11-22T06:00:00Z", "detail": {
            "LifecycleActionToken": format!("tok-{}", rng.below(4)), "AutoScalingGroupName": "asg",
            "LifecycleHookName": *rng.pick(&["ecs-autopilot-drain", "flush-logs"]),
            "EC2InstanceId": format!("i-{}", rng.below(8)),
            "NotificationMetadata": "{\"cluster\":\"prod\"}"}}),
        _ => {
            let body = json!({"kind": "ecs-autopilot.instance-drainer.recheck", "cluster": CLUSTER,
                "containerInstanceArn": host, "lifecycle": {"autoScalingGroupName": "asg",
                "lifecycleHookName": "ecs-autopilot-drain", "lifecycleActionToken": "tok-1",
                "ec2InstanceId": "i-1"}, "startedAt": 1_795_327_200i64, "attempt": rng.below(5)});
            let body = if rng.below(3) == 0 {
                "{not json".to_string()
            } else {
                body.to_string()
            };
            json!({"Records": [{"messageId": "m1", "body": body, "eventSource": "aws:sqs"}]})
        }
    }
}

/// A task-dispatcher submission of one of the cluster's task definitions (or an unknown one).
fn submission(rng: &mut Rng) -> Value {
    json!({"action": "submit", "job": {
        "jobId": format!("j{}", rng.below(32)), "cluster": *rng.pick(&["prod", CLUSTER, "other"]),
        "taskDefinition": *rng.pick(&["td-logs", "td-missing"]),
        "priority": rng.below(12) as i64 - 1, "maxWaitSeconds": rng.below(600),
        "maxAttempts": rng.below(4),
        "overrides": {"memory": *rng.pick(&[json!(64), json!("x"), json!(-1)])}}})
}

fn input(rng: &mut Rng) -> Value {
    let v = generated(rng);
    mutate(v, rng)
}

fn cluster() -> InMemoryEcs {
    let ecs = InMemoryEcs::new();
    for i in 0..8 {
        let mut ci = ContainerInstance::new(
            format!("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/h{i}"),
            if i == 7 {
                InstanceStatus::Draining
            } else {
                InstanceStatus::Active
            },
        );
        ci.ec2_instance_id = Some(format!("i-{i}"));
        ci.agent_connected = Some(i != 3);
        ci.running_tasks_count = Some(0);
        ci.attributes.push(Attribute {
            name: "ecs.instance-type".into(),
            value: Some("t3.large".into()),
        });
        ecs.add_instance(CLUSTER, ci);
    }
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("ecs-autopilot:daemon".to_string(), "true".to_string());
    ecs.add_service(
        CLUSTER,
        Service {
            arn: "arn:aws:ecs:us-east-1:123456789012:service/prod/logs".into(),
            name: "logs".into(),
            status: "ACTIVE".into(),
            task_definition: Some("td-logs".into()),
            tags,
            launch_type: Some("EC2".into()),
            ..Default::default()
        },
    );
    ecs.add_task_definition(TaskDefinition {
        arn: "td-logs".into(),
        memory: Some(128),
        ..Default::default()
    });
    ecs
}

fn ecs_writes(ecs: &InMemoryEcs) -> usize {
    ECS_WRITES.iter().map(|op| ecs.count_calls(op)).sum()
}

/// Runs `one` over `inputs` generated inputs; `one` returns (rejected as invalid, writes made).
fn soak_target(
    target: &'static str,
    inputs: usize,
    rng: &mut Rng,
    mut one: impl FnMut(&mut Rng) -> (bool, usize),
) -> TargetReport {
    let mut r = TargetReport {
        target,
        inputs,
        ..TargetReport::default()
    };
    let started = Instant::now();
    for _ in 0..inputs {
        match catch_unwind(AssertUnwindSafe(|| one(rng))) {
            Ok((rejected, writes)) => {
                r.answered += 1;
                if rejected {
                    r.rejected += 1;
                    if writes > 0 {
                        r.writes_on_invalid += 1;
                    }
                }
            }
            Err(_) => r.panics += 1,
        }
    }
    r.elapsed = started.elapsed();
    r
}

/// Pushes `inputs` inputs through each target; deterministic for `seed`.
pub fn run(inputs: usize, seed: u64) -> Report {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // panics are counted, not printed
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            std::panic::set_hook(previous_hook);
            eprintln!("cannot start a runtime: {e}");
            return Report::default();
        }
    };
    let mut rng = Rng(seed.max(1));
    let mut report = Report::default();

    // daemon-count: handling every input at time 0 keeps every valid event from being "covered",
    // so each one runs the whole read-decide path.
    let reconciler = DaemonReconciler::new(cluster(), DaemonConfig::default());
    report
        .targets
        .push(soak_target("daemon-count", inputs, &mut rng, |rng| {
            let payload = input(rng);
            reconciler.ecs().clear_calls();
            let result = rt.block_on(daemon_count::handle_until(&reconciler, payload, None, 0));
            let invalid = matches!(result, Err(daemon_count::HandlerError::Event(_)));
            (invalid, ecs_writes(reconciler.ecs()))
        }));

    let recorder = CapacityRecorder::new(
        InMemoryCapacityStore::new(),
        cluster(),
        RecorderConfig {
            table: "t".into(),
            clusters: ClusterScope::All,
        },
    );
    report
        .targets
        .push(soak_target("capacity-recorder", inputs, &mut rng, |rng| {
            let payload = input(rng);
            let before = recorder.store().count_calls("UpdateItem");
            let result = rt.block_on(capacity_recorder::handle(&recorder, payload, 1_800_000_000));
            let invalid = match &result {
                Err(capacity_recorder::HandlerError::Event(_)) => true,
                Ok(r) => r.rejected.is_some(),
                Err(_) => false,
            };
            let after = recorder.store().count_calls("UpdateItem");
            (invalid, after - before)
        }));

    // The lifecycle fake keeps every call: a fresh drainer every few thousand inputs keeps each
    // input's cost flat.
    let new_drainer = || {
        Drainer::new(
            cluster(),
            InMemoryLifecycle::new(),
            InMemoryQueue::new(),
            DrainConfig::with_queue("https://q"),
        )
    };
    let mut drainer = new_drainer();
    let mut handled = 0usize;
    report
        .targets
        .push(soak_target("instance-drainer", inputs, &mut rng, |rng| {
            handled += 1;
            if handled.is_multiple_of(4_096) {
                drainer = new_drainer();
            }
            let payload = input(rng);
            drainer.ecs().clear_calls();
            let lifecycle_before = drainer.autoscaling().calls().len();
            let result = rt.block_on(instance_drainer::handle(
                &drainer,
                payload,
                None,
                1_795_327_230,
            ));
            let invalid = match &result {
                Err(instance_drainer::HandlerError::Event(_)) => true,
                // A batch whose every message was refused is an invalid input too.
                Ok(r) => r.batch().is_some_and(|b| b.records.is_empty()),
                Err(_) => false,
            };
            let writes = ecs_writes(drainer.ecs())
                + (drainer.autoscaling().calls().len() - lifecycle_before)
                + drainer.queue().drain().len();
            (invalid, writes)
        }));

    // task-dispatcher: submissions and cancellations (generated, then mutated) and ECS events.
    // A fresh job store every few thousand inputs keeps each wake-up's Query flat.
    let new_dispatcher = || {
        Dispatcher::new(
            InMemoryJobStore::new(),
            cluster(),
            None::<InMemoryCapacityStore>,
            DispatchConfig::with_jobs_table("jobs"),
        )
    };
    let mut dispatcher = new_dispatcher();
    let mut handled = 0usize;
    report
        .targets
        .push(soak_target("task-dispatcher", inputs, &mut rng, |rng| {
            handled += 1;
            if handled.is_multiple_of(4_096) {
                dispatcher = new_dispatcher();
            }
            let payload = match rng.below(3) {
                0 => input(rng),
                1 => mutate(
                    json!({"action": "cancel", "jobId": format!("j{}", rng.below(32))}),
                    rng,
                ),
                _ => mutate(submission(rng), rng),
            };
            let writes = |d: &Dispatcher<_, InMemoryEcs, InMemoryCapacityStore>| {
                let s: &InMemoryJobStore = d.store();
                s.count_calls("PutItem")
                    + s.count_calls("UpdateItem")
                    + s.count_calls("DeleteItem")
                    + d.ecs().count_calls("RunTask")
                    + ecs_writes(d.ecs())
            };
            let before = writes(&dispatcher);
            let result = rt.block_on(task_dispatcher::handle(&dispatcher, payload, 1_800_000_000));
            let invalid = matches!(
                result,
                Err(task_dispatcher::HandlerError::Event(_)
                    | task_dispatcher::HandlerError::InvalidJob(_))
            );
            (invalid, writes(&dispatcher) - before)
        }));

    report.targets.push(soak_target(
        "event parsers (bytes)",
        inputs,
        &mut rng,
        |rng| {
            let mut bytes = input(rng).to_string().into_bytes();
            match rng.below(3) {
                0 => bytes.truncate(rng.below(bytes.len() + 1)),
                1 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
                _ => {}
            }
            let a = EcsEvent::from_slice(&bytes).is_err();
            let b = DrainEvent::from_slice(&bytes).is_err();
            (a && b, 0)
        },
    ));

    let words = [
        "capacity",
        "show",
        "can-place",
        "filter",
        "create-table",
        "daemon",
        "reconcile",
        "--cluster",
        "prod",
        "--memory",
        "-1",
        "99999999999999999999",
        "--cpu",
        "256",
        "--count",
        "0",
        "10001",
        "--constraint",
        "memberOf:attribute:x ==",
        "distinctInstance",
        "--json",
        "--table",
        "",
        "--all-statuses",
        "attribute:ecs.instance-type =~ (",
        "--help",
    ];
    report
        .targets
        .push(soak_target("cli arguments", inputs, &mut rng, |rng| {
            let mut argv = vec!["ecs-autopilot".to_string()];
            for _ in 0..rng.below(8) {
                argv.push(rng.pick(&words).to_string());
            }
            (ecs_autopilot::Cli::try_parse_from(argv).is_err(), 0)
        }));

    std::panic::set_hook(previous_hook);
    report
}
