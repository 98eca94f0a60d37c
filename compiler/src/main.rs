//! The `secc` command line (brief §1): `compile`, `inspect`, `reference`, `run` (three parties on
//! this machine), and for deployments `share` (the model owner's step), `keygen` (keys and the
//! pinned parties.toml) and `client`. Every
//! failure is printed as one `error: ...` message on stderr with a non-zero exit status, and no
//! output file is left behind (every file is written atomically).

use clap::{Parser, Subcommand, ValueEnum};
use secc::bench::{self, model::BertShape};
use secc::codegen::{self, cost};
use secc::frontend::ShapeRequest;
use secc::mpc_run::{self, Measured};
use secc::pipeline::{compile, compile_with_report, CompileOptions, ModeOptions};
use secc::{artifact, bytecode_text, inputs, progress, reference, stats, text};
use secc_ir::bytecode::Container;
use secc_ir::{Program, Weights};
use secc_runtime::deploy::{self, DeployConfig, DeploymentFiles, LocalProcessOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod keygen;

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
    /// SecFormer's protocols, for models distilled for them (2Quad softmax, Fourier GeLU,
    /// Goldschmidt layer norm and division).
    Secformer,
    /// PUMA's faithful approximations for stock models, without calibration (comparison-tree
    /// softmax with exp, four-segment GeLU, layer norm, square root and division by range
    /// reduction with comparisons against powers of two; tanh as in secformer mode).
    Puma,
    /// The exact operators (no protocol exists for softmax, GeLU, layer norm in this mode).
    Exact,
}

impl Mode {
    fn pipeline(self) -> secc::pipeline::Mode {
        match self {
            Mode::Secformer => secc::pipeline::Mode::Secformer,
            Mode::Puma => secc::pipeline::Mode::Puma,
            Mode::Exact => secc::pipeline::Mode::Exact,
        }
    }
}

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

