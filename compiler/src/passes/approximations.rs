//! Parameters of the iterative approximations (deflation constant and iteration count) chosen
//! from a value range, and the report of the range each chosen approximation is valid for.
//!
//! The range comes from calibration ([`super::calibrate`]); it is widened by [`MARGIN`] on each
//! side before the parameters are chosen, because a secret value cannot be checked at run time.

use secc_ir::approx;
use std::fmt;

/// Relative error the iterations must reach on the widened range.
pub const TOLERANCE: f64 = 1e-4;
/// Calibrated ranges are widened by this factor on both ends.
pub const MARGIN: f64 = 2.0;
/// The most iterations a protocol may take; a range that needs more is a warning.
pub const MAX_ITERATIONS: u32 = 24;

/// A Goldschmidt reciprocal's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// A power of two (reciprocal) or of four (inverse square root).
    pub deflation: f64,
    pub iterations: u32,
    /// Whether the widened range needed more than [`MAX_ITERATIONS`] (then capped).
    pub capped: bool,
}

/// Parameters for 1/s on s in [lo, hi] (lo > 0): s / D in (0, 1].
pub fn reciprocal(lo: f64, hi: f64) -> Choice {
    let (lo, hi) = (lo / MARGIN, hi * MARGIN);
    let deflation = 2f64.powi(hi.log2().ceil().max(0.0) as i32);
    let needed = approx::reciprocal_iterations(lo / deflation, hi / deflation, TOLERANCE);
    finish(deflation, needed)
}

/// Parameters for 1/sqrt(v) on v in [lo, hi] (lo > 0), for rows of length `row`: the deflation
/// is D = 2^m / row (so that the layer norm's division by row D is a shift), v / D stays below
/// 2.9 (the iteration diverges at 3), and among those the D needing the fewest iterations wins.
pub fn rsqrt(lo: f64, hi: f64, row: usize) -> Choice {
    let (lo, hi) = (lo / MARGIN, hi * MARGIN);
    let smallest = (row as f64 * hi / 2.9).log2().ceil() as i32;
    let candidates = (smallest..smallest + 4).map(|m| 2f64.powi(m) / row as f64);
    let best = candidates
        .map(|deflation| {
            let needed = approx::rsqrt_iterations(lo / deflation, hi / deflation, TOLERANCE);
            (needed.unwrap_or(u32::MAX), deflation)
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .expect("four candidates");
    finish(best.1, (best.0 != u32::MAX).then_some(best.0))
}

/// The choice for `needed` iterations (None: the iteration does not converge on the range),
/// capped at [`MAX_ITERATIONS`].
pub fn finish(deflation: f64, needed: Option<u32>) -> Choice {
    match needed {
        Some(k) if k <= MAX_ITERATIONS => Choice {
            deflation,
            iterations: k.max(1),
            capped: false,
        },
        _ => Choice {
            deflation,
            iterations: MAX_ITERATIONS,
            capped: true,
        },
    }
}

/// What one approximation node computes, on what range it was calibrated and on what range its
/// chosen parameters reach [`TOLERANCE`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApproxReport {
    /// The ONNX node.
    pub node: String,
    pub op: &'static str,
    /// The quantity the iteration sees (before deflation).
    pub quantity: &'static str,
    /// The calibrated (or, for PUMA's softmax, static) range; `None` for the range-reduced
    /// protocols, which need no calibration.
    pub calibrated: Option<(f64, f64)>,
    /// The deflation; `None` for range reduction by comparisons against powers of two.
    pub deflation: Option<f64>,
    pub iterations: u32,
    pub valid: (f64, f64),
}

impl ApproxReport {
    /// The report for a range-reduced PUMA protocol (no calibration): valid on `valid`.
    pub fn range_reduced(
        node: &str,
        op: &'static str,
        quantity: &'static str,
        iterations: u32,
        valid: (f64, f64),
    ) -> Self {
        ApproxReport {
            node: node.to_string(),
            op,
            quantity,
            calibrated: None,
            deflation: None,
            iterations,
            valid,
        }
    }

    /// The report for a reciprocal of `quantity` with `choice`.
    pub fn reciprocal(
        node: &str,
        op: &'static str,
        quantity: &'static str,
        calibrated: (f64, f64),
        choice: Choice,
    ) -> Self {
        let deflated = approx::reciprocal_valid_range(choice.iterations, TOLERANCE);
        Self::with_valid(node, op, quantity, calibrated, choice, deflated)
    }

    /// The report for an inverse square root of `quantity` with `choice`.
    pub fn rsqrt(
        node: &str,
        op: &'static str,
        quantity: &'static str,
        calibrated: (f64, f64),
        choice: Choice,
    ) -> Self {
        let deflated = approx::rsqrt_valid_range(choice.iterations, TOLERANCE);
        Self::with_valid(node, op, quantity, calibrated, choice, deflated)
    }

    /// `deflated_valid` is the valid range of the iteration's input, after deflation.
    fn with_valid(
        node: &str,
        op: &'static str,
        quantity: &'static str,
        calibrated: (f64, f64),
        choice: Choice,
        deflated_valid: (f64, f64),
    ) -> Self {
        ApproxReport {
            node: node.to_string(),
            op,
            quantity,
            calibrated: Some(calibrated),
            deflation: Some(choice.deflation),
            iterations: choice.iterations,
            valid: (
                deflated_valid.0 * choice.deflation,
                deflated_valid.1 * choice.deflation,
            ),
        }
    }

    /// Whether the calibrated range lies inside the valid range.
    pub fn covers_calibration(&self) -> bool {
        self.calibrated
            .is_none_or(|(lo, hi)| self.valid.0 <= lo && hi <= self.valid.1)
    }
}

impl fmt::Display for ApproxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(calibrated), Some(deflation)) = (self.calibrated, self.deflation) else {
            return write!(
                f,
                "{} @ {}: {} valid in [{:.4e}, {:.4e}] (no calibration: range reduction by \
                 comparisons against powers of two, {} iterations, relative error <= \
                 {TOLERANCE:e})",
                self.op, self.node, self.quantity, self.valid.0, self.valid.1, self.iterations
            );
        };
        write!(
            f,
            "{} @ {}: {} calibrated in [{:.4e}, {:.4e}], valid in [{:.4e}, {:.4e}] \
             (deflation {}, {} iterations, relative error <= {TOLERANCE:e})",
            self.op,
            self.node,
            self.quantity,
            calibrated.0,
            calibrated.1,
            self.valid.0,
            self.valid.1,
            deflation,
            self.iterations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reciprocal_choice_covers_the_widened_range() {
        let c = reciprocal(6.0, 500.0);
        assert_eq!(c.deflation, 1024.0);
        let (a, b) = approx::reciprocal_valid_range(c.iterations, TOLERANCE);
        assert!(a * c.deflation <= 3.0 && 1000.0 <= b * c.deflation);
        assert!(!c.capped);
    }

    #[test]
    fn rsqrt_choice_covers_the_widened_range() {
        let c = rsqrt(0.2, 30.0, 768);
        let m = (c.deflation * 768.0).log2();
        assert_eq!(m.fract(), 0.0, "d D must be a power of two: {c:?}");
        assert!(60.0 / c.deflation < 2.9);
        let (a, b) = approx::rsqrt_valid_range(c.iterations, TOLERANCE);
        assert!(
            a * c.deflation <= 0.1 && 60.0 <= b * c.deflation,
            "{a} {b} {c:?}"
        );
    }

    #[test]
    fn hopeless_ranges_are_capped_and_flagged() {
        assert!(reciprocal(1e-12, 1e6).capped);
    }
}

