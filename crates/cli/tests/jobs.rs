//! `ecs-autopilot jobs …` against moto: submit, list, show, cancel, and `explain` agreeing with
//! what the dispatcher then does.

use std::process::{Command, Output};

use autopilot_aws::{AwsEcs, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use integration_tests::{EcsFixture, Moto};
use serde_json::Value;

const JOBS: &str = "jobs";
const NOW: i64 = 1_800_000_000;

fn cli(moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-autopilot"))
        .args(args)
        .envs(moto.env())
        .env("JOBS_TABLE", JOBS)
        .env_remove("CAPACITY_TABLE")
        .env_remove("AWS_DEFAULT_OUTPUT")
        .output()
        .expect("run ecs-autopilot")
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} / {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_list_agree_with_what_the_dispatcher_then_does() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "batch", 1).await;
    for family in ["job", "filler"] {
        fx.ecs
            .register_task_definition()
            .family(family)
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image("busybox")
                    .memory(3741)
                    .build(),
            )
            .send()
            .await
            .expect("task definition");
    }
    // Room for exactly one of the two jobs.
    fx.start_task("filler", &hosts[0], "family:filler", None)
        .await;
    let store = DynamoJobStore::new(moto.dynamodb(), JOBS);
    store.create_table().await.expect("jobs table");

    let submit = |id: &str, priority: &str| {
        cli(
            &moto,
            &[
                "jobs",
                "submit",
                "--cluster",
                "batch",
                "--task-definition",
                "job",
                "--job-id",
                id,
                "--priority",
                priority,
                "--json",
            ],
        )
    };
    let low = submit("low", "1");
    assert!(
        low.status.success(),
        "{}",
        String::from_utf8_lossy(&low.stderr)
    );
    assert_eq!(json_out(&low)["job"]["state"], "QUEUED");
    assert!(submit("high", "9").status.success());
    assert_eq!(json_out(&submit("high", "9"))["duplicate"], true);
    let bad = submit("neg", "-1");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("priority must be an integer ≥ 0"));

    let listed = json_out(&cli(
        &moto,
        &["jobs", "list", "--cluster", "batch", "--json"],
    ));
    let ids: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|j| j["jobId"].as_str())
        .collect();
    assert_eq!(ids, ["high", "low"], "queue order");

    let explained = json_out(&cli(
        &moto,
        &["jobs", "explain", "--cluster", "batch", "--json"],
    ));
    let would_start: Vec<&str> = explained
        .as_array()
        .expect("explain")
        .iter()
        .filter(|r| r["action"] == "would_start")
        .filter_map(|r| r["job_id"].as_str())
        .collect();
    assert_eq!(would_start, ["high"]);
    let low_row = explained
        .as_array()
        .and_then(|a| a.iter().find(|r| r["job_id"] == "low"))
        .expect("low explained");
    assert_eq!(low_row["action"], "waiting");
    assert_eq!(low_row["hosts_short"], 1);

    // The dispatcher's wake-up does what explain said.
    let dispatcher: Dispatcher<DynamoJobStore, AwsEcs, DynamoCapacityStore> = Dispatcher::new(
        store,
        AwsEcs::new(moto.ecs()),
        None,
        DispatchConfig::with_jobs_table(JOBS),
    );
    let report = dispatcher
        .wake("batch", "schedule", NOW)
        .await
        .expect("wake");
    let started: Vec<&str> = report
        .jobs
        .iter()
        .filter(|r| r.action == autopilot_core::dispatch::JobAction::Started)
        .map(|r| r.job_id.as_str())
        .collect();
    assert_eq!(started, would_start);
    let high = json_out(&cli(&moto, &["jobs", "show", "high", "--json"]));
    assert_eq!(high["state"], "RUNNING");
    assert!(high["taskArn"].as_str().is_some());
    let running = json_out(&cli(
        &moto,
        &[
            "jobs",
            "list",
            "--cluster",
            "batch",
            "--state",
            "running",
            "--json",
        ],
    ));
    assert_eq!(running.as_array().map(Vec::len), Some(1));

    let cancelled = json_out(&cli(&moto, &["jobs", "cancel", "low", "--json"]));
    assert_eq!(cancelled["state"], "CANCELLED");
    let text = cli(&moto, &["jobs", "show", "low"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("QUEUED → CANCELLED: cancelled"), "{text}");
    // Issue 24: history times in RFC 3339 (UTC), not epoch seconds.
    let cancelled_at = text
        .lines()
        .find(|l| l.contains("QUEUED → CANCELLED"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("");
    assert!(
        chrono::DateTime::parse_from_rfc3339(cancelled_at).is_ok() && cancelled_at.ends_with('Z'),
        "{text}"
    );
}
