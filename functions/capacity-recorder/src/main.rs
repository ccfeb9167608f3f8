//! capacity-recorder Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `capacity_recorder::handle` with that shared state.

use autopilot_aws::{lambda::cold_start, AwsEcs, DynamoCapacityStore};
use autopilot_core::capacity::{CapacityRecorder, RecorderConfig};
use autopilot_core::clock::unix_now;
use lambda_runtime::Error;

// One event at a time per execution environment: a single-threaded runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, aws) = cold_start::<RecorderConfig>().await?;
    let store = DynamoCapacityStore::new(aws.dynamodb(), &config.table);
    let recorder = &CapacityRecorder::new(store, AwsEcs::new(aws.ecs()), config);
    aws.serve("capacity-recorder", move |event| async move {
        capacity_recorder::handle(recorder, event.payload, unix_now()).await
    })
    .await
}
