//! SecFormer mode: `softmax` on secret scores becomes `quad2_softmax` ((x + 5)^2 on kept
//! entries, normalised by a Goldschmidt reciprocal whose deflation and iterations come from the
//! calibrated row sums). Softmax over public values is left alone (computed in the clear).

use super::approximations::{reciprocal, ApproxReport};
use super::calibrate::{Ranges, QUAD_SHIFT};
use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "quad-softmax";

pub fn run(
    program: &Program,
    ranges: &Ranges,
    reports: &mut Vec<ApproxReport>,
) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        let Op::Softmax { axis } = node.op else {
            return Ok(None);
        };
        if !node.ty.is_secret() {
            return Ok(None);
        }
        let Some(&(lo, hi)) = ranges.get(&v) else {
            return Err(PassError::Rejected {
                pass: NAME,
                node: v.to_string(),
                origin: node.origin.clone(),
                message: "no calibration sample kept any entry of this softmax".into(),
            });
        };
        let choice = reciprocal(lo, hi);
        reports.push(ApproxReport::reciprocal(
            &node.origin,
            "quad2_softmax",
            "row sum of (x + 5)^2",
            (lo, hi),
            choice,
        ));
        let args = node
            .args
            .iter()
            .map(|&a| rb.mapped(a))
            .collect::<Result<Vec<_>, _>>()?;
        let op = Op::Quad2Softmax {
            axis,
            shift: QUAD_SHIFT,
            deflation: choice.deflation,
            iterations: choice.iterations,
        };
        rb.emit(op, args, &node.origin).map(Some)
    })
}
