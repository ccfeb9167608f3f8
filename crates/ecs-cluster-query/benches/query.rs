//! Parse, evaluate over 5,000 hosts, and place 10 tasks over 5,000 hosts.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ecs_cluster_query::placement::{place, Resource, SpreadField, Strategy, TaskRequest};
use ecs_cluster_query::{parse, Host};

const COMPOUND: &str = "(attribute:ecs.instance-type =~ t3.* or attribute:ecs.instance-type in [m5.large, m5.xlarge]) \
and attribute:ecs.availability-zone != us-east-1c and not(task:group == service:batch) \
and agentVersion >= 1.60.0 and attribute:stack exists";

fn fleet(n: usize) -> Vec<Host> {
    let types = [
        "t3.medium",
        "t3.large",
        "m5.large",
        "m5.xlarge",
        "c5.large",
        "t2.micro",
    ];
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    (0..n)
        .map(|i| {
            let mut h = Host::new(format!("i-{i:017x}"))
                .with_attribute("ecs.instance-type", types[i % types.len()])
                .with_attribute("ecs.availability-zone", zones[i % zones.len()])
                .with_attribute("ecs.os-type", "linux")
                .with_attribute("ecs.ami-id", format!("ami-{:08x}", i % 7))
                .with_resources(4096, 2048 + ((i * 7919) % 6000) as i64);
            if i % 4 != 0 {
                h = h.with_attribute("stack", "prod");
            }
            for t in 0..(i % 5) {
                h = h.with_task(if t == 3 {
                    "service:batch"
                } else {
                    "service:web"
                });
            }
            h.agent_version = Some(format!("1.{}.0", 50 + i % 30));
            h.registered_at = Some(1_600_000_000 + i as i64);
            h
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    c.bench_function("parse compound expression", |b| {
        b.iter(|| parse(black_box(COMPOUND)))
    });

    let hosts = fleet(5000);
    let expr = match parse(COMPOUND) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    let matching = hosts.iter().filter(|h| expr.evaluate(*h)).count();
    assert!(matching > 0 && matching < hosts.len());
    c.bench_function("evaluate compound expression over 5000 hosts", |b| {
        b.iter(|| {
            black_box(&hosts)
                .iter()
                .filter(|h| expr.evaluate(*h))
                .count()
        })
    });

    let request = TaskRequest {
        cpu: 256,
        memory: 512,
        ports: vec![8080],
        group: Some("service:web".into()),
    };
    let strategies = [
        Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
        Strategy::Binpack(Resource::Memory),
    ];
    let p = place(&hosts, &request, 10, &[], &strategies);
    assert_eq!(p.unplaced, 0);
    c.bench_function(
        "place 10 tasks over 5000 hosts (spread az, binpack memory)",
        |b| b.iter(|| place(black_box(&hosts), &request, 10, &[], &strategies)),
    );
}

criterion_group!(query, benches);
criterion_main!(query);
