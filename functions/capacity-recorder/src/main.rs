//! capacity-recorder Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `capacity_recorder::handle` with that shared state.

use autopilot_aws::{AwsEcs, CallCounter, DynamoCapacityStore};
use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::env::FromEnv;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

// One event at a time per execution environment: a single-threaded runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();

    // Fail the cold start, naming the variable, rather than run with a half-read config.
    let config = RecorderConfig::from_env()?;
    let sdk_config = aws_config::load_from_env().await;
    // Every request counted: each invocation logs its AWS calls and throttles as metrics.
    let calls = CallCounter::new();
    let store = DynamoCapacityStore::new(calls.dynamodb(&sdk_config), &config.table);
    let ecs = AwsEcs::new(calls.ecs(&sdk_config));
    let recorder = CapacityRecorder::new(store, ecs, config);
    let (recorder, calls) = (&recorder, &calls);

    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let before = calls.usage();
            let result = capacity_recorder::handle(
                recorder,
                event.payload,
                autopilot_core::clock::unix_now(),
            )
            .await;
            calls.log_since("capacity-recorder", before);
            result
        },
    ))
    .await
}
