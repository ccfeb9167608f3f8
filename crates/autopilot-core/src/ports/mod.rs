//! Ports: what the services need from AWS, one trait family per file. Adapters live in
//! `autopilot-aws` (real) and [`crate::memory`] (in memory).

pub mod capacity_store;
pub mod ecs;
pub mod lifecycle;
pub mod queue;

pub use capacity_store::{CapacityStore, StoreError};
pub use ecs::{
    check_describe_failures, DescribedServices, EcsError, EcsRead, EcsWrite, DESCRIBE_MISSING,
};
pub use lifecycle::{
    AutoScalingError, HookTimeouts, LifecycleAction, LifecycleOutcome, LifecyclePort,
};
pub use queue::{QueueError, RecheckQueue};
