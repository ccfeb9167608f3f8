//! AWS adapters of ecs-autopilot's ports.
//!
//! - [`ecs::AwsEcs`]: the ECS port over `aws-sdk-ecs`.
//! - [`dynamodb::DynamoCapacityStore`]: the capacity store over DynamoDB.
//! - [`calls::CallCounter`]: an SDK interceptor counting requests per operation.
//! - [`error::AwsError`]: the one classification of SDK errors, mapped by each adapter to its
//!   port's error.

pub mod calls;
pub mod dynamodb;
pub mod ecs;
pub mod error;

pub use calls::CallCounter;
pub use dynamodb::DynamoCapacityStore;
pub use ecs::AwsEcs;

// instance-drainer (issue #5): Auto Scaling lifecycle and SQS re-check adapters, ECS drain operations.
pub mod autoscaling;
pub mod drain_ecs;
pub mod sqs;

pub use autoscaling::AwsAutoScaling;
pub use sqs::AwsSqs;
