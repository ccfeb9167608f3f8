//! Structured log lines: one JSON object per line on stdout, with `timestamp`, `level`,
//! `requestId` and `message` next to the record's own fields, so CloudWatch Logs Insights
//! discovers every field (with the function's JSON log format) and `grep` still works locally.
//!
//! Lambda's log-level filtering (JSON log format) reads a line's `level`; "if the level value
//! field is invalid or missing, Lambda will assign the log output the level INFO", and a line
//! without a valid RFC 3339 `timestamp` is also assigned INFO (Lambda developer guide, "Log-level
//! filtering") — so with ApplicationLogLevel WARN an ERROR line without them would be dropped.
//! For a custom runtime "Lambda sets the application log level in the runtime using the
//! AWS_LAMBDA_LOG_LEVEL environment variable" (same guide, quoted in
//! aws/aws-lambda-rust-runtime#821): [`configure_from_env`] reads it, and a line below it is not
//! written at all (so not billed). Lambda's own JSON lines name the invocation `requestId`: so
//! do these ([`set_request_id`], set by the invocation loop).
//!
//! Every line the code writes goes through here: the decision and summary lines directly, and
//! `tracing` events through the invocation loop's subscriber (`autopilot_aws::lambda`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Log levels as Lambda names them (`ApplicationLogLevel`), lowest first.
pub const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// Index in [`LEVELS`] of the lowest level written (INFO until configured).
static MIN_LEVEL: AtomicU8 = AtomicU8::new(2);
/// Whether metrics are also emitted per (`Function`, `Cluster`) (`METRICS_PER_CLUSTER`).
static PER_CLUSTER: AtomicBool = AtomicBool::new(false);
/// The running invocation's request id (a Lambda process runs one invocation at a time).
static REQUEST_ID: Mutex<Option<String>> = Mutex::new(None);

/// The index of a level name in [`LEVELS`] (case-insensitive; `WARNING` is `WARN`).
pub fn level_index(level: &str) -> Option<u8> {
    let level = level.trim().to_ascii_uppercase();
    let level = if level == "WARNING" { "WARN" } else { &level };
    LEVELS.iter().position(|l| *l == level).map(|i| i as u8)
}

/// Sets the lowest level written (`None`: INFO) and whether metrics carry the per-cluster
/// dimension.
pub fn configure(min_level: Option<&str>, per_cluster: bool) {
    let index = min_level.and_then(level_index).unwrap_or(2);
    MIN_LEVEL.store(index, Ordering::Relaxed);
    PER_CLUSTER.store(per_cluster, Ordering::Relaxed);
}

/// [`configure`] from Lambda's `AWS_LAMBDA_LOG_LEVEL` (set from ApplicationLogLevel with the JSON
/// log format) and `METRICS_PER_CLUSTER` (`true`; anything else is off).
pub fn configure_from_env() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let per_cluster =
        std::env::var("METRICS_PER_CLUSTER").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    configure(level.as_deref(), per_cluster);
}

/// The lowest level written (a name of [`LEVELS`]).
pub fn min_level() -> &'static str {
    LEVELS
        .get(usize::from(MIN_LEVEL.load(Ordering::Relaxed)))
        .copied()
        .unwrap_or("INFO")
}

/// Whether a line of this level is written.
pub fn enabled(level: &str) -> bool {
    level_index(level).unwrap_or(2) >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Whether metrics carry the per-cluster dimension.
pub fn per_cluster_metrics() -> bool {
    PER_CLUSTER.load(Ordering::Relaxed)
}

/// The request id every line carries from now on (`None` between invocations).
pub fn set_request_id(request_id: Option<&str>) {
    if let Ok(mut id) = REQUEST_ID.lock() {
        *id = request_id.map(str::to_string);
    }
}

fn request_id() -> Option<String> {
    REQUEST_ID.lock().ok().and_then(|id| id.clone())
}

/// Writes `{"timestamp": …, "level": …, "requestId": …, "message": …, ...body}` as one line, if
/// `level` is enabled. A failed write or serialisation is reported on stderr and never fails the
/// caller: logging must not fail an invocation.
pub fn json_line<T: Serialize>(level: &'static str, message: &str, body: &T) {
    if enabled(level) {
        write_line(to_json_line(level, message, body), message);
    }
}

/// The line [`json_line`] writes now (without the newline).
pub fn to_json_line<T: Serialize>(
    level: &str,
    message: &str,
    body: &T,
) -> Result<String, serde_json::Error> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    to_json_line_at(&now, level, message, body)
}

