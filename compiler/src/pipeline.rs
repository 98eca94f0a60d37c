//! The compile pipeline: the frontend, then the passes in a fixed, explicit order, with the
//! verifier after every stage and, with `--emit-ir DIR`, one dump per stage
//! (`NN-stage.ir`, the text printer's form, and `NN-stage.ron`).
//!
//! Order and why:
//! 1. `frontend` — tract's decluttered model lowered into the IR;
//! 2. `canonicalize` — division and mean in the forms the recognisers expect;
//! 3. `fold-constants` — public constant subexpressions evaluated once;
//! 4. `layer-norm`, 5. `gelu` — fused network operators (their protocols are cheaper than the
//!    arithmetic they replace);
//! 6. `softmax-bias` — the public attention-mask bias moved into the softmax;
//! 7. `dce` — what the fusions left dead, with unused parameters.
//!
//! Then `fixed-point-guard` checks the result (no dump: it changes nothing).
//!
//! The MPC-friendly substitutions the user asked for come next ([`SUBSTITUTION_STAGES`], each
//! only when its flag is given, in every mode): `gelu-relu` (`--gelu relu`), `layer-norm-affine`
//! (`--layernorm affine`) and `softmax-relu` (`--softmax relu`) replace the exact operator by
//! the one the model was fine-tuned with, so the mode's passes never see it.
//!
//! The mode's stages follow ([`apply_mode`]). In secformer mode: calibration (the plaintext
//! interpreter on sample inputs, no dump), then `quad-softmax`, `sec-layer-norm`,
//! `goldschmidt-div`, `puma-rsqrt` (square roots, and divisions whose calibrated range is too
//! wide for Goldschmidt in fixed point) and `sec-activations`, each replacing an exact operator by the protocol
//! node that approximates it. In PUMA mode ([`PUMA_STAGES`]), no calibration: `puma` (softmax,
//! GeLU and tanh) and `puma-rsqrt` (layer norm, square root, reciprocal and division by a
//! secret, by range reduction with comparisons against powers of two). `--mode exact` (used by
//! `secc reference MODEL.onnx`) keeps the exact operators.

use crate::error::{CompileError, PassError};
use crate::frontend::{self, ShapeRequest, WeightVisibility};
use crate::inputs::InputArrays;
use crate::passes;
use crate::passes::approximations::ApproxReport;
use secc_ir::verify::verify;
use secc_ir::{Program, Weights};
use std::path::{Path, PathBuf};

/// Which approximations replace the exact non-linear operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// SecFormer's protocols (2Quad softmax, Fourier GeLU, Goldschmidt layer norm and division),
    /// for models distilled for them.
    #[default]
    Secformer,
    /// PUMA's faithful approximations for stock models, without calibration: PUMA softmax,
    /// GeLU and tanh, range-reduced layer norm, square root, reciprocal and division.
    Puma,
    /// No replacement: the exact operators (the plaintext reference of the original model).
    Exact,
}

/// The mode and its calibration samples.
#[derive(Debug, Clone, Default)]
pub struct ModeOptions {
    pub mode: Mode,
    /// Sample inputs for calibration (file, arrays); synthetic samples when empty.
    pub calibration: Vec<(PathBuf, InputArrays)>,
    /// MPC-friendly substitutions applied before the mode's passes.
    pub substitutions: Substitutions,
}

/// Substitutions for models fine-tuned to be MPC-friendly (see [`SUBSTITUTION_STAGES`]); each
/// changes the model's function, so it is only right for a model trained with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Substitutions {
    /// `--gelu relu`: every GeLU becomes ReLU.
    pub gelu_relu: bool,
    /// `--layernorm affine`: layer norm without the division by the standard deviation.
    pub layer_norm_affine: bool,
    /// `--softmax relu`: relu(x) / sum relu(x) on the kept entries.
    pub softmax_relu: bool,
}

impl Mode {
    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Secformer => "secformer",
            Mode::Puma => "puma",
            Mode::Exact => "exact",
        }
    }
}

impl Substitutions {
    /// The command-line flags that ask for the chosen substitutions, in pipeline order.
    pub fn flags(self) -> Vec<&'static str> {
        [
            (self.gelu_relu, "--gelu relu"),
            (self.layer_norm_affine, "--layernorm affine"),
            (self.softmax_relu, "--softmax relu"),
        ]
        .iter()
        .filter(|c| c.0)
        .map(|c| c.1)
        .collect()
    }
}

