//! The command line's errors and exit codes. The codes follow the aws CLI's where they mean the
//! same thing (its "return codes" topic: 2 the command line could not be parsed, 253 the
//! environment or configuration is invalid, 254 the service returned an error, 255 any other
//! failure), so a script handles both tools alike; 1 is ours: the answer is "no".
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0    | done; `can-place`: the tasks fit |
//! | 1    | the answer is no: `can-place` finds no host for them |
//! | 2    | usage: an unknown command or flag, a missing or invalid value (clap's, and the commands' own checks) |
//! | 253  | configuration: no such table (DynamoDB ResourceNotFoundException), a cluster the table does not know or that is gone, no such job, an unknown profile, no region or credentials, an invalid environment variable |
//! | 254  | AWS refused or failed the request: the message carries AWS's error code (`AccessDeniedException`, `ThrottlingException`, ...) |
//! | 255  | anything else: no answer from AWS (connection, timeout), an unreadable item |

use thiserror::Error;

pub const EXIT_OK: u8 = 0;
/// The answer is no (`can-place`: does not fit).
pub const EXIT_DOES_NOT_FIT: u8 = 1;
/// Usage: clap's code for bad arguments, and the commands' own argument checks.
pub const EXIT_USAGE: u8 = 2;
/// The set-up is wrong: a missing table, an unknown cluster or job, a profile, region or
/// credentials that cannot be found.
pub const EXIT_CONFIG: u8 = 253;
/// AWS answered with an error (its code is in the message).
pub const EXIT_AWS: u8 = 254;
/// Any other failure (no answer from AWS, an unreadable item).
pub const EXIT_ERROR: u8 = 255;

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    /// Something named does not exist (a job id).
    #[error("{0}")]
    NotFound(String),
    #[error(
        "cluster {cluster} has no hosts in table {table} (wrong name, or the recorder has not run)"
    )]
    UnknownCluster { cluster: String, table: String },
    #[error("cluster {cluster} is gone (deregistered: {detail})")]
    ClusterGone { cluster: String, detail: String },
    #[error("daemon reconcile of {cluster}: {} service(s) failed: {}", .failed.len(), .failed.join("; "))]
    ServicesFailed {
        cluster: String,
        failed: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] autopilot_core::ports::StoreError),
    #[error(transparent)]
    Ecs(#[from] autopilot_core::ports::EcsError),
    #[error(transparent)]
    Config(#[from] autopilot_core::env::ConfigError),
    #[error(transparent)]
    Jobs(#[from] autopilot_core::ports::JobStoreError),
    #[error(transparent)]
    Dispatch(#[from] autopilot_core::dispatch::DispatchError),
}

/// What a failed AWS call's message says about its cause (the adapters' messages carry the
/// SDK's full context: the service's error code when it answered, the credential or region
/// failure when the request was never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFailure {
    /// DynamoDB or ECS says the named resource does not exist.
    Missing,
    /// No credentials, an unknown profile, no region: the request was never signed.
    Setup,
    /// The service answered with an error code.
    Service,
    /// No service answer.
    Other,
}

/// Error codes that mean "what you named does not exist" (DynamoDB's table, ECS's cluster).
const MISSING_CODES: [&str; 2] = ["ResourceNotFoundException", "ClusterNotFoundException"];

/// Classifies the SDK context of a failed call (see [`AwsFailure`]).
pub fn aws_failure(message: &str) -> AwsFailure {
    if MISSING_CODES.iter().any(|c| message.contains(c)) {
        return AwsFailure::Missing;
    }
    let lower = message.to_ascii_lowercase();
    // aws-config's credential and region failures (CredentialsError, "no region", a profile
    // that is not in the files): the request was never sent.
    if [
        "credentials",
        "credential provider",
        "profile",
        "region must be set",
        "no region",
        "signing region",
    ]
    .iter()
    .any(|m| lower.contains(m))
        && !lower.contains("service error")
    {
        return AwsFailure::Setup;
    }
    // A service answer: the SDK's context says "service error" and names the code (an
    // `...Exception` or AccessDenied-style code).
    if lower.contains("service error")
        || message.contains("Exception")
        || message.contains("AccessDenied")
    {
        return AwsFailure::Service;
    }
    AwsFailure::Other
}

/// The SDK's context without its debug dump: `service error: CODE: message` is kept, the
/// ` (ServiceError(ServiceError { ... raw: Response { ... } }))` after it is not (`--debug`
/// prints it).
pub fn short_message(message: &str) -> &str {
    [
        " (ServiceError(",
        " (DispatchFailure(",
        " (ConstructionFailure(",
        " (TimeoutError(",
        " (ResponseError(",
    ]
    .iter()
    .filter_map(|m| message.find(m))
    .min()
    .map_or(message, |cut| &message[..cut])
}

impl CliError {
    /// The process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> u8 {
        use autopilot_core::dispatch::DispatchError;
        use autopilot_core::ports::{EcsError, JobStoreError, StoreError};
        let from_message = |m: &str| match aws_failure(m) {
            AwsFailure::Missing | AwsFailure::Setup => EXIT_CONFIG,
            AwsFailure::Service => EXIT_AWS,
            AwsFailure::Other => EXIT_ERROR,
        };
        let store = |e: &StoreError| match e {
            StoreError::Backend { message, .. } => from_message(message),
            StoreError::Corrupt { .. } => EXIT_ERROR,
        };
        let jobs = |e: &JobStoreError| match e {
            JobStoreError::Backend { message, .. } => from_message(message),
            JobStoreError::Corrupt { .. } => EXIT_ERROR,
        };
        let ecs = |e: &EcsError| match e {
            EcsError::ClusterNotFound { .. } => EXIT_CONFIG,
            EcsError::Refused { .. } | EcsError::Throttled { .. } => EXIT_AWS,
            EcsError::Api { message, .. } => from_message(message),
            EcsError::InvalidResponse { .. } => EXIT_ERROR,
        };
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotFound(_)
            | CliError::UnknownCluster { .. }
            | CliError::ClusterGone { .. }
            | CliError::Config(_) => EXIT_CONFIG,
            CliError::ServicesFailed { .. } => EXIT_AWS,
            CliError::Store(e) => store(e),
            CliError::Ecs(e) => ecs(e),
            CliError::Jobs(e) => jobs(e),
            CliError::Dispatch(e) => match e {
                DispatchError::Invalid(_) => EXIT_USAGE,
                DispatchError::NotFound(_) => EXIT_CONFIG,
                DispatchError::TaskDefinition { source, .. } => ecs(source),
                DispatchError::Store(e) => jobs(e),
                DispatchError::Ecs(e) => ecs(e),
                DispatchError::Capacity(e) => store(e),
                DispatchError::ScaleGroup(_) | DispatchError::Incomplete(_) => EXIT_ERROR,
            },
        }
    }

    /// A hint printed after the message, for the failures a user fixes in their set-up.
    pub fn hint(&self) -> Option<&'static str> {
        let message = self.to_string();
        match (self.exit_code(), aws_failure(&message)) {
            (EXIT_CONFIG, AwsFailure::Missing) if message.contains("table") => Some(
                "the table does not exist in this account and region: check --table / \
                 CAPACITY_TABLE / --jobs-table / JOBS_TABLE and --region / --profile",
            ),
            (EXIT_CONFIG, AwsFailure::Setup) => Some(
                "check --profile / AWS_PROFILE, --region / AWS_REGION and the credentials in \
                 ~/.aws/credentials or AWS_ACCESS_KEY_ID",
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autopilot_core::dispatch::DispatchError;
    use autopilot_core::ports::{EcsError, StoreError};

    fn store(message: &str) -> CliError {
        CliError::Store(StoreError::Backend {
            operation: "Query",
            message: message.into(),
        })
    }

    /// The SDK contexts the adapters carry, and the code each one exits with.
    #[test]
    fn each_failure_exits_with_its_documented_code() {
        let cases = [
            (
                store("service error: ResourceNotFoundException: Requested resource not found"),
                EXIT_CONFIG,
            ),
            (
                store("service error: unhandled error (AccessDeniedException): User: x is not authorized"),
                EXIT_AWS,
            ),
            (
                store("failed to construct request: an error occurred while loading credentials: the profile was not found"),
                EXIT_CONFIG,
            ),
            (
                store("dispatch failure: io error: Connection refused (os error 111)"),
                EXIT_ERROR,
            ),
            // What aws-config says for an unknown profile, no credentials, no region.
            (
                store("dispatch failure: other: the credential provider was not enabled: profile `nosuch` was not defined"),
                EXIT_CONFIG,
            ),
            (
                store("dispatch failure: other: the credential provider was not enabled: no credentials found in chain"),
                EXIT_CONFIG,
            ),
            (store("dispatch failure: other: missing signing region"), EXIT_CONFIG),
            (CliError::Usage("--memory".into()), EXIT_USAGE),
            (
                CliError::UnknownCluster {
                    cluster: "c".into(),
                    table: "t".into(),
                },
                EXIT_CONFIG,
            ),
            (CliError::NotFound("no job j in jobs".into()), EXIT_CONFIG),
            // jobs submit / cancel: typed by the dispatcher, never read from the message.
            (
                CliError::Dispatch(DispatchError::Invalid("invalid job: job.prority".into())),
                EXIT_USAGE,
            ),
            (
                CliError::Dispatch(DispatchError::NotFound(
                    "invalid job: unknown cluster c".into(),
                )),
                EXIT_CONFIG,
            ),
            (
                CliError::Dispatch(DispatchError::TaskDefinition {
                    task_definition: "report:3".into(),
                    source: EcsError::Refused {
                        operation: "DescribeTaskDefinition",
                        code: "AccessDeniedException".into(),
                        message: "not authorized".into(),
                    },
                }),
                EXIT_AWS,
            ),
            (
                CliError::ServicesFailed {
                    cluster: "c".into(),
                    failed: vec!["agent: ECS refused UpdateService (AccessDeniedException)".into()],
                },
                EXIT_AWS,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.exit_code(), want, "{err}");
        }
        let sdk = "capacity table Query failed: service error: ResourceNotFoundException: \
                   Requested resource not found (ServiceError(ServiceError { source: x }))";
        assert_eq!(
            short_message(sdk),
            "capacity table Query failed: service error: ResourceNotFoundException: Requested \
             resource not found"
        );
        let codes = [
            EXIT_OK,
            EXIT_DOES_NOT_FIT,
            EXIT_USAGE,
            EXIT_CONFIG,
            EXIT_AWS,
            EXIT_ERROR,
        ];
        let distinct: std::collections::BTreeSet<u8> = codes.into_iter().collect();
        assert_eq!(distinct.len(), codes.len(), "every code means one thing");
    }
}
