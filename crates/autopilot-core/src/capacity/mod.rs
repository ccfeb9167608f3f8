//! The capacity table: "is there room for this task right now, and where?" from one Query.
//!
//! - [`decide`]: the pure rules — which write an event causes and when a write supersedes what is
//!   stored (the ordering rules are documented there);
//! - [`recorder`]: [`CapacityRecorder`], one conditional write per event and the repairing sweep;
//! - [`view`]: what a capacity question reads from the table (the CLI's and the dispatcher's);
//! - [`query`]: answers from stored records; [`report`]: what a run did; [`config`]: settings.

pub mod config;
pub mod decide;
pub mod query;
pub mod recorder;
pub mod report;
pub mod view;

pub use crate::record::*;
pub use config::{RecorderConfig, ENV_CAPACITY_TABLE};
pub use decide::*;
pub use query::*;
pub use recorder::{CapacityRecorder, RecorderError};
pub use report::{count_outcomes, EventResult, SweepReport};
pub use view::{read_capacity_view, ReadStats, TaskRead};
