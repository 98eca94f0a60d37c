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

use crate::error::{CompileError, PassError};
use crate::frontend::{self, ShapeRequest};
use crate::passes;
use secc_ir::verify::verify;
use secc_ir::{Program, Weights};
use std::path::{Path, PathBuf};

/// What `secc compile` needs besides the model path.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub shapes: ShapeRequest,
    pub frac_bits: u32,
    pub emit_ir: Option<PathBuf>,
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

/// Compiles an ONNX model into a verified IR program and its weights.
pub fn compile(model: &Path, options: &CompileOptions) -> Result<(Program, Weights), CompileError> {
    let (program, weights) = frontend::import(model, &options.shapes, options.frac_bits)?;
    run_passes(program, weights, options.emit_ir.as_deref())
}
