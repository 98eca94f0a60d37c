//! SecFormer mode: division by a secret becomes `goldschmidt_div`, the reciprocal of the
//! divisor by Goldschmidt's iteration after deflation by a power of two chosen from the
//! calibrated divisor range. Division by a public value stays a division (a public product).
//!
//! A divisor range too wide for that in fixed point is left to the `puma-rsqrt` pass that runs
//! next (range reduction by comparisons, [`goldschmidt_fits`] says why): Goldschmidt from the
//! start 1 multiplies the truncation error by about D / lo (each iteration doubles it while
//! e_i = 1 - b/D is near 1) and its running product reaches D / lo, which must fit in the ring
//! at twice the working scale. A ReLU softmax's row sums (`--softmax relu`) are such a range.

use super::approximations::{reciprocal, ApproxReport, Choice, MARGIN, TOLERANCE};
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
        if !goldschmidt_fits(lo, choice, rb.old.frac_bits) {
            return Ok(None);
        }
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

/// Whether `goldschmidt_div` with `choice` on divisors down to `lo` (calibrated, widened here by
/// [`MARGIN`] as the choice was) stays exact enough in fixed point: the codegen works at scale
/// w = F + log2 D, the running product y (1 + e) <= 2 D / lo must stay below 2^60 at scale 2w,
/// and the truncation error 2^-w amplified by about D / lo must stay within [`TOLERANCE`].
pub fn goldschmidt_fits(lo: f64, choice: Choice, frac_bits: u32) -> bool {
    let widened = lo / MARGIN;
    let spread = choice.deflation / widened;
    let w = f64::from(frac_bits) + choice.deflation.log2();
    (2.0 * spread).log2() + 2.0 * w <= 60.0 && spread * 2f64.powf(-w) <= TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_divisor_ranges_fit_and_wide_ones_do_not() {
        // A sentence embedding's norm (all-MiniLM-L6-v2's Normalize): a few units.
        assert!(goldschmidt_fits(6.5, reciprocal(6.5, 7.0), 16));
        // ReLU-softmax row sums at BERT-base: 5e-3 .. 75 overflowed and gave errors above 1.
        assert!(!goldschmidt_fits(5e-3, reciprocal(5e-3, 75.0), 16));
    }
}
