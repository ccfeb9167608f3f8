//! Ports: what the services need from AWS, one trait family per file. Adapters live in
//! `autopilot-aws` (real) and [`crate::memory`] (in memory).

pub mod capacity_store;
pub mod ecs;
pub mod job_store;
pub mod lifecycle;
pub mod queue;
pub mod scale_group;
pub mod task_launcher;

pub use capacity_store::{CapacityStore, ItemFilter, ItemKind, ItemQuery, Page, StoreError};
pub use ecs::{
    check_describe_failures, ArnPage, ClusterDescription, ClusterState, Described,
    DescribedServices, DesiredStatus, EcsError, EcsRead, EcsWrite, ListPages, ListRequest,
    TaskFilter, CLUSTER_INACTIVE, DESCRIBE_MISSING,
};
pub use job_store::{ControlItem, Created, JobStore, JobStoreError, Replaced};
pub use lifecycle::{
    AutoScalingError, HookTimeouts, LifecycleAction, LifecycleOutcome, LifecyclePort,
};
pub use queue::{QueueError, RecheckQueue};
pub use scale_group::{GroupInstance, GroupState, NoScaleGroup, ScaleGroup, Terminated};
pub use task_launcher::{ContainerExit, LaunchedTask, RunTaskOutcome, TaskLauncher};
