//! Fuzz the parser: never panic; whatever parses must print to a canonical form that parses
//! back to an equal expression and prints identically.
#![no_main]

use ecs_cluster_query::{parse, Host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = parse(input) else {
        return;
    };
    let printed = expr.to_string();
    if printed.chars().count() > ecs_cluster_query::MAX_EXPRESSION_CHARS {
        // The canonical form can be longer than the input (added spaces or quotes).
        return;
    }
    match parse(&printed) {
        Ok(again) => {
            assert_eq!(again, expr, "round trip changed the expression: {printed}");
            assert_eq!(again.to_string(), printed, "printing is not canonical");
        }
        Err(e) => panic!("canonical form {printed:?} of {input:?} does not parse: {e}"),
    }
    let host = Host::new("i-0123")
        .with_attribute("ecs.instance-type", "t2.micro")
        .with_flag_attribute("gpu")
        .with_task("service:web");
    let _ = expr.evaluate(&host);
});
