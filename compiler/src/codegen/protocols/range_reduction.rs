//! PUMA mode's range-reduced inverse square root, square root, reciprocal and layer norm: no
//! calibration, accurate over the octaves [2^lo, 2^(hi + 1)) of `approx::Octaves` (F = 16:
//! [2^-16, 2^30)).
//!
//! 1. One batched comparison: x broadcast to [.., J] minus the public thresholds 2^j
//!    (j = lo + 1 ..= hi, J = hi - lo thresholds), `msb_bounded` on all 64 bits (exact for every
//!    ring element) and bit injection give integer shares of [x < 2^j]: 8 + 2 = 10 rounds.
//! 2. The bits are monotone in j, so any function g of the octave i is local:
//!    g(i) = g(hi) - sum_j [x < 2^j] (g(j) - g(j - 1)) (a product by a public vector and a sum).
//! 3. m = x s(i) with s(i) = c 2^-i (exact in the ring: c has at most four bits) lies in
//!    [c, 2c): one product (2 rounds), then Goldschmidt with a fixed iteration count.
//! 4. The de-normalising factor (sqrt(s(i)), 1/sqrt(s(i)) or 2^-i, each at a scale chosen so
//!    that its product stays below 2^61) multiplies the numerator while the iteration runs; one
//!    product with the iteration's result finishes.
//!
//! Rounds: rsqrt 10 + 2 + (3k - 1) + 2 = 22 for k = 3; sqrt the same; reciprocal and division
//! 10 + 2 + 2k + 2 = 22 for k = 4; layer norm 2 (mean) + 2 (variance) + 22 = 26. Bytes: the
//! J = hi - lo = 45 comparisons (F = 16) dominate, about 282 words per element per party; the
//! layer norm compares once per row.
//!
//! Invariants: outside the octaves the result is not the function (below 2^lo the octave
//! function saturates); `Octaves` must fit the ring at the program's scale (lowering checks it
//! against `Octaves::for_frac_bits`). Every scale is chosen by [`fitting_scale`] so that no
//! product reaches 2^61 before its truncation.
//!
//! Security: the comparisons against public thresholds are [`super::compare`]'s (nothing
//! opened); the octave functions are local products by public vectors; the normalisation and
//! Goldschmidt's iteration are products of shares and truncations ([`super::arith`]). The octave
//! of x stays secret: it exists only as shares of the comparison bits.

use super::arith::{add, encode_public, product, ring_scalar, sub, times_public, truncate};
use super::compare::{bit_to_arith, msb_bounded};
use super::secformer::{centred_rows, goldschmidt_reciprocal, goldschmidt_rsqrt};
use crate::codegen::emit::Emitter;
use secc_ir::approx::{self, Octaves};
use secc_ir::lir::{LocalInstr, Reg, RegKind, StructOp};
use secc_ir::{Encoding, Tensor};

/// The largest scale R with `max` 2^(R + other) <= 2^61 (a product's value stays below 2^61,
/// within the truncation's |x| < 2^62).
fn fitting_scale(max: f64, other: u32) -> u32 {
    let r = (61.0 - max.log2()).floor() as i64 - i64::from(other);
    r.clamp(0, 62) as u32
}

/// Integer shares of [x < 2^j] for every threshold j of `octaves`, along a new last axis.
fn below_thresholds(e: &mut Emitter, x: Reg, octaves: Octaves) -> Reg {
    let frac = e.frac(x);
    let shape = e.shape(x);
    let thresholds: Vec<f64> = octaves.thresholds().map(|j| 2f64.powi(j)).collect();
    let count = thresholds.len();
    let mut column = shape.clone();
    column.push(1);
    let mut wide = shape;
    wide.push(count);
    let as_column = e.reg(RegKind::Rss, &column, frac);
    e.local(LocalInstr::Struct {
        dst: as_column,
        src: x,
        op: StructOp::Reshape { shape: column },
    });
    let spread = e.reg(RegKind::Rss, &wide, frac);
    e.local(LocalInstr::Struct {
        dst: spread,
        src: as_column,
        op: StructOp::Broadcast {
            shape: wide.clone(),
        },
    });
    let public = e.constant(Tensor::new(vec![count], Encoding::Fixed, thresholds));
    let ring = encode_public(e, public, frac);
    let diff = sub(e, spread, ring);
    let sign = msb_bounded(e, diff, 64);
    bit_to_arith(e, sign)
}

/// g(i) for the octave i of the compared value, as a share at `scale` (local):
/// g(hi) - sum_j [x < 2^j] (g(j) - g(j - 1)), each difference encoded at `scale`.
fn octave_function(
    e: &mut Emitter,
    below: Reg,
    octaves: Octaves,
    scale: u32,
    g: impl Fn(i32) -> f64,
) -> Reg {
    let mut shape = e.shape(below);
    let count = shape.pop().expect("the threshold axis");
    let steps: Vec<f64> = octaves.thresholds().map(|j| g(j) - g(j - 1)).collect();
    let public = e.constant(Tensor::new(vec![count], Encoding::Fixed, steps));
    let ring = encode_public(e, public, scale);
    let mut wide = shape.clone();
    wide.push(count);
    let terms = e.reg(RegKind::Rss, &wide, scale);
    e.local(LocalInstr::MulPublic {
        dst: terms,
        a: below,
        b: ring,
    });
    let sum = e.reg(RegKind::Rss, &shape, scale);
    e.local(LocalInstr::ReduceSum {
        dst: sum,
        src: terms,
        axes: vec![shape.len()],
        keep_dims: false,
    });
    let top = ring_scalar(e, g(octaves.hi), scale);
    sub(e, top, sum)
}

