//! Issue 24's acceptance: the `ecs-autopilot` binary has the aws CLI's habits — profiles and
//! regions from the aws CLI's files with the flags beating the environment, completions,
//! suggestions, described subcommands, distinct exit codes — and `capacity show` draws a
//! picture that fits an 80-column terminal.
//!
//! Which credentials reached moto is observed through the IAM bed (tests/iam_bed.py): a request
//! signed with access key `fn-NAME` is authorized against NAME's policy and counted per
//! principal (`iam_report`'s `exercised`); the region through moto's DynamoDB, whose tables are
//! per region (a table created in eu-west-1 is not found from us-east-1).

use std::path::PathBuf;
use std::process::{Command, Output};

use autopilot_aws::DynamoCapacityStore;
use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::env::ClusterScope;
use autopilot_core::memory::InMemoryEcs;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use ecs_autopilot::{EXIT_AWS, EXIT_CONFIG, EXIT_DOES_NOT_FIT, EXIT_ERROR, EXIT_OK, EXIT_USAGE};
use integration_tests::{HostEvent, Moto};
use serde_json::{json, Value};

const TABLE: &str = "capacity";
const NOW: i64 = integration_tests::LIFECYCLE_EVENT_UNIX;
/// The region the profile names (the table lives there only).
const PROFILE_REGION: &str = "eu-west-1";

/// The binary under test: this build's, or `ECS_AUTOPILOT_BIN` (the release binary, for the
/// issue's acceptance: `ECS_AUTOPILOT_BIN=target/release/ecs-autopilot cargo test -p
/// ecs-autopilot --test cli habits::`).
fn binary() -> std::ffi::OsString {
    std::env::var_os("ECS_AUTOPILOT_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ecs-autopilot").into())
}

/// The binary with no AWS_* variable from the test's environment: only what `env` sets.
fn bare(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ecs-autopilot")
}

/// The exit code as the constants have it.
fn code(o: &Output) -> Option<u8> {
    o.status.code().and_then(|c| u8::try_from(c).ok())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A HOME with the aws CLI's two files: profile `ops` (keys `fn-CliOps`, region eu-west-1),
/// profile `denied` (keys `fn-CliDenied`) and a default profile (keys `fn-CliDefault`,
/// us-east-1). Removed on drop.
struct AwsHome(PathBuf);

impl AwsHome {
    fn new(name: &str) -> AwsHome {
        let dir = std::env::temp_dir().join(format!(
            "ecs-autopilot-{name}-{}-{}",
            std::process::id(),
            NOW
        ));
        let aws = dir.join(".aws");
        std::fs::create_dir_all(&aws).expect("temp HOME");
        std::fs::write(
            aws.join("config"),
            format!(
                "[default]\nregion = us-east-1\n\n[profile ops]\nregion = {PROFILE_REGION}\n\n\
                 [profile denied]\nregion = {PROFILE_REGION}\n"
            ),
        )
        .expect("config");
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = fn-CliDefault\naws_secret_access_key = s\n\n\
             [ops]\naws_access_key_id = fn-CliOps\naws_secret_access_key = s\n\n\
             [denied]\naws_access_key_id = fn-CliDenied\naws_secret_access_key = s\n",
        )
        .expect("credentials");
        AwsHome(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp dir")
    }
}

impl Drop for AwsHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sdk_in(moto: &Moto, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::for_tests(),
        ))
        .build()
}

fn host_event(cluster: &str, i: usize, status: &str, connected: bool, free_mem: i64) -> Value {
    HostEvent {
        cluster,
        region: "us-east-1",
        index: i,
        ec2_instance_id: format!("i-0{i:016x}"),
        status,
        connected,
        instance_type: "m5.xlarge",
        zone: "eu-west-1a",
        cpu: (4096, 1024 * (i as i64 % 4)),
        memory: (15_576, free_mem),
        ports_in_use: &["22", "2375", "2376", "51678", "51679", "8080"],
        running_tasks: 4 - (i as i64 % 4),
    }
    .event()
}

