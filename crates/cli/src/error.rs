//! The command line's errors and exit codes (what each code means is in the crate docs).

use thiserror::Error;

pub const EXIT_OK: u8 = 0;
pub const EXIT_DOES_NOT_FIT: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(
        "cluster {cluster} has no hosts in table {table} (wrong name, or the recorder has not run)"
    )]
    UnknownCluster { cluster: String, table: String },
    #[error("cluster {cluster} is gone (deregistered: {detail})")]
    ClusterGone { cluster: String, detail: String },
    #[error("daemon reconcile of {cluster}: {} service(s) failed: {}", .failed.len(), .failed.join("; "))]
    ServicesFailed {
        cluster: String,
        failed: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] autopilot_core::ports::StoreError),
    #[error(transparent)]
    Ecs(#[from] autopilot_core::ports::EcsError),
    #[error(transparent)]
    Config(#[from] autopilot_core::env::ConfigError),
    #[error(transparent)]
    Jobs(#[from] autopilot_core::ports::JobStoreError),
    #[error(transparent)]
    Dispatch(#[from] autopilot_core::dispatch::DispatchError),
}
