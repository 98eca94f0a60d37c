//! Comparisons: the sign bit of a share by boolean circuits, its injection back into the
//! arithmetic ring, and what is built from them: ReLU, comparison with a public constant, the
//! maximum along an axis by a comparison tree, and the selection of a piecewise function's
//! segment by 0/1 indicators.
//!
//! Invariants: [`msb`] is exact for every ring element; [`msb_bounded`] and everything built
//! on it ([`less_than_constant`], [`max_tree`]) are exact only while the compared value fits
//! the stated bound (`COMPARE_INT_BITS` integer bits beyond the fraction bits). A secret cannot
//! be range-checked at run time, so each caller states the bound it relies on (and
//! docs/protocols.md repeats it). Indicators are integer shares (scale 0) of 0 or 1.
//!
//! Security: the boolean circuits open nothing; each AND ends in a reshare of a fresh boolean
//! zero sharing, and bit injection is products of shares. A comparison's result stays a share.
//!
//! Costs per element (rounds in sequence, ring elements sent by P0/P1/P2):
//! - msb: 8 rounds (carry-save AND, generate AND, six Kogge-Stone levels), 13 words.
//! - msb_bounded (value known to fit in `bits` bits): 2 + ceil(log2(bits - 2)) rounds, each
//!   AND packed to its meaningful bits; for bits = 32, 7 rounds and 115 bits (1.8 words).
//! - bit injection: 2 rounds; ReLU = msb + injection + 1 product round = 11 rounds.
//! - less_than_constant: the bounded msb and bit injection, 9 rounds at F = 16.

use super::arith::{broadcast, mul_shares, product, ring_scalar, settle_product, sub};
use crate::codegen::emit::Emitter;
use secc_ir::circuits::{self, LirSink};
use secc_ir::lir::{CommInstr, LocalInstr, Reg, RegKind};

impl LirSink for Emitter {
    fn reg(&mut self, kind: RegKind, shape: &[usize], frac_bits: u32) -> Reg {
        Emitter::reg(self, kind, shape, frac_bits)
    }

    fn shape(&self, reg: Reg) -> Vec<usize> {
        Emitter::shape(self, reg)
    }

    fn local(&mut self, instr: LocalInstr) -> Reg {
        Emitter::local(self, instr)
    }

    fn comm(&mut self, instr: CommInstr) -> Reg {
        Emitter::comm(self, instr)
    }
}

/// Integer bits (sign included) a comparison operand may use beyond its fraction bits: the
/// bounded comparisons of SecGelu and SecTanh are exact for |x - c| < 2^(COMPARE_INT_BITS - 1)
/// = 32768 in real terms.
pub const COMPARE_INT_BITS: u32 = 16;

fn bool_reg(e: &mut Emitter, shape: &[usize]) -> Reg {
    e.reg(RegKind::BoolRss, shape, 0)
}

fn xor(e: &mut Emitter, a: Reg, b: Reg) -> Reg {
    let shape = e.shape(a);
    let dst = bool_reg(e, &shape);
    e.local(LocalInstr::BoolXor { dst, a, b })
}

fn shl(e: &mut Emitter, a: Reg, bits: u32) -> Reg {
    let shape = e.shape(a);
    let dst = bool_reg(e, &shape);
    e.local(LocalInstr::BoolShl { dst, a, bits })
}

fn and(e: &mut Emitter, a: Reg, b: Reg) -> Reg {
    let shape = e.shape(a);
    let local = e.reg(RegKind::BoolAdd3, &shape, 0);
    e.local(LocalInstr::BoolAndLocal { dst: local, a, b });
    let dst = bool_reg(e, &shape);
    e.comm(CommInstr::ReshareBool { dst, src: local })
}

