//! Column-precise parse errors.

use ecs_cluster_query::{parse, ParseError, MAX_EXPRESSION_CHARS};

fn err(input: &str) -> ParseError {
    match parse(input) {
        Ok(e) => panic!("{input:?} parsed as {e}"),
        Err(e) => e,
    }
}

fn check(input: &str, column: usize, expected_contains: &str, found: &str) {
    let e = err(input);
    assert_eq!(e.column, column, "{input:?}: {e}");
    assert!(
        e.expected.contains(expected_contains),
        "{input:?}: expected {:?} to contain {expected_contains:?}",
        e.expected
    );
    assert_eq!(e.found, found, "{input:?}: {e}");
}

#[test]
fn display_format() {
    assert_eq!(
        err("attribute:stack foo bar").to_string(),
        "column 17: expected an operator (==, !=, in, exists, ...), found 'foo'"
    );
}

#[test]
fn missing_value_at_end() {
    check("attribute:stack ==", 19, "a value", "end of input");
    assert_eq!(
        err("attribute:stack ==").to_string(),
        "column 19: expected a value, found end of input"
    );
}

#[test]
fn unbalanced_parentheses() {
    check("(attribute:stack exists", 24, "')'", "end of input");
    check("attribute:stack exists)", 23, "end of input", "')'");
    check("((attribute:stack exists)", 26, "')'", "end of input");
    check("()", 2, "a subject", "')'");
}

#[test]
fn unknown_subject() {
    check("foo == bar", 1, "a subject", "'foo'");
    // Subjects are case-sensitive.
    check("agentconnected == true", 1, "a subject", "'agentconnected'");
    check(
        "Attribute:stack exists",
        1,
        "a subject",
        "'Attribute:stack'",
    );
    check("attribute: == x", 11, "an attribute name", "whitespace");
    check("", 1, "a subject", "end of input");
    check("   ", 4, "a subject", "end of input");
}

#[test]
fn too_long() {
    let ok = format!("attribute:a == {}", "x".repeat(MAX_EXPRESSION_CHARS - 15));
    assert_eq!(ok.chars().count(), 2000);
    assert!(parse(&ok).is_ok());
    let long = format!("attribute:a == {}", "x".repeat(MAX_EXPRESSION_CHARS - 14));
    let e = err(&long);
    assert_eq!(e.column, 2001);
    assert_eq!(
        e.to_string(),
        "column 2001: expected at most 2000 characters, found 2001 characters"
    );
    // Counted in characters, not bytes.
    let unicode = format!("attribute:a == '{}'", "é".repeat(1900));
    assert!(parse(&unicode).is_ok());
}

#[test]
fn bad_arguments() {
    check("registeredAt < yesterday", 16, "a date", "'yesterday'");
    check("registeredAt < 2018-02-30", 16, "a date", "'2018-02-30'");
    check("runningTasksCount > many", 21, "integer", "'many'");
    check("runningTasksCount > -1", 21, "integer", "'-1'");
    check("agentVersion > latest", 16, "version", "'latest'");
    check("agentConnected == yes", 19, "true or false", "'yes'");
}

#[test]
fn unsupported_operator_for_subject() {
    let cases = [
        (
            "agentConnected > true",
            16,
            "column 16: operator > is not valid for subject agentConnected; \
             valid: ==, !=, in, !in, =~, !~",
        ),
        (
            "agentConnected exists",
            16,
            "column 16: operator exists is not valid for subject agentConnected; \
             valid: ==, !=, in, !in, =~, !~",
        ),
        (
            "agentVersion =~ '1\\.2.*'",
            14,
            "column 14: operator =~ is not valid for subject agentVersion; \
             valid: ==, !=, >, >=, <, <=",
        ),
        (
            "ec2InstanceId < i-5",
            15,
            "column 15: operator < is not valid for subject ec2InstanceId; \
             valid: ==, !=, in, !in, =~, !~",
        ),
        (
            "registeredAt in [2018-02-13]",
            14,
            "column 14: operator in is not valid for subject registeredAt; \
             valid: ==, !=, >, >=, <, <=",
        ),
        (
            "registeredAt matches 2018.*",
            14,
            "column 14: operator =~ is not valid for subject registeredAt; \
             valid: ==, !=, >, >=, <, <=",
        ),
        (
            "runningTasksCount not_in [1, 2]",
            19,
            "column 19: operator !in is not valid for subject runningTasksCount; \
             valid: ==, !=, >, >=, <, <=",
        ),
        (
            "runningTasksCount exists",
            19,
            "column 19: operator exists is not valid for subject runningTasksCount; \
             valid: ==, !=, >, >=, <, <=",
        ),
        (
            "task:group >= x",
            12,
            "column 12: operator >= is not valid for subject task:group; \
             valid: ==, !=, in, !in, =~, !~",
        ),
        (
            "attribute:a exists and task:group !exists",
            35,
            "column 35: operator !exists is not valid for subject task:group; \
             valid: ==, !=, in, !in, =~, !~",
        ),
    ];
    for (input, column, message) in cases {
        let e = err(input);
        assert_eq!(e.column, column, "{input}");
        assert_eq!(e.to_string(), message, "{input}");
    }
    // The operator is reported before anything wrong in its arguments.
    assert_eq!(err("registeredAt in [2018-").column, 14);
    // Programs still get `expected` and `found`.
    let e = err("agentVersion =~ x");
    assert_eq!(e.found, "'=~'");
    assert_eq!(
        e.expected,
        "an operator valid for agentVersion (==, !=, >, >=, <, <=)"
    );
}

