//! Recognises GeLU written out as arithmetic and makes it one `gelu` node:
//! - erf form: `0.5 * x * (1 + erf(x / sqrt 2))`;
//! - tanh form: `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`.
//!
//! Products are matched as multisets of factors (see [`flatten_product`]), so any association
//! and order of the multiplications, division by a constant instead of multiplication by its
//! inverse, and `x^3` as `pow[3]` or repeated products are all recognised.

use super::patterns::{add_scalar, approx, flatten_product};
use super::rewrite;
use crate::error::PassError;
use secc_ir::{GeluKind, Op, Program, ValueId};

pub const NAME: &str = "gelu";

const TOLERANCE: f64 = 1e-4;

/// If `v` is `c * x` for the given `c`, returns `x`.
fn scaled(p: &Program, v: ValueId, c: f64) -> Option<ValueId> {
    let (k, factors) = flatten_product(p, v);
    match factors.as_slice() {
        [x] if approx(k, c, TOLERANCE) => Some(*x),
        _ => None,
    }
}

/// If `inner` is `x + 0.044715 x^3` (either order), returns `x`.
fn cubic_term(p: &Program, inner: ValueId) -> Option<ValueId> {
    let node = &p.nodes[inner];
    if node.op != Op::Add {
        return None;
    }
    for (x, cube) in [(node.args[0], node.args[1]), (node.args[1], node.args[0])] {
        let (k, factors) = flatten_product(p, cube);
        if approx(k, 0.044715, TOLERANCE) && factors.len() == 3 && factors.iter().all(|&f| f == x) {
            return Some(x);
        }
    }
    None
}

/// Matches `1 + erf(x / sqrt 2)` or `1 + tanh(...)` and returns `(x, kind)`.
fn one_plus(p: &Program, v: ValueId) -> Option<(ValueId, GeluKind)> {
    let (inner, one) = add_scalar(p, v)?;
    if one != 1.0 {
        return None;
    }
    let node = &p.nodes[inner];
    match node.op {
        Op::Erf => {
            scaled(p, node.args[0], std::f64::consts::FRAC_1_SQRT_2).map(|x| (x, GeluKind::Erf))
        }
        Op::Tanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let t = scaled(p, node.args[0], c)?;
            cubic_term(p, t).map(|x| (x, GeluKind::Tanh))
        }
        _ => None,
    }
}

/// Matches a whole GeLU rooted at `v` (a `mul`).
fn gelu_at(p: &Program, v: ValueId) -> Option<(ValueId, GeluKind)> {
    if p.nodes[v].op != Op::Mul {
        return None;
    }
    let (k, factors) = flatten_product(p, v);
    if !approx(k, 0.5, TOLERANCE) || factors.len() != 2 {
        return None;
    }
    for (x, bracket) in [(factors[0], factors[1]), (factors[1], factors[0])] {
        if let Some((y, kind)) = one_plus(p, bracket) {
            if y == x {
                return Some((x, kind));
            }
        }
    }
    None
}

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let Some((x, kind)) = gelu_at(rb.old, v) else {
            return Ok(None);
        };
        let origin = rb.old.nodes[v].origin.clone();
        let x = rb.mapped(x)?;
        rb.emit(Op::Gelu { kind }, vec![x], &origin).map(Some)
    })
}
