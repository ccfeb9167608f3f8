//! Every example expression of the ECS "Cluster query language" documentation (plus the
//! placement-constraint examples), evaluated over a small fixture fleet with the documented
//! meaning.

use ecs_cluster_query::{parse, Host};

/// Unix seconds of a UTC civil date-time (test-local, independent of the crate's date code).
fn ts(days_since_epoch: i64, secs: i64) -> i64 {
    days_since_epoch * 86_400 + secs
}

fn fleet() -> Vec<Host> {
    let base = |id: &str, ty: &str, az: &str, os: &str, arch: &str| {
        Host::new(id)
            .with_attribute("ecs.instance-type", ty)
            .with_attribute("ecs.availability-zone", az)
            .with_attribute("ecs.os-type", os)
            .with_attribute("ecs.cpu-architecture", arch)
    };
    let mut h1 = base("i-abcd1234", "t2.small", "us-east-1a", "linux", "x86_64")
        .with_attribute("stack", "prod")
        .with_task("service:production");
    h1.agent_version = Some("1.21.0".into());
    h1.registered_at = Some(ts(17_683, 0)); // 2018-06-01

    let mut h2 = base("i-wxyz5678", "t2.micro", "us-east-1b", "linux", "x86_64");
    h2.agent_version = Some("1.9.0".into());
    h2.agent_connected = Some(false);
    h2.registered_at = Some(ts(17_700, 80_908)); // 2018-06-18T22:28:28Z

    let mut h3 = base("i-0g2", "g2.2xlarge", "us-east-1d", "linux", "x86_64")
        .with_flag_attribute("stack")
        .with_task("database")
        .with_task("service:web");
    h3.agent_version = Some("1.10.0".into());
    h3.registered_at = Some(ts(17_897, 0)); // 2019-01-01

    let mut h4 = base("i-0t3", "t3.large", "us-east-1d", "windows", "x86_64")
        .with_attribute("stack", "dev")
        .with_task("family:nginx");
    h4.agent_version = Some("1.21.0".into());
    h4.registered_at = Some(ts(17_167, 0)); // 2017-01-01

    let mut h5 = base("i-0arm", "t4g.medium", "us-east-1c", "linux", "arm64")
        .with_task("service:production");
    h5.agent_version = Some("1.21.0".into());
    h5.registered_at = Some(ts(18_321, 0)); // 2020-02-29
    vec![h1, h2, h3, h4, h5]
}

fn select(expr: &str) -> Vec<String> {
    let e = match parse(expr) {
        Ok(e) => e,
        Err(err) => panic!("{expr}: {err}"),
    };
    // The canonical form must select the same hosts.
    let again = match parse(&e.to_string()) {
        Ok(e) => e,
        Err(err) => panic!("canonical form of {expr} ({e}): {err}"),
    };
    assert_eq!(e, again, "{expr}");
    fleet()
        .iter()
        .filter(|h| e.evaluate(*h))
        .map(|h| h.id.clone())
        .collect()
}

fn check(expr: &str, expected: &[&str]) {
    assert_eq!(select(expr), expected, "{expr}");
}

const ALL: [&str; 5] = ["i-abcd1234", "i-wxyz5678", "i-0g2", "i-0t3", "i-0arm"];

#[test]
fn instance_type_equals() {
    check("attribute:ecs.instance-type == t2.small", &["i-abcd1234"]);
}

#[test]
fn availability_zone_in_list() {
    check(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        &["i-abcd1234", "i-wxyz5678"],
    );
}

#[test]
fn instance_type_matches_g2() {
    check("attribute:ecs.instance-type =~ g2.*", &["i-0g2"]);
}

#[test]
fn t2_family_not_in_us_east_1d() {
    check(
        "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d",
        &["i-abcd1234", "i-wxyz5678"],
    );
}

#[test]
fn g2_or_t2_micro() {
    check(
        "attribute:ecs.instance-type =~ g2.* or attribute:ecs.instance-type == t2.micro",
        &["i-wxyz5678", "i-0g2"],
    );
    check(
        "attribute:ecs.instance-type =~ g2.* || attribute:ecs.instance-type == t2.micro",
        &["i-wxyz5678", "i-0g2"],
    );
}

#[test]
fn ec2_instance_id_in_quoted_list() {
    check(
        "ec2InstanceId in ['i-abcd1234', 'i-wxyz5678']",
        &["i-abcd1234", "i-wxyz5678"],
    );
}

