//! [`TaskLauncher`] over `aws-sdk-ecs`: RunTask and DescribeTasks as the dispatcher reads them
//! (the `startedBy` lookup is the port's, over these and the List primitive).
//!
//! RunTask is sent **without the SDK's retries**: a failed call leaves the job STARTING; the
//! dispatcher's next wake-up lists tasks by `startedBy` and only then sends the identical request
//! again under the same token (ECS: "If you retry a request that completed successfully using the
//! same client token and the same parameters, the retry succeeds without performing any further
//! actions"; the same token with other parameters is a `ConflictException` whose `resourceIds`
//! are the tasks already started: answered as [`RunTaskOutcome::Conflict`]).
//!
//! The passthrough fields (`overrides`, `capacityProviderStrategy`, `tags`,
//! `networkConfiguration`) are converted from RunTask's JSON shapes here; a field this adapter
//! does not know is refused (the job FAILS with the reason) rather than silently dropped.

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::types as ecs;
use serde_json::Value;

use aws_sdk_ecs::operation::run_task::RunTaskError;

use autopilot_core::job::{LaunchRequest, RunTaskSpec};
use autopilot_core::ports::ecs::Described;
use autopilot_core::ports::task_launcher::{
    is_provisioning_cap, ContainerExit, LaunchedTask, RunTaskOutcome, TaskLauncher,
};
use autopilot_core::ports::EcsError;

use super::{map_err, AwsEcs};

fn refused(message: impl Into<String>) -> EcsError {
    EcsError::Refused {
        operation: "RunTask",
        code: "InvalidJob".into(),
        message: message.into(),
    }
}

fn check_keys(v: &Value, what: &str, known: &[&str]) -> Result<(), EcsError> {
    let Some(obj) = v.as_object() else {
        return Err(refused(format!("{what} must be an object")));
    };
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(refused(format!(
            "{what}.{k} is not supported by task-dispatcher"
        ))),
        None => Ok(()),
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value, key: &str) -> Option<i32> {
    v.get(key)?.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn strings(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key)?.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

fn array<'a>(v: &'a Value, key: &str, what: &str) -> Result<Vec<&'a Value>, EcsError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.iter().collect()),
        Some(_) => Err(refused(format!("{what}.{key} must be a list"))),
    }
}

fn key_value(v: &Value) -> ecs::KeyValuePair {
    ecs::KeyValuePair::builder()
        .set_name(string(v, "name"))
        .set_value(string(v, "value"))
        .build()
}

/// `overrides` (RunTask's TaskOverride): containerOverrides (name, command, environment, cpu,
/// memory, memoryReservation), cpu, memory, taskRoleArn, executionRoleArn.
pub fn task_override(v: &Value) -> Result<ecs::TaskOverride, EcsError> {
    check_keys(
        v,
        "overrides",
        &[
            "containerOverrides",
            "cpu",
            "memory",
            "taskRoleArn",
            "executionRoleArn",
        ],
    )?;
    let mut containers = Vec::new();
    for c in array(v, "containerOverrides", "overrides")? {
        check_keys(
            c,
            "overrides.containerOverrides[]",
            &[
                "name",
                "command",
                "environment",
                "cpu",
                "memory",
                "memoryReservation",
            ],
        )?;
        let env: Vec<ecs::KeyValuePair> = array(c, "environment", "containerOverrides")?
            .into_iter()
            .map(key_value)
            .collect();
        containers.push(
            ecs::ContainerOverride::builder()
                .set_name(string(c, "name"))
                .set_command(strings(c, "command"))
                .set_environment(if env.is_empty() { None } else { Some(env) })
                .set_cpu(int(c, "cpu"))
                .set_memory(int(c, "memory"))
                .set_memory_reservation(int(c, "memoryReservation"))
                .build(),
        );
    }
    Ok(ecs::TaskOverride::builder()
        .set_container_overrides(if containers.is_empty() {
            None
        } else {
            Some(containers)
        })
        .set_cpu(string(v, "cpu"))
        .set_memory(string(v, "memory"))
        .set_task_role_arn(string(v, "taskRoleArn"))
        .set_execution_role_arn(string(v, "executionRoleArn"))
        .build())
}

