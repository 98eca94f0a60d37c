//! Round batching: assigns every instruction to the earliest stage its operands allow.
//!
//! A register written by a local instruction is available in the stage of that instruction; one
//! written by a communication step of stage k is available from stage k + 1. A communication
//! step runs in the stage where its source becomes available, so independent steps (Q/K/V
//! projections, the per-head work, both halves of a comparison) share one round. Local
//! instructions keep their emission order inside a stage, which preserves dependencies.

use super::emit::Emitted;
use secc_ir::lir::{RegDecl, Stage};

/// Groups emitted instructions into stages, as few rounds as the dependencies permit.
pub fn schedule(regs: &[RegDecl], instrs: Vec<Emitted>) -> Vec<Stage> {
    let mut available = vec![0usize; regs.len()];
    let mut stages: Vec<Stage> = Vec::new();
    let ensure = |stages: &mut Vec<Stage>, k: usize| {
        while stages.len() <= k {
            stages.push(Stage::default());
        }
    };
    for instr in instrs {
        match instr {
            Emitted::Local(local) => {
                let k = local
                    .reads()
                    .iter()
                    .map(|r| available[r.0 as usize])
                    .max()
                    .unwrap_or(0);
                available[local.dst().0 as usize] = k;
                ensure(&mut stages, k);
                stages[k].local.push(local);
            }
            Emitted::Comm(step, source) => {
                let k = available[step.src().0 as usize];
                available[step.dst().0 as usize] = k + 1;
                ensure(&mut stages, k);
                stages[k].comm.push(step);
                stages[k].comm_sources.push(source);
            }
        }
    }
    // Outputs read registers at the end; a trailing stage is needed when the last step's result
    // has no local consumer, and it has no communication, so it adds no round.
    stages
}
