//! Every protocol against plaintext on random inputs with negatives, zero and values near the
//! edges of the fixed-point range; every run also asserts that the measured rounds and bytes
//! equal `LowProgram::predicted_cost()` exactly (see `common::run`).

mod common;

use common::*;
use secc_ir::fixed;
use secc_ir::lir::{CommInstr, InputForm, LocalInstr, RegKind, StructOp};
use secc_ir::Op;
use secc_runtime::builder::ProgramBuilder;
use secc_runtime::protocols::compose;

const ULP: f64 = 1.0 / 65536.0;

fn secret(frac_bits: u32) -> InputForm {
    InputForm::Secret { frac_bits }
}

#[test]
fn inputs_and_weights_are_shared_and_opened_to_the_client_exactly() {
    let mut v = Values::new(1);
    let limit = fixed::max_abs(F);
    let xs = v.with_edges(64, limit);
    let ws = v.with_edges(12, limit);
    let mask = vec![1.0, 0.0, -2.5, 1e9];
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[8, 8], secret(F));
    let m = b.input("attention_mask", &[4], InputForm::Public);
    let w = b.param("w", &[3, 4], F);
    b.output("x", x);
    b.output("mask", m);
    b.output("w", w);
    let program = b.finish();
    let report = run(
        &program,
        &[tensor(&[3, 4], ws.clone())],
        &[
            ("x", array(&[8, 8], xs.clone())),
            ("attention_mask", array(&[4], mask.clone())),
        ],
    );
    let q = |xs: &[f64]| xs.iter().map(|&x| quantize(x, F)).collect::<Vec<_>>();
    assert_eq!(output(&report, "x"), q(&xs).as_slice());
    assert_eq!(output(&report, "mask"), mask.as_slice());
    assert_eq!(output(&report, "w"), q(&ws).as_slice());
    assert_eq!(report.outputs[0].shape, vec![8, 8]);
    assert_eq!((report.rounds, report.bytes_sent), (0, [0, 0, 0]));
    // Each party received two components of 64 + 12 elements... the client sent two of three
    // components of x to each party, plus the public mask.
    assert_eq!(report.client_bytes_sent, 3 * (2 * 64 * 8 + 4 * 8));
}

