//! PUMA mode without calibration for the inverse square root and the reciprocal: on secret
//! values `layer_norm` becomes `puma_layer_norm`, `sqrt` becomes `puma_sqrt`, `reciprocal(b)`
//! becomes `puma_reciprocal(b)` and `a / b` becomes `puma_reciprocal(b, a)`. Each finds the
//! octave of its input by comparisons against powers of two, normalises it into [c, 2c) and
//! runs Goldschmidt's iteration for a fixed count (`approx::puma_rsqrt_iterations`,
//! `approx::puma_reciprocal_iterations`: relative error [`TOLERANCE`] on every octave), so the
//! valid range is the octaves' (`approx::Octaves::for_frac_bits`; F = 16: [2^-16, 2^30)),
//! stated in the report without a calibration range.
//!
//! Secformer mode runs it too, after its calibrated passes, for what has no SecFormer protocol:
//! square roots, and divisions that `goldschmidt-div` left because their calibrated range is
//! too wide for Goldschmidt in fixed point.

use super::approximations::{range_reduced, ApproxReport, TOLERANCE};
use super::rewrite;
use crate::error::PassError;
use secc_ir::approx::{self, Octaves};
use secc_ir::{Op, Program};

pub const NAME: &str = "puma-rsqrt";

/// The iteration counts (inverse square root, reciprocal) reaching [`TOLERANCE`].
pub fn iterations() -> Result<(u32, u32), PassError> {
    let rsqrt = approx::puma_rsqrt_iterations(TOLERANCE);
    let reciprocal = approx::puma_reciprocal_iterations(TOLERANCE);
    match (rsqrt, reciprocal) {
        (Some(a), Some(b)) => Ok((a.max(1), b.max(1))),
        _ => Err(PassError::Internal {
            pass: NAME,
            message: "the normalised interval does not converge".into(),
        }),
    }
}

pub fn run(program: &Program, reports: &mut Vec<ApproxReport>) -> Result<Program, PassError> {
    let (k_rsqrt, k_reciprocal) = iterations()?;
    let octaves = Octaves::for_frac_bits(program.frac_bits);
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        if !node.ty.is_secret() {
            return Ok(None);
        }
        let secret = |i: usize| rb.old.ty(node.args[i]).is_secret();
        let mapped = |i: usize| rb.mapped(node.args[i]);
        let (op, args) = match node.op {
            Op::LayerNorm { eps } => (
                Op::PumaLayerNorm {
                    eps,
                    iterations: k_rsqrt,
                    octaves,
                },
                vec![mapped(0)?, mapped(1)?, mapped(2)?],
            ),
            Op::Sqrt => (
                Op::PumaSqrt {
                    iterations: k_rsqrt,
                    octaves,
                },
                vec![mapped(0)?],
            ),
            Op::Reciprocal => (
                Op::PumaReciprocal {
                    iterations: k_reciprocal,
                    octaves,
                },
                vec![mapped(0)?],
            ),
            Op::Div if secret(1) => (
                Op::PumaReciprocal {
                    iterations: k_reciprocal,
                    octaves,
                },
                vec![mapped(1)?, mapped(0)?],
            ),
            _ => return Ok(None),
        };
        let new = rb.emit(op, args, &node.origin)?;
        let emitted = &rb.new.nodes[new];
        let (quantity, iterations, valid) =
            range_reduced(emitted).ok_or_else(|| PassError::Internal {
                pass: NAME,
                message: format!("{} is not a range-reduced node", emitted.op.name()),
            })?;
        reports.push(ApproxReport::range_reduced(
            &node.origin,
            emitted.op.name(),
            quantity,
            iterations,
            valid,
        ));
        Ok(Some(new))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secc_ir::{Encoding, InputRole};

    #[test]
    fn secret_layer_norm_sqrt_and_division_are_range_reduced() {
        let mut p = Program::new("t", 16);
        let x = p.add_input("x", InputRole::Client, vec![2, 8], Encoding::Fixed);
        let g = p.add_param("g", vec![8]);
        let b = p.add_param("b", vec![8]);
        let ln = p
            .push(Op::LayerNorm { eps: 1e-12 }, vec![x, g, b], "ln")
            .unwrap();
        let sq = p
            .push(Op::Mul, vec![ln, ln], "sq")
            .and_then(|s| {
                p.push(
                    Op::ReduceSum {
                        axes: vec![1],
                        keep_dims: true,
                    },
                    vec![s],
                    "sum",
                )
            })
            .unwrap();
        let norm = p.push(Op::Sqrt, vec![sq], "norm").unwrap();
        let out = p.push(Op::Div, vec![ln, norm], "div").unwrap();
        p.add_output("y", out);
        let mut reports = Vec::new();
        let q = run(&p, &mut reports).unwrap();
        let names: Vec<&str> = q.nodes.iter().map(|(_, n)| n.op.name()).collect();
        for op in ["puma_layer_norm", "puma_sqrt", "puma_reciprocal"] {
            assert!(names.contains(&op), "{names:?}");
        }
        assert!(!names.contains(&"div") && !names.contains(&"sqrt"));
        assert_eq!(reports.len(), 3);
        assert!(reports.iter().all(|r| r.calibrated.is_none()));
        let ln_report = &reports[0];
        assert_eq!(ln_report.valid, (2f64.powi(-16) / 8.0, 2f64.powi(30) / 8.0));
        assert!(
            ln_report.to_string().contains("no calibration"),
            "{ln_report}"
        );
    }
}
