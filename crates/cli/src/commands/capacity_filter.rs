//! `capacity filter`: the hosts that match a cluster query language expression, from the table
//! (by default the schedulable ones, the hosts `can-place` and daemon-count consider).

use autopilot_core::capacity::{query_hosts, HostSelection, Record};
use aws_config::SdkConfig;
use clap::Args;
use ecs_cluster_query::Expression;

use super::{TableArgs, TaskRead};
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct CapacityFilter {
    #[command(flatten)]
    pub table: TableArgs,
    /// Expression, e.g. `attribute:ecs.instance-type =~ t3.*`.
    #[arg(long)]
    pub expression: String,
    /// Also match DRAINING, disconnected and other non-schedulable hosts.
    #[arg(long)]
    pub all_statuses: bool,
}

impl CapacityFilter {
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        // Arguments first: a bad expression fails before any AWS call.
        let expr = self.parse()?;
        // Tasks only when the expression looks at task groups.
        let records = self
            .table
            .read_records(
                sdk,
                &if expr.references_task_group() {
                    TaskRead::All
                } else {
                    TaskRead::None
                },
            )
            .await?;
        self.answer(&expr, &records, out)
    }

    /// The answer over records already read (pure: unit-tested without AWS).
    pub fn on_records(&self, records: &[Record], out: &mut String) -> Result<u8, CliError> {
        let expr = self.parse()?;
        self.answer(&expr, records, out)
    }

    fn parse(&self) -> Result<Expression, CliError> {
        ecs_cluster_query::parse(&self.expression)
            .map_err(|e| CliError::Usage(format!("invalid expression: {e}")))
    }

    fn answer(
        &self,
        expr: &Expression,
        records: &[Record],
        out: &mut String,
    ) -> Result<u8, CliError> {
        self.table.require_records(records)?;
        let selection = if self.all_statuses {
            HostSelection::AllLive
        } else {
            HostSelection::Schedulable
        };
        // The same host view as can-place: task groups included.
        let matching: Vec<_> = query_hosts(records, selection)
            .into_iter()
            .filter(|q| expr.evaluate(&q.host))
            .collect();
        render::filter(
            out,
            &self.expression,
            self.all_statuses,
            &matching,
            &self.table.style(),
        );
        Ok(EXIT_OK)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{filter, instances, records};

    #[test]
    fn filter_sees_task_groups_and_only_schedulable_hosts_by_default() {
        let mut out = String::new();
        filter("task:group == service:web", false)
            .on_records(&records(), &mut out)
            .expect("filter");
        assert_eq!(instances(&out), ["h0"], "{out}");

        let mut out = String::new();
        filter("task:group == service:web", true)
            .on_records(&records(), &mut out)
            .expect("filter");
        assert_eq!(instances(&out), ["h0", "h2"], "{out}");

        let mut out = String::new();
        filter("attribute:ecs.instance-type == t3.large", false)
            .on_records(&records(), &mut out)
            .expect("filter");
        assert_eq!(instances(&out), ["h0", "h1"], "{out}");
        let mut out = String::new();
        filter("attribute:ecs.instance-type == t3.large", true)
            .on_records(&records(), &mut out)
            .expect("filter");
        assert_eq!(instances(&out), ["h0", "h1", "h2", "h3"], "{out}");
    }
}