/// What `secc compile` needs besides the model path.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub shapes: ShapeRequest,
    /// Learned initializers the user made public (all secret by default).
    pub weights: WeightVisibility,
    pub frac_bits: u32,
    /// Inputs declared public besides `attention_mask` (`--public-input`).
    pub public_inputs: Vec<String>,
    pub emit_ir: Option<PathBuf>,
    pub mode: ModeOptions,
}

/// A compiled program with what the mode's passes report.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub program: Program,
    pub weights: Weights,
    /// Each iterative approximation with its calibrated and valid ranges.
    pub approximations: Vec<ApproxReport>,
    /// Calibrated ranges the chosen parameters do not cover, and capped iteration counts.
    pub warnings: Vec<String>,
}

/// The stages the pipeline dumps, in order.
pub const STAGES: &[&str] = &[
    "frontend",
    passes::canonicalize::NAME,
    passes::fold_constants::NAME,
    passes::layer_norm::NAME,
    passes::gelu::NAME,
    passes::softmax_bias::NAME,
    passes::dce::NAME,
];

/// The substitution stages, in the order they run after [`STAGES`] (each only when asked for).
pub const SUBSTITUTION_STAGES: &[&str] = &[
    passes::gelu_relu::NAME,
    passes::layer_norm_affine::NAME,
    passes::softmax_relu::NAME,
];

/// The stages PUMA mode adds after [`STAGES`] and the substitutions, in order: PUMA's softmax,
/// GeLU and tanh, then the range-reduced layer norm, square root and division (no calibration).
pub const PUMA_STAGES: &[&str] = &[passes::puma::NAME, passes::puma_rsqrt::NAME];

/// The stages secformer mode adds after [`STAGES`] and the substitutions, in order.
pub const SECFORMER_STAGES: &[&str] = &[
    passes::quad_softmax::NAME,
    passes::sec_layer_norm::NAME,
    passes::goldschmidt_div::NAME,
    passes::puma_rsqrt::NAME,
    passes::sec_activations::NAME,
];

struct Stages<'a> {
    dump_dir: Option<&'a Path>,
    count: usize,
}

impl Stages<'_> {
    fn finish_stage(&mut self, name: &'static str, program: &Program) -> Result<(), CompileError> {
        verify(program).map_err(|e| PassError::Internal {
            pass: name,
            message: e.to_string(),
        })?;
        if let Some(dir) = self.dump_dir {
            let stem = dir.join(format!("{:02}-{name}", self.count));
            let dump_err = |e: String| CompileError::Dump {
                path: dir.to_owned(),
                message: e,
            };
            let ron = secc_ir::dump::to_ron(program).map_err(|e| dump_err(e.to_string()))?;
            std::fs::write(
                stem.with_extension("ir"),
                secc_ir::print::print_program(program),
            )
            .and_then(|_| std::fs::write(stem.with_extension("ron"), ron))
            .map_err(|e| dump_err(e.to_string()))?;
        }
        self.count += 1;
        Ok(())
    }
}