/// The line for a given `timestamp` (RFC 3339), with the current request id.
pub fn to_json_line_at<T: Serialize>(
    timestamp: &str,
    level: &str,
    message: &str,
    body: &T,
) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Line<'a, T> {
        timestamp: &'a str,
        level: &'a str,
        #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        message: &'a str,
        #[serde(flatten)]
        body: &'a T,
    }
    serde_json::to_string(&Line {
        timestamp,
        level,
        request_id: request_id(),
        message,
        body,
    })
}

/// The CloudWatch namespace of every metric the functions emit.
pub const METRICS_NAMESPACE: &str = "ecs-autopilot";

/// CloudWatch Embedded Metric Format values carried by one log line: CloudWatch turns them into
/// metrics of [`METRICS_NAMESPACE`] per `Function` — and, with `METRICS_PER_CLUSTER=true`, per
/// (`Function`, `Cluster`) too — no API call, no dependency. Capitalised names keep them apart
/// from the record's own fields.
///
/// Cost: every (namespace, metric name, dimension names and values) is one billed custom metric.
/// Per `Function` only, a function has as many as it has metric names, whatever the number of
/// clusters; per cluster, that many again for each cluster (docs/operability.md, "What it costs").
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub function: &'static str,
    /// The cluster's name (its ARN's last segment) or `-` when the line is about no cluster.
    pub cluster: String,
    /// Also emit per (`Function`, `Cluster`) ([`per_cluster_metrics`] when built).
    pub per_cluster: bool,
    /// (metric name, value, unit: `Count` or `Seconds`), in the order given.
    pub values: Vec<(&'static str, f64, &'static str)>,
}

impl Metrics {
    pub fn new(function: &'static str, cluster: Option<&str>) -> Self {
        Metrics {
            function,
            cluster: cluster.map_or("-", crate::arn::cluster_name).to_string(),
            per_cluster: per_cluster_metrics() && cluster.is_some(),
            values: Vec::new(),
        }
    }

    /// Adds a count.
    pub fn count(mut self, name: &'static str, value: usize) -> Self {
        self.values.push((name, value as f64, "Count"));
        self
    }

    /// Adds a duration in seconds.
    pub fn seconds(mut self, name: &'static str, value: u64) -> Self {
        self.values.push((name, value as f64, "Seconds"));
        self
    }
}

/// [`json_line`] with an EMF block: the decision line is also the metric. A line below the level
/// is not written, metrics included: a level above INFO keeps only the WARN/ERROR lines' metrics.
pub fn json_line_with_metrics<T: Serialize>(
    level: &'static str,
    message: &'static str,
    body: &T,
    metrics: &Metrics,
) {
    if !enabled(level) {
        return;
    }
    let now = chrono::Utc::now();
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    write_line(
        to_emf_line(
            &timestamp,
            now.timestamp_millis(),
            level,
            message,
            body,
            metrics,
        ),
        message,
    );
}

/// Writes a serialised line to stdout (or to the test capture); a failure is reported on stderr
/// (not through `tracing`, whose lines come back here), never returned.
fn write_line(line: Result<String, serde_json::Error>, message: &str) {
    match line {
        Ok(json) => {
            #[cfg(any(test, feature = "test-util"))]
            if capture::take(&json) {
                return;
            }
            let _ = writeln!(std::io::stdout().lock(), "{json}");
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "could not serialise the log record {message:?}: {e}"
            );
        }
    }
}

