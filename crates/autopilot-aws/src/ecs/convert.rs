//! ECS SDK types → the project's model (a `version` of 0 means absent).

use aws_sdk_ecs::types as ecs;

use autopilot_core::model::{
    Attribute, ContainerDefinition, ContainerInstance, InstanceStatus, PlacementConstraint,
    PlacementStrategy, Resources, SchedulingStrategy, Service, Task, TaskDefinition, TaskSet,
};
use autopilot_core::ports::{ClusterDescription, EcsError};

/// Converts the SDK's task. As for container instances, a `version` of 0 means absent.
pub fn task_from_sdk(t: &ecs::Task) -> Result<Task, EcsError> {
    let arn = t.task_arn().ok_or_else(|| EcsError::InvalidResponse {
        operation: "DescribeTasks",
        message: "task without taskArn".into(),
    })?;
    // Task-level sizes are strings ("256", or "1 vCPU" in task definitions); keep integers only.
    let size = |v: Option<&str>| v.and_then(|s| s.trim().parse::<i64>().ok());
    Ok(Task {
        arn: arn.to_string(),
        cluster_arn: t.cluster_arn().map(str::to_string),
        container_instance_arn: t.container_instance_arn().map(str::to_string),
        group: t.group().map(str::to_string),
        started_by: t.started_by().map(str::to_string),
        last_status: t.last_status().map(str::to_string),
        desired_status: t.desired_status().map(str::to_string),
        cpu: size(t.cpu()),
        memory: size(t.memory()),
        launch_type: t.launch_type().map(|l| l.as_str().to_string()),
        version: Some(t.version()).filter(|v| *v > 0),
    })
}

fn resources_from_sdk(list: &[ecs::Resource]) -> Resources {
    let mut out = Resources::default();
    for r in list {
        // The SDK models absent numbers as 0; `type` says which field carries the value.
        let number = match r.r#type() {
            Some("LONG") => Some(r.long_value()),
            Some("DOUBLE") => Some(r.double_value() as i64),
            _ => Some(i64::from(r.integer_value())),
        };
        match r.name() {
            Some("CPU") => out.cpu = number,
            Some("MEMORY") => out.memory = number,
            Some("PORTS") => out.ports = r.string_set_value().to_vec(),
            Some("PORTS_UDP") => out.ports_udp = r.string_set_value().to_vec(),
            Some("GPU") => out.gpus = Some(r.string_set_value().len() as i64),
            _ => {}
        }
    }
    out
}

/// Converts the SDK's container instance. Describe's `version` is the same counter as the
/// event's `detail.version`; the SDK turns an absent one into 0, which we map back to `None`
/// (ECS versions start at 1; moto omits the field).
pub fn container_instance_from_sdk(
    ci: &ecs::ContainerInstance,
) -> Result<ContainerInstance, EcsError> {
    let arn = ci
        .container_instance_arn()
        .ok_or_else(|| EcsError::InvalidResponse {
            operation: "DescribeContainerInstances",
            message: "container instance without containerInstanceArn".into(),
        })?;
    let mut out = ContainerInstance::new(arn, InstanceStatus::from(ci.status().unwrap_or("")));
    out.ec2_instance_id = ci.ec2_instance_id().map(str::to_string);
    out.agent_connected = Some(ci.agent_connected());
    out.agent_version = ci
        .version_info()
        .and_then(|v| v.agent_version())
        .map(str::to_string);
    out.attributes = ci
        .attributes()
        .iter()
        .map(|a| Attribute {
            name: a.name().to_string(),
            value: a.value().map(str::to_string),
        })
        .collect();
    out.registered = resources_from_sdk(ci.registered_resources());
    out.remaining = resources_from_sdk(ci.remaining_resources());
    out.running_tasks_count = Some(i64::from(ci.running_tasks_count()));
    out.pending_tasks_count = Some(i64::from(ci.pending_tasks_count()));
    out.version = Some(ci.version()).filter(|v| *v > 0);
    out.registered_at = ci.registered_at().map(|t| t.secs());
    out.capacity_provider_name = ci.capacity_provider_name().map(str::to_string);
    Ok(out)
}