/// The docs' "Valid operators" lists, per subject (`attribute:` and `task:group` have none in
/// the docs: see `Subject::valid_operators`).
#[test]
fn valid_operators_follow_the_docs() {
    let args = |op: &str| match op {
        "exists" | "!exists" => String::new(),
        "in" | "!in" => " [V]".to_string(),
        _ => " V".to_string(),
    };
    let all = [
        "==", "!=", ">", ">=", "<", "<=", "exists", "!exists", "in", "!in", "=~", "!~",
    ];
    let table: [(&str, &str, &[&str]); 7] = [
        (
            "agentConnected",
            "true",
            &["==", "!=", "in", "!in", "=~", "!~"],
        ),
        (
            "agentVersion",
            "1.14.5",
            &["==", "!=", ">", ">=", "<", "<="],
        ),
        (
            "ec2InstanceId",
            "i-1",
            &["==", "!=", "in", "!in", "=~", "!~"],
        ),
        (
            "registeredAt",
            "2018-02-13",
            &["==", "!=", ">", ">=", "<", "<="],
        ),
        (
            "runningTasksCount",
            "1",
            &["==", "!=", ">", ">=", "<", "<="],
        ),
        (
            "task:group",
            "databases",
            &["==", "!=", "in", "!in", "=~", "!~"],
        ),
        ("attribute:stack", "prod", &all),
    ];
    for (subject, value, valid) in table {
        for op in all {
            let input = format!("{subject} {op}{}", args(op).replace('V', value));
            let parsed = parse(&input);
            if valid.contains(&op) {
                assert!(parsed.is_ok(), "{input}: {parsed:?}");
            } else {
                match parsed {
                    Ok(e) => panic!("{input} parsed as {e}"),
                    Err(e) => assert!(
                        e.message
                            .starts_with(&format!("operator {op} is not valid")),
                        "{input}: {e}"
                    ),
                }
            }
        }
    }
}

#[test]
fn invalid_regex() {
    check(
        "attribute:x =~ 'a(b'",
        16,
        "a valid regular expression",
        "'a(b'",
    );
    // Java features the regex crate does not have.
    check(
        "attribute:x =~ '(a)\\1'",
        16,
        "a valid regular expression",
        "'(a)\\1'",
    );
    check(
        "attribute:x =~ '(?=a)a'",
        16,
        "a valid regular expression",
        "'(?=a)a'",
    );
    // A pattern cannot escape the full-match group.
    check(
        "attribute:x =~ 'a)|(b'",
        16,
        "a valid regular expression",
        "'a)|(b'",
    );
}

#[test]
fn lists_and_quotes() {
    check("attribute:x in [a, b", 21, "',' or ']'", "end of input");
    check("attribute:x in a", 16, "'['", "'a'");
    check("attribute:x in []", 17, "a value", "']'");
    check("attribute:x in [a,]", 19, "a value", "']'");
    check("attribute:x in [a b]", 19, "',' or ']'", "'b'");
    check("attribute:x == 'abc", 16, "closing '", "end of input");
    check("attribute:x == \"abc", 16, "closing \"", "end of input");
}

#[test]
fn bad_connectives() {
    check(
        "attribute:x exists attribute:y exists",
        20,
        "'and', 'or' or end of input",
        "'attribute:y'",
    );
    check(
        "attribute:x == a b",
        18,
        "'and', 'or' or end of input",
        "'b'",
    );
    check("attribute:x exists and", 23, "a subject", "end of input");
    check(
        "attribute:x exists & attribute:y exists",
        20,
        "end of input",
        "'&'",
    );
    check(
        "attribute:x exists xor attribute:y exists",
        20,
        "end of input",
        "'xor'",
    );
}

#[test]
fn bad_operators() {
    check("attribute:x = y", 13, "an operator", "'='");
    check("attribute:x ! exists", 13, "an operator", "'!'");
    check("attribute:x", 12, "an operator", "end of input");
    check("attribute:x existsx", 13, "an operator", "'existsx'");
}

#[test]
fn columns_count_characters() {
    check("attribute:a == x and ééé", 22, "a subject", "'ééé'");
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}attribute:a exists{}", "(".repeat(500), ")".repeat(500));
    let e = err(&deep);
    assert!(e.expected.contains("levels"), "{e}");
    let nots = format!("{}attribute:a exists", "not ".repeat(400));
    assert!(err(&nots).expected.contains("levels"));
    let ok = format!("{}attribute:a exists{}", "(".repeat(60), ")".repeat(60));
    assert!(parse(&ok).is_ok());
}
