//! Cost of daemon-count's own work per event, without AWS: parse the EventBridge payload, then
//! decide the desired count of a few services over the cluster's hosts.

use std::collections::BTreeMap;
use std::hint::black_box;

use autopilot_core::daemon::{decide, Decision};
use autopilot_core::events::EcsEvent;
use autopilot_core::model::{
    Attribute, ContainerInstance, InstanceStatus, PlacementConstraint, SchedulingStrategy, Service,
    TaskDefinition,
};
use criterion::{criterion_group, criterion_main, Criterion};

const EVENT: &str = r#"{"version":"0","id":"8952ba83","detail-type":"ECS Container Instance State Change",
"source":"aws.ecs","account":"111122223333","time":"2016-12-06T16:41:06Z","region":"us-east-1",
"resources":["arn:aws:ecs:us-east-1:111122223333:container-instance/b54a"],
"detail":{"agentConnected":true,"attributes":[{"name":"ecs.instance-type","value":"t3.large"},
{"name":"com.amazonaws.ecs.capability.ecr-auth"},{"name":"com.amazonaws.ecs.capability.task-iam-role"}],
"clusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/default",
"containerInstanceArn":"arn:aws:ecs:us-east-1:111122223333:container-instance/b54a",
"ec2InstanceId":"i-f3a8506b",
"registeredResources":[{"name":"CPU","type":"INTEGER","integerValue":2048},{"name":"MEMORY","type":"INTEGER","integerValue":3767},
{"name":"PORTS","type":"STRINGSET","stringSetValue":["22","2376","2375","51678","51679"]},{"name":"PORTS_UDP","type":"STRINGSET","stringSetValue":[]}],
"remainingResources":[{"name":"CPU","type":"INTEGER","integerValue":1988},{"name":"MEMORY","type":"INTEGER","integerValue":767},
{"name":"PORTS","type":"STRINGSET","stringSetValue":["22","2376","2375","51678","51679"]},{"name":"PORTS_UDP","type":"STRINGSET","stringSetValue":[]}],
"status":"ACTIVE","version":14801,"versionInfo":{"agentHash":"aebcbca","agentVersion":"1.13.0","dockerVersion":"DockerVersion: 1.11.2"},
"updatedAt":"2016-12-06T16:41:06.991Z"}}"#;

fn fleet(n: usize) -> Vec<ContainerInstance> {
    (0..n)
        .map(|i| {
            let status = if i % 10 == 9 {
                InstanceStatus::Draining
            } else {
                InstanceStatus::Active
            };
            let mut ci = ContainerInstance::new(
                format!("arn:aws:ecs:us-east-1:1:container-instance/prod/{i:032x}"),
                status,
            );
            ci.ec2_instance_id = Some(format!("i-{i:017x}"));
            ci.agent_connected = Some(i % 17 != 0);
            let itype = if i % 3 == 0 { "m5.large" } else { "t3.large" };
            ci.attributes = vec![
                Attribute {
                    name: "ecs.instance-type".into(),
                    value: Some(itype.into()),
                },
                Attribute {
                    name: "ecs.availability-zone".into(),
                    value: Some(format!("us-east-1{}", ["a", "b", "c"][i % 3])),
                },
            ];
            ci
        })
        .collect()
}

fn service(name: &str, tags: &[(&str, &str)]) -> Service {
    Service {
        arn: format!("arn:aws:ecs:us-east-1:1:service/prod/{name}"),
        name: name.into(),
        cluster_arn: None,
        status: "ACTIVE".into(),
        scheduling_strategy: SchedulingStrategy::Replica,
        desired_count: 0,
        task_definition: Some("td".into()),
        placement_constraints: vec![],
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let plain = TaskDefinition {
        arn: "td".into(),
        placement_constraints: vec![],
        ..Default::default()
    };
    let t3_only = TaskDefinition {
        arn: "td".into(),
        placement_constraints: vec![PlacementConstraint::member_of(
            "attribute:ecs.instance-type =~ t3.* and attribute:ecs.availability-zone != us-east-1c",
        )],
        ..Default::default()
    };
    let services = [
        (
            service("logs", &[("ecs-autopilot:daemon", "true")]),
            plain.clone(),
        ),
        (
            service("metrics", &[("ecs-autopilot:tasks-per-host", "2")]),
            plain,
        ),
        (service("t3-agent", &[]), t3_only),
    ];
    for hosts in [5usize, 100, 1000] {
        let instances = fleet(hosts);
        c.bench_function(&format!("parse + decide 3 services, {hosts} hosts"), |b| {
            b.iter(|| {
                let event = EcsEvent::from_slice(black_box(EVENT.as_bytes())).expect("parses");
                let mut total = 0;
                for (svc, td) in &services {
                    if let Decision::Desired { desired, .. } =
                        decide(svc, Some(td), black_box(&instances))
                    {
                        total += desired;
                    }
                }
                black_box((event, total))
            })
        });
    }
    // As the reconciler runs it: memberOf compiled once per task definition revision (cached),
    // the service's tasks known (empty here).
    let compiled: Vec<_> = services
        .iter()
        .map(|(svc, td)| {
            autopilot_core::daemon::decide::member_of_expressions(
                svc.placement_constraints
                    .iter()
                    .chain(td.placement_constraints.iter()),
            )
            .expect("valid")
        })
        .collect();
    let no_tasks = std::collections::BTreeMap::new();
    for hosts in [5usize, 100, 1000] {
        let instances = fleet(hosts);
        c.bench_function(
            &format!("decide 3 services, compiled once, {hosts} hosts"),
            |b| {
                b.iter(|| {
                    let mut total = 0;
                    for ((svc, td), expressions) in services.iter().zip(&compiled) {
                        let context = autopilot_core::daemon::DecideContext {
                            default_strategy: &[],
                            tasks_by_host: Some(&no_tasks),
                            expressions: Some(expressions),
                        };
                        if let Decision::Desired { desired, .. } =
                            autopilot_core::daemon::decide_with(
                                svc,
                                Some(td),
                                black_box(&instances),
                                context,
                            )
                        {
                            total += desired;
                        }
                    }
                    black_box(total)
                })
            },
        );
    }
    c.bench_function("parse event only", |b| {
        b.iter(|| EcsEvent::from_slice(black_box(EVENT.as_bytes())).expect("parses"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
