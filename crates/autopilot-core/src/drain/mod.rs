//! instance-drainer: drain an ECS host before Auto Scaling terminates it.
//!
//! - [`events`]: the lifecycle action and spot warning events, SQS batches, the re-check message.
//! - [`decide`]: the pure decision (tasks + daemon services + elapsed time → complete or wait).
//! - [`drainer`]: [`drainer::Drainer`], which reads state through the ports and acts.
//! - [`ports`]: what the drainer needs from ECS, Auto Scaling and SQS; [`memory`]: in-memory
//!   adapters; [`config`]: settings from the environment.

pub mod config;
pub mod decide;
pub mod drainer;
pub mod events;
pub mod memory;
pub mod ports;

pub use config::{DrainConfig, StandalonePolicy};
pub use decide::{decide, DrainDecision};
pub use drainer::{DrainError, DrainRecord, Drainer, Outcome, Trigger};
pub use events::{DrainEvent, RecheckMessage};
