//! The bounded part of the soak that CI runs: every target, 3,000 inputs each, no panic and no
//! write for an invalid input. `cargo run --release -p soak` runs 1,000,000 per target.

#[test]
fn generated_and_mutated_inputs_never_panic_or_write_when_invalid() {
    let report = soak::run(3_000, 7);
    println!("{report}");
    assert_eq!(report.targets.len(), 6);
    for t in &report.targets {
        assert_eq!(t.panics, 0, "{}: panics", t.target);
        assert_eq!(
            t.writes_on_invalid, 0,
            "{}: writes for invalid input",
            t.target
        );
        assert_eq!(t.answered, t.inputs, "{}", t.target);
        assert!(
            t.rejected > 0,
            "{}: the mutations reach the refusal paths",
            t.target
        );
        assert!(
            t.rejected < t.inputs || t.target == "cli arguments",
            "{}: some inputs are valid and go all the way through",
            t.target
        );
    }
}
