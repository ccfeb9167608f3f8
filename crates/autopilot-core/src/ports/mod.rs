//! Ports: what the services need from AWS, one trait family per file. Adapters live in
//! `autopilot-aws` (real) and `crate::memory` (in memory, same file names).
//!
//! - [`ecs`]: [`EcsRead`] / [`EcsWrite`], one-request primitives (a List page, a Describe batch,
//!   the writes) that adapters implement, and the multi-call lookups written once over them, with
//!   the failure-entry check ("only MISSING means gone") in one place;
//! - [`capacity_store`]: the capacity table; [`job_store`]: task-dispatcher's jobs table;
//! - [`lifecycle`]: Auto Scaling lifecycle actions; [`queue`]: the drainer's re-check queue;
//! - [`scale_group`]: task-dispatcher's owned Auto Scaling group; [`task_launcher`]: RunTask and
//!   the `startedBy` lookup the dispatcher reconciles with.

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
