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
    check(
        "agentConnected > true",
        16,
        "operator supported by agentConnected",
        "'>'",
    );
    check(
        "task:group >= x",
        12,
        "operator supported by task:group",
        "'>='",
    );
    check(
        "runningTasksCount =~ 1.*",
        19,
        "operator supported by runningTasksCount",
        "'=~'",
    );
    check(
        "registeredAt matches 2018.*",
        14,
        "operator supported by registeredAt",
        "'=~'",
    );
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
