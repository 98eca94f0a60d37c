//! Reference compositions built only from LIR instructions: products with truncation,
//! MSB / comparison, bit injection (B2A), ReLU and select. Codegen emits its own versions; these
//! are the runtime's executable specification, tested against plaintext in runtime/tests.
//!
//! Costs (rounds in sequence; ring elements each party sends per element):
//! - secret product + truncation: 2 rounds (`TruncOpen`, `TruncFinish`) dealt by the builder's
//!   `dealer` (P2 unless set); from an Add3 source the two others send 2 and the dealer sends 4
//!   (1 to P(dealer+1), 3 to P(dealer+2)).
//! - secret product by an integer (bit) factor: 1 round (`Reshare`), 1 element each.
//! - msb: 8 rounds — one AND for the carry-save adder, one for the first generate, six
//!   Kogge-Stone levels (two ANDs each except the last) — 1 word per AND per party.
//! - msb_bounded (|x| < 2^(bits-1)): 2 + ceil(log2(bits - 2)) rounds, packed ANDs of the
//!   meaningful bits only (7 rounds and 115 bits per element for bits = 32); the circuit is the
//!   one codegen emits ([`secc_ir::circuits::msb_bounded`]).
//! - bit_to_arith: 2 product rounds; relu / select: msb + bit_to_arith + 1 product = 11 rounds.

use crate::builder::ProgramBuilder;
use secc_ir::circuits::{self, LirSink};
use secc_ir::lir::{CommInstr, LocalInstr, Reg, RegKind};

impl LirSink for ProgramBuilder {
    fn reg(&mut self, kind: RegKind, shape: &[usize], frac_bits: u32) -> Reg {
        ProgramBuilder::reg(self, kind, shape, frac_bits)
    }

    fn shape(&self, reg: Reg) -> Vec<usize> {
        ProgramBuilder::shape(self, reg)
    }

    fn local(&mut self, instr: LocalInstr) -> Reg {
        ProgramBuilder::local(self, instr)
    }

    fn comm(&mut self, instr: CommInstr) -> Reg {
        ProgramBuilder::comm(self, instr)
    }
}

/// Brings an Add3 of scale `frac` down by 2^`shift` to an Rss (a plain reshare if `shift` is 0).
pub fn settle(b: &mut ProgramBuilder, add3: Reg, shift: u32) -> Reg {
    let shape = b.shape(add3);
    let frac = b.frac(add3);
    if shift == 0 {
        let dst = b.reg(RegKind::Rss, &shape, frac);
        return b.comm(CommInstr::Reshare { dst, src: add3 });
    }
    truncate(b, add3, shift)
}

/// x / 2^shift for an Rss or Add3 source, dealt by `b.dealer`: two rounds.
pub fn truncate(b: &mut ProgramBuilder, src: Reg, shift: u32) -> Reg {
    let shape = b.shape(src);
    let frac = b.frac(src) - shift;
    let pending = b.reg(RegKind::Pending, &shape, frac);
    let dealer = b.dealer;
    b.comm(CommInstr::TruncOpen {
        dst: pending,
        src,
        shift,
        dealer,
    });
    b.close_stage();
    let dst = b.reg(RegKind::Rss, &shape, frac);
    let out = b.comm(CommInstr::TruncFinish {
        dst,
        src: pending,
        dealer,
    });
    b.close_stage();
    out
}

/// Element-wise product of two Rss, truncated back to the larger of the two scales.
pub fn mul(b: &mut ProgramBuilder, x: Reg, y: Reg) -> Reg {
    let shape =
        secc_ir::types::broadcast_shapes(&b.shape(x), &b.shape(y)).expect("mul operands broadcast");
    let (fx, fy) = (b.frac(x), b.frac(y));
    let dst = b.reg(RegKind::Add3, &shape, fx + fy);
    let add3 = b.local(LocalInstr::MulShares { dst, a: x, b: y });
    let out = settle(b, add3, fx.min(fy));
    b.close_stage();
    out
}

