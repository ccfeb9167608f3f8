//! instance-drainer: drain an ECS host before Auto Scaling terminates it.
//!
//! - [`decide`](mod@decide): the pure decision (tasks + daemon services + elapsed time → complete or wait);
//! - [`drainer`]: [`Drainer`], which reads state through the ports and acts;
//! - [`report`]: the decision record; [`recheck`]: the re-check message it sends itself;
//!   [`config`]: settings.

pub mod config;
pub mod decide;
pub mod drainer;
pub mod recheck;
pub mod report;

pub use config::{DrainConfig, StandalonePolicy};
pub use decide::{decide, DrainDecision};
pub use drainer::{DrainError, Drainer};
pub use recheck::{RecheckMessage, RECHECK_KIND};
pub use report::{DrainRecord, Outcome, Trigger};
