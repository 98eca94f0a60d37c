//! `secc compile`: an ONNX model compiled in the chosen mode into a program file (the model
//! owner's copy, with the weights); the summary, the approximations, warnings and the cost go
//! to stderr.

use super::args::{describe, CliResult, Mode, OnnxArgs};
use secc::codegen::{self, cost};
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile_with_report, CompileOptions, ModeOptions};
use secc::{artifact, inputs, stats};
use secc_ir::bytecode::Container;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct CompileArgs {
    model: PathBuf,
    /// Output file (default: the model's path with the extension .secc).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    onnx: OnnxArgs,
    /// Protocol family for the non-linear layers.
    #[arg(long, value_enum, default_value = "secformer")]
    mode: Mode,
    /// Sample input files (JSON or .npz, like --input) for calibrating the approximations'
    /// ranges; without them, synthetic samples are used.
    #[arg(long, num_args = 1..)]
    calibrate: Vec<PathBuf>,
    /// Write the IR after every stage into this directory (.ir text and .ron).
    #[arg(long)]
    emit_ir: Option<PathBuf>,
}

pub(super) fn run(args: CompileArgs) -> CliResult {
    let CompileArgs {
        model,
        output,
        onnx,
        mode,
        calibrate,
        emit_ir,
    } = args;
    let model = model.as_path();
    let (shapes, substitutions) = (&onnx.shapes, onnx.substitutions);
    let output = output.unwrap_or_else(|| model.with_extension("secc"));
    let calibration = calibrate
        .iter()
        .map(|path| {
            inputs::read(path)
                .map(|arrays| (path.clone(), arrays))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = CompileOptions {
        shapes: ShapeRequest {
            batch: shapes.batch,
            seq_len: shapes.seq_len,
            exact: BTreeMap::new(),
        },
        weights: onnx.weights(),
        frac_bits: onnx.frac_bits,
        public_inputs: onnx.public_inputs.clone(),
        emit_ir,
        mode: ModeOptions {
            mode: mode.pipeline(),
            calibration,
            substitutions: substitutions.pipeline(),
        },
    };
    let compiled = compile_with_report(model, &options).map_err(|e| e.to_string())?;
    for approximation in &compiled.approximations {
        eprintln!("approximation: {approximation}");
    }
    for warning in &compiled.warnings {
        eprintln!("warning: {warning}");
    }
    let (program, weights) = (compiled.program, compiled.weights);
    let low = codegen::generate(&program)
        .map_err(|e| format!("cannot compile '{}': codegen: {e}", model.display()))?;
    let report = cost::report(&low);
    let container = Container {
        program,
        low,
        weights: Some(weights),
    };
    artifact::save(&output, &container).map_err(|e| e.to_string())?;
    eprint!("{}", stats::summary(&container.program));
    eprint!("{}", stats::prologue(&container.program, &container.low));
    eprintln!("  mode: {mode:?}{}", describe(substitutions));
    eprint!("{}", cost::render(&report));
    eprintln!("wrote {}", output.display());
    Ok(())
}
