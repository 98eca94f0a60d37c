//! `secc-party`: one of the three computing parties of a deployment.
//!
//! Loads the program file and this party's share file (checking that they belong together),
//! connects to the other parties and the client as `parties.toml` says, runs the program, sends
//! its output components and counters to the client, prints a one-line summary on stderr and
//! exits 0. Any failure prints one line naming the file or peer at fault and exits 1; every wait
//! is bounded by the configured timeouts, so the process never hangs.

use clap::Parser;
use secc_runtime::deploy::{run_deployed_party, DeployConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "secc-party",
    version,
    about = "Runs one computing party (P0, P1 or P2) of a three-party secc deployment"
)]
struct Args {
    /// This party's id.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    id: u8,
    /// The deployment's parties.toml (addresses of the three parties, timeouts).
    #[arg(long)]
    config: PathBuf,
    /// The program file without weights (as written by `secc share`).
    #[arg(long)]
    program: PathBuf,
    /// This party's share file (as written by `secc share`).
    #[arg(long)]
    shares: PathBuf,
    /// Overrides both timeouts of the configuration: the deadline for connecting and the
    /// longest wait for one message.
    #[arg(long, value_name = "N")]
    timeout_s: Option<f64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let party = usize::from(args.id);
    match run(&args) {
        Ok(summary) => {
            eprintln!("secc-party P{party}: {summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("secc-party P{party}: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let mut config = DeployConfig::load(&args.config).map_err(|e| e.to_string())?;
    if let Some(seconds) = args.timeout_s {
        if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
            return Err(format!(
                "--timeout-s {seconds}: expected a positive number of seconds"
            ));
        }
        config.connect_timeout = Duration::from_secs_f64(seconds);
        config.recv_timeout = Duration::from_secs_f64(seconds);
    }
    let report = run_deployed_party(usize::from(args.id), &config, &args.program, &args.shares)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "done: {} rounds, {} bytes sent to the parties in {} messages (+{} for seeds, {} to the client), {:.3} s",
        report.rounds,
        report.bytes_sent,
        report.messages_sent,
        report.setup_bytes_sent,
        report.client_bytes_sent,
        report.wall.as_secs_f64()
    ))
}
