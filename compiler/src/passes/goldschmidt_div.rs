//! SecFormer mode: division by a secret becomes `goldschmidt_div`, the reciprocal of the
//! divisor by Goldschmidt's iteration after deflation by a power of two chosen from the
//! calibrated divisor range. Division by a public value stays a division (a public product).

use super::approximations::{reciprocal, ApproxReport};
use super::calibrate::Ranges;
use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "goldschmidt-div";

pub fn run(
    program: &Program,
    ranges: &Ranges,
    reports: &mut Vec<ApproxReport>,
) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        if node.op != Op::Div || !rb.old.ty(node.args[1]).is_secret() {
            return Ok(None);
        }
        let &(lo, hi) = ranges.get(&v).ok_or_else(|| PassError::Internal {
            pass: NAME,
            message: format!("division {v} was not calibrated"),
        })?;
        let choice = reciprocal(lo, hi);
        reports.push(ApproxReport::reciprocal(
            &node.origin,
            "goldschmidt_div",
            "divisor",
            (lo, hi),
            choice,
        ));
        let args = vec![rb.mapped(node.args[0])?, rb.mapped(node.args[1])?];
        let op = Op::GoldschmidtDiv {
            deflation: choice.deflation,
            iterations: choice.iterations,
        };
        rb.emit(op, args, &node.origin).map(Some)
    })
}
