//! Time: decisions take `now` (Unix seconds) as an argument; a service that reads the time itself
//! holds a [`Clock`], which tests replace.

/// A source of the current time in Unix seconds.
pub type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

/// The system time in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The production [`Clock`].
pub fn system_clock() -> Clock {
    Box::new(unix_now)
}

/// Lambda's invocation deadline (`Context::deadline`, Unix milliseconds) as an [`Instant`], so a
/// handler can tell how much time it has left; `None` if the system clock is before 1970.
pub fn deadline_from_unix_millis(deadline_ms: u64) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u64::try_from(u128::from(deadline_ms).saturating_sub(now_ms)).unwrap_or(0);
    Some(std::time::Instant::now() + std::time::Duration::from_millis(left))
}
