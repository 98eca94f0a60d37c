//! Protocol tests, one file per protocol family: each protocol run across three in-process
//! parties against the plaintext interpreter of the same IR node (which computes exactly the
//! approximation) or against the exact function, with the measured cost equal to the prediction.
//! This file holds what they share: test data, and running a program both ways.

mod compare;
mod puma;
mod range_reduction;
mod secformer;

// Protocol tests lower whole programs between the parties, the client's prologue included.
use crate::codegen::generate_in_mpc as generate;
use secc_ir::interp::evaluate;
use secc_ir::{Encoding, InputRole, Op, Program, Tensor, Weights};
use std::collections::HashMap;

/// A small deterministic generator for test data (not for secrets).
pub(super) struct Lcg(pub u64);

impl Lcg {
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }

    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

pub(super) fn array(shape: &[usize], data: Vec<f64>) -> ndarray::ArrayD<f64> {
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data).unwrap()
}

/// Runs `program` in MPC and in the interpreter after checking measured == predicted cost;
/// returns the MPC outputs and the interpreter's, in output order.
pub(super) fn mpc_and_plain(
    program: &Program,
    weights: Vec<Tensor>,
    inputs: &HashMap<String, ndarray::ArrayD<f64>>,
) -> (Vec<ndarray::ArrayD<f64>>, Vec<ndarray::ArrayD<f64>>) {
    let low = generate(program).unwrap();
    let report = secc_runtime::run_local(&low, &weights, inputs).unwrap();
    let cost = low.predicted_cost();
    assert_eq!(report.rounds, cost.rounds);
    assert_eq!(report.bytes_sent, cost.bytes_sent);
    let plain = evaluate(program, &Weights { tensors: weights }, inputs).unwrap();
    let mpc = plain
        .iter()
        .zip(&report.outputs)
        .map(|((name, _), got)| {
            assert_eq!(name, &got.name);
            array(&got.shape, got.data.clone())
        })
        .collect();
    (mpc, plain.into_iter().map(|(_, v)| v).collect())
}

/// Runs `program` in MPC and in the interpreter; returns the largest difference per output.
pub(super) fn mpc_vs_plaintext(
    program: &Program,
    weights: Vec<Tensor>,
    inputs: Vec<(&str, ndarray::ArrayD<f64>)>,
) -> Vec<f64> {
    let inputs: HashMap<String, ndarray::ArrayD<f64>> = inputs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let (mpc, plain) = mpc_and_plain(program, weights, &inputs);
    mpc.iter()
        .zip(&plain)
        .map(|(got, want)| {
            want.iter()
                .zip(got.iter())
                .map(|(w, g)| (w - g).abs())
                .fold(0.0, f64::max)
        })
        .collect()
}

pub(super) fn unary(op: Op, n: usize) -> Program {
    let mut p = Program::new("unary", 16);
    let x = p.add_input("x", InputRole::Client, vec![n], Encoding::Fixed);
    let y = p.push(op, vec![x], "node").unwrap();
    p.add_output("y", y);
    p
}
