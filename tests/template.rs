//! template.yaml agrees with the code: the capacity table's schema (`autopilot_core::store::schema`),
//! the functions' binary names, and each function's IAM grants against the calls its code makes.

use autopilot_core::ports::capacity_store::schema;
use integration_tests::repo_root;
use serde_yaml::Value;

fn template() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("template.yaml")).expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().expect("logical id"), r))
        .collect()
}

/// The (`first`, `second`) string fields of each item of the list `properties[list]`.
fn pairs<'a>(
    properties: &'a Value,
    list: &str,
    first: &str,
    second: &str,
) -> Vec<(&'a str, &'a str)> {
    properties[list]
        .as_sequence()
        .expect(list)
        .iter()
        .map(|item| {
            (
                item[first].as_str().unwrap_or(""),
                item[second].as_str().unwrap_or(""),
            )
        })
        .collect()
}

#[test]
fn capacity_table_matches_the_schema_in_code() {
    let t = template();
    let tables = resources_of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 2, "the capacity table and the jobs table");
    let p = &t["Resources"]["CapacityTable"]["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some(schema::BILLING_MODE));
    let keys = pairs(p, "KeySchema", "AttributeName", "KeyType");
    assert_eq!(
        keys,
        vec![(schema::PARTITION_KEY, "HASH"), (schema::SORT_KEY, "RANGE")]
    );
    let attrs = pairs(p, "AttributeDefinitions", "AttributeName", "AttributeType");
    assert_eq!(
        attrs,
        vec![
            (schema::PARTITION_KEY, "S"),
            (schema::SORT_KEY, "S"),
            (schema::LIVE_SORT_KEY, "S")
        ]
    );
    let indexes = p["GlobalSecondaryIndexes"].as_sequence().expect("GSIs");
    assert_eq!(indexes.len(), 1, "the live index");
    assert_eq!(indexes[0]["IndexName"].as_str(), Some(schema::LIVE_INDEX));
    assert_eq!(
        pairs(&indexes[0], "KeySchema", "AttributeName", "KeyType"),
        vec![
            (schema::PARTITION_KEY, "HASH"),
            (schema::LIVE_SORT_KEY, "RANGE")
        ]
    );
    assert_eq!(
        indexes[0]["Projection"]["ProjectionType"].as_str(),
        Some("ALL"),
        "live reads need whole items"
    );
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(schema::TTL_ATTRIBUTE)
    );
    assert_eq!(
        p["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn jobs_table_matches_the_schema_in_code() {
    use autopilot_core::ports::job_store::schema as jobs;
    let t = template();
    let p = &t["Resources"]["JobsTable"]["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some(jobs::BILLING_MODE));
    assert_eq!(
        pairs(p, "KeySchema", "AttributeName", "KeyType"),
        vec![(jobs::PARTITION_KEY, "HASH")]
    );
    assert_eq!(
        pairs(p, "AttributeDefinitions", "AttributeName", "AttributeType"),
        vec![
            (jobs::PARTITION_KEY, "S"),
            (jobs::CLUSTER_ATTRIBUTE, "S"),
            (jobs::LIVE_CLUSTER_ATTRIBUTE, "S"),
            (jobs::QUEUE_KEY_ATTRIBUTE, "S")
        ]
    );
    let indexes = p["GlobalSecondaryIndexes"].as_sequence().expect("GSIs");
    assert_eq!(indexes.len(), 2);
    assert_eq!(indexes[1]["IndexName"].as_str(), Some(jobs::LIVE_INDEX));
    assert_eq!(
        pairs(&indexes[1], "KeySchema", "AttributeName", "KeyType"),
        vec![
            (jobs::LIVE_CLUSTER_ATTRIBUTE, "HASH"),
            (jobs::QUEUE_KEY_ATTRIBUTE, "RANGE")
        ]
    );
    assert_eq!(indexes[0]["IndexName"].as_str(), Some(jobs::CLUSTER_INDEX));
    assert_eq!(
        pairs(&indexes[0], "KeySchema", "AttributeName", "KeyType"),
        vec![(jobs::CLUSTER_ATTRIBUTE, "HASH")]
    );
    assert_eq!(
        indexes[0]["Projection"]["ProjectionType"].as_str(),
        Some("ALL"),
        "the Query reads whole jobs from the index"
    );
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(jobs::TTL_ATTRIBUTE)
    );
    let f = &t["Resources"]["TaskDispatcherFunction"]["Properties"];
    assert!(
        !f["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"].is_null(),
        "a failure queue"
    );
}

/// Issue 21's intake: ECS events, the sweep, submission events and the Scheduler's ticks reach
/// the dispatcher through one SQS queue read in batches with partial batch failures; the
/// reserved concurrency is no lower than the mapping's MaximumConcurrency (else Lambda throttles
/// the mapping's invocations and their messages return only after the visibility timeout).
#[test]
fn the_dispatcher_reads_its_intake_from_one_queue_in_batches() {
    let t = template();
    let f = &t["Resources"]["TaskDispatcherFunction"]["Properties"];
    let events = f["Events"].as_mapping().expect("events");
    assert_eq!(events.len(), 1, "one event source: the queue ({events:?})");
    let queue = &f["Events"]["Queue"]["Properties"];
    assert_eq!(f["Events"]["Queue"]["Type"].as_str(), Some("SQS"));
    assert!(format!("{:?}", queue["Queue"]).contains("TaskDispatcherQueue"));
    assert_eq!(
        queue["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert!(queue["BatchSize"].as_i64() > Some(10));
    assert!(queue["MaximumBatchingWindowInSeconds"].as_i64() >= Some(1));
    let concurrency = queue["ScalingConfig"]["MaximumConcurrency"].as_i64();
    assert!(concurrency >= Some(2), "SQS's minimum");
    // At least the mapping's maximum, and one more for direct and asynchronous invokes, which
    // draw from the same reserved pool.
    assert_eq!(
        f["ReservedConcurrentExecutions"].as_i64(),
        concurrency.map(|c| c + 1)
    );
    let q = &t["Resources"]["TaskDispatcherQueue"]["Properties"];
    let timeout = f["Timeout"].as_i64().expect("a timeout");
    assert!(
        q["VisibilityTimeout"].as_i64() >= Some(6 * timeout),
        "Lambda's guidance: six times the timeout"
    );
    assert!(format!("{:?}", q["RedrivePolicy"]).contains("TaskDispatcherFailures"));
    // Every rule and the schedule deliver to the queue, with a dead-letter queue.
    for rule in [
        "TaskDispatcherTaskChangesRule",
        "TaskDispatcherHostChangesRule",
        "TaskDispatcherSubmissionsRule",
        "TaskDispatcherSweepRule",
    ] {
        let target = &t["Resources"][rule]["Properties"]["Targets"][0];
        assert!(
            format!("{:?}", target["Arn"]).contains("TaskDispatcherQueue.Arn"),
            "{rule}"
        );
        assert!(
            format!("{:?}", target["DeadLetterConfig"]).contains("TaskDispatcherFailures"),
            "{rule}"
        );
        let policy = format!("{:?}", t["Resources"]["TaskDispatcherQueuePolicy"]);
        assert!(
            policy.contains(rule),
            "the queue policy lets {rule} deliver"
        );
    }
    // The submissions rule matches what the handler takes for a submission event.
    let pattern = &t["Resources"]["TaskDispatcherSubmissionsRule"]["Properties"]["EventPattern"];
    assert_eq!(
        pattern["source"][0].as_str(),
        Some(task_dispatcher::SUBMISSION_SOURCE)
    );
    assert_eq!(
        pattern["detail-type"][0].as_str(),
        Some(task_dispatcher::SUBMISSION_DETAIL_TYPE)
    );
    let nightly = &t["Resources"]["NightlySchedule"]["Properties"]["Target"];
    assert!(format!("{:?}", nightly["Arn"]).contains("TaskDispatcherQueue.Arn"));
    // Its message is a submission the dispatcher accepts (strict keys), with its period.
    let input = match &nightly["Input"] {
        Value::Tagged(sub) => sub.value[0].as_str().expect("the Sub string").to_string(),
        other => panic!("Input {other:?}"),
    };
    let input = input
        .replace("${Cluster}", "batch")
        .replace("${NightlyTaskDefinition}", "nightly")
        .replace("${NightlySchedulePeriodSeconds}", "86400")
        .replace("<aws.scheduler.scheduled-time>", "2026-12-01T23:00:00Z");
    let message: serde_json::Value = serde_json::from_str(&input).expect("JSON");
    let submission =
        autopilot_core::job::Submission::from_value(message["job"].clone()).expect("strict keys");
    submission.validate().expect("valid");
    assert_eq!(submission.schedule_period_seconds, Some(86_400));
    // Invalid messages go to the failure queue, which the function may write to.
    assert!(format!(
        "{:?}",
        f["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"]
    )
    .contains("TaskDispatcherFailures"));
}

/// RunTask is scoped to the job families and (condition) to the clusters of the pattern;
/// iam:PassRole only to the roles the parameter names, only to ECS tasks.
#[test]
fn the_dispatcher_runs_tasks_only_where_the_parameters_say() {
    let t = template();
    let statements = t["Resources"]["TaskDispatcherFunction"]["Properties"]["Policies"][0]
        ["Statement"]
        .as_sequence()
        .expect("statements")
        .clone();
    let find = |action: &str| {
        statements
            .iter()
            .find(|s| match &s["Action"] {
                Value::Sequence(a) => a.iter().any(|x| x.as_str() == Some(action)),
                Value::String(a) => a == action,
                _ => false,
            })
            .cloned()
            .unwrap_or_else(|| panic!("no statement for {action}"))
    };
    let run = find("ecs:RunTask");
    assert!(format!("{:?}", run["Resource"]).contains("JobTaskDefinitionFamilyPattern"));
    assert!(
        format!("{:?}", run["Condition"]["ArnLike"]["ecs:cluster"]).contains("ClusterNamePattern")
    );
    let pass = find("iam:PassRole");
    assert!(format!("{:?}", pass["Resource"]).contains("role/${JobRoleNamePattern}"));
    assert!(format!("{:?}", pass["Resource"]).contains("role/${JobExecutionRoleNamePattern}"));
    assert_eq!(
        t["Parameters"]["JobExecutionRoleNamePattern"]["Default"].as_str(),
        Some("ecsTaskExecutionRole"),
        "the execution role the ECS console creates passes on day one"
    );
    // The code refuses at submit what the policy would refuse at RunTask: same patterns.
    let env = serde_yaml::to_string(
        &t["Resources"]["TaskDispatcherFunction"]["Properties"]["Environment"]["Variables"]
            ["JOB_PASS_ROLE_PATTERNS"],
    )
    .expect("yaml");
    assert!(
        env.contains("${JobRoleNamePattern},${JobExecutionRoleNamePattern}"),
        "{env}"
    );
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"].as_str(),
        Some("ecs-tasks.amazonaws.com")
    );
}

#[test]
fn every_function_binary_exists_in_the_workspace() {
    let t = template();
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    for (id, f) in functions {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary");
        let manifest = repo_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{id}: {}: {e}", manifest.display()));
        assert!(
            text.contains(&format!("name = \"{binary}\"")),
            "{id}: no binary {binary}"
        );
        // Handler and Runtime come from Globals, unless the function sets its own.
        let property = |name: &str| {
            f["Properties"][name]
                .as_str()
                .or_else(|| t["Globals"]["Function"][name].as_str())
        };
        assert_eq!(property("Handler"), Some("bootstrap"), "{id}");
        assert_eq!(property("Runtime"), Some("provided.al2023"), "{id}");
    }
}

/// A policy statement, or the statement of `!If [Condition, statement, !Ref AWS::NoValue]` (a
/// grant that follows a capability).
fn conditional_statement(statement: &Value) -> &Value {
    match statement {
        Value::Tagged(tagged) if tagged.tag == "If" => &tagged.value[1],
        other => other,
    }
}

/// (Action, Resource) pairs of a function's inline policy statements.
fn granted(function: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .expect("Policies")
    {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            let statement = conditional_statement(statement);
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            let actions: Vec<&str> = match &statement["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
                other => panic!("Action {other:?}"),
            };
            for a in actions {
                out.push((a.to_string(), statement["Resource"].clone()));
            }
        }
    }
    out
}

/// The AWS calls each function's code makes (adapters in crates/autopilot-aws), so a change of API
/// call (PutItem → UpdateItem, a new Describe) cannot ship without its permission, and no unused
/// permission lingers.
#[test]
fn each_function_is_granted_exactly_the_calls_its_code_makes() {
    let t = template();
    let wanted: [(&str, &[&str]); 4] = [
        (
            // autopilot-aws: DynamoJobStore (PutItem, GetItem, Query), DynamoCapacityStore's
            // Query (CAPACITY_TABLE), AwsEcs: DescribeClusters + DescribeTaskDefinition
            // (submit), RunTask, ListTasks + DescribeTasks (reconcile), StopTask (cancel),
            // ListClusters (schedule without CLUSTERS), DescribeServices (DAEMON_SERVICES),
            // ListContainerInstances + DescribeContainerInstances (no CAPACITY_TABLE), and
            // ecs:TagResource, which RunTask with `tags` requires (no call of its own);
            // AwsScaleGroup (SCALE_GROUP): DescribeAutoScalingGroups, SetDesiredCapacity,
            // TerminateInstanceInAutoScalingGroup; AwsSqs: SendMessage of an invalid message to
            // DEAD_LETTER_QUEUE_URL.
            "TaskDispatcherFunction",
            &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
                "ecs:ListClusters",
                "ecs:ListTasks",
                "ecs:DescribeTaskDefinition",
                "ecs:DescribeClusters",
                "ecs:ListContainerInstances",
                "ecs:DescribeContainerInstances",
                "ecs:DescribeTasks",
                "ecs:DescribeServices",
                "ecs:RunTask",
                "ecs:TagResource",
                "ecs:StopTask",
                "iam:PassRole",
                "sqs:SendMessage",
            ],
        ),
        (
            "DaemonCountFunction",
            &[
                "ecs:ListClusters",
                "ecs:ListServices",
                "ecs:DescribeServices",
                "ecs:DescribeTaskDefinition",
                "ecs:ListContainerInstances",
                "ecs:DescribeContainerInstances",
                "ecs:DescribeClusters",
                "ecs:ListTasks",
                "ecs:DescribeTasks",
                "ecs:UpdateService",
                "ecs:StopTask",
            ],
        ),
        (
            "CapacityRecorderFunction",
            &[
                "dynamodb:UpdateItem",
                "dynamodb:Query",
                "ecs:ListClusters",
                "ecs:ListTasks",
                "ecs:DescribeTasks",
                "ecs:ListContainerInstances",
                "ecs:DescribeContainerInstances",
                "ecs:DescribeClusters",
            ],
        ),
        (
            "InstanceDrainerFunction",
            &[
                "autoscaling:CompleteLifecycleAction",
                "autoscaling:RecordLifecycleActionHeartbeat",
                "autoscaling:DescribeLifecycleHooks",
                "ecs:ListClusters",
                "ecs:ListContainerInstances",
                "ecs:DescribeContainerInstances",
                "ecs:UpdateContainerInstancesState",
                "ecs:PutAttributes",
                "ecs:DeleteAttributes",
                "ecs:ListTasks",
                "ecs:DescribeTasks",
                "ecs:DescribeServices",
                "ecs:StopTask",
                "sqs:SendMessage",
            ],
        ),
    ];
    // Writes must be scoped to resources, never "*".
    let writes = [
        "ecs:UpdateService",
        "ecs:UpdateContainerInstancesState",
        "ecs:PutAttributes",
        "ecs:DeleteAttributes",
        "ecs:StopTask",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "ecs:RunTask",
        "ecs:TagResource",
        "iam:PassRole",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "sqs:SendMessage",
    ];
    for (id, actions) in wanted {
        let grants = granted(&t["Resources"][id]);
        let mut got: Vec<&str> = grants.iter().map(|(a, _)| a.as_str()).collect();
        got.sort_unstable();
        got.dedup();
        let mut want = actions.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{id}: granted vs called");
        for (action, resource) in &grants {
            if writes.contains(&action.as_str()) {
                assert_ne!(resource.as_str(), Some("*"), "{id}: write {action} on *");
            }
        }
    }
}

