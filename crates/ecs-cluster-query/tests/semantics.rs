//! The documented decisions: precedence, case, canonical printing, comparisons.

use ecs_cluster_query::{parse, Expression, Host, HostView, Operator, Predicate, Subject};

fn p(s: &str) -> Expression {
    match parse(s) {
        Ok(e) => e,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn eval(s: &str, h: &Host) -> bool {
    p(s).evaluate(h)
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        p("attribute:a exists or attribute:b exists and attribute:c exists"),
        p("attribute:a exists or (attribute:b exists and attribute:c exists)")
    );
    assert_ne!(
        p("attribute:a exists or attribute:b exists and attribute:c exists"),
        p("(attribute:a exists or attribute:b exists) and attribute:c exists")
    );
    // Host with only `a`: true under conventional precedence, false under left-to-right.
    let h = Host::new("h").with_attribute("a", "1");
    assert!(eval(
        "attribute:a exists or attribute:b exists and attribute:c exists",
        &h
    ));
    assert!(eval(
        "attribute:b exists and attribute:c exists or attribute:a exists",
        &h
    ));
}

#[test]
fn not_applies_to_next_primary() {
    assert_eq!(
        p("not attribute:a exists and attribute:b exists"),
        p("(not attribute:a exists) and attribute:b exists")
    );
    assert_eq!(
        p("!(attribute:a exists and attribute:b exists)"),
        p("not (attribute:a exists and attribute:b exists)")
    );
    assert_eq!(p("not not attribute:a exists"), p("!!attribute:a exists"));
    let h = Host::new("h");
    assert!(!eval("not attribute:a exists and attribute:b exists", &h));
    assert!(eval("not (attribute:a exists and attribute:b exists)", &h));
}

#[test]
fn symbol_and_word_forms_are_equal() {
    let pairs = [
        ("attribute:a == x", "attribute:a equals x"),
        ("attribute:a != x", "attribute:a not_equals x"),
        ("attribute:a > x", "attribute:a greater_than x"),
        ("attribute:a >= x", "attribute:a greater_than_equal x"),
        ("attribute:a < x", "attribute:a less_than x"),
        ("attribute:a <= x", "attribute:a less_than_equal x"),
        ("attribute:a !exists", "attribute:a not_exists"),
        ("attribute:a !in [x]", "attribute:a not_in [x]"),
        ("attribute:a =~ x", "attribute:a matches x"),
        ("attribute:a !~ x", "attribute:a not_matches x"),
        (
            "attribute:a exists && attribute:b exists",
            "attribute:a exists and attribute:b exists",
        ),
        (
            "attribute:a exists || attribute:b exists",
            "attribute:a exists or attribute:b exists",
        ),
        ("!attribute:a exists", "not attribute:a exists"),
    ];
    for (a, b) in pairs {
        assert_eq!(p(a), p(b), "{a} vs {b}");
    }
}

#[test]
fn keywords_case_insensitive_subjects_and_values_case_sensitive() {
    assert_eq!(
        p("attribute:a EQUALS x AND NOT attribute:b Exists OR attribute:c NOT_IN [y]"),
        p("attribute:a == x and not attribute:b exists or attribute:c !in [y]")
    );
    // `true`/`false` ignore case (the AST keeps the text as written).
    let h = Host::new("h");
    assert!(eval("agentConnected == TRUE", &h));
    assert!(!eval("agentConnected == False", &h));
    assert!(parse("AgentConnected == true").is_err());
    let h = Host::new("h").with_attribute("Stack", "Prod");
    assert!(eval("attribute:Stack == Prod", &h));
    assert!(!eval("attribute:Stack == prod", &h));
    assert!(!eval("attribute:stack exists", &h));
}

#[test]
fn compact_spacing() {
    assert_eq!(
        p("attribute:a==x&&attribute:b!=y||!(attribute:c=~'z.*')"),
        p("attribute:a == x and attribute:b != y or not (attribute:c =~ 'z.*')")
    );
    assert_eq!(p("attribute:a in[x,y]"), p("attribute:a in [ x , y ]"));
}

#[test]
fn canonical_display() {
    let cases = [
        ("attribute:a equals x", "attribute:a == x"),
        (
            "attribute:a exists or attribute:b exists and attribute:c exists",
            "attribute:a exists or attribute:b exists and attribute:c exists",
        ),
        (
            "(attribute:a exists or attribute:b exists) and attribute:c exists",
            "(attribute:a exists or attribute:b exists) and attribute:c exists",
        ),
        (
            "attribute:a exists and (attribute:b exists and attribute:c exists)",
            "attribute:a exists and (attribute:b exists and attribute:c exists)",
        ),
        ("not(task:group == database)", "not task:group == database"),
        (
            "ec2InstanceId in ['i-1', \"i-2\"]",
            "ec2InstanceId in [i-1, i-2]",
        ),
        ("attribute:a == 'two words'", "attribute:a == 'two words'"),
        ("attribute:a == 'it''s'", ""),
        (
            "attribute:a == 'it\\'s \\\\ \\d'",
            "attribute:a == 'it\\'s \\\\ \\\\d'",
        ),
        ("attribute:a == ''", "attribute:a == ''"),
        ("attribute:a == and", "attribute:a == and"),
        ("attribute:a not_exists", "attribute:a !exists"),
    ];
    for (input, canonical) in cases {
        match parse(input) {
            Ok(e) => {
                assert_eq!(e.to_string(), canonical, "{input}");
                assert_eq!(p(canonical), e);
            }
            Err(_) => assert_eq!(canonical, "", "{input} should parse"),
        }
    }
}

#[test]
fn quoted_escapes() {
    let e = p("attribute:a == 'it\\'s'");
    let Expression::Predicate(pr) = &e else {
        panic!("not a predicate")
    };
    assert_eq!(pr.arguments()[0].text(), "it's");
    // Unknown escapes keep the backslash (regexes stay readable).
    let e = p("attribute:a =~ 't2\\.(micro|small)'");
    assert!(e.evaluate(&Host::new("h").with_attribute("a", "t2.micro")));
    assert!(!e.evaluate(&Host::new("h").with_attribute("a", "t2xmicro")));
}

#[test]
fn attribute_ordering_numeric_or_lexicographic() {
    let h = |v: &str| Host::new("h").with_attribute("n", v);
    assert!(eval("attribute:n > 9", &h("10"))); // numeric
    assert!(eval("attribute:n < 10.5", &h("9")));
    assert!(eval("attribute:n >= -1", &h("0")));
    assert!(!eval("attribute:n > 9", &h("10a"))); // lexicographic: "10a" < "9"
    assert!(eval("attribute:n > a", &h("b")));
    assert!(eval("attribute:n <= b", &h("b")));
    // == stays string equality.
    assert!(!eval("attribute:n == 1", &h("1.0")));
}

#[test]
fn value_less_attribute() {
    // Present for `exists`; for every value operator, positive or negated, it has no value
    // and so satisfies none of them.
    let h = Host::new("h").with_flag_attribute("gpu");
    assert!(eval("attribute:gpu exists", &h));
    assert!(!eval("attribute:gpu not_exists", &h));
    assert!(!eval("attribute:gpu == ''", &h));
    assert!(!eval("attribute:gpu != x", &h));
    assert!(!eval("attribute:gpu not_in [x]", &h));
    assert!(!eval("attribute:gpu =~ '.*'", &h));
    assert!(!eval("attribute:gpu !~ 'x'", &h));
    // The explicit negation is still the plain negation.
    assert!(eval("not attribute:gpu == x", &h));
}

#[test]
fn negated_operators_need_a_value() {
    let without = Host::new("without");
    let prod = Host::new("prod").with_attribute("stack", "prod");
    let dev = Host::new("dev").with_attribute("stack", "dev");
    for (expr, on_without, on_prod, on_dev) in [
        ("attribute:stack != prod", false, false, true),
        ("attribute:stack not_equals prod", false, false, true),
        ("attribute:stack !in [prod, qa]", false, false, true),
        ("attribute:stack not_in [prod]", false, false, true),
        ("attribute:stack !~ 'p.*'", false, false, true),
        ("attribute:stack not_matches 'p.*'", false, false, true),
        // `not` of the positive operator is the plain negation, so it differs on `without`.
        ("not attribute:stack == prod", true, false, true),
        ("not attribute:stack in [prod, qa]", true, false, true),
        ("not attribute:stack =~ 'p.*'", true, false, true),
        ("attribute:stack !exists", true, false, false),
    ] {
        assert_eq!(
            eval(expr, &without),
            on_without,
            "{expr} on a host without stack"
        );
        assert_eq!(eval(expr, &prod), on_prod, "{expr} on stack=prod");
        assert_eq!(eval(expr, &dev), on_dev, "{expr} on stack=dev");
    }
    // Among hosts that have a value, `!=` is exactly `not ==`.
    for h in [&prod, &dev] {
        assert_eq!(
            eval("attribute:stack != prod", h),
            eval("not attribute:stack == prod", h)
        );
    }
}

#[test]
fn unknown_fields_satisfy_no_comparison() {
    // A view that does not know a field (all `None`) matches neither `==` nor `!=` on it.
    let mut h = Host::new("h");
    h.ec2_instance_id = None;
    h.agent_connected = None;
    h.running_tasks_count = None;
    for expr in [
        "ec2InstanceId == i-1",
        "ec2InstanceId != i-1",
        "ec2InstanceId !~ 'x.*'",
        "agentConnected == true",
        "agentConnected != true",
        "agentConnected not_in [false]",
        "agentVersion != 1.0.0",
        "registeredAt != 2018-01-01",
        "runningTasksCount != 0",
    ] {
        assert!(!eval(expr, &h), "{expr}");
        assert!(eval(&format!("not ({expr})"), &h), "not ({expr})");
    }
}

#[test]
fn agent_version_as_dotted_numbers() {
    let mut h = Host::new("h");
    h.agent_version = Some("1.10.0".into());
    assert!(eval("agentVersion > 1.9.0", &h));
    assert!(eval("agentVersion == 1.10", &h));
    assert!(eval("agentVersion <= 1.10.0", &h));
    h.agent_version = Some("dev-build".into());
    assert!(!eval("agentVersion > 1.0.0", &h));
    assert!(!eval("agentVersion == 1.0.0", &h));
    assert!(eval("agentVersion != 1.0.0", &h));
    h.agent_version = None;
    assert!(!eval("agentVersion < 9", &h));
    assert!(!eval("agentVersion != 9", &h));
}

#[test]
fn registered_at_formats() {
    let mut h = Host::new("h");
    h.registered_at = Some(1_529_280_000); // 2018-06-18T00:00:00Z
    assert!(eval("registeredAt == 2018-06-18", &h));
    assert!(eval("registeredAt == 2018-06-18T00:00:00Z", &h));
    assert!(eval("registeredAt == 2018-06-18T02:00:00+02:00", &h));
    assert!(eval("registeredAt < 2018-06-18T00:00:01", &h));
    assert!(!eval("registeredAt > 2018-06-18", &h));
}

#[test]
fn running_tasks_count_is_numeric() {
    let h = Host::new("h").with_task("a").with_task("b").with_task("c");
    assert!(eval("runningTasksCount > 2", &h));
    assert!(eval("runningTasksCount >= 3", &h));
    assert!(!eval(
        "runningTasksCount < 10 and runningTasksCount > 3",
        &h
    ));
    assert!(eval("runningTasksCount == 03", &h));
}

#[test]
fn task_group_semantics() {
    let empty = Host::new("empty");
    let web = Host::new("web")
        .with_task("service:web")
        .with_task("family:nginx");
    // A set: the negated forms mean "no task has it", so a host without tasks satisfies them.
    assert!(eval("task:group != service:web", &empty));
    assert!(eval("task:group not_in [service:web]", &empty));
    assert!(eval("task:group !~ '.*'", &empty));
    assert!(!eval("task:group == service:web", &empty));
    assert!(!eval("task:group =~ '.*'", &empty));
    assert!(eval("task:group == service:web", &web));
    assert!(eval("task:group in [service:db, family:nginx]", &web));
    assert!(!eval("task:group not_in [service:db, family:nginx]", &web));
    assert!(eval("task:group =~ 'service:.*'", &web));
    assert!(!eval("task:group !~ 'family:.*'", &web));
}

#[test]
fn references_task_group() {
    assert!(p("attribute:a exists or not task:group == x").references_task_group());
    assert!(!p("attribute:a exists or runningTasksCount > 1").references_task_group());
    assert!(p("runningTasksCount > 1").depends_on_tasks());
}

/// A view that only implements the required methods (default `any_task_group`).
struct MinimalView;

impl HostView for MinimalView {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        (name == "zone").then_some(Some("a"))
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        None
    }
    fn agent_connected(&self) -> Option<bool> {
        None
    }
    fn agent_version(&self) -> Option<&str> {
        None
    }
    fn registered_at(&self) -> Option<i64> {
        None
    }
    fn running_tasks_count(&self) -> Option<i64> {
        None
    }
    fn task_groups(&self) -> Vec<&str> {
        vec!["service:x"]
    }
}

