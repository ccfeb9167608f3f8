//! `jobs submit`: validates a job and stores it QUEUED in the jobs table (the same checks and
//! the same conditional create as the function's `{"action": "submit"}`), then sends
//! `{"action": "wake", "cluster": ...}` to the dispatcher's queue (`--queue-url`, the stack's
//! `TaskDispatcherQueueUrl`), so task-dispatcher reads it with its other messages and the job
//! starts at once if it fits. Without a queue URL it starts on the dispatcher's next event or
//! its one-minute sweep. The submission's keys: docs/submission.schema.json.

use aws_config::SdkConfig;
use clap::Args;
use serde_json::{json, Map, Value};

use autopilot_aws::AwsSqs;
use autopilot_core::ports::RecheckQueue;

use super::JobsArgs;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct JobsSubmit {
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Cluster name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// Task definition (family, family:revision or ARN).
    #[arg(long)]
    pub task_definition: String,
    /// Job id (idempotent: the same id twice is one job); generated when absent.
    #[arg(long)]
    pub job_id: Option<String>,
    /// Priority, an integer ≥ 0; higher first (a negative value is refused by the job's checks).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
    /// Expire the job if it waited this long.
    #[arg(long)]
    pub max_wait_seconds: Option<i64>,
    /// Runs before FAILED (1–10).
    #[arg(long)]
    pub max_attempts: Option<i64>,
    /// How long one run is expected to take: orders work (backfill), never stops it. Default:
    /// learned from the task definition family's succeeded runs, else 600.
    #[arg(long)]
    pub expected_seconds: Option<i64>,
    /// Stop a run still going after this long; its attempt fails (60 to 1209600).
    #[arg(long)]
    pub timeout_seconds: Option<i64>,
    /// Placement constraint, repeatable: `memberOf:EXPRESSION` or `distinctInstance`.
    #[arg(long = "constraint")]
    pub constraints: Vec<String>,
    /// Placement strategy, repeatable: `binpack:memory`, `spread:attribute:NAME`, `random`, ...
    #[arg(long = "strategy")]
    pub strategies: Vec<String>,
    /// RunTask `group`.
    #[arg(long)]
    pub group: Option<String>,
    /// RunTask `launchType`.
    #[arg(long)]
    pub launch_type: Option<String>,
    /// RunTask `overrides`, as RunTask's JSON.
    #[arg(long)]
    pub overrides: Option<String>,
    /// Tag `KEY=VALUE`, repeatable.
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// The dispatcher's queue (the stack's TaskDispatcherQueueUrl): a wake-up is sent there
    /// after the job is stored, so it starts at once (needs sqs:SendMessage on it).
    #[arg(long = "queue-url", env = "JOBS_QUEUE_URL")]
    pub queue_url: Option<String>,
}

