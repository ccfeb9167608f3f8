//! AWS adapters of ecs-autopilot's ports: one module per AWS service, each implementing one port
//! file of `autopilot_core::ports`.
//!
//! - [`ecs::AwsEcs`]: the ECS port (`EcsRead`, `EcsWrite`) and task-dispatcher's `TaskLauncher`
//!   (RunTask, the `startedBy` lookup) over `aws-sdk-ecs`.
//! - [`dynamodb::DynamoCapacityStore`]: the capacity store over DynamoDB;
//!   [`dynamodb::DynamoJobStore`]: task-dispatcher's jobs table.
//! - [`autoscaling::AwsAutoScaling`]: the lifecycle port; [`scale_group::AwsScaleGroup`]: the
//!   owned group (task-dispatcher's `SCALE_GROUP`); [`sqs::AwsSqs`]: the queue port (the
//!   drainer's re-check queue, the dispatcher's failure queue).
//! - [`error::AwsError`]: the one classification of SDK errors, mapped by each adapter to its
//!   port's error; [`calls::CallCounter`]: an SDK interceptor counting requests per operation.
//! - [`lambda`] (feature `lambda`): the functions' one cold start and invocation loop.

pub mod autoscaling;
pub mod calls;
pub mod dynamodb;
pub mod ecs;
pub mod error;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod scale_group;
pub mod sqs;

pub use autoscaling::AwsAutoScaling;
pub use calls::CallCounter;
pub use dynamodb::{DynamoCapacityStore, DynamoJobStore};
pub use ecs::AwsEcs;
pub use scale_group::AwsScaleGroup;
pub use sqs::AwsSqs;