/// The drainer re-queues to the queue that triggers it: Lambda's recursive-loop detection would
/// stop a drain after ~16 re-checks unless the function allows its own loop; its rule receives
/// only the hooks it owns, and the code gets the same scope.
#[test]
fn the_drainer_allows_its_own_loop_and_owns_only_its_hooks() {
    let t = template();
    let f = &t["Resources"]["InstanceDrainerFunction"]["Properties"];
    assert_eq!(f["RecursiveLoop"].as_str(), Some("Allow"));
    let rule = &f["Events"]["TerminateLifecycleAction"]["Properties"]["Pattern"]["detail"];
    let hook_filter = rule["LifecycleHookName"][0]["wildcard"].clone();
    let parameter: Value = serde_yaml::from_str("!Ref LifecycleHookNames").expect("yaml");
    assert_eq!(
        hook_filter, parameter,
        "the rule filters on the hook names parameter"
    );
    assert_eq!(
        f["Environment"]["Variables"]["LIFECYCLE_HOOK_NAMES"], hook_filter,
        "the code checks the same scope as the rule"
    );
    assert_eq!(
        t["Parameters"]["LifecycleHookNames"]["Default"].as_str(),
        Some(autopilot_core::drain::config::DEFAULT_LIFECYCLE_HOOK_NAMES)
    );
    // The template creates no lifecycle hook: hooks belong to the groups' owners.
    assert!(resources_of_type(&t, "AWS::AutoScaling::LifecycleHook").is_empty());
    let spot = &f["Events"]["SpotResumeHostEvents"]["Properties"]["Pattern"]["detail"];
    assert_eq!(
        spot["attributes"]["name"][0].as_str(),
        Some(autopilot_core::drain::decide::SPOT_MARKER_ATTRIBUTE)
    );
}

