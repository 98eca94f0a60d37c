//! PUMA's protocols for stock models, without calibration: GeLU and tanh as piecewise public
//! polynomials selected by bounded comparisons, and softmax by a comparison-tree maximum, an
//! exponential by repeated squaring and a Goldschmidt reciprocal of the row sum. (PUMA's layer
//! norm, square root and division are range reduction's, [`super::range_reduction`].)
//!
//! Invariants: each polynomial is accurate on its own segment only; outside it may wrap around
//! the ring, and is multiplied by an exact 0 there (the segment indicators are disjoint 0/1
//! integer shares). The comparisons are exact for |x| below `COMPARE_INT_BITS`' bound; the
//! softmax's exponential argument t = x - max is at most 0, and entries below -14 are set to 0,
//! so the squarings stay in range; the row sum lies in [1, n], which fixes the reciprocal's
//! deflation at compile time.
//!
//! Security: public polynomials are local products by public coefficients and one truncation;
//! powers are products of shares; comparisons and the maximum are [`super::compare`]'s; nothing
//! is opened unmasked. See docs/protocols.md.

use super::arith::{
    add, encode_public, kept_entries, product, public_op, rescale, ring_scalar, sub, truncate,
};
use super::compare::{less_than_constant, max_tree, select_segments};
use super::secformer::goldschmidt_reciprocal;
use crate::codegen::emit::Emitter;
use secc_ir::approx;
use secc_ir::lir::{LocalInstr, Reg, RegKind};
use secc_ir::op::PUMA_MASKED_SCORE;
use secc_ir::{Encoding, Op, Tensor};

/// Fraction bits for the public coefficients of PUMA's GeLU polynomials (F + 8: the largest
/// term, 0.36 x^2 on [-4, 3], stays far below 2^(62 - 2F - 8)).
fn puma_coefficient_bits(frac: u32) -> u32 {
    frac + 8
}

/// c0 + sum_i c_i p_i for shares p_i at scale `frac`: each product by a public coefficient
/// (with `precision` fraction bits) is local at scale frac + precision, and one truncation by
/// `precision` brings the sum back (2 rounds).
fn public_polynomial(
    e: &mut Emitter,
    terms: &[(Reg, f64)],
    constant: f64,
    frac: u32,
    precision: u32,
) -> Reg {
    let mut acc = ring_scalar(e, constant, frac + precision);
    for &(power, c) in terms {
        let shape = e.shape(power);
        let coefficient = ring_scalar(e, c, precision);
        let term = e.reg(RegKind::Rss, &shape, frac + precision);
        e.local(LocalInstr::MulPublic {
            dst: term,
            a: power,
            b: coefficient,
        });
        acc = add(e, term, acc);
    }
    truncate(e, acc, precision)
}

/// PUMA's GeLU (see `Op::PumaGelu`): the bounded comparisons [x < -4], [x < -1.95] and
/// [-x < -3] (so that x = 3 stays in the middle segment, as `approx::puma_gelu` has it) run in
/// parallel with the powers x^2, x^3 = x^2 x, x^4 = x^2 x^2, x^6 = x^3 x^3 (6 rounds) and the two
/// polynomials (one truncation each, 2 rounds); the segments are then selected by products with
/// the 0/1 indicators, summed before one reshare. 9 + 1 = 10 rounds. A polynomial evaluated
/// outside its segment may wrap around the ring; it is multiplied by an exact 0 there.
pub fn puma_gelu(e: &mut Emitter, x: Reg) -> Reg {
    let frac = e.frac(x);
    let shape = e.shape(x);
    let below_cubic = less_than_constant(e, x, -4.0);
    let below_middle = less_than_constant(e, x, -1.95);
    let neg = e.reg(RegKind::Rss, &shape, frac);
    e.local(LocalInstr::Neg { dst: neg, a: x });
    let above = less_than_constant(e, neg, -3.0);
    let one = ring_scalar(e, 1.0, 0);
    let up_to_three = sub(e, one, above);
    let cubic_segment = sub(e, below_middle, below_cubic);
    let middle_segment = sub(e, up_to_three, below_middle);
    let x2 = product(e, x, x, 0, frac);
    let x3 = product(e, x2, x, 0, frac);
    let x4 = product(e, x2, x2, 0, frac);
    let x6 = product(e, x3, x3, 0, frac);
    let cubic = public_polynomial(
        e,
        &[
            (x3, -0.011034134030615728),
            (x2, -0.11807612951181953),
            (x, -0.42226581151983866),
        ],
        -0.5054031199708174,
        frac,
        puma_coefficient_bits(frac),
    );
    let middle = public_polynomial(
        e,
        &[
            (x6, 0.0018067462606141187),
            (x4, -0.037688200365904236),
            (x2, 0.3603292692789629),
            (x, 0.5),
        ],
        0.008526321541038084,
        frac,
        puma_coefficient_bits(frac),
    );
    select_segments(
        e,
        &[(cubic, cubic_segment), (middle, middle_segment), (x, above)],
    )
}

