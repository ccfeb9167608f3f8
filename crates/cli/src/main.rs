//! `ecs-autopilot` command line. AWS configuration comes from the usual environment (profile,
//! region, credentials, `AWS_ENDPOINT_URL`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ecs_autopilot::{run, Cli, EXIT_ERROR};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // clap exits 2 on bad arguments, 0 on --help.
    let cli = Cli::parse();
    let sdk = aws_config::load_from_env().await;
    let mut out = String::new();
    let code = match run(cli, &sdk, &mut out).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
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