/// The comparisons and m = x c 2^-i at x's scale F (s at scale 60 - F, exact, so the product
/// m 2^60 stays below 2^61 for m < 2).
fn normalise(e: &mut Emitter, x: Reg, octaves: Octaves, centre: f64) -> (Reg, Reg) {
    let frac = e.frac(x);
    let below = below_thresholds(e, x, octaves);
    let s = octave_function(e, below, octaves, 60 - frac, |i| {
        approx::octave_scale(centre, i)
    });
    (below, product(e, x, s, 0, frac))
}

/// 1/sqrt(x) (see `Op::PumaRsqrt`): r(i) = sqrt(s(i)) <= 2^(-lo/2) at the largest scale its
/// product with y (< 1.21, scale F + 1) allows.
pub fn puma_rsqrt(e: &mut Emitter, x: Reg, iterations: u32, octaves: Octaves) -> Reg {
    let frac = e.frac(x);
    let centre = approx::PUMA_RSQRT_CENTRE;
    let (below, m) = normalise(e, x, octaves, centre);
    let y = goldschmidt_rsqrt(e, m, iterations);
    let r_max = approx::octave_scale(centre, octaves.lo).sqrt() / centre.sqrt();
    let scale = fitting_scale(r_max, e.frac(y));
    let r = octave_function(e, below, octaves, scale, |i| {
        approx::octave_scale(centre, i).sqrt()
    });
    product(e, r, y, 0, frac)
}

/// sqrt(x) (see `Op::PumaSqrt`): (m t(i)) y with t(i) = 1/sqrt(s(i)), m t = sqrt(m x) below
/// sqrt(2c 2^(hi + 1)), computed while the iteration runs.
pub fn puma_sqrt(e: &mut Emitter, x: Reg, iterations: u32, octaves: Octaves) -> Reg {
    let frac = e.frac(x);
    let centre = approx::PUMA_RSQRT_CENTRE;
    let (below, m) = normalise(e, x, octaves, centre);
    let y = goldschmidt_rsqrt(e, m, iterations);
    let mt_max = (2.0 * centre * octaves.valid().1).sqrt();
    let scale = fitting_scale(mt_max, frac);
    let t = octave_function(e, below, octaves, scale, |i| {
        1.0 / approx::octave_scale(centre, i).sqrt()
    });
    let mt = product(e, m, t, 0, frac);
    product(e, mt, y, 0, frac)
}

/// a / b, or 1 / b without a numerator (see `Op::PumaReciprocal`): 1/b = 2^-i c y with y the
/// Goldschmidt reciprocal of m = b c 2^-i and c = 3/4 (a product by 3 and two bits of the
/// final truncation). The exact power of two u = 2^-i multiplies a while the iteration runs;
/// a u = (a / b)(b 2^-i) < 2 |a / b|.
pub fn puma_reciprocal(
    e: &mut Emitter,
    b: Reg,
    numerator: Option<Reg>,
    iterations: u32,
    octaves: Octaves,
) -> Reg {
    let frac = e.frac(b);
    let centre = approx::PUMA_RECIPROCAL_CENTRE;
    let (below, m) = normalise(e, b, octaves, centre);
    let y = goldschmidt_reciprocal(e, m, iterations);
    let shape = e.shape(y);
    let y3 = e.reg(RegKind::Rss, &shape, frac);
    e.local(LocalInstr::MulInt {
        dst: y3,
        a: y,
        k: 3,
    });
    let power = |i: i32| 2f64.powi(-i);
    let scaled = match numerator {
        Some(a) => {
            // Exact at scale hi; a u < 2^(F + hi + 1) |a / b| (the stated bound on a / b).
            let scale = octaves.hi.max(0) as u32;
            let u = octave_function(e, below, octaves, scale, power);
            if e.decl(a).kind == RegKind::Ring {
                // A public numerator: a local product, then the same truncation.
                times_public(e, u, a, frac)
            } else {
                product(e, a, u, 0, frac)
            }
        }
        None => {
            // u y3 < 2^-lo 4 at scale F + U; smaller u (1/b below 2^-U) round towards 0.
            let scale = fitting_scale(power(octaves.lo) * 4.0, frac);
            octave_function(e, below, octaves, scale, power)
        }
    };
    product(e, scaled, y3, 2, frac)
}

/// Layer norm (see `Op::PumaLayerNorm`): mean, centred c, q = sum c^2 + d eps (at scale 2F,
/// one truncation by F), then 1/sqrt(var + eps) = sqrt(d) sqrt(s(i)) y(m) for m = q s(i);
/// c r(i) with r = sqrt(d s(i)) (|c r| <= sqrt(2 c d)) and its product with gamma run while
/// the iteration does; one product with y and the shift finish.
pub fn puma_layer_norm(
    e: &mut Emitter,
    x: Reg,
    gamma: Reg,
    beta: Reg,
    eps: f64,
    iterations: u32,
    octaves: Octaves,
) -> Reg {
    let frac = e.frac(x);
    let (centred, d, square_sum) = centred_rows(e, x);
    let q = truncate(e, square_sum, frac);
    let eps_ring = ring_scalar(e, d as f64 * eps, frac);
    let q_eps = add(e, q, eps_ring);
    let centre = approx::PUMA_RSQRT_CENTRE;
    let (below, m) = normalise(e, q_eps, octaves, centre);
    let y = goldschmidt_rsqrt(e, m, iterations);
    let scale = fitting_scale((2.0 * centre * d as f64).sqrt(), frac);
    let r = octave_function(e, below, octaves, scale, |i| {
        (d as f64 * approx::octave_scale(centre, i)).sqrt()
    });
    let cr = product(e, centred, r, 0, frac);
    let crg = super::arith::times_share_or_public(e, cr, gamma, frac);
    let normalised = product(e, crg, y, 0, frac);
    add(e, normalised, beta)
}
