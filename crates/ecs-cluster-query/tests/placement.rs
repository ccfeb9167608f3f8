//! Placement simulation.

use ecs_cluster_query::placement::{
    parse_constraints, parse_strategies, place, Constraint, PlacementError, Resource, SpreadField,
    Strategy, TaskRequest, MAX_CONSTRAINTS, MAX_TASKS_PER_PLACEMENT,
};
use ecs_cluster_query::{parse, Host};

fn req(cpu: i64, memory: i64) -> TaskRequest {
    TaskRequest {
        cpu,
        memory,
        ..TaskRequest::default()
    }
}

fn cons(items: &[&str]) -> Vec<Constraint> {
    match parse_constraints(items) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn strats(items: &[&str], seed: u64) -> Vec<Strategy> {
    match parse_strategies(items, seed) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn five_small_hosts() -> Vec<Host> {
    (1..=5)
        .map(|i| Host::new(format!("i-{i}")).with_resources(1024, 100))
        .collect()
}

#[test]
fn fragmentation_does_not_sum_free_memory() {
    let hosts = five_small_hosts();
    let p = place(&hosts, &req(10, 200), 1, &[], &[]);
    assert!(p.placed.is_empty());
    assert_eq!(p.unplaced, 1);
    assert_eq!(
        p.reason.as_deref(),
        Some("no host has 200 MiB memory free; the largest free is 100 MiB on i-1")
    );
}

#[test]
fn ninety_mib_times_five_with_distinct_instance() {
    let hosts = five_small_hosts();
    let p = place(&hosts, &req(10, 90), 5, &cons(&["distinctInstance"]), &[]);
    assert_eq!(p.placed, ["i-1", "i-2", "i-3", "i-4", "i-5"]);
    assert_eq!(p.unplaced, 0);
    assert_eq!(p.reason, None);
    // A sixth cannot go anywhere: every host already has one, and none has 90 MiB left.
    let p = place(&hosts, &req(10, 90), 6, &cons(&["distinctInstance"]), &[]);
    assert_eq!(p.placed.len(), 5);
    assert_eq!(p.unplaced, 1);
    assert_eq!(
        p.reason.as_deref(),
        Some("after placing 5 of 6 tasks, no host has 90 MiB memory free; the largest free is 10 MiB on i-1")
    );
}

#[test]
fn distinct_instance_reason_when_resources_fit() {
    let hosts = vec![Host::new("i-1").with_resources(4096, 4096)];
    let p = place(&hosts, &req(10, 10), 2, &cons(&["distinctInstance"]), &[]);
    assert_eq!(p.placed, ["i-1"]);
    assert_eq!(
        p.reason.as_deref(),
        Some("after placing 1 of 2 tasks, 1 host fits the resources but none satisfies distinctInstance")
    );
    // Existing tasks of the request's group count for distinctInstance.
    let hosts = vec![
        Host::new("i-1")
            .with_resources(4096, 4096)
            .with_task("service:web"),
        Host::new("i-2").with_resources(4096, 4096),
    ];
    let request = TaskRequest {
        group: Some("service:web".into()),
        ..req(10, 10)
    };
    let p = place(&hosts, &request, 2, &cons(&["distinctInstance"]), &[]);
    assert_eq!(p.placed, ["i-2"]);
    assert_eq!(p.unplaced, 1);
}

fn az_fleet() -> Vec<Host> {
    let zones = [
        "us-east-1a",
        "us-east-1a",
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    ];
    zones
        .iter()
        .enumerate()
        .map(|(i, z)| {
            Host::new(format!("i-{i}"))
                .with_resources(4096, 8192)
                .with_attribute("ecs.availability-zone", *z)
        })
        .collect()
}

#[test]
fn spread_over_availability_zones() {
    let hosts = az_fleet();
    let s = strats(&["spread:attribute:ecs.availability-zone"], 0);
    let p = place(&hosts, &req(256, 512), 6, &[], &s);
    assert_eq!(p.unplaced, 0);
    let zone_of = |id: &str| {
        hosts
            .iter()
            .find(|h| h.id == id)
            .and_then(|h| h.attributes.get("ecs.availability-zone").cloned().flatten())
            .unwrap_or_default()
    };
    let mut counts = std::collections::BTreeMap::new();
    for id in &p.placed {
        *counts.entry(zone_of(id)).or_insert(0) += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), [2, 2, 2]);
    // Ties inside a zone fall back to input order: the first 3 tasks go to 1a, 1b, 1c.
    assert_eq!(&p.placed[..3], ["i-0", "i-3", "i-4"]);
}

#[test]
fn spread_then_binpack_chains() {
    let mut hosts = az_fleet();
    hosts[2].remaining_memory = 1024; // fullest host in us-east-1a
    let s = strats(
        &["spread:attribute:ecs.availability-zone", "binpack:memory"],
        0,
    );
    let p = place(&hosts, &req(256, 512), 1, &[], &s);
    assert_eq!(p.placed, ["i-2"]);
}

#[test]
fn spread_counts_existing_tasks_of_the_group() {
    let hosts = vec![
        Host::new("a")
            .with_resources(4096, 4096)
            .with_task("service:web")
            .with_task("service:web"),
        Host::new("b")
            .with_resources(4096, 4096)
            .with_task("service:other"),
        Host::new("c")
            .with_resources(4096, 4096)
            .with_task("service:web"),
    ];
    let request = TaskRequest {
        group: Some("service:web".into()),
        ..req(10, 10)
    };
    let s = strats(&["spread:instanceId"], 0);
    let p = place(&hosts, &request, 3, &[], &s);
    assert_eq!(p.placed, ["b", "b", "c"]);
    // `spread:host` is the same strategy.
    assert_eq!(strats(&["spread:host"], 0), s);
}

#[test]
fn binpack_memory_picks_the_fullest_host() {
    let hosts = vec![
        Host::new("roomy").with_resources(4096, 8000),
        Host::new("full").with_resources(4096, 600),
        Host::new("middle").with_resources(4096, 3000),
        Host::new("too-full").with_resources(4096, 100),
    ];
    let s = strats(&["binpack:memory"], 0);
    let p = place(&hosts, &req(10, 500), 3, &[], &s);
    assert_eq!(p.placed, ["full", "middle", "middle"]);
    let s = vec![Strategy::Binpack(Resource::Cpu)];
    let hosts = vec![
        Host::new("a").with_resources(2048, 100),
        Host::new("b").with_resources(512, 100),
    ];
    assert_eq!(place(&hosts, &req(256, 10), 1, &[], &s).placed, ["b"]);
}

#[test]
fn port_conflicts() {
    let mut busy = Host::new("busy").with_resources(4096, 4096);
    busy.used_ports.insert(80);
    let free = Host::new("free").with_resources(4096, 4096);
    let request = TaskRequest {
        ports: vec![80],
        ..req(10, 10)
    };
    let p = place(&[busy.clone(), free.clone()], &request, 2, &[], &[]);
    assert_eq!(p.placed, ["free"]);
    assert_eq!(p.unplaced, 1);
    assert_eq!(
        p.reason.as_deref(),
        Some("after placing 1 of 2 tasks, no host has host port(s) 80 free")
    );
    // A task without ports still fits on the busy host.
    let p = place(&[busy, free], &req(10, 10), 2, &[], &[]);
    assert_eq!(p.unplaced, 0);
}

#[test]
fn member_of_filters() {
    let hosts = vec![
        Host::new("t2")
            .with_resources(4096, 4096)
            .with_attribute("ecs.instance-type", "t2.micro"),
        Host::new("m5")
            .with_resources(4096, 4096)
            .with_attribute("ecs.instance-type", "m5.large"),
        Host::new("small-t2")
            .with_resources(10, 10)
            .with_attribute("ecs.instance-type", "t2.nano"),
    ];
    let c = cons(&["memberOf:attribute:ecs.instance-type =~ t2.*"]);
    let p = place(&hosts, &req(100, 100), 2, &c, &[]);
    assert_eq!(p.placed, ["t2", "t2"]);
    let c = cons(&["memberOf:attribute:ecs.instance-type == c5.large"]);
    let p = place(&hosts, &req(100, 100), 1, &c, &[]);
    assert_eq!(
        p.reason.as_deref(),
        Some("2 hosts fit the resources but none satisfies memberOf(attribute:ecs.instance-type == c5.large)")
    );
    let c = cons(&[
        "memberOf:attribute:ecs.instance-type =~ t2.*",
        "memberOf:attribute:ecs.instance-type == m5.large",
    ]);
    let p = place(&hosts, &req(100, 100), 1, &c, &[]);
    assert_eq!(
        p.reason.as_deref(),
        Some("2 hosts fit the resources and 1 of them satisfy memberOf(attribute:ecs.instance-type =~ t2.*), but none also satisfies memberOf(attribute:ecs.instance-type == m5.large)")
    );
}

#[test]
fn member_of_sees_tasks_placed_in_this_call() {
    let hosts = vec![
        Host::new("a").with_resources(4096, 4096),
        Host::new("b").with_resources(4096, 4096),
    ];
    let request = TaskRequest {
        group: Some("service:web".into()),
        ..req(10, 10)
    };
    let c = cons(&["memberOf:not(task:group == service:web)"]);
    let p = place(&hosts, &request, 3, &c, &[]);
    assert_eq!(p.placed, ["a", "b"]);
    assert_eq!(p.unplaced, 1);
    let c = cons(&["memberOf:runningTasksCount < 2"]);
    let p = place(&hosts, &req(10, 10), 5, &c, &[]);
    assert_eq!(p.placed, ["a", "a", "b", "b"]);
}

#[test]
fn disconnected_agents_are_skipped() {
    let mut off = Host::new("off").with_resources(4096, 4096);
    off.agent_connected = Some(false);
    let on = Host::new("on").with_resources(4096, 4096);
    assert_eq!(
        place(&[off.clone(), on], &req(1, 1), 1, &[], &[]).placed,
        ["on"]
    );
    let p = place(&[off], &req(1, 1), 1, &[], &[]);
    assert_eq!(
        p.reason.as_deref(),
        Some("none of the 1 host has a connected agent")
    );
    let p = place(&[], &req(1, 1), 1, &[], &[]);
    assert_eq!(p.reason.as_deref(), Some("the cluster has no hosts"));
}

#[test]
fn cpu_reason() {
    let hosts = vec![
        Host::new("a").with_resources(512, 4096),
        Host::new("b").with_resources(1024, 4096),
    ];
    let p = place(&hosts, &req(2048, 10), 1, &[], &[]);
    assert_eq!(
        p.reason.as_deref(),
        Some("no host has 2048 CPU units free; the largest free is 1024 CPU units on b")
    );
}

#[test]
fn random_is_deterministic_per_seed() {
    let hosts: Vec<Host> = (0..50)
        .map(|i| Host::new(format!("i-{i}")).with_resources(4096, 4096))
        .collect();
    let run = |seed| place(&hosts, &req(1, 1), 10, &[], &strats(&["random"], seed)).placed;
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    // Not simply the input order.
    let in_order: Vec<String> = (0..10).map(|i| format!("i-{i}")).collect();
    assert_ne!(run(7), in_order);
}

#[test]
fn limits() {
    let many: Vec<&str> = vec!["distinctInstance"; MAX_CONSTRAINTS + 1];
    assert_eq!(
        parse_constraints(&many),
        Err(PlacementError::TooManyConstraints(11))
    );
    assert!(parse_constraints(&many[..10]).is_ok());
    let six = [
        "random",
        "binpack:cpu",
        "binpack:memory",
        "spread:host",
        "spread:instanceId",
        "random",
    ];
    assert_eq!(
        parse_strategies(&six, 0),
        Err(PlacementError::TooManyStrategies(6))
    );
    assert!(parse_strategies(&six[..5], 0).is_ok());
    // `place` refuses too, with the reason.
    let c = vec![Constraint::DistinctInstance; 11];
    let p = place(&five_small_hosts(), &req(1, 1), 3, &c, &[]);
    assert_eq!(p.unplaced, 3);
    assert_eq!(
        p.reason.as_deref(),
        Some("too many placement constraints: 11 (ECS allows at most 10)")
    );
}

#[test]
fn parsing_constraints_and_strategies() {
    assert_eq!(
        Constraint::parse("memberOf:attribute:stack == prod"),
        Ok(Constraint::MemberOf(
            parse("attribute:stack == prod").unwrap_or_else(|e| panic!("{e}"))
        ))
    );
    assert_eq!(
        Constraint::parse("distinctinstance"),
        Ok(Constraint::DistinctInstance)
    );
    assert!(matches!(
        Constraint::parse("memberOf:attribute:stack =="),
        Err(PlacementError::MemberOf(_))
    ));
    assert!(matches!(
        Constraint::parse("sameHost"),
        Err(PlacementError::UnknownConstraint(_))
    ));
    assert_eq!(
        Strategy::parse("binpack:memory", 0),
        Ok(Strategy::Binpack(Resource::Memory))
    );
    assert_eq!(
        Strategy::parse("binpack:cpu", 0),
        Ok(Strategy::Binpack(Resource::Cpu))
    );
    assert_eq!(
        Strategy::parse("spread:instanceId", 0),
        Ok(Strategy::Spread(SpreadField::InstanceId))
    );
    assert_eq!(
        Strategy::parse("spread:attribute:ecs.availability-zone", 0),
        Ok(Strategy::Spread(SpreadField::Attribute(
            "ecs.availability-zone".into()
        )))
    );
    assert_eq!(
        Strategy::parse("random", 42),
        Ok(Strategy::Random { seed: 42 })
    );
    for bad in [
        "binpack:disk",
        "spread:",
        "spread:attribute:",
        "roundrobin",
        "",
    ] {
        assert!(
            matches!(
                Strategy::parse(bad, 0),
                Err(PlacementError::UnknownStrategy(_))
            ),
            "{bad}"
        );
    }
    // Display is parseable back.
    for s in [
        "binpack:cpu",
        "spread:instanceId",
        "spread:attribute:x",
        "random",
    ] {
        let st = Strategy::parse(s, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(st.to_string(), s);
    }
}

#[test]
fn zero_tasks() {
    let p = place(&[], &req(1, 1), 0, &[], &[]);
    assert_eq!(p.placed.len() + p.unplaced, 0);
    assert_eq!(p.reason, None);
}

#[test]
fn huge_count_fails_at_the_first_task_that_does_not_fit() {
    // Capacity for exactly 3 tasks of 90 MiB: one per 100 MiB host, three hosts.
    let hosts: Vec<Host> = (1..=3)
        .map(|i| Host::new(format!("i-{i}")).with_resources(1024, 100))
        .collect();
    let p = place(&hosts, &req(10, 90), usize::MAX, &[], &[]);
    assert_eq!(p.placed, ["i-1", "i-2", "i-3"]);
    assert_eq!(p.unplaced, usize::MAX - 3);
    assert_eq!(
        p.reason.as_deref(),
        Some(
            format!(
                "after placing 3 of {} tasks, no host has 90 MiB memory free; \
                 the largest free is 10 MiB on i-1",
                usize::MAX
            )
            .as_str()
        )
    );
    // A huge count over no hosts is a plain "no hosts", not an allocation failure.
    let p = place(&[], &req(10, 90), usize::MAX, &[], &[]);
    assert!(p.placed.is_empty());
    assert_eq!(p.unplaced, usize::MAX);
    assert_eq!(p.reason.as_deref(), Some("the cluster has no hosts"));
}

#[test]
fn a_request_that_always_fits_stops_at_the_task_limit() {
    // No CPU, memory or ports: every host fits every task, so only the limit ends the run.
    let hosts = five_small_hosts();
    let p = place(&hosts, &req(0, 0), usize::MAX, &[], &[]);
    assert_eq!(p.placed.len(), MAX_TASKS_PER_PLACEMENT);
    assert_eq!(p.unplaced, usize::MAX - MAX_TASKS_PER_PLACEMENT);
    let reason = p.reason.unwrap_or_default();
    assert!(reason.contains("stops at 10000 tasks per call"), "{reason}");
    // Exactly the limit is not cut short.
    let p = place(&hosts, &req(0, 0), MAX_TASKS_PER_PLACEMENT, &[], &[]);
    assert_eq!(p.placed.len(), MAX_TASKS_PER_PLACEMENT);
    assert_eq!(p.unplaced, 0);
    assert_eq!(p.reason, None);
}

#[test]
fn negative_requests_do_not_overflow() {
    let hosts = vec![Host::new("i-1").with_resources(i64::MAX, i64::MAX)];
    let p = place(&hosts, &req(i64::MIN, i64::MIN), 2, &[], &[]);
    assert_eq!(p.placed, ["i-1", "i-1"]);
}
