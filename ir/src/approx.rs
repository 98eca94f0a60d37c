//! The real-valued definitions of the MPC-friendly approximations (SecFormer and PUMA), shared by
//! the plaintext interpreter (which must compute exactly what the protocols approximate) and by
//! the compiler (which derives deflation constants and iteration counts from value ranges).
//!
//! Everything here is plain f64 arithmetic; the protocols in codegen evaluate the same formulas
//! on shares, step for step.

/// Sine terms in SecFormer's Fourier series for erf.
pub const FOURIER_TERMS: usize = 7;

/// Period of the Fourier series in units of the GeLU input x. A power of two, so that a mask
/// uniform modulo the period (in fixed point, 2^(log2(period) + F) ring units) hides the input
/// perfectly.
pub const FOURIER_PERIOD: f64 = 16.0;

/// Beyond |x| > GELU_CUT the GeLU is 0 or x: erf(x / sqrt 2) is within 4e-4 of its limit there
/// (SecFormer cuts erf at |z| = 2.5, i.e. |x| = 2.5 sqrt 2).
pub const GELU_CUT: f64 = 2.5 * std::f64::consts::SQRT_2;

/// Beyond |x| > TANH_CUT, tanh is taken as -1 or 1 (|tanh(4) - 1| < 7e-4).
pub const TANH_CUT: f64 = 4.0;

/// log2 of [`FOURIER_PERIOD`].
pub const FOURIER_PERIOD_BITS: u32 = 4;

/// The Fourier coefficients of erf(x / sqrt 2) on [-GELU_CUT, GELU_CUT] (computed once).
pub fn fourier_erf_coefficients() -> [f64; FOURIER_TERMS] {
    static COEFFICIENTS: std::sync::OnceLock<[f64; FOURIER_TERMS]> = std::sync::OnceLock::new();
    *COEFFICIENTS.get_or_init(|| fourier_fit(|x| libm::erf(x / std::f64::consts::SQRT_2), GELU_CUT))
}

/// The Fourier coefficients of tanh on [-TANH_CUT, TANH_CUT] (computed once).
pub fn fourier_tanh_coefficients() -> [f64; FOURIER_TERMS] {
    static COEFFICIENTS: std::sync::OnceLock<[f64; FOURIER_TERMS]> = std::sync::OnceLock::new();
    *COEFFICIENTS.get_or_init(|| fourier_fit(f64::tanh, TANH_CUT))
}

/// Least-squares fit of `target` on [-cut, cut] by sum_{m=1..7} b_m sin(2 pi m x / P).
/// Deterministic: a fixed grid and a dense normal-equation solve.
pub fn fourier_fit(target: impl Fn(f64) -> f64, cut: f64) -> [f64; FOURIER_TERMS] {
    let n = 2001;
    let mut ata = [[0.0f64; FOURIER_TERMS]; FOURIER_TERMS];
    let mut atb = [0.0f64; FOURIER_TERMS];
    for i in 0..n {
        let x = -cut + 2.0 * cut * i as f64 / (n - 1) as f64;
        let basis = fourier_basis(x);
        let target = target(x);
        for r in 0..FOURIER_TERMS {
            atb[r] += basis[r] * target;
            for c in 0..FOURIER_TERMS {
                ata[r][c] += basis[r] * basis[c];
            }
        }
    }
    solve(ata, atb)
}

/// sin(2 pi m x / P) for m = 1..7.
pub fn fourier_basis(x: f64) -> [f64; FOURIER_TERMS] {
    let w = 2.0 * std::f64::consts::PI / FOURIER_PERIOD;
    std::array::from_fn(|m| ((m + 1) as f64 * w * x).sin())
}

