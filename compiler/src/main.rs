//! The `secc` command line: `compile`, `inspect` and `reference` (brief §1). Every failure is
//! printed as one `error: ...` message on stderr with a non-zero exit status.

use clap::{Parser, Subcommand, ValueEnum};
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile, CompileOptions};
use secc::{artifact, inputs, reference, stats};
use secc_ir::{Program, Weights};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Secformer,
    Puma,
}

#[derive(clap::Args, Clone)]
struct ShapeArgs {
    /// Sequence length for the symbolic sequence axis (axis 1 of the inputs).
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Batch size for the symbolic batch axis (axis 0 of the inputs).
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Compile an ONNX model into a program file; the cost summary goes to stderr.
    Compile {
        model: PathBuf,
        /// Output file (default: the model's path with the extension .secc).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        shapes: ShapeArgs,
        /// Fraction bits of the fixed-point encoding.
        #[arg(long, default_value_t = 16)]
        frac_bits: u32,
        /// Protocol family for the non-linear layers (used by codegen).
        #[arg(long, value_enum, default_value = "secformer")]
        mode: Mode,
        /// Write the IR after every stage into this directory (.ir text and .ron).
        #[arg(long)]
        emit_ir: Option<PathBuf>,
    },
    /// Show a compiled program: its IR, statistics or a Graphviz graph.
    Inspect {
        program: PathBuf,
        #[arg(long, group = "view")]
        ir: bool,
        #[arg(long, group = "view")]
        stats: bool,
        #[arg(long, group = "view")]
        dot: bool,
        /// Print the statistics as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Plaintext (f64) result of a model or compiled program on an input file.
    Reference {
        /// An .onnx model (compiled in memory at the input file's shapes) or a program file.
        model: PathBuf,
        /// Input file: JSON object of input names to nested arrays, or .npz.
        #[arg(long)]
        input: PathBuf,
        /// Write the result as .npy (one output) or .npz (several).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Print {"outputs": [{"name", "shape", "data"}]} on stdout.
        #[arg(long)]
        json: bool,
        /// Only these outputs (comma-separated names).
        #[arg(long, value_delimiter = ',')]
        outputs: Option<Vec<String>>,
        #[command(flatten)]
        shapes: ShapeArgs,
        #[arg(long, default_value_t = 16)]
        frac_bits: u32,
    },
}

type CliResult = Result<(), String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile {
            model,
            output,
            shapes,
            frac_bits,
            mode,
            emit_ir,
        } => run_compile(&model, output, &shapes, frac_bits, mode, emit_ir),
        Command::Inspect {
            program,
            ir,
            stats: _,
            dot,
            json,
        } => run_inspect(&program, ir, dot, json),
        Command::Reference {
            model,
            input,
            output,
            json,
            outputs,
            shapes,
            frac_bits,
        } => run_reference(
            &model,
            &input,
            output.as_deref(),
            json,
            outputs,
            &shapes,
            frac_bits,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_compile(
    model: &Path,
    output: Option<PathBuf>,
    shapes: &ShapeArgs,
    frac_bits: u32,
    mode: Mode,
    emit_ir: Option<PathBuf>,
) -> CliResult {
    let output = output.unwrap_or_else(|| model.with_extension("secc"));
    let options = CompileOptions {
        shapes: ShapeRequest {
            batch: shapes.batch,
            seq_len: shapes.seq_len,
            exact: BTreeMap::new(),
        },
        frac_bits,
        emit_ir,
    };
    let (program, weights) = compile(model, &options).map_err(|e| e.to_string())?;
    artifact::save(&output, &program, &weights).map_err(|e| e.to_string())?;
    eprint!("{}", stats::summary(&program));
    eprintln!("  mode: {mode:?} (applied by codegen)");
    eprintln!("wrote {}", output.display());
    Ok(())
}

fn run_inspect(path: &Path, ir: bool, dot: bool, json: bool) -> CliResult {
    let (program, _weights) = artifact::load(path).map_err(|e| e.to_string())?;
    if ir {
        print!("{}", secc_ir::print::print_program(&program));
    } else if dot {
        print!("{}", secc_ir::dot::to_dot(&program));
    } else if json {
        println!("{}", stats::to_json(&program));
    } else {
        print!("{}", stats::summary(&program));
    }
    Ok(())
}

fn load_for_reference(
    model: &Path,
    given: &inputs::InputArrays,
    shapes: &ShapeArgs,
    frac_bits: u32,
) -> Result<(Program, Weights), String> {
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
            frac_bits,
            emit_ir: None,
        };
        compile(model, &options).map_err(|e| e.to_string())
    } else {
        artifact::load(model).map_err(|e| e.to_string())
    }
}

fn run_reference(
    model: &Path,
    input: &Path,
    output: Option<&Path>,
    json: bool,
    select: Option<Vec<String>>,
    shapes: &ShapeArgs,
    frac_bits: u32,
) -> CliResult {
    let given = inputs::read(input).map_err(|e| e.to_string())?;
    let (program, weights) = load_for_reference(model, &given, shapes, frac_bits)?;
    let complete = inputs::complete(&program, &given, input).map_err(|e| e.to_string())?;
    let results = reference::run(&program, &weights, &complete, select.as_deref())?;
    if let Some(path) = output {
        reference::write_arrays(path, &results).map_err(|e| e.to_string())?;
    }
    if json {
        println!("{}", reference::to_json(&results));
    } else if output.is_none() {
        for o in &results {
            let head: Vec<String> = o.array.iter().take(8).map(|x| format!("{x:.6}")).collect();
            println!(
                "{} {:?}: [{}{}]",
                o.name,
                o.array.shape(),
                head.join(", "),
                if o.array.len() > 8 { ", ..." } else { "" }
            );
        }
    }
    Ok(())
}
