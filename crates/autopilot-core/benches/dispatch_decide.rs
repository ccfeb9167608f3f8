//! task-dispatcher's decision: 1,000 queued jobs over 500 hosts (mixed sizes, a busy cluster,
//! one in ten jobs with a memberOf constraint, a daemon reservation, and a few jobs that never
//! fit), as one wake-up runs it.

use std::hint::black_box;

use std::collections::BTreeSet;

use autopilot_core::dispatch::scale::{GroupControl, HostSize};
use autopilot_core::dispatch::{decide, decide_scale, DaemonReservation, DispatchHost, ScaleInput};
use autopilot_core::job::{Job, JobConstraint, JobNeeds, RunTaskSpec, Submission};
use autopilot_core::ports::scale_group::{GroupInstance, GroupState};
use criterion::{criterion_group, criterion_main, Criterion};
use ecs_cluster_query::Host;

fn hosts(n: usize) -> Vec<DispatchHost> {
    (0..n)
        .map(|i| {
            let (cpu, mem) = [(2048, 7_680), (4096, 15_360), (8192, 31_232)][i % 3];
            let mut h = Host::new(format!("i-{i:017x}"))
                .with_attribute(
                    "ecs.availability-zone",
                    format!("us-east-1{}", ["a", "b", "c"][i % 3]),
                )
                .with_attribute(
                    "ecs.instance-type",
                    ["m5.large", "m5.xlarge", "m5.2xlarge"][i % 3],
                );
            // Busy: between 0 and 90 % used.
            h.remaining_cpu = cpu * (i as i64 % 10) / 10;
            h.remaining_memory = mem * ((i as i64 * 7) % 10) / 10;
            if i % 2 == 0 {
                h.task_groups.push("service:logs".into());
            }
            DispatchHost::new(h, cpu, mem)
        })
        .collect()
}

fn jobs(n: usize) -> Vec<Job> {
    (0..n)
        .map(|i| {
            let mut spec = RunTaskSpec {
                cluster: "big".into(),
                task_definition: "job".into(),
                ..RunTaskSpec::default()
            };
            if i % 10 == 0 {
                spec.placement_constraints = vec![JobConstraint {
                    kind: "memberOf".into(),
                    expression: Some("attribute:ecs.instance-type == m5.2xlarge".into()),
                }];
            }
            let memory = if i % 100 == 99 {
                65_536
            } else {
                [512, 1024, 2048, 4096][i % 4]
            };
            Submission {
                spec,
                priority: Some((i % 5) as i64),
                ..Submission::default()
            }
            .into_job(
                format!("job-{i:05}"),
                JobNeeds {
                    cpu: [256, 512, 1024][i % 3],
                    memory,
                    ports: Vec::new(),
                    ..JobNeeds::default()
                },
                i as i64,
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let hosts = hosts(500);
    let jobs = jobs(1_000);
    let daemons = [DaemonReservation {
        group: "service:logs".into(),
        cpu: 128,
        memory: 256,
        ports: Vec::new(),
    }];
    let plan = decide(&jobs, &hosts, &daemons, 10_000);
    eprintln!(
        "1,000 jobs over 500 hosts: {} placed, {} waiting",
        plan.placed().count(),
        plan.decisions.len() - plan.placed().count()
    );
    c.bench_function("dispatch decide 1000 jobs x 500 hosts", |b| {
        b.iter(|| {
            decide(
                black_box(&jobs),
                black_box(&hosts),
                black_box(&daemons),
                10_000,
            )
        })
    });
    // The expensive case: a full cluster, so nearly every job waits (a failed placement, and for
    // the jobs behind the reservation a second one to word the reason).
    let full: Vec<DispatchHost> = hosts
        .iter()
        .cloned()
        .map(|mut h| {
            h.host.remaining_memory = 256;
            h
        })
        .collect();
    let plan = decide(&jobs, &full, &daemons, 10_000);
    eprintln!(
        "full cluster: {} placed, {} waiting",
        plan.placed().count(),
        plan.decisions.len() - plan.placed().count()
    );
    c.bench_function("dispatch decide 1000 jobs x 500 full hosts", |b| {
        b.iter(|| {
            decide(
                black_box(&jobs),
                black_box(&full),
                black_box(&daemons),
                10_000,
            )
        })
    });
}

/// 10,000 queued jobs over 500 hosts with an owned group (MaxSize 100, half its hosts
/// registered): one wake-up's decide and the group's scale decision.
fn bench_owned_group(c: &mut Criterion) {
    let hosts = hosts(500);
    let jobs = jobs(10_000);
    let daemons: [DaemonReservation; 0] = [];
    let group = GroupState {
        name: "g".into(),
        desired: 50,
        min: 0,
        max: 100,
        instances: (0..50)
            .map(|i| GroupInstance {
                instance_id: format!("i-{i:017x}"),
                lifecycle_state: "InService".into(),
            })
            .collect(),
        suspended_processes: vec!["AZRebalance".into()],
    };
    let registered: BTreeSet<String> = hosts
        .iter()
        .filter_map(|h| h.host.ec2_instance_id.clone())
        .collect();
    let control = GroupControl::default();
    let run = || {
        let plan = decide(black_box(&jobs), black_box(&hosts), &daemons, 10_000);
        decide_scale(&ScaleInput {
            jobs: &jobs,
            hosts: &hosts,
            daemons: &daemons,
            plan: &plan,
            group: &group,
            host_size: HostSize {
                cpu: 4096,
                memory: 15_360,
            },
            control: &control,
            idle_seconds: 300,
            register_grace: 600,
            registered: &registered,
            now: 10_000,
        })
    };
    let p = run();
    eprintln!(
        "10,000 jobs over 500 hosts, owned group at 50 of 100: raise to {:?}, {} at MaxSize",
        p.raise_to,
        p.at_max.len()
    );
    c.bench_function(
        "dispatch decide+scale 10000 jobs x 500 hosts, owned group",
        |b| b.iter(run),
    );
}

criterion_group!(benches, bench, bench_owned_group);
criterion_main!(benches);
