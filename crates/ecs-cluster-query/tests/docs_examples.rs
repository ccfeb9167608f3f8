//! Every example expression of the AWS documentation, **verbatim**, evaluated over a fixture
//! fleet with the result the docs describe.
//!
//! Sources (Amazon ECS Developer Guide; the page texts are in awsdocs/amazon-ecs-developer-guide,
//! `doc_source/cluster-query-language.md` and `doc_source/task-placement-constraints.md`):
//!
//! - "Create expressions to define container instances for Amazon ECS tasks"
//!   (`cluster-query-language`), section "Example expressions": 9 expressions. The syntax
//!   sample `(expression1 or expression2) and expression3` is a template, not an expression.
//! - The placement-constraints pages: "Example Amazon ECS task placement constraints"
//!   (`constraint-examples`, formerly the "Example constraints" section of
//!   `task-placement-constraints`): 3 `memberOf` expressions and `distinctInstance`; and the
//!   `aws ecs list-container-instances --filter` examples of `task-placement-constraints`
//!   ("Filtering by attribute"): 5 expressions.
//!
//! Each expression is also a seed of the fuzz corpus (`fuzz/corpus/parse/doc-NN`), checked below.

use ecs_cluster_query::placement::{parse_constraints, parse_strategies, place, TaskRequest};
use ecs_cluster_query::{parse, Host};

/// `(id, instance type, zone, os, stack attribute, task groups, agent version, registeredAt)`;
/// `stack`: `None` = absent, `Some("")` = present without a value.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static str,
    i64,
);

/// Eight hosts chosen so that every documented example selects a different, non-trivial set,
/// with near misses next to each boundary (agent 1.14.5 itself and 1.14.10, which is smaller as
/// text; a host registered one second before and one exactly at 2018-02-13; a `databases` host
/// next to a `database` host; `i-wxyz5678` next to the docs' `i-wxyx7890`; a g2 host in
/// us-east-1d; `stack` with value `prod`, other values, no value, and absent).
const FLEET: [Row; 8] = [
    (
        "i-abcd1234",
        "t2.small",
        "us-east-1a",
        "linux",
        Some("prod"),
        &["service:production"],
        "1.14.4",
        1_518_479_999, // 2018-02-12T23:59:59Z
    ),
    (
        "i-wxyx7890",
        "t2.micro",
        "us-east-1b",
        "linux",
        None,
        &["databases"],
        "1.9.0",
        1_496_275_200, // 2017-06-01
    ),
    (
        "i-wxyz5678", // agent disconnected (set in `fleet`)
        "t2.medium",
        "us-east-1a",
        "linux",
        Some("dev"),
        &[],
        "1.14.5",
        1_518_480_000, // 2018-02-13T00:00:00Z
    ),
    (
        "i-0g2a",
        "g2.2xlarge",
        "us-east-1a",
        "linux",
        Some("staging"),
        &["service:daemon-service", "databases"],
        "1.14.10",
        1_529_360_908, // 2018-06-18T22:28:28Z
    ),
    (
        "i-0g2d",
        "g2.2xlarge",
        "us-east-1d",
        "linux",
        Some(""),
        &["database"],
        "1.21.0",
        1_546_300_800, // 2019-01-01
    ),
    (
        "i-0g2b",
        "g2.8xlarge",
        "us-east-1b",
        "linux",
        None,
        &[
            "service:production",
            "service:daemon-service",
            "family:nginx",
        ],
        "1.2.0",
        1_582_934_400, // 2020-02-29
    ),
    (
        "i-0t3",
        "t3.large",
        "us-east-1d",
        "windows",
        Some("prod"),
        &["service:daemon-service", "family:nginx"],
        "1.21.0",
        1_483_228_800, // 2017-01-01
    ),
    (
        "i-0t2c",
        "t2.small",
        "us-east-1c",
        "linux",
        None,
        &[],
        "1.21.0",
        1_546_300_800, // 2019-01-01
    ),
];

fn fleet() -> Vec<Host> {
    FLEET
        .iter()
        .map(|&(id, ty, az, os, stack, groups, version, registered)| {
            let mut h = Host::new(id)
                .with_attribute("ecs.instance-type", ty)
                .with_attribute("ecs.availability-zone", az)
                .with_attribute("ecs.os-type", os)
                .with_attribute("ecs.cpu-architecture", "x86_64")
                .with_resources(4096, 8192);
            h = match stack {
                None => h,
                Some("") => h.with_flag_attribute("stack"),
                Some(v) => h.with_attribute("stack", v),
            };
            for g in groups {
                h = h.with_task(*g);
            }
            h.agent_version = Some(version.to_string());
            h.registered_at = Some(registered);
            h.agent_connected = Some(id != "i-wxyz5678");
            h
        })
        .collect()
}

