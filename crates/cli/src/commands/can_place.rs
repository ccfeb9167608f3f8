//! `capacity can-place`: whether COUNT tasks fit now, placed one at a time over the schedulable
//! hosts the table records, with ECS's constraints and strategies.

use autopilot_core::capacity::{no_schedulable_host_reason, placement_hosts, Record};
use aws_config::SdkConfig;
use clap::Args;
use ecs_cluster_query::placement::{self, Constraint, Placement, Strategy, TaskRequest};

use super::{TableArgs, TaskRead};
use crate::{render, CliError, EXIT_DOES_NOT_FIT, EXIT_OK};

/// The most tasks `can-place --count` simulates. ECS's RunTask places at most 10 per call; a
/// larger count answers "would N more fit?" for capacity planning, and this bound keeps the
/// simulation's time and memory small (each task is placed one at a time over every host).
pub const MAX_COUNT: usize = 10_000;

#[derive(Debug, Args)]
pub struct CanPlace {
    #[command(flatten)]
    pub table: TableArgs,
    /// CPU units per task (1024 = 1 vCPU).
    #[arg(long, default_value_t = 0)]
    pub cpu: i64,
    /// Memory per task, MiB.
    #[arg(long)]
    pub memory: i64,
    /// Static host ports per task, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ports: Vec<u16>,
    /// Number of tasks, 1 to 10000.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Placement constraint, repeatable: `memberOf:EXPRESSION` or `distinctInstance`.
    #[arg(long = "constraint")]
    pub constraints: Vec<String>,
    /// Placement strategy, repeatable, applied in order: `binpack:cpu|memory`,
    /// `spread:instanceId|host|attribute:NAME`, `random`.
    #[arg(long = "strategy")]
    pub strategies: Vec<String>,
    /// Seed for the `random` strategy (same seed, same answer).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Task group of the tasks (e.g. `service:web`), for `distinctInstance` and `task:group`.
    #[arg(long)]
    pub group: Option<String>,
}

/// The placement rules of a request, parsed and checked against ECS's limits.
struct Rules {
    constraints: Vec<Constraint>,
    strategies: Vec<Strategy>,
}

impl CanPlace {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        // Arguments first: a bad request fails before any AWS call.
        let rules = self.rules()?;
        let records = self
            .table
            .read_records(sdk, &self.tasks_to_read(&rules))
            .await?;
        self.answer(&rules, &records, out)
    }

    /// Which tasks the answer depends on: every live task for a `memberOf` expression on
    /// `task:group` (it may name any group); the live tasks of `--group` when `distinctInstance`
    /// or `spread` count them (the placement engine counts that group's tasks only); none
    /// otherwise (resources, attributes, binpack, random: the hosts alone answer).
    fn tasks_to_read(&self, rules: &Rules) -> TaskRead {
        let member_of_groups = rules
            .constraints
            .iter()
            .any(|c| matches!(c, Constraint::MemberOf(e) if e.references_task_group()));
        let counts_group = rules
            .constraints
            .iter()
            .any(|c| matches!(c, Constraint::DistinctInstance))
            || rules
                .strategies
                .iter()
                .any(|s| matches!(s, Strategy::Spread(_)));
        match &self.group {
            _ if member_of_groups => TaskRead::All,
            Some(group) if counts_group => TaskRead::Group(group.clone()),
            _ => TaskRead::None,
        }
    }

    /// Which tasks this request reads (see [`CanPlace::run`]).
    pub fn task_read(&self) -> Result<TaskRead, CliError> {
        Ok(self.tasks_to_read(&self.rules()?))
    }

    /// The answer over records already read (pure: unit-tested without AWS).
    pub fn on_records(&self, records: &[Record], out: &mut String) -> Result<u8, CliError> {
        let rules = self.rules()?;
        self.answer(&rules, records, out)
    }

    /// Checks the arguments (no records needed).
    fn rules(&self) -> Result<Rules, CliError> {
        if self.cpu < 0 || self.memory <= 0 {
            return Err(CliError::Usage(
                "--memory must be > 0 MiB and --cpu ≥ 0 units".into(),
            ));
        }
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(CliError::Usage(format!(
                "--count must be between 1 and {MAX_COUNT} (got {})",
                self.count
            )));
        }
        let constraints = placement::parse_constraints(&self.constraints)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let strategies = placement::parse_strategies(&self.strategies, self.seed)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        placement::check_limits(&constraints, &strategies)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Rules {
            constraints,
            strategies,
        })
    }

    fn answer(&self, rules: &Rules, records: &[Record], out: &mut String) -> Result<u8, CliError> {
        self.table.require_records(records)?;
        let request = TaskRequest {
            cpu: self.cpu,
            memory: self.memory,
            ports: self.ports.clone(),
            group: self.group.clone(),
        };
        let result = match no_schedulable_host_reason(records) {
            // Say what the hosts are instead of "no hosts".
            Some(reason) => Placement {
                placed: Vec::new(),
                unplaced: self.count,
                reason: Some(reason),
            },
            None => placement::place(
                &placement_hosts(records),
                &request,
                self.count,
                &rules.constraints,
                &rules.strategies,
            ),
        };
        let fits = result.unplaced == 0;
        render::placement(
            out,
            &result,
            self.count,
            &request,
            records,
            &self.table.style(),
        );
        Ok(if fits { EXIT_OK } else { EXIT_DOES_NOT_FIT })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{can_place, filter, instances, records};
    use super::*;

    #[test]
    fn filter_and_can_place_agree_on_a_task_group_expression() {
        let expr = "not(task:group == service:web)";
        let mut out = String::new();
        filter(expr, false)
            .on_records(&records(), &mut out)
            .expect("filter");
        let filtered = instances(&out);
        assert_eq!(filtered, ["h1"], "{out}");
        let placed = |count: usize| {
            let cmd = CanPlace {
                constraints: vec![format!("memberOf:{expr}"), "distinctInstance".into()],
                ..can_place(count)
            };
            let mut out = String::new();
            let code = cmd.on_records(&records(), &mut out).expect("can-place");
            (code, instances(&out))
        };
        let (code, hosts) = placed(filtered.len());
        assert_eq!(code, EXIT_OK);
        assert_eq!(hosts, filtered);
        assert_eq!(placed(filtered.len() + 1).0, EXIT_DOES_NOT_FIT);
    }

    #[test]
    fn can_place_rejects_counts_above_the_maximum_without_placing() {
        for count in [0, MAX_COUNT + 1, usize::MAX] {
            let err = can_place(count)
                .on_records(&records(), &mut String::new())
                .expect_err("out of range");
            assert!(
                err.to_string()
                    .contains("--count must be between 1 and 10000"),
                "{err}"
            );
        }
        // The maximum itself is simulated (and, on 2 hosts, does not fit).
        let mut out = String::new();
        assert_eq!(
            can_place(MAX_COUNT)
                .on_records(&records(), &mut out)
                .expect("runs"),
            EXIT_DOES_NOT_FIT
        );
    }
}
