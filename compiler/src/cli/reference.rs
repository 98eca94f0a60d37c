//! `secc reference`: the plaintext (f64) result of an ONNX model (compiled in memory in exact
//! mode, at the input file's shapes) or of a compiled program, on an input file.

use super::args::{
    describe, read_inputs, warn_truncated, CliResult, InputArgs, OnnxArgs, OutputArgs,
};
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile, CompileOptions, ModeOptions};
use secc::{artifact, inputs, mpc_run, reference, text};
use secc_ir::{Program, Weights};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(super) struct ReferenceArgs {
    /// An .onnx model (compiled in memory at the input file's shapes) or a program file.
    model: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    out: OutputArgs,
    /// With an .onnx model: how to compile it, as `secc compile` takes them.
    #[command(flatten)]
    onnx: OnnxArgs,
}

pub(super) fn run(args: ReferenceArgs) -> CliResult {
    let ReferenceArgs {
        model,
        input,
        out,
        onnx,
    } = args;
    let (model, input, out, onnx) = (model.as_path(), &input, &out, &onnx);
    let (output, json, select) = (out.output.as_deref(), out.json, out.outputs.clone());
    let is_onnx = model.extension().is_some_and(|e| e == "onnx");
    let complete = match &input.tokenizer {
        // An ONNX model takes its shapes from the input: tokenize to --seq-len first.
        Some(tokenizer) if is_onnx => {
            let tokenizer = text::TextTokenizer::load(tokenizer).map_err(|e| e.to_string())?;
            let sentences = text::read_sentences(&input.input).map_err(|e| e.to_string())?;
            let seq_len = onnx.shapes.seq_len;
            let (given, tokens) = text::standard_inputs(&tokenizer, &sentences, seq_len)
                .map_err(|e| e.to_string())?;
            warn_truncated(&tokens, seq_len);
            let (program, weights) = load_for_reference(model, &given, onnx)?;
            text::check_vocabulary(&program, &tokenizer, &tokens).map_err(|e| e.to_string())?;
            let complete =
                inputs::complete(&program, &given, &input.input).map_err(|e| e.to_string())?;
            (program, weights, complete)
        }
        _ if is_onnx => {
            let given = inputs::read(&input.input).map_err(|e| e.to_string())?;
            let (program, weights) = load_for_reference(model, &given, onnx)?;
            let complete =
                inputs::complete(&program, &given, &input.input).map_err(|e| e.to_string())?;
            (program, weights, complete)
        }
        _ => {
            let (program, weights) = load_for_reference(model, &Default::default(), onnx)?;
            let complete = read_inputs(&program, input)?;
            (program, weights, complete)
        }
    };
    let (program, weights, complete) = complete;
    let results = reference::run(&program, &weights, &complete, select.as_deref())?;
    if let Some(path) = output {
        reference::write_arrays(path, &results).map_err(|e| e.to_string())?;
    }
    if json {
        println!("{}", reference::to_json(&results));
    } else if output.is_none() {
        print!("{}", mpc_run::render_outputs(&results));
    }
    Ok(())
}

fn load_for_reference(
    model: &Path,
    given: &inputs::InputArrays,
    onnx: &OnnxArgs,
) -> Result<(Program, Weights), String> {
    let (shapes, substitutions) = (&onnx.shapes, onnx.substitutions);
    if model.extension().is_some_and(|e| e == "onnx") {
        let options = CompileOptions {
            shapes: ShapeRequest {
                batch: shapes.batch,
                seq_len: shapes.seq_len,
                exact: given
                    .iter()
                    .map(|(k, v)| (k.clone(), v.shape().to_vec()))
                    .collect(),
            },
            weights: onnx.weights(),
            frac_bits: onnx.frac_bits,
            public_inputs: onnx.public_inputs.clone(),
            emit_ir: None,
            // The reference of an ONNX model is the original model's arithmetic.
            mode: ModeOptions {
                mode: secc::pipeline::Mode::Exact,
                calibration: vec![],
                substitutions: substitutions.pipeline(),
            },
        };
        compile(model, &options).map_err(|e| e.to_string())
    } else if !describe(substitutions).is_empty() {
        Err(format!(
            "'{}' is a compiled program: {} apply to an .onnx model (give them to `secc \
             compile`)",
            model.display(),
            describe(substitutions).trim_start_matches(", ")
        ))
    } else {
        let container = artifact::load(model).map_err(|e| e.to_string())?;
        let weights = artifact::weights_of(&container, model, "`secc reference`")
            .map_err(|e| e.to_string())?
            .clone();
        Ok((container.program, weights))
    }
}
