//! SecFormer's sine protocol (`FourierOpen`, then `TruncFinish` to replicated shares) against
//! the plaintext series, over inputs spanning several periods, negatives and zero; the measured
//! rounds and bytes equal the prediction (checked inside `common::run`).

mod common;

use common::*;
use secc_ir::lir::{CommInstr, InputForm, RegKind};
use secc_runtime::builder::ProgramBuilder;

fn series(x: f64, period_bits: u32, coefficients: &[f64]) -> f64 {
    let w = 2.0 * std::f64::consts::PI / 2f64.powi(period_bits as i32);
    coefficients
        .iter()
        .enumerate()
        .map(|(m, c)| c * ((m + 1) as f64 * w * x).sin())
        .sum()
}

#[test]
fn fourier_series_of_a_secret_matches_plaintext() {
    let coefficients = [1.2577, -0.0299, 0.3822, -0.0519, 0.1960, -0.0625, 0.1180];
    let period_bits = 4;
    let mut v = Values::new(9);
    let mut xs: Vec<f64> = vec![0.0, 1.0, -1.0, 7.999, -8.0, 3.5, -3.5, 100.25, -1000.5];
    xs.extend((0..300).map(|_| v.uniform(40.0)));
    let n = xs.len();
    for dealer in 0..3u8 {
        let mut b = ProgramBuilder::new(F);
        let x = b.input("x", &[n], InputForm::Secret { frac_bits: F });
        let pending = b.reg(RegKind::Pending, &[n], 2 * F);
        b.comm(CommInstr::FourierOpen {
            dst: pending,
            src: x,
            period_bits,
            coefficients: coefficients.to_vec(),
            dealer,
        });
        b.close_stage();
        let rss = b.reg(RegKind::Rss, &[n], 2 * F);
        b.comm(CommInstr::TruncFinish {
            dst: rss,
            src: pending,
            dealer,
        });
        b.close_stage();
        b.output("f", rss);
        let program = b.finish();
        let cost = program.predicted_cost();
        assert_eq!(cost.rounds, 2);
        // Opening: the two non-dealers one word each way; the dealer sends P(dealer+2) 2 x 7
        // words per element. Finish: one word each way between the non-dealers.
        let mut want_bytes = [8 * 2 * n as u64; 3];
        want_bytes[dealer as usize] = 8 * 14 * n as u64;
        assert_eq!(cost.bytes_sent, want_bytes, "dealer P{dealer}");
        let report = run(&program, &[], &[("x", array(&[n], xs.clone()))]);
        let got = output(&report, "f");
        for (x, y) in xs.iter().zip(got) {
            let want = series(quantize(*x, F), period_bits, &coefficients);
            assert!(
                (y - want).abs() < 2e-3,
                "dealer P{dealer}, x = {x}: got {y}, plaintext series {want}"
            );
        }
    }
}