/// Batched matrix product of two Rss, truncated back to the larger scale.
pub fn matmul(b: &mut ProgramBuilder, x: Reg, y: Reg) -> Reg {
    let shape =
        secc_ir::types::matmul_shape(&b.shape(x), &b.shape(y)).expect("matmul operands fit");
    let (fx, fy) = (b.frac(x), b.frac(y));
    let dst = b.reg(RegKind::Add3, &shape, fx + fy);
    let add3 = b.local(LocalInstr::MatMulShares { dst, a: x, b: y });
    let out = settle(b, add3, fx.min(fy));
    b.close_stage();
    out
}

fn bool_op(b: &mut ProgramBuilder, shape: &[usize], make: impl FnOnce(Reg) -> LocalInstr) -> Reg {
    let dst = b.reg(RegKind::BoolRss, shape, 0);
    b.local(make(dst))
}

/// ANDs of several pairs in one round: every local part first, then every reshare, so the
/// steps share the stage.
fn ands(b: &mut ProgramBuilder, pairs: &[(Reg, Reg)]) -> Vec<Reg> {
    let locals: Vec<(Reg, Vec<usize>)> = pairs
        .iter()
        .map(|&(x, y)| {
            let shape = b.shape(x);
            let local = b.reg(RegKind::BoolAdd3, &shape, 0);
            b.local(LocalInstr::BoolAndLocal {
                dst: local,
                a: x,
                b: y,
            });
            (local, shape)
        })
        .collect();
    let out = locals
        .into_iter()
        .map(|(local, shape)| {
            let dst = b.reg(RegKind::BoolRss, &shape, 0);
            b.comm(CommInstr::ReshareBool { dst, src: local })
        })
        .collect();
    b.close_stage();
    out
}

/// Boolean sharing (words 0/1) of the most significant bit of an Rss: 8 rounds.
pub fn msb(b: &mut ProgramBuilder, x: Reg) -> Reg {
    let shape = b.shape(x);
    let w: Vec<Reg> = (0..3u8)
        .map(|component| {
            bool_op(b, &shape, |dst| LocalInstr::ComponentToBool {
                dst,
                src: x,
                component,
            })
        })
        .collect();
    // Carry-save adder: w0 + w1 + w2 = sum + (majority << 1), with
    // majority = ((w0 ^ w1) & (w1 ^ w2)) ^ w1 — one AND round.
    let w01 = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
        dst,
        a: w[0],
        b: w[1],
    });
    let w12 = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
        dst,
        a: w[1],
        b: w[2],
    });
    let sum = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
        dst,
        a: w01,
        b: w[2],
    });
    let both = ands(b, &[(w01, w12)])[0];
    let majority = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
        dst,
        a: both,
        b: w[1],
    });
    let carry = bool_op(b, &shape, |dst| LocalInstr::BoolShl {
        dst,
        a: majority,
        bits: 1,
    });
    // Kogge-Stone over (generate, propagate) of sum + carry. A group's generate and
    // propagate are never both 1, so the OR of the textbook recurrence is an XOR.
    let propagate0 = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
        dst,
        a: sum,
        b: carry,
    });
    let mut generate = ands(b, &[(sum, carry)])[0];
    let mut propagate = propagate0;
    let distances = [1u32, 2, 4, 8, 16, 32];
    for (level, &d) in distances.iter().enumerate() {
        let g_shifted = bool_op(b, &shape, |dst| LocalInstr::BoolShl {
            dst,
            a: generate,
            bits: d,
        });
        let last = level + 1 == distances.len();
        let p_shifted = (!last).then(|| {
            bool_op(b, &shape, |dst| LocalInstr::BoolShl {
                dst,
                a: propagate,
                bits: d,
            })
        });
        let mut pairs = vec![(propagate, g_shifted)];
        pairs.extend(p_shifted.map(|ps| (propagate, ps)));
        let anded = ands(b, &pairs);
        let (through, next_propagate) = (anded[0], anded.get(1).copied());
        generate = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
            dst,
            a: generate,
            b: through,
        });
        if let Some(p) = next_propagate {
            propagate = p;
        }
    }
    // Bit 63 of the sum = propagate0 bit 63 XOR the carry out of bits 0..62.
    let carry_in = bool_op(b, &shape, |dst| LocalInstr::BoolShl {
        dst,
        a: generate,
        bits: 1,
    });
    let top = bool_op(b, &shape, |dst| LocalInstr::BoolXor {
        dst,
        a: propagate0,
        b: carry_in,
    });
    bool_op(b, &shape, |dst| LocalInstr::BoolBit {
        dst,
        a: top,
        bit: 63,
    })
}