#[test]
fn add_sub_neg_and_scaling_by_public_values() {
    let mut v = Values::new(2);
    let limit = fixed::max_abs(F) / 4.0;
    let xs = v.with_edges(12, limit);
    let ys = v.with_edges(12, limit);
    let cs: Vec<f64> = v.with_edges(4, 1000.0);
    let smalls = v.with_edges(12, 2f64.powi(29));
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[3, 4], secret(F));
    let y = b.param("y", &[3, 4], F);
    let c = b.ring_constant(tensor(&[4], cs.clone()), F);
    let rss = |b: &mut ProgramBuilder, frac| b.reg(RegKind::Rss, &[3, 4], frac);
    let sum = rss(&mut b, F);
    b.local(LocalInstr::Add {
        dst: sum,
        a: x,
        b: y,
    });
    let diff = rss(&mut b, F);
    b.local(LocalInstr::Sub {
        dst: diff,
        a: x,
        b: y,
    });
    let plus_c = rss(&mut b, F);
    b.local(LocalInstr::Add {
        dst: plus_c,
        a: x,
        b: c,
    });
    let c_minus = rss(&mut b, F);
    b.local(LocalInstr::Sub {
        dst: c_minus,
        a: c,
        b: x,
    });
    let neg = rss(&mut b, F);
    b.local(LocalInstr::Neg { dst: neg, a: x });
    let times3 = rss(&mut b, F);
    b.local(LocalInstr::MulInt {
        dst: times3,
        a: diff,
        k: -3,
    });
    // Scaling by a public fixed-point value: scales add, then one truncation.
    // (The product at scale 2F must stay below 2^30, so this factor is a smaller secret.)
    let small = b.input("small", &[3, 4], secret(F));
    let scaled_wide = b.reg(RegKind::Rss, &[3, 4], 2 * F);
    let half = b.ring_constant(tensor(&[1], vec![-0.375]), F);
    b.local(LocalInstr::MulPublic {
        dst: scaled_wide,
        a: half,
        b: small,
    });
    let scaled = compose::truncate(&mut b, scaled_wide, F);
    for (name, reg) in [
        ("sum", sum),
        ("diff", diff),
        ("plus_c", plus_c),
        ("c_minus", c_minus),
        ("neg", neg),
        ("times3", times3),
        ("scaled", scaled),
    ] {
        b.output(name, reg);
    }
    let program = b.finish();
    let report = run(
        &program,
        &[tensor(&[3, 4], ys.clone())],
        &[
            ("x", array(&[3, 4], xs.clone())),
            ("small", array(&[3, 4], smalls.clone())),
        ],
    );
    let (qx, qy): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(&ys)
        .map(|(&a, &b)| (quantize(a, F), quantize(b, F)))
        .unzip();
    let qc: Vec<f64> = cs.iter().map(|&c| quantize(c, F)).collect();
    let each = |f: &dyn Fn(usize) -> f64| (0..12).map(f).collect::<Vec<f64>>();
    assert_close(
        output(&report, "sum"),
        &each(&|i| qx[i] + qy[i]),
        0.0,
        "x + y",
    );
    assert_close(
        output(&report, "diff"),
        &each(&|i| qx[i] - qy[i]),
        0.0,
        "x - y",
    );
    assert_close(
        output(&report, "plus_c"),
        &each(&|i| qx[i] + qc[i % 4]),
        0.0,
        "x + c",
    );
    assert_close(
        output(&report, "c_minus"),
        &each(&|i| qc[i % 4] - qx[i]),
        0.0,
        "c - x",
    );
    assert_close(output(&report, "neg"), &each(&|i| -qx[i]), 0.0, "-x");
    assert_close(
        output(&report, "times3"),
        &each(&|i| -3.0 * (qx[i] - qy[i])),
        0.0,
        "-3 (x - y)",
    );
    assert_close(
        output(&report, "scaled"),
        &each(&|i| -0.375 * quantize(smalls[i], F)),
        ULP,
        "-0.375 y",
    );
    assert_eq!(report.rounds, 2);
}

#[test]
fn secret_products_are_within_one_ulp_after_truncation() {
    let mut v = Values::new(3);
    // |x y| must stay below 2^(62 - 2F) = 2^30 at scale 2F.
    let xs = v.with_edges(300, 2f64.powi(15));
    let ys = v.with_edges(300, 2f64.powi(14));
    let ys: Vec<f64> = ys.iter().rev().copied().collect();
    for dealer in 0..3u8 {
        let mut b = ProgramBuilder::new(F);
        b.dealer = dealer;
        let x = b.input("x", &[300], secret(F));
        let y = b.param("y", &[300], F);
        let p = compose::mul(&mut b, x, y);
        b.output("p", p);
        let program = b.finish();
        let report = run(
            &program,
            &[tensor(&[300], ys.clone())],
            &[("x", array(&[300], xs.clone()))],
        );
        let want: Vec<f64> = xs
            .iter()
            .zip(&ys)
            .map(|(&a, &b)| quantize(a, F) * quantize(b, F))
            .collect();
        assert_close(
            output(&report, "p"),
            &want,
            ULP,
            &format!("x * y, dealer P{dealer}"),
        );
        // Two rounds; the non-dealers send 2 elements per element, the dealer 4 (1 to
        // P(dealer+1), 3 to P(dealer+2)).
        assert_eq!(report.rounds, 2);
        let mut want_bytes = [2 * 300 * 8; 3];
        want_bytes[dealer as usize] = 4 * 300 * 8;
        assert_eq!(report.bytes_sent, want_bytes, "dealer P{dealer}");
    }
}

