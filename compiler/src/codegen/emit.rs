//! The instruction emitter: allocates registers and records instructions in dependency order,
//! each tagged with the IR operator and ONNX node it serves. Scheduling into rounds happens
//! afterwards ([`super::schedule`]).

use secc_ir::lir::{CommInstr, LocalInstr, Reg, RegDecl, RegKind};
use secc_ir::Tensor;

/// One emitted instruction, before scheduling.
#[derive(Debug, Clone)]
pub enum Emitted {
    Local(LocalInstr),
    Comm(CommInstr, String),
}

/// Collects registers, constants and instructions.
#[derive(Debug, Default)]
pub struct Emitter {
    pub regs: Vec<RegDecl>,
    pub consts: Vec<Tensor>,
    pub instrs: Vec<Emitted>,
    /// `"<op> @ <origin>"` of the IR node being lowered.
    pub source: String,
    /// Ring elements each party sends in the dealer steps emitted so far (see [`Self::dealer`]).
    pub dealer_load: [u64; 3],
    /// Dealer steps emitted so far (the rotation that breaks ties).
    pub dealer_steps: u64,
}

impl Emitter {
    pub fn reg(&mut self, kind: RegKind, shape: &[usize], frac_bits: u32) -> Reg {
        self.regs.push(RegDecl {
            kind,
            shape: shape.to_vec(),
            frac_bits,
        });
        Reg(u32::try_from(self.regs.len() - 1).expect("fewer than 2^32 registers"))
    }

    pub fn decl(&self, reg: Reg) -> &RegDecl {
        &self.regs[reg.0 as usize]
    }

    pub fn shape(&self, reg: Reg) -> Vec<usize> {
        self.decl(reg).shape.clone()
    }

    pub fn frac(&self, reg: Reg) -> u32 {
        self.decl(reg).frac_bits
    }

    pub fn local(&mut self, instr: LocalInstr) -> Reg {
        let dst = instr.dst();
        self.instrs.push(Emitted::Local(instr));
        dst
    }

    pub fn comm(&mut self, instr: CommInstr) -> Reg {
        let dst = instr.dst();
        self.instrs.push(Emitted::Comm(instr, self.source.clone()));
        dst
    }

    /// Picks the dealer of a dealer protocol (truncation, Fourier opening) whose dealer sends
    /// `dealer_elements` and each of the two other parties `other_elements` ring elements in
    /// all (both of its steps), and records that load. The dealer sends more, so it is the
    /// party with the least load so far; ties go round the rotation P2, P0, P1 by step count, so
    /// consecutive equal steps (which the scheduler often puts into one round) take turns and
    /// every party deals a third of the time, and a program with one dealer step keeps P2.
    /// Balances the parties' totals whatever the sizes.
    pub fn dealer(&mut self, dealer_elements: u64, other_elements: u64) -> u8 {
        let start = ((self.dealer_steps + 2) % 3) as usize;
        let dealer = (0..3)
            .map(|k| (start + k) % 3)
            .min_by_key(|&p| self.dealer_load[p])
            .unwrap_or(start);
        for (p, load) in self.dealer_load.iter_mut().enumerate() {
            *load += if p == dealer {
                dealer_elements
            } else {
                other_elements
            };
        }
        self.dealer_steps += 1;
        dealer as u8
    }

    pub fn constant(&mut self, value: Tensor) -> Reg {
        self.consts.push(value.clone());
        let index = u32::try_from(self.consts.len() - 1).expect("fewer than 2^32 constants");
        let dst = self.reg(RegKind::Public, &value.shape, 0);
        self.local(LocalInstr::LoadConst { dst, index })
    }
}