/// Every failure or dead-letter queue the template creates has an alarm on "not empty"; every
/// function an alarm on its errors, on the events Lambda dropped (`AsyncEventsDropped`) and on
/// their age (`AsyncEventAge`: all four are invoked asynchronously, by EventBridge); a Throttles
/// alarm only where throttling is a failure - never on a function whose reserved concurrency
/// queues events on purpose. daemon-count's failed decisions and drains that hit their deadline
/// with tasks running are alarmed. Each alarm follows the capability of what it watches.
#[test]
fn alarms_watch_failures_not_designed_behaviour() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let watching = |namespace: &str, metric: &str, dimension: &str, id: &str| {
        alarms
            .iter()
            .filter(|(_, a)| {
                let p = &a["Properties"];
                let dims = serde_yaml::to_string(&p["Dimensions"]).unwrap_or_default();
                p["Namespace"].as_str() == Some(namespace)
                    && p["MetricName"].as_str() == Some(metric)
                    && dims.contains(dimension)
                    && dims.contains(id)
            })
            .map(|(_, a)| a["Condition"].as_str().unwrap_or("(none)").to_string())
            .collect::<Vec<_>>()
    };
    let queues = resources_of_type(&t, "AWS::SQS::Queue");
    assert!(!queues.is_empty());
    for (id, queue) in queues {
        // The re-check queue is the drainer's working queue (messages wait there by design); its
        // dead-letter queue is what is alarmed.
        if id == "DrainerRecheckQueue" {
            continue;
        }
        // The dispatcher's intake queue is a working queue too: the age of its oldest message
        // is what says the function is not keeping up.
        if id == "TaskDispatcherQueue" {
            assert_eq!(
                watching("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", id),
                ["DispatcherOn"]
            );
            continue;
        }
        let conditions = watching(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            id,
        );
        assert_eq!(
            conditions,
            [queue["Condition"].as_str().expect("a capability")],
            "one alarm on queue {id}, deployed with it"
        );
    }
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 4);
    for (id, f) in functions {
        let condition = f["Condition"].as_str().expect("a capability");
        for metric in ["Errors", "AsyncEventsDropped", "AsyncEventAge"] {
            assert_eq!(
                watching("AWS/Lambda", metric, "FunctionName", id),
                [condition],
                "one {metric} alarm on {id}, deployed with it"
            );
        }
        let reserved = !f["Properties"]["ReservedConcurrentExecutions"].is_null();
        let throttles = watching("AWS/Lambda", "Throttles", "FunctionName", id);
        if reserved {
            assert!(
                throttles.is_empty(),
                "{id} queues events on purpose (reserved concurrency): no Throttles alarm"
            );
        } else {
            assert_eq!(throttles, [condition], "a Throttles alarm on {id}");
        }
    }
    assert_eq!(
        watching("ecs-autopilot", "Failed", "Function", "daemon-count"),
        ["DaemonCountOn"]
    );
    assert_eq!(
        watching(
            "ecs-autopilot",
            "DeadlineTasksRunning",
            "Function",
            "instance-drainer"
        ),
        ["DrainerOn"]
    );
    assert!(
        !resources_of_type(&t, "AWS::CloudWatch::Dashboard").is_empty(),
        "a dashboard of the metrics"
    );
}