#[test]
fn secret_matrix_products_are_within_one_ulp_after_truncation() {
    let mut v = Values::new(4);
    let xs = v.with_edges(2 * 3 * 16, 30.0);
    let ws = v.with_edges(16 * 5, 30.0);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[2, 3, 16], secret(F));
    let w = b.param("w", &[16, 5], F);
    let p = compose::matmul(&mut b, x, w);
    b.output("p", p);
    let program = b.finish();
    let report = run(
        &program,
        &[tensor(&[16, 5], ws.clone())],
        &[("x", array(&[2, 3, 16], xs.clone()))],
    );
    let q = |v: &[f64]| v.iter().map(|&x| quantize(x, F)).collect::<Vec<_>>();
    let want =
        secc_ir::interp::matmul(&array(&[2, 3, 16], q(&xs)), &array(&[16, 5], q(&ws))).unwrap();
    assert_close(
        output(&report, "p"),
        want.as_slice().unwrap(),
        ULP + 1e-9,
        "x @ w",
    );
    assert_eq!(report.rounds, 2);
}

#[test]
fn matrix_products_by_public_values_and_truncation_of_shared_values() {
    let mut v = Values::new(5);
    let xs = v.with_edges(12, 100.0);
    let cs = v.with_edges(8, 100.0);
    // At 32 fraction bits the edge of the range is 2^30, i.e. 2^62 in the ring.
    let wide = v.with_edges(40, fixed::max_abs(2 * F));
    for dealer in 0..3u8 {
        let mut b = ProgramBuilder::new(F);
        b.dealer = dealer;
        let x = b.input("x", &[3, 4], secret(F));
        let c = b.ring_constant(tensor(&[4, 2], cs.clone()), F);
        let prod = b.reg(RegKind::Rss, &[3, 2], 2 * F);
        b.local(LocalInstr::MatMulPublic {
            dst: prod,
            a: x,
            b: c,
        });
        let xc = compose::truncate(&mut b, prod, F);
        let z = b.input("z", &[40], secret(2 * F));
        let zt = compose::truncate(&mut b, z, F);
        b.output("xc", xc);
        b.output("zt", zt);
        let program = b.finish();
        let report = run(
            &program,
            &[],
            &[
                ("x", array(&[3, 4], xs.clone())),
                ("z", array(&[40], wide.clone())),
            ],
        );
        let q = |v: &[f64]| v.iter().map(|&x| quantize(x, F)).collect::<Vec<_>>();
        let want =
            secc_ir::interp::matmul(&array(&[3, 4], q(&xs)), &array(&[4, 2], q(&cs))).unwrap();
        assert_close(
            output(&report, "xc"),
            want.as_slice().unwrap(),
            ULP + 1e-9,
            "x @ c",
        );
        let want_z: Vec<f64> = wide.iter().map(|&z| quantize(z, 2 * F)).collect();
        assert_close(
            output(&report, "zt"),
            &want_z,
            ULP,
            &format!("z / 2^16 near the ring's edge, dealer P{dealer}"),
        );
        // Rss sources: the dealer sends 4 elements per element, the others 1 (the finish).
        let n = (3 * 2 + 40) as u64;
        let mut want_bytes = [8 * n; 3];
        want_bytes[dealer as usize] = 8 * 4 * n;
        assert_eq!(report.bytes_sent, want_bytes, "dealer P{dealer}");
    }
}

