//! Structured log lines: one JSON object per line on stdout, with `level` and `message` next to
//! the record's own fields, so CloudWatch Logs Insights discovers every field (with the
//! function's JSON log format) and `grep` still works locally.

use std::io::Write;

use serde::Serialize;

/// Writes `{"level": …, "message": …, ...body}` as one line. A failed write or serialisation is
/// reported through `tracing` and never fails the caller: logging must not fail an invocation.
pub fn json_line<T: Serialize>(level: &'static str, message: &'static str, body: &T) {
    match to_json_line(level, message, body) {
        Ok(json) => {
            let _ = writeln!(std::io::stdout().lock(), "{json}");
        }
        Err(e) => tracing::error!(error = %e, message, "could not serialise a log record"),
    }
}

/// The line [`json_line`] writes (without the newline).
pub fn to_json_line<T: Serialize>(
    level: &'static str,
    message: &'static str,
    body: &T,
) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Line<'a, T> {
        level: &'static str,
        message: &'static str,
        #[serde(flatten)]
        body: &'a T,
    }
    serde_json::to_string(&Line {
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
        let line = super::to_json_line(
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
            r#"{"level":"INFO","message":"daemon-count decision","service":"logs","new_desired":4}"#
        );
    }
}
