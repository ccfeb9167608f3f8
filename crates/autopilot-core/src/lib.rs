//! Core of ecs-autopilot: everything that does not talk to AWS.
//!
//! - [`events`]: typed ECS EventBridge events (tolerant of fields AWS adds later).
//! - [`model`]: the cluster model (container instances, services, task definitions).
//! - [`ports`]: the ECS port (a trait) that adapters implement: the `aws-sdk-ecs` adapter lives in
//!   `autopilot-aws`, an in-memory one in [`memory`].
//! - [`config`]: configuration from the environment, with the lookup injected so it is testable.
//! - [`daemon`]: daemon-count's decision (a pure function) and the reconcile that drives it.
//! - [`capacity`], [`store`], [`recorder`]: the capacity table — ordering rules, the store port
//!   (in-memory adapter here, DynamoDB in `autopilot-aws`), the event recorder and the sweep.

pub mod capacity;
pub mod config;
pub mod daemon;
pub mod events;
pub mod logging;
pub mod memory;
pub mod model;
pub mod ports;
pub mod recorder;
pub mod store;
// instance-drainer: events, decision and ports of the drainer.
pub mod drain;
