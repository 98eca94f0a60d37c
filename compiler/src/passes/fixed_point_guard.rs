//! Check (no rewrite): no public value of huge magnitude may meet a secret in arithmetic.
//!
//! Fixed-point values live in Z_2^64 with F fraction bits, so a public factor or addend of
//! magnitude above 2^30 overflows (or wipes out) the secret it meets. The attention mask's
//! -3.4e38 is the usual culprit; the softmax-bias pass moves it into the softmax, and this pass
//! makes sure nothing like it remains. Bounds of public values come from a forward interval
//! analysis over constants (inputs are unbounded and never reported); a softmax bias argument is
//! allowed to be anything.

use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "fixed-point-guard";

/// Largest public magnitude that may meet a secret.
pub const LIMIT: f64 = (1u64 << 30) as f64;

/// Largest known magnitude of each public value (`None`: unknown or secret).
fn magnitudes(p: &Program) -> Vec<Option<f64>> {
    let mut m: Vec<Option<f64>> = Vec::with_capacity(p.nodes.len());
    for (_, node) in p.nodes.iter() {
        let arg = |i: usize| node.args.get(i).and_then(|a| m[a.index()]);
        let bound = if node.ty.is_secret() {
            None
        } else {
            match &node.op {
                Op::Const { value } => Some(value.data.iter().fold(0.0f64, |a, x| a.max(x.abs()))),
                Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Slice { .. }
                | Op::Broadcast { .. }
                | Op::Gather { .. }
                | Op::Neg
                | Op::Clip { .. }
                | Op::Relu
                | Op::Cast { .. } => arg(0),
                Op::Where => match (arg(1), arg(2)) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                },
                Op::Concat { .. } => node
                    .args
                    .iter()
                    .map(|a| m[a.index()])
                    .try_fold(0.0f64, |acc, x| x.map(|x| acc.max(x))),
                Op::Add | Op::Sub => match (arg(0), arg(1)) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                },
                Op::Mul => match (arg(0), arg(1)) {
                    (Some(a), Some(b)) => Some(a * b),
                    _ => None,
                },
                _ => None,
            }
        };
        m.push(bound);
    }
    m
}

pub fn run(program: &Program) -> Result<(), PassError> {
    let m = magnitudes(program);
    for (v, node) in program.nodes.iter() {
        if !node.ty.is_secret() {
            continue;
        }
        let checked: &[_] = match node.op {
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::MatMul | Op::Where | Op::Concat { .. } => {
                &node.args
            }
            Op::LayerNorm { .. } => &node.args[1..],
            _ => continue,
        };
        for &a in checked {
            if let Some(bound) = m[a.index()] {
                if bound > LIMIT && !(matches!(node.op, Op::Div) && a == node.args[1]) {
                    return Err(PassError::Rejected {
                        pass: NAME,
                        node: v.to_string(),
                        origin: node.origin.clone(),
                        message: format!(
                            "{} of a secret with a public value of magnitude up to {bound:e}, \
                             beyond 2^30: it would overflow fixed point (an attention mask that \
                             does not feed a softmax directly?)",
                            node.op.name()
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}
