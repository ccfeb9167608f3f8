//! daemon-count against moto: tag discovery, named services, dry run, `memberOf`, the scheduled
//! sweep and refused input.

// Where moto differs from ECS it is said at the point of use:
// - moto stores no service placement constraints (task-definition ones are kept), so service-level
//   `memberOf` is covered by unit tests in autopilot-core;
// - every moto host reports agentConnected = true, so "disconnected" is covered by unit tests;
// - moto ignores ListContainerInstances' `filter`: we never send one, we evaluate expressions ourselves.

use autopilot_aws::{AwsEcs, CallCounter};
use autopilot_core::daemon::{Action, DaemonConfig, DaemonReconciler, DecisionRecord};
use autopilot_core::env::ClusterScope;
use daemon_count::{handle, Response};
use integration_tests::fixtures::{
    bare_event, cluster_arn, ecs_event, scheduled_event, DAEMON_TAG,
};
use integration_tests::{EcsFixture, Moto};
use serde_json::json;

fn reconciler(moto: &Moto, config: DaemonConfig) -> (DaemonReconciler<AwsEcs>, CallCounter) {
    let clients = moto.counted_clients();
    (
        DaemonReconciler::new(AwsEcs::new(clients.ecs), config),
        clients.counter,
    )
}

fn record<'a>(response: &'a Response, service: &str) -> &'a DecisionRecord {
    response
        .clusters
        .iter()
        .flat_map(|c| c.services.iter())
        .find(|r| r.service == service)
        .unwrap_or_else(|| panic!("no decision record for {service}: {response:#?}"))
}

/// The acceptance scenario: 5 hosts, 1 DRAINING; logs (tagged, 0), metrics (tagged, 7),
/// web (untagged, 2), agent (tagged, DAEMON strategy).
struct Scenario<'a> {
    fx: EcsFixture<'a>,
    hosts: Vec<String>,
}

