//! capacity-recorder's own work per event (decode + decide which write) and `can-place` over a
//! 5,000-host cluster read from the table (records → placement hosts → place).

use std::hint::black_box;

use autopilot_core::capacity::{instance_to_record, placement_hosts, plan_event, Record};
use autopilot_core::events::EcsEvent;
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Resources};
use criterion::{criterion_group, criterion_main, Criterion};
use ecs_cluster_query::placement::{self, Constraint, TaskRequest};

const TASK_EVENT: &str = r#"{"version":"0","id":"b1c2d3e4","detail-type":"ECS Task State Change","source":"aws.ecs",
"account":"123456789012","time":"2026-11-22T06:00:05Z","region":"us-east-1",
"resources":["arn:aws:ecs:us-east-1:123456789012:task/demo/0f3a5c7e9b1d4f6a8c0e2a4c6e8f0a1b"],
"detail":{"clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/demo",
"containerInstanceArn":"arn:aws:ecs:us-east-1:123456789012:container-instance/demo/5b1e6e2f3c9a4d0b8f7e6a5c4b3a2910",
"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/demo/0f3a5c7e9b1d4f6a8c0e2a4c6e8f0a1b",
"taskDefinitionArn":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:7","group":"service:web",
"startedBy":"ecs-svc/9223370556150183303","launchType":"EC2","cpu":"256","memory":"512",
"lastStatus":"RUNNING","desiredStatus":"RUNNING","version":2,"createdAt":"2026-11-22T06:00:00.100Z",
"updatedAt":"2026-11-22T06:00:05.300Z","containers":[{"name":"web","lastStatus":"RUNNING",
"networkBindings":[{"bindIP":"0.0.0.0","containerPort":8080,"hostPort":8080,"protocol":"tcp"}]}]}}"#;

fn cluster(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut ci = ContainerInstance::new(
                format!("arn:aws:ecs:us-east-1:1:container-instance/big/{i:032x}"),
                if i % 50 == 0 {
                    InstanceStatus::Draining
                } else {
                    InstanceStatus::Active
                },
            );
            ci.ec2_instance_id = Some(format!("i-{i:017x}"));
            ci.agent_connected = Some(true);
            ci.attributes = vec![
                Attribute {
                    name: "ecs.availability-zone".into(),
                    value: Some(format!("us-east-1{}", ["a", "b", "c"][i % 3])),
                },
                Attribute {
                    name: "ecs.instance-type".into(),
                    value: Some(if i % 4 == 0 { "m5.large" } else { "t3.large" }.into()),
                },
            ];
            ci.registered = Resources {
                cpu: Some(2048),
                memory: Some(7680),
                ports: vec!["22".into()],
                ports_udp: vec![],
            };
            ci.remaining = Resources {
                cpu: Some(2048 - (i as i64 % 8) * 256),
                memory: Some(7680 - (i as i64 % 15) * 512),
                ports: vec!["22".into()],
                ports_udp: vec![],
            };
            instance_to_record("arn:aws:ecs:us-east-1:1:cluster/big", ci, None, 0)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    c.bench_function("recorder: decode + plan one task event", |b| {
        b.iter(|| {
            let event = EcsEvent::from_slice(black_box(TASK_EVENT.as_bytes())).expect("event");
            plan_event(&event, 0).expect("plan")
        })
    });

    let records = cluster(5_000);
    let request = TaskRequest {
        cpu: 256,
        memory: 1024,
        ports: vec![8080],
        group: Some("service:web".into()),
    };
    let constraints = vec![
        Constraint::parse("memberOf:attribute:ecs.instance-type =~ t3.*").expect("constraint"),
        Constraint::DistinctInstance,
    ];
    let strategies = placement::parse_strategies(
        &["spread:attribute:ecs.availability-zone", "binpack:memory"],
        0,
    )
    .expect("strategies");
    c.bench_function(
        "can-place: 10 tasks over 5,000 hosts (records -> hosts -> place)",
        |b| {
            b.iter(|| {
                let hosts = placement_hosts(black_box(&records));
                placement::place(&hosts, &request, 10, &constraints, &strategies)
            })
        },
    );
    let hosts = placement_hosts(&records);
    c.bench_function("can-place: place only, 10 tasks over 5,000 hosts", |b| {
        b.iter(|| placement::place(black_box(&hosts), &request, 10, &constraints, &strategies))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
