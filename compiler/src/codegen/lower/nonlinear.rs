//! Lowering of the protocol nodes: ReLU and clipping by comparisons, and each mode's protocol
//! nodes (SecFormer's, PUMA's, range reduction's). Owns the checks of their attributes against
//! what the protocols implement (deflations that are powers of two, softmax over the last
//! axis, iteration counts, octaves that fit the ring), each refused with the node's name; the
//! protocols themselves are in [`crate::codegen::protocols`].

use super::{Lowered, Lowering};
use crate::codegen::protocols::arith::ring_scalar;
use crate::codegen::protocols::compare::relu;
use crate::codegen::protocols::{puma, range_reduction, secformer};
use crate::codegen::CodegenError;
use secc_ir::lir::{LocalInstr, Reg, RegKind};
use secc_ir::{Node, Op, ValueId};

/// Whether x is 2^k for an integer k (possibly negative).
fn is_power_of_two(x: f64) -> bool {
    x > 0.0 && x.log2().fract() == 0.0
}

impl<'p> Lowering<'p> {
    /// Lowers a secret protocol node (the ops [`Lowering::lower_secret`] sends here).
    pub(super) fn lower_nonlinear(
        &mut self,
        v: ValueId,
        node: &'p Node,
        args: &[Lowered],
        shape: &[usize],
    ) -> Result<Reg, CodegenError> {
        let reg = match &node.op {
            Op::Relu => relu(&mut self.e, args[0].reg),
            Op::Quad2Softmax {
                axis,
                shift,
                deflation,
                iterations,
            } => {
                if !is_power_of_two(*deflation) {
                    return Err(self.invalid(v, "the deflation must be a power of two"));
                }
                if *axis + 1 != shape.len() {
                    return Err(
                        self.unsupported(v, "2Quad softmax over an axis other than the last")
                    );
                }
                let bias = args.get(1).map(|b| b.reg);
                secformer::quad2_softmax(
                    &mut self.e,
                    args[0].reg,
                    bias,
                    *shift,
                    *deflation,
                    *iterations,
                )
            }
            Op::SecGelu => secformer::sec_gelu(&mut self.e, args[0].reg),
            Op::SecTanh => secformer::sec_tanh(&mut self.e, args[0].reg),
            Op::SecLayerNorm {
                eps,
                deflation,
                iterations,
            } => {
                let [x, gamma, beta] = [0, 1, 2].map(|i| args[i]);
                let (gamma, beta) = (self.share_or_ring(gamma), self.share_or_ring(beta));
                let row = *shape.last().unwrap_or(&1) as f64;
                if !is_power_of_two(deflation * row) {
                    return Err(
                        self.invalid(v, "deflation times the row length must be a power of two")
                    );
                }
                secformer::sec_layer_norm(
                    &mut self.e,
                    x.reg,
                    gamma,
                    beta,
                    *eps,
                    *deflation,
                    *iterations,
                )
            }
            Op::GoldschmidtDiv {
                deflation,
                iterations,
            } => {
                if !args[0].secret {
                    return Err(self.unsupported(v, "a public numerator over a secret divisor"));
                }
                if !is_power_of_two(*deflation) {
                    return Err(self.invalid(v, "the deflation must be a power of two"));
                }
                secformer::goldschmidt_div(
                    &mut self.e,
                    args[0].reg,
                    args[1].reg,
                    *deflation,
                    *iterations,
                )
            }
            Op::PumaGelu => puma::puma_gelu(&mut self.e, args[0].reg),
            Op::PumaTanh => puma::puma_tanh(&mut self.e, args[0].reg),
            Op::PumaSoftmax {
                axis,
                iterations,
                exp_squarings,
            } => {
                if *axis + 1 != shape.len() {
                    return Err(
                        self.unsupported(v, "PUMA softmax over an axis other than the last")
                    );
                }
                if *iterations == 0 {
                    return Err(self.invalid(v, "the reciprocal needs at least one iteration"));
                }
                let bias = args.get(1).map(|b| b.reg);
                if !(1..=8).contains(exp_squarings) {
                    return Err(self.invalid(v, "the exponential needs 1 to 8 squarings"));
                }
                puma::puma_softmax(&mut self.e, args[0].reg, bias, *iterations, *exp_squarings)
            }
            Op::PumaLayerNorm {
                eps,
                iterations,
                octaves,
            } => {
                let [x, gamma, beta] = [0, 1, 2].map(|i| args[i]);
                let (gamma, beta) = (self.share_or_ring(gamma), self.share_or_ring(beta));
                self.check_octaves(v, *iterations, *octaves)?;
                range_reduction::puma_layer_norm(
                    &mut self.e,
                    x.reg,
                    gamma,
                    beta,
                    *eps,
                    *iterations,
                    *octaves,
                )
            }
            Op::PumaRsqrt {
                iterations,
                octaves,
            } => {
                self.check_octaves(v, *iterations, *octaves)?;
                range_reduction::puma_rsqrt(&mut self.e, args[0].reg, *iterations, *octaves)
            }
            Op::PumaSqrt {
                iterations,
                octaves,
            } => {
                self.check_octaves(v, *iterations, *octaves)?;
                range_reduction::puma_sqrt(&mut self.e, args[0].reg, *iterations, *octaves)
            }
            Op::PumaReciprocal {
                iterations,
                octaves,
            } => {
                if !args[0].secret {
                    return Err(self.unsupported(v, "a public divisor with a secret numerator"));
                }
                self.check_octaves(v, *iterations, *octaves)?;
                // A public numerator stays a public ring value (a local product).
                let numerator = match args.get(1) {
                    Some(a) if a.secret => Some(a.reg),
                    Some(a) => Some(self.encode(a.reg, self.frac)),
                    None => None,
                };
                range_reduction::puma_reciprocal(
                    &mut self.e,
                    args[0].reg,
                    numerator,
                    *iterations,
                    *octaves,
                )
            }
            Op::Clip { min, max } => {
                let frac = self.e.frac(args[0].reg);
                let mut y = args[0].reg;
                // max(y, lo) = lo + relu(y - lo); min(y, hi) = hi - relu(hi - y).
                for (bound, lower) in [(min, true), (max, false)] {
                    let Some(bound) = bound else { continue };
                    let c = ring_scalar(&mut self.e, *bound, frac);
                    let y_shape = self.e.shape(y);
                    let diff = self.e.reg(RegKind::Rss, &y_shape, frac);
                    let (a, b) = if lower { (y, c) } else { (c, y) };
                    self.e.local(LocalInstr::Sub { dst: diff, a, b });
                    let positive = relu(&mut self.e, diff);
                    let dst = self.e.reg(RegKind::Rss, &y_shape, frac);
                    y = self.e.local(if lower {
                        LocalInstr::Add {
                            dst,
                            a: positive,
                            b: c,
                        }
                    } else {
                        LocalInstr::Sub {
                            dst,
                            a: c,
                            b: positive,
                        }
                    });
                }
                y
            }
            other => unreachable!(
                "lower_secret does not send {} to protocol lowering",
                other.name()
            ),
        };
        Ok(reg)
    }

    /// The octaves of a range-reduced PUMA protocol must fit the ring at this program's scale
    /// (`Octaves::for_frac_bits` gives the widest that does).
    fn check_octaves(
        &self,
        v: ValueId,
        iterations: u32,
        octaves: secc_ir::approx::Octaves,
    ) -> Result<(), CodegenError> {
        let widest = secc_ir::approx::Octaves::for_frac_bits(self.frac);
        if iterations == 0 {
            return Err(self.invalid(v, "the iteration needs at least one step"));
        }
        if octaves.lo < widest.lo || octaves.hi > widest.hi || octaves.lo >= octaves.hi {
            return Err(self.invalid(
                v,
                &format!(
                    "octaves {}..={} do not fit {} fraction bits (at most {}..={})",
                    octaves.lo, octaves.hi, self.frac, widest.lo, widest.hi
                ),
            ));
        }
        Ok(())
    }

    /// A layer norm's scale or shift as the protocols take it: a share as it is, a public value
    /// (`--public-weights`) encoded at the program's scale (its products are then local).
    fn share_or_ring(&mut self, operand: Lowered) -> Reg {
        if operand.secret {
            operand.reg
        } else {
            self.encode(operand.reg, self.frac)
        }
    }
}
