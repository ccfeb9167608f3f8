//! Structured log lines: one JSON object per line on stdout, with `timestamp`, `level` and
//! `message` next to the record's own fields, so CloudWatch Logs Insights discovers every field
//! (with the function's JSON log format) and `grep` still works locally. Lambda's log-level
//! filtering reads `timestamp` (RFC 3339) and `level` from JSON lines and treats a line without
//! them as INFO — so with ApplicationLogLevel WARN an ERROR line without them would be dropped.

use std::io::Write;

use serde::Serialize;

/// Writes `{"timestamp": …, "level": …, "message": …, ...body}` as one line. A failed write or serialisation is
/// reported through `tracing` and never fails the caller: logging must not fail an invocation.
pub fn json_line<T: Serialize>(level: &'static str, message: &'static str, body: &T) {
    write_line(to_json_line(level, message, body), message);
}

/// The line [`json_line`] writes now (without the newline).
pub fn to_json_line<T: Serialize>(
    level: &'static str,
    message: &'static str,
    body: &T,
) -> Result<String, serde_json::Error> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    to_json_line_at(&now, level, message, body)
}

/// The line for a given `timestamp` (RFC 3339).
pub fn to_json_line_at<T: Serialize>(
    timestamp: &str,
    level: &'static str,
    message: &'static str,
    body: &T,
) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Line<'a, T> {
        timestamp: &'a str,
        level: &'static str,
        message: &'static str,
        #[serde(flatten)]
        body: &'a T,
    }
    serde_json::to_string(&Line {
        timestamp,
        level,
        message,
        body,
    })
}

/// The CloudWatch namespace of every metric the functions emit.
pub const METRICS_NAMESPACE: &str = "ecs-autopilot";

/// CloudWatch Embedded Metric Format values carried by one log line: CloudWatch turns them into
/// metrics of [`METRICS_NAMESPACE`] per `Function` and per (`Function`, `Cluster`) — no API
/// call, no dependency. Capitalised names keep them apart from the record's own fields.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub function: &'static str,
    /// The cluster's name (its ARN's last segment) or `-` when the line is about no cluster.
    pub cluster: String,
    /// (metric name, value, unit: `Count` or `Seconds`), in the order given.
    pub values: Vec<(&'static str, f64, &'static str)>,
}

impl Metrics {
    pub fn new(function: &'static str, cluster: Option<&str>) -> Self {
        Metrics {
            function,
            cluster: cluster.map_or("-", crate::arn::cluster_name).to_string(),
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

/// [`json_line`] with an EMF block: the decision line is also the metric.
pub fn json_line_with_metrics<T: Serialize>(
    level: &'static str,
    message: &'static str,
    body: &T,
    metrics: &Metrics,
) {
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

/// Writes a serialised line to stdout; a failure is reported through `tracing`, never returned.
fn write_line(line: Result<String, serde_json::Error>, message: &'static str) {
    match line {
        Ok(json) => {
            let _ = writeln!(std::io::stdout().lock(), "{json}");
        }
        Err(e) => tracing::error!(error = %e, message, "could not serialise a log record"),
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
    let mut emf = serde_json::Map::new();
    emf.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": unix_millis,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"], ["Function", "Cluster"]],
                "Metrics": definitions,
            }],
        }),
    );
    emf.insert("Function".into(), metrics.function.into());
    emf.insert("Cluster".into(), metrics.cluster.clone().into());
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
        let metrics =
            super::Metrics::new("daemon-count", Some("arn:aws:ecs:us-east-1:1:cluster/prod"))
                .count("Decisions", 1)
                .count("Updated", 1)
                .seconds("DrainSeconds", 42);
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
}
