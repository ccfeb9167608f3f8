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
    match to_json_line(level, message, body) {
        Ok(json) => {
            let _ = writeln!(std::io::stdout().lock(), "{json}");
        }
        Err(e) => tracing::error!(error = %e, message, "could not serialise a log record"),
    }
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
}
