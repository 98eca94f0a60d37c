//! `netbench-program`: writes the program `secc bench` runs (the BERT encoder built in Rust with
//! seeded random weights, default BERT-base at 128 tokens) as a model owner's `.secc` file, and
//! the benchmark's input as a client input JSON, so that the same program can go through the
//! deployment path (`secc share`, `secc-party`, `secc client`) over real links. Rounds and bytes
//! of such a run equal `secc bench`'s for the same shape, mode and seed.
//!
//! ```text
//! netbench-program --mode secformer --out bert-base.secc --input-out input.json
//! ```

use clap::{Parser, ValueEnum};
use secc::bench::{self, model::BertShape, BenchOptions};
use secc::pipeline::Mode;
use secc_ir::bytecode::Container;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Secformer,
    Puma,
}

#[derive(Parser)]
#[command(
    name = "netbench-program",
    about = "Write secc bench's program as a .secc file"
)]
struct Args {
    #[arg(long, value_enum, default_value = "secformer")]
    mode: ModeArg,
    /// The model owner's program file (with plaintext weights), for `secc share`.
    #[arg(long)]
    out: PathBuf,
    /// The client's input (token ids and attention mask) as JSON.
    #[arg(long)]
    input_out: PathBuf,
    #[arg(long, default_value_t = 12)]
    layers: usize,
    #[arg(long, default_value_t = 768)]
    hidden: usize,
    #[arg(long, default_value_t = 12)]
    heads: usize,
    #[arg(long, default_value_t = 3072)]
    inter: usize,
    #[arg(long, default_value_t = 30522)]
    vocab: usize,
    #[arg(long, default_value_t = 128)]
    seq: usize,
    /// Seed of the weights and the token ids (`secc bench --seed`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 16)]
    frac_bits: u32,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netbench-program: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let shape = BertShape {
        layers: args.layers,
        hidden: args.hidden,
        heads: args.heads,
        intermediate: args.inter,
        vocab: args.vocab,
        seq: args.seq,
        batch: 1,
    };
    shape.check()?;
    let mode = match args.mode {
        ModeArg::Secformer => Mode::Secformer,
        ModeArg::Puma => Mode::Puma,
    };
    // The same build, passes, calibration and codegen as `secc bench`.
    let compiled = bench::compile(&BenchOptions {
        shape,
        mode,
        frac_bits: args.frac_bits,
        seed: args.seed,
        ..BenchOptions::default()
    })?;
    let values = compiled.values;
    let predicted = compiled.low.predicted_cost();
    let container = Container {
        program: compiled.program,
        low: compiled.low,
        weights: Some(compiled.weights),
    };
    secc::artifact::save(&args.out, &container).map_err(|e| e.to_string())?;

    let json: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(name, array)| {
            let rows: Vec<serde_json::Value> = array
                .outer_iter()
                .map(|row| row.iter().map(|&v| serde_json::json!(v as i64)).collect())
                .collect();
            (name.clone(), serde_json::Value::Array(rows))
        })
        .collect();
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())?;
    std::fs::write(&args.input_out, text)
        .map_err(|e| format!("cannot write {}: {e}", args.input_out.display()))?;
    eprintln!(
        "wrote {} and {}: {} stages, predicted {} rounds, bytes sent per party {:?}",
        args.out.display(),
        args.input_out.display(),
        container.low.stages.len(),
        predicted.rounds,
        predicted.bytes_sent
    );
    Ok(())
}