/// Runs the passes on a freshly lowered program.
pub fn run_passes(
    program: Program,
    weights: Weights,
    dump_dir: Option<&Path>,
) -> Result<(Program, Weights), CompileError> {
    if let Some(dir) = dump_dir {
        std::fs::create_dir_all(dir).map_err(|e| CompileError::Dump {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
    }
    let mut stages = Stages { dump_dir, count: 0 };
    stages.finish_stage("frontend", &program)?;
    let program = passes::canonicalize::run(&program)?;
    stages.finish_stage(passes::canonicalize::NAME, &program)?;
    let program = passes::fold_constants::run(&program)?;
    stages.finish_stage(passes::fold_constants::NAME, &program)?;
    let program = passes::layer_norm::run(&program)?;
    stages.finish_stage(passes::layer_norm::NAME, &program)?;
    let program = passes::gelu::run(&program)?;
    stages.finish_stage(passes::gelu::NAME, &program)?;
    let program = passes::softmax_bias::run(&program)?;
    stages.finish_stage(passes::softmax_bias::NAME, &program)?;
    let (program, weights) = passes::dce::run(&program, &weights)?;
    stages.finish_stage(passes::dce::NAME, &program)?;
    passes::fixed_point_guard::run(&program)?;
    Ok((program, weights))
}

/// The substitutions asked for, each a stage (verified, dumped) numbered from `stages.count`.
fn apply_substitutions(
    program: Program,
    substitutions: Substitutions,
    stages: &mut Stages,
) -> Result<Program, CompileError> {
    type Pass = fn(&Program) -> Result<Program, PassError>;
    let chosen: [(bool, &'static str, Pass); 3] = [
        (
            substitutions.gelu_relu,
            passes::gelu_relu::NAME,
            passes::gelu_relu::run,
        ),
        (
            substitutions.layer_norm_affine,
            passes::layer_norm_affine::NAME,
            passes::layer_norm_affine::run,
        ),
        (
            substitutions.softmax_relu,
            passes::softmax_relu::NAME,
            passes::softmax_relu::run,
        ),
    ];
    let mut program = program;
    for (_, name, pass) in chosen.into_iter().filter(|c| c.0) {
        program = pass(&program)?;
        stages.finish_stage(name, &program)?;
    }
    Ok(program)
}

/// The substitutions and the mode's stages after [`run_passes`] (see the module
/// documentation); dumps continue the numbering of [`STAGES`].
pub fn apply_mode(
    program: Program,
    weights: Weights,
    options: &ModeOptions,
    dump_dir: Option<&Path>,
) -> Result<Compiled, CompileError> {
    let mut stages = Stages {
        dump_dir,
        count: STAGES.len(),
    };
    let program = apply_substitutions(program, options.substitutions, &mut stages)?;
    let mut compiled = Compiled {
        program,
        weights,
        approximations: Vec::new(),
        warnings: Vec::new(),
    };
    if options.mode == Mode::Exact {
        return Ok(compiled);
    }
    if options.mode == Mode::Puma {
        // Nothing to calibrate: every approximation's parameters are static.
        let program = passes::puma::run(&compiled.program, &mut compiled.approximations)?;
        stages.finish_stage(passes::puma::NAME, &program)?;
        let program = passes::puma_rsqrt::run(&program, &mut compiled.approximations)?;
        stages.finish_stage(passes::puma_rsqrt::NAME, &program)?;
        compiled.program = program;
        if !options.calibration.is_empty() {
            compiled.warnings.push(
                "puma mode calibrates nothing: the --calibrate samples are not used".to_string(),
            );
        }
        return Ok(compiled);
    }
    let samples = if options.calibration.is_empty() {
        passes::calibrate::synthetic_samples(&compiled.program)
    } else {
        passes::calibrate::complete_samples(&compiled.program, &options.calibration).map_err(
            |e| PassError::Rejected {
                pass: passes::calibrate::NAME,
                node: "-".into(),
                origin: "calibration samples".into(),
                message: e.to_string(),
            },
        )?
    };
    let ranges = passes::calibrate::calibrate(&compiled.program, &compiled.weights, &samples)?;
    let reports = &mut compiled.approximations;
    // Node ids stay valid across these rewrites: each pass replaces nodes one for one.
    let program = passes::quad_softmax::run(&compiled.program, &ranges, reports)?;
    stages.finish_stage(passes::quad_softmax::NAME, &program)?;
    let program = passes::sec_layer_norm::run(&program, &ranges, reports)?;
    stages.finish_stage(passes::sec_layer_norm::NAME, &program)?;
    let program = passes::goldschmidt_div::run(&program, &ranges, reports)?;
    stages.finish_stage(passes::goldschmidt_div::NAME, &program)?;
    // What has no SecFormer protocol: square roots, and divisions by a secret whose range is
    // too wide for Goldschmidt in fixed point.
    let program = passes::puma_rsqrt::run(&program, reports)?;
    stages.finish_stage(passes::puma_rsqrt::NAME, &program)?;
    let program = passes::sec_activations::run(&program)?;
    stages.finish_stage(passes::sec_activations::NAME, &program)?;
    compiled.program = program;
    for report in &compiled.approximations {
        if !report.covers_calibration() {
            compiled.warnings.push(format!(
                "calibrated range exceeds what the chosen iterations cover: {report}"
            ));
        }
    }
    Ok(compiled)
}

/// Compiles an ONNX model into a verified IR program and its weights.
pub fn compile(model: &Path, options: &CompileOptions) -> Result<(Program, Weights), CompileError> {
    compile_with_report(model, options).map(|c| (c.program, c.weights))
}

/// Compiles an ONNX model, keeping the mode's report.
pub fn compile_with_report(
    model: &Path,
    options: &CompileOptions,
) -> Result<Compiled, CompileError> {
    let (program, weights) = frontend::import(
        model,
        &options.shapes,
        options.frac_bits,
        &options.public_inputs,
        &options.weights,
    )?;
    let dump = options.emit_ir.as_deref();
    let (program, weights) = run_passes(program, weights, dump)?;
    apply_mode(program, weights, &options.mode, dump)
}
