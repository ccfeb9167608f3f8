//! daemon-count: keep a REPLICA "daemon" service's desired count equal to its eligible hosts.
//!
//! - [`decide`](mod@decide): the pure decision (service + task definition + hosts → desired count and why);
//! - [`reconciler`]: [`DaemonReconciler`], which reads through the ECS port and writes on change;
//! - [`report`]: the decision records; [`config`]: settings.

pub mod config;
pub mod decide;
pub mod reconciler;
pub mod report;

pub use config::DaemonConfig;
pub use decide::{
    decide, decide_with, tasks_per_host, DecideContext, Decision, Excluded, TASKS_PER_HOST_TAG,
};
pub use reconciler::{services_for_cluster, DaemonReconciler, SweepOutcome};
pub use report::{summarize, Action, ClusterReport, DecisionRecord};