/// Boolean sharing (words 0/1) of the sign of an Rss whose ring value lies in
/// [-2^(bits-1), 2^(bits-1)), with bit-packed ANDs: 2 + ceil(log2(bits - 2)) rounds.
pub fn msb_bounded(b: &mut ProgramBuilder, x: Reg, bits: u32) -> Reg {
    let bit = circuits::msb_bounded(b, x, bits);
    b.close_stage();
    bit
}

/// a + c - 2ac: XOR of two arithmetic shares of bits (one product round, no truncation).
fn xor_bits(b: &mut ProgramBuilder, a: Reg, c: Reg) -> Reg {
    let shape = b.shape(a);
    let product = mul(b, a, c);
    let twice = b.reg(RegKind::Rss, &shape, 0);
    b.local(LocalInstr::MulInt {
        dst: twice,
        a: product,
        k: 2,
    });
    let sum = b.reg(RegKind::Rss, &shape, 0);
    b.local(LocalInstr::Add { dst: sum, a, b: c });
    let dst = b.reg(RegKind::Rss, &shape, 0);
    b.local(LocalInstr::Sub {
        dst,
        a: sum,
        b: twice,
    })
}

/// Arithmetic share (integer scale) of a boolean-shared bit: 2 rounds.
pub fn bit_to_arith(b: &mut ProgramBuilder, bit: Reg) -> Reg {
    let shape = b.shape(bit);
    let lifted: Vec<Reg> = (0..3u8)
        .map(|component| {
            let dst = b.reg(RegKind::Rss, &shape, 0);
            b.local(LocalInstr::BitComponentToArith {
                dst,
                src: bit,
                component,
            })
        })
        .collect();
    let a = xor_bits(b, lifted[0], lifted[1]);
    xor_bits(b, a, lifted[2])
}

/// Arithmetic share of [x < 0] (integer scale): msb then B2A, 10 rounds.
pub fn is_negative(b: &mut ProgramBuilder, x: Reg) -> Reg {
    let bit = msb(b, x);
    bit_to_arith(b, bit)
}

/// Arithmetic share of [x < y] for two Rss of the same scale (valid while |x - y| < 2^62).
pub fn less_than(b: &mut ProgramBuilder, x: Reg, y: Reg) -> Reg {
    let shape = secc_ir::types::broadcast_shapes(&b.shape(x), &b.shape(y))
        .expect("comparison operands broadcast");
    let diff = b.reg(RegKind::Rss, &shape, b.frac(x));
    b.local(LocalInstr::Sub {
        dst: diff,
        a: x,
        b: y,
    });
    is_negative(b, diff)
}

/// max(x, 0) = x - x [x < 0]: 11 rounds.
pub fn relu(b: &mut ProgramBuilder, x: Reg) -> Reg {
    let negative = is_negative(b, x);
    let masked = mul(b, x, negative);
    let dst = b.reg(RegKind::Rss, &b.shape(x), b.frac(x));
    b.local(LocalInstr::Sub {
        dst,
        a: x,
        b: masked,
    })
}

/// cond ? x : y for an arithmetic share of a bit `cond` (integer scale): y + cond (x - y), one
/// product round.
pub fn select(b: &mut ProgramBuilder, cond: Reg, x: Reg, y: Reg) -> Reg {
    let shape = b.shape(x);
    let diff = b.reg(RegKind::Rss, &shape, b.frac(x));
    b.local(LocalInstr::Sub {
        dst: diff,
        a: x,
        b: y,
    });
    let picked = mul(b, cond, diff);
    let dst = b.reg(RegKind::Rss, &shape, b.frac(x));
    b.local(LocalInstr::Add {
        dst,
        a: y,
        b: picked,
    })
}