fn capacity_provider_strategy(
    v: &Value,
) -> Result<Vec<ecs::CapacityProviderStrategyItem>, EcsError> {
    let Some(items) = v.as_array() else {
        return Err(refused("capacityProviderStrategy must be a list"));
    };
    items
        .iter()
        .map(|i| {
            check_keys(
                i,
                "capacityProviderStrategy[]",
                &["capacityProvider", "weight", "base"],
            )?;
            ecs::CapacityProviderStrategyItem::builder()
                .set_capacity_provider(string(i, "capacityProvider"))
                .set_weight(int(i, "weight"))
                .set_base(int(i, "base"))
                .build()
                .map_err(|e| refused(format!("capacityProviderStrategy: {e}")))
        })
        .collect()
}

fn tags(v: &Value) -> Result<Vec<ecs::Tag>, EcsError> {
    let Some(items) = v.as_array() else {
        return Err(refused("tags must be a list of {key, value}"));
    };
    items
        .iter()
        .map(|t| {
            check_keys(t, "tags[]", &["key", "value"])?;
            Ok(ecs::Tag::builder()
                .set_key(string(t, "key"))
                .set_value(string(t, "value"))
                .build())
        })
        .collect()
}

fn network_configuration(v: &Value) -> Result<ecs::NetworkConfiguration, EcsError> {
    check_keys(v, "networkConfiguration", &["awsvpcConfiguration"])?;
    let Some(a) = v.get("awsvpcConfiguration") else {
        return Ok(ecs::NetworkConfiguration::builder().build());
    };
    check_keys(
        a,
        "networkConfiguration.awsvpcConfiguration",
        &["subnets", "securityGroups", "assignPublicIp"],
    )?;
    let vpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(strings(a, "subnets"))
        .set_security_groups(strings(a, "securityGroups"))
        .set_assign_public_ip(
            string(a, "assignPublicIp").map(|s| ecs::AssignPublicIp::from(s.as_str())),
        )
        .build()
        .map_err(|e| refused(format!("networkConfiguration: {e}")))?;
    Ok(ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn constraint(kind: &str, expression: Option<&str>) -> ecs::PlacementConstraint {
    ecs::PlacementConstraint::builder()
        .r#type(ecs::PlacementConstraintType::from(kind))
        .set_expression(expression.map(str::to_string))
        .build()
}

fn launched_from_sdk(t: &ecs::Task) -> LaunchedTask {
    LaunchedTask {
        task_arn: t.task_arn().unwrap_or_default().to_string(),
        container_instance_arn: t.container_instance_arn().map(str::to_string),
        last_status: t.last_status().map(str::to_string),
        stopped_reason: t.stopped_reason().map(str::to_string),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerExit {
                name: c.name().unwrap_or_default().to_string(),
                exit_code: c.exit_code(),
                // DescribeTasks' Container has no `essential` flag: counted as essential.
                essential: None,
                reason: c.reason().map(str::to_string),
            })
            .collect(),
    }
}

impl TaskLauncher for AwsEcs {
    async fn run_task(
        &self,
        spec: &RunTaskSpec,
        client_token: &str,
        started_by: &str,
        launch: &LaunchRequest,
    ) -> Result<RunTaskOutcome, EcsError> {
        let pin_instance = launch.pin.as_deref();
        let mut constraints: Vec<ecs::PlacementConstraint> = spec
            .placement_constraints
            .iter()
            .map(|c| constraint(&c.kind, c.expression.as_deref()))
            .collect();
        if let Some(id) = pin_instance {
            constraints.push(constraint(
                "memberOf",
                Some(&format!("ec2InstanceId == {id}")),
            ));
        }
        let strategies: Vec<ecs::PlacementStrategy> = spec
            .placement_strategy
            .iter()
            .map(|s| {
                ecs::PlacementStrategy::builder()
                    .r#type(ecs::PlacementStrategyType::from(s.kind.as_str()))
                    .set_field(s.field.clone())
                    .build()
            })
            .collect();
        let mut req = self
            .client
            .run_task()
            .cluster(&spec.cluster)
            .task_definition(&spec.task_definition)
            .count(1)
            .client_token(client_token)
            .started_by(started_by)
            .set_group(spec.group.clone())
            .set_enable_execute_command(spec.enable_execute_command)
            .set_enable_ecs_managed_tags(spec.enable_ecs_managed_tags)
            .set_propagate_tags(spec.propagate_tags.as_deref().map(ecs::PropagateTags::from))
            .set_reference_id(spec.reference_id.clone())
            .set_launch_type(spec.launch_type.as_deref().map(ecs::LaunchType::from))
            .set_placement_constraints(if constraints.is_empty() {
                None
            } else {
                Some(constraints)
            })
            .set_placement_strategy(if strategies.is_empty() {
                None
            } else {
                Some(strategies)
            });
        if let Some(o) = &spec.overrides {
            req = req.overrides(task_override(o)?);
        }
        if let Some(provider) = &launch.capacity_provider {
            // The pinned host's provider alone: a strategy of several could send the task to
            // another provider, where the pin cannot hold (it would wait PROVISIONING).
            let item = ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(provider)
                .weight(1)
                .build()
                .map_err(|e| refused(format!("capacityProviderStrategy: {e}")))?;
            req = req.set_capacity_provider_strategy(Some(vec![item]));
        } else if let Some(c) = &spec.capacity_provider_strategy {
            req = req.set_capacity_provider_strategy(Some(capacity_provider_strategy(c)?));
        }
        if let Some(t) = &spec.tags {
            req = req.set_tags(Some(tags(t)?));
        }
        if let Some(n) = &spec.network_configuration {
            req = req.network_configuration(network_configuration(n)?);
        }
        let resp = req
            .customize()
            .config_override(
                aws_sdk_ecs::config::Config::builder().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                if let Some(RunTaskError::ConflictException(c)) = e.as_service_error() {
                    return Ok(RunTaskOutcome::Conflict {
                        task_arns: c.resource_ids().to_vec(),
                    });
                }
                return match map_err("RunTask", Some(&spec.cluster), e) {
                    EcsError::Refused { message, .. } if is_provisioning_cap(&message) => {
                        Ok(RunTaskOutcome::NotPlaced {
                            reason: format!("PROVISIONING cap: {message}"),
                        })
                    }
                    other => Err(other),
                };
            }
        };
        if let Some(t) = resp.tasks().first() {
            return Ok(RunTaskOutcome::Started(launched_from_sdk(t)));
        }
        let reasons: Vec<String> = resp
            .failures()
            .iter()
            .map(|f| {
                let reason = f.reason().unwrap_or("failure");
                match f.detail() {
                    Some(d) => format!("{reason} ({d})"),
                    None => reason.to_string(),
                }
            })
            .collect();
        if reasons.is_empty() {
            // No task and no failure entry: nothing started (moto answers so when no host has
            // room). Not placed, so the job keeps its place.
            return Ok(RunTaskOutcome::NotPlaced {
                reason: "RunTask started no task and reported no failure".into(),
            });
        }
        Ok(RunTaskOutcome::NotPlaced {
            reason: reasons.join("; "),
        })
    }

    async fn describe_launched_batch(
        &self,
        cluster: &str,
        task_arns: &[String],
    ) -> Result<Described<LaunchedTask>, EcsError> {
        // At most one batch: one DescribeTasks.
        self.describe_task_batches(cluster, task_arns, |t| Some(launched_from_sdk(t)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_convert_and_unknown_fields_are_refused() {
        let o = task_override(&json!({
            "cpu": "512",
            "containerOverrides": [{"name": "app", "command": ["run", "x"],
                                    "environment": [{"name": "A", "value": "1"}]}]
        }))
        .expect("valid");
        assert_eq!(o.cpu(), Some("512"));
        assert_eq!(o.container_overrides()[0].command(), ["run", "x"]);
        let err =
            task_override(&json!({"inferenceAcceleratorOverrides": []})).expect_err("unknown");
        assert!(err.to_string().contains("not supported"), "{err}");
        assert!(tags(&json!([{"key": "team", "value": "a"}])).is_ok());
        assert!(
            capacity_provider_strategy(&json!([{"capacityProvider": "cp", "weight": 1}])).is_ok()
        );
        assert!(
            network_configuration(&json!({"awsvpcConfiguration": {"subnets": ["s-1"]}})).is_ok()
        );
    }
}
