//! Property tests: the parser never panics; printing then parsing round-trips.

use ecs_cluster_query::{parse, Expression, Host, Operator, Predicate, Subject};
use proptest::prelude::*;

/// Fragments of the grammar, glued at random: reaches far deeper than uniform strings.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "attribute:",
        "ecs.instance-type",
        "attribute:stack",
        "task:group",
        "agentVersion",
        "registeredAt",
        "runningTasksCount",
        "agentConnected",
        "ec2InstanceId",
        "==",
        "!=",
        "=~",
        "!~",
        ">",
        ">=",
        "<",
        "<=",
        "!",
        "!exists",
        "exists",
        "not_exists",
        "in",
        "!in",
        "not_in",
        "[",
        "]",
        ",",
        "(",
        ")",
        "'",
        "\"",
        "\\",
        "and",
        "or",
        "not",
        "&&",
        "||",
        "t2.*",
        "1.10.0",
        "2018-06-18",
        "2018-06-18T22:28:28Z",
        "true",
        "5",
        "(?=a)",
        "é",
        " ",
        "\u{2028}",
        "\u{0}",
        "a{99999}",
        "\t",
    ]);
    prop::collection::vec(tokens, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn never_panics_on_printable_unicode(s in "\\PC{0,300}") {
        let _ = parse(&s);
    }

    #[test]
    fn never_panics_on_token_soup(s in token_soup()) {
        if let Ok(e) = parse(&s) {
            let printed = e.to_string();
            let again = parse(&printed);
            prop_assert_eq!(again.as_ref(), Ok(&e), "{} -> {}", s, printed);
            // Evaluation never panics either.
            let _ = e.evaluate(&Host::new("i-1").with_attribute("stack", "prod").with_task("x"));
        }
    }
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        "[a-zA-Z0-9._/:-]{1,12}".prop_map(Subject::Attribute),
        Just(Subject::Ec2InstanceId),
        Just(Subject::AgentConnected),
        Just(Subject::AgentVersion),
        Just(Subject::RegisteredAt),
        Just(Subject::RunningTasksCount),
        Just(Subject::TaskGroup),
    ]
}

fn value_for(subject: &Subject, op: Operator) -> BoxedStrategy<String> {
    if matches!(op, Operator::Matches | Operator::NotMatches) {
        return prop::sample::select(vec!["t2.*", "a|b", "x\\.y", "", "[a-z]+", "it's", "(?i)T2"])
            .prop_map(str::to_string)
            .boxed();
    }
    match subject {
        Subject::AgentConnected => prop::sample::select(vec!["true", "false", "TRUE", "False"])
            .prop_map(str::to_string)
            .boxed(),
        Subject::AgentVersion => "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}".boxed(),
        Subject::RegisteredAt => (
            1970u32..2100,
            1u32..13,
            1u32..29,
            prop::option::of((0u32..24, 0u32..60, 0u32..60)),
        )
            .prop_map(|(y, m, d, t)| match t {
                None => format!("{y:04}-{m:02}-{d:02}"),
                Some((h, mi, s)) => format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
            })
            .boxed(),
        Subject::RunningTasksCount => "[0-9]{1,6}".boxed(),
        // Any text at all, including quotes, backslashes, whitespace and keywords.
        _ => prop_oneof![
            "\\PC{0,10}",
            any::<String>(),
            prop::sample::select(vec![
                "and", "or", "not", "in", "exists", "'", "\\", "a b", ""
            ])
            .prop_map(str::to_string),
        ]
        .boxed(),
    }
}

fn predicate() -> impl Strategy<Value = Expression> {
    (subject(), prop::sample::select(Operator::ALL.to_vec()))
        .prop_flat_map(|(s, op)| {
            let n = match op {
                Operator::Exists | Operator::NotExists => 0..1usize,
                Operator::In | Operator::NotIn => 1..4usize,
                _ => 1..2usize,
            };
            let values = prop::collection::vec(value_for(&s, op), n);
            (Just(s), Just(op), values)
        })
        .prop_filter_map("operator not supported by subject", |(s, op, values)| {
            Predicate::new(s, op, values)
                .ok()
                .map(Expression::Predicate)
        })
}

fn expression() -> impl Strategy<Value = Expression> {
    predicate().prop_recursive(5, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expression::Not(Box::new(e))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Expression::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expression::Or(Box::new(a), Box::new(b))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn print_parse_round_trip(e in expression()) {
        let printed = e.to_string();
        prop_assume!(printed.chars().count() <= 2000);
        let parsed = parse(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&e), "printed: {}", printed);
        // Printing is canonical: a second round prints the same text.
        if let Ok(p) = parsed {
            prop_assert_eq!(p.to_string(), printed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The literal and `LITERAL.*` fast paths mean exactly what the anchored regex means.
    #[test]
    fn regex_fast_paths_agree_with_regex(
        pattern in prop::sample::select(vec![
            "t2.*", "t2", "", ".*", "t2\\..*", "(?s)t2.*", "t2.+", "a.*b", "(?i)t2.*", "é.*", "t2.micro",
            "\\Qx\\E", "[t]2.*", "t2.*?", "t2.{0,}",
        ]),
        value in prop_oneof!["t2[.a-z\n]{0,6}", "\\PC{0,6}", Just("t2\n".to_string()), Just("T2.x".to_string())],
    ) {
        if let Some(agrees) = ecs_cluster_query::full_match_agrees(pattern, &value) {
            prop_assert!(agrees, "{:?} on {:?}", pattern, value);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The missing-value decision: a negated operator is the negation of its positive form
    /// exactly on hosts that have a value, and false on the others.
    #[test]
    fn negated_operators_are_negation_among_hosts_with_a_value(
        stored in prop_oneof![
            Just(None),
            Just(Some(None)),
            prop::sample::select(vec!["prod", "dev", "p", "", "prod "]).prop_map(|v| Some(Some(v))),
        ],
        pair in prop::sample::select(vec![
            (Operator::Ne, Operator::Eq),
            (Operator::NotIn, Operator::In),
            (Operator::NotMatches, Operator::Matches),
        ]),
        args in prop::collection::vec(prop::sample::select(vec!["prod", "dev", "p.*", "x"]), 1..3),
    ) {
        let (negated, positive) = pair;
        let n = if matches!(negated, Operator::NotIn) { args.len() } else { 1 };
        let args: Vec<String> = args.iter().take(n).map(|s| s.to_string()).collect();
        let build = |op| Predicate::new(Subject::Attribute("stack".into()), op, args.clone());
        let (Ok(neg), Ok(pos)) = (build(negated), build(positive)) else {
            return Err(TestCaseError::fail("valid predicate rejected"));
        };
        let host = match stored {
            None => Host::new("h"),
            Some(None) => Host::new("h").with_flag_attribute("stack"),
            Some(Some(v)) => Host::new("h").with_attribute("stack", v),
        };
        let has_value = matches!(stored, Some(Some(_)));
        prop_assert_eq!(neg.evaluate(&host), has_value && !pos.evaluate(&host));
        // `not` of the positive form stays the plain negation.
        let not_pos = Expression::Not(Box::new(Expression::Predicate(pos.clone())));
        prop_assert_eq!(not_pos.evaluate(&host), !pos.evaluate(&host));
    }
}