/// Boolean sharing (words 0 or 1) of the sign bit of an Rss share.
pub fn msb(e: &mut Emitter, x: Reg) -> Reg {
    let shape = e.shape(x);
    let parts: Vec<Reg> = (0..3u8)
        .map(|component| {
            let dst = bool_reg(e, &shape);
            e.local(LocalInstr::ComponentToBool {
                dst,
                src: x,
                component,
            })
        })
        .collect();
    // Carry-save adder: x0 + x1 + x2 = s + c with s the XOR and c the shifted majority.
    let t0 = xor(e, parts[0], parts[2]);
    let t1 = xor(e, parts[1], parts[2]);
    let m = and(e, t0, t1);
    let majority = xor(e, m, parts[2]);
    let c = shl(e, majority, 1);
    let s01 = xor(e, parts[0], parts[1]);
    let s = xor(e, s01, parts[2]);
    // Kogge-Stone prefix over (generate, propagate); generate and propagate of one group are
    // never both set, so OR is XOR.
    let p0 = xor(e, s, c);
    let mut g = and(e, s, c);
    let mut p = p0;
    let levels = [1u32, 2, 4, 8, 16, 32];
    for (i, &d) in levels.iter().enumerate() {
        let g_shift = shl(e, g, d);
        let through = and(e, p, g_shift);
        if i + 1 < levels.len() {
            let p_shift = shl(e, p, d);
            p = and(e, p, p_shift);
        }
        g = xor(e, g, through);
    }
    // Sum bit 63 = propagate bit 63 XOR carry out of bits 0..62.
    let carry = shl(e, g, 1);
    let top = xor(e, p0, carry);
    let dst = bool_reg(e, &shape);
    e.local(LocalInstr::BoolBit {
        dst,
        a: top,
        bit: 63,
    })
}

/// Boolean sharing (words 0 or 1) of the sign bit of an Rss share whose ring value is known
/// to lie in [-2^(bits-1), 2^(bits-1)): the carry-save adder and a carry tree on the low `bits`
/// bits of the components (equivalently the top bits of x 2^(64-bits), whose low bits are zero
/// and carry nothing), with bit-packed ANDs (see [`secc_ir::circuits::msb_bounded`]).
/// 2 + ceil(log2(bits - 2)) rounds. Outside the range the result is not the sign: a secret
/// cannot be range-checked at run time, so the caller states the bound.
pub fn msb_bounded(e: &mut Emitter, x: Reg, bits: u32) -> Reg {
    circuits::msb_bounded(e, x, bits)
}

/// Arithmetic share (integer scale) of a boolean-shared bit b = b0 ^ b1 ^ b2.
pub fn bit_to_arith(e: &mut Emitter, bit: Reg) -> Reg {
    let shape = e.shape(bit);
    let lifted: Vec<Reg> = (0..3u8)
        .map(|component| {
            let dst = e.reg(RegKind::Rss, &shape, 0);
            e.local(LocalInstr::BitComponentToArith {
                dst,
                src: bit,
                component,
            })
        })
        .collect();
    let a = xor_arith(e, lifted[0], lifted[1], &shape);
    xor_arith(e, a, lifted[2], &shape)
}

/// a XOR b for arithmetic shares of bits: a + b - 2ab.
fn xor_arith(e: &mut Emitter, a: Reg, b: Reg, shape: &[usize]) -> Reg {
    let ab = mul_shares(e, a, b, shape);
    let twice = e.reg(RegKind::Rss, shape, 0);
    e.local(LocalInstr::MulInt {
        dst: twice,
        a: ab,
        k: 2,
    });
    let sum = e.reg(RegKind::Rss, shape, 0);
    e.local(LocalInstr::Add { dst: sum, a, b });
    let dst = e.reg(RegKind::Rss, shape, 0);
    e.local(LocalInstr::Sub {
        dst,
        a: sum,
        b: twice,
    })
}

/// max(x, 0) = x - x * msb(x).
pub fn relu(e: &mut Emitter, x: Reg) -> Reg {
    let shape = e.shape(x);
    let sign = msb(e, x);
    let negative = bit_to_arith(e, sign);
    let masked = mul_shares(e, x, negative, &shape);
    let dst = e.reg(RegKind::Rss, &shape, e.frac(x));
    e.local(LocalInstr::Sub {
        dst,
        a: x,
        b: masked,
    })
}

