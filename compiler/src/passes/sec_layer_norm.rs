//! SecFormer mode: `layer_norm` on secret values becomes `sec_layer_norm`, whose inverse square
//! root is Goldschmidt's iteration on (var + eps) / D with D and the iteration count chosen from
//! the calibrated variances (no comparisons).

use super::approximations::{rsqrt, ApproxReport};
use super::calibrate::Ranges;
use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "sec-layer-norm";

pub fn run(
    program: &Program,
    ranges: &Ranges,
    reports: &mut Vec<ApproxReport>,
) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        let Op::LayerNorm { eps } = node.op else {
            return Ok(None);
        };
        if !node.ty.is_secret() {
            return Ok(None);
        }
        let &(lo, hi) = ranges.get(&v).ok_or_else(|| PassError::Internal {
            pass: NAME,
            message: format!("layer norm {v} was not calibrated"),
        })?;
        let row = *node.ty.shape.last().expect("layer norm rows");
        let choice = rsqrt(lo, hi, row);
        reports.push(ApproxReport::rsqrt(
            &node.origin,
            "sec_layer_norm",
            "row variance + eps",
            (lo, hi),
            choice,
        ));
        let args = node
            .args
            .iter()
            .map(|&a| rb.mapped(a))
            .collect::<Result<Vec<_>, _>>()?;
        let op = Op::SecLayerNorm {
            eps,
            deflation: choice.deflation,
            iterations: choice.iterations,
        };
        rb.emit(op, args, &node.origin).map(Some)
    })
}
