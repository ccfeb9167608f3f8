//! `daemon reconcile`: daemon-count's decision for one cluster, run from here (reads ECS; writes
//! unless `--dry-run`).

use autopilot_aws::AwsEcs;
use autopilot_core::daemon::DaemonConfig;
use autopilot_core::daemon::{Action, DaemonReconciler};
use autopilot_core::env::FromEnv;
use autopilot_core::ports::{EcsRead, EcsWrite};
use aws_config::SdkConfig;
use clap::Args;

use crate::output::Style;
use crate::{render, CliError, EXIT_OK};

#[derive(Debug, Args)]
pub struct DaemonReconcile {
    /// Cluster name or ARN.
    #[arg(long)]
    pub cluster: String,
    /// Decide and print, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON (the same as --output json).
    #[arg(long)]
    pub json: bool,
    /// How to print (set from the global options).
    #[arg(skip)]
    pub style: Style,
}

impl DaemonReconcile {
    /// Honours DAEMON_SERVICES (and the function's other settings) like the function does.
    pub async fn run(&self, sdk: &SdkConfig, out: &mut String) -> Result<u8, CliError> {
        let mut config = DaemonConfig::from_env()?;
        config.dry_run |= self.dry_run;
        let reconciler = DaemonReconciler::new(AwsEcs::new(aws_sdk_ecs::Client::new(sdk)), config);
        let style = super::effective(self.style, self.json);
        let progress = crate::progress::Progress::start(format!("reconciling {}", self.cluster));
        let result = reconcile(&reconciler, &self.cluster, &style, out).await;
        drop(progress);
        result
    }
}

/// `daemon reconcile` over any ECS adapter: prints the report, then fails (exit 254) when a
/// service could not be read or updated, naming each one — a reconcile that did not happen must
/// not look like one that did.
pub async fn reconcile<E: EcsRead + EcsWrite>(
    reconciler: &DaemonReconciler<E>,
    cluster: &str,
    style: &Style,
    out: &mut String,
) -> Result<u8, CliError> {
    let report = reconciler
        .reconcile_cluster(cluster, autopilot_core::clock::unix_now())
        .await?;
    render::daemon_report(out, &report, style);
    let failed: Vec<String> = report
        .services
        .iter()
        .filter(|d| d.action == Action::Failed)
        .map(|d| format!("{}: {}", d.service, d.reason.as_deref().unwrap_or("failed")))
        .collect();
    if failed.is_empty() {
        Ok(EXIT_OK)
    } else {
        Err(CliError::ServicesFailed {
            cluster: cluster.to_string(),
            failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{host, CLUSTER};
    use super::*;
    use autopilot_core::memory::InMemoryEcs;
    use autopilot_core::model::{InstanceStatus, Service, TaskDefinition};
    use autopilot_core::ports::EcsError;

    const TASK_DEFINITION: &str = "arn:aws:ecs:us-east-1:1:task-definition/agent:1";

    fn daemon_ecs() -> InMemoryEcs {
        let ecs = InMemoryEcs::new();
        ecs.add_instance(CLUSTER, host(0, InstanceStatus::Active, true));
        ecs.add_service(CLUSTER, daemon_service());
        ecs.add_task_definition(TaskDefinition {
            arn: TASK_DEFINITION.into(),
            placement_constraints: vec![],
            ..Default::default()
        });
        ecs
    }

    fn daemon_service() -> Service {
        Service {
            arn: "arn:aws:ecs:us-east-1:1:service/prod/agent".into(),
            name: "agent".into(),
            cluster_arn: Some(CLUSTER.into()),
            status: "ACTIVE".into(),
            scheduling_strategy: autopilot_core::model::SchedulingStrategy::Replica,
            desired_count: 0,
            task_definition: Some(TASK_DEFINITION.into()),
            placement_constraints: vec![],
            tags: [("ecs-autopilot:daemon".to_string(), "true".to_string())].into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn daemon_reconcile_fails_when_update_service_fails() {
        let ecs = daemon_ecs();
        ecs.fail(
            "UpdateService",
            EcsError::Api {
                operation: "UpdateService",
                message: "AccessDenied".into(),
            },
        );
        let reconciler = DaemonReconciler::new(ecs, DaemonConfig::default());
        let mut out = String::new();
        let err = reconcile(&reconciler, "prod", &Style::default(), &mut out)
            .await
            .expect_err("a failed service fails the command");
        let msg = err.to_string();
        assert!(
            msg.contains("1 service(s) failed")
                && msg.contains("agent: ECS UpdateService failed: AccessDenied"),
            "{msg}"
        );
        assert!(
            out.contains("agent") && out.contains("failed"),
            "the report is printed: {out}"
        );

        // The same service, UpdateService working: exit 0.
        let reconciler = DaemonReconciler::new(daemon_ecs(), DaemonConfig::default());
        let json = Style {
            format: crate::output::Format::Json,
            ..Style::default()
        };
        let code = reconcile(&reconciler, "prod", &json, &mut String::new())
            .await
            .expect("reconciles");
        assert_eq!(code, EXIT_OK);
        assert_eq!(reconciler.ecs().desired_count(CLUSTER, "agent"), Some(1));
    }
}
