//! instance-drainer Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `instance_drainer::handle` with that shared state.

use autopilot_aws::{lambda::cold_start, AwsAutoScaling, AwsEcs, AwsSqs};
use autopilot_core::clock::{deadline_from_unix_millis, unix_now};
use autopilot_core::drain::{DrainConfig, Drainer};
use lambda_runtime::Error;

// One event at a time per execution environment: a single-threaded runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, aws) = cold_start::<DrainConfig>().await?;
    let queue = AwsSqs::new(aws.sqs(), config.recheck_queue_url.clone());
    let lifecycle = AwsAutoScaling::new(aws.autoscaling());
    let drainer = &Drainer::new(AwsEcs::new(aws.ecs()), lifecycle, queue, config);
    aws.serve("instance-drainer", move |event| async move {
        let deadline = deadline_from_unix_millis(event.context.deadline);
        instance_drainer::handle(drainer, event.payload, deadline, unix_now()).await
    })
    .await
}
