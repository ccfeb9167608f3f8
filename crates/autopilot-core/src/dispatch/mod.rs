//! task-dispatcher: a priority job queue that starts ECS tasks only where they fit.
//! `config` (env), `decide` (pure: order, place, reserve, expire; table of cases), `lifecycle`
//! (pure: what each observation does to a job; table of cases), `report`
//! (the decision records) and `dispatcher` (the service: read jobs and hosts, decide, start,
//! record). The job model is [`crate::job`].

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
pub use dispatcher::{DispatchError, Dispatcher, SubmitResult};
pub use report::{JobAction, JobRecord, ScaleReport, WakeReport};
pub use scale::{decide_scale, provision, HostSize, ScaleInput, ScalePlan};
