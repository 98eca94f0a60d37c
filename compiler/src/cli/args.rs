//! The argument groups and helpers that several subcommands share: the protocol mode, how an
//! ONNX model is compiled (shapes, fraction bits, substitutions, public inputs and weights), the
//! client's input and where outputs go, which inputs may travel in the clear, and reading the
//! input file (tokenized with --tokenizer).

use clap::ValueEnum;
use secc::mpc_run::Measured;
use secc::{inputs, text};
use secc_ir::Program;
use std::path::PathBuf;

/// What every subcommand returns: `Err` is printed as `error: ...` with a non-zero exit.
pub(super) type CliResult = Result<(), String>;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum Mode {
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
    pub(super) fn pipeline(self) -> secc::pipeline::Mode {
        match self {
            Mode::Secformer => secc::pipeline::Mode::Secformer,
            Mode::Puma => secc::pipeline::Mode::Puma,
            Mode::Exact => secc::pipeline::Mode::Exact,
        }
    }
}

#[derive(clap::Args, Clone)]
pub(super) struct ShapeArgs {
    /// Sequence length for the symbolic sequence axis (axis 1 of the inputs).
    #[arg(long, default_value_t = 128)]
    pub(super) seq_len: usize,
    /// Batch size for the symbolic batch axis (axis 0 of the inputs).
    #[arg(long, default_value_t = 1)]
    pub(super) batch: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum GeluChoice {
    /// ReLU in place of GeLU.
    Relu,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum LayerNormChoice {
    /// (x - mean) * gamma + beta: no division by the standard deviation.
    Affine,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum SoftmaxChoice {
    /// relu(x) / sum relu(x) over the kept (unmasked) entries.
    Relu,
}

/// Substitutions for models fine-tuned to be MPC-friendly: each replaces the model's operator
/// by the one it was fine-tuned with, before the mode's passes.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(super) struct SubstitutionArgs {
    /// Replace every GeLU (for a model fine-tuned with the replacement).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(super) gelu: Option<GeluChoice>,
    /// Replace every layer norm (for a model fine-tuned with the replacement).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(super) layernorm: Option<LayerNormChoice>,
    /// Replace every softmax, masked entries staying 0 (for a model fine-tuned with it).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(super) softmax: Option<SoftmaxChoice>,
}

impl SubstitutionArgs {
    pub(super) fn pipeline(self) -> secc::pipeline::Substitutions {
        secc::pipeline::Substitutions {
            gelu_relu: matches!(self.gelu, Some(GeluChoice::Relu)),
            layer_norm_affine: matches!(self.layernorm, Some(LayerNormChoice::Affine)),
            softmax_relu: matches!(self.softmax, Some(SoftmaxChoice::Relu)),
        }
    }
}

/// The client's input: a file of arrays, or text with a tokenizer.
#[derive(clap::Args, Clone)]
pub(super) struct InputArgs {
    /// Input file: JSON object of input names to nested arrays, or .npz; with --tokenizer, text
    /// (one sentence per line, or a JSON list of strings).
    #[arg(long)]
    pub(super) input: PathBuf,
    /// A Hugging Face tokenizer.json: the client tokenizes the text input, padded and
    /// truncated to the program's sequence length (input_ids, attention_mask, token_type_ids).
    #[arg(long)]
    pub(super) tokenizer: Option<PathBuf>,
}

/// Where and how a command that computes outputs reports them (`reference`, `run`, `client`).
#[derive(clap::Args, Clone)]
pub(super) struct OutputArgs {
    /// Write the result as .npy (one output) or .npz (several).
    #[arg(long)]
    pub(super) output: Option<PathBuf>,
    /// Print one JSON object on stdout ({"outputs": [{"name", "shape", "data"}], ...}).
    #[arg(long)]
    pub(super) json: bool,
    /// Only these outputs (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub(super) outputs: Option<Vec<String>>,
}

/// How an ONNX model is compiled (`secc compile`, and `secc reference` of an .onnx model).
#[derive(clap::Args, Clone)]
pub(super) struct OnnxArgs {
    #[command(flatten)]
    pub(super) shapes: ShapeArgs,
    /// Fraction bits of the fixed-point encoding.
    #[arg(long, default_value_t = 16)]
    pub(super) frac_bits: u32,
    #[command(flatten)]
    pub(super) substitutions: SubstitutionArgs,
    /// Also declare this input public (sent in the clear); repeatable. Only `attention_mask` is
    /// public by default; every other input is the client's secret.
    #[arg(long = "public-input", value_name = "NAME")]
    pub(super) public_inputs: Vec<String>,
    /// Make every learned weight public. By default every learned float initializer of the
    /// ONNX file (any size, whatever its values) is a secret of the model owner; public weights
    /// make products with them local, but every party sees them.
    #[arg(long)]
    pub(super) public_weights: bool,
    /// Make the learned initializer NAME public (repeatable); the others stay secret.
    #[arg(long = "public-weight", value_name = "NAME")]
    pub(super) public_weight: Vec<String>,
}

impl OnnxArgs {
    pub(super) fn weights(&self) -> secc::frontend::WeightVisibility {
        secc::frontend::WeightVisibility {
            all_public: self.public_weights,
            public: self.public_weight.iter().cloned().collect(),
        }
    }
}

/// Which inputs the client agrees to send in the clear (`run`, `client`).
#[derive(clap::Args, Clone)]
pub(super) struct ClearArgs {
    /// Also allow this input to be sent in the clear when the program declares it public
    /// (`attention_mask` is allowed by default); repeatable. A program that declares public an
    /// input not allowed is refused before anything is sent.
    #[arg(long = "allow-public-input", value_name = "NAME")]
    pub(super) allow_public_inputs: Vec<String>,
}

impl ClearArgs {
    /// The client's policy, checked against the program (what its prologue sends in the clear
    /// and which inputs that comes from); says on stderr which inputs go in the clear.
    pub(super) fn policy_for(
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

/// The substitutions as the flags that asked for them (empty without any).
pub(super) fn describe(substitutions: SubstitutionArgs) -> String {
    substitutions
        .pipeline()
        .flags()
        .iter()
        .map(|flag| format!(", {flag}"))
        .collect()
}

/// Reads the input file (tokenizing it with --tokenizer) and completes it for `program`.
pub(super) fn read_inputs(
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

pub(super) fn warn_truncated(tokens: &text::Tokens, seq_len: usize) {
    for i in &tokens.truncated {
        eprintln!(
            "warning: sentence {} is longer than {seq_len} tokens and was truncated",
            i + 1
        );
    }
}

pub(super) fn print_counters(measured: &Measured, transport: &str) {
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
