//! Time: services and decisions take `now` (Unix seconds) as an argument. Only a handler or an
//! entry point (a function's `main.rs`, a CLI command) reads [`unix_now`]; tests pass the time
//! they mean.

/// The system time in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Lambda's invocation deadline (`Context::deadline`, Unix milliseconds) as an [`Instant`](std::time::Instant), so a
/// handler can tell how much time it has left; `None` if the system clock is before 1970.
pub fn deadline_from_unix_millis(deadline_ms: u64) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u64::try_from(u128::from(deadline_ms).saturating_sub(now_ms)).unwrap_or(0);
    Some(std::time::Instant::now() + std::time::Duration::from_millis(left))
}

/// Unix seconds as an ISO 8601 UTC timestamp (`2026-11-22T06:10:00Z`), for messages.
pub fn format_unix(secs: i64) -> String {
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        // Beyond chrono's ±262,000 years: no date to give.
        None => format!("{secs} s after 1970-01-01T00:00:00Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_seconds_as_utc() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_795_327_200), "2026-11-22T06:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(-1), "1969-12-31T23:59:59Z");
        for s in [1_529_360_908, 1_800_000_000, 4_102_444_800] {
            assert_eq!(
                ecs_cluster_query::parse_timestamp(&format_unix(s)),
                Some(s),
                "round trip through the query language's parser"
            );
        }
    }
}
