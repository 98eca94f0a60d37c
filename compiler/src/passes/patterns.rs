//! Small matching helpers shared by the pattern-recognising passes.

use secc_ir::{Op, Program, ValueId};

/// The value of a constant with exactly one element (of any rank), if `v` is one.
pub fn scalar_const(p: &Program, v: ValueId) -> Option<f64> {
    match &p.nodes[v].op {
        Op::Const { value } if value.len() == 1 => value.as_scalar(),
        _ => None,
    }
}

/// Whether `a` is within a relative tolerance `rel` of `b`.
pub fn approx(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-30)
}

/// `v` as a product: the product of its scalar constant factors and the list of its other
/// factors, looking through `mul`, `neg`, `pow[k]` (k copies) and division by a scalar constant.
pub fn flatten_product(p: &Program, v: ValueId) -> (f64, Vec<ValueId>) {
    let mut coefficient = 1.0;
    let mut factors = Vec::new();
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        if let Some(c) = scalar_const(p, x) {
            coefficient *= c;
            continue;
        }
        let node = &p.nodes[x];
        match &node.op {
            Op::Mul => stack.extend(node.args.iter().copied()),
            Op::Neg => {
                coefficient = -coefficient;
                stack.push(node.args[0]);
            }
            Op::Pow { exponent } if *exponent <= 8 => {
                for _ in 0..*exponent {
                    stack.push(node.args[0]);
                }
            }
            Op::Div if scalar_const(p, node.args[1]).is_some_and(|c| c != 0.0) => {
                coefficient /= scalar_const(p, node.args[1]).unwrap();
                stack.push(node.args[0]);
            }
            _ => factors.push(x),
        }
    }
    (coefficient, factors)
}

/// If `v` is `a + c` or `c + a` with `c` a scalar constant, returns `(a, c)`.
pub fn add_scalar(p: &Program, v: ValueId) -> Option<(ValueId, f64)> {
    let node = &p.nodes[v];
    if node.op != Op::Add {
        return None;
    }
    let (a, b) = (node.args[0], node.args[1]);
    match (scalar_const(p, a), scalar_const(p, b)) {
        (None, Some(c)) => Some((a, c)),
        (Some(c), None) => Some((b, c)),
        _ => None,
    }
}

/// Whether `v` is the mean of `x` over its last axis, keeping dims: `reduce_mean[last, keep] x`.
pub fn is_last_axis_mean_of(p: &Program, v: ValueId, x: ValueId) -> bool {
    let node = &p.nodes[v];
    let last = p.ty(x).rank().wrapping_sub(1);
    matches!(&node.op, Op::ReduceMean { axes, keep_dims: true } if axes == &[last])
        && node.args[0] == x
}
