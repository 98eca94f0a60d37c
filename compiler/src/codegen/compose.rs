//! Multi-step protocols composed from LIR instructions: products with truncation, the
//! most-significant-bit circuit, bit injection (B2A) and ReLU. Each function emits only local
//! instructions and single communication steps; the scheduler later batches independent steps.
//!
//! Costs per element (rounds in sequence, ring elements sent by P0/P1/P2):
//! - product + truncation: 2 rounds (TruncOpen, TruncFinish); from an Add3 source 4 elements
//!   from the dealer and 2 from each other party. The dealer rotates ([`Emitter::dealer`]), so
//!   over a program each party sends (4 + 2 + 2) / 3 = 8/3 elements per truncated element.
//! - product without truncation (one factor an integer): 1 round, 1/1/1.
//! - msb: 8 rounds (carry-save AND, generate AND, six Kogge-Stone levels), 13 words.
//! - msb_bounded (value known to fit in `bits` bits): 2 + ceil(log2(bits - 2)) rounds, each
//!   AND packed to its meaningful bits; for bits = 32, 7 rounds and 115 bits (1.8 words).
//! - bit injection: 2 rounds; ReLU = msb + injection + 1 product round = 11 rounds.

use super::emit::Emitter;
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

/// Brings an Add3 product of scale `frac` back to an Rss of scale `frac - shift`.
pub fn settle_product(e: &mut Emitter, add3: Reg, shift: u32) -> Reg {
    let shape = e.shape(add3);
    let frac = e.frac(add3);
    if shift == 0 {
        let dst = e.reg(RegKind::Rss, &shape, frac);
        e.comm(CommInstr::Reshare { dst, src: add3 })
    } else {
        truncate(e, add3, shift)
    }
}

/// Divides a share (Rss or Add3) by 2^shift: two communication steps, dealt by the party
/// [`Emitter::dealer`] picks.
pub fn truncate(e: &mut Emitter, src: Reg, shift: u32) -> Reg {
    let shape = e.shape(src);
    let frac = e.frac(src) - shift;
    let n: u64 = shape.iter().product::<usize>() as u64;
    // The dealer sends 4n; each other party n in the finish, and n more from an Add3 source.
    let additive = u64::from(e.decl(src).kind == RegKind::Add3);
    let dealer = e.dealer(4 * n, (1 + additive) * n);
    let pending = e.reg(RegKind::Pending, &shape, frac);
    e.comm(CommInstr::TruncOpen {
        dst: pending,
        src,
        shift,
        dealer,
    });
    let dst = e.reg(RegKind::Rss, &shape, frac);
    e.comm(CommInstr::TruncFinish {
        dst,
        src: pending,
        dealer,
    })
}

/// Element-wise product of two Rss shares; the result has the larger of the two scales.
pub fn mul_shares(e: &mut Emitter, a: Reg, b: Reg, out_shape: &[usize]) -> Reg {
    let (fa, fb) = (e.frac(a), e.frac(b));
    let add3 = e.reg(RegKind::Add3, out_shape, fa + fb);
    e.local(LocalInstr::MulShares { dst: add3, a, b });
    settle_product(e, add3, fa.min(fb))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use secc_ir::lir::{InputForm, LowInput, LowOutput, LowProgram};

    /// `sizes.len()` independent truncations (by 2^16, of Rss or Add3 sources of the given
    /// sizes), scheduled.
    fn truncations(sizes: &[usize], add3: bool) -> LowProgram {
        let mut e = Emitter::default();
        let mut inputs = vec![];
        let mut outputs = vec![];
        for (i, &n) in sizes.iter().enumerate() {
            let dst = e.reg(RegKind::Rss, &[n], 32);
            let x = e.local(LocalInstr::LoadInput {
                dst,
                input: i as u32,
            });
            let src = if add3 {
                let dst = e.reg(RegKind::Add3, &[n], 32);
                e.local(LocalInstr::MulShares { dst, a: x, b: x })
            } else {
                x
            };
            let t = truncate(&mut e, src, 16);
            inputs.push(LowInput {
                name: format!("x{i}"),
                shape: vec![n],
                form: InputForm::Secret { frac_bits: 32 },
            });
            outputs.push(LowOutput {
                name: format!("t{i}"),
                reg: t,
                frac_bits: 16,
            });
        }
        LowProgram {
            frac_bits: 16,
            stages: super::super::schedule::schedule(&e.regs, e.instrs),
            regs: e.regs,
            consts: e.consts,
            inputs,
            params: vec![],
            outputs,
        }
    }

    fn imbalance(low: &LowProgram) -> f64 {
        let bytes = low.predicted_cost().bytes_sent;
        let max = *bytes.iter().max().unwrap() as f64;
        let min = *bytes.iter().min().unwrap() as f64;
        max / min
    }

    #[test]
    fn a_stack_of_truncations_spreads_the_dealer_over_the_parties() {
        for add3 in [false, true] {
            let low = truncations(&[64; 3000], add3);
            let cost = low.predicted_cost();
            // All independent: one TruncOpen round and one TruncFinish round.
            assert_eq!(cost.rounds, 2);
            // Each party deals 1000 of them: exactly balanced.
            assert_eq!(cost.bytes_sent[0], cost.bytes_sent[1], "{cost:?}");
            assert_eq!(cost.bytes_sent[1], cost.bytes_sent[2], "{cost:?}");
            // Per element (8/3 or 2 words) instead of 4 at P2 alone.
            let per_party = if add3 {
                (4 + 2 + 2) * 8
            } else {
                (4 + 1 + 1) * 8
            };
            assert_eq!(cost.bytes_sent[0], 1000 * 64 * per_party as u64);
            // Consecutive steps take turns, starting with P2.
            let dealers: Vec<u8> = low.stages[0]
                .comm
                .iter()
                .take(6)
                .filter_map(|c| c.dealer())
                .collect();
            assert_eq!(dealers, [2, 0, 1, 2, 0, 1]);
        }
    }

    #[test]
    fn truncations_of_mixed_sizes_stay_balanced() {
        // Sizes from 1 to ~10^4 in a scrambled order, as a model's mix of matmuls and norms.
        let sizes: Vec<usize> = (0..3000u64)
            .map(|i| 1 + ((i * 2_654_435_761) % 10_007) as usize)
            .collect();
        let low = truncations(&sizes, true);
        let ratio = imbalance(&low);
        assert!(
            ratio < 1.2,
            "{:?}: max / min = {ratio}",
            low.predicted_cost()
        );
        // A single truncation keeps P2 as the dealer.
        let one = truncations(&[10], true);
        assert_eq!(one.predicted_cost().bytes_sent, [8 * 20, 8 * 20, 8 * 40]);
    }
}
