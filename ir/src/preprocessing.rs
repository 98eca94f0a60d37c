//! The offline/online split of a [`LowProgram`]: what the parties can compute and send before
//! the request (the client's input) arrives, and what is left for the online phase.
//!
//! Owns the dataflow analysis over registers and the split of every communication step's
//! payload, hence the static cost of each phase ([`phase_costs`]), which the runtime's
//! counters equal exactly.
//!
//! Definitions:
//! - A register is *input-dependent* when `LoadInput` or `LoadParam` writes it (the client's
//!   and the model owner's shares), or when an instruction, local or communication, that reads
//!   an input-dependent register writes it. Every other register is *input-independent*: its
//!   value is fixed by the program's constants (and, for shares, by the parties' seeds).
//! - A local instruction is *preprocessing* when it writes an input-independent register and
//!   reads only registers written by constants or by other preprocessing local instructions
//!   (no communication step among its ancestors): it can run before any round, in program
//!   order, and the online phase skips it.
//! - The *seed-only* words of a communication step ([`seed_only_elements`]) are the words of
//!   its payload that depend on nothing but the sender's seeds, the register's shape and the
//!   step's own constants: a dealer's correlated randomness. `TruncOpen`: the dealer's shares
//!   of (r_low >> shift) and msb(r) for opener O1 (2n words; r is the dealer's private mask).
//!   `FourierOpen`: the dealer's shares of cos(m theta_t), sin(m theta_t) for O1 (2 T n words;
//!   t comes from the dealer's two pairwise keys). They lead the step's payload (the online
//!   words follow them), so a step's payload is `seed-only ++ online`, as
//!   [`LowProgram::step_elements`] counts it.
//!
//! Invariants:
//! - Seed-only words never exceed a step's words; a step's online words are the difference.
//! - The seed-only words of all steps depend on no register, hence on no round: they travel in
//!   **one** preprocessing round (one message per link, steps in program order), and
//!   preprocessing bytes + online bytes = [`LowProgram::predicted_cost`] bytes, per party.
//! - Online rounds are the program's rounds (stages with communication): every dealer step
//!   still opens a masked value online.
//! - A communication step whose source is input-independent would be preprocessing too, but
//!   its result needs a round of its own; codegen emits none (every step reshares, truncates or
//!   opens a share derived from the client's or the owner's shares), so such steps are only
//!   counted ([`Split::independent_steps`]) and run online where they stand.

use crate::lir::{dealer_role, CommCost, CommInstr, LocalInstr, LowProgram, ELEMENT_BYTES};
use serde::{Deserialize, Serialize};

/// The analysis of one program.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Split {
    /// Per register: whether an input or parameter is among its ancestors.
    pub input_dependent: Vec<bool>,
    /// Per stage, per local instruction: whether it runs in the preprocessing phase.
    pub preprocessing_local: Vec<Vec<bool>>,
    /// Communication steps whose source is input-independent (run online; none expected).
    pub independent_steps: usize,
}

impl Split {
    /// Preprocessing local instructions in the whole program.
    pub fn preprocessing_locals(&self) -> usize {
        self.preprocessing_local
            .iter()
            .map(|s| s.iter().filter(|&&p| p).count())
            .sum()
    }
}

/// The dataflow analysis (one pass in program order: instructions read only earlier writes).
/// Registers out of range are treated as input-dependent (the runtime's program check reports
/// them).
pub fn analyse(program: &LowProgram) -> Split {
    let n = program.regs.len();
    let mut dependent = vec![false; n];
    // Written by a constant or a preprocessing local instruction (no round among its ancestors).
    let mut early = vec![false; n];
    let is = |flags: &[bool], r: crate::lir::Reg| flags.get(r.0 as usize).copied();
    let mut preprocessing_local = Vec::with_capacity(program.stages.len());
    let mut independent_steps = 0;
    for stage in &program.stages {
        let mut marks = Vec::with_capacity(stage.local.len());
        for instr in &stage.local {
            let reads = instr.reads();
            let dep = match instr {
                LocalInstr::LoadInput { .. } | LocalInstr::LoadParam { .. } => true,
                _ => reads.iter().any(|&r| is(&dependent, r).unwrap_or(true)),
            };
            let pre = !dep && reads.iter().all(|&r| is(&early, r).unwrap_or(false));
            if let Some(d) = dependent.get_mut(instr.dst().0 as usize) {
                *d = dep;
            }
            if let Some(e) = early.get_mut(instr.dst().0 as usize) {
                *e = pre;
            }
            marks.push(pre);
        }
        preprocessing_local.push(marks);
        for step in &stage.comm {
            let dep = is(&dependent, step.src()).unwrap_or(true);
            if !dep {
                independent_steps += 1;
            }
            if let Some(d) = dependent.get_mut(step.dst().0 as usize) {
                *d = dep;
            }
        }
    }
    Split {
        input_dependent: dependent,
        preprocessing_local,
        independent_steps,
    }
}

/// Seed-only words (see the module documentation) party `from` sends party `to` for one step;
/// they lead the step's payload of [`LowProgram::step_elements`].
pub fn seed_only_elements(program: &LowProgram, step: &CommInstr, from: usize, to: usize) -> u64 {
    match step {
        CommInstr::TruncOpen { src, dealer, .. } => {
            match (dealer_role(from, *dealer), dealer_role(to, *dealer)) {
                (2, 1) => 2 * program.elements(*src),
                _ => 0,
            }
        }
        CommInstr::FourierOpen {
            src,
            coefficients,
            dealer,
            ..
        } => match (dealer_role(from, *dealer), dealer_role(to, *dealer)) {
            (2, 1) => 2 * coefficients.len() as u64 * program.elements(*src),
            _ => 0,
        },
        CommInstr::Reshare { .. }
        | CommInstr::ReshareBool { .. }
        | CommInstr::ReshareBoolPacked { .. }
        | CommInstr::TruncFinish { .. } => 0,
    }
}

