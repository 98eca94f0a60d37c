//! SecFormer mode: `gelu` (erf or tanh form) on secret values becomes `sec_gelu` (0 / Fourier
//! series / x over three segments) and `tanh` becomes `sec_tanh` (-1 / Fourier series / 1).
//! Both are exact piecewise definitions, so they need no calibration; their approximation error
//! against the true functions is bounded in `secc_ir::approx`'s tests.

use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "sec-activations";

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        let op = match node.op {
            Op::Gelu { .. } if node.ty.is_secret() => Op::SecGelu,
            Op::Tanh if node.ty.is_secret() => Op::SecTanh,
            _ => return Ok(None),
        };
        let x = rb.mapped(node.args[0])?;
        rb.emit(op, vec![x], &node.origin).map(Some)
    })
}
