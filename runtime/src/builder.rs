//! A small builder of low-level programs, for tests, benches and the reference compositions in
//! `protocols::compose`. Codegen has its own emitter and scheduler; this one only appends.
//!
//! Stage rule: a local instruction goes into the open stage unless that stage already has a
//! communication step (whose result is visible only after the round), in which case it opens
//! a new stage. Communication steps join the open stage, so steps issued back to back with no
//! local work between them share one round.

use secc_ir::lir::{
    CommInstr, InputForm, LocalInstr, LowInput, LowOutput, LowParam, LowProgram, Reg, RegDecl,
    RegKind, Stage,
};
use secc_ir::Tensor;

pub struct ProgramBuilder {
    program: LowProgram,
    open: Stage,
    /// The dealer the reference compositions give their truncations (P2 unless set).
    pub dealer: u8,
}

impl ProgramBuilder {
    pub fn new(frac_bits: u32) -> Self {
        ProgramBuilder {
            program: LowProgram {
                frac_bits,
                ..Default::default()
            },
            open: Stage::default(),
            dealer: 2,
        }
    }

    pub fn frac_bits(&self) -> u32 {
        self.program.frac_bits
    }

    pub fn reg(&mut self, kind: RegKind, shape: &[usize], frac_bits: u32) -> Reg {
        self.program.regs.push(RegDecl {
            kind,
            shape: shape.to_vec(),
            frac_bits,
        });
        Reg(self.program.regs.len() as u32 - 1)
    }

    pub fn shape(&self, reg: Reg) -> Vec<usize> {
        self.program.regs[reg.0 as usize].shape.clone()
    }

    pub fn frac(&self, reg: Reg) -> u32 {
        self.program.regs[reg.0 as usize].frac_bits
    }

    pub fn local(&mut self, instr: LocalInstr) -> Reg {
        if !self.open.comm.is_empty() {
            self.close_stage();
        }
        let dst = instr.dst();
        self.open.local.push(instr);
        dst
    }

    pub fn comm(&mut self, instr: CommInstr) -> Reg {
        let dst = instr.dst();
        self.open.comm.push(instr);
        dst
    }

    /// Ends the open stage (a later communication step then gets a round of its own).
    pub fn close_stage(&mut self) {
        if !self.open.local.is_empty() || !self.open.comm.is_empty() {
            let stage = std::mem::take(&mut self.open);
            self.program.stages.push(stage);
        }
    }

    /// A client input and the register loading it (Rss for secret and one-hot forms).
    pub fn input(&mut self, name: &str, shape: &[usize], form: InputForm) -> Reg {
        let (kind, reg_shape, frac) = match &form {
            InputForm::Secret { frac_bits } => (RegKind::Rss, shape.to_vec(), *frac_bits),
            InputForm::Public => (RegKind::Public, shape.to_vec(), 0),
            InputForm::OneHot { vocab } => {
                let mut s = shape.to_vec();
                s.push(*vocab);
                (RegKind::Rss, s, 0)
            }
        };
        self.program.inputs.push(LowInput {
            name: name.to_string(),
            shape: shape.to_vec(),
            form,
        });
        let input = self.program.inputs.len() as u32 - 1;
        let dst = self.reg(kind, &reg_shape, frac);
        self.local(LocalInstr::LoadInput { dst, input })
    }

    /// A model-owner parameter and the register loading this party's share of it.
    pub fn param(&mut self, name: &str, shape: &[usize], frac_bits: u32) -> Reg {
        self.program.params.push(LowParam {
            name: name.to_string(),
            shape: shape.to_vec(),
            frac_bits,
        });
        let param = self.program.params.len() as u32 - 1;
        let dst = self.reg(RegKind::Rss, shape, frac_bits);
        self.local(LocalInstr::LoadParam { dst, param })
    }

    /// A public constant as a Public register.
    pub fn constant(&mut self, value: Tensor) -> Reg {
        let shape = value.shape.clone();
        self.program.consts.push(value);
        let index = self.program.consts.len() as u32 - 1;
        let dst = self.reg(RegKind::Public, &shape, 0);
        self.local(LocalInstr::LoadConst { dst, index })
    }

    /// A public constant encoded in the ring with `frac_bits` fraction bits.
    pub fn ring_constant(&mut self, value: Tensor, frac_bits: u32) -> Reg {
        let shape = value.shape.clone();
        let public = self.constant(value);
        let dst = self.reg(RegKind::Ring, &shape, frac_bits);
        self.local(LocalInstr::Encode {
            dst,
            src: public,
            frac_bits,
        })
    }

    pub fn output(&mut self, name: &str, reg: Reg) {
        let frac_bits = self.frac(reg);
        self.program.outputs.push(LowOutput {
            name: name.to_string(),
            reg,
            frac_bits,
        });
    }

    pub fn finish(mut self) -> LowProgram {
        self.close_stage();
        self.program
    }
}

/// A complete example program file for tests and demonstrations: y = x * w + x for a secret
/// 2 x 3 client input `x` and a secret 2 x 3 parameter `w` (one truncated product, two rounds,
/// then a local addition), with the owner's weights [0.5, -1.5, 2.0, 0.0, 3.25, -0.125].
/// `label` names the IR program, so different labels give different program hashes.
pub fn example_product_program(label: &str) -> secc_ir::bytecode::Container {
    use secc_ir::lir::{CommInstr, InputForm, LocalInstr, RegKind};
    let mut b = ProgramBuilder::new(16);
    let x = b.input("x", &[2, 3], InputForm::Secret { frac_bits: 16 });
    let w = b.param("w", &[2, 3], 16);
    let product = b.reg(RegKind::Add3, &[2, 3], 32);
    b.local(LocalInstr::MulShares {
        dst: product,
        a: x,
        b: w,
    });
    let pending = b.reg(RegKind::Pending, &[2, 3], 16);
    b.comm(CommInstr::TruncOpen {
        dst: pending,
        src: product,
        shift: 16,
        dealer: 2,
    });
    b.close_stage();
    let truncated = b.reg(RegKind::Rss, &[2, 3], 16);
    b.comm(CommInstr::TruncFinish {
        dst: truncated,
        src: pending,
        dealer: 2,
    });
    let y = b.reg(RegKind::Rss, &[2, 3], 16);
    b.local(LocalInstr::Add {
        dst: y,
        a: truncated,
        b: x,
    });
    b.output("y", y);
    // The IR program the low-level one implements: the client reads the container's IR for
    // its prologue (none here: it sends x as it is) and the order of the outputs.
    let mut program = secc_ir::Program::new(label, 16);
    let ir_x = program.add_input(
        "x",
        secc_ir::InputRole::Client,
        vec![2, 3],
        secc_ir::Encoding::Fixed,
    );
    let ir_w = program.add_param("w", vec![2, 3]);
    let ir_xw = program
        .push(secc_ir::Op::Mul, vec![ir_x, ir_w], "mul")
        .expect("x * w types");
    let ir_y = program
        .push(secc_ir::Op::Add, vec![ir_xw, ir_x], "add")
        .expect("x * w + x types");
    program.add_output("y", ir_y);
    secc_ir::bytecode::Container {
        program,
        low: b.finish(),
        weights: Some(secc_ir::Weights {
            tensors: vec![secc_ir::Tensor::new(
                vec![2, 3],
                secc_ir::Encoding::Fixed,
                vec![0.5, -1.5, 2.0, 0.0, 3.25, -0.125],
            )],
        }),
    }
}
