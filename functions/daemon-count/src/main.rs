//! daemon-count Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `daemon_count::handle` with that shared state.

use autopilot_aws::{AwsEcs, CallCounter};
use autopilot_core::daemon::DaemonConfig;
use autopilot_core::daemon::DaemonReconciler;
use autopilot_core::env::FromEnv;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

// One event at a time per execution environment: a single-threaded runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();

    // Fail the cold start, naming the variable, rather than run with a half-read config.
    let config = DaemonConfig::from_env()?;
    let sdk_config = aws_config::load_from_env().await;
    // Every request counted: each invocation logs its AWS calls and throttles as metrics.
    let calls = CallCounter::new();
    let reconciler = DaemonReconciler::new(AwsEcs::new(calls.ecs(&sdk_config)), config);
    let (reconciler, calls) = (&reconciler, &calls);

    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = autopilot_core::clock::deadline_from_unix_millis(event.context.deadline);
            let before = calls.usage();
            let result = daemon_count::handle_until(reconciler, event.payload, deadline).await;
            calls.log_since("daemon-count", before);
            result
        },
    ))
    .await
}
