//! task-dispatcher Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `task_dispatcher::handle` with that shared state.

use autopilot_aws::{
    lambda::cold_start, AwsEcs, AwsScaleGroup, AwsSqs, DynamoCapacityStore, DynamoJobStore,
};
use autopilot_core::clock::unix_now;
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use lambda_runtime::Error;

// One event at a time per execution environment (reserved concurrency 1): a single-threaded
// runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, aws) = cold_start::<DispatchConfig>().await?;
    let dynamodb = aws.dynamodb();
    let store = DynamoJobStore::new(dynamodb.clone(), &config.jobs_table);
    let capacity = (config.capacity_table.as_ref()).map(|t| DynamoCapacityStore::new(dynamodb, t));
    // SCALE_GROUP unset: the group port is there but never called (no Auto Scaling permission
    // is needed for that).
    let group = AwsScaleGroup::new(aws.autoscaling());
    let dead_letters =
        (config.dead_letter_queue_url.as_ref()).map(|url| AwsSqs::new(aws.sqs(), url));
    let dead_letters = &dead_letters;
    let dispatcher = Dispatcher::new(store, AwsEcs::new(aws.ecs()), capacity, config);
    let dispatcher = &dispatcher.with_scale_group(group);
    aws.serve("task-dispatcher", move |event| async move {
        if task_dispatcher::is_sqs_batch(&event.payload) {
            let batch = task_dispatcher::handle_sqs_batch(
                dispatcher,
                &event.payload,
                unix_now(),
                dead_letters.as_ref(),
            );
            return Ok(batch.await);
        }
        let request_id = event.context.request_id.clone();
        task_dispatcher::handle_invocation(dispatcher, event.payload, unix_now(), Some(&request_id))
            .await
    })
    .await
}
