//! The `ecs-autopilot` binary against moto: a user's view (arguments, output, exit codes).

/// Issue 24's acceptance (`--test cli habits::`; scripts/acceptance runs it on the release binary).
#[path = "cli/habits.rs"]
mod habits;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use autopilot_aws::{AwsEcs, DynamoCapacityStore};
use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::env::ClusterScope;
use autopilot_core::memory::InMemoryEcs;
use integration_tests::{EcsFixture, HostEvent, Moto, ACCOUNT, REGION};
use serde_json::{json, Value};

const TABLE: &str = "capacity";
/// The recorder's clock in these tests (2026-11-22T06:00:00Z, the fixtures' event time): TTLs
/// are computed from it, so it must be a realistic time, not the epoch.
const NOW: i64 = integration_tests::LIFECYCLE_EVENT_UNIX;

fn cli(moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-autopilot"))
        .args(args)
        .envs(moto.env())
        .env("CAPACITY_TABLE", TABLE)
        .env_remove("DAEMON_SERVICES")
        .env_remove("DRY_RUN")
        .env_remove("AWS_DEFAULT_OUTPUT")
        .output()
        .expect("run ecs-autopilot")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

async fn table(moto: &Moto) -> DynamoCapacityStore {
    let store = DynamoCapacityStore::new(moto.dynamodb(), TABLE);
    store.create_table().await.expect("create table");
    store
}

fn host_event(i: usize, status: &str, free_mem: i64, az: &str) -> Value {
    host_event_in("frag", i, status, true, free_mem, az)
}

fn host_event_in(
    cluster: &str,
    i: usize,
    status: &str,
    connected: bool,
    free_mem: i64,
    az: &str,
) -> Value {
    HostEvent {
        cluster,
        region: REGION,
        index: i,
        ec2_instance_id: format!("i-{i:04}"),
        status,
        connected,
        instance_type: "t3.small",
        zone: az,
        cpu: (2048, 1024),
        memory: (1900, free_mem),
        ports_in_use: &["22"],
        running_tasks: 3,
    }
    .event()
}

fn event_recorder(
    store: DynamoCapacityStore,
) -> CapacityRecorder<DynamoCapacityStore, InMemoryEcs> {
    CapacityRecorder::new(
        store,
        InMemoryEcs::new(),
        RecorderConfig {
            table: TABLE.into(),
            clusters: ClusterScope::All,
        },
    )
}

/// 5 ACTIVE hosts with 100 MiB free each, and a DRAINING one with plenty (which must not count).
async fn fragmented_cluster(moto: &Moto) {
    let rec = event_recorder(table(moto).await);
    for i in 0..5 {
        let az = if i % 2 == 0 {
            "us-east-1a"
        } else {
            "us-east-1b"
        };
        capacity_recorder::handle(&rec, host_event(i, "ACTIVE", 100, az), NOW)
            .await
            .expect("event");
    }
    capacity_recorder::handle(&rec, host_event(9, "DRAINING", 1500, "us-east-1a"), NOW)
        .await
        .expect("event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_place_answers_host_by_host_not_by_summing() {
    let moto = Moto::start();
    fragmented_cluster(&moto).await;

    // 5 × 100 MiB free is 500 MiB in total, but no single host fits 200 MiB.
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "frag",
            "--memory",
            "200",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let j = json_out(&o);
    assert_eq!(j["fits"], json!(false));
    assert_eq!(j["instances"], json!([]));
    let reason = j["reason"].as_str().expect("reason");
    assert!(reason.contains("200") && reason.contains("100"), "{reason}");
    assert!(
        reason.contains("on i-00"),
        "names the host by its EC2 id: {reason}"
    );

    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "frag",
            "--memory",
            "200",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("does not fit"), "{}", stdout(&o));

    // 90 MiB × 5 fits, one per host, never on the DRAINING host.
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "frag",
            "--memory",
            "90",
            "--count",
            "5",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let j = json_out(&o);
    assert_eq!(j["fits"], json!(true));
    let mut chosen: Vec<String> = j["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|v| v.as_str().expect("arn").to_string())
        .collect();
    chosen.sort();
    chosen.dedup();
    assert_eq!(chosen.len(), 5, "one per host: {j}");
    assert!(
        chosen.iter().all(|a| !a.ends_with("/h09")),
        "the DRAINING host is not used: {j}"
    );

    // A sixth does not fit.
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "frag",
            "--memory",
            "90",
            "--count",
            "6",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    // Strategies are accepted and applied; spread over AZ alternates zones.
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "frag",
            "--memory",
            "50",
            "--count",
            "2",
            "--constraint",
            "distinctInstance",
            "--strategy",
            "spread:attribute:ecs.availability-zone",
            "--strategy",
            "binpack:memory",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let ids = json_out(&o)["ec2_instance_ids"].clone();
    let az = |id: &Value| {
        let n: usize = id.as_str().unwrap_or("i-0")[2..].parse().unwrap_or(0);
        n % 2
    };
    let ids = ids.as_array().expect("ids");
    assert_ne!(az(&ids[0]), az(&ids[1]), "spread over two zones: {ids:?}");

    // `--strategy random` with `--seed`: the same seed gives the same answer; seeds differ.
    let random = |seed: &str| {
        let o = cli(
            &moto,
            &[
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "50",
                "--count",
                "2",
                "--strategy",
                "random",
                "--seed",
                seed,
                "--json",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        json_out(&o)["instances"].clone()
    };
    assert_eq!(random("7"), random("7"), "deterministic for a seed");
    let firsts: std::collections::BTreeSet<String> = (0..8)
        .map(|seed| {
            random(&seed.to_string())[0]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        firsts.len() >= 2,
        "different seeds choose different hosts: {firsts:?}"
    );
    assert!(
        firsts.iter().all(|a| !a.ends_with("/h09")),
        "never the DRAINING host: {firsts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_filter_read_the_table() {
    let moto = Moto::start();
    fragmented_cluster(&moto).await;
    let o = cli(&moto, &["capacity", "show", "--cluster", "frag"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.contains("i-0009") && text.contains("DRAINING"),
        "{text}"
    );
    assert!(text.contains("6 host(s), 5 schedulable"), "{text}");
    assert!(text.contains("memory 500 of 11400 MiB"), "{text}");

    let j = json_out(&cli(
        &moto,
        &["capacity", "show", "--cluster", "frag", "--json"],
    ));
    assert_eq!(j["totals"]["hosts"], json!(6));
    assert_eq!(j["totals"]["remaining_memory"], json!(500));
    assert_eq!(j["hosts"].as_array().map(Vec::len), Some(6));

    let o = cli(
        &moto,
        &[
            "capacity",
            "filter",
            "--cluster",
            "frag",
            "--expression",
            "attribute:ecs.availability-zone == us-east-1b",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_out(&o)["instances"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2_with_a_message() {
    let moto = Moto::start();
    fragmented_cluster(&moto).await;
    for (args, want) in [
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "10",
                "--strategy",
                "fastest",
            ],
            "unknown placement strategy",
        ),
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "10",
                "--constraint",
                "memberOf:attribute:x ==",
            ],
            "column",
        ),
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "0",
            ],
            "--memory",
        ),
        (
            vec![
                "capacity",
                "filter",
                "--cluster",
                "frag",
                "--expression",
                "attribute:stack foo",
            ],
            "column 17",
        ),
        (
            vec!["capacity", "can-place", "--cluster", "frag"],
            "--memory",
        ),
        // A count the simulation refuses (it would otherwise try to allocate for it).
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "10",
                "--count",
                "10001",
            ],
            "--count must be between 1 and 10000 (got 10001)",
        ),
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "10",
                "--count",
                "18446744073709551615",
            ],
            "--count must be between 1 and 10000",
        ),
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "10",
                "--count",
                "0",
            ],
            "--count must be between 1 and 10000 (got 0)",
        ),
    ] {
        let o = cli(&moto, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            o.stdout.is_empty(),
            "{args:?}: no answer printed: {}",
            stdout(&o)
        );
    }
    // Configuration errors (issue 24: 253, not usage's 2).
    for (args, want) in [
        // A mistyped cluster: no items at all in the table.
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "fragg",
                "--memory",
                "10",
            ],
            "cluster fragg has no hosts in table capacity (wrong name, or the recorder has not run)",
        ),
        (
            vec!["capacity", "show", "--cluster", "fragg"],
            "cluster fragg has no hosts in table capacity",
        ),
        // The table does not exist (DynamoDB's ResourceNotFoundException).
        (
            vec![
                "capacity",
                "can-place",
                "--cluster",
                "frag",
                "--memory",
                "10",
                "--table",
                "no-such-table",
            ],
            "capacity table Query failed",
        ),
    ] {
        let o = cli(&moto, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(253), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: no answer printed: {}", stdout(&o));
    }
    // No table configured anywhere.
    let o = Command::new(env!("CARGO_BIN_EXE_ecs-autopilot"))
        .args(["capacity", "show", "--cluster", "frag"])
        .envs(moto.env())
        .env_remove("CAPACITY_TABLE")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--table"));
}

