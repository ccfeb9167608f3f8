//! The moto test binary: each function end to end against a moto server (real SDK calls, the real
//! handler), one module per function; every test starts its own moto (see `Moto`).

mod capacity_recorder;
mod daemon_count;
mod faults;
mod iam;
mod instance_drainer;
mod metric_cost;
mod task_dispatcher;
