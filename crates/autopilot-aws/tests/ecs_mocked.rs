//! The ECS adapter against `aws-smithy-mocks` (the SDK's own mocking): paging, batch limits,
//! throttling retries and error mapping — the parts moto cannot show (it neither pages nor throttles).

use std::time::Duration;

use autopilot_aws::AwsEcs;
use autopilot_core::ports::{EcsError, EcsRead, EcsWrite};
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::operation::describe_container_instances::DescribeContainerInstancesOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::list_container_instances::ListContainerInstancesOutput;
use aws_sdk_ecs::operation::list_services::ListServicesOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{ContainerInstance, Service};
use aws_sdk_ecs::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

fn client(rules: &[&Rule], max_attempts: u32) -> AwsEcs {
    let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, |b| b.retry_config(
        RetryConfig::standard()
            .with_max_attempts(max_attempts)
            // Real backoff, scaled down so the test takes milliseconds.
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5))
    ));
    AwsEcs::new(client)
}

fn arn(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:1:container-instance/prod/{i:032x}")
}

#[tokio::test]
async fn lists_every_page_and_describes_in_batches_of_100() {
    // 150 hosts over two pages of ListContainerInstances.
    let page1 = mock!(Client::list_container_instances)
        .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(100))
        .then_output(|| {
            ListContainerInstancesOutput::builder()
                .set_container_instance_arns(Some((0..100).map(arn).collect()))
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::list_container_instances)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListContainerInstancesOutput::builder()
                .set_container_instance_arns(Some((100..150).map(arn).collect()))
                .build()
        });
    let describe = mock!(Client::describe_container_instances)
        .match_requests(|r| r.container_instances().len() <= 100)
        .then_compute_output(|r| {
            DescribeContainerInstancesOutput::builder()
                .set_container_instances(Some(
                    r.container_instances()
                        .iter()
                        .map(|a| {
                            ContainerInstance::builder()
                                .container_instance_arn(a)
                                .status("ACTIVE")
                                .agent_connected(true)
                                .version(7)
                                .build()
                        })
                        .collect(),
                ))
                .build()
        });
    let ecs = client(&[&page1, &page2, &describe], 1);
    let hosts = ecs.container_instances("prod").await.expect("hosts");
    assert_eq!(hosts.len(), 150);
    assert_eq!(hosts[149].arn, arn(149));
    assert_eq!(hosts[0].version, Some(7));
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
    assert_eq!(
        describe.num_calls(),
        2,
        "150 hosts = 2 describe calls of at most 100"
    );
}

#[tokio::test]
async fn list_services_asks_for_100_per_page_and_describes_10_at_a_time() {
    let list = mock!(Client::list_services)
        // ListServices defaults to 10 per page: we must ask for 100.
        .match_requests(|r| r.max_results() == Some(100))
        .then_output(|| {
            ListServicesOutput::builder()
                .set_service_arns(Some(
                    (0..25)
                        .map(|i| format!("arn:aws:ecs:us-east-1:1:service/prod/s{i}"))
                        .collect(),
                ))
                .build()
        });
    let describe = mock!(Client::describe_services)
        .match_requests(|r| r.services().len() <= 10)
        .then_compute_output(|r| {
            DescribeServicesOutput::builder()
                .set_services(Some(
                    r.services()
                        .iter()
                        .map(|a| {
                            Service::builder()
                                .service_arn(a)
                                .service_name(a.rsplit('/').next().unwrap_or(a))
                                .status("ACTIVE")
                                .build()
                        })
                        .collect(),
                ))
                .build()
        });
    let ecs = client(&[&list, &describe], 1);
    let arns = ecs.list_service_arns("prod").await.expect("list");
    assert_eq!(arns.len(), 25);
    let described = ecs
        .describe_services("prod", &arns)
        .await
        .expect("describe");
    assert_eq!(described.services.len(), 25);
    assert_eq!(
        describe.num_calls(),
        3,
        "25 services = 3 calls of at most 10"
    );
}

#[tokio::test]
async fn throttling_is_retried_until_it_succeeds() {
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(400, Some(THROTTLED.to_string()))
        .times(2)
        .output(|| UpdateServiceOutput::builder().build())
        .build();
    let ecs = client(&[&update], 3);
    ecs.update_desired_count("prod", "logs", 4)
        .await
        .expect("third attempt succeeds");
    assert_eq!(update.num_calls(), 3);
}

