//! The range-reduced PUMA protocols run across three in-process parties, against the exact
//! functions and against the interpreter's definition, on inputs in every octave of the valid
//! range [2^-16, 2^30) (each octave's bottom, its boundary from below, odd and even octaves),
//! with the measured cost equal to the prediction.

use super::{array, generate, mpc_and_plain, unary, Lcg};
use secc_ir::approx::{self, Octaves};
use secc_ir::{Encoding, InputRole, Op, Program, Tensor};
use std::collections::HashMap;

type Arrays = Vec<ndarray::ArrayD<f64>>;

/// MPC outputs and the interpreter's, after checking measured == predicted cost.
fn run(program: &Program, weights: Vec<Tensor>, inputs: Vec<(&str, Vec<f64>)>) -> (Arrays, Arrays) {
    let inputs: HashMap<String, ndarray::ArrayD<f64>> = inputs
        .into_iter()
        .map(|(k, v)| {
            let decl = program.inputs.iter().find(|d| d.name == k).unwrap();
            (k.to_string(), array(&decl.ty.shape, v))
        })
        .collect();
    mpc_and_plain(program, weights, &inputs)
}

/// Inputs in every octave of F = 16: 2^i, just below 2^(i + 1), and three points between,
/// rounded to the fixed-point grid (what the client shares).
fn octave_samples() -> Vec<f64> {
    let o = Octaves::for_frac_bits(16);
    let mut xs = Vec::new();
    for i in o.lo..=o.hi {
        let base = 2f64.powi(i);
        for f in [1.0, 1.2, 1.5, 1.77, 2.0 - 2f64.powi(-16 - i.min(0))] {
            xs.push(((f * base) * 65536.0).round() / 65536.0);
        }
    }
    xs
}

fn octaves() -> Octaves {
    Octaves::for_frac_bits(16)
}

/// |got - want| within `relative` of want plus `ulps` units of 2^-16 (the output's grid).
fn assert_close(what: &str, xs: &[f64], got: &[f64], want: impl Fn(f64) -> f64, relative: f64) {
    let ulp = 2f64.powi(-16);
    let mut worst = 0.0f64;
    for (&x, &g) in xs.iter().zip(got) {
        let w = want(x);
        let err = (g - w).abs();
        assert!(
            err <= relative * w.abs() + 3.0 * ulp,
            "{what}({x:e}) = {g:e}, want {w:e} (error {err:e})"
        );
        if w.abs() >= 1.0 {
            worst = worst.max(err / w.abs());
        }
    }
    eprintln!(
        "{what}: worst relative error {worst:e} on results >= 1 ({} inputs)",
        xs.len()
    );
}

/// The iteration reaches 1.7e-5; m at 16 fraction bits adds 2^-17 relative, the products a
/// few 2^-16 of results near 1: 1e-4 bounds it, plus 3 units of the output grid for results
/// below it (1/sqrt(2^30) = 2^-15 is two units).
#[test]
fn puma_rsqrt_is_accurate_in_every_octave() {
    let k = approx::puma_rsqrt_iterations(1e-4).unwrap();
    let xs = octave_samples();
    let op = Op::PumaRsqrt {
        iterations: k,
        octaves: octaves(),
    };
    let (mpc, plain) = run(&unary(op, xs.len()), vec![], vec![("x", xs.clone())]);
    let got: Vec<f64> = mpc[0].iter().copied().collect();
    assert_close("rsqrt", &xs, &got, |x| 1.0 / x.sqrt(), 1e-4);
    // The definition (what `secc reference` computes) is just as close.
    let interp: Vec<f64> = plain[0].iter().copied().collect();
    let idx: Vec<f64> = (0..xs.len()).map(|i| i as f64).collect();
    assert_close(
        "rsqrt vs definition",
        &idx,
        &got,
        |i| interp[i as usize],
        1e-4,
    );
}

