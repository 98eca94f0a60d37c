//! The `secc` command line (brief §1): `compile`, `inspect`, `reference`, `run` (three parties on
//! this machine), and for deployments `share` (the model owner's step), `keygen` (keys and the
//! pinned parties.toml) and `client`; `bench` measures a BERT encoder built in Rust.
//!
//! One file per subcommand holds its arguments and its run function; the argument groups and
//! helpers several share are in [`args`]. Every failure is printed as one `error: ...` message
//! on stderr with a non-zero exit status, and no output file is left behind (every file is
//! written atomically).

mod args;
mod bench;
mod client;
mod compile;
mod inspect;
mod keygen;
mod reference;
mod run;
mod share;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "secc",
    version,
    about = "Compile ONNX Transformer models into three-party MPC programs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile an ONNX model into a program file; the cost summary goes to stderr.
    Compile(compile::CompileArgs),
    /// Show a compiled program: statistics and cost (default), its IR, its low-level program
    /// or a Graphviz graph.
    Inspect(inspect::InspectArgs),
    /// Plaintext (f64) result of a model or compiled program on an input file.
    Reference(reference::ReferenceArgs),
    /// Run a compiled program across three parties on this machine; prints the outputs, their
    /// error against `secc reference`, rounds, bytes sent per party and wall time.
    Run(run::RunArgs),
    /// The model owner's step of a deployment: write the parties' program file (no weights) and
    /// one share file per party.
    Share(share::ShareArgs),
    /// Keys and certificates for a deployment's roles and the parties.toml pinning them.
    Keygen(keygen::KeygenArgs),
    /// The client of a deployment: secret-share the input with the three `secc-party`
    /// services of parties.toml over mutual TLS and reconstruct the outputs.
    Client(client::ClientArgs),
    /// Benchmark: a BERT encoder with random weights (built in Rust, default BERT-base at 128
    /// tokens) compiled in the chosen mode (calibrated on the benchmark input) and run by three
    /// parties in this process; prints compile and MPC time, peak memory, rounds and bytes per
    /// party (measured and predicted), the per-layer breakdown and the error against the
    /// plaintext interpreter of the same compiled program.
    Bench(bench::BenchArgs),
}

/// Parses the command line, runs the subcommand and turns its error into `error: ...` on
/// stderr and a failure exit status.
pub fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Compile(args) => compile::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Reference(args) => reference::run(args),
        Command::Run(args) => run::run(args),
        Command::Share(args) => share::run(args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Client(args) => client::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