/// Each resource follows the capabilities that need it: every resource has a Condition, and a
/// function's queues, log group, rules' dead-letter policy and alarms share its condition.
#[test]
fn every_resource_follows_a_capability() {
    let t = template();
    let conditions = t["Conditions"].as_mapping().expect("Conditions");
    for (id, resource) in t["Resources"].as_mapping().expect("Resources") {
        let condition = resource["Condition"].as_str().unwrap_or_else(|| {
            panic!("{id:?} has no Condition: it would deploy with no capability")
        });
        assert!(
            conditions.contains_key(condition),
            "{id:?}: unknown condition {condition}"
        );
    }
    for parameter in [
        "EnableDaemonCount",
        "EnableCapacityTable",
        "EnableInstanceDrainer",
        "EnableTaskDispatcher",
    ] {
        let p = &t["Parameters"][parameter];
        assert_eq!(p["Default"].as_str(), Some("true"), "{parameter}");
    }
    // The dispatcher reads the capacity table only when it is deployed.
    let f = &t["Resources"]["TaskDispatcherFunction"]["Properties"];
    let table =
        serde_yaml::to_string(&f["Environment"]["Variables"]["CAPACITY_TABLE"]).expect("yaml");
    assert!(table.contains("DispatcherReadsCapacityTable"), "{table}");
}

