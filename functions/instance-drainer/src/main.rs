//! instance-drainer Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `instance_drainer::handle` with that shared state.

use autopilot_aws::{AwsAutoScaling, AwsEcs, AwsSqs, CallCounter};
use autopilot_core::drain::{DrainConfig, Drainer};
use autopilot_core::env::FromEnv;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

// One event at a time per execution environment: a single-threaded runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();

    // Fail the cold start, naming the variable, rather than run with a half-read config.
    let config = DrainConfig::from_env()?;
    let sdk_config = aws_config::load_from_env().await;
    // Every request counted: each invocation logs its AWS calls and throttles as metrics.
    let calls = CallCounter::new();
    let queue = AwsSqs::new(calls.sqs(&sdk_config), config.recheck_queue_url.clone());
    let drainer = Drainer::new(
        AwsEcs::new(calls.ecs(&sdk_config)),
        AwsAutoScaling::new(calls.autoscaling(&sdk_config)),
        queue,
        config,
    );
    let (drainer, calls) = (&drainer, &calls);

    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = autopilot_core::clock::deadline_from_unix_millis(event.context.deadline);
            let before = calls.usage();
            let result = instance_drainer::handle(drainer, event.payload, deadline).await;
            calls.log_since("instance-drainer", before);
            result
        },
    ))
    .await
}
