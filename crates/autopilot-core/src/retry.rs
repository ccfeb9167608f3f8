//! One retry rule for every function: an error a retry can fix fails the invocation (Lambda, the
//! event source mapping or SQS delivers the work again); any other is recorded — logged and
//! answered — and the invocation succeeds, since delivering it again would fail the same way.
//!
//! | error | retryable |
//! |---|---|
//! | throttling past the SDK's retries, a 5xx, a timeout, a lost connection | yes |
//! | a refusal (AccessDenied, an invalid parameter), a missing resource | no |
//! | an item or a response we cannot read (corrupt, unusable) | no |
//!
//! Every port's error implements [`Retryable`]; every handler settles errors with
//! [`fail_or_record`].

use std::fmt::Display;

use crate::log::json_line;

/// Whether retrying the same request can succeed.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

/// The handlers' one rule: a retryable `error` comes back as `Err` (the caller fails the
/// invocation, or reports the message for delivery again); any other is recorded — one ERROR
/// line `message` with `context`'s fields and `error` — and its text comes back as `Ok`, for
/// the response.
pub fn fail_or_record<E: Retryable + Display>(
    error: E,
    message: &str,
    context: serde_json::Value,
) -> Result<String, E> {
    if error.is_retryable() {
        return Err(error);
    }
    let text = error.to_string();
    let mut body = match context {
        serde_json::Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    };
    body.insert("error".into(), serde_json::Value::String(text.clone()));
    json_line("ERROR", message, &body);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failure(bool);

    impl Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failure (retryable: {})", self.0)
        }
    }

    impl Retryable for Failure {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn retryable_fails_and_others_are_recorded() {
        let retried = fail_or_record(Failure(true), "x", serde_json::Value::Null);
        assert!(matches!(retried, Err(Failure(true))));
        let recorded = fail_or_record(Failure(false), "x", serde_json::json!({"cluster": "c"}));
        assert_eq!(recorded.ok().as_deref(), Some("failure (retryable: false)"));
    }
}
