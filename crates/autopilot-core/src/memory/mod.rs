//! In-memory adapters, exactly one per port, with the same file names as [`crate::ports`]: for
//! tests (here and, behind the `test-util` feature, in other crates) and what-if runs.

pub mod capacity_store;
pub mod ecs;
pub mod lifecycle;
pub mod queue;

pub use capacity_store::InMemoryCapacityStore;
pub use ecs::InMemoryEcs;
pub use lifecycle::{InMemoryLifecycle, LifecycleCall};
pub use queue::InMemoryQueue;