#[test]
fn independent_steps_share_one_round_and_their_payloads_split_correctly() {
    let mut v = Values::new(6);
    let xs = v.with_edges(10, 100.0);
    let ys = v.with_edges(10, 100.0);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[10], secret(F));
    let y = b.input("y", &[10], secret(F));
    let xy = b.reg(RegKind::Add3, &[10], 2 * F);
    b.local(LocalInstr::MulShares {
        dst: xy,
        a: x,
        b: y,
    });
    let xx = b.reg(RegKind::Add3, &[10], 2 * F);
    b.local(LocalInstr::MulShares {
        dst: xx,
        a: x,
        b: x,
    });
    let sq = b.reg(RegKind::Add3, &[10], 2 * F);
    b.local(LocalInstr::MulShares {
        dst: sq,
        a: y,
        b: y,
    });
    // Round 1: two openings (an Add3 and an Rss source) and a plain reshare, in one message
    // per peer.
    // Each of the three truncations has another dealer, so every party both deals and opens
    // in the same round.
    let p1 = b.reg(RegKind::Pending, &[10], F);
    b.comm(CommInstr::TruncOpen {
        dst: p1,
        src: xy,
        shift: F,
        dealer: 0,
    });
    let y_wide = b.reg(RegKind::Rss, &[10], 2 * F);
    b.comm(CommInstr::Reshare {
        dst: y_wide,
        src: sq,
    });
    let p2 = b.reg(RegKind::Pending, &[10], F);
    b.comm(CommInstr::TruncOpen {
        dst: p2,
        src: xx,
        shift: F,
        dealer: 1,
    });
    b.close_stage();
    let p3 = b.reg(RegKind::Pending, &[10], F);
    b.comm(CommInstr::TruncOpen {
        dst: p3,
        src: y_wide,
        shift: F,
        dealer: 2,
    });
    b.close_stage();
    let (r1, r2, r3) = (
        b.reg(RegKind::Rss, &[10], F),
        b.reg(RegKind::Rss, &[10], F),
        b.reg(RegKind::Rss, &[10], F),
    );
    b.comm(CommInstr::TruncFinish {
        dst: r1,
        src: p1,
        dealer: 0,
    });
    b.comm(CommInstr::TruncFinish {
        dst: r2,
        src: p2,
        dealer: 1,
    });
    b.comm(CommInstr::TruncFinish {
        dst: r3,
        src: p3,
        dealer: 2,
    });
    b.output("xy", r1);
    b.output("xx", r2);
    b.output("yy", r3);
    let program = b.finish();
    let report = run(
        &program,
        &[],
        &[
            ("x", array(&[10], xs.clone())),
            ("y", array(&[10], ys.clone())),
        ],
    );
    let q = |a: f64| quantize(a, F);
    let each = |f: &dyn Fn(usize) -> f64| (0..10).map(f).collect::<Vec<f64>>();
    assert_close(
        output(&report, "xy"),
        &each(&|i| q(xs[i]) * q(ys[i])),
        ULP,
        "x y",
    );
    assert_close(
        output(&report, "xx"),
        &each(&|i| q(xs[i]) * q(xs[i])),
        ULP,
        "x x",
    );
    assert_close(
        output(&report, "yy"),
        &each(&|i| q(ys[i]) * q(ys[i])),
        ULP,
        "y y",
    );
    assert_eq!(report.rounds, 3);
    // One message per peer per round at most (the three stages and the preprocessing round).
    assert_eq!(report.parties[0].preprocessing_rounds, 1);
    assert!(
        report.messages_sent.iter().all(|&m| m <= 8),
        "{:?}",
        report.messages_sent
    );
}

fn ring_edges(v: &mut Values, n: usize) -> Vec<f64> {
    // Integers (scale 0) up to the ring's admissible edge 2^62, exactly representable in f64.
    let edge = 2f64.powi(62) - 2f64.powi(10);
    let mut out = vec![0.0, 1.0, -1.0, edge, -edge, 2.0, -2.0];
    while out.len() < n {
        let octave = (v.words(1)[0] % 62) as i32;
        out.push((v.uniform(2f64.powi(octave))).round());
    }
    out
}

#[test]
fn msb_and_bit_injection_are_exact_over_the_whole_ring_range() {
    let mut v = Values::new(7);
    let xs = ring_edges(&mut v, 200);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[200], secret(0));
    let neg = compose::is_negative(&mut b, x);
    b.output("neg", neg);
    let program = b.finish();
    let report = run(&program, &[], &[("x", array(&[200], xs.clone()))]);
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| if x < 0.0 { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(output(&report, "neg"), want.as_slice());
    // 8 rounds of the adder, 2 of the injection.
    assert_eq!(report.rounds, 10);
}

/// Cost of the bounded MSB on `n` elements, from its packed AND widths: every party sends
/// ceil(n w / 64) words per AND of width w.
fn msb_bounded_bytes(n: u64, bits: u32) -> u64 {
    let (_, widths) = secc_ir::circuits::msb_bounded_cost(bits);
    widths
        .iter()
        .map(|&w| 8 * secc_ir::lir::packed_words(n, w))
        .sum()
}