fn arns(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|a| a.as_str().expect("arn").to_string())
        .collect()
}

/// The query-language acceptance: a daemon service constrained to t3 hosts gets desired = its
/// eligible t3 hosts, and `capacity filter` and `can-place --constraint` name exactly those hosts
/// — not the DRAINING t3 host, not the disconnected one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_count_filter_and_can_place_agree_on_a_member_of_expression() {
    let moto = Moto::start();
    let fx = EcsFixture::new(&moto, "agree").await;
    let t3: BTreeSet<String> = fx
        .add_hosts("t3.large", "us-east-1a", 3)
        .await
        .into_iter()
        .collect();
    let draining = fx.add_hosts("t3.large", "us-east-1b", 1).await.remove(0);
    fx.set_draining(&draining).await;
    let (draining_ec2, _) = fx.host(&draining).await;
    fx.add_hosts("m5.large", "us-east-1b", 2).await;
    let expression = "attribute:ecs.instance-type =~ t3.*";
    let td = fx
        .register_task_definition("t3-agent", Some(expression))
        .await;
    fx.create_service(
        "t3-agent",
        &td,
        0,
        &[("ecs-autopilot:daemon", "true")],
        false,
    )
    .await;

    // The table, filled by the sweep from moto's ECS.
    let store = table(&moto).await;
    let rec = CapacityRecorder::new(
        store.clone(),
        AwsEcs::new(moto.ecs()),
        RecorderConfig {
            table: TABLE.into(),
            clusters: ClusterScope::Only(vec!["agree".into()]),
        },
    );
    let report = rec.sweep_cluster("agree", NOW).await.expect("sweep");
    assert_eq!(report.hosts, 6, "{report:?}");
    // moto reports every agent connected, so the disconnected t3 host comes from an event only:
    // daemon-count (reading moto) never sees it; filter and can-place must leave it out.
    let disconnected = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/agree/h77");
    let mut event = host_event_in("agree", 77, "ACTIVE", false, 7000, "us-east-1a");
    event["detail"]["attributes"][0]["value"] = json!("t3.large");
    capacity_recorder::handle(&event_recorder(store), event, NOW)
        .await
        .expect("event");

    let o = cli(
        &moto,
        &["daemon", "reconcile", "--cluster", "agree", "--json"],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = json_out(&o);
    let decision = &report["services"][0];
    assert_eq!(decision["service"], json!("t3-agent"));
    assert_eq!(decision["new_desired"], json!(3));
    assert_eq!(decision["excluded"]["draining"], json!([draining_ec2]));
    assert_eq!(
        decision["excluded"]["constraint"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(fx.desired_count("t3-agent").await, 3);

    let filter = |extra: Option<&str>| {
        let mut args = vec![
            "capacity",
            "filter",
            "--cluster",
            "agree",
            "--expression",
            expression,
            "--json",
        ];
        args.extend(extra);
        let o = cli(&moto, &args);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        arns(&json_out(&o)["instances"])
    };
    assert_eq!(
        filter(None),
        t3,
        "filter names the hosts daemon-count counts"
    );
    let mut every_t3 = t3.clone();
    every_t3.insert(draining.clone());
    every_t3.insert(disconnected.clone());
    assert_eq!(
        filter(Some("--all-statuses")),
        every_t3,
        "--all-statuses adds the DRAINING and the disconnected t3 hosts"
    );

    let member_of = format!("memberOf:{expression}");
    let args = |count: &'static str| {
        vec![
            "capacity",
            "can-place",
            "--cluster",
            "agree",
            "--memory",
            "64",
            "--count",
            count,
            "--constraint",
            member_of.as_str(),
            "--constraint",
            "distinctInstance",
            "--json",
        ]
    };
    let o = cli(&moto, &args("3"));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        arns(&json_out(&o)["instances"]),
        t3,
        "can-place uses exactly the hosts filter names"
    );
    let o = cli(&moto, &args("4"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a 4th task has no distinct schedulable t3 host: {}",
        stdout(&o)
    );
}

/// A cluster whose hosts are all DRAINING or disconnected: "does not fit", saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_place_names_why_no_host_is_schedulable() {
    let moto = Moto::start();
    let rec = event_recorder(table(&moto).await);
    for (i, status, connected) in [
        (1, "DRAINING", true),
        (2, "DRAINING", true),
        (3, "DRAINING", true),
        (4, "ACTIVE", false),
    ] {
        let e = host_event_in("idle", i, status, connected, 4000, "us-east-1a");
        capacity_recorder::handle(&rec, e, NOW)
            .await
            .expect("event");
    }
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "idle",
            "--memory",
            "64",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        json_out(&o)["reason"],
        json!("no ACTIVE connected host: 3 DRAINING, 1 disconnected")
    );
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "idle",
            "--memory",
            "64",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("no ACTIVE connected host: 3 DRAINING, 1 disconnected"),
        "{}",
        stdout(&o)
    );
    // filter agrees: no schedulable host matches anything.
    let o = cli(
        &moto,
        &[
            "capacity",
            "filter",
            "--cluster",
            "idle",
            "--expression",
            "attribute:ecs.instance-type exists",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_out(&o)["instances"], json!([]));
}

