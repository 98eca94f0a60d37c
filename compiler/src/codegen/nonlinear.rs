//! SecFormer's non-linear protocols, composed from LIR instructions (no comparisons in softmax
//! and layer norm; two comparisons in GeLU and tanh, running in parallel with the Fourier
//! series).
//!
//! Rounds per protocol (products with truncation take 2 rounds, bounded comparisons 9):
//! - Goldschmidt reciprocal with k iterations: 2k; inverse square root: 3k - 1.
//! - 2Quad softmax: 2 (square) + 2k + 2 (normalise).
//! - layer norm: 2 (mean) + 2 (variance) + (3k - 1) + 2 (scale).
//! - GeLU / tanh: 9 (comparisons) + 1 (selection), the series finishing in 4 meanwhile.

use super::compose::{bit_to_arith, msb_bounded, settle_product, truncate, COMPARE_INT_BITS};
use super::emit::Emitter;
use secc_ir::approx;
use secc_ir::lir::{CommInstr, LocalInstr, Reg, RegKind};
use secc_ir::op::{CompareKind, MASKED_BIAS, PUMA_MASKED_SCORE};
use secc_ir::{Encoding, Op, Tensor};

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

fn broadcast(e: &Emitter, a: Reg, b: Reg) -> Vec<usize> {
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

/// A public operation whose result has the shape of the public register `like`.
fn public_op(e: &mut Emitter, like: Reg, op: Op, args: Vec<Reg>) -> Reg {
    let shape = e.shape(like);
    let dst = e.reg(RegKind::Public, &shape, 0);
    e.local(LocalInstr::PublicOp { dst, op, args })
}

/// 1 where the public softmax bias keeps an entry (bias > MASKED_BIAS), 0 where it masks it.
fn kept_entries(e: &mut Emitter, bias: Reg) -> Reg {
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

/// sum_k value_k * indicator_k for 0/1 integer indicators of disjoint segments: the products
/// are exact Add3s at the values' scale, summed before one reshare (1 round). A value outside
/// its segment may have wrapped around the ring; it is multiplied by an exact 0 there.
fn select_segments(e: &mut Emitter, parts: &[(Reg, Reg)]) -> Reg {
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
    let factor_precision =
        super::lower::constant_precision(&Tensor::scalar(factor, Encoding::Fixed), frac);
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
