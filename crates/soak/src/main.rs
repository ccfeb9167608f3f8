//! `cargo run --release -p soak -- [INPUTS_PER_TARGET] [SEED]`: pushes generated and mutated inputs
//! through every handler (default 1,000,000 per target) and exits non-zero on any panic or any
//! write made for an invalid input. The handlers' own log lines go to stdout (send them to
//! /dev/null); the report goes to stderr.

fn main() {
    let mut args = std::env::args().skip(1);
    let inputs = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000usize);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1u64);
    let report = soak::run(inputs, seed);
    eprintln!("{report}");
    if !report.clean() {
        std::process::exit(1);
    }
}
