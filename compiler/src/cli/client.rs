//! `secc client`: the client of a deployment, secret-sharing the input with the three
//! `secc-party` services of parties.toml over mutual TLS and reconstructing the outputs.

use super::args::{print_counters, read_inputs, ClearArgs, CliResult, InputArgs, OutputArgs};
use secc::mpc_run::{self, Measured};
use secc::{artifact, reference};
use secc_runtime::deploy::{self, DeployConfig};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct ClientArgs {
    /// The program file (the parties' copy; the owner's copy works too, its weights are
    /// never sent).
    program: PathBuf,
    /// The deployment's parties.toml.
    #[arg(long)]
    config: PathBuf,
    /// The client's key file (client.key from `secc keygen`).
    #[arg(long, required_unless_present = "insecure_plaintext_tcp")]
    key: Option<PathBuf>,
    /// DANGER: plain TCP without TLS, for loopback experiments with parties started the
    /// same way; anyone on the path reads the input shares.
    #[arg(long, conflicts_with = "key")]
    insecure_plaintext_tcp: bool,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    clear: ClearArgs,
}

pub(super) fn run(args: ClientArgs) -> CliResult {
    let ClientArgs {
        program,
        config,
        key,
        insecure_plaintext_tcp: insecure,
        input,
        out,
        clear,
    } = args;
    let (path, config_path, key) = (program.as_path(), config.as_path(), key.as_deref());
    let (input, out, clear) = (&input, &out, &clear);
    let (output, json, select) = (out.output.as_deref(), out.json, out.outputs.clone());
    let config = DeployConfig::load(config_path).map_err(|e| e.to_string())?;
    let security = deploy::security(secc_runtime::net::CLIENT, &config, key, insecure)
        .map_err(|e| e.to_string())?;
    if insecure {
        eprintln!(
            "warning: --insecure-plaintext-tcp: the input shares travel unencrypted; loopback \
             experiments only"
        );
    }
    // The parties hash the program without weights; so does the client.
    let container = artifact::load(path)
        .map_err(|e| e.to_string())?
        .without_weights();
    let program = &container.program;
    mpc_run::check_selection(program, select.as_deref())?;
    let values = read_inputs(program, input)?;
    let public_inputs = clear.policy_for(&container)?;
    let run = deploy::run_client_with(&config, security, &container, &values, &public_inputs)
        .map_err(|e| e.to_string())?;
    let measured = Measured::from_client(&run)?;
    let results = mpc_run::named_outputs(program, &measured.outputs, select.as_deref())?;
    if let Some(out) = output {
        reference::write_arrays(out, &results).map_err(|e| e.to_string())?;
    }
    if json {
        println!(
            "{}",
            mpc_run::to_json(&results, &measured, None, None, "tcp")
        );
        return Ok(());
    }
    if output.is_none() {
        print!("{}", mpc_run::render_outputs(&results));
    }
    print_counters(&measured, "tcp");
    Ok(())
}
