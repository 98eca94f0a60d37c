//! Arithmetic on shares and truncation: the building blocks every other protocol family is
//! made of. Owns products of shares (with or without truncation), products by public values,
//! free rescaling (reading a ring value at another scale), the truncation protocol, public
//! constants encoded in the ring, and the public computations on a softmax bias.
//!
//! Invariants: a register's scale (`Emitter::frac`) is the number of fraction bits its ring
//! value carries; every function here returns a share (or public ring value) whose scale is
//! stated in its doc. A product of scales fa + fb must stay below 2^62 in magnitude before its
//! truncation (the truncation's correctness bound); callers choose scales so that it does.
//!
//! Security: local operations (additions, products by public values, rescaling) reveal
//! nothing. A product of two shares ends in a reshare (fresh zero sharing from the pairwise
//! seeds) or in a truncation, whose opened value is masked by the dealer's uniform random
//! ring element; see docs/protocols.md.
//!
//! Costs per element (rounds in sequence, ring elements sent by P0/P1/P2):
//! - product + truncation: 2 rounds (TruncOpen, TruncFinish); from an Add3 source 4 elements
//!   from the dealer and 2 from each other party. The dealer rotates ([`Emitter::dealer`]), so
//!   over a program each party sends (4 + 2 + 2) / 3 = 8/3 elements per truncated element.
//! - product without truncation (one factor an integer): 1 round, 1/1/1.

use crate::codegen::emit::Emitter;
use secc_ir::lir::{CommInstr, LocalInstr, Reg, RegKind};
use secc_ir::op::{CompareKind, MASKED_BIAS};
use secc_ir::{Encoding, Op, Tensor};

/// Fraction bits for encoding a public constant: about 20 significant bits for its largest
/// magnitude, at least the program's scale and at most 30 (so that a product with a secret of
/// magnitude below 2^16 stays below 2^62).
pub fn constant_precision(value: &Tensor, frac: u32) -> u32 {
    let max = value.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        return frac;
    }
    let wanted = 20 - max.log2().floor() as i64;
    wanted.clamp(i64::from(frac), 30) as u32
}

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

/// A public scalar encoded in the ring at `frac` fraction bits.
pub fn ring_scalar(e: &mut Emitter, value: f64, frac: u32) -> Reg {
    let public = e.constant(Tensor::scalar(value, Encoding::Fixed));
    let dst = e.reg(RegKind::Ring, &[], frac);
    e.local(LocalInstr::Encode {
        dst,
        src: public,
        frac_bits: frac,
    })
}

/// `a + b` with a public ring `b` (or both shares), at `a`'s scale.
pub(super) fn add(e: &mut Emitter, a: Reg, b: Reg) -> Reg {
    let shape = broadcast(e, a, b);
    let dst = e.reg(RegKind::Rss, &shape, e.frac(a));
    e.local(LocalInstr::Add { dst, a, b })
}

/// `a - b`; either operand may be a public ring value; the result is a share.
pub(super) fn sub(e: &mut Emitter, a: Reg, b: Reg) -> Reg {
    let shape = broadcast(e, a, b);
    let frac = e.frac(a).max(e.frac(b));
    let dst = e.reg(RegKind::Rss, &shape, frac);
    e.local(LocalInstr::Sub { dst, a, b })
}

/// The broadcast shape of two registers' shapes.
pub(super) fn broadcast(e: &Emitter, a: Reg, b: Reg) -> Vec<usize> {
    secc_ir::types::broadcast_shapes(&e.shape(a), &e.shape(b))
        .expect("operand shapes were checked by the IR verifier")
}

/// The same ring value read at scale `frac`: a free division by 2^(frac - own) (or
/// multiplication, when `frac` is lower).
pub fn rescale(e: &mut Emitter, x: Reg, frac: u32) -> Reg {
    if e.frac(x) == frac {
        return x;
    }
    let shape = e.shape(x);
    let kind = e.decl(x).kind;
    let dst = e.reg(kind, &shape, frac);
    e.local(LocalInstr::Rescale { dst, src: x })
}

/// a * b / 2^divide_log2 as a share at scale `out_frac`, with one truncation (or a reshare
/// when no bits are dropped).
pub fn product(e: &mut Emitter, a: Reg, b: Reg, divide_log2: u32, out_frac: u32) -> Reg {
    let shape = broadcast(e, a, b);
    let scale = e.frac(a) + e.frac(b);
    let add3 = e.reg(RegKind::Add3, &shape, scale);
    e.local(LocalInstr::MulShares { dst: add3, a, b });
    let shift = scale + divide_log2 - out_frac;
    debug_assert!(shift <= scale, "the result scale must cover the division");
    let settled = settle_product(e, add3, shift);
    rescale(e, settled, out_frac)
}

/// A public operation whose result has the shape of the public register `like`.
pub(super) fn public_op(e: &mut Emitter, like: Reg, op: Op, args: Vec<Reg>) -> Reg {
    let shape = e.shape(like);
    let dst = e.reg(RegKind::Public, &shape, 0);
    e.local(LocalInstr::PublicOp { dst, op, args })
}

/// 1 where the public softmax bias keeps an entry (bias > MASKED_BIAS), 0 where it masks it.
pub(super) fn kept_entries(e: &mut Emitter, bias: Reg) -> Reg {
    let floor = e.constant(Tensor::scalar(MASKED_BIAS, Encoding::Fixed));
    let greater = Op::Compare {
        kind: CompareKind::Greater,
    };
    public_op(e, bias, greater, vec![bias, floor])
}

/// A public register encoded in the ring at `frac` fraction bits.
pub(super) fn encode_public(e: &mut Emitter, public: Reg, frac: u32) -> Reg {
    let shape = e.shape(public);
    let dst = e.reg(RegKind::Ring, &shape, frac);
    e.local(LocalInstr::Encode {
        dst,
        src: public,
        frac_bits: frac,
    })
}

/// `x * c` for a public constant c, encoded with `precision` fraction bits and truncated back
/// to `frac`.
pub fn scale_by_constant(e: &mut Emitter, x: Reg, c: f64, precision: u32, frac: u32) -> Reg {
    let ring = ring_scalar(e, c, precision);
    times_public(e, x, ring, frac)
}

/// `x * g` for a share x and a layer norm's scale g, a share (a secret product) or a public
/// ring value (a local product); both truncated back to `frac`.
pub(super) fn times_share_or_public(e: &mut Emitter, x: Reg, g: Reg, frac: u32) -> Reg {
    if e.decl(g).kind == RegKind::Ring {
        times_public(e, x, g, frac)
    } else {
        product(e, x, g, 0, frac)
    }
}

/// `x * p` for a share x and a public ring register p (broadcast): a local product at the sum
/// of their scales, truncated back to `frac` (2 rounds).
pub(super) fn times_public(e: &mut Emitter, x: Reg, p: Reg, frac: u32) -> Reg {
    let shape = broadcast(e, x, p);
    let scale = e.frac(x) + e.frac(p);
    let wide = e.reg(RegKind::Rss, &shape, scale);
    e.local(LocalInstr::MulPublic {
        dst: wide,
        a: x,
        b: p,
    });
    truncate(e, wide, scale - frac)
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
            stages: crate::codegen::schedule::schedule(&e.regs, e.instrs),
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
