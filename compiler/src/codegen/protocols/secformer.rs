//! SecFormer's protocols: 2Quad softmax, GeLU and tanh by a Fourier series on the middle
//! segment, Goldschmidt's iterations for the reciprocal, the inverse square root and division,
//! and layer norm with the Goldschmidt inverse square root. No comparisons in softmax and layer
//! norm; two comparisons in GeLU and tanh, running in parallel with the Fourier series.
//!
//! Invariants: Goldschmidt's iterations start from 1 and converge only on inputs deflated into
//! their range ((0, 2) for the reciprocal, (0, 3) for the inverse square root); the deflations
//! are powers of two chosen at compile time from calibration (the passes set them, lowering
//! checks that they are powers of two), so deflating is a free rescale. The Fourier series is
//! accurate on the middle segment only; the comparisons select it there.
//!
//! Security: the iterations and the polynomial parts are products of shares and truncations
//! ([`super::arith`]); the Fourier series opens only x - t modulo M = 2^(4 + F) for the
//! dealer's t, uniform modulo M and unknown to the openers, so the opened value is uniform
//! whatever x is; comparisons are [`super::compare`]'s. See docs/protocols.md.
//!
//! Rounds per protocol (products with truncation take 2 rounds, bounded comparisons 9):
//! - Goldschmidt reciprocal with k iterations: 2k; inverse square root: 3k - 1.
//! - 2Quad softmax: 2 (square) + 2k + 2 (normalise).
//! - layer norm: 2 (mean) + 2 (variance) + (3k - 1) + 2 (scale).
//! - GeLU / tanh: 9 (comparisons) + 1 (selection), the series finishing in 4 meanwhile.

use super::arith::{
    add, constant_precision, encode_public, kept_entries, product, public_op, rescale, ring_scalar,
    scale_by_constant, sub, times_share_or_public, truncate,
};
use super::compare::less_than_constant;
use crate::codegen::emit::Emitter;
use secc_ir::approx;
use secc_ir::lir::{CommInstr, LocalInstr, Reg, RegKind};
use secc_ir::{Encoding, Op, Tensor};

/// 1 / s by Goldschmidt's iteration from the start 1 (s already deflated into (0, 2)):
/// e_0 = 1 - s, y = prod_i (1 + e_i), e_(i+1) = e_i^2.
pub fn goldschmidt_reciprocal(e: &mut Emitter, s: Reg, iterations: u32) -> Reg {
    let frac = e.frac(s);
    let one = ring_scalar(e, 1.0, frac);
    let mut err = sub(e, one, s);
    let mut y = add(e, err, one);
    for _ in 1..iterations {
        err = product(e, err, err, 0, frac);
        let factor = add(e, err, one);
        y = product(e, y, factor, 0, frac);
    }
    y
}

/// 1 / sqrt(b) by Goldschmidt's iteration from the start 1 (b already deflated into (0, 3)):
/// r = (3 - b) / 2, b <- b r^2, y <- y r. Returns y at scale frac + 1.
pub fn goldschmidt_rsqrt(e: &mut Emitter, b: Reg, iterations: u32) -> Reg {
    let frac = e.frac(b);
    let three = ring_scalar(e, 3.0, frac);
    let mut b = b;
    let mut h = sub(e, three, b);
    // y_1 = h / 2: the same ring value read one bit finer.
    let mut y = rescale(e, h, frac + 1);
    for _ in 1..iterations {
        // b <- b h^2 / 4, keeping h^2 at double scale (reshare only) to save a truncation.
        let h2 = product(e, h, h, 0, 2 * frac);
        b = product(e, b, h2, 2, frac);
        h = sub(e, three, b);
        y = product(e, y, h, 1, frac + 1);
    }
    y
}

