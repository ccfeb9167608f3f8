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
use integration_tests::{EcsFixture, Moto, DAEMON_COUNT};
use serde_json::json;

fn reconciler(moto: &Moto, config: DaemonConfig) -> (DaemonReconciler<AwsEcs>, CallCounter) {
    let clients = moto.function_clients(DAEMON_COUNT);
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
    // The same event again (a duplicate delivery): the reconcile above read the cluster after the
    // event's time, so it already covered it — no call at all.
    let again = handle(&rec, event.clone()).await.expect("handled again");
    assert_eq!(again.trigger, "covered");
    assert_eq!(
        calls.total(),
        0,
        "a covered event costs no ECS call: {:?}",
        calls.snapshot()
    );

    // A reconcile that does run again (a newer event) writes nothing: the counts are right.
    let mut newer = event;
    newer["time"] = json!(now_event_time(10));
    let again = handle(&rec, newer).await.expect("handled again");
    assert_eq!(calls.get("UpdateService"), 0, "same state again: no write");
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

/// An EventBridge `time` `seconds_ahead` of now (later than any reconcile so far).
fn now_event_time(seconds_ahead: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds_ahead))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
    // A missing cluster is recorded, not retried: a retry cannot make it exist.
    let response = handle(&rec, scheduled_event())
        .await
        .expect("a missing cluster does not fail the sweep");
    let missing = response
        .clusters
        .iter()
        .find(|c| c.cluster == "no-such-cluster")
        .expect("reported");
    let msg = missing.error.clone().unwrap_or_default();
    assert!(msg.contains("not found"), "{msg}");
    assert!(!missing.retryable);
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
    let response = handle(&rec, ghost)
        .await
        .expect("recorded, not retried: a retry cannot make the cluster exist");
    let error = response.clusters[0].error.clone().unwrap_or_default();
    assert!(error.contains("ghost"), "{error}");
    assert!(error.contains("not found"), "{error}");
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

// ---- second round: count only where ECS can place the daemon ------------------------------
//
// moto's API cannot set a host's capacity provider, its agent's connection or its remaining
// resources, a task definition's requiresAttributes, nor store a service's capacity provider
// strategy or placement constraints: the test bed sets them on moto's model objects
// (`Moto::set_model`, tests/moto_server.py) and DescribeX then returns them, as ECS would.

fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Remaining resources as moto stores them: `memory` MiB and 4096 CPU units left.
fn remaining_memory(memory: i64) -> serde_json::Value {
    json!([
        {"name": "CPU", "type": "INTEGER", "integerValue": 4096, "doubleValue": 0.0, "longValue": 0},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory, "doubleValue": 0.0, "longValue": 0},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"], "doubleValue": 0.0, "longValue": 0, "integerValue": 0},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [], "doubleValue": 0.0, "longValue": 0, "integerValue": 0},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_agent_changes_nothing() {
    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 3).await;
    let td = fx.register_task_definition("logs", None).await;
    fx.create_service("logs", &td, 3, DAEMON_TAG, false).await;
    moto.set_model(
        "container_instance",
        "prod",
        short_id(&hosts[1]),
        json!({"agent_connected": false}),
    );
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, fx.instance_event(&hosts[1], "ACTIVE"))
        .await
        .expect("handled");
    let logs = record(&response, "logs");
    assert_eq!(logs.action, Action::Unchanged, "{logs:?}");
    assert_eq!((logs.new_desired, logs.disconnected_kept), (Some(3), 1));
    assert_eq!(
        calls.get("UpdateService"),
        0,
        "an agent flap costs no write"
    );
    assert_eq!(fx.desired_count("logs").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_hosts_of_the_strategys_capacity_provider_count() {
    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 4).await;
    for (host, provider) in [
        (0, Some("cp-a")),
        (1, Some("cp-a")),
        (2, Some("cp-b")),
        (3, None),
    ] {
        moto.set_model(
            "container_instance",
            "prod",
            short_id(&hosts[host]),
            json!({ "capacity_provider_name": provider }),
        );
    }
    let td = fx.register_task_definition("logs", None).await;
    fx.create_service("logs", &td, 0, DAEMON_TAG, false).await;
    moto.set_model(
        "service",
        "prod",
        "logs",
        json!({"launch_type": null,
               "capacity_provider_strategy": [{"capacityProvider": "cp-a", "weight": 1, "base": 0}]}),
    );
    let (rec, _) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, fx.instance_event(&hosts[0], "ACTIVE"))
        .await
        .expect("handled");
    let logs = record(&response, "logs");
    assert_eq!(logs.new_desired, Some(2), "{logs:?}");
    assert_eq!(
        logs.excluded.out_of_scope.len(),
        2,
        "cp-b and no provider: {logs:?}"
    );
    assert_eq!(fx.desired_count("logs").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_without_a_required_attribute_or_room_are_excluded_unless_they_run_the_daemon() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 4).await;
    let td = fx.register_task_definition("logs", None).await;
    moto.set_model(
        "task_definition",
        "",
        short_id(&td),
        json!({"requires_attributes": [{"name": "example.ssd"}]}),
    );
    for host in [0, 1, 3] {
        fx.put_attribute(&hosts[host], "example.ssd", "true").await;
    }
    fx.create_service("logs", &td, 0, DAEMON_TAG, false).await;
    // Host 0 runs the daemon and is full; host 1 is full without it; host 2 lacks the attribute.
    fx.start_task(&td, &hosts[0], "service:logs", Some("ecs-svc/1"))
        .await;
    for host in [0, 1] {
        moto.set_model(
            "container_instance",
            "prod",
            short_id(&hosts[host]),
            json!({ "remaining_resources": remaining_memory(0) }),
        );
    }
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, fx.instance_event(&hosts[0], "ACTIVE"))
        .await
        .expect("handled");
    let logs = record(&response, "logs");
    assert_eq!(logs.new_desired, Some(2), "hosts 0 and 3: {logs:?}");
    assert_eq!(logs.excluded.no_room.len(), 1, "{logs:?}");
    assert_eq!(logs.excluded.missing_attribute.len(), 1, "{logs:?}");
    assert_eq!(
        calls.get("ListTasks"),
        1,
        "the service's tasks, read because a host is full"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_per_host_above_one_with_distinct_instance_is_skipped_without_a_write() {
    let moto = Moto::start();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 3).await;
    let td = fx.register_task_definition("logs", None).await;
    fx.create_service(
        "logs",
        &td,
        1,
        &[DAEMON_TAG[0], ("ecs-autopilot:tasks-per-host", "2")],
        false,
    )
    .await;
    moto.set_model(
        "service",
        "prod",
        "logs",
        json!({"placement_constraints": [{"type": "distinctInstance"}]}),
    );
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, fx.instance_event(&hosts[0], "ACTIVE"))
        .await
        .expect("a skip is not a failure");
    let logs = record(&response, "logs");
    assert_eq!(logs.action, Action::Skipped);
    assert!(
        logs.reason
            .as_deref()
            .unwrap_or("")
            .contains("distinctInstance"),
        "{logs:?}"
    );
    assert_eq!(calls.get("UpdateService"), 0);
    assert_eq!(fx.desired_count("logs").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_task_on_a_host_that_stopped_matching_is_stopped_after_the_count_is_right() {
    let moto = Moto::start();
    moto.pin_ecs_tasks();
    let (fx, hosts) = EcsFixture::with_hosts(&moto, "prod", 3).await;
    let td = fx
        .register_task_definition("logs", Some("attribute:role == daemon"))
        .await;
    fx.put_attribute(&hosts[0], "role", "daemon").await;
    fx.put_attribute(&hosts[1], "role", "daemon").await;
    fx.put_attribute(&hosts[2], "role", "batch").await; // was "daemon" when its task started
    let misplaced = fx
        .start_task(&td, &hosts[2], "service:logs", Some("ecs-svc/1"))
        .await;
    fx.create_service("logs", &td, 3, DAEMON_TAG, false).await;
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());
    let response = handle(&rec, fx.instance_event(&hosts[0], "ACTIVE"))
        .await
        .expect("handled");
    let logs = record(&response, "logs");
    assert_eq!(
        (logs.action, logs.new_desired),
        (Action::Updated, Some(2)),
        "{logs:?}"
    );
    assert_eq!(logs.misplaced_tasks, vec![misplaced.clone()]);
    assert_eq!(calls.get("StopTask"), 1);
    assert_eq!(
        fx.task_status(&misplaced).await.1,
        "STOPPED",
        "desired STOPPED"
    );
    assert_eq!(
        fx.desired_count("logs").await,
        2,
        "one task per eligible host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_hundred_events_writes_once_per_changed_service() {
    let moto = Moto::start();
    let s = scenario(&moto).await;
    let (rec, calls) = reconciler(&moto, DaemonConfig::default());
    // An Auto Scaling group adds a host: ECS sends a flood of events for the cluster (the host's
    // registration, its agent, task starts), delivered one after another (reserved concurrency 1).
    s.fx.add_hosts("t3.large", "us-east-1a", 1).await;
    let mut changed = 0;
    for i in 0..100 {
        let mut event = s.fx.instance_event(&s.hosts[i % 4], "ACTIVE");
        event["time"] = json!(now_event_time(-5));
        let response = handle(&rec, event).await.expect("handled");
        if i == 0 {
            changed = response.clusters[0]
                .services
                .iter()
                .filter(|r| r.action == Action::Updated)
                .count();
        } else {
            assert_eq!(response.trigger, "covered", "event {i}");
        }
    }
    assert_eq!(changed, 2, "logs and metrics follow the new host");
    assert_eq!(
        calls.get("UpdateService"),
        2,
        "at most one write per changed service"
    );
    assert_eq!(s.fx.desired_count("logs").await, 5);
    eprintln!(
        "ECS calls, 100-event burst: {} {:?}",
        calls.total(),
        calls.snapshot()
    );
}