#[test]
fn custom_host_view() {
    let v = MinimalView;
    assert!(p("attribute:zone == a and task:group == service:x").evaluate(&v));
    // The view knows neither field: no comparison on them holds, negated or not.
    assert!(!p("ec2InstanceId != i-1 or agentConnected != true").evaluate(&v));
    assert!(!p("ec2InstanceId == i-1 or agentConnected == false").evaluate(&v));
}

#[test]
fn predicate_builder() {
    let pr = Predicate::new(Subject::RunningTasksCount, Operator::Gt, vec!["2".into()]);
    assert!(pr.is_ok());
    let bad = Predicate::new(Subject::AgentConnected, Operator::Lt, vec!["true".into()]);
    assert!(bad.is_err());
    let bad = Predicate::new(Subject::TaskGroup, Operator::Eq, vec![]);
    assert!(bad.is_err());
    let bad = Predicate::new(
        Subject::Attribute("a".into()),
        Operator::Exists,
        vec!["x".into()],
    );
    assert!(bad.is_err());
    let bad = Predicate::new(Subject::TaskGroup, Operator::Exists, vec![]);
    assert_eq!(
        bad.map_err(|e| e.to_string()),
        Err(
            "column 0: operator exists is not valid for subject task:group; \
             valid: ==, !=, in, !in, =~, !~"
                .to_string()
        )
    );
}

/// The README's "Regex differences from Java", as this crate behaves.
#[test]
fn documented_regex_differences() {
    let h = |v: &str| Host::new("h").with_attribute("a", v);
    // `.` excludes only `\n` (Java's also excludes `\r`, U+0085, U+2028, U+2029).
    assert!(!eval("attribute:a =~ 't2.*'", &h("t2\nx")));
    for terminator in ["\r", "\u{85}", "\u{2028}", "\u{2029}"] {
        assert!(
            eval("attribute:a =~ 't2.*'", &h(&format!("t2{terminator}x"))),
            "{terminator:?}"
        );
    }
    // `(?i)` is Unicode-aware (ASCII-only in Java by default).
    assert!(eval("attribute:a =~ '(?i)é'", &h("É")));
    // Java's `\h`, `\R`, `\X` are not supported: parse errors, not silent mismatches.
    for class in ["\\h", "\\R", "\\X"] {
        let expr = format!("attribute:a =~ 'x{class}'");
        assert!(parse(&expr).is_err(), "{expr}");
    }
}