#[test]
fn puma_sqrt_is_accurate_in_every_octave_and_zero() {
    let k = approx::puma_rsqrt_iterations(1e-4).unwrap();
    let mut xs = octave_samples();
    xs.push(0.0);
    let op = Op::PumaSqrt {
        iterations: k,
        octaves: octaves(),
    };
    let (mpc, _) = run(&unary(op, xs.len()), vec![], vec![("x", xs.clone())]);
    let got: Vec<f64> = mpc[0].iter().copied().collect();
    assert_close("sqrt", &xs, &got, f64::sqrt, 1e-4);
}

#[test]
fn puma_reciprocal_is_accurate_in_every_octave() {
    let k = approx::puma_reciprocal_iterations(1e-4).unwrap();
    let xs = octave_samples();
    let op = Op::PumaReciprocal {
        iterations: k,
        octaves: octaves(),
    };
    let (mpc, _) = run(&unary(op, xs.len()), vec![], vec![("x", xs.clone())]);
    let got: Vec<f64> = mpc[0].iter().copied().collect();
    assert_close("reciprocal", &xs, &got, |x| 1.0 / x, 1e-4);
}

/// a / b with b in every octave and |a / b| up to 2^14: the numerator is multiplied by 2^-i
/// exactly, so the quotient keeps its relative precision even when 1/b is below the grid.
#[test]
fn puma_division_is_accurate_in_every_octave() {
    let k = approx::puma_reciprocal_iterations(1e-4).unwrap();
    let bs = octave_samples();
    let n = bs.len();
    let mut rng = Lcg(11);
    let ratios: Vec<f64> = (0..n)
        .map(|i| {
            let r = rng.uniform(-2.0, 2.0);
            if i % 7 == 0 {
                r * 8000.0
            } else {
                r
            }
        })
        .collect();
    // a on the grid; the wanted quotient is that a over b.
    let a: Vec<f64> = bs
        .iter()
        .zip(&ratios)
        .map(|(b, r)| (b * r * 65536.0).round() / 65536.0)
        .collect();
    let mut p = Program::new("div", 16);
    let bv = p.add_input("b", InputRole::Client, vec![n], Encoding::Fixed);
    let av = p.add_input("a", InputRole::Client, vec![n], Encoding::Fixed);
    let op = Op::PumaReciprocal {
        iterations: k,
        octaves: octaves(),
    };
    let q = p.push(op, vec![bv, av], "div").unwrap();
    p.add_output("q", q);
    let (mpc, _) = run(&p, vec![], vec![("b", bs.clone()), ("a", a.clone())]);
    let got: Vec<f64> = mpc[0].iter().copied().collect();
    let idx: Vec<f64> = (0..n).map(|i| i as f64).collect();
    assert_close(
        "a / b",
        &idx,
        &got,
        |i| a[i as usize] / bs[i as usize],
        1e-4,
    );
}

