//! capacity-recorder's own work per event (decode + decide which write), `can-place` over a
//! 5,000-host cluster read from the table (records → placement hosts → place), and, on the
//! in-memory store, the hosts-only read and the steady-state sweep of a cluster with 5,000 hosts
//! and 100,000 task items (20,000 running, 80,000 stopped or gone). `scripts/scale` measures the
//! same shapes with the real binaries on moto, with peak RSS and read units.

use std::hint::black_box;

use autopilot_core::capacity::{
    instance_to_record, placement_hosts, plan_event, with_task_ttl, CapacityRecorder, Record,
    RecorderConfig, TaskRecord, WriteCondition,
};
use autopilot_core::env::ClusterScope;
use autopilot_core::events::EcsEvent;
use autopilot_core::memory::{InMemoryCapacityStore, InMemoryEcs};
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Resources, Task};
use autopilot_core::ports::{CapacityStore, ItemKind, ItemQuery};
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

const BIG: &str = "arn:aws:ecs:us-east-1:1:cluster/big";
const NOW: i64 = 1_800_000_000;

fn cluster(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| instance_to_record(BIG, host(i), None, 0))
        .collect()
}

fn host(i: usize) -> ContainerInstance {
    let mut ci = ContainerInstance::new(
        host_ci(i),
        if i.is_multiple_of(50) {
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
            value: Some(instance_type(i).into()),
        },
    ];
    ci.registered = Resources {
        cpu: Some(2048),
        memory: Some(7680),
        ports: vec!["22".into()],
        ports_udp: vec![],
        gpus: None,
    };
    ci.remaining = Resources {
        cpu: Some(2048 - (i as i64 % 8) * 256),
        memory: Some(7680 - (i as i64 % 15) * 512),
        ports: vec!["22".into()],
        ports_udp: vec![],
        gpus: None,
    };
    ci.version = Some(3);
    ci
}

fn instance_type(i: usize) -> &'static str {
    if i.is_multiple_of(4) {
        "m5.large"
    } else {
        "t3.large"
    }
}

fn gone(i: usize) -> bool {
    i.is_multiple_of(3)
}

fn task(i: usize, host: usize) -> Task {
    let mut t = Task::running(
        format!("arn:aws:ecs:us-east-1:1:task/big/{i:032x}"),
        Some("service:web"),
        Some("ecs-svc/1"),
    );
    t.cluster_arn = Some(BIG.into());
    t.container_instance_arn = Some(host_ci(host));
    t.memory = Some(256);
    t.launch_type = Some("EC2".into());
    t.version = Some(2);
    t
}

fn host_ci(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:1:container-instance/big/{i:032x}")
}

/// 5,000 hosts and 20,000 running tasks in ECS; the table swept once, then 80,000 task items of
/// stopped and gone tasks added.
fn big_recorder(
    rt: &tokio::runtime::Runtime,
) -> CapacityRecorder<InMemoryCapacityStore, InMemoryEcs> {
    let rec = CapacityRecorder::new(
        InMemoryCapacityStore::with_page_items(1_000),
        InMemoryEcs::new(),
        RecorderConfig {
            table: "bench".into(),
            clusters: ClusterScope::All,
        },
    );
    for h in 0..5_000 {
        rec.ecs().add_instance(BIG, host(h));
    }
    for i in 0..20_000 {
        rec.ecs().put_task(BIG, task(i, i % 5_000));
    }
    rt.block_on(rec.sweep_cluster(BIG, NOW))
        .expect("first sweep");
    for i in 0..80_000 {
        let record = with_task_ttl(
            TaskRecord {
                cluster_arn: BIG.into(),
                task: autopilot_core::model::Task {
                    arn: format!("arn:aws:ecs:us-east-1:1:task/big/old{i:029x}"),
                    cluster_arn: None,
                    container_instance_arn: Some(host_ci(i % 5_000)),
                    group: Some("family:batch".into()),
                    started_by: Some("batch".into()),
                    // A third are tombstones of tasks the sweep found gone, the rest STOPPED.
                    last_status: Some(if gone(i) { "RUNNING" } else { "STOPPED" }.to_string()),
                    desired_status: Some("STOPPED".into()),
                    cpu: Some(256),
                    memory: Some(512),
                    launch_type: Some("EC2".into()),
                    version: Some(5),
                },
                updated_at: None,
                tombstone: gone(i),
                expires_at: None,
            },
            NOW,
        );
        rt.block_on(rec.store().write(&record, WriteCondition::Unchanged(None)))
            .expect("history");
    }
    rec
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

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let rec = big_recorder(&rt);
    let mut group = c.benchmark_group("5,000 hosts + 100,000 task items, in-memory store");
    group.sample_size(10);
    group.bench_function("hosts-only read (can-place without task groups)", |b| {
        b.iter(|| {
            rt.block_on(
                rec.store()
                    .records(ItemQuery::live("big", ItemKind::Hosts, NOW)),
            )
            .expect("read")
        })
    });
    group.bench_function("sweep, steady state", |b| {
        b.iter(|| {
            let report = rt.block_on(rec.sweep_cluster(BIG, NOW)).expect("sweep");
            assert_eq!(report.written + report.removed, 0, "{report:?}");
            report
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
