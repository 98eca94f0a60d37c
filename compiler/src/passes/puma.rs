//! PUMA mode: `softmax` on secret scores becomes `puma_softmax` (row max by a comparison tree,
//! exp by (1 + x/2^t)^(2^t) with zero below -14 and t = [`EXP_SQUARINGS`] (PUMA uses t = 5),
//! one Goldschmidt reciprocal per row), `gelu` on
//! secret values becomes `puma_gelu` (four segments) and `tanh` becomes `puma_tanh` (piecewise
//! degree-5 polynomials). None needs calibration: the row sum of the exponentials lies in
//! [1, n] (the max entry gives exp(0) = 1), so the deflation is the power of two D >= n and the
//! iteration count follows from [1/D, 1]; it is reported.
//!
//! Layer norm, square root, reciprocal and division by a secret are the next pass's
//! ([`super::puma_rsqrt`]: range reduction by comparisons against powers of two, no
//! calibration either).

use super::approximations::{finish, ApproxReport, Choice, TOLERANCE};
use super::rewrite;
use crate::error::PassError;
use secc_ir::{approx, Op, Program};

pub const NAME: &str = "puma";

/// Squarings t of the softmax's exp(x) ~ (1 + x / 2^t)^(2^t). PUMA uses 5; 6 costs one more
/// product per attention score (2 rounds per softmax) and is what real sentence-embedding
/// models need to stay within cosine 0.999 of fp32 together with PUMA's GeLU: with t = 5
/// all-MiniLM-L6-v2 and paraphrase-MiniLM-L3-v2 reach 0.99879 and 0.99886 even with an exact
/// layer norm, with t = 6 0.99933 and 0.99919 (docs/accuracy.md).
pub const EXP_SQUARINGS: u32 = 6;

/// The reciprocal's parameters for rows of `n` entries: D = the power of two at or above n and
/// the iterations reaching [`TOLERANCE`] on sums in [1, n].
pub fn softmax_reciprocal(n: usize) -> Choice {
    let deflation = n.next_power_of_two() as f64;
    let needed = approx::reciprocal_iterations(1.0 / deflation, n as f64 / deflation, TOLERANCE);
    finish(deflation, needed)
}

pub fn run(program: &Program, reports: &mut Vec<ApproxReport>) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        if !node.ty.is_secret() {
            return Ok(None);
        }
        let op = match node.op {
            Op::Gelu { .. } => Op::PumaGelu,
            Op::Tanh => Op::PumaTanh,
            Op::Softmax { axis } => {
                let n = node.ty.shape[axis];
                let choice = softmax_reciprocal(n);
                reports.push(ApproxReport::reciprocal(
                    &node.origin,
                    "puma_softmax",
                    "row sum of exp(x - max)",
                    (1.0, n as f64),
                    choice,
                ));
                Op::PumaSoftmax {
                    axis,
                    iterations: choice.iterations,
                    exp_squarings: EXP_SQUARINGS,
                }
            }
            _ => return Ok(None),
        };
        let args = node
            .args
            .iter()
            .map(|&a| rb.mapped(a))
            .collect::<Result<Vec<_>, _>>()?;
        rb.emit(op, args, &node.origin).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reciprocal_covers_every_possible_row_sum() {
        for n in [1, 2, 7, 8, 128, 384, 512] {
            let choice = softmax_reciprocal(n);
            assert!(!choice.capped, "n = {n}");
            for sum in [1.0, n as f64 / 2.0 + 0.5, n as f64] {
                let got = approx::goldschmidt_reciprocal(sum, choice.deflation, choice.iterations);
                assert!((got * sum - 1.0).abs() <= TOLERANCE, "n = {n}, sum = {sum}");
            }
        }
    }
}