/// Rows whose standard deviations span 0.1 .. 3000 (variances 1e-2 .. 9e6, q = d var up to
/// 1.4e8 < 2^30) around large means. Against the exact layer norm: the iteration's 1.7e-5
/// relative error times |normalised| <= sqrt(d) = 4, the mean's truncation (one unit of 2^-16
/// over std 0.1 is 1.5e-4) and the products' rounding; measured 2.2e-4, hence 1e-3.
#[test]
fn puma_layer_norm_is_accurate_over_a_wide_range_of_variances() {
    let d = 16;
    let stds = [0.1, 0.37, 1.0, 2.9, 11.0, 45.0, 180.0, 700.0, 3000.0];
    let rows = stds.len();
    let mut rng = Lcg(12);
    let xs: Vec<f64> = stds
        .iter()
        .enumerate()
        .flat_map(|(r, &s)| {
            let mean = (r as f64 - 4.0) * 50.0;
            rng.vec(d, -1.7, 1.7)
                .into_iter()
                .map(move |u| ((mean + s * u) * 65536.0).round() / 65536.0)
                .collect::<Vec<_>>()
        })
        .collect();
    let gamma = rng.vec(d, 0.5, 2.0);
    let beta = rng.vec(d, -1.0, 1.0);
    let mut p = Program::new("ln", 16);
    let x = p.add_input("x", InputRole::Client, vec![rows, d], Encoding::Fixed);
    let g = p.add_param("gamma", vec![d]);
    let b = p.add_param("beta", vec![d]);
    let op = Op::PumaLayerNorm {
        eps: 1e-12,
        iterations: approx::puma_rsqrt_iterations(1e-4).unwrap(),
        octaves: octaves(),
    };
    let y = p.push(op, vec![x, g, b], "ln").unwrap();
    p.add_output("y", y);
    let weights = vec![
        Tensor::new(vec![d], Encoding::Fixed, gamma.clone()),
        Tensor::new(vec![d], Encoding::Fixed, beta.clone()),
    ];
    let (mpc, plain) = run(&p, weights, vec![("x", xs.clone())]);
    let mut worst = (0.0f64, 0.0f64);
    for r in 0..rows {
        let row = &xs[r * d..(r + 1) * d];
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        for j in 0..d {
            let exact = (row[j] - mean) / (var + 1e-12).sqrt() * gamma[j] + beta[j];
            let got = mpc[0][[r, j]];
            worst.0 = worst.0.max((got - exact).abs());
            worst.1 = worst.1.max((got - plain[0][[r, j]]).abs());
        }
    }
    eprintln!(
        "layer norm: max error {:e} vs exact, {:e} vs definition",
        worst.0, worst.1
    );
    assert!(worst.0 < 1e-3 && worst.1 < 1e-3, "{worst:?}");
}

/// Normalize as sentence-transformers exports it: x / max(sqrt(sum x^2), 1e-12), i.e. PUMA's
/// square root, the secret clip (1e-12 + relu(s - 1e-12)) and the division by a secret, on rows
/// whose norms span 1 .. 1e4 (the squared norm 1 .. 1e8; smaller rows lose their squares to the
/// product's truncation at 16 fraction bits before the protocols see them): unit vectors within
/// 2e-4 of the exact ones, and of the interpreter's definition.
#[test]
fn normalize_with_sqrt_clip_and_division_gives_unit_vectors() {
    let (rows, d) = (7, 12);
    let scales = [1.0, 3.0, 7.0, 100.0, 1500.0, 4000.0, 10000.0];
    let mut rng = Lcg(13);
    let xs: Vec<f64> = scales
        .iter()
        .flat_map(|&s| rng.vec(d, -1.0, 1.0).into_iter().map(move |u| s * u / 2.0))
        .map(|v| (v * 65536.0).round() / 65536.0)
        .collect();
    let k_rsqrt = approx::puma_rsqrt_iterations(1e-4).unwrap();
    let k_recip = approx::puma_reciprocal_iterations(1e-4).unwrap();
    let mut p = Program::new("normalize", 16);
    let x = p.add_input("x", InputRole::Client, vec![rows, d], Encoding::Fixed);
    let sq = p.push(Op::Mul, vec![x, x], "sq").unwrap();
    let sum_op = Op::ReduceSum {
        axes: vec![1],
        keep_dims: true,
    };
    let sum = p.push(sum_op, vec![sq], "sum").unwrap();
    let sqrt_op = Op::PumaSqrt {
        iterations: k_rsqrt,
        octaves: octaves(),
    };
    let norm = p.push(sqrt_op, vec![sum], "norm").unwrap();
    let clip_op = Op::Clip {
        min: Some(1e-12),
        max: None,
    };
    let clipped = p.push(clip_op, vec![norm], "clip").unwrap();
    let div_op = Op::PumaReciprocal {
        iterations: k_recip,
        octaves: octaves(),
    };
    let y = p.push(div_op, vec![clipped, x], "div").unwrap();
    p.add_output("y", y);
    let (mpc, plain) = run(&p, vec![], vec![("x", xs.clone())]);
    let mut worst = (0.0f64, 0.0f64);
    for r in 0..rows {
        let row = &xs[r * d..(r + 1) * d];
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        for j in 0..d {
            let got = mpc[0][[r, j]];
            worst.0 = worst.0.max((got - row[j] / norm).abs());
            worst.1 = worst.1.max((got - plain[0][[r, j]]).abs());
        }
    }
    eprintln!(
        "normalize: max error {:e} vs exact, {:e} vs definition",
        worst.0, worst.1
    );
    assert!(worst.0 < 2e-4 && worst.1 < 2e-4, "{worst:?}");
}