/// Where one iterative approximation of a compiled program is accurate.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRange {
    /// The ONNX node.
    pub node: String,
    pub op: &'static str,
    /// The approximated quantity (before deflation).
    pub quantity: &'static str,
    /// `None` for the range-reduced PUMA protocols (comparisons against powers of two).
    pub deflation: Option<f64>,
    pub iterations: u32,
    /// Inputs on which the iterations reach [`TOLERANCE`].
    pub valid: (f64, f64),
}

/// The range each iterative approximation in `program` is valid for, derived from the
/// parameters stored in its node (so `secc inspect` can state it for any compiled program).
pub fn valid_ranges(program: &secc_ir::Program) -> Vec<ValidRange> {
    use secc_ir::Op;
    let scale = |(a, b): (f64, f64), d: f64| (a * d, b * d);
    program
        .nodes
        .iter()
        .filter_map(|(_, node)| {
            if let Some((quantity, iterations, valid)) = range_reduced(node) {
                return Some(ValidRange {
                    node: node.origin.clone(),
                    op: node.op.name(),
                    quantity,
                    deflation: None,
                    iterations,
                    valid,
                });
            }
            let (quantity, deflation, iterations, deflated) = match node.op {
                Op::Quad2Softmax {
                    deflation,
                    iterations,
                    ..
                } => (
                    "row sum of (x + 5)^2",
                    deflation,
                    iterations,
                    approx::reciprocal_valid_range(iterations, TOLERANCE),
                ),
                Op::PumaSoftmax {
                    axis, iterations, ..
                } => (
                    "row sum of exp(x - max)",
                    node.ty.shape[axis].next_power_of_two() as f64,
                    iterations,
                    approx::reciprocal_valid_range(iterations, TOLERANCE),
                ),
                Op::GoldschmidtDiv {
                    deflation,
                    iterations,
                } => (
                    "divisor",
                    deflation,
                    iterations,
                    approx::reciprocal_valid_range(iterations, TOLERANCE),
                ),
                Op::SecLayerNorm {
                    deflation,
                    iterations,
                    ..
                } => (
                    "row variance + eps",
                    deflation,
                    iterations,
                    approx::rsqrt_valid_range(iterations, TOLERANCE),
                ),
                _ => return None,
            };
            Some(ValidRange {
                node: node.origin.clone(),
                op: node.op.name(),
                quantity,
                deflation: Some(deflation),
                iterations,
                valid: scale(deflated, deflation),
            })
        })
        .collect()
}

/// The quantity, iterations and valid range of a range-reduced PUMA node (see
/// `secc_ir::approx::Octaves`): the octaves' range, for a layer norm divided by the row length.
pub fn range_reduced(node: &secc_ir::Node) -> Option<(&'static str, u32, (f64, f64))> {
    use secc_ir::Op;
    let (quantity, iterations, octaves, divide) = match node.op {
        Op::PumaLayerNorm {
            iterations,
            octaves,
            ..
        } => (
            "row variance + eps",
            iterations,
            octaves,
            *node.ty.shape.last()? as f64,
        ),
        Op::PumaRsqrt {
            iterations,
            octaves,
        } => ("input of 1/sqrt", iterations, octaves, 1.0),
        Op::PumaSqrt {
            iterations,
            octaves,
        } => ("input of sqrt", iterations, octaves, 1.0),
        Op::PumaReciprocal {
            iterations,
            octaves,
        } => ("divisor", iterations, octaves, 1.0),
        _ => return None,
    };
    let (lo, hi) = octaves.valid();
    Some((quantity, iterations, (lo / divide, hi / divide)))
}
