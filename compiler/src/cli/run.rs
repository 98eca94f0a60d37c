//! `secc run`: a compiled program run by three parties on this machine (threads in this
//! process, or `secc-party` processes on loopback TCP); prints the outputs, their error against
//! `secc reference`, and the measured and predicted rounds and bytes per party.

use super::args::{print_counters, read_inputs, ClearArgs, CliResult, InputArgs, OutputArgs};
use clap::ValueEnum;
use secc::mpc_run::{self, Measured};
use secc::{artifact, progress, reference};
use secc_runtime::deploy::{self, LocalProcessOptions};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TransportKind {
    /// Three party threads in this process, in-process channels.
    Inproc,
    /// Three `secc-party` processes on loopback TCP ports.
    Tcp,
}

impl TransportKind {
    fn name(self) -> &'static str {
        match self {
            TransportKind::Inproc => "inproc",
            TransportKind::Tcp => "tcp",
        }
    }
}

#[derive(clap::Args)]
pub(super) struct RunArgs {
    /// The model owner's program file, as written by `secc compile`.
    program: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    out: OutputArgs,
    /// How the three parties talk.
    #[arg(long, value_enum, default_value = "inproc")]
    transport: TransportKind,
    /// Longest wait for any one message (and, with tcp, for connecting).
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    timeout_s: f64,
    #[command(flatten)]
    clear: ClearArgs,
}

pub(super) fn run(args: RunArgs) -> CliResult {
    let RunArgs {
        program: path,
        input,
        out,
        transport,
        timeout_s,
        clear,
    } = args;
    let (path, input, out, clear) = (path.as_path(), &input, &out, &clear);
    let (output, json, select) = (out.output.as_deref(), out.json, out.outputs.clone());
    let timeout = seconds(timeout_s, "--timeout-s")?;
    let container = artifact::load(path).map_err(|e| e.to_string())?;
    let weights =
        artifact::weights_of(&container, path, "`secc run`").map_err(|e| e.to_string())?;
    let program = &container.program;
    mpc_run::check_selection(program, select.as_deref())?;
    let values = read_inputs(program, input)?;
    let public_inputs = clear.policy_for(&container)?;
    let measured = match transport {
        TransportKind::Inproc => {
            let options = secc_runtime::LocalOptions {
                timeout,
                progress: progress::wanted(json).then(|| progress::stage_bar(&container.low)),
                public_inputs,
            };
            // The client's prologue, then the parties on what it sends.
            let failed = |e: secc_runtime::RuntimeError| format!("{}: {e}", path.display());
            let prologue = secc_runtime::run_prologue(program, &values).map_err(failed)?;
            let mut report = secc_runtime::run_local_with(
                &container.low,
                &weights.tensors,
                &prologue.sends,
                &options,
            )
            .map_err(failed)?;
            report.outputs =
                secc_runtime::merge_outputs(program, report.outputs, &prologue).map_err(failed)?;
            Measured::from_local(&report)
        }
        TransportKind::Tcp => {
            let party_binary = deploy::find_party_binary().ok_or_else(|| {
                let exe = std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "the secc executable".into());
                format!(
                    "--transport tcp needs the secc-party binary next to {exe}; build it with \
                     `cargo build --workspace`"
                )
            })?;
            let options = LocalProcessOptions {
                party_binary,
                timeout,
                public_inputs,
            };
            let run = deploy::run_local_processes(&container, &values, &options)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Measured::from_client(&run)?
        }
    };
    let results = mpc_run::named_outputs(program, &measured.outputs, select.as_deref())?;
    // The oracle: the plaintext interpreter on the same compiled program and input.
    let expected = reference::run(program, weights, &values, select.as_deref())?;
    let errors = mpc_run::max_abs_errors(&results, &expected)?;
    let predicted = container.low.predicted_cost();
    if let Some(out) = output {
        reference::write_arrays(out, &results).map_err(|e| e.to_string())?;
    }
    if predicted.rounds != measured.rounds || predicted.bytes_sent != measured.bytes_sent {
        eprintln!(
            "warning: measured cost ({} rounds, bytes {:?}) differs from the prediction ({} \
             rounds, bytes {:?})",
            measured.rounds, measured.bytes_sent, predicted.rounds, predicted.bytes_sent
        );
    }
    if json {
        let object = mpc_run::to_json(
            &results,
            &measured,
            Some(&errors),
            Some(&predicted),
            transport.name(),
        );
        println!("{object}");
        return Ok(());
    }
    if output.is_none() {
        print!("{}", mpc_run::render_outputs(&results));
    }
    for (name, error) in &errors {
        println!("max abs error of {name} vs secc reference: {error:.3e}");
    }
    print_counters(&measured, transport.name());
    println!(
        "predicted:  {} rounds; bytes sent by P0/P1/P2: {} / {} / {}",
        predicted.rounds, predicted.bytes_sent[0], predicted.bytes_sent[1], predicted.bytes_sent[2]
    );
    Ok(())
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{flag} {value}: expected a positive number of seconds"
        ))
    }
}