/// `daemon reconcile --dry-run` (the flag, not DRY_RUN) writes nothing; a service that could not
/// be reconciled makes the command exit 254 (an AWS failure) after printing the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_reconcile_dry_run_writes_nothing_and_a_failed_service_exits_254() {
    let moto = Moto::start();
    let fx = EcsFixture::new(&moto, "dry").await;
    fx.add_hosts("t3.large", "us-east-1a", 2).await;
    let td = fx.register_task_definition("agent", None).await;
    fx.create_service("agent", &td, 0, &[("ecs-autopilot:daemon", "true")], false)
        .await;

    let o = cli(
        &moto,
        &[
            "daemon",
            "reconcile",
            "--cluster",
            "dry",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decision = &json_out(&o)["services"][0];
    assert_eq!(decision["action"], json!("dry_run"));
    assert_eq!(decision["new_desired"], json!(2));
    assert_eq!(
        fx.desired_count("agent").await,
        0,
        "--dry-run wrote nothing"
    );

    // A second daemon service whose task definition ECS can no longer describe: reading it
    // fails, the service is reported `failed`, and the command exits 254 naming it.
    let broken = fx.register_task_definition("broken", None).await;
    fx.create_service(
        "broken",
        &broken,
        0,
        &[("ecs-autopilot:daemon", "true")],
        false,
    )
    .await;
    fx.ecs
        .deregister_task_definition()
        .task_definition(&broken)
        .send()
        .await
        .expect("deregister");
    fx.ecs
        .delete_task_definitions()
        .task_definitions(&broken)
        .send()
        .await
        .expect("delete");

    let o = cli(&moto, &["daemon", "reconcile", "--cluster", "dry"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(254), "{err}");
    assert!(
        err.contains("1 service(s) failed") && err.contains("broken: "),
        "{err}"
    );
    let text = stdout(&o);
    assert!(
        text.contains("agent") && text.contains("updated") && text.contains("failed"),
        "the report is still printed: {text}"
    );
    assert_eq!(
        fx.desired_count("agent").await,
        2,
        "the other service was reconciled"
    );
}

// ---- issue 14: what a question reads, gone clusters, registeredAt from events ----

/// moto's read accounting (tests/moto_server.py): items each Query read before its filter.
fn accounting(moto: &Moto, enable: bool) -> Value {
    moto.command(json!({"op": "dynamodb_accounting", "enable": enable}))
}

/// Task items of stopped tasks and tombstones on the hosts `h00..h{hosts}` of `cluster`, written
/// with BatchWriteItem (the items the recorder writes, without a request per item).
async fn history(moto: &Moto, cluster: &str, hosts: usize, count: usize) {
    use autopilot_core::capacity::{with_task_ttl, Record, TaskRecord};
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let requests: Vec<WriteRequest> = (0..count)
        .map(|i| {
            let record: Record = with_task_ttl(
                TaskRecord {
                    cluster_arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"),
                    task: autopilot_core::model::Task {
                        arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/old{i:05}"),
                        cluster_arn: None,
                        container_instance_arn: Some(format!(
                            "arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/h{:02}",
                            i % hosts
                        )),
                        group: Some("service:batch".into()),
                        started_by: None,
                        last_status: Some(if i % 3 == 0 { "RUNNING" } else { "STOPPED" }.into()),
                        desired_status: Some("STOPPED".into()),
                        cpu: None,
                        memory: Some(512),
                        launch_type: Some("EC2".into()),
                        version: Some(4),
                    },
                    updated_at: None,
                    tombstone: i % 3 == 0,
                    expires_at: None,
                },
                NOW,
            );
            let put = PutRequest::builder()
                .set_item(Some(autopilot_aws::dynamodb::to_item(&record)))
                .build()
                .expect("put request");
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let ddb = moto.dynamodb();
    for batch in requests.chunks(25) {
        let out = ddb
            .batch_write_item()
            .request_items(TABLE, batch.to_vec())
            .send()
            .await
            .expect("batch write");
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
}

/// The acceptance in small: with thousands of stopped and tombstoned task items in the
/// table, a question without task groups reads the host items only (DynamoDB read units are paid
/// by the items a Query reads, filtered or not), and the answer is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_questions_read_live_items_only() {
    let moto = Moto::start();
    let rec = event_recorder(table(&moto).await);
    let hosts = 50;
    for i in 0..hosts {
        let e = host_event_in("batch", i, "ACTIVE", true, 1000 + i as i64, "us-east-1a");
        capacity_recorder::handle(&rec, e, NOW)
            .await
            .expect("event");
    }
    history(&moto, "batch", hosts, 2_000).await;

    accounting(&moto, true);
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "batch",
            "--memory",
            "1040",
            "--count",
            "9",
            "--json",
        ],
    );
    let reads = accounting(&moto, false);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let j = json_out(&o);
    assert_eq!(
        j["instances"].as_array().map(Vec::len),
        Some(9),
        "9 of h40..h49 (the hosts with 1040 MiB free or more): {j}"
    );
    assert_eq!(
        reads["scanned_items"],
        json!(hosts),
        "host items only: {reads}"
    );
    assert_eq!(reads["queries"], json!(1), "{reads}");

    accounting(&moto, true);
    let o = cli(&moto, &["capacity", "show", "--cluster", "batch", "--json"]);
    let reads = accounting(&moto, false);
    assert_eq!(json_out(&o)["totals"]["hosts"], json!(hosts));
    assert_eq!(reads["scanned_items"], json!(hosts), "{reads}");

    // A task-group question reads the group's live tasks too: none here, and none of the 2,000
    // stopped or gone task items is read (the live index holds no dead item).
    accounting(&moto, true);
    let o = cli(
        &moto,
        &[
            "capacity",
            "can-place",
            "--cluster",
            "batch",
            "--memory",
            "1040",
            "--count",
            "9",
            "--group",
            "service:batch",
            "--constraint",
            "distinctInstance",
            "--json",
        ],
    );
    let reads = accounting(&moto, false);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(reads["scanned_items"], json!(hosts), "{reads}");
    assert_eq!(reads["returned_items"], json!(hosts), "{reads}");
    assert_eq!(
        reads["queries"],
        json!(2),
        "hosts, then the group's tasks: {reads}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_show_says_a_deleted_cluster_is_gone() {
    let moto = Moto::start();
    let store = table(&moto).await;
    let fx = EcsFixture::new(&moto, "old").await;
    fx.add_hosts("t3.large", "us-east-1a", 2).await;
    let rec = CapacityRecorder::new(
        store,
        AwsEcs::new(moto.ecs()),
        RecorderConfig {
            table: TABLE.into(),
            clusters: ClusterScope::All,
        },
    );
    rec.sweep(NOW).await.expect("sweep");
    let o = cli(&moto, &["capacity", "show", "--cluster", "old"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("2 host(s)"), "{}", stdout(&o));

    fx.ecs
        .delete_cluster()
        .cluster("old")
        .send()
        .await
        .expect("delete");
    let reports = rec.sweep(NOW + 900).await.expect("sweep");
    assert_eq!(reports[0].removed, 2, "{reports:?}");
    for args in [
        vec!["capacity", "show", "--cluster", "old"],
        vec![
            "capacity",
            "can-place",
            "--cluster",
            "old",
            "--memory",
            "64",
        ],
    ] {
        let o = cli(&moto, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(253), "{args:?}: {err}");
        assert!(
            err.contains(
                "cluster old is gone (deregistered: ECS reports it INACTIVE; the sweep turned its \
                 2 host(s) and 0 task(s) into tombstones at 2026-11-22T06:15:00Z)"
            ),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "no ghost hosts: {}", stdout(&o));
    }
}

/// `registeredAt` expressions see hosts known from events alone when the events carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_by_registered_at_works_for_hosts_recorded_from_events() {
    let moto = Moto::start();
    let rec = event_recorder(table(&moto).await);
    for (i, registered) in [
        (1, "2026-01-05T10:00:00.000Z"),
        (2, "2026-09-30T23:59:59.999Z"),
    ] {
        let mut e = host_event_in("reg", i, "ACTIVE", true, 1000, "us-east-1a");
        e["detail"]["registeredAt"] = json!(registered);
        capacity_recorder::handle(&rec, e, NOW)
            .await
            .expect("event");
    }
    // A later event without registeredAt (most carry it, a thin one may not) keeps it.
    let mut later = host_event_in("reg", 1, "ACTIVE", true, 900, "us-east-1a");
    later["detail"]["version"] = json!(3);
    capacity_recorder::handle(&rec, later, NOW)
        .await
        .expect("event");
    let filter = |expression: &str| {
        let o = cli(
            &moto,
            &[
                "capacity",
                "filter",
                "--cluster",
                "reg",
                "--expression",
                expression,
                "--json",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        json_out(&o)["ec2_instance_ids"].clone()
    };
    assert_eq!(filter("registeredAt < 2026-06-01"), json!(["i-0001"]));
    assert_eq!(
        filter("registeredAt >= 2026-09-30T23:59:59Z"),
        json!(["i-0002"])
    );
    assert_eq!(filter("registeredAt > 2027-01-01"), json!([]));
}