impl JobsSubmit {
    /// The submission as the function receives it (`job` of `{"action": "submit"}`).
    pub fn submission(&self) -> Result<Value, CliError> {
        let mut job = Map::new();
        job.insert("cluster".into(), json!(self.cluster));
        job.insert("taskDefinition".into(), json!(self.task_definition));
        job.insert("priority".into(), json!(self.priority));
        if let Some(id) = &self.job_id {
            job.insert("jobId".into(), json!(id));
        }
        if let Some(w) = self.max_wait_seconds {
            job.insert("maxWaitSeconds".into(), json!(w));
        }
        if let Some(a) = self.max_attempts {
            job.insert("maxAttempts".into(), json!(a));
        }
        if let Some(e) = self.expected_seconds {
            job.insert("expectedSeconds".into(), json!(e));
        }
        if let Some(t) = self.timeout_seconds {
            job.insert("timeoutSeconds".into(), json!(t));
        }
        if !self.constraints.is_empty() {
            let list = typed_list(&self.constraints, "expression");
            job.insert("placementConstraints".into(), list);
        }
        if !self.strategies.is_empty() {
            let list = typed_list(&self.strategies, "field");
            job.insert("placementStrategy".into(), list);
        }
        if let Some(g) = &self.group {
            job.insert("group".into(), json!(g));
        }
        if let Some(l) = &self.launch_type {
            job.insert("launchType".into(), json!(l));
        }
        if let Some(o) = &self.overrides {
            let v: Value = serde_json::from_str(o)
                .map_err(|e| CliError::Usage(format!("--overrides is not JSON: {e}")))?;
            job.insert("overrides".into(), v);
        }
        if !self.tags.is_empty() {
            let mut list = Vec::new();
            for t in &self.tags {
                let (k, v) = t
                    .split_once('=')
                    .ok_or_else(|| CliError::Usage(format!("--tag {t:?} is not KEY=VALUE")))?;
                list.push(json!({"key": k, "value": v}));
            }
            job.insert("tags".into(), Value::Array(list));
        }
        Ok(Value::Object(job))
    }

    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        let submission = self.submission()?;
        let dispatcher = self.jobs.dispatcher(sdk, None);
        let result = dispatcher
            .enqueue(submission, autopilot_core::clock::unix_now())
            .await?;
        render::submitted(out, &result, &self.jobs.style());
        if result.duplicate || result.skipped.is_some() {
            return Ok(EXIT_OK);
        }
        match &self.queue_url {
            // The job is stored either way; a wake-up that could not be sent only delays it.
            Some(url) => {
                let queue = AwsSqs::new(aws_sdk_sqs::Client::new(sdk), url);
                let wake = wake_message(&result.job.spec.cluster);
                if let Err(e) = queue.send_recheck(&wake, 0).await {
                    eprintln!(
                        "warning: the wake-up was not sent to {url} ({e}); the job starts on \
                         task-dispatcher's next event or its sweep (within a minute)"
                    );
                }
            }
            None => eprintln!(
                "note: no --queue-url (JOBS_QUEUE_URL): the job starts on task-dispatcher's next \
                 event or its sweep (within a minute)"
            ),
        }
        Ok(EXIT_OK)
    }
}

/// The message that wakes the dispatcher for a cluster.
pub fn wake_message(cluster: &str) -> String {
    json!({"action": "wake", "cluster": cluster}).to_string()
}

/// `TYPE:VALUE` or `TYPE` arguments as ECS's `[{"type": TYPE, "<value_name>": VALUE}]` (placement
/// constraints: `expression`; placement strategies: `field`).
fn typed_list(arguments: &[String], value_name: &str) -> Value {
    let list = arguments.iter().map(|a| match a.split_once(':') {
        Some((kind, value)) => json!({"type": kind, value_name: value}),
        None => json!({"type": a}),
    });
    Value::Array(list.collect())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use crate::{Cli, Command, JobsCommand};

    #[test]
    fn constraints_and_strategies_become_ecs_shaped_lists() {
        let cli = Cli::try_parse_from([
            "ecs-autopilot",
            "jobs",
            "submit",
            "--jobs-table",
            "jobs",
            "--cluster",
            "batch",
            "--task-definition",
            "job",
            "--constraint",
            "memberOf:attribute:ecs.instance-type =~ t3.*",
            "--constraint",
            "distinctInstance",
            "--strategy",
            "spread:attribute:ecs.availability-zone",
            "--strategy",
            "random",
            "--expected-seconds",
            "300",
            "--timeout-seconds",
            "900",
        ])
        .expect("arguments");
        let Command::Jobs(JobsCommand::Submit(submit)) = cli.command else {
            panic!("not jobs submit");
        };
        let job = submit.submission().expect("submission");
        assert_eq!(
            job["placementConstraints"],
            json!([
                {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"},
                {"type": "distinctInstance"}
            ])
        );
        assert_eq!(
            (&job["expectedSeconds"], &job["timeoutSeconds"]),
            (&json!(300), &json!(900))
        );
        assert_eq!(
            job["placementStrategy"],
            json!([
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
                {"type": "random"}
            ])
        );
    }
}