/// Gaussian elimination with partial pivoting on a small dense system.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> [f64; N] {
    for col in 0..N {
        let pivot = (col..N)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("non-empty");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..N {
            let f = a[row][col] / pivot_row[col];
            for (entry, &p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                *entry -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

/// SecFormer's GeLU: 0 below -GELU_CUT, x from GELU_CUT up, 0.5 x (1 + F(x)) between, with F
/// the Fourier series of erf(x / sqrt 2). The segment tests are x < -cut and x < cut, as the
/// protocol's two comparisons compute them.
pub fn sec_gelu(x: f64, coefficients: &[f64; FOURIER_TERMS]) -> f64 {
    if x < -GELU_CUT {
        0.0
    } else if x >= GELU_CUT {
        x
    } else {
        0.5 * x * (1.0 + fourier_series(x, coefficients))
    }
}

/// The Fourier series with the given coefficients at x.
pub fn fourier_series(x: f64, coefficients: &[f64; FOURIER_TERMS]) -> f64 {
    fourier_basis(x)
        .iter()
        .zip(coefficients)
        .map(|(s, b)| s * b)
        .sum()
}

/// tanh as -1 below -TANH_CUT, 1 above TANH_CUT, the Fourier series between.
pub fn sec_tanh(x: f64, coefficients: &[f64; FOURIER_TERMS]) -> f64 {
    if x < -TANH_CUT {
        -1.0
    } else if x >= TANH_CUT {
        1.0
    } else {
        fourier_series(x, coefficients)
    }
}

/// Goldschmidt reciprocal of `x` after dividing it by the public `deflation`, from the start 1:
/// with a = x / deflation, y = prod_k (1 + e^(2^k)) for e = 1 - a, i.e. y <- y (2 - a y) in
/// product form; returns y / deflation. Converges for 0 < a < 2.
pub fn goldschmidt_reciprocal(x: f64, deflation: f64, iterations: u32) -> f64 {
    let a = x / deflation;
    let mut e = 1.0 - a;
    let mut y = 1.0;
    for _ in 0..iterations {
        y *= 1.0 + e;
        e *= e;
    }
    y / deflation
}

/// Goldschmidt inverse square root of `x` after dividing it by the public `deflation`, from the
/// start 1: b <- b r^2, y <- y r with r = (3 - b) / 2; returns y / sqrt(deflation).
/// Converges for 0 < x / deflation < 3.
pub fn goldschmidt_rsqrt(x: f64, deflation: f64, iterations: u32) -> f64 {
    let mut b = x / deflation;
    let mut y = 1.0;
    for _ in 0..iterations {
        let r = (3.0 - b) / 2.0;
        b *= r * r;
        y *= r;
    }
    y / deflation.sqrt()
}

/// Iterations the Goldschmidt reciprocal needs so that the relative error is below `tolerance`
/// for every deflated input in [lo, hi] (0 < lo <= hi < 2): the error after k iterations is
/// e^(2^k) with e = max |1 - a|.
pub fn reciprocal_iterations(lo: f64, hi: f64, tolerance: f64) -> Option<u32> {
    let e = (1.0 - lo).abs().max((1.0 - hi).abs());
    if e >= 1.0 {
        return None;
    }
    (0..40).find(|&k| e.powf(2f64.powi(k as i32)) <= tolerance)
}

/// Iterations the Goldschmidt inverse square root needs for relative error below `tolerance` on
/// deflated inputs in [lo, hi] (0 < lo <= hi < 3), found by running the iteration on both ends
/// (the error is monotone in the distance from 1 on each side).
pub fn rsqrt_iterations(lo: f64, hi: f64, tolerance: f64) -> Option<u32> {
    if lo <= 0.0 || hi >= 3.0 {
        return None;
    }
    (0..60).find(|&k| {
        [lo, hi].iter().all(|&a| {
            let got = goldschmidt_rsqrt(a, 1.0, k);
            (got * a.sqrt() - 1.0).abs() <= tolerance
        })
    })
}

/// The inputs (after deflation) on which `iterations` Goldschmidt reciprocal steps reach
/// relative error `tolerance`: |1 - a|^(2^k) <= tolerance.
pub fn reciprocal_valid_range(iterations: u32, tolerance: f64) -> (f64, f64) {
    let e = tolerance.powf(1.0 / 2f64.powi(iterations as i32));
    (1.0 - e, 1.0 + e)
}

/// The inputs (after deflation) on which `iterations` Goldschmidt inverse-square-root steps
/// reach relative error `tolerance`, found by bisection on each side of 1 (the error grows
/// monotonically with the distance from 1 on each side, up to divergence at 3).
pub fn rsqrt_valid_range(iterations: u32, tolerance: f64) -> (f64, f64) {
    let ok = |a: f64| (goldschmidt_rsqrt(a, 1.0, iterations) * a.sqrt() - 1.0).abs() <= tolerance;
    let bisect = |mut good: f64, mut bad: f64| {
        for _ in 0..60 {
            let mid = 0.5 * (good + bad);
            if ok(mid) {
                good = mid;
            } else {
                bad = mid;
            }
        }
        good
    };
    (bisect(1.0, 0.0), bisect(1.0, 3.0))
}

/// PUMA's GeLU (four segments; coefficients from the PUMA paper, brief §4).
pub fn puma_gelu(x: f64) -> f64 {
    if x < -4.0 {
        0.0
    } else if x < -1.95 {
        let (x2, x3) = (x * x, x * x * x);
        -0.011034134030615728 * x3
            - 0.11807612951181953 * x2
            - 0.42226581151983866 * x
            - 0.5054031199708174
    } else if x <= 3.0 {
        let (x2, x4, x6) = (x * x, x.powi(4), x.powi(6));
        0.0018067462606141187 * x6 - 0.037688200365904236 * x4
            + 0.3603292692789629 * x2
            + 0.5 * x
            + 0.008526321541038084
    } else {
        x
    }
}

/// The thresholds of [`puma_tanh`]'s segments: the comparisons [x < c] it needs.
pub const PUMA_TANH_THRESHOLDS: [f64; 7] = [-5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0];

/// Coefficients (of 1, x, ..., x^5) of [`puma_tanh`]'s polynomials on [0, 1.5), [1.5, 3) and
/// [3, 5): minimax fits of tanh on each interval (Lawson-reweighted least squares on Chebyshev
/// nodes, numpy), worst errors 7.3e-5, 3.1e-6 and 2.2e-6.
pub const PUMA_TANH_PIECES: [[f64; 6]; 3] = [
    [
        7.22796241277855e-05,
        0.9956254704770184,
        0.04301433674610455,
        -0.48909569741034437,
        0.25466817767249755,
        -0.04261819017696533,
    ],
    [
        -0.1924214586738528,
        1.7196607933542616,
        -1.0493990174475312,
        0.3354468036126103,
        -0.05566592147824534,
        0.0038064361278797865,
    ],
    [
        0.5622423557237842,
        0.4629394307261602,
        -0.1991729089942022,
        0.04340989451714444,
        -0.004777931996765183,
        0.00021192487042159813,
    ],
];

/// The coefficients of the mirrored piece -p(-x) (odd symmetry of tanh): c_k (-1)^(k+1).
pub fn mirrored(piece: &[f64; 6]) -> [f64; 6] {
    let mut out = *piece;
    for (k, c) in out.iter_mut().enumerate() {
        if k % 2 == 0 {
            *c = -*c;
        }
    }
    out
}

/// tanh for the pooler in PUMA mode, in the style of PUMA's GeLU (piecewise low-degree
/// polynomials selected by comparisons, no calibration): -1 below -5, 1 from 5 up, a degree-5
/// polynomial on each of [0, 1.5), [1.5, 3), [3, 5) and its odd mirror on the negative side.
/// Within 1e-4 of tanh everywhere (|1 - tanh 5| = 9.1e-5).
pub fn puma_tanh(x: f64) -> f64 {
    let t = &PUMA_TANH_THRESHOLDS;
    if x < t[0] {
        return -1.0;
    }
    if x >= t[6] {
        return 1.0;
    }
    let k = (1..7).find(|&k| x < t[k]).expect("x < t[6]") - 1;
    puma_tanh_piece(k)
        .iter()
        .rev()
        .fold(0.0, |acc, c| acc * x + c)
}

/// The polynomial of [`puma_tanh`]'s segment k (0..6), covering
/// [PUMA_TANH_THRESHOLDS[k], PUMA_TANH_THRESHOLDS[k + 1]): segments 0..2 are the mirrored
/// pieces 2, 1, 0, segments 3..5 the pieces 0, 1, 2.
pub fn puma_tanh_piece(k: usize) -> [f64; 6] {
    if k < 3 {
        mirrored(&PUMA_TANH_PIECES[2 - k])
    } else {
        PUMA_TANH_PIECES[k - 3]
    }
}

/// PUMA's exponential for non-positive inputs: (1 + x / 2^t)^(2^t) for t = `squarings` (PUMA
/// uses 5), zero below -14.
pub fn puma_exp(x: f64, squarings: u32) -> f64 {
    if x < -14.0 {
        0.0
    } else {
        let n = 2f64.powi(squarings as i32);
        (1.0 + x / n).powi(1 << squarings)
    }
}

/// The octaves the range-reduced PUMA protocols (`PumaLayerNorm`, `PumaRsqrt`, `PumaSqrt`,
/// `PumaReciprocal`) distinguish: one secret comparison per threshold 2^j, j = lo + 1 ..= hi,
/// puts a positive x in octave i (2^i <= x < 2^(i + 1)), clamped to [lo, hi]. Inputs in
/// [2^lo, 2^(hi + 1)) are normalised into [c, 2c) for the protocol's centring constant c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Octaves {
    pub lo: i32,
    pub hi: i32,
}

impl Octaves {
    /// The octaves for F fraction bits: lo = -F (the bottom octave is 1 ulp) and hi = 61 - 2F,
    /// the largest for which the protocols' products stay below 2^62 (for F = 16: [2^-16, 2^30),
    /// which is also where a layer norm's sum of squares at scale 2F ends).
    pub fn for_frac_bits(frac_bits: u32) -> Self {
        let f = frac_bits as i32;
        Octaves {
            lo: -f,
            hi: 61 - 2 * f,
        }
    }

    /// The inputs whose octave is found exactly: [2^lo, 2^(hi + 1)).
    pub fn valid(&self) -> (f64, f64) {
        (2f64.powi(self.lo), 2f64.powi(self.hi + 1))
    }

    /// The thresholds' exponents j = lo + 1 ..= hi.
    pub fn thresholds(&self) -> std::ops::RangeInclusive<i32> {
        self.lo + 1..=self.hi
    }

    /// lo plus the number of thresholds 2^j with x >= 2^j: floor(log2 x) clamped to [lo, hi]
    /// (lo for x <= 0), exactly what the protocol's comparisons give.
    pub fn octave(&self, x: f64) -> i32 {
        self.lo + self.thresholds().filter(|&j| x >= 2f64.powi(j)).count() as i32
    }
}

/// Centring constant of the range-reduced inverse square root: m = x c 2^-i lies in
/// [11/16, 11/8), where 3 Goldschmidt iterations reach relative error 1.7e-5. 11/16 has four
/// bits, so c 2^-i is exact in the ring.
pub const PUMA_RSQRT_CENTRE: f64 = 11.0 / 16.0;

/// Centring constant of the range-reduced reciprocal: m = x c 2^-i lies in [3/4, 3/2), where 4
/// Goldschmidt iterations reach relative error 1.6e-5; c = 3/4 is exact in the ring.
pub const PUMA_RECIPROCAL_CENTRE: f64 = 0.75;

/// The normalising factor c 2^-i of octave i.
pub fn octave_scale(centre: f64, octave: i32) -> f64 {
    centre * 2f64.powi(-octave)
}

/// PUMA mode's inverse square root of x > 0 without calibration: i = `octaves.octave(x)`,
/// s = c 2^-i (c = [`PUMA_RSQRT_CENTRE`]), m = x s in [c, 2c) for x in the valid range,
/// 1/sqrt(x) = `goldschmidt_rsqrt`(m, 1, iterations) sqrt(s).
pub fn puma_rsqrt(x: f64, iterations: u32, octaves: Octaves) -> f64 {
    let s = octave_scale(PUMA_RSQRT_CENTRE, octaves.octave(x));
    goldschmidt_rsqrt(x * s, 1.0, iterations) * s.sqrt()
}

/// PUMA mode's square root of x >= 0: with i, s and m as in [`puma_rsqrt`],
/// sqrt(x) = m `goldschmidt_rsqrt`(m, 1, iterations) / sqrt(s).
pub fn puma_sqrt(x: f64, iterations: u32, octaves: Octaves) -> f64 {
    let s = octave_scale(PUMA_RSQRT_CENTRE, octaves.octave(x));
    let m = x * s;
    m * goldschmidt_rsqrt(m, 1.0, iterations) / s.sqrt()
}

/// PUMA mode's reciprocal of x > 0 without calibration: i = `octaves.octave(x)`,
/// s = c 2^-i (c = [`PUMA_RECIPROCAL_CENTRE`]), 1/x = `goldschmidt_reciprocal`(x s, 1,
/// iterations) s.
pub fn puma_reciprocal(x: f64, iterations: u32, octaves: Octaves) -> f64 {
    let s = octave_scale(PUMA_RECIPROCAL_CENTRE, octaves.octave(x));
    goldschmidt_reciprocal(x * s, 1.0, iterations) * s
}

/// Iterations of the range-reduced inverse square root (and square root) for relative error
/// `tolerance` over the whole valid range (the normalised input always lies in [c, 2c)).
pub fn puma_rsqrt_iterations(tolerance: f64) -> Option<u32> {
    rsqrt_iterations(PUMA_RSQRT_CENTRE, 2.0 * PUMA_RSQRT_CENTRE, tolerance)
}

/// Iterations of the range-reduced reciprocal for relative error `tolerance`.
pub fn puma_reciprocal_iterations(tolerance: f64) -> Option<u32> {
    reciprocal_iterations(
        PUMA_RECIPROCAL_CENTRE,
        2.0 * PUMA_RECIPROCAL_CENTRE,
        tolerance,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::gelu_erf;

    #[test]
    fn fourier_gelu_is_close_to_the_exact_gelu_everywhere() {
        let b = fourier_erf_coefficients();
        let worst = (-8000..=8000)
            .map(|i| i as f64 / 1000.0)
            .map(|x| (sec_gelu(x, &b) - gelu_erf(x)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-3, "max |SecGelu - GeLU| = {worst}");
    }

    #[test]
    fn fourier_tanh_is_close_to_tanh_everywhere() {
        let b = fourier_tanh_coefficients();
        let worst = (-8000..=8000)
            .map(|i| i as f64 / 1000.0)
            .map(|x| (sec_tanh(x, &b) - x.tanh()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-3, "max |SecTanh - tanh| = {worst}");
    }

    #[test]
    fn goldschmidt_reciprocal_converges_on_its_range() {
        let k = reciprocal_iterations(0.05, 1.95, 1e-6).unwrap();
        for &x in &[0.05, 0.3, 1.0, 1.7, 1.95] {
            let got = goldschmidt_reciprocal(x, 1.0, k);
            assert!(
                (got * x - 1.0).abs() < 1e-6,
                "1/{x}: {got} after {k} iterations"
            );
        }
        // With deflation the same iterations cover a wide range of raw inputs.
        let got = goldschmidt_reciprocal(700.0, 1000.0, k);
        assert!((got * 700.0 - 1.0).abs() < 1e-6);
        assert!(reciprocal_iterations(0.0, 1.0, 1e-6).is_none());
    }

    #[test]
    fn goldschmidt_rsqrt_converges_on_its_range() {
        let k = rsqrt_iterations(0.01, 2.5, 1e-5).unwrap();
        for &x in &[0.01, 0.1, 1.0, 2.0, 2.5] {
            let got = goldschmidt_rsqrt(x, 1.0, k);
            assert!(
                (got * x.sqrt() - 1.0).abs() < 1e-5,
                "rsqrt({x}) = {got} after {k}"
            );
        }
        let got = goldschmidt_rsqrt(40.0, 50.0, k);
        assert!((got * 40f64.sqrt() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn puma_pieces_are_continuous_enough_and_close_to_gelu() {
        for i in -600..=600 {
            let x = i as f64 / 100.0;
            assert!((puma_gelu(x) - gelu_erf(x)).abs() < 2e-2, "x = {x}");
        }
        assert!((puma_exp(-1.0, 5) - (-1f64).exp()).abs() < 1e-2);
        assert!((puma_exp(-1.0, 6) - (-1f64).exp()).abs() < 3e-3);
        assert_eq!(puma_exp(-2.0, 1), 0.0);
    }

    #[test]
    fn puma_tanh_is_within_1e_4_of_tanh_and_odd() {
        for i in -80_000..=80_000 {
            let x = i as f64 / 10_000.0;
            assert!((puma_tanh(x) - x.tanh()).abs() < 1e-4, "x = {x}");
            if x != 0.0 && !PUMA_TANH_THRESHOLDS.contains(&x.abs()) {
                assert!((puma_tanh(x) + puma_tanh(-x)).abs() < 1e-12, "x = {x}");
            }
        }
        assert_eq!(puma_tanh(-5.0 - 1e-9), -1.0);
        assert_eq!(puma_tanh(5.0), 1.0);
        assert_eq!(puma_exp(-15.0, 5), 0.0);
    }

    #[test]
    fn octaves_follow_the_comparisons_and_clamp() {
        let o = Octaves::for_frac_bits(16);
        assert_eq!((o.lo, o.hi), (-16, 29));
        assert_eq!(o.octave(1.0), 0);
        assert_eq!(o.octave(1.999), 0);
        assert_eq!(o.octave(2.0), 1);
        assert_eq!(o.octave(0.75), -1);
        assert_eq!(o.octave(2f64.powi(-16)), -16);
        assert_eq!(o.octave(0.0), -16);
        assert_eq!(o.octave(-3.0), -16);
        assert_eq!(o.octave(2f64.powi(29) * 1.5), 29);
        assert_eq!(o.octave(2f64.powi(40)), 29, "clamped to the top octave");
        assert_eq!(o.valid(), (2f64.powi(-16), 2f64.powi(30)));
    }

    #[test]
    fn range_reduced_protocols_are_accurate_over_the_whole_valid_range() {
        let o = Octaves::for_frac_bits(16);
        let k_rsqrt = puma_rsqrt_iterations(1e-4).unwrap();
        let k_recip = puma_reciprocal_iterations(1e-4).unwrap();
        assert_eq!((k_rsqrt, k_recip), (3, 4));
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        // Every octave, at its bottom, middle and just below its top (odd and even octaves).
        for i in o.lo..=o.hi {
            for f in [1.0, 1.25, 1.5, 1.75, 1.999_999] {
                let x = f * 2f64.powi(i);
                let rs = (puma_rsqrt(x, k_rsqrt, o) * x.sqrt() - 1.0).abs();
                let sq = (puma_sqrt(x, k_rsqrt, o) / x.sqrt() - 1.0).abs();
                let rc = (puma_reciprocal(x, k_recip, o) * x - 1.0).abs();
                worst = (worst.0.max(rs), worst.1.max(sq), worst.2.max(rc));
            }
        }
        assert!(
            worst.0 < 2e-5 && worst.1 < 2e-5 && worst.2 < 2e-5,
            "{worst:?}"
        );
        // Outside the valid range the octave is clamped and the iteration does not converge.
        let big = 2f64.powi(32);
        assert!((puma_reciprocal(big, k_recip, o) * big - 1.0).abs() > 1e-2);
    }
}