/// PUMA-mode tanh (see `Op::PumaTanh`): the seven bounded comparisons [x < c] for the
/// thresholds in `approx::PUMA_TANH_THRESHOLDS` run in parallel with the powers x^2,
/// x^3 = x^2 x, x^4 = x^2 x^2, x^5 = x^4 x (6 rounds) and the six polynomials (one truncation
/// each, 2 rounds); each polynomial is then multiplied by its segment's 0/1 indicator (the
/// difference of two adjacent comparison bits) and the products summed before one reshare, the
/// saturated segments adding -[x < -5] + (1 - [x < 5]) locally. 9 + 1 = 10 rounds. A polynomial
/// evaluated outside its segment may wrap around the ring; it is multiplied by an exact 0 there.
pub fn puma_tanh(e: &mut Emitter, x: Reg) -> Reg {
    let frac = e.frac(x);
    let shape = e.shape(x);
    let below: Vec<Reg> = approx::PUMA_TANH_THRESHOLDS
        .iter()
        .map(|&c| less_than_constant(e, x, c))
        .collect();
    let x2 = product(e, x, x, 0, frac);
    let x3 = product(e, x2, x, 0, frac);
    let x4 = product(e, x2, x2, 0, frac);
    let x5 = product(e, x4, x, 0, frac);
    let powers = [x, x2, x3, x4, x5];
    let mut parts = Vec::new();
    for segment in 0..6 {
        let piece = approx::puma_tanh_piece(segment);
        let terms: Vec<(Reg, f64)> = powers
            .iter()
            .copied()
            .zip(piece[1..].iter().copied())
            .collect();
        // 2F coefficient bits: c_5 x^5 reaches 3125 c_5 on [3, 5), so an F + 8 bit c_5 would
        // be off by up to 1e-4; every term stays below 8, far under 2^(62 - 3F).
        let value = public_polynomial(e, &terms, piece[0], frac, 2 * frac);
        let indicator = sub(e, below[segment + 1], below[segment]);
        parts.push((value, indicator));
    }
    let polynomials = select_segments(e, &parts);
    // Saturation: 1 - [x < 5] - [x < -5], an integer share, read as fixed point.
    let one = ring_scalar(e, 1.0, 0);
    let not_below_top = sub(e, one, below[6]);
    let sign = sub(e, not_below_top, below[0]);
    let sign_fixed = e.reg(RegKind::Rss, &shape, frac);
    e.local(LocalInstr::MulInt {
        dst: sign_fixed,
        a: sign,
        k: 1i64 << frac,
    });
    add(e, polynomials, sign_fixed)
}

/// PUMA's softmax along the last axis (see `Op::PumaSoftmax`): masked entries become
/// `PUMA_MASKED_SCORE` (local), the row max by [`max_tree`], t = x - max, exp(t) by
/// (1 + t/2^s)^(2^s) (t/2^s a free `Rescale`, s squarings at F + 8 fraction bits, the last one
/// truncating to F) in parallel with the bounded comparison [t < -14]; the product by the 0/1
/// indicator (1 round), the local row sum, the Goldschmidt reciprocal of sum / D for the power
/// of two D >= n (a free `Rescale`; the sum lies in [1, n]) and the normalising product.
/// Rounds: 10 ceil(log2 n) + max(10, 2s) + 1 + 2k + 2 (+ 2 when a very long row or a large F
/// needs the deflated sum truncated to keep the reciprocal's products below 2^62).
pub fn puma_softmax(
    e: &mut Emitter,
    x: Reg,
    bias: Option<Reg>,
    iterations: u32,
    exp_squarings: u32,
) -> Reg {
    let frac = e.frac(x);
    let shape = e.shape(x);
    let axis = shape.len() - 1;
    let scores = match bias {
        Some(bias) => {
            let keep = kept_entries(e, bias);
            let low = e.constant(Tensor::scalar(PUMA_MASKED_SCORE, Encoding::Fixed));
            let offset = public_op(e, bias, Op::Where, vec![keep, bias, low]);
            let offset_ring = encode_public(e, offset, frac);
            let keep_ring = encode_public(e, keep, 0);
            let kept = e.reg(RegKind::Rss, &shape, frac);
            e.local(LocalInstr::MulPublic {
                dst: kept,
                a: x,
                b: keep_ring,
            });
            add(e, kept, offset_ring)
        }
        None => x,
    };
    let max = max_tree(e, scores, axis);
    let t = sub(e, scores, max);
    let below = less_than_constant(e, t, -14.0);
    let one_int = ring_scalar(e, 1.0, 0);
    let in_range = sub(e, one_int, below);
    // 1 + t / 2^s, then s squarings.
    let base = rescale(e, t, frac + exp_squarings);
    let one = ring_scalar(e, 1.0, frac + exp_squarings);
    let mut power = add(e, base, one);
    let work = (frac + 8).min(29).max(frac);
    for i in 0..exp_squarings {
        let out = if i + 1 == exp_squarings { frac } else { work };
        power = product(e, power, power, 0, out);
    }
    let exps = product(e, power, in_range, 0, frac);
    let mut sum_shape = shape.clone();
    sum_shape[axis] = 1;
    let sum = e.reg(RegKind::Rss, &sum_shape, frac);
    e.local(LocalInstr::ReduceSum {
        dst: sum,
        src: exps,
        axes: vec![axis],
        keep_dims: true,
    });
    let k = shape[axis].next_power_of_two().trailing_zeros();
    let mut deflated = rescale(e, sum, frac + k);
    // y (1 + e_i) <= 2D at scale 2w must stay below 2^61.
    let widest = (60 - k) / 2;
    if frac + k > widest {
        deflated = truncate(e, deflated, frac + k - widest);
    }
    let recip = goldschmidt_reciprocal(e, deflated, iterations);
    product(e, exps, recip, k, frac)
}