/// The rounds docs/protocols.md states (10 for the comparisons and bit injection, 2 for the
/// normalising product, the iteration, 2 for the final product; 4 more for the layer norm's
/// mean and variance), independent of the size, and about 282 words per element per party
/// (45 comparisons of 64 bits at about 5.8 words each with the bit injection).
#[test]
fn range_reduced_protocols_take_the_documented_rounds() {
    let o = octaves();
    let ops = [
        Op::PumaRsqrt {
            iterations: 3,
            octaves: o,
        },
        Op::PumaSqrt {
            iterations: 3,
            octaves: o,
        },
        Op::PumaReciprocal {
            iterations: 4,
            octaves: o,
        },
    ];
    for op in ops {
        let one = generate(&unary(op.clone(), 1)).unwrap().predicted_cost();
        let many = generate(&unary(op.clone(), 100)).unwrap().predicted_cost();
        assert_eq!((one.rounds, many.rounds), (22, 22), "{}", op.name());
        let words = one.bytes_sent.iter().map(|&b| b as f64 / 8.0);
        assert!(
            words.clone().all(|w| (270.0..295.0).contains(&w)),
            "{:?}",
            one.bytes_sent
        );
        for (a, b) in one.bytes_sent.iter().zip(&many.bytes_sent) {
            assert!(
                (*b as f64 / *a as f64 - 100.0).abs() < 2.0,
                "{one:?} {many:?}"
            );
        }
    }
    for (rows, d) in [(1, 64), (100, 64), (2, 384)] {
        let mut p = Program::new("ln", 16);
        let x = p.add_input("x", InputRole::Client, vec![rows, d], Encoding::Fixed);
        let g = p.add_param("g", vec![d]);
        let b = p.add_param("b", vec![d]);
        let op = Op::PumaLayerNorm {
            eps: 1e-12,
            iterations: 3,
            octaves: o,
        };
        let y = p.push(op, vec![x, g, b], "ln").unwrap();
        p.add_output("y", y);
        assert_eq!(generate(&p).unwrap().predicted_cost().rounds, 26);
    }
}

/// A public numerator over a secret divisor (ONNX `Div(1, x)`) is a local product by the
/// public value instead of a secret one: 3 / b and -0.5 / b on every octave from 2^-12 up
/// (|a / b| must stay below 2^15: 3 / 2^-16 would overflow the product a 2^-i).
#[test]
fn a_public_numerator_over_a_secret_divisor() {
    let bs: Vec<f64> = octave_samples()
        .into_iter()
        .filter(|&b| b >= 2f64.powi(-12))
        .collect();
    let n = bs.len();
    let numerators: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { 3.0 } else { -0.5 })
        .collect();
    let mut p = Program::new("div", 16);
    let b = p.add_input("b", InputRole::Client, vec![n], Encoding::Fixed);
    let value = Tensor::new(vec![n], Encoding::Fixed, numerators.clone());
    let a = p.push(Op::Const { value }, vec![], "a").unwrap();
    let op = Op::PumaReciprocal {
        iterations: approx::puma_reciprocal_iterations(1e-4).unwrap(),
        octaves: octaves(),
    };
    let q = p.push(op, vec![b, a], "div").unwrap();
    p.add_output("q", q);
    let (mpc, _) = run(&p, vec![], vec![("b", bs.clone())]);
    let got: Vec<f64> = mpc[0].iter().copied().collect();
    let idx: Vec<f64> = (0..n).map(|i| i as f64).collect();
    assert_close(
        "c / b",
        &idx,
        &got,
        |i| numerators[i as usize] / bs[i as usize],
        1e-4,
    );
}