/// SecFormer's 2Quad softmax along the last axis (see `Op::Quad2Softmax`).
pub fn quad2_softmax(
    e: &mut Emitter,
    x: Reg,
    bias: Option<Reg>,
    shift: f64,
    deflation: f64,
    iterations: u32,
) -> Reg {
    let frac = e.frac(x);
    let shape = e.shape(x);
    let axis = shape.len() - 1;
    let (shifted, keep) = match bias {
        Some(bias) => {
            let keep = kept_entries(e, bias);
            let zero = e.constant(Tensor::scalar(0.0, Encoding::Fixed));
            let finite = public_op(e, bias, Op::Where, vec![keep, bias, zero]);
            let c = e.constant(Tensor::scalar(shift, Encoding::Fixed));
            let offset = public_op(e, bias, Op::Add, vec![finite, c]);
            let offset_ring = encode_public(e, offset, frac);
            let keep_ring = encode_public(e, keep, 0);
            (add(e, x, offset_ring), Some(keep_ring))
        }
        None => {
            let c = ring_scalar(e, shift, frac);
            (add(e, x, c), None)
        }
    };
    let mut square = e.reg(RegKind::Add3, &shape, 2 * frac);
    e.local(LocalInstr::MulShares {
        dst: square,
        a: shifted,
        b: shifted,
    });
    if let Some(keep) = keep {
        let masked = e.reg(RegKind::Add3, &shape, 2 * frac);
        e.local(LocalInstr::MulPublic {
            dst: masked,
            a: square,
            b: keep,
        });
        square = masked;
    }
    // q / D straight out of the truncation: D is a power of two.
    let deflate_log2 = deflation.log2().round() as u32;
    let q = truncate(e, square, frac + deflate_log2);
    let q = rescale(e, q, frac);
    let mut sum_shape = shape.clone();
    sum_shape[axis] = 1;
    let sum = e.reg(RegKind::Rss, &sum_shape, frac);
    e.local(LocalInstr::ReduceSum {
        dst: sum,
        src: q,
        axes: vec![axis],
        keep_dims: true,
    });
    let recip = goldschmidt_reciprocal(e, sum, iterations);
    product(e, q, recip, 0, frac)
}

/// Layer norm's common start over the last axis of `x` (d entries per row): the centred rows
/// c = x - mean (the sum is local, 1/d with 16 significant bits and one truncation: 2 rounds),
/// d, and the row sums of c^2 as an Add3 at scale 2F with the row shape (local).
pub(super) fn centred_rows(e: &mut Emitter, x: Reg) -> (Reg, usize, Reg) {
    let frac = e.frac(x);
    let shape = e.shape(x);
    let last = shape.len() - 1;
    let d = shape[last];
    let mut row_shape = shape.clone();
    row_shape[last] = 1;
    let sum = e.reg(RegKind::Rss, &row_shape, frac);
    e.local(LocalInstr::ReduceSum {
        dst: sum,
        src: x,
        axes: vec![last],
        keep_dims: true,
    });
    // 1/d with 16 significant bits; the sum stays far below 2^(62 - F - precision).
    let mean_precision = (16 + (d as f64).log2().ceil() as u32).max(frac);
    let mean = scale_by_constant(e, sum, 1.0 / d as f64, mean_precision, frac);
    let centred = sub(e, x, mean);
    let squares = e.reg(RegKind::Add3, &shape, 2 * frac);
    e.local(LocalInstr::MulShares {
        dst: squares,
        a: centred,
        b: centred,
    });
    let square_sum = e.reg(RegKind::Add3, &row_shape, 2 * frac);
    e.local(LocalInstr::ReduceSum {
        dst: square_sum,
        src: squares,
        axes: vec![last],
        keep_dims: true,
    });
    (centred, d, square_sum)
}

/// LayerNorm with a Goldschmidt inverse square root (see `Op::SecLayerNorm`). The deflation
/// D = 2^m / d for the row length d, so that (sum of squares) / (d D) is a truncation by m more
/// bits; 1 / sqrt(D) is a public factor applied to (x - mean) gamma while the iteration runs.
pub fn sec_layer_norm(
    e: &mut Emitter,
    x: Reg,
    gamma: Reg,
    beta: Reg,
    eps: f64,
    deflation: f64,
    iterations: u32,
) -> Reg {
    let frac = e.frac(x);
    let (centred, d, square_sum) = centred_rows(e, x);
    // Read the sum k = m bits finer (a free division by d D / d = 2^m), then truncate to F.
    let m = (deflation * d as f64).log2().round() as i32;
    let deflated_scale = (2 * frac as i32 + m).max(frac as i32) as u32;
    let deflated = rescale(e, square_sum, deflated_scale);
    let var = truncate(e, deflated, deflated_scale - frac);
    let eps_ring = ring_scalar(e, eps / deflation, frac);
    let b = add(e, var, eps_ring);
    let inv_std = goldschmidt_rsqrt(e, b, iterations);
    // Meanwhile (x - mean) gamma / sqrt(D).
    let scaled = times_share_or_public(e, centred, gamma, frac);
    let factor = 1.0 / deflation.sqrt();
    let factor_precision = constant_precision(&Tensor::scalar(factor, Encoding::Fixed), frac);
    let scaled = scale_by_constant(e, scaled, factor, factor_precision, frac);
    let normalised = product(e, scaled, inv_std, 0, frac);
    add(e, normalised, beta)
}

