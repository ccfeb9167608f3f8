//! Core of ecs-autopilot: everything that does not talk to AWS.
//!
//! Flat modules are the shared vocabulary — [`arn`], [`clock`], [`env`](mod@env), [`events`],
//! [`log`], [`markers`] (the tag and stop reason the functions share through ECS), [`model`],
//! [`record`] (the capacity table's), [`retry`] (which errors a retry can fix, and the one helper
//! that fails or records), and task-dispatcher's [`job`] model (with its submission checks),
//! [`submission`] keys and [`pass_role`] check; `testing` holds the builders every test uses
//! (behind the `test-util` feature for other crates). Folders are a family of ports ([`ports`]:
//! one file per port, the ECS port as one-request primitives with each multi-call lookup written
//! once over them; and one in-memory fake per port in [`memory`], behind the same feature) or one
//! capability each: [`daemon`] (daemon-count), [`capacity`] (the capacity table), [`drain`]
//! (instance-drainer), [`dispatch`] (task-dispatcher; also the job `lifecycle`, run-time
//! `estimate`s, the owned group's `scale`, periodic `schedule`s and the scheduling simulator,
//! `simulate`), each with `config`, `decide` (pure, with its table of cases), `report` and its
//! service.
//!
//! Each rule's table of cases is in its module doc; the manual (`docs/` in the repository) links
//! here rather than restating them.

pub mod arn;
pub mod clock;
pub mod env;
pub mod events;
pub mod job;
pub mod log;
pub mod markers;
pub mod model;
pub mod pass_role;
pub mod record;
pub mod retry;
pub mod submission;

#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod ports;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub mod capacity;
pub mod daemon;
pub mod dispatch;
pub mod drain;