/// Tests: the lines this thread writes while a [`capture::Capture`] is alive, instead of stdout
/// (run the code under test on the test's thread: a current-thread runtime). Captures are taken
/// one at a time, so tests that change the global settings ([`configure`], [`set_request_id`])
/// while capturing do not meet.
#[cfg(any(test, feature = "test-util"))]
pub mod capture {
    use std::cell::RefCell;
    use std::sync::{Mutex, MutexGuard};

    thread_local! {
        static LINES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    pub struct Capture {
        _only: MutexGuard<'static, ()>,
    }

    /// Starts capturing the lines this thread writes, until the capture is dropped.
    pub fn start() -> Capture {
        let only = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        LINES.with(|l| *l.borrow_mut() = Some(Vec::new()));
        Capture { _only: only }
    }

    impl Capture {
        /// The lines written so far; capturing goes on.
        pub fn lines(&self) -> Vec<String> {
            LINES.with(|l| l.borrow().clone().unwrap_or_default())
        }

        /// The lines written so far, and a fresh start.
        pub fn take(&self) -> Vec<String> {
            LINES.with(|l| l.borrow_mut().replace(Vec::new()).unwrap_or_default())
        }
    }

    impl Drop for Capture {
        fn drop(&mut self) {
            LINES.with(|l| *l.borrow_mut() = None);
        }
    }

    /// Keeps `line` if this thread is capturing.
    pub(super) fn take(line: &str) -> bool {
        LINES.with(|l| match l.borrow_mut().as_mut() {
            Some(lines) => {
                lines.push(line.to_string());
                true
            }
            None => false,
        })
    }
}

/// The line [`json_line_with_metrics`] writes, for a given time.
pub fn to_emf_line<T: Serialize>(
    timestamp: &str,
    unix_millis: i64,
    level: &'static str,
    message: &'static str,
    body: &T,
    metrics: &Metrics,
) -> Result<String, serde_json::Error> {
    let definitions: Vec<serde_json::Value> = metrics
        .values
        .iter()
        .map(|(name, _, unit)| serde_json::json!({"Name": name, "Unit": unit}))
        .collect();
    let dimensions = if metrics.per_cluster {
        serde_json::json!([["Function"], ["Function", "Cluster"]])
    } else {
        serde_json::json!([["Function"]])
    };
    let mut emf = serde_json::Map::new();
    emf.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": unix_millis,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": definitions,
            }],
        }),
    );
    emf.insert("Function".into(), metrics.function.into());
    if metrics.per_cluster {
        emf.insert("Cluster".into(), metrics.cluster.clone().into());
    }
    for (name, value, _) in &metrics.values {
        emf.insert((*name).into(), serde_json::json!(value));
    }
    // The record's fields, then the EMF block and its values, in one flattened body.
    #[derive(Serialize)]
    struct WithMetrics<'a, T> {
        #[serde(flatten)]
        body: &'a T,
        #[serde(flatten)]
        emf: serde_json::Map<String, serde_json::Value>,
    }
    to_json_line_at(timestamp, level, message, &WithMetrics { body, emf })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_sit_next_to_level_and_message() {
        // No other test's request id in this line.
        let _one = super::capture::start();
        #[derive(serde::Serialize)]
        struct R {
            service: &'static str,
            new_desired: i32,
        }
        let line = super::to_json_line_at(
            "2026-12-01T21:00:00.000Z",
            "INFO",
            "daemon-count decision",
            &R {
                service: "logs",
                new_desired: 4,
            },
        )
        .expect("json");
        assert_eq!(
            line,
            r#"{"timestamp":"2026-12-01T21:00:00.000Z","level":"INFO","message":"daemon-count decision","service":"logs","new_desired":4}"#
        );
    }

    #[test]
    fn every_line_carries_an_rfc3339_timestamp() {
        let line = super::to_json_line("ERROR", "m", &serde_json::json!({})).expect("json");
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        let ts = v["timestamp"].as_str().expect("timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "{ts} is RFC 3339"
        );
        assert_eq!(v["level"], "ERROR");
    }

    #[test]
    fn the_emf_block_names_metrics_that_exist_in_the_line() {
        let mut metrics =
            super::Metrics::new("daemon-count", Some("arn:aws:ecs:us-east-1:1:cluster/prod"))
                .count("Decisions", 1)
                .count("Updated", 1)
                .seconds("DrainSeconds", 42);
        metrics.per_cluster = true;
        let line = super::to_emf_line(
            "2026-12-01T21:00:00.000Z",
            1_796_158_800_000,
            "INFO",
            "daemon-count decision",
            &serde_json::json!({"cluster": "arn:aws:ecs:us-east-1:1:cluster/prod", "action": "updated"}),
            &metrics,
        )
        .expect("json");
        let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        let block = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(block["Namespace"], super::METRICS_NAMESPACE);
        assert_eq!(v["_aws"]["Timestamp"], 1_796_158_800_000i64);
        for dimension in block["Dimensions"][1].as_array().expect("dimensions") {
            let name = dimension.as_str().expect("a name");
            assert!(
                v[name].is_string(),
                "dimension {name} is in the line: {line}"
            );
        }
        let names: Vec<&str> = block["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["Name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["Decisions", "Updated", "DrainSeconds"]);
        for name in names {
            assert!(
                v[name].is_number(),
                "metric {name} has a value in the line: {line}"
            );
        }
        assert_eq!(v["Cluster"], "prod");
        assert_eq!(
            v["cluster"], "arn:aws:ecs:us-east-1:1:cluster/prod",
            "the record's own field stays"
        );
        assert_eq!(v["timestamp"], "2026-12-01T21:00:00.000Z");
    }

    #[test]
    fn by_default_metrics_are_per_function_only() {
        let metrics =
            super::Metrics::new("daemon-count", Some("arn:aws:ecs:us-east-1:1:cluster/prod"))
                .count("Decisions", 1);
        assert!(!metrics.per_cluster, "the per-cluster dimension is opt-in");
        let line = super::to_emf_line(
            "2026-12-01T21:00:00.000Z",
            1,
            "INFO",
            "m",
            &serde_json::json!({}),
            &metrics,
        )
        .expect("json");
        let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function"]])
        );
        assert!(v.get("Cluster").is_none(), "{line}");
    }

    #[test]
    fn levels_are_lambdas_names_in_order() {
        // (configured, line level, written?)
        let cases = [
            (None, "INFO", true),
            (None, "DEBUG", false),
            (Some("WARN"), "INFO", false),
            (Some("WARN"), "ERROR", true),
            (Some("warn"), "WARN", true),
            (Some("ERROR"), "WARN", false),
            (Some("FATAL"), "ERROR", false),
            (Some("DEBUG"), "DEBUG", true),
            (Some("TRACE"), "TRACE", true),
            (Some("nonsense"), "INFO", true),
        ];
        let _one = super::capture::start();
        for (configured, level, written) in cases {
            super::configure(configured, false);
            assert_eq!(super::enabled(level), written, "{configured:?} {level}");
        }
        super::configure(None, false);
    }

    #[test]
    fn lines_carry_the_request_id_and_skip_levels_below_the_configured_one() {
        let capture = super::capture::start();
        super::configure(Some("WARN"), false);
        super::set_request_id(Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
        super::json_line("INFO", "dropped", &serde_json::json!({}));
        super::json_line("ERROR", "kept", &serde_json::json!({"cluster": "prod"}));
        super::json_line_with_metrics(
            "INFO",
            "dropped too",
            &serde_json::json!({}),
            &super::Metrics::new("daemon-count", None).count("Decisions", 1),
        );
        super::set_request_id(None);
        super::json_line("FATAL", "after the invocation", &serde_json::json!({}));
        super::configure(None, false);
        let lines = capture.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        let kept: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(kept["message"], "kept");
        assert_eq!(kept["level"], "ERROR");
        assert_eq!(kept["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(kept["cluster"], "prod");
        let after: serde_json::Value = serde_json::from_str(&lines[1]).expect("json");
        assert!(after.get("requestId").is_none(), "{after}");
    }
}