/// Values in [-2^(bits-1), 2^(bits-1)) at scale 0: the edges +-(2^(bits-1) - 1) and
/// -2^(bits-1), 0, +-1, then random ones spread over the octaves (f64 holds them exactly
/// while bits <= 53).
fn bounded_values(v: &mut Values, n: usize, bits: u32) -> Vec<f64> {
    let half = 2f64.powi(bits as i32 - 1);
    let mut out = vec![half - 1.0, -(half - 1.0), -half, 0.0, -1.0, 1.0];
    while out.len() < n {
        let octave = (v.words(1)[0] % u64::from(bits)) as i32;
        out.push(
            v.uniform(2f64.powi(octave))
                .floor()
                .clamp(-half, half - 1.0),
        );
    }
    out.truncate(n);
    out
}

#[test]
fn bounded_msb_is_exact_within_its_bound_with_packed_cost() {
    let n = 300;
    for bits in [2u32, 3, 4, 5, 9, 17, 31, 32, 33, 48, 53] {
        let mut v = Values::new(bits as u8);
        let xs = bounded_values(&mut v, n, bits);
        let mut b = ProgramBuilder::new(F);
        let x = b.input("x", &[n], secret(0));
        let sign = compose::msb_bounded(&mut b, x, bits);
        b.output("sign", sign);
        let program = b.finish();
        let report = run(&program, &[], &[("x", array(&[n], xs.clone()))]);
        let want: Vec<f64> = xs
            .iter()
            .map(|&x| if x < 0.0 { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(output(&report, "sign"), want.as_slice(), "bits {bits}");
        // 2 + ceil(log2(bits - 2)) rounds; bytes follow the packed widths.
        let levels = if bits > 3 {
            u64::from(32 - (bits - 3).leading_zeros())
        } else {
            0
        };
        let rounds = (if bits == 2 { 1 } else { 2 }) + levels;
        assert_eq!(report.rounds, rounds, "bits {bits}");
        let bytes = msb_bounded_bytes(n as u64, bits);
        assert_eq!(report.bytes_sent, [bytes; 3], "bits {bits}");
    }
}

#[test]
fn bounded_msb_of_fixed_point_values_below_2_to_15() {
    // The bound of the GeLU / tanh comparisons: F + 16 bits, |x| < 32768.
    let n = 400;
    let mut v = Values::new(21);
    let xs = v.with_edges(n, 32768.0);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[n], secret(F));
    let sign = compose::msb_bounded(&mut b, x, F + 16);
    let negative = compose::bit_to_arith(&mut b, sign);
    b.output("negative", negative);
    let program = b.finish();
    let report = run(&program, &[], &[("x", array(&[n], xs.clone()))]);
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| if quantize(x, F) < 0.0 { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(output(&report, "negative"), want.as_slice());
    // 7 rounds of the bounded MSB (31 + 30 + 29 + 14 + 7 + 3 + 1 = 115 bits per element),
    // then 2 of the injection (1 word per element each), against 10 rounds and 15 words.
    assert_eq!(report.rounds, 9);
    let msb_words: u64 = [31u32, 30, 29, 14, 7, 3, 1]
        .iter()
        .map(|&w| secc_ir::lir::packed_words(n as u64, w))
        .sum();
    assert_eq!(msb_words, 722); // ceil(400 w / 64) summed: about 1.8 words per element
    assert_eq!(report.bytes_sent, [8 * (msb_words + 2 * n as u64); 3]);
}

#[test]
fn bounded_msb_with_64_bits_is_exact_over_the_whole_ring_range() {
    let mut v = Values::new(22);
    let xs = ring_edges(&mut v, 200);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[200], secret(0));
    let sign = compose::msb_bounded(&mut b, x, 64);
    b.output("sign", sign);
    let program = b.finish();
    let report = run(&program, &[], &[("x", array(&[200], xs.clone()))]);
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| if x < 0.0 { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(output(&report, "sign"), want.as_slice());
    assert_eq!(report.rounds, 8);
    assert_eq!(report.bytes_sent, [msb_bounded_bytes(200, 64); 3]);
}

#[test]
fn relu_is_exact() {
    let mut v = Values::new(8);
    let xs = v.with_edges(150, fixed::max_abs(F));
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[150], secret(F));
    let r = compose::relu(&mut b, x);
    b.output("relu", r);
    let program = b.finish();
    let report = run(&program, &[], &[("x", array(&[150], xs.clone()))]);
    let want: Vec<f64> = xs.iter().map(|&x| quantize(x, F).max(0.0)).collect();
    assert_close(output(&report, "relu"), &want, 0.0, "relu");
    assert_eq!(report.rounds, 11);
}

#[test]
fn comparison_and_select_are_exact() {
    let mut v = Values::new(9);
    let mut xs = v.with_edges(100, 1e6);
    let ys = v.with_edges(100, 1e6);
    xs[10..20].copy_from_slice(&ys[10..20]); // equal pairs: x < y is false
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[100], secret(F));
    let y = b.param("y", &[100], F);
    let lt = compose::less_than(&mut b, x, y);
    let min = compose::select(&mut b, lt, x, y);
    b.output("lt", lt);
    b.output("min", min);
    let program = b.finish();
    let report = run(
        &program,
        &[tensor(&[100], ys.clone())],
        &[("x", array(&[100], xs.clone()))],
    );
    let q = |a: f64| quantize(a, F);
    let want_lt: Vec<f64> = xs
        .iter()
        .zip(&ys)
        .map(|(&a, &b)| if q(a) < q(b) { 1.0 } else { 0.0 })
        .collect();
    let want_min: Vec<f64> = xs.iter().zip(&ys).map(|(&a, &b)| q(a).min(q(b))).collect();
    assert_eq!(output(&report, "lt"), want_lt.as_slice());
    assert_close(output(&report, "min"), &want_min, 0.0, "select");
}