/// Fourier series of x (coefficients for sin(2 pi m x / FOURIER_PERIOD)) as a share at scale
/// `out_frac` (the dealer's values get `out_frac - F` fraction bits).
/// The dealer is the party [`Emitter::dealer`] picks (it sends 2K words per element, each
/// other party 2: its piece of the opening and its finish).
fn fourier_series(e: &mut Emitter, x: Reg, coefficients: &[f64], out_frac: u32) -> Reg {
    let shape = e.shape(x);
    let n: u64 = shape.iter().product::<usize>() as u64;
    let dealer = e.dealer(2 * coefficients.len() as u64 * n, 2 * n);
    let pending = e.reg(RegKind::Pending, &shape, out_frac);
    e.comm(CommInstr::FourierOpen {
        dst: pending,
        src: x,
        period_bits: approx::FOURIER_PERIOD_BITS,
        coefficients: coefficients.to_vec(),
        dealer,
    });
    let series = e.reg(RegKind::Rss, &shape, out_frac);
    e.comm(CommInstr::TruncFinish {
        dst: series,
        src: pending,
        dealer,
    })
}

/// The integer shares [x < -cut] and [x >= cut]... as (below, middle, above) indicators.
fn segments(e: &mut Emitter, x: Reg, cut: f64) -> (Reg, Reg, Reg) {
    let below = less_than_constant(e, x, -cut);
    let below_upper = less_than_constant(e, x, cut);
    let one = ring_scalar(e, 1.0, 0);
    let above = sub(e, one, below_upper);
    let middle = sub(e, below_upper, below);
    (below, middle, above)
}

/// SecFormer's GeLU (see `Op::SecGelu`).
pub fn sec_gelu(e: &mut Emitter, x: Reg) -> Reg {
    let frac = e.frac(x);
    let (_below, middle, above) = segments(e, x, approx::GELU_CUT);
    let series = fourier_series(e, x, &approx::fourier_erf_coefficients(), 2 * frac);
    let one = ring_scalar(e, 1.0, 2 * frac);
    let one_plus = add(e, series, one);
    let inner = product(e, x, one_plus, 1, frac);
    let middle_part = product(e, inner, middle, 0, frac);
    let upper_part = product(e, x, above, 0, frac);
    add(e, middle_part, upper_part)
}

/// tanh by three segments and a Fourier series (see `Op::SecTanh`).
pub fn sec_tanh(e: &mut Emitter, x: Reg) -> Reg {
    let frac = e.frac(x);
    let (below, middle, above) = segments(e, x, approx::TANH_CUT);
    // tanh's coefficients reach 8: the dealer's values get twice the precision.
    let series = fourier_series(e, x, &approx::fourier_tanh_coefficients(), 3 * frac);
    let middle_part = product(e, series, middle, 0, frac);
    let sign = sub(e, above, below);
    let shape = e.shape(sign);
    let sign_fixed = e.reg(RegKind::Rss, &shape, frac);
    e.local(LocalInstr::MulInt {
        dst: sign_fixed,
        a: sign,
        k: 1i64 << frac,
    });
    add(e, middle_part, sign_fixed)
}

/// a / b by the Goldschmidt reciprocal of b / D (D a power of two; see `Op::GoldschmidtDiv`).
pub fn goldschmidt_div(e: &mut Emitter, a: Reg, b: Reg, deflation: f64, iterations: u32) -> Reg {
    let frac = e.frac(a);
    let log2 = deflation.log2().round() as u32;
    let deflated = rescale(e, b, e.frac(b) + log2);
    let recip = goldschmidt_reciprocal(e, deflated, iterations);
    product(e, a, recip, log2, frac)
}
