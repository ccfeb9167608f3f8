//! `ecs-autopilot` command line. AWS settings: the global flags, then the environment, then the
//! aws CLI's config and credentials files (see `config`). Exit codes: see `error`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ecs_autopilot::{run, short_message, Cli, Command, EXIT_ERROR};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // clap exits 2 on bad arguments (with a suggestion for a misspelt name), 0 on --help.
    let cli = Cli::parse();
    // Completions need no AWS configuration.
    let sdk = match &cli.command {
        Command::Completions { .. } => aws_config::SdkConfig::builder().build(),
        _ => cli.global.sdk_config().await,
    };
    let debug = cli.global.debug;
    let mut out = String::new();
    let code = match run(cli, &sdk, &mut out).await {
        Ok(code) => code,
        Err(e) => {
            let message = e.to_string();
            if debug {
                eprintln!("error: {message}");
            } else {
                eprintln!("error: {}", short_message(&message));
            }
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            e.exit_code()
        }
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        return ExitCode::from(EXIT_ERROR);
    }
    ExitCode::from(code)
}