/// Online words party `from` sends party `to` for one step (the rest of its payload).
pub fn online_elements(program: &LowProgram, step: &CommInstr, from: usize, to: usize) -> u64 {
    program.step_elements(step, from, to) - seed_only_elements(program, step, from, to)
}

/// Rounds and bytes of the two phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PhaseCosts {
    pub preprocessing: CommCost,
    pub online: CommCost,
}

/// The static cost of each phase, as the runtime's counters will measure it.
pub fn phase_costs(program: &LowProgram) -> PhaseCosts {
    let mut costs = PhaseCosts::default();
    for stage in &program.stages {
        costs.online.rounds += u64::from(!stage.comm.is_empty());
        for step in &stage.comm {
            for from in 0..3 {
                for to in (0..3).filter(|&t| t != from) {
                    let pre = seed_only_elements(program, step, from, to);
                    let all = program.step_elements(step, from, to);
                    costs.preprocessing.bytes_sent[from] += ELEMENT_BYTES * pre;
                    costs.online.bytes_sent[from] += ELEMENT_BYTES * (all - pre);
                }
            }
        }
    }
    costs.preprocessing.rounds = u64::from(costs.preprocessing.bytes_sent.iter().any(|&b| b > 0));
    costs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lir::{LowInput, Reg};
    use crate::lir::{RegDecl, RegKind, Stage};

    fn reg(kind: RegKind, n: usize) -> RegDecl {
        RegDecl {
            kind,
            shape: vec![n],
            frac_bits: 8,
        }
    }

    /// x (input, Rss) + encoded constant, truncated with dealer P2, then a Fourier opening.
    fn program() -> LowProgram {
        let regs = vec![
            reg(RegKind::Rss, 4),     // r0 input
            reg(RegKind::Public, 4),  // r1 constant
            reg(RegKind::Ring, 4),    // r2 encoded constant
            reg(RegKind::Rss, 4),     // r3 x + c
            reg(RegKind::Pending, 4), // r4 truncation open
            reg(RegKind::Rss, 4),     // r5 truncated
            reg(RegKind::Pending, 4), // r6 Fourier open
        ];
        LowProgram {
            frac_bits: 8,
            regs,
            consts: vec![],
            inputs: vec![LowInput {
                name: "x".into(),
                shape: vec![4],
                form: crate::lir::InputForm::Secret { frac_bits: 8 },
            }],
            params: vec![],
            outputs: vec![],
            stages: vec![
                Stage {
                    local: vec![
                        LocalInstr::LoadInput {
                            dst: Reg(0),
                            input: 0,
                        },
                        LocalInstr::LoadConst {
                            dst: Reg(1),
                            index: 0,
                        },
                        LocalInstr::Encode {
                            dst: Reg(2),
                            src: Reg(1),
                            frac_bits: 8,
                        },
                        LocalInstr::Add {
                            dst: Reg(3),
                            a: Reg(0),
                            b: Reg(2),
                        },
                    ],
                    comm: vec![CommInstr::TruncOpen {
                        dst: Reg(4),
                        src: Reg(3),
                        shift: 4,
                        dealer: 2,
                    }],
                    comm_sources: vec![],
                },
                Stage {
                    local: vec![],
                    comm: vec![CommInstr::TruncFinish {
                        dst: Reg(5),
                        src: Reg(4),
                        dealer: 2,
                    }],
                    comm_sources: vec![],
                },
                Stage {
                    local: vec![],
                    comm: vec![CommInstr::FourierOpen {
                        dst: Reg(6),
                        src: Reg(5),
                        period_bits: 3,
                        coefficients: vec![1.0, 0.5, 0.25],
                        dealer: 0,
                    }],
                    comm_sources: vec![],
                },
            ],
        }
    }

    #[test]
    fn constants_are_preprocessing_and_inputs_taint_their_descendants() {
        let split = analyse(&program());
        assert_eq!(
            split.input_dependent,
            vec![true, false, false, true, true, true, true]
        );
        assert_eq!(split.preprocessing_local[0], vec![false, true, true, false]);
        assert_eq!(split.preprocessing_locals(), 2);
        assert_eq!(split.independent_steps, 0);
    }

    #[test]
    fn dealer_randomness_is_seed_only_and_the_phases_add_up() {
        let p = program();
        let costs = phase_costs(&p);
        // TruncOpen, dealer P2 -> O1 = P1: 2 x 4 seed-only words. FourierOpen, dealer P0 ->
        // O1 = P2: 2 x 3 x 4.
        assert_eq!(costs.preprocessing.rounds, 1);
        assert_eq!(costs.preprocessing.bytes_sent, [8 * 24, 0, 8 * 8]);
        assert_eq!(costs.online.rounds, 3);
        let total = p.predicted_cost();
        for i in 0..3 {
            assert_eq!(
                costs.preprocessing.bytes_sent[i] + costs.online.bytes_sent[i],
                total.bytes_sent[i]
            );
        }
        // The dealer of the truncation still sends its masked component online.
        assert_eq!(online_elements(&p, &p.stages[0].comm[0], 2, 1), 4);
        assert_eq!(online_elements(&p, &p.stages[2].comm[0], 0, 2), 0);
    }
}