/// Logs an on-call can use: JSON lines (Lambda reads their level and honours
/// ApplicationLogLevel), the REPORT lines kept (SystemLogLevel INFO), and a log group per
/// function created by the template with the retention parameter (default 30 days).
#[test]
fn every_function_logs_json_into_a_log_group_with_a_retention() {
    let t = template();
    let globals = &t["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(globals["LogFormat"].as_str(), Some("JSON"));
    assert_eq!(globals["SystemLogLevel"].as_str(), Some("INFO"));
    assert_eq!(
        t["Parameters"]["LogRetentionDays"]["Default"].as_i64(),
        Some(30)
    );
    let retention: Value = serde_yaml::from_str("!Ref LogRetentionDays").expect("yaml");
    let groups = resources_of_type(&t, "AWS::Logs::LogGroup");
    for (_, group) in &groups {
        assert_eq!(group["Properties"]["RetentionInDays"], retention);
    }
    for (id, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        let logging = &f["Properties"]["LoggingConfig"];
        assert!(
            logging["SystemLogLevel"].is_null() && logging["ApplicationLogLevel"].is_null(),
            "{id}: the levels come from Globals"
        );
        let group = match &logging["LogGroup"] {
            Value::Tagged(r) if r.tag == "Ref" => r.value.as_str().expect("a logical id"),
            other => panic!("{id}: LoggingConfig.LogGroup {other:?}"),
        };
        assert_eq!(
            t["Resources"][group]["Type"].as_str(),
            Some("AWS::Logs::LogGroup"),
            "{id}"
        );
        assert_eq!(t["Resources"][group]["Condition"], f["Condition"], "{id}");
    }
    assert_eq!(groups.len(), 4);
}

/// Every serverless-rules (or other cfn-lint) finding a resource suppresses carries its reason.
#[test]
fn every_suppressed_lint_rule_says_why() {
    let t = template();
    let mut suppressed = 0;
    for (id, resource) in t["Resources"].as_mapping().expect("Resources") {
        let ignored = &resource["Metadata"]["cfn-lint"]["config"]["ignore_checks"];
        for rule in ignored.as_sequence().into_iter().flatten() {
            let rule = rule.as_str().expect("a rule id");
            let reason = resource["Metadata"]["SuppressionReasons"][rule]
                .as_str()
                .unwrap_or("");
            assert!(
                reason.len() > 20,
                "{id:?} suppresses {rule} without a reason"
            );
            suppressed += 1;
        }
    }
    assert!(suppressed > 0);
}

/// ListTasks without a container instance (by cluster, service or startedBy) is authorized
/// against "*" (Service Authorization Reference, Amazon ECS): every function that lists tasks
/// grants it on "*" scoped by the ecs:cluster condition key, never on cluster ARNs, which AWS
/// would deny.
#[test]
fn list_tasks_is_granted_on_star_scoped_by_cluster() {
    let t = template();
    for (id, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        for policy in f["Properties"]["Policies"].as_sequence().expect("Policies") {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                let statement = conditional_statement(statement);
                let lists_tasks = match &statement["Action"] {
                    Value::Sequence(a) => a.iter().any(|x| x.as_str() == Some("ecs:ListTasks")),
                    Value::String(a) => a == "ecs:ListTasks",
                    _ => false,
                };
                if lists_tasks {
                    assert_eq!(statement["Resource"].as_str(), Some("*"), "{id}");
                    let cluster =
                        serde_yaml::to_string(&statement["Condition"]["ArnLike"]["ecs:cluster"])
                            .expect("yaml");
                    assert!(cluster.contains(":cluster/${ClusterNamePattern}"), "{id}");
                }
            }
        }
    }
}