#[test]
fn registered_before_date() {
    check("registeredAt < 2018-06-18", &["i-abcd1234", "i-0t3"]);
}

#[test]
fn registered_at_or_after_timestamp() {
    check(
        "registeredAt >= 2018-06-18T22:28:28Z",
        &["i-wxyz5678", "i-0g2", "i-0arm"],
    );
    // The other documented formats.
    check(
        "registeredAt >= 2018-06-18T22:28:28+00:00",
        &["i-wxyz5678", "i-0g2", "i-0arm"],
    );
    check(
        "registeredAt >= 2018-06-18T22:28:28",
        &["i-wxyz5678", "i-0g2", "i-0arm"],
    );
    check("registeredAt > 2018-06-18T22:28:28Z", &["i-0g2", "i-0arm"]);
}

#[test]
fn running_tasks_count() {
    check("runningTasksCount == 1", &["i-abcd1234", "i-0t3", "i-0arm"]);
    check("runningTasksCount > 1", &["i-0g2"]);
    check("runningTasksCount == 0", &["i-wxyz5678"]);
}

#[test]
fn agent_version() {
    check("agentVersion < 1.10.0", &["i-wxyz5678"]);
    check(
        "agentVersion >= 1.10.0",
        &["i-abcd1234", "i-0g2", "i-0t3", "i-0arm"],
    );
    check("agentVersion != 1.21.0", &["i-wxyz5678", "i-0g2"]);
}

#[test]
fn agent_connected() {
    check(
        "agentConnected == true",
        &["i-abcd1234", "i-0g2", "i-0t3", "i-0arm"],
    );
    check("agentConnected == false", &["i-wxyz5678"]);
    check("agentConnected != true", &["i-wxyz5678"]);
}

#[test]
fn attribute_exists_and_not_exists() {
    check("attribute:stack exists", &["i-abcd1234", "i-0g2", "i-0t3"]);
    check("attribute:stack not_exists", &["i-wxyz5678", "i-0arm"]);
    check("attribute:stack !exists", &["i-wxyz5678", "i-0arm"]);
}

#[test]
fn task_group() {
    check(
        "task:group == service:production",
        &["i-abcd1234", "i-0arm"],
    );
    check(
        "not(task:group == database)",
        &["i-abcd1234", "i-wxyz5678", "i-0t3", "i-0arm"],
    );
    check(
        "task:group != database",
        &["i-abcd1234", "i-wxyz5678", "i-0t3", "i-0arm"],
    );
}

#[test]
fn os_type_and_architecture() {
    check(
        "attribute:ecs.os-type == linux",
        &["i-abcd1234", "i-wxyz5678", "i-0g2", "i-0arm"],
    );
    check("attribute:ecs.cpu-architecture == arm64", &["i-0arm"]);
}

#[test]
fn t3_family() {
    check("attribute:ecs.instance-type =~ t3.*", &["i-0t3"]);
}

#[test]
fn regex_is_a_full_match() {
    check("attribute:ecs.instance-type =~ t2", &[]);
    check(
        "attribute:ecs.instance-type =~ 't2\\..*'",
        &["i-abcd1234", "i-wxyz5678"],
    );
    check(
        "attribute:ecs.instance-type !~ t2.*",
        &["i-0g2", "i-0t3", "i-0arm"],
    );
}

#[test]
fn missing_attribute_satisfies_negations() {
    check(
        "attribute:stack != prod",
        &["i-wxyz5678", "i-0g2", "i-0t3", "i-0arm"],
    );
    check(
        "attribute:stack not_in [prod, dev]",
        &["i-wxyz5678", "i-0g2", "i-0arm"],
    );
    check(
        "attribute:stack !~ 'p.*'",
        &["i-wxyz5678", "i-0g2", "i-0t3", "i-0arm"],
    );
    check("attribute:stack == prod", &["i-abcd1234"]);
    check("attribute:nothing != x", &ALL);
    check("attribute:nothing > 0", &[]);
    check("attribute:nothing <= 0", &[]);
}

#[test]
fn compound_with_parentheses() {
    check(
        "(attribute:ecs.availability-zone == us-east-1d or attribute:ecs.availability-zone == us-east-1c) and attribute:ecs.os-type == linux",
        &["i-0g2", "i-0arm"],
    );
    check(
        "attribute:ecs.availability-zone == us-east-1d or attribute:ecs.availability-zone == us-east-1c and attribute:ecs.os-type == linux",
        &["i-0g2", "i-0t3", "i-0arm"],
    );
}
