//! daemon-count Lambda: configuration and clients are built once per cold start, then every
//! invocation is handled by `daemon_count::handle_until` with that shared state.

use autopilot_aws::{lambda::cold_start, AwsEcs};
use autopilot_core::clock::{deadline_from_unix_millis, unix_now};
use autopilot_core::daemon::{DaemonConfig, DaemonReconciler};
use lambda_runtime::Error;

// One event at a time per execution environment: a single-threaded runtime is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, aws) = cold_start::<DaemonConfig>().await?;
    let reconciler = &DaemonReconciler::new(AwsEcs::new(aws.ecs()), config);
    aws.serve("daemon-count", move |event| async move {
        let deadline = deadline_from_unix_millis(event.context.deadline);
        daemon_count::handle_until(reconciler, event.payload, deadline, unix_now()).await
    })
    .await
}
