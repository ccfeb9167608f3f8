//! task-dispatcher Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `task_dispatcher::handle` with that shared state.

use autopilot_aws::{AwsEcs, AwsScaleGroup, CallCounter, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::env::FromEnv;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

// One event at a time per execution environment (reserved concurrency 1): a single-threaded
// runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();

    // Fail the cold start, naming the variable, rather than run with a half-read config.
    let config = DispatchConfig::from_env()?;
    let sdk_config = aws_config::load_from_env().await;
    // Every request counted: each invocation logs its AWS calls and throttles as metrics.
    let calls = CallCounter::new();
    let dynamodb = calls.dynamodb(&sdk_config);
    let store = DynamoJobStore::new(dynamodb.clone(), &config.jobs_table);
    let capacity = config
        .capacity_table
        .as_ref()
        .map(|t| DynamoCapacityStore::new(dynamodb.clone(), t));
    let ecs = AwsEcs::new(calls.ecs(&sdk_config));
    // SCALE_GROUP unset: the group port is there but never called (no Auto Scaling permission
    // is needed for that).
    let group = AwsScaleGroup::new(calls.autoscaling(&sdk_config));
    let dispatcher = Dispatcher::new(store, ecs, capacity, config).with_scale_group(group);
    let (dispatcher, calls) = (&dispatcher, &calls);

    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let before = calls.usage();
            let result = task_dispatcher::handle(
                dispatcher,
                event.payload,
                autopilot_core::clock::unix_now(),
            )
            .await;
            calls.log_since("task-dispatcher", before);
            result
        },
    ))
    .await
}