#[test]
fn boolean_words_xor_shift_and_and() {
    let mut v = Values::new(10);
    let xs = ring_edges(&mut v, 16);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[16], secret(0));
    let bit = compose::msb(&mut b, x);
    let not = b.reg(RegKind::BoolRss, &[16], 0);
    b.local(LocalInstr::BoolXorPublic {
        dst: not,
        a: bit,
        word: 1,
    });
    let shifted = b.reg(RegKind::BoolRss, &[16], 0);
    b.local(LocalInstr::BoolShl {
        dst: shifted,
        a: not,
        bits: 5,
    });
    let both = b.reg(RegKind::BoolAdd3, &[16], 0);
    b.local(LocalInstr::BoolAndLocal {
        dst: both,
        a: bit,
        b: not,
    });
    let both_rss = b.reg(RegKind::BoolRss, &[16], 0);
    b.comm(CommInstr::ReshareBool {
        dst: both_rss,
        src: both,
    });
    b.output("not", not);
    b.output("shifted", shifted);
    b.output("and", both_rss);
    let program = b.finish();
    let report = run(&program, &[], &[("x", array(&[16], xs.clone()))]);
    let not_want: Vec<f64> = xs
        .iter()
        .map(|&x| if x < 0.0 { 0.0 } else { 1.0 })
        .collect();
    assert_eq!(output(&report, "not"), not_want.as_slice());
    let shifted_want: Vec<f64> = not_want.iter().map(|b| b * 32.0).collect();
    assert_eq!(output(&report, "shifted"), shifted_want.as_slice());
    assert!(output(&report, "and").iter().all(|&b| b == 0.0));
}

#[test]
fn one_hot_embedding_lookup_is_exact() {
    let vocab = 10;
    let mut v = Values::new(11);
    let table = v.with_edges(vocab * 4, 50.0);
    let ids = vec![0.0, 9.0, 3.0, 3.0, 7.0, 1.0];
    let mut b = ProgramBuilder::new(F);
    let hot = b.input("ids", &[2, 3], InputForm::OneHot { vocab });
    let w = b.param("table", &[vocab, 4], F);
    let e = compose::matmul(&mut b, hot, w);
    b.output("e", e);
    let program = b.finish();
    let report = run(
        &program,
        &[tensor(&[vocab, 4], table.clone())],
        &[("ids", array(&[2, 3], ids.clone()))],
    );
    let want: Vec<f64> = ids
        .iter()
        .flat_map(|&id| (0..4).map(move |j| (id as usize) * 4 + j))
        .map(|k| quantize(table[k], F))
        .collect();
    assert_close(output(&report, "e"), &want, 0.0, "embedding");
    // A scale-0 factor needs no truncation: one reshare round.
    assert_eq!(report.rounds, 1);
}

