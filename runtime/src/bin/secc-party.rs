//! `secc-party`: one of the three computing parties of a deployment, as a service.
//!
//! Loads the program file and this party's share file once (checking that they belong
//! together), listens at its address of `parties.toml` and serves client requests one at a time
//! over mutual TLS with the pinned certificates (see `secc_runtime::deploy::service`): one
//! status line per request on stderr (rounds, bytes, time, or why it failed), one line per
//! refused connection. It runs until SIGTERM or Ctrl-C (the request in progress finishes or
//! fails within its timeouts, then exit 0) or until `--requests N` requests were taken (exit 0
//! if all succeeded, 1 otherwise). A failure before serving (files, configuration, key) prints
//! one line naming the file and exits 1.

use clap::Parser;
use secc_runtime::deploy::service::{serve, ServiceOptions};
use secc_runtime::deploy::{load_party_files, security, DeployConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
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
    /// The deployment's parties.toml (addresses and pinned certificates of the parties and the
    /// client, timeouts), as written by `secc keygen`.
    #[arg(long)]
    config: PathBuf,
    /// This party's key file (pI.key from `secc keygen`: private key and certificate).
    #[arg(long, required_unless_present = "insecure_plaintext_tcp")]
    key: Option<PathBuf>,
    /// The program file without weights (as written by `secc share`).
    #[arg(long)]
    program: PathBuf,
    /// This party's share file (as written by `secc share`).
    #[arg(long)]
    shares: PathBuf,
    /// Exit after this many requests (default: serve until SIGTERM or Ctrl-C).
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Overrides both timeouts of the configuration: the deadline for connecting and the
    /// longest wait for one message.
    #[arg(long, value_name = "N")]
    timeout_s: Option<f64>,
    /// DANGER: plain TCP without TLS or authentication; anyone on the path sees the pairwise
    /// seeds and so every masked value. For loopback experiments only.
    #[arg(long, conflicts_with = "key")]
    insecure_plaintext_tcp: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let party = usize::from(args.id);
    let mut log = |line: &str| eprintln!("secc-party P{party}: {line}");
    match run(&args, &mut log) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            log(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Serves; true when every request taken succeeded.
fn run(args: &Args, log: &mut dyn FnMut(&str)) -> Result<bool, String> {
    let party = usize::from(args.id);
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
    let files = load_party_files(party, &args.program, &args.shares).map_err(|e| e.to_string())?;
    let security = security(
        party,
        &config,
        args.key.as_deref(),
        args.insecure_plaintext_tcp,
    )
    .map_err(|e| e.to_string())?;
    if args.insecure_plaintext_tcp {
        log(
            "WARNING: --insecure-plaintext-tcp: links are neither encrypted nor authenticated; \
             anyone on the network path learns the seeds and so every secret. Loopback \
             experiments only",
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // A second signal while stopping ends the process at once.
        signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(signal, stop.clone()))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let options = ServiceOptions {
        requests: args.requests,
        stop: stop.clone(),
    };
    let summary =
        serve(party, &config, security, &files, &options, log).map_err(|e| e.to_string())?;
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        log(&format!(
            "stopped: {} requests served, {} failed",
            summary.served, summary.failed
        ));
        return Ok(true);
    }
    Ok(summary.failed == 0)
}
