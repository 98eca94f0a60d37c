//! Codegen: lowers a verified IR program into the low-level protocol program ([`secc_ir::lir`]).
//!
//! Owns protocol selection per IR node ([`lower`], which dispatches each operator to its
//! family's lowering), the protocols composed from single steps ([`protocols`], one file per
//! protocol family), the instruction emitter ([`emit`]), round batching ([`schedule`]) and the
//! static cost report ([`cost`]).
//! Invariant of its output: every instruction is local or exactly one communication step, every
//! register is written once before it is read, and [`secc_ir::lir::LowProgram::predicted_cost`]
//! is the cost the runtime measures.

pub mod cost;
pub mod emit;
pub mod lower;
pub mod protocols;
pub mod schedule;

use secc_ir::lir::LowProgram;
use secc_ir::prologue::Partition;
use secc_ir::Program;

/// Why a program could not be lowered.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// The input uses an operator on secret values that no protocol of this mode implements.
    #[error("ONNX node '{node}' ({op}): {reason}")]
    NoProtocol {
        node: String,
        op: &'static str,
        reason: String,
    },
    /// A protocol node's attributes are outside what its protocol implements (an IR program
    /// written by hand or by a buggy pass).
    #[error("ONNX node '{node}' ({op}): {reason}")]
    BadAttribute {
        node: String,
        op: &'static str,
        reason: String,
    },
    /// The program given to codegen is not valid IR: a compiler bug.
    #[error("internal error: codegen received an invalid program: {0}")]
    Invalid(#[from] secc_ir::verify::VerifyError),
}

/// Lowers and schedules the parties' part of `program`; the client's prologue
/// ([`secc_ir::prologue`]) is left to the client.
pub fn generate(program: &Program) -> Result<LowProgram, CodegenError> {
    generate_split(program, Partition::of(program))
}

/// Lowers and schedules all of `program` between the parties, its inputs shared as they are
/// ([`Partition::inputs_only`]): how the protocol tests run whole programs that read no
/// parameter (which would otherwise be the client's prologue entirely).
pub fn generate_in_mpc(program: &Program) -> Result<LowProgram, CodegenError> {
    generate_split(program, Partition::inputs_only(program))
}

fn generate_split(program: &Program, partition: Partition) -> Result<LowProgram, CodegenError> {
    let facts = secc_ir::verify::verify(program)?;
    let mut lowering = lower::Lowering::new(program, partition);
    lowering.run(&facts.live)?;
    let lower::Lowering {
        e,
        inputs,
        params,
        outputs,
        ..
    } = lowering;
    let stages = schedule::schedule(&e.regs, e.instrs);
    Ok(LowProgram {
        frac_bits: program.frac_bits,
        regs: e.regs,
        consts: e.consts,
        inputs,
        params,
        outputs,
        stages,
    })
}