#[derive(clap::Args, Clone)]
struct ShapeArgs {
    /// Sequence length for the symbolic sequence axis (axis 1 of the inputs).
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Batch size for the symbolic batch axis (axis 0 of the inputs).
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GeluChoice {
    /// ReLU in place of GeLU.
    Relu,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LayerNormChoice {
    /// (x - mean) * gamma + beta: no division by the standard deviation.
    Affine,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SoftmaxChoice {
    /// relu(x) / sum relu(x) over the kept (unmasked) entries.
    Relu,
}

/// Substitutions for models fine-tuned to be MPC-friendly: each replaces the model's operator
/// by the one it was fine-tuned with, before the mode's passes.
#[derive(clap::Args, Clone, Copy, Debug)]
struct SubstitutionArgs {
    /// Replace every GeLU (for a model fine-tuned with the replacement).
    #[arg(long, value_enum, value_name = "KIND")]
    gelu: Option<GeluChoice>,
    /// Replace every layer norm (for a model fine-tuned with the replacement).
    #[arg(long, value_enum, value_name = "KIND")]
    layernorm: Option<LayerNormChoice>,
    /// Replace every softmax, masked entries staying 0 (for a model fine-tuned with it).
    #[arg(long, value_enum, value_name = "KIND")]
    softmax: Option<SoftmaxChoice>,
}

impl SubstitutionArgs {
    fn pipeline(self) -> secc::pipeline::Substitutions {
        secc::pipeline::Substitutions {
            gelu_relu: matches!(self.gelu, Some(GeluChoice::Relu)),
            layer_norm_affine: matches!(self.layernorm, Some(LayerNormChoice::Affine)),
            softmax_relu: matches!(self.softmax, Some(SoftmaxChoice::Relu)),
        }
    }
}

/// The client's input: a file of arrays, or text with a tokenizer.
#[derive(clap::Args, Clone)]
struct InputArgs {
    /// Input file: JSON object of input names to nested arrays, or .npz; with --tokenizer, text
    /// (one sentence per line, or a JSON list of strings).
    #[arg(long)]
    input: PathBuf,
    /// A Hugging Face tokenizer.json: the client tokenizes the text input, padded and
    /// truncated to the program's sequence length (input_ids, attention_mask, token_type_ids).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

/// Where and how a command that computes outputs reports them (`reference`, `run`, `client`).
#[derive(clap::Args, Clone)]
struct OutputArgs {
    /// Write the result as .npy (one output) or .npz (several).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Print one JSON object on stdout ({"outputs": [{"name", "shape", "data"}], ...}).
    #[arg(long)]
    json: bool,
    /// Only these outputs (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    outputs: Option<Vec<String>>,
}

/// How an ONNX model is compiled (`secc compile`, and `secc reference` of an .onnx model).
#[derive(clap::Args, Clone)]
struct OnnxArgs {
    #[command(flatten)]
    shapes: ShapeArgs,
    /// Fraction bits of the fixed-point encoding.
    #[arg(long, default_value_t = 16)]
    frac_bits: u32,
    #[command(flatten)]
    substitutions: SubstitutionArgs,
    /// Also declare this input public (sent in the clear); repeatable. Only `attention_mask` is
    /// public by default; every other input is the client's secret.
    #[arg(long = "public-input", value_name = "NAME")]
    public_inputs: Vec<String>,
    /// Make every learned weight public. By default every learned float initializer of the
    /// ONNX file (any size, whatever its values) is a secret of the model owner; public weights
    /// make products with them local, but every party sees them.
    #[arg(long)]
    public_weights: bool,
    /// Make the learned initializer NAME public (repeatable); the others stay secret.
    #[arg(long = "public-weight", value_name = "NAME")]
    public_weight: Vec<String>,
}

impl OnnxArgs {
    fn weights(&self) -> secc::frontend::WeightVisibility {
        secc::frontend::WeightVisibility {
            all_public: self.public_weights,
            public: self.public_weight.iter().cloned().collect(),
        }
    }
}

/// Which inputs the client agrees to send in the clear (`run`, `client`).
#[derive(clap::Args, Clone)]
struct ClearArgs {
    /// Also allow this input to be sent in the clear when the program declares it public
    /// (`attention_mask` is allowed by default); repeatable. A program that declares public an
    /// input not allowed is refused before anything is sent.
    #[arg(long = "allow-public-input", value_name = "NAME")]
    allow_public_inputs: Vec<String>,
}

impl ClearArgs {
    /// The client's policy, checked against the program (what its prologue sends in the clear
    /// and which inputs that comes from); says on stderr which inputs go in the clear.
    fn policy_for(
        &self,
        container: &secc_ir::bytecode::Container,
    ) -> Result<secc_runtime::PublicInputPolicy, String> {
        let policy = secc_runtime::PublicInputPolicy::allowing(self.allow_public_inputs.clone());
        let (policy, public) = policy
            .resolve(&container.program, &container.low)
            .map_err(|e| e.to_string())?;
        if public.is_empty() {
            eprintln!("client: every input is secret-shared (none sent in the clear)");
        } else {
            eprintln!("client: sending in the clear: {}", public.join(", "));
        }
        Ok(policy)
    }
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
    },
    /// Show a compiled program: statistics and cost (default), its IR, its low-level program
    /// or a Graphviz graph.
    Inspect {
        program: PathBuf,
        /// The IR program as text.
        #[arg(long, group = "view")]
        ir: bool,
        /// The low-level program: stages, local instructions and communication steps.
        #[arg(long, group = "view")]
        bytecode: bool,
        /// Statistics with the cost report: rounds, bytes per party, by op and by layer.
        #[arg(long, group = "view")]
        stats: bool,
        /// The IR as a Graphviz graph.
        #[arg(long, group = "view")]
        dot: bool,
        /// Print the statistics (or with --bytecode the low-level program) as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Plaintext (f64) result of a model or compiled program on an input file.
    Reference {
        /// An .onnx model (compiled in memory at the input file's shapes) or a program file.
        model: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        out: OutputArgs,
        /// With an .onnx model: how to compile it, as `secc compile` takes them.
        #[command(flatten)]
        onnx: OnnxArgs,
    },
    /// Run a compiled program across three parties on this machine; prints the outputs, their
    /// error against `secc reference`, rounds, bytes sent per party and wall time.
    Run {
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
    },
    /// The model owner's step of a deployment: write the parties' program file (no weights) and
    /// one share file per party.
    Share {
        /// The model owner's program file, as written by `secc compile`.
        program: PathBuf,
        /// Directory for the files (default: beside the program file).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Keys and certificates for a deployment's roles and the parties.toml pinning them.
    Keygen(keygen::KeygenArgs),
    /// The client of a deployment: secret-share the input with the three `secc-party`
    /// services of parties.toml over mutual TLS and reconstruct the outputs.
    Client {
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
    },
    /// Benchmark: a BERT encoder with random weights (built in Rust, default BERT-base at 128
    /// tokens) compiled in the chosen mode (calibrated on the benchmark input) and run by three
    /// parties in this process; prints compile and MPC time, peak memory, rounds and bytes per
    /// party (measured and predicted), the per-layer breakdown and the error against the
    /// plaintext interpreter of the same compiled program.
    Bench {
        /// Protocol family for the non-linear layers (`exact` has no MPC protocol).
        #[arg(long, value_enum, default_value = "secformer")]
        mode: Mode,
        #[command(flatten)]
        substitutions: SubstitutionArgs,
        #[arg(long, default_value_t = 12)]
        layers: usize,
        #[arg(long, default_value_t = 768)]
        hidden: usize,
        #[arg(long, default_value_t = 12)]
        heads: usize,
        /// Width of the feed-forward layer.
        #[arg(long, default_value_t = 3072)]
        inter: usize,
        #[arg(long, default_value_t = 30522)]
        vocab: usize,
        #[arg(long, default_value_t = 128)]
        seq: usize,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[arg(long, default_value_t = 16)]
        frac_bits: u32,
        /// Seed of the weights and token ids.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON object on stdout (and no progress display).
        #[arg(long)]
        json: bool,
    },
}

type CliResult = Result<(), String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile {
            model,
            output,
            onnx,
            mode,
            calibrate,
            emit_ir,
        } => run_compile(&model, output, &onnx, mode, &calibrate, emit_ir),
        Command::Inspect {
            program,
            ir,
            bytecode,
            stats: _,
            dot,
            json,
        } => run_inspect(&program, ir, bytecode, dot, json),
        Command::Reference {
            model,
            input,
            out,
            onnx,
        } => run_reference(&model, &input, &out, &onnx),
        Command::Run {
            program,
            input,
            out,
            transport,
            timeout_s,
            clear,
        } => run_mpc(&program, &input, &out, transport, timeout_s, &clear),
        Command::Share { program, out_dir } => run_share(&program, out_dir.as_deref()),
        Command::Keygen(args) => keygen::run(&args),
        Command::Client {
            program,
            config,
            key,
            insecure_plaintext_tcp,
            input,
            out,
            clear,
        } => run_client(
            &program,
            &config,
            (key.as_deref(), insecure_plaintext_tcp),
            &input,
            &out,
            &clear,
        ),
        Command::Bench {
            mode,
            substitutions,
            layers,
            hidden,
            heads,
            inter,
            vocab,
            seq,
            batch,
            frac_bits,
            seed,
            json,
        } => run_bench(
            BertShape {
                layers,
                hidden,
                heads,
                intermediate: inter,
                vocab,
                seq,
                batch,
            },
            mode.pipeline(),
            substitutions.pipeline(),
            frac_bits,
            seed,
            json,
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
    onnx: &OnnxArgs,
    mode: Mode,
    calibrate: &[PathBuf],
    emit_ir: Option<PathBuf>,
) -> CliResult {
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

/// The substitutions as the flags that asked for them (empty without any).
fn describe(substitutions: SubstitutionArgs) -> String {
    substitutions
        .pipeline()
        .flags()
        .iter()
        .map(|flag| format!(", {flag}"))
        .collect()
}

fn run_inspect(path: &Path, ir: bool, bytecode: bool, dot: bool, json: bool) -> CliResult {
    let container = artifact::load(path).map_err(|e| e.to_string())?;
    let program = &container.program;
    if json && (ir || dot) {
        return Err("--json goes with --stats (the default) or --bytecode".into());
    }
    if ir {
        print!("{}", secc_ir::print::print_program(program));
    } else if dot {
        print!("{}", secc_ir::dot::to_dot(program));
    } else if bytecode && json {
        let low = serde_json::to_string(&container.low).map_err(|e| e.to_string())?;
        println!("{low}");
    } else if bytecode {
        print!("{}", bytecode_text::render(&container));
    } else if json {
        let mut object = stats::to_json(program, &cost::report(&container.low));
        object["prologue"] = stats::prologue_json(program, &container.low);
        println!("{object}");
    } else {
        print!("{}", stats::summary(program));
        print!("{}", stats::prologue(program, &container.low));
        print!("{}", cost::render(&cost::report(&container.low)));
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

fn run_reference(model: &Path, input: &InputArgs, out: &OutputArgs, onnx: &OnnxArgs) -> CliResult {
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

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{flag} {value}: expected a positive number of seconds"
        ))
    }
}

/// Reads the input file (tokenizing it with --tokenizer) and completes it for `program`.
fn read_inputs(
    program: &Program,
    input: &InputArgs,
) -> Result<std::collections::HashMap<String, ndarray::ArrayD<f64>>, String> {
    let given = match &input.tokenizer {
        Some(tokenizer) => {
            let tokenizer = text::TextTokenizer::load(tokenizer).map_err(|e| e.to_string())?;
            let sentences = text::read_sentences(&input.input).map_err(|e| e.to_string())?;
            let (given, tokens) =
                text::program_inputs(program, &tokenizer, &sentences, &input.input)
                    .map_err(|e| e.to_string())?;
            let seq_len = given.values().next().map_or(0, |a| a.shape()[1]);
            warn_truncated(&tokens, seq_len);
            given
        }
        None => inputs::read(&input.input).map_err(|e| e.to_string())?,
    };
    inputs::complete(program, &given, &input.input).map_err(|e| e.to_string())
}

fn warn_truncated(tokens: &text::Tokens, seq_len: usize) {
    for i in &tokens.truncated {
        eprintln!(
            "warning: sentence {} is longer than {seq_len} tokens and was truncated",
            i + 1
        );
    }
}

fn run_mpc(
    path: &Path,
    input: &InputArgs,
    out: &OutputArgs,
    transport: TransportKind,
    timeout_s: f64,
    clear: &ClearArgs,
) -> CliResult {
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

fn print_counters(measured: &Measured, transport: &str) {
    let b = measured.bytes_sent;
    println!(
        "measured:   {} rounds; bytes sent by P0/P1/P2: {} / {} / {}; wall {:.3} s ({transport})",
        measured.rounds,
        b[0],
        b[1],
        b[2],
        measured.wall.as_secs_f64()
    );
}

fn run_share(path: &Path, out_dir: Option<&Path>) -> CliResult {
    let container = artifact::load(path).map_err(|e| e.to_string())?;
    artifact::weights_of(&container, path, "`secc share`").map_err(|e| e.to_string())?;
    let files = match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
            let name = path.file_name().unwrap_or_else(|| "model.secc".as_ref());
            DeploymentFiles::beside(&dir.join(name))
        }
        None => DeploymentFiles::beside(path),
    };
    deploy::write_deployment(&container, &files).map_err(|e| e.to_string())?;
    println!(
        "{}  -> every party and the client (no weights)",
        files.program.display()
    );
    for (party, shares) in files.shares.iter().enumerate() {
        println!("{}  -> party P{party} only", shares.display());
    }
    println!("program hash {}", container.program_hash());
    Ok(())
}

fn run_client(
    path: &Path,
    config_path: &Path,
    (key, insecure): (Option<&Path>, bool),
    input: &InputArgs,
    out: &OutputArgs,
    clear: &ClearArgs,
) -> CliResult {
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

fn run_bench(
    shape: BertShape,
    mode: secc::pipeline::Mode,
    substitutions: secc::pipeline::Substitutions,
    frac_bits: u32,
    seed: u64,
    json: bool,
) -> CliResult {
    shape.check()?;
    if mode == secc::pipeline::Mode::Exact {
        return Err(
            "secc bench: --mode exact has no MPC protocol for the non-linear layers; use \
             secformer or puma"
                .into(),
        );
    }
    let show = progress::wanted(json);
    let options = bench::BenchOptions {
        shape,
        mode,
        substitutions,
        frac_bits,
        seed,
        on_phase: show.then(progress::phase_printer),
        show_progress: show,
    };
    let report = bench::run(&options)?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", bench::render(&report));
    }
    if !report.cost_matches {
        eprintln!(
            "warning: measured cost ({} rounds, bytes {:?}) differs from the prediction ({} \
             rounds, bytes {:?})",
            report.rounds, report.bytes_sent, report.predicted_rounds, report.predicted_bytes_sent
        );
    }
    Ok(())
}
