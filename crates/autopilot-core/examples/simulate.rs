//! The scheduling simulator's table (`autopilot_core::dispatch::simulate`, whose module doc says
//! what it simulates and the trace format). Run through `scripts/simulate`:
//!
//! ```text
//! scripts/simulate [--trace FILE | --seed N] [--hosts N] [--estimates MODE] [--write-trace FILE]
//! scripts/simulate --traces 100 [--seed N] [--hosts N] [--estimates MODE]
//! ```
//!
//! - `--trace FILE`: replay a trace file; without it, the random trace of `--seed` (default 1).
//! - `--hosts N`: override the trace's host count ("how many hosts would this queue need?").
//! - `--estimates known|unknown|learned`: override the trace's estimate mode: each job's run
//!   time, none (the dispatcher's 600 s default), or its family's estimate learned from the runs
//!   ended before it arrived (the module doc's table). `--run-times-unknown` is
//!   `--estimates unknown`.
//! - `--write-trace FILE`: also write the trace replayed (after overrides) to FILE.
//! - `--traces N`: issue 25's acceptance over N random traces, seeds `--seed` … `--seed`+N-1:
//!   the dispatcher under each estimate mode (only `--estimates`' when given), and its waits
//!   with learned estimates against known.
//!
//! Exit status: 0 with the table on stdout; 2 for bad arguments or a bad trace; 1 when a
//! scheduler broke exactly-once or stalled (a bug, named on stderr).

use std::process::ExitCode;

use autopilot_core::dispatch::simulate::{
    acceptance, random_trace, simulate_all, table, Estimates, SimError, Trace, TraceOverrides,
};

const USAGE: &str = "usage: simulate [--trace FILE | --seed N] [--hosts N] \
                     [--estimates known|unknown|learned] [--write-trace FILE] \
                     | --traces N [--seed N] [--hosts N] [--estimates known|unknown|learned]";

#[derive(Debug, Default)]
struct Args {
    trace: Option<String>,
    seed: Option<u64>,
    traces: Option<u32>,
    overrides: TraceOverrides,
    write_trace: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a non-negative whole number: {v:?}"))
        }
        match flag.as_str() {
            "--trace" => out.trace = Some(value("--trace")?),
            "--seed" => out.seed = Some(number("--seed", value("--seed")?)?),
            "--traces" => out.traces = Some(number("--traces", value("--traces")?)?),
            "--hosts" => out.overrides.hosts = Some(number("--hosts", value("--hosts")?)?),
            "--write-trace" => out.write_trace = Some(value("--write-trace")?),
            "--estimates" => {
                let v = value("--estimates")?;
                let e = Estimates::from_name(&v)
                    .ok_or_else(|| format!("--estimates: known, unknown or learned, not {v:?}"))?;
                set_estimates(&mut out, e)?;
            }
            "--run-times-unknown" => set_estimates(&mut out, Estimates::Unknown)?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if out.traces.is_some() && (out.trace.is_some() || out.write_trace.is_some()) {
        return Err(format!(
            "--traces runs random traces: no --trace or --write-trace\n{USAGE}"
        ));
    }
    if out.trace.is_some() && out.seed.is_some() {
        return Err(format!("--trace or --seed, not both\n{USAGE}"));
    }
    if out.traces == Some(0) || out.overrides.hosts == Some(0) {
        return Err("--traces and --hosts must be at least 1".to_string());
    }
    Ok(out)
}

fn set_estimates(args: &mut Args, e: Estimates) -> Result<(), String> {
    if args.overrides.estimates.replace(e).is_some() {
        return Err(format!(
            "one of --estimates and --run-times-unknown, once\n{USAGE}"
        ));
    }
    Ok(())
}

fn run(args: Args) -> Result<String, (ExitCode, String)> {
    let bad = |e: String| (ExitCode::from(2), e);
    let broken = |e: SimError| match e {
        SimError::Trace(t) => (ExitCode::from(2), t.to_string()),
        other => (ExitCode::from(1), other.to_string()),
    };
    let seed = args.seed.unwrap_or(1);
    if let Some(n) = args.traces {
        let a = acceptance(seed, n, args.overrides).map_err(broken)?;
        let mut out = format!(
            "Issue 25's acceptance over {n} random traces (seeds {seed}–{}; each: {}):\n\n",
            seed.saturating_add(u64::from(n) - 1),
            describe(&random_trace(seed), args.overrides),
        );
        out.push_str(&a.table());
        return Ok(out);
    }
    let (name, mut trace) = match &args.trace {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| bad(format!("reading {path}: {e}")))?;
            let trace = Trace::parse(&text).map_err(|e| bad(format!("{path}: {e}")))?;
            (path.clone(), trace)
        }
        None => (format!("random trace, seed {seed}"), random_trace(seed)),
    };
    args.overrides.apply(&mut trace);
    trace.validate().map_err(|e| bad(e.to_string()))?;
    if let Some(path) = &args.write_trace {
        let json = trace
            .to_json()
            .map_err(|e| bad(format!("writing {path}: {e}")))?;
        std::fs::write(path, json).map_err(|e| bad(format!("writing {path}: {e}")))?;
    }
    let reports = simulate_all(&trace).map_err(broken)?;
    Ok(format!(
        "{name}: {}\n\n{}",
        trace.summary(),
        table(&reports)
    ))
}

/// The random traces' shape, after the overrides.
fn describe(sample: &Trace, overrides: TraceOverrides) -> String {
    let mut t = sample.clone();
    overrides.apply(&mut t);
    let estimates = match overrides.estimates {
        Some(e) => format!("estimates {}", e.name()),
        None => format!(
            "the dispatcher with estimates {}",
            Estimates::ALL.map(Estimates::name).join(", ")
        ),
    };
    format!(
        "{} jobs in three classes, {} hosts × {} CPU / {} MiB, {estimates}",
        t.jobs.len(),
        t.hosts.count,
        t.hosts.cpu,
        t.hosts.memory,
    )
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err((code, e)) => {
            eprintln!("simulate: {e}");
            code
        }
    }
}
