//! AWS adapters of ecs-autopilot's ports.
//!
//! - [`ecs::AwsEcs`]: the ECS port over `aws-sdk-ecs`.
//! - [`calls::CallCounter`]: an SDK interceptor counting requests per operation.

pub mod calls;
pub mod ecs;

pub use calls::CallCounter;
pub use ecs::AwsEcs;
