//! Helpers shared by the runtime's integration tests: deterministic test values, running a
//! program across three in-process parties, and checking that the measured cost equals the
//! predicted one exactly.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use secc_ir::fixed;
use secc_ir::lir::LowProgram;
use secc_ir::{Encoding, Tensor};
use secc_runtime::prg::Stream;
use secc_runtime::{run_local, RunReport};
use std::collections::HashMap;

pub const F: u32 = 16;

/// A deterministic generator for test values (not for secrets).
pub struct Values(Stream);

impl Values {
    pub fn new(seed: u8) -> Self {
        Values(Stream::new(&[seed; 32], 0))
    }

    /// Uniform in [-limit, limit).
    pub fn uniform(&mut self, limit: f64) -> f64 {
        let w = self.0.words(1)[0];
        (w >> 11) as f64 / (1u64 << 53) as f64 * 2.0 * limit - limit
    }

    /// `n` values: 0, the edges +-limit(1 - 2^-20), +-one ulp, then uniform ones, with
    /// magnitudes spread over many octaves.
    pub fn with_edges(&mut self, n: usize, limit: f64) -> Vec<f64> {
        let ulp = 2f64.powi(-(F as i32));
        let edge = limit * (1.0 - 2f64.powi(-20));
        let mut out = vec![0.0, edge, -edge, ulp, -ulp];
        while out.len() < n {
            let octave = (self.0.words(1)[0] % 24) as i32;
            out.push(self.uniform(limit) / 2f64.powi(octave));
        }
        out.truncate(n);
        out
    }

    pub fn words(&mut self, n: usize) -> Vec<u64> {
        self.0.words(n)
    }
}

pub fn array(shape: &[usize], data: Vec<f64>) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

pub fn tensor(shape: &[usize], data: Vec<f64>) -> Tensor {
    Tensor::new(shape.to_vec(), Encoding::Fixed, data)
}

/// The value a fixed-point encoding actually carries.
pub fn quantize(x: f64, frac_bits: u32) -> f64 {
    fixed::decode(fixed::encode(x, frac_bits), frac_bits)
}

/// Runs across three parties and asserts the measured rounds and bytes equal the prediction.
pub fn run(program: &LowProgram, weights: &[Tensor], inputs: &[(&str, ArrayD<f64>)]) -> RunReport {
    let inputs: HashMap<String, ArrayD<f64>> = inputs
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let report = run_local(program, weights, &inputs).expect("the run succeeds");
    let predicted = program.predicted_cost();
    assert_eq!(report.rounds, predicted.rounds, "rounds");
    assert_eq!(report.bytes_sent, predicted.bytes_sent, "bytes per party");
    report
}

pub fn output<'a>(report: &'a RunReport, name: &str) -> &'a [f64] {
    &report
        .outputs
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("output {name}"))
        .data
}

/// Asserts |got - want| <= bound element-wise, reporting the worst element.
pub fn assert_close(got: &[f64], want: &[f64], bound: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let (worst, index) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold(
            (0.0f64, 0usize),
            |(m, mi), (i, e)| if e > m { (e, i) } else { (m, mi) },
        );
    assert!(
        worst <= bound,
        "{what}: error {worst} at element {index} (got {}, want {}) exceeds {bound}",
        got[index],
        want[index]
    );
}
