//! task-dispatcher: a priority job queue that starts ECS tasks only where they fit. The job model
//! is [`crate::job`].
//!
//! - pure rules, each with its table of cases: [`decide`](mod@decide) (order, place, reserve,
//!   expire; the hosts a decision sees and the holds in `decide/hosts.rs`, `decide/holds.rs`),
//!   [`lifecycle`] (what each observation does to a job), [`estimate`] (run times learned from
//!   succeeded runs), [`scale`] (the owned group, capacity providers), [`schedule`] (periodic
//!   ticks);
//! - [`dispatcher`]: [`Dispatcher`], the service, in parts: `submit.rs` (a submission stored as a
//!   QUEUED job, schedule ticks), `host_read.rs` (the hosts, through
//!   [`crate::capacity::read_capacity_view`] or ECS), `wake.rs` (one wake-up: reconcile, decide,
//!   expire, start, scale), `launch.rs` (RunTask and its reconciliation);
//! - [`simulate`]: the scheduling simulator (`simulate/trace.rs`, `schedulers.rs`,
//!   `acceptance.rs`); [`report`]: the decision records; [`config`]: settings.

pub mod config;
pub mod decide;
pub mod dispatcher;
pub mod estimate;
mod host_read;
mod launch;
pub mod lifecycle;
pub mod report;
pub mod scale;
pub mod schedule;
pub mod simulate;
mod submit;
mod wake;

pub use config::{DispatchConfig, ScaleGroupConfig, ENV_JOBS_TABLE};
pub use decide::{decide, Action, DaemonReservation, DispatchHost, JobDecision, Plan};
pub use dispatcher::{DispatchEcs, DispatchError, Dispatcher, SubmitResult};
pub use report::{JobAction, JobRecord, ScaleReport, WakeReport};
pub use scale::{decide_scale, provision, HostSize, ScaleInput, ScalePlan};
