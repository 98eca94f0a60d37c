//! Canonical forms that the recognisers rely on, each an identity in exact arithmetic:
//! - `a * reciprocal(b)` (either order) becomes `a / b` (tract turns every division into this);
//! - `reduce_sum[axes](x) * c` with `c = 1 / (number of reduced elements)` becomes
//!   `reduce_mean[axes](x)`, and so does `reduce_sum[axes](x) / n`.

use super::patterns::{approx, scalar_const};
use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program, ValueId};

pub const NAME: &str = "canonicalize";

fn reduced_count(p: &Program, sum: ValueId) -> Option<(Vec<usize>, bool, f64)> {
    match &p.nodes[sum].op {
        Op::ReduceSum { axes, keep_dims } => {
            let x = p.ty(p.nodes[sum].args[0]);
            let n: usize = axes.iter().map(|&a| x.shape[a]).product();
            Some((axes.clone(), *keep_dims, n as f64))
        }
        _ => None,
    }
}

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let p = rb.old;
        let node = &p.nodes[v];
        let args = &node.args;
        match node.op {
            Op::Mul => {
                for (a, b) in [(args[0], args[1]), (args[1], args[0])] {
                    if p.nodes[b].op == Op::Reciprocal {
                        let num = rb.mapped(a)?;
                        let den = rb.mapped(p.nodes[b].args[0])?;
                        return rb.emit(Op::Div, vec![num, den], &node.origin).map(Some);
                    }
                    if let (Some((axes, keep_dims, n)), Some(c)) =
                        (reduced_count(p, a), scalar_const(p, b))
                    {
                        if approx(c * n, 1.0, 1e-6) && p.ty(v).shape == p.ty(a).shape {
                            let x = rb.mapped(p.nodes[a].args[0])?;
                            let op = Op::ReduceMean { axes, keep_dims };
                            return rb.emit(op, vec![x], &node.origin).map(Some);
                        }
                    }
                }
                Ok(None)
            }
            Op::Div => {
                if let (Some((axes, keep_dims, n)), Some(c)) =
                    (reduced_count(p, args[0]), scalar_const(p, args[1]))
                {
                    if c == n && p.ty(v).shape == p.ty(args[0]).shape {
                        let x = rb.mapped(p.nodes[args[0]].args[0])?;
                        let op = Op::ReduceMean { axes, keep_dims };
                        return rb.emit(op, vec![x], &node.origin).map(Some);
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    })
}
