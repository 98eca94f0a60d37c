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

    pub fn constant(&mut self, value: Tensor) -> Reg {
        self.consts.push(value.clone());
        let index = u32::try_from(self.consts.len() - 1).expect("fewer than 2^32 constants");
        let dst = self.reg(RegKind::Public, &value.shape, 0);
        self.local(LocalInstr::LoadConst { dst, index })
    }
}