fn select(expr: &str) -> Result<Vec<String>, String> {
    let e = parse(expr).map_err(|err| format!("{expr}: {err}"))?;
    // The canonical form must be the same expression (and so select the same hosts).
    let again = parse(&e.to_string()).map_err(|err| format!("canonical {e}: {err}"))?;
    if again != e {
        return Err(format!("{expr}: canonical form {e} parses differently"));
    }
    Ok(fleet()
        .iter()
        .filter(|h| e.evaluate(*h))
        .map(|h| h.id.clone())
        .collect())
}

fn check(expr: &str, expected: &[&str]) {
    match select(expr) {
        Ok(got) => assert_eq!(got, expected, "{expr}"),
        Err(e) => panic!("{e}"),
    }
}

/// One documented example: where it is, what the docs say it selects, the expression exactly
/// as printed, and the hosts of [`FLEET`] it selects.
struct DocExample {
    page: &'static str,
    docs_say: &'static str,
    expression: &'static str,
    selects: &'static [&'static str],
}

const CQL: &str = "cluster-query-language, Example expressions";
const FILTER: &str = "task-placement-constraints, Filtering by attribute (--filter)";
const CONSTRAINTS: &str = "constraint-examples (memberOf)";

const DOC_EXAMPLES: [DocExample; 17] = [
    DocExample {
        page: CQL,
        docs_say: "String Equality: instances with the specified instance type",
        expression: "attribute:ecs.instance-type == t2.small",
        selects: &["i-abcd1234", "i-0t2c"],
    },
    DocExample {
        page: CQL,
        docs_say: "Argument List: instances in the us-east-1a or us-east-1b Availability Zone",
        expression: "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        selects: &["i-abcd1234", "i-wxyx7890", "i-wxyz5678", "i-0g2a", "i-0g2b"],
    },
    DocExample {
        page: CQL,
        docs_say:
            "Compound Expression: G2 instances that are not in the us-east-1d Availability Zone",
        expression:
            "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        selects: &["i-0g2a", "i-0g2b"],
    },
    DocExample {
        page: CQL,
        docs_say: "Task Affinity: instances hosting tasks in the service:production group",
        expression: "task:group == service:production",
        selects: &["i-abcd1234", "i-0g2b"],
    },
    DocExample {
        page: CQL,
        docs_say: "Task Anti-Affinity: instances not hosting tasks in the database group",
        expression: "not(task:group == database)",
        selects: &[
            "i-abcd1234",
            "i-wxyx7890",
            "i-wxyz5678",
            "i-0g2a",
            "i-0g2b",
            "i-0t3",
            "i-0t2c",
        ],
    },
    DocExample {
        page: CQL,
        docs_say: "Running task count: instances that are only running one task",
        expression: "runningTasksCount == 1",
        selects: &["i-abcd1234", "i-wxyx7890", "i-0g2d"],
    },
    DocExample {
        page: CQL,
        docs_say: "Agent version: instances running a container agent version below 1.14.5",
        expression: "agentVersion < 1.14.5",
        // 1.14.4, 1.9.0 and 1.2.0; not 1.14.5 itself, nor 1.14.10 (smaller only as text).
        selects: &["i-abcd1234", "i-wxyx7890", "i-0g2b"],
    },
    DocExample {
        page: CQL,
        docs_say: "Instance registration time: instances registered before February 13, 2018",
        expression: "registeredAt < 2018-02-13",
        // One second before midnight UTC is before; exactly midnight is not.
        selects: &["i-abcd1234", "i-wxyx7890", "i-0t3"],
    },
    DocExample {
        page: CQL,
        docs_say: "Amazon EC2 instance ID: instances with the following EC2 instance IDs",
        expression: "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        selects: &["i-abcd1234", "i-wxyx7890"],
    },
    DocExample {
        page: FILTER,
        docs_say: "Built-in attribute: the g2.2xlarge instances",
        expression: "attribute:ecs.instance-type == g2.2xlarge",
        selects: &["i-0g2a", "i-0g2d"],
    },
    DocExample {
        page: FILTER,
        docs_say: "Custom attribute: the instances with the custom attribute stack=prod",
        expression: "attribute:stack == prod",
        selects: &["i-abcd1234", "i-0t3"],
    },
    DocExample {
        page: FILTER,
        docs_say: "Exclude an attribute value: the instances with the custom attribute stack \
                   unless the attribute value is prod",
        expression: "attribute:stack != prod",
        // `dev` and `staging`; not `prod`, not the hosts without `stack`, not the host whose
        // `stack` has no value (see `missing_attribute_under_negated_operators`).
        selects: &["i-wxyz5678", "i-0g2a"],
    },
    DocExample {
        page: FILTER,
        docs_say: "Multiple attribute values: the instances of type t2.small or t2.medium",
        expression: "attribute:ecs.instance-type in [t2.small, t2.medium]",
        selects: &["i-abcd1234", "i-wxyz5678", "i-0t2c"],
    },
    DocExample {
        page: FILTER,
        docs_say: "Multiple attributes: the T2 instances in the us-east-1a Availability Zone",
        expression:
            "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
        selects: &["i-abcd1234", "i-wxyz5678"],
    },
    DocExample {
        page: CONSTRAINTS,
        docs_say: "place tasks on t2 instances",
        expression: "attribute:ecs.instance-type =~ t2.*",
        selects: &["i-abcd1234", "i-wxyx7890", "i-wxyz5678", "i-0t2c"],
    },
    DocExample {
        page: CONSTRAINTS,
        docs_say: "place replica tasks on instances with tasks in the daemon service \
                   daemon-service task group",
        expression: "task:group == service:daemon-service",
        selects: &["i-0g2a", "i-0g2b", "i-0t3"],
    },
    DocExample {
        page: CONSTRAINTS,
        docs_say: "place tasks on instances with other tasks in the databases task group",
        expression: "task:group == databases",
        selects: &["i-wxyx7890", "i-0g2a"],
    },
];

