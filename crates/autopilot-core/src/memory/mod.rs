//! In-memory adapters, exactly one per port, with the same file names as [`crate::ports`]: for
//! tests (here and, behind the `test-util` feature, in other crates) and what-if runs.

pub mod capacity_store;
pub mod ecs;
pub mod job_store;
pub mod lifecycle;
pub mod queue;
pub mod scale_group;
pub mod task_launcher;

pub use capacity_store::InMemoryCapacityStore;
pub use ecs::InMemoryEcs;
pub use job_store::InMemoryJobStore;
pub use lifecycle::{InMemoryLifecycle, LifecycleCall};
pub use queue::InMemoryQueue;
pub use scale_group::{InMemoryScaleGroup, ScaleGroupCall};
pub use task_launcher::RunTaskCall;
