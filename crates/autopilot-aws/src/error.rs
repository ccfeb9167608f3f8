//! The one classification of SDK errors every adapter uses: throttling (by the SDK's own list of
//! codes), other service errors with their code, and failures without a service answer.

use std::error::Error;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The error codes the SDK's retry classifier treats as throttling (`aws-runtime`,
/// `src/retries/classifiers.rs`): the standard retry strategy backs off on these, so an error that
/// still carries one means the SDK's retries ran out.
pub use aws_runtime::retries::classifiers::THROTTLING_ERRORS;

/// What an SDK error is, for the ports' errors. `message` is always the SDK's full context
/// ([`DisplayErrorContext`]), which is what the ports' errors carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsError {
    /// The service answered with a code from [`THROTTLING_ERRORS`].
    Throttled { code: String, message: String },
    /// Any other answer of the service; `code` and `aws_message` are the service's own.
    Service {
        code: Option<String>,
        aws_message: Option<String>,
        message: String,
    },
    /// No service answer: the request was not built, timed out, was not sent, or the response
    /// was unreadable.
    Other(String),
}

impl AwsError {
    /// Classifies an SDK error of any operation.
    pub fn classify<E, R>(err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + Error + 'static,
        R: Debug,
    {
        let message = DisplayErrorContext(err).to_string();
        match err {
            SdkError::ServiceError(_) => match err.code() {
                Some(code) if THROTTLING_ERRORS.contains(&code) => AwsError::Throttled {
                    code: code.to_string(),
                    message,
                },
                code => AwsError::Service {
                    code: code.map(str::to_string),
                    aws_message: err.message().map(str::to_string),
                    message,
                },
            },
            _ => AwsError::Other(message),
        }
    }

    /// The service's error code, if the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. } => Some(code),
            AwsError::Service { code, .. } => code.as_deref(),
            AwsError::Other(_) => None,
        }
    }

    /// The service's own message of a non-throttling service error.
    pub fn aws_message(&self) -> Option<&str> {
        match self {
            AwsError::Service { aws_message, .. } => aws_message.as_deref(),
            _ => None,
        }
    }

    /// The SDK's full context of the error.
    pub fn into_message(self) -> String {
        match self {
            AwsError::Throttled { message, .. }
            | AwsError::Service { message, .. }
            | AwsError::Other(message) => message,
        }
    }

    /// The message for a port error that has no throttling variant: it says "throttled" when the
    /// error is throttling.
    pub fn into_message_noting_throttling(self) -> String {
        match self {
            AwsError::Throttled { message, .. } => {
                format!("throttled and the SDK's retries ran out: {message}")
            }
            other => other.into_message(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    /// A service error with `code` and `message`, as the SDK returns it after a 400.
    pub(crate) fn service_error<E>(err: E) -> SdkError<E, HttpResponse> {
        let status = StatusCode::try_from(400).expect("400 is a status code");
        SdkError::service_error(err, HttpResponse::new(status, SdkBody::empty()))
    }

    pub(crate) fn metadata(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    #[test]
    fn the_sdks_throttling_codes_are_throttled() {
        for code in [
            "ThrottlingException",
            "Throttling",
            "ProvisionedThroughputExceededException",
            "RequestThrottled",
        ] {
            let err = AwsError::classify(&service_error(metadata(code, "Rate exceeded")));
            match &err {
                AwsError::Throttled { code: c, message } => {
                    assert_eq!(c, code);
                    assert!(message.contains("Rate exceeded"), "{message}");
                }
                other => panic!("{code}: {other:?}"),
            }
            assert!(err
                .into_message_noting_throttling()
                .starts_with("throttled and the SDK's retries ran out: "));
        }
    }

    #[test]
    fn other_service_errors_keep_their_code_and_message() {
        let err = AwsError::classify(&service_error(metadata(
            "ValidationError",
            "No active Lifecycle Action found with token t",
        )));
        assert!(
            matches!(&err, AwsError::Service { code: Some(c), .. } if c == "ValidationError"),
            "{err:?}"
        );
        assert_eq!(err.code(), Some("ValidationError"));
        assert_eq!(
            err.aws_message(),
            Some("No active Lifecycle Action found with token t")
        );
        let message = err.into_message_noting_throttling();
        assert!(
            message.contains("ValidationError") && !message.starts_with("throttled"),
            "{message}"
        );
    }

    #[test]
    fn a_failure_without_a_service_answer_is_other() {
        let err: SdkError<ErrorMetadata, HttpResponse> = SdkError::timeout_error("read timed out");
        let err = AwsError::classify(&err);
        assert!(
            matches!(&err, AwsError::Other(m) if m.contains("read timed out")),
            "{err:?}"
        );
        assert_eq!(err.code(), None);
    }
}