/// Integer share of [x < c] for a public constant c: the sign of x - c, by the bounded MSB on
/// frac + 16 bits (`COMPARE_INT_BITS`), 7 rounds and 115 packed bits per element at F = 16,
/// then bit injection (2 rounds).
///
/// Valid range: exact while |x - c| < 2^15 = 32768 in real terms, i.e. for GeLU and tanh
/// inputs (|c| <= 4) with |x| < 32764; outside it the result is not the comparison. A secret
/// cannot be range-checked at run time: the bound is stated here and in docs/protocols.md.
pub fn less_than_constant(e: &mut Emitter, x: Reg, c: f64) -> Reg {
    let frac = e.frac(x);
    let threshold = ring_scalar(e, c, frac);
    let diff = sub(e, x, threshold);
    let bit = msb_bounded(e, diff, (frac + COMPARE_INT_BITS).min(64));
    bit_to_arith(e, bit)
}

/// sum_k value_k * indicator_k for 0/1 integer indicators of disjoint segments: the products
/// are exact Add3s at the values' scale, summed before one reshare (1 round). A value outside
/// its segment may have wrapped around the ring; it is multiplied by an exact 0 there.
pub(super) fn select_segments(e: &mut Emitter, parts: &[(Reg, Reg)]) -> Reg {
    let mut sum: Option<Reg> = None;
    for &(value, indicator) in parts {
        let shape = broadcast(e, value, indicator);
        let part = e.reg(RegKind::Add3, &shape, e.frac(value));
        e.local(LocalInstr::MulShares {
            dst: part,
            a: value,
            b: indicator,
        });
        sum = Some(match sum {
            None => part,
            Some(acc) => {
                let dst = e.reg(RegKind::Add3, &shape, e.frac(value));
                e.local(LocalInstr::Add {
                    dst,
                    a: acc,
                    b: part,
                })
            }
        });
    }
    settle_product(e, sum.expect("at least one segment"), 0)
}

/// Elements `start..end` of `x` along `axis` (local).
fn slice_axis(e: &mut Emitter, x: Reg, axis: usize, start: usize, end: usize) -> Reg {
    let decl = e.decl(x).clone();
    let mut shape = decl.shape.clone();
    shape[axis] = end - start;
    let dst = e.reg(decl.kind, &shape, decl.frac_bits);
    e.local(LocalInstr::Struct {
        dst,
        src: x,
        op: secc_ir::lir::StructOp::Slice { axis, start, end },
    })
}

/// The maximum along `axis` (kept as a dimension of 1) by a comparison tree: each level pairs
/// the first half of the remaining entries with the second, max = a - [a - b < 0] (a - b) (one
/// bounded comparison, exact for |a - b| < 2^15, and one integer product), and carries an odd
/// entry out to the next level. ceil(log2 n) levels of 9 + 1 rounds.
pub fn max_tree(e: &mut Emitter, x: Reg, axis: usize) -> Reg {
    let frac = e.frac(x);
    let mut current = x;
    loop {
        let m = e.shape(current)[axis];
        if m <= 1 {
            return current;
        }
        let half = m / 2;
        let a = slice_axis(e, current, axis, 0, half);
        let b = slice_axis(e, current, axis, half, 2 * half);
        let d = sub(e, a, b);
        let b_wins = less_than_constant(e, d, 0.0);
        let correction = product(e, b_wins, d, 0, frac);
        let max = sub(e, a, correction);
        current = if m % 2 == 1 {
            let rest = slice_axis(e, current, axis, 2 * half, m);
            let mut shape = e.shape(max);
            shape[axis] += 1;
            let dst = e.reg(RegKind::Rss, &shape, frac);
            e.local(LocalInstr::Concat {
                dst,
                srcs: vec![max, rest],
                axis,
            })
        } else {
            max
        };
    }
}