async fn scenario(moto: &Moto) -> Scenario<'_> {
    let (fx, hosts) = EcsFixture::with_hosts(moto, "prod", 5).await;
    fx.set_draining(&hosts[4]).await;
    let td = fx.register_task_definition("sidecar", None).await;
    fx.create_service("logs", &td, 0, DAEMON_TAG, false).await;
    fx.create_service("metrics", &td, 7, DAEMON_TAG, false)
        .await;
    fx.create_service("web", &td, 2, &[], false).await;
    fx.create_service("agent", &td, 0, DAEMON_TAG, true).await;
    Scenario { fx, hosts }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_discovery_sets_counts_and_a_repeat_event_writes_nothing() {
    let moto = Moto::start();
    let s = scenario(&moto).await;
    let agent_before = s.fx.desired_count("agent").await;
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());
    let event = s.fx.instance_event(&s.hosts[0], "ACTIVE");

    let response = handle(&rec, event.clone()).await.expect("handled");
    assert_eq!(response.trigger, "instance_event");
    assert_eq!(s.fx.desired_count("logs").await, 4);
    assert_eq!(s.fx.desired_count("metrics").await, 4);
    assert_eq!(
        s.fx.desired_count("web").await,
        2,
        "untagged service untouched"
    );
    assert_eq!(
        s.fx.desired_count("agent").await,
        agent_before,
        "DAEMON service untouched"
    );

    let logs = record(&response, "logs");
    assert_eq!(
        (logs.previous_desired, logs.new_desired),
        (Some(0), Some(4))
    );
    assert_eq!(logs.action, Action::Updated);
    assert_eq!(logs.eligible, Some(4));
    assert_eq!(
        logs.excluded.draining.len(),
        1,
        "the draining host is named"
    );
    let metrics = record(&response, "metrics");
    assert_eq!(
        (metrics.previous_desired, metrics.new_desired),
        (Some(7), Some(4))
    );
    let agent = record(&response, "agent");
    assert_eq!(agent.action, Action::Skipped);
    assert!(
        agent.reason.as_deref().unwrap_or("").contains("DAEMON"),
        "{agent:?}"
    );
    assert!(
        response.clusters[0]
            .services
            .iter()
            .all(|r| r.service != "web"),
        "untagged services are not reported in tag mode"
    );

    let first = calls.snapshot();
    assert_eq!(first.get("UpdateService"), Some(&2));
    // ListServices 1 page, DescribeServices 1 batch, hosts 1 list + 1 describe, 1 task definition.
    assert_eq!(first.get("ListServices"), Some(&1));
    assert_eq!(first.get("DescribeServices"), Some(&1));
    assert_eq!(first.get("ListContainerInstances"), Some(&1));
    assert_eq!(first.get("DescribeContainerInstances"), Some(&1));
    assert_eq!(first.get("DescribeTaskDefinition"), Some(&1));
    eprintln!("ECS calls, first event (tag discovery): {first:?}");

    calls.reset();
    let again = handle(&rec, event).await.expect("handled again");
    assert_eq!(calls.get("UpdateService"), 0, "same event again: no write");
    assert_eq!(
        calls.get("DescribeTaskDefinition"),
        0,
        "task definition served from the warm cache"
    );
    assert_eq!(record(&again, "logs").action, Action::Unchanged);
    assert_eq!(record(&again, "metrics").action, Action::Unchanged);
    eprintln!(
        "ECS calls, repeated event (tag discovery): {:?}",
        calls.snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_services_need_no_discovery_calls_and_report_bad_entries() {
    let moto = Moto::start();
    let s = scenario(&moto).await;
    let config = DaemonConfig {
        services: Some(vec![
            "logs".into(),
            "metrics".into(),
            "agent".into(),
            "does-not-exist".into(),
        ]),
        ..DaemonConfig::default()
    };
    let (rec, calls) = reconciler(&moto, config);
    let response = handle(&rec, s.fx.instance_event(&s.hosts[1], "ACTIVE"))
        .await
        .expect("handled");

    assert_eq!(s.fx.desired_count("logs").await, 4);
    assert_eq!(s.fx.desired_count("metrics").await, 4);
    assert_eq!(record(&response, "agent").action, Action::Skipped);
    let missing = record(&response, "does-not-exist");
    assert_eq!(missing.action, Action::Skipped);
    assert!(
        missing.reason.as_deref().unwrap_or("").contains("MISSING"),
        "{missing:?}"
    );
    assert_eq!(calls.get("ListServices"), 0, "named services: no discovery");
    eprintln!(
        "ECS calls, first event (named services): {:?}",
        calls.snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_records_the_same_decision_and_writes_nothing() {
    let moto = Moto::start();
    let s = scenario(&moto).await;
    let (rec, calls) = reconciler(
        &moto,
        DaemonConfig {
            dry_run: true,
            ..DaemonConfig::default()
        },
    );
    let response = handle(&rec, s.fx.instance_event(&s.hosts[0], "ACTIVE"))
        .await
        .expect("handled");
    assert!(response.dry_run);
    let logs = record(&response, "logs");
    assert_eq!(
        (logs.previous_desired, logs.new_desired),
        (Some(0), Some(4))
    );
    assert_eq!(logs.action, Action::DryRun);
    assert_eq!(calls.get("UpdateService"), 0);
    assert_eq!(s.fx.desired_count("logs").await, 0);
    assert_eq!(s.fx.desired_count("metrics").await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_definition_member_of_limits_eligible_hosts() {
    let moto = Moto::start();
    let (fx, t3) = EcsFixture::with_hosts(&moto, "mixed", 3).await;
    fx.add_hosts("m5.large", "us-east-1b", 2).await;
    fx.set_draining(&t3[2]).await;
    // moto keeps task-definition constraints (service ones it drops; see the unit tests).
    let td = fx
        .register_task_definition("t3-only", Some("attribute:ecs.instance-type =~ t3.*"))
        .await;
    fx.create_service("t3-daemon", &td, 0, DAEMON_TAG, false)
        .await;
    let (rec, _) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, fx.instance_event(&t3[0], "ACTIVE"))
        .await
        .expect("handled");
    let r = record(&response, "t3-daemon");
    assert_eq!(r.new_desired, Some(2), "{r:?}");
    assert_eq!(r.excluded.constraint.len(), 2, "both m5 hosts named: {r:?}");
    assert_eq!(r.excluded.draining.len(), 1);
    assert_eq!(
        r.constraints,
        vec!["attribute:ecs.instance-type =~ t3.*".to_string()]
    );
    assert_eq!(fx.desired_count("t3-daemon").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sweep_reconciles_every_cluster_and_reports_missing_ones() {
    let moto = Moto::start();
    let a = EcsFixture::new(&moto, "alpha").await;
    let b = EcsFixture::new(&moto, "beta").await;
    a.add_hosts("t3.large", "us-east-1a", 2).await;
    b.add_hosts("t3.large", "us-east-1a", 3).await;
    let td = a.register_task_definition("sidecar", None).await;
    a.create_service("logs", &td, 0, DAEMON_TAG, false).await;
    b.create_service("logs", &td, 0, DAEMON_TAG, false).await;

    // CLUSTERS unset: every cluster of the account.
    let (rec, _) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, scheduled_event()).await.expect("sweep");
    assert_eq!(response.trigger, "schedule");
    assert_eq!(a.desired_count("logs").await, 2);
    assert_eq!(b.desired_count("logs").await, 3);

    // CLUSTERS names one that does not exist: the others are still reconciled, the run fails
    // with a message naming it (so Lambda retries and the failure destination sees it).
    let (rec, _) = reconciler(
        &moto,
        DaemonConfig {
            clusters: ClusterScope::Only(vec!["alpha".into(), "no-such-cluster".into()]),
            ..DaemonConfig::default()
        },
    );
    let err = handle(&rec, scheduled_event())
        .await
        .expect_err("missing cluster");
    let msg = err.to_string();
    assert!(msg.contains("no-such-cluster"), "{msg}");
    assert!(msg.contains("not found"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_without_writes() {
    let moto = Moto::start();
    let s = scenario(&moto).await;
    s.fx.ecs
        .tag_resource()
        .resource_arn(
            s.fx.ecs
                .describe_services()
                .cluster(&s.fx.cluster)
                .services("logs")
                .send()
                .await
                .expect("describe")
                .services()[0]
                .service_arn()
                .expect("arn"),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("ecs-autopilot:tasks-per-host")
                .value("two")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());

    // Unknown detail-type: a logged skip, no ECS call at all.
    let other = ecs_event(
        "ECS Service Action",
        json!({"eventName": "SERVICE_STEADY_STATE", "clusterArn": s.fx.cluster_arn}),
    );
    let response = handle(&rec, other).await.expect("skip is not an error");
    assert_eq!(response.trigger, "skipped");
    assert_eq!(calls.total(), 0);

    // A known detail-type without its identity fields: a clear error, no ECS call.
    let broken = bare_event(
        "ECS Container Instance State Change",
        "aws.ecs",
        json!({"status": "ACTIVE"}),
    );
    let err = handle(&rec, broken).await.expect_err("invalid event");
    assert!(err.to_string().contains("clusterArn"), "{err}");
    assert_eq!(calls.total(), 0);

    // A cluster that does not exist: a clear error, no write.
    let mut ghost = s.fx.instance_event(&s.hosts[0], "ACTIVE");
    ghost["detail"]["clusterArn"] = json!(cluster_arn("ghost"));
    let err = handle(&rec, ghost).await.expect_err("no such cluster");
    assert!(err.to_string().contains("ghost"), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    assert_eq!(calls.get("UpdateService"), 0);

    // A tasks-per-host tag that is not a number: that service is skipped and named; others proceed.
    let response = handle(&rec, s.fx.instance_event(&s.hosts[0], "ACTIVE"))
        .await
        .expect("handled");
    let logs = record(&response, "logs");
    assert_eq!(logs.action, Action::Skipped);
    assert!(
        logs.reason.as_deref().unwrap_or("").contains("\"two\""),
        "{logs:?}"
    );
    assert_eq!(
        s.fx.desired_count("logs").await,
        0,
        "no write for the bad tag"
    );
    assert_eq!(s.fx.desired_count("metrics").await, 4);
}
