//! What a first deploy meets that moto forgives: the IAM the template gives each function.
//!
//! - task-dispatcher refuses, at submit, a job whose task or execution role its policy may not
//!   pass (iam:PassRole), instead of storing it and failing at RunTask.

use autopilot_aws::{AwsEcs, DynamoCapacityStore, DynamoJobStore};
use autopilot_core::dispatch::{DispatchConfig, Dispatcher};
use autopilot_core::pass_role::PassRolePatterns;
use autopilot_core::ports::JobStore;
use integration_tests::fixtures::error_type;
use integration_tests::{EcsFixture, Moto, ACCOUNT, TASK_DISPATCHER};
use serde_json::json;

const NOW: i64 = 1_800_000_000;

/// Registers `family` with the given execution and task roles (names in the test account).
async fn task_definition_with_roles(
    moto: &Moto,
    family: &str,
    execution: &str,
    task: Option<&str>,
) {
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    moto.ecs()
        .register_task_definition()
        .family(family)
        .execution_role_arn(role(execution))
        .set_task_role_arn(task.map(role))
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(family)
                .image("public.ecr.aws/docker/library/busybox:latest")
                .memory(64)
                .cpu(64)
                .build(),
        )
        .send()
        .await
        .expect("register task definition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_roles_may_not_be_passed_is_refused_at_submit() {
    let moto = Moto::start();
    let _fx = EcsFixture::with_hosts(&moto, "batch", 1).await;
    task_definition_with_roles(
        &moto,
        "etl",
        "ecsTaskExecutionRole",
        Some("ecs-autopilot-job-etl"),
    )
    .await;
    task_definition_with_roles(&moto, "legacy", "ecsTaskExecutionRole", Some("AdminRole")).await;
    integration_tests::create_jobs_table(&moto, "jobs").await;
    let clients = moto.function_clients(TASK_DISPATCHER);
    let jobs = DynamoJobStore::new(clients.dynamodb, "jobs");
    // The template's default: JobRoleNamePattern, JobExecutionRoleNamePattern.
    let dispatcher = Dispatcher::new(
        jobs,
        AwsEcs::new(clients.ecs),
        None::<DynamoCapacityStore>,
        DispatchConfig {
            pass_roles: PassRolePatterns::parse(Some("ecs-autopilot-job-*,ecsTaskExecutionRole")),
            ..DispatchConfig::with_jobs_table("jobs")
        },
    );
    let submit = |id: &str, td: &str| json!({"action": "submit", "job": {"jobId": id, "cluster": "batch", "taskDefinition": td}});

    let refused = task_dispatcher::handle(&dispatcher, submit("legacy-1", "legacy"), NOW)
        .await
        .expect_err("AdminRole may not be passed");
    let message = refused.to_string();
    assert_eq!(error_type(refused), "InvalidJob");
    assert!(
        message.contains(&format!("arn:aws:iam::{ACCOUNT}:role/AdminRole")),
        "{message}"
    );
    assert!(message.contains("JobRoleNamePattern"), "{message}");
    assert!(
        dispatcher
            .store()
            .get("legacy-1")
            .await
            .expect("get")
            .is_none(),
        "nothing stored"
    );

    // A per-job override of the task role is checked the same way.
    let mut job = submit("etl-admin", "etl");
    job["job"]["overrides"] =
        json!({"taskRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/AdminRole")});
    let refused = task_dispatcher::handle(&dispatcher, job, NOW)
        .await
        .expect_err("the override's role may not be passed");
    assert_eq!(error_type(refused), "InvalidJob");

    let accepted = task_dispatcher::handle(&dispatcher, submit("etl-1", "etl"), NOW)
        .await
        .expect("the day-one roles pass");
    assert!(accepted.submitted.is_some(), "{accepted:?}");
    assert!(dispatcher
        .store()
        .get("etl-1")
        .await
        .expect("get")
        .is_some());
}

/// ListTasks by service (or cluster) is authorized against "*", with the cluster as the
/// `ecs:cluster` condition key (tests/iam_table.py, ListTasks without a container instance): a
/// policy that grants it on the cluster ARN only — daemon-count's before this release — is
/// refused, as AWS refuses it ("... on resource: *"); "*" with the condition is accepted, for
/// that cluster only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_tasks_by_service_needs_star_scoped_by_the_cluster_condition() {
    let moto = Moto::start();
    moto.expect_access_denied();
    let (fx, _) = EcsFixture::with_hosts(&moto, "prod", 1).await;
    let td = fx.register_task_definition("web", None).await;
    fx.create_service("web", &td, 1, &[], false).await;
    let _other = EcsFixture::with_hosts(&moto, "other", 1).await;
    let arn = |rest: &str| format!("arn:aws:ecs:us-east-1:{ACCOUNT}:{rest}");
    moto.iam_policy(
        "cluster-arn-only",
        json!([{"Effect": "Allow", "Action": "ecs:ListTasks",
                "Resource": [arn("cluster/prod"), arn("container-instance/prod/*")]}]),
    );
    moto.iam_policy(
        "star-with-condition",
        json!([{"Effect": "Allow", "Action": "ecs:ListTasks", "Resource": "*",
                "Condition": {"ArnLike": {"ecs:cluster": arn("cluster/prod")}}}]),
    );
    let list = |principal: &'static str, cluster: &'static str| {
        let ecs = moto.function_clients(principal).ecs;
        async move {
            ecs.list_tasks()
                .cluster(cluster)
                .service_name("web")
                .send()
                .await
                .map(|r| r.task_arns().len())
                .map_err(|e| {
                    aws_sdk_ecs::error::ProvideErrorMetadata::code(&e)
                        .unwrap_or("")
                        .to_string()
                })
        }
    };

    assert_eq!(
        list("cluster-arn-only", "prod").await,
        Err("AccessDeniedException".to_string())
    );
    assert!(list("star-with-condition", "prod").await.is_ok());
    assert_eq!(
        list("star-with-condition", "other").await,
        Err("AccessDeniedException".to_string()),
        "the condition keeps it to the pattern's clusters"
    );
    let denied = moto.iam_report()["denied"].clone();
    assert_eq!(denied.as_array().map(Vec::len), Some(2), "{denied}");
    assert_eq!(denied[0]["resource"], "*", "{denied}");
}