#[test]
fn every_documented_example_selects_the_documented_hosts() {
    let mut failures = Vec::new();
    for ex in &DOC_EXAMPLES {
        match select(ex.expression) {
            Ok(got) if got == ex.selects => {}
            Ok(got) => failures.push(format!(
                "[{}] {} ({}): selected {got:?}, expected {:?}",
                ex.page, ex.expression, ex.docs_say, ex.selects
            )),
            Err(e) => failures.push(format!("[{}] {e}", ex.page)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn documented_examples_select_distinct_non_trivial_sets() {
    // A fixture where two examples select the same hosts could not tell them apart, and one
    // where an example selects nothing or everything would not test it.
    let all = fleet().len();
    for (i, a) in DOC_EXAMPLES.iter().enumerate() {
        assert!(
            !a.selects.is_empty() && a.selects.len() < all,
            "{}",
            a.expression
        );
        for b in DOC_EXAMPLES.iter().skip(i + 1) {
            assert_ne!(a.selects, b.selects, "{} vs {}", a.expression, b.expression);
        }
    }
}

#[test]
fn documented_examples_are_the_fuzz_seeds() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/parse");
    for (i, ex) in DOC_EXAMPLES.iter().enumerate() {
        let path = format!("{dir}/doc-{:02}", i + 1);
        match std::fs::read_to_string(&path) {
            Ok(seed) => assert_eq!(seed, ex.expression, "{path}"),
            Err(e) => panic!("{path}: {e}"),
        }
    }
}

fn request(group: Option<&str>) -> TaskRequest {
    TaskRequest {
        cpu: 256,
        memory: 512,
        ports: Vec::new(),
        group: group.map(str::to_string),
    }
}

/// Places `count` tasks with one documented constraint (as `memberOf:EXPR` or
/// `distinctInstance`), spreading over instances so that every eligible host is visited.
fn place_with(
    constraint: &str,
    group: Option<&str>,
    count: usize,
) -> (Vec<String>, Option<String>) {
    let constraints = match parse_constraints(&[constraint]) {
        Ok(c) => c,
        Err(e) => panic!("{constraint}: {e}"),
    };
    let strategies = match parse_strategies(&["spread:instanceId"], 0) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let p = place(&fleet(), &request(group), count, &constraints, &strategies);
    (p.placed, p.reason)
}

#[test]
fn member_of_t2_places_only_on_connected_t2_hosts() {
    // i-wxyz5678 is a t2 but its agent is disconnected: ECS places nothing there.
    let (placed, reason) = place_with("memberOf:attribute:ecs.instance-type =~ t2.*", None, 4);
    assert_eq!(placed, ["i-abcd1234", "i-wxyx7890", "i-0t2c", "i-abcd1234"]);
    assert_eq!(reason, None);
}

#[test]
fn member_of_daemon_service_group() {
    let (placed, reason) = place_with(
        "memberOf:task:group == service:daemon-service",
        Some("service:replica"),
        3,
    );
    assert_eq!(placed, ["i-0g2a", "i-0g2b", "i-0t3"]);
    assert_eq!(reason, None);
}

#[test]
fn member_of_databases_group() {
    let (placed, reason) = place_with("memberOf:task:group == databases", Some("databases"), 2);
    assert_eq!(placed, ["i-wxyx7890", "i-0g2a"]);
    assert_eq!(reason, None);
}

#[test]
fn distinct_instance_uses_each_connected_host_once() {
    let (placed, reason) = place_with("distinctInstance", None, 8);
    assert_eq!(
        placed,
        [
            "i-abcd1234",
            "i-wxyx7890",
            "i-0g2a",
            "i-0g2d",
            "i-0g2b",
            "i-0t3",
            "i-0t2c"
        ]
    );
    assert_eq!(
        reason.as_deref(),
        Some(
            "after placing 7 of 8 tasks, 7 hosts fit the resources but none satisfies \
             distinctInstance"
        )
    );
}

// --- What the docs' wording decides (see the README's decision table). ---

#[test]
fn missing_attribute_under_negated_operators() {
    // "the instances with the custom attribute stack unless the attribute value is prod": a
    // host without `stack` is not listed, under any negated operator.
    check("attribute:stack != prod", &["i-wxyz5678", "i-0g2a"]);
    check("attribute:stack not_in [prod, dev]", &["i-0g2a"]);
    check("attribute:stack !~ 'p.*'", &["i-wxyz5678", "i-0g2a"]);
    check("attribute:nothing != x", &[]);
    check("attribute:nothing not_in [x]", &[]);
    check("attribute:nothing !~ x", &[]);
    check("attribute:nothing > 0", &[]);
    check("attribute:nothing <= 0", &[]);
    // An explicit `not` is the plain negation: it does include hosts without `stack`.
    check(
        "not (attribute:stack == prod)",
        &[
            "i-wxyx7890",
            "i-wxyz5678",
            "i-0g2a",
            "i-0g2d",
            "i-0g2b",
            "i-0t2c",
        ],
    );
    // Presence: the value-less `stack` exists.
    check(
        "attribute:stack exists",
        &["i-abcd1234", "i-wxyz5678", "i-0g2a", "i-0g2d", "i-0t3"],
    );
    check(
        "attribute:stack !exists",
        &["i-wxyx7890", "i-0g2b", "i-0t2c"],
    );
    check(
        "attribute:stack not_exists",
        &["i-wxyx7890", "i-0g2b", "i-0t2c"],
    );
}

// --- Beyond the examples: forms the docs describe without an example expression. ---

#[test]
fn documented_date_formats() {
    // "Valid date formats: 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z,
    // 2018-06-18T22:28:28, 2018-06-18".
    let at_or_after = ["i-0g2a", "i-0g2d", "i-0g2b", "i-0t2c"];
    check("registeredAt >= 2018-06-18T22:28:28+00:00", &at_or_after);
    check("registeredAt >= 2018-06-18T22:28:28Z", &at_or_after);
    check("registeredAt >= 2018-06-18T22:28:28", &at_or_after);
    check(
        "registeredAt > 2018-06-18T22:28:28Z",
        &["i-0g2d", "i-0g2b", "i-0t2c"],
    );
    check(
        "registeredAt < 2018-06-18",
        &["i-abcd1234", "i-wxyx7890", "i-wxyz5678", "i-0t3"],
    );
}

#[test]
fn agent_connected_finds_disconnected_agents() {
    // "You can use this filter to search for instances with container agents that are
    // disconnected."
    check("agentConnected == false", &["i-wxyz5678"]);
    check("agentConnected != true", &["i-wxyz5678"]);
    check("agentConnected in [false]", &["i-wxyz5678"]);
}

#[test]
fn running_tasks_count_finds_empty_instances() {
    // "You can use this filter to find instances that are empty or near empty".
    check("runningTasksCount == 0", &["i-wxyz5678", "i-0t2c"]);
    check(
        "runningTasksCount <= 1",
        &["i-abcd1234", "i-wxyx7890", "i-wxyz5678", "i-0g2d", "i-0t2c"],
    );
}

#[test]
fn regex_is_a_full_match() {
    check("attribute:ecs.instance-type =~ t2", &[]);
    check(
        "attribute:ecs.instance-type =~ 't2\\..*'",
        &["i-abcd1234", "i-wxyx7890", "i-wxyz5678", "i-0t2c"],
    );
    check(
        "attribute:ecs.instance-type !~ t2.*",
        &["i-0g2a", "i-0g2d", "i-0g2b", "i-0t3"],
    );
}

#[test]
fn parentheses_set_precedence() {
    // The docs' template `(expression1 or expression2) and expression3`.
    check(
        "(attribute:ecs.availability-zone == us-east-1d or attribute:ecs.availability-zone == us-east-1c) and attribute:ecs.os-type == linux",
        &["i-0g2d", "i-0t2c"],
    );
    check(
        "attribute:ecs.availability-zone == us-east-1d or attribute:ecs.availability-zone == us-east-1c and attribute:ecs.os-type == linux",
        &["i-0g2d", "i-0t3", "i-0t2c"],
    );
}