/// The capacity table in `region` with cluster `web`: 4 ACTIVE hosts, one DRAINING, one
/// ACTIVE with its agent disconnected.
async fn table_in(moto: &Moto, region: &str) {
    let store =
        DynamoCapacityStore::new(aws_sdk_dynamodb::Client::new(&sdk_in(moto, region)), TABLE);
    store.create_table().await.expect("create table");
    let rec = CapacityRecorder::new(
        store,
        InMemoryEcs::new(),
        RecorderConfig {
            table: TABLE.into(),
            clusters: ClusterScope::All,
        },
    );
    for (i, status, connected, free) in [
        (0, "ACTIVE", true, 512),
        (1, "ACTIVE", true, 4096),
        (2, "ACTIVE", true, 12_000),
        (3, "ACTIVE", true, 15_000),
        (4, "DRAINING", true, 15_576),
        (5, "ACTIVE", false, 8000),
    ] {
        capacity_recorder::handle(&rec, host_event("web", i, status, connected, free), NOW)
            .await
            .expect("event");
    }
}

/// How many requests each principal was allowed, from the IAM bed.
fn exercised(moto: &Moto, principal: &str) -> u64 {
    moto.iam_report()["exercised"][principal]
        .as_object()
        .map(|actions| actions.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

fn allow_dynamodb(moto: &Moto, principal: &str) {
    moto.iam_policy(
        principal,
        json!([{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_and_region_from_the_aws_files_reach_moto_and_flags_beat_the_environment() {
    let moto = Moto::start();
    table_in(&moto, PROFILE_REGION).await;
    for p in ["CliOps", "CliDefault", "CliEnvKey"] {
        allow_dynamodb(&moto, p);
    }
    let home = AwsHome::new("profiles");
    let show = ["capacity", "show", "--cluster", "web", "--table", TABLE];
    let with = |flags: &[&str]| -> Vec<String> {
        flags
            .iter()
            .chain(show.iter())
            .chain(["--output", "json"].iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |flags: &[&str], env: &[(&str, &str)]| {
        let args = with(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut env = env.to_vec();
        env.push(("HOME", home.path()));
        bare(&args, &env)
    };

    // --profile, nothing in the environment: the profile's keys and its region.
    let o = run(&["--profile", "ops", "--endpoint-url", &moto.endpoint], &[]);
    assert_eq!(code(&o), Some(EXIT_OK), "{}", stderr(&o));
    let j: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["totals"]["hosts"], json!(6));
    assert!(
        exercised(&moto, "CliOps") > 0,
        "signed with the profile's key"
    );
    assert_eq!(exercised(&moto, "CliDefault"), 0);

    // The default profile's region (us-east-1) has no such table: a configuration error (253).
    let o = run(&["--endpoint-url", &moto.endpoint], &[]);
    assert_eq!(code(&o), Some(EXIT_CONFIG), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ResourceNotFoundException"),
        "{}",
        stderr(&o)
    );
    assert!(exercised(&moto, "CliDefault") > 0);

    // Flags beat the environment: AWS_PROFILE, AWS_REGION, environment keys and
    // AWS_ENDPOINT_URL all name something else; --profile, --region and --endpoint-url win.
    let ops_before = exercised(&moto, "CliOps");
    let hostile = [
        ("AWS_PROFILE", "default"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "fn-CliEnvKey"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ];
    let o = run(
        &[
            "--profile",
            "ops",
            "--region",
            PROFILE_REGION,
            "--endpoint-url",
            &moto.endpoint,
        ],
        &hostile,
    );
    assert_eq!(code(&o), Some(EXIT_OK), "{}", stderr(&o));
    assert!(
        exercised(&moto, "CliOps") > ops_before,
        "the profile's keys"
    );
    assert_eq!(
        exercised(&moto, "CliEnvKey"),
        0,
        "an explicit --profile beats AWS_ACCESS_KEY_ID, as in the aws CLI"
    );

    // The environment still works, and beats the files: AWS_PROFILE selects ops, but
    // AWS_REGION (us-east-1) beats the profile's region.
    let o = run(
        &[],
        &[
            ("AWS_PROFILE", "ops"),
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ],
    );
    assert_eq!(code(&o), Some(EXIT_OK), "{}", stderr(&o));
    let o = run(
        &[],
        &[
            ("AWS_PROFILE", "ops"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ],
    );
    assert_eq!(
        code(&o),
        Some(EXIT_CONFIG),
        "AWS_REGION beats the profile's region: {}",
        stderr(&o)
    );
    // ... and --region beats AWS_REGION.
    let o = run(
        &["--region", PROFILE_REGION],
        &[
            ("AWS_PROFILE", "ops"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ],
    );
    assert_eq!(code(&o), Some(EXIT_OK), "{}", stderr(&o));
}

/// 0 fits, 1 does not fit, 2 usage, 253 unknown table or cluster, 254 an AWS error (with its
/// code), 255 no answer from AWS: each distinct, each said on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_failure_has_its_own_exit_code() {
    let moto = Moto::start();
    moto.expect_access_denied();
    table_in(&moto, PROFILE_REGION).await;
    allow_dynamodb(&moto, "CliOps");
    moto.iam_policy("CliDenied", json!([]));
    let home = AwsHome::new("exit-codes");
    let env = [("HOME", home.path())];
    let run = |profile: &str, args: &[&str]| {
        let mut all = vec!["--profile", profile, "--endpoint-url", &moto.endpoint];
        all.extend_from_slice(args);
        bare(&all, &env)
    };
    let can_place = |memory: &'static str| {
        vec![
            "capacity",
            "can-place",
            "--table",
            TABLE,
            "--cluster",
            "web",
            "--memory",
            memory,
        ]
    };

    let o = run("ops", &can_place("512"));
    assert_eq!(code(&o), Some(EXIT_OK), "{}", stderr(&o));
    let o = run("ops", &can_place("16000"));
    assert_eq!(code(&o), Some(EXIT_DOES_NOT_FIT), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("does not fit"), "{}", stdout(&o));

    // Usage: a missing flag (clap), a misspelt subcommand and flag (with a suggestion), an
    // invalid value (the command's own check).
    let o = run("ops", &["capacity", "can-place", "--cluster", "web"]);
    assert_eq!(code(&o), Some(EXIT_USAGE));
    assert!(stderr(&o).contains("--memory"), "{}", stderr(&o));
    let o = bare(&["jbos"], &env);
    assert_eq!(code(&o), Some(EXIT_USAGE));
    assert!(
        stderr(&o).contains("similar subcommand exists: 'jobs'"),
        "{}",
        stderr(&o)
    );
    let o = bare(&["capacity", "show", "--clustr", "web"], &env);
    assert_eq!(code(&o), Some(EXIT_USAGE));
    assert!(stderr(&o).contains("--cluster"), "{}", stderr(&o));
    let mut bad = can_place("512");
    bad.extend(["--strategy", "fastest"]);
    let o = run("ops", &bad);
    assert_eq!(code(&o), Some(EXIT_USAGE), "{}", stderr(&o));

    // Configuration: no such table, no such cluster.
    let mut missing = can_place("512");
    missing[3] = "no-such-table";
    let o = run("ops", &missing);
    assert_eq!(code(&o), Some(EXIT_CONFIG), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ResourceNotFoundException") && stderr(&o).contains("hint:"),
        "{}",
        stderr(&o)
    );
    let mut unknown = can_place("512");
    unknown[5] = "wbe";
    let o = run("ops", &unknown);
    assert_eq!(code(&o), Some(EXIT_CONFIG), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cluster wbe has no hosts"),
        "{}",
        stderr(&o)
    );

    // A profile the files do not have: configuration, before any request is sent.
    let o = run("nosuch", &can_place("512"));
    assert_eq!(code(&o), Some(EXIT_CONFIG), "{}", stderr(&o));
    assert!(stderr(&o).contains("nosuch"), "{}", stderr(&o));

    // AWS refuses: AccessDenied from the IAM bed, its code in the message.
    let o = run("denied", &can_place("512"));
    assert_eq!(code(&o), Some(EXIT_AWS), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("AccessDeniedException"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty(), "no answer printed: {}", stdout(&o));

    // No answer at all (nothing listens there).
    let o = bare(
        &[
            "--profile",
            "ops",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "capacity",
            "show",
            "--table",
            TABLE,
            "--cluster",
            "web",
        ],
        &env,
    );
    assert_eq!(code(&o), Some(EXIT_ERROR), "{}", stderr(&o));
    assert!(
        moto.iam_report()["denied"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "the bed refused the denied profile's calls"
    );
}

#[test]
fn completions_help_and_suggestions() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef ecs-autopilot"),
        ("fish", "complete -c ecs-autopilot"),
    ] {
        let o = bare(&["completions", shell], &[]);
        assert_eq!(code(&o), Some(EXIT_OK), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("can-place") && script.contains("profile"),
            "{shell}: {script}"
        );
    }
    // Every subcommand's --help: exit 0, a description and (long help) an example.
    for path in [
        &["capacity", "show"][..],
        &["capacity", "can-place"],
        &["capacity", "create-table"],
        &["capacity", "filter"],
        &["daemon", "reconcile"],
        &["jobs", "submit"],
        &["jobs", "list"],
        &["jobs", "show"],
        &["jobs", "cancel"],
        &["jobs", "explain"],
        &["completions"],
    ] {
        let mut args = path.to_vec();
        args.push("--help");
        let o = bare(&args, &[]);
        assert_eq!(code(&o), Some(EXIT_OK), "{path:?}");
        let help = stdout(&o);
        let first = help.lines().next().unwrap_or("");
        assert!(
            first.len() > 20 && !first.starts_with("Usage"),
            "{path:?} has a description: {help}"
        );
        assert!(help.contains("Example:"), "{path:?}: {help}");
        assert!(
            help.contains("--region") && help.contains("--output"),
            "{path:?}"
        );
    }
}

/// `capacity show` at 80 columns: a CPU and a memory bar per host, DRAINING and disconnected
/// hosts marked, no line longer than 80; `--output json` keeps its fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_show_draws_every_host_in_80_columns_and_json_keeps_its_fields() {
    let moto = Moto::start();
    table_in(&moto, PROFILE_REGION).await;
    let env = |columns: &'static str| {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", PROFILE_REGION),
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("CAPACITY_TABLE", TABLE),
            ("COLUMNS", columns),
        ]
    };
    let show = |extra: &[&str], columns: &'static str| {
        let mut args = vec!["capacity", "show", "--cluster", "web"];
        args.extend_from_slice(extra);
        let o = bare(&args, &env(columns));
        assert_eq!(code(&o), Some(EXIT_OK), "{}", stderr(&o));
        stdout(&o)
    };
    for columns in ["80", "60"] {
        let width: usize = columns.parse().expect("width");
        let picture = show(&["--output", "table"], columns);
        for line in picture.lines() {
            assert!(
                line.chars().count() <= width,
                "{} > {width}: {line:?}\n{picture}",
                line.chars().count()
            );
        }
        assert_eq!(picture.matches("\n  CPU ").count(), 6, "{picture}");
        assert_eq!(picture.matches("\n  MEM ").count(), 6, "{picture}");
        let marked = |id: &str, mark: &str| {
            picture
                .lines()
                .any(|l| l.starts_with(&format!("{id}  {mark}")))
        };
        assert!(marked("i-00000000000000004", "DRAINING"), "{picture}");
        assert!(marked("i-00000000000000005", "DISCONNECTED"), "{picture}");
        assert!(
            picture
                .replace("\n  ", " ")
                .contains("largest free slot: 3072 CPU units and 15000 MiB on i-00000000000000003"),
            "{picture}"
        );
        assert!(
            !picture.contains('\x1b'),
            "no colour off a terminal: {picture}"
        );
    }

    // JSON: the fields it had before issue 24, exactly; --json is the same as --output json.
    let json = show(&["--output", "json"], "80");
    assert_eq!(json, show(&["--json"], "80"));
    let v: Value = serde_json::from_str(&json).expect("JSON");
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&v), ["cluster", "hosts", "totals"]);
    assert_eq!(
        keys(&v["hosts"][0]),
        [
            "agent_connected",
            "availability_zone",
            "container_instance_arn",
            "ec2_instance_id",
            "instance_type",
            "registered_cpu",
            "registered_memory",
            "remaining_cpu",
            "remaining_memory",
            "running_tasks",
            "status",
            "version"
        ]
    );
    assert_eq!(
        keys(&v["totals"]),
        [
            "hosts",
            "registered_cpu",
            "registered_memory",
            "remaining_cpu",
            "remaining_memory",
            "running_tasks",
            "schedulable_hosts"
        ]
    );
    assert_eq!(v["hosts"].as_array().map(Vec::len), Some(6));
    // Text (the default off a terminal) is the rows-and-totals form.
    assert!(show(&[], "80").contains("totals: 6 host(s), 4 schedulable"));
}