#[tokio::test]
async fn throttling_past_the_retry_budget_is_a_clear_error() {
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(400, Some(THROTTLED.to_string()))
        .repeatedly()
        .build();
    let ecs = client(&[&update], 3);
    let err = ecs
        .update_desired_count("prod", "logs", 4)
        .await
        .expect_err("retries run out");
    assert_eq!(update.num_calls(), 3, "one call and two retries");
    assert!(
        matches!(
            err,
            EcsError::Throttled {
                operation: "UpdateService",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("throttled UpdateService"), "{msg}");
    assert!(msg.contains("Rate exceeded"), "{msg}");
}

#[tokio::test]
async fn missing_cluster_is_named() {
    let list = mock!(Client::list_services).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"ClusterNotFoundException","message":"Cluster not found."}"#,
            ),
        )
    });
    let ecs = client(&[&list], 3);
    let err = ecs
        .list_service_arns("ghost")
        .await
        .expect_err("no cluster");
    assert_eq!(
        err,
        EcsError::ClusterNotFound {
            cluster: "ghost".into()
        }
    );
    assert_eq!(list.num_calls(), 1, "a missing cluster is not retried");
}

#[tokio::test]
async fn task_pages_carry_the_desired_status_and_the_token() {
    use autopilot_core::ports::{DesiredStatus, ListRequest, TaskFilter};
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::types::DesiredStatus as SdkDesired;
    let first = mock!(Client::list_tasks)
        .match_requests(|r| {
            r.desired_status() == Some(&SdkDesired::Stopped)
                && r.next_token().is_none()
                && r.max_results() == Some(100)
        })
        .then_output(|| {
            ListTasksOutput::builder()
                .task_arns("arn:aws:ecs:us-east-1:1:task/prod/a")
                .next_token("t-2")
                .build()
        });
    let second = mock!(Client::list_tasks)
        .match_requests(|r| {
            r.desired_status() == Some(&SdkDesired::Stopped) && r.next_token() == Some("t-2")
        })
        .then_output(|| {
            ListTasksOutput::builder()
                .task_arns("arn:aws:ecs:us-east-1:1:task/prod/b")
                .build()
        });
    let ecs = client(&[&first, &second], 1);
    let tasks = || ListRequest::Tasks {
        cluster: "prod",
        filter: TaskFilter::Desired(DesiredStatus::Stopped),
    };
    let page = ecs.list_page(tasks(), None).await.expect("page 1");
    assert_eq!(page.next.as_deref(), Some("t-2"));
    let page = ecs
        .list_page(tasks(), page.next.as_deref())
        .await
        .expect("page 2");
    assert_eq!(
        (page.arns.as_slice(), page.next),
        (
            &["arn:aws:ecs:us-east-1:1:task/prod/b".to_string()][..],
            None
        )
    );
}

#[tokio::test]
async fn describe_clusters_says_which_are_gone_and_refuses_to_guess() {
    use aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput;
    use aws_sdk_ecs::types::{Cluster, Failure};
    let describe = mock!(Client::describe_clusters)
        .match_requests(|r| r.clusters().len() == 3)
        .then_output(|| {
            DescribeClustersOutput::builder()
                .clusters(
                    Cluster::builder()
                        .cluster_name("prod")
                        .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/prod")
                        .status("ACTIVE")
                        .build(),
                )
                .clusters(
                    Cluster::builder()
                        .cluster_name("old")
                        .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/old")
                        .status("INACTIVE")
                        .build(),
                )
                .failures(
                    Failure::builder()
                        .arn("arn:aws:ecs:us-east-1:1:cluster/ghost")
                        .reason("MISSING")
                        .build(),
                )
                .build()
        });
    let ecs = client(&[&describe], 1);
    let names = ["arn:aws:ecs:us-east-1:1:cluster/prod", "old", "ghost"].map(String::from);
    let states = ecs.describe_clusters(&names).await.expect("described");
    let got: Vec<(&str, &str, bool)> = states
        .iter()
        .map(|s| (s.cluster.as_str(), s.status.as_str(), s.is_gone()))
        .collect();
    assert_eq!(
        got,
        [
            ("arn:aws:ecs:us-east-1:1:cluster/prod", "ACTIVE", false),
            ("old", "INACTIVE", true),
            ("ghost", "MISSING", true)
        ]
    );

    // A failure entry that is not MISSING is not "gone": the call fails, naming it.
    let flaky = mock!(Client::describe_clusters).then_output(|| {
        DescribeClustersOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:us-east-1:1:cluster/prod")
                    .reason("INTERNAL_ERROR")
                    .build(),
            )
            .build()
    });
    let err = client(&[&flaky], 1)
        .describe_clusters(&["prod".to_string()])
        .await
        .expect_err("not gone")
        .to_string();
    assert!(err.contains("prod: INTERNAL_ERROR"), "{err}");
}