pub fn service_from_sdk(s: &ecs::Service) -> Result<Service, EcsError> {
    let arn = s.service_arn().ok_or_else(|| EcsError::InvalidResponse {
        operation: "DescribeServices",
        message: "service without serviceArn".into(),
    })?;
    Ok(Service {
        arn: arn.to_string(),
        name: s
            .service_name()
            .map(str::to_string)
            .unwrap_or_else(|| autopilot_core::arn::arn_resource_id(arn).to_string()),
        cluster_arn: s.cluster_arn().map(str::to_string),
        status: s.status().unwrap_or("").to_string(),
        // ECS's default strategy is REPLICA; an absent field means that.
        scheduling_strategy: s
            .scheduling_strategy()
            .map(|st| SchedulingStrategy::from(st.as_str()))
            .unwrap_or(SchedulingStrategy::Replica),
        desired_count: s.desired_count(),
        task_definition: s.task_definition().map(str::to_string),
        placement_constraints: s
            .placement_constraints()
            .iter()
            .map(|c| constraint_from_sdk(c.r#type().map(|t| t.as_str()), c.expression()))
            .collect(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
            .collect(),
        launch_type: s.launch_type().map(|l| l.as_str().to_string()),
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|p| p.capacity_provider().to_string())
            .collect(),
        placement_strategy: s
            .placement_strategy()
            .iter()
            .map(|p| PlacementStrategy {
                kind: p
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                field: p.field().map(str::to_string),
            })
            .collect(),
        deployment_controller: s
            .deployment_controller()
            .map(|d| d.r#type().as_str().to_string()),
        task_sets: s
            .task_sets()
            .iter()
            .map(|ts| TaskSet {
                status: ts.status().unwrap_or("").to_string(),
                task_definition: ts.task_definition().map(str::to_string),
            })
            .collect(),
    })
}

/// The task definition's requirements on a host, as the scheduler reserves them on EC2: the
/// task-level CPU and memory when set, else the containers' sums (memory: `memoryReservation`,
/// else `memory`); static host ports (`hostPort` ≠ 0) by protocol.
pub fn task_definition_from_sdk(td: &ecs::TaskDefinition, requested: &str) -> TaskDefinition {
    let containers = td.container_definitions();
    let sum = |f: &dyn Fn(&ecs::ContainerDefinition) -> Option<i64>| -> Option<i64> {
        let parts: Vec<i64> = containers.iter().filter_map(f).collect();
        (!parts.is_empty()).then(|| parts.iter().sum())
    };
    let task_level = |v: Option<&str>| v.and_then(|v| v.trim().parse::<i64>().ok());
    let cpu =
        task_level(td.cpu()).or_else(|| sum(&|c| Some(i64::from(c.cpu())).filter(|v| *v > 0)));
    let memory = task_level(td.memory())
        .or_else(|| sum(&|c| c.memory_reservation().or(c.memory()).map(i64::from)));
    let mut host_ports = Vec::new();
    let mut host_ports_udp = Vec::new();
    for pm in containers.iter().flat_map(|c| c.port_mappings()) {
        let Some(port) = pm.host_port().filter(|p| *p > 0) else {
            continue;
        };
        match pm.protocol().map(|p| p.as_str()) {
            Some("udp") => host_ports_udp.push(port.to_string()),
            _ => host_ports.push(port.to_string()),
        }
    }
    TaskDefinition {
        arn: td.task_definition_arn().unwrap_or(requested).to_string(),
        placement_constraints: td
            .placement_constraints()
            .iter()
            .map(|c| constraint_from_sdk(c.r#type().map(|t| t.as_str()), c.expression()))
            .collect(),
        requires_attributes: td
            .requires_attributes()
            .iter()
            .filter(|a| {
                // Attributes that target something other than the container instance do not
                // limit which hosts count.
                a.target_type()
                    .is_none_or(|t| t.as_str() == "container-instance")
            })
            .map(|a| Attribute {
                name: a.name().to_string(),
                value: a.value().map(str::to_string),
            })
            .collect(),
        cpu,
        memory,
        task_role_arn: td.task_role_arn().map(str::to_string),
        execution_role_arn: td.execution_role_arn().map(str::to_string),
        host_ports,
        host_ports_udp,
        task_cpu: task_level(td.cpu()),
        task_memory: task_level(td.memory()),
        containers: containers
            .iter()
            .map(|c| ContainerDefinition {
                name: c.name().unwrap_or_default().to_string(),
                // ECS: "If the essential parameter of a container is marked as true... All tasks
                // must have at least one essential container"; absent means true.
                essential: c.essential().unwrap_or(true),
                cpu: i64::from(c.cpu()),
                memory: c.memory().map(i64::from),
                memory_reservation: c.memory_reservation().map(i64::from),
                gpus: c
                    .resource_requirements()
                    .iter()
                    .filter(|r| r.r#type().as_str() == "GPU")
                    .filter_map(|r| r.value().trim().parse::<i64>().ok())
                    .sum(),
            })
            .collect(),
    }
}

/// A placement constraint (of a service or a task definition: two SDK types, one shape).
pub fn constraint_from_sdk(kind: Option<&str>, expression: Option<&str>) -> PlacementConstraint {
    PlacementConstraint {
        kind: kind.unwrap_or_default().to_string(),
        expression: expression.map(str::to_string),
    }
}

/// One cluster as DescribeClusters describes it.
pub fn cluster_from_sdk(c: &ecs::Cluster) -> ClusterDescription {
    ClusterDescription {
        arn: c.cluster_arn().unwrap_or_default().to_string(),
        name: c.cluster_name().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        default_strategy: c
            .default_capacity_provider_strategy()
            .iter()
            .map(|p| p.capacity_provider().to_string())
            .collect(),
    }
}
