//! The bounded comparison with a public constant: its exact round structure and cost, and
//! exactness in MPC up to its stated bound.

use crate::codegen::emit::Emitter;
use crate::codegen::protocols::compare::less_than_constant;
use crate::codegen::schedule::schedule;
use secc_ir::lir::{CommInstr, InputForm, LocalInstr, LowInput, LowOutput, LowProgram, RegKind};

/// One comparison `less_than_constant` on `n` fixed-point elements (scale 16), scheduled.
fn comparison_program(n: usize) -> secc_ir::lir::LowProgram {
    let mut e = Emitter::default();
    let dst = e.reg(RegKind::Rss, &[n], 16);
    let x = e.local(LocalInstr::LoadInput { dst, input: 0 });
    let lt = less_than_constant(&mut e, x, 2.5);
    LowProgram {
        frac_bits: 16,
        stages: schedule(&e.regs, e.instrs),
        regs: e.regs,
        consts: e.consts,
        inputs: vec![LowInput {
            name: "x".into(),
            shape: vec![n],
            form: InputForm::Secret { frac_bits: 16 },
        }],
        params: vec![],
        outputs: vec![LowOutput {
            name: "lt".into(),
            reg: lt,
            frac_bits: 0,
        }],
    }
}

#[test]
fn a_comparison_is_a_bounded_bit_packed_msb_in_nine_rounds() {
    // Before: msb on full words (8 rounds, 13 words per element) + injection (2 rounds, 2
    // words) = 10 rounds, 15 words. Now the bounded MSB on F + 16 = 32 bits: 7 packed ANDs of
    // 31, 30, 29, 14, 7, 3 and 1 bits (115 bits, 1.8 words per element), then the injection.
    let n = 1000;
    let low = comparison_program(n);
    let steps: Vec<(&'static str, u32)> = low
        .stages
        .iter()
        .filter(|s| !s.comm.is_empty())
        .flat_map(|s| {
            assert_eq!(s.comm.len(), 1, "one step per round: {:?}", s.comm);
            s.comm.iter()
        })
        .map(|c| match c {
            CommInstr::ReshareBoolPacked { width, .. } => ("and", *width),
            CommInstr::Reshare { .. } => ("reshare", 64),
            other => panic!("unexpected step {other:?}"),
        })
        .collect();
    assert_eq!(
        steps,
        [31, 30, 29, 14, 7, 3, 1]
            .iter()
            .map(|&w| ("and", w))
            .chain([("reshare", 64), ("reshare", 64)])
            .collect::<Vec<_>>()
    );
    let cost = low.predicted_cost();
    assert_eq!(cost.rounds, 9);
    // ceil(1000 w / 64) words per AND: 485 + 469 + 454 + 219 + 110 + 47 + 16 = 1800, then
    // 1000 + 1000 for the injection: 3.8 words per element per party (was 15).
    assert_eq!(cost.bytes_sent, [8 * 3800; 3]);
}

#[test]
fn a_bounded_comparison_is_exact_in_mpc_up_to_its_bound() {
    let n = 64;
    let low = comparison_program(n);
    // Edges of the bound |x - 2.5| < 2^15, the threshold itself and its neighbours.
    let ulp = 1.0 / 65536.0;
    let mut xs = vec![
        2.5,
        2.5 - ulp,
        2.5 + ulp,
        0.0,
        -ulp,
        32770.5 - ulp,
        -32765.5,
        -32765.5 + ulp,
    ];
    while xs.len() < n {
        let i = xs.len() as f64;
        xs.push((i * 7919.0 % 65521.0 - 32760.0) * (1.0 - ulp * i));
    }
    let inputs = [(
        "x".to_string(),
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n]), xs.clone()).unwrap(),
    )]
    .into_iter()
    .collect();
    let report = secc_runtime::run_local(&low, &[], &inputs).unwrap();
    let cost = low.predicted_cost();
    assert_eq!(
        (report.rounds, report.bytes_sent),
        (cost.rounds, cost.bytes_sent)
    );
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| {
            let q = secc_ir::fixed::decode(secc_ir::fixed::encode(x, 16), 16);
            if q < 2.5 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    assert_eq!(report.outputs[0].data, want);
}