#[test]
fn public_ops_and_structural_ops_on_shares() {
    let mut v = Values::new(12);
    let xs = v.with_edges(24, 1000.0);
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[2, 3, 4], secret(F));
    let mask = b.input("attention_mask", &[4], InputForm::Public);
    let one = b.constant(tensor(&[1], vec![1.0]));
    let bias = b.reg(RegKind::Public, &[4], 0);
    b.local(LocalInstr::PublicOp {
        dst: bias,
        op: Op::Sub,
        args: vec![mask, one],
    });
    let bias_ring = b.reg(RegKind::Ring, &[4], F);
    b.local(LocalInstr::Encode {
        dst: bias_ring,
        src: bias,
        frac_bits: F,
    });
    let shifted = b.reg(RegKind::Rss, &[2, 3, 4], F);
    b.local(LocalInstr::Add {
        dst: shifted,
        a: x,
        b: bias_ring,
    });
    let t = b.reg(RegKind::Rss, &[4, 3, 2], F);
    b.local(LocalInstr::Struct {
        dst: t,
        src: shifted,
        op: StructOp::Transpose {
            perm: vec![2, 1, 0],
        },
    });
    let s = b.reg(RegKind::Rss, &[4, 2, 2], F);
    b.local(LocalInstr::Struct {
        dst: s,
        src: t,
        op: StructOp::Slice {
            axis: 1,
            start: 1,
            end: 3,
        },
    });
    let g = b.reg(RegKind::Rss, &[2, 2, 2], F);
    b.local(LocalInstr::Struct {
        dst: g,
        src: s,
        op: StructOp::Gather {
            axis: 0,
            indices: vec![3, 0],
            indices_shape: vec![2],
        },
    });
    let cat = b.reg(RegKind::Rss, &[4, 2, 2], F);
    b.local(LocalInstr::Concat {
        dst: cat,
        srcs: vec![g, g],
        axis: 0,
    });
    let sum = b.reg(RegKind::Rss, &[4, 1, 2], F);
    b.local(LocalInstr::ReduceSum {
        dst: sum,
        src: cat,
        axes: vec![1],
        keep_dims: true,
    });
    let wide = b.reg(RegKind::Rss, &[4, 3, 2], F);
    b.local(LocalInstr::Struct {
        dst: wide,
        src: sum,
        op: StructOp::Broadcast {
            shape: vec![4, 3, 2],
        },
    });
    let flat = b.reg(RegKind::Rss, &[24], F);
    b.local(LocalInstr::Struct {
        dst: flat,
        src: wide,
        op: StructOp::Reshape { shape: vec![24] },
    });
    b.output("flat", flat);
    b.output("bias", bias);
    let program = b.finish();
    let mask_values = vec![0.0, 1.0, 1.0, 0.0];
    let report = run(
        &program,
        &[],
        &[
            ("x", array(&[2, 3, 4], xs.clone())),
            ("attention_mask", array(&[4], mask_values.clone())),
        ],
    );
    // The same pipeline on plaintext with ndarray.
    let plain = array(&[2, 3, 4], xs.iter().map(|&x| quantize(x, F)).collect());
    let bias_plain = array(&[4], mask_values.iter().map(|m| m - 1.0).collect());
    let shifted = &plain + &bias_plain;
    let t = shifted.permuted_axes(ndarray::IxDyn(&[2, 1, 0]));
    let s = t
        .slice_axis(ndarray::Axis(1), ndarray::Slice::from(1..3))
        .to_owned();
    let g = s.select(ndarray::Axis(0), &[3, 0]);
    let cat = ndarray::concatenate(ndarray::Axis(0), &[g.view(), g.view()]).unwrap();
    let sum = cat.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1));
    let wide = sum
        .broadcast(ndarray::IxDyn(&[4, 3, 2]))
        .unwrap()
        .to_owned();
    let want: Vec<f64> = wide.iter().copied().collect();
    assert_close(output(&report, "flat"), &want, 0.0, "structural pipeline");
    assert_eq!(output(&report, "bias"), &[-1.0, 0.0, 0.0, -1.0]);
}