/// Every ecs-autopilot metric the dashboard and the alarms name is one the code emits (a
/// `.count("Name", …)` or `.seconds("Name", …)` of the EMF builder, or a `=> "Name"` arm of
/// a function naming the metric of an outcome): a renamed metric cannot
/// leave a blank graph or an alarm that never fires; the head job's wait is alarmed.
#[test]
fn dashboard_and_alarm_metrics_exist_in_the_code() {
    let mut code = String::new();
    let mut dirs = vec![repo_root().join("crates"), repo_root().join("functions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                code.push_str(&std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    // rustfmt may break `.seconds(\n"Name"`: compare without whitespace.
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let emitted = |name: &str| {
        code.contains(&format!(".count(\"{name}\""))
            || code.contains(&format!(".seconds(\"{name}\""))
            || code.contains(&format!("=>\"{name}\","))
    };
    let t = template();
    // DashboardBody: !Join ["", ['{"widgets": [', !Join [",", [!If [Cond, !Sub WIDGET, NoValue], ...]], ']}']]
    let body = &t["Resources"]["Dashboard"]["Properties"]["DashboardBody"];
    let join = match body {
        Value::Tagged(join) if join.tag == "Join" => &join.value,
        other => panic!("DashboardBody {other:?}"),
    };
    let widgets_join = match &join[1][1] {
        Value::Tagged(inner) if inner.tag == "Join" => &inner.value[1],
        other => panic!("the widgets' !Join {other:?}"),
    };
    let mut widgets = Vec::new();
    for item in widgets_join.as_sequence().expect("widgets") {
        let sub = match item {
            Value::Tagged(cond) if cond.tag == "If" => &cond.value[1],
            other => other,
        };
        let text = match sub {
            Value::Tagged(sub) if sub.tag == "Sub" => sub.value.as_str(),
            _ => None,
        }
        .expect("a !Sub widget");
        let widget: serde_json::Value = serde_json::from_str(text).expect("a widget is JSON");
        widgets.push(widget);
    }
    assert!(widgets.len() >= 4);
    let mut names = Vec::new();
    for widget in &widgets {
        let mut namespace = "";
        for metric in widget["properties"]["metrics"].as_array().expect("metrics") {
            let row = metric.as_array().expect("a metric row");
            let ns = row[0].as_str().expect("namespace");
            if ns != "." {
                namespace = ns;
            }
            let name = row[1].as_str().expect("name");
            if namespace == "ecs-autopilot" && name != "." {
                names.push(name.to_string());
            }
        }
    }
    for (_, a) in resources_of_type(&t, "AWS::CloudWatch::Alarm") {
        if a["Properties"]["Namespace"].as_str() == Some("ecs-autopilot") {
            names.push(
                a["Properties"]["MetricName"]
                    .as_str()
                    .expect("metric")
                    .into(),
            );
        }
    }
    assert!(names.iter().any(|n| n == "HeadJobWait"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "DeadlineTasksRunning"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "AwsCalls"), "{names:?}");
    for name in &names {
        assert!(
            emitted(name),
            "{name} is on the dashboard but no code emits it"
        );
    }
}
