//! Lowering of the linear operators on secret values: addition, subtraction, products (of two
//! secrets, or of a secret and a public value, element-wise or matrix), division by a public
//! value, negation, integer powers and casts. Owns the placement of truncations: every product
//! leaves its node at the program's scale (integers and powers of two stay exact, at no cost),
//! and public operands are encoded with enough fraction bits for about 20 significant bits.

use super::{Lowered, Lowering};
use crate::codegen::protocols::arith::{
    self, constant_precision, mul_shares, settle_product, truncate,
};
use crate::codegen::CodegenError;
use secc_ir::lir::{LocalInstr, Reg, RegKind, StructOp};
use secc_ir::{Encoding, Node, Op, Tensor, ValueId};

impl<'p> Lowering<'p> {
    /// Lowers a secret linear node (the ops [`Lowering::lower_secret`] sends here).
    pub(super) fn lower_linear(
        &mut self,
        v: ValueId,
        node: &'p Node,
        args: &[Lowered],
        shape: &[usize],
    ) -> Result<Reg, CodegenError> {
        let reg = match &node.op {
            Op::Add | Op::Sub => {
                let (a, b) = self.aligned_pair(args);
                let dst = self
                    .e
                    .reg(RegKind::Rss, shape, self.e.frac(a).max(self.e.frac(b)));
                self.e.local(if matches!(node.op, Op::Add) {
                    LocalInstr::Add { dst, a, b }
                } else {
                    LocalInstr::Sub { dst, a, b }
                })
            }
            Op::Mul | Op::MatMul => {
                let matmul = matches!(node.op, Op::MatMul);
                match (args[0].secret, args[1].secret) {
                    (true, true) => {
                        let (fa, fb) = (self.e.frac(args[0].reg), self.e.frac(args[1].reg));
                        let add3 = self.e.reg(RegKind::Add3, shape, fa + fb);
                        let (dst, a, b) = (add3, args[0].reg, args[1].reg);
                        self.e.local(if matmul {
                            LocalInstr::MatMulShares { dst, a, b }
                        } else {
                            LocalInstr::MulShares { dst, a, b }
                        });
                        // Back to the program's scale (an operand read finer, e.g. after a
                        // free division by a power of two, is restored here); products with
                        // an integer are exact.
                        let shift = if fa.min(fb) == 0 {
                            0
                        } else {
                            (fa + fb).saturating_sub(self.frac)
                        };
                        settle_product(&mut self.e, add3, shift)
                    }
                    (true, false) => self.times_public_operand(
                        args[0].reg,
                        args[1].reg,
                        node.args[1],
                        matmul,
                        true,
                        shape,
                    ),
                    (false, true) => self.times_public_operand(
                        args[1].reg,
                        args[0].reg,
                        node.args[0],
                        matmul,
                        false,
                        shape,
                    ),
                    (false, false) => unreachable!("secret node with public operands"),
                }
            }
            Op::Div => {
                if args[1].secret {
                    return Err(self.unsupported(
                        v,
                        "division by a secret needs the Goldschmidt protocol (--mode secformer)",
                    ));
                }
                // x / p = x * (1/p), the reciprocal computed in the clear.
                let divisor_shape = self.e.shape(args[1].reg);
                let reciprocal = self.e.reg(RegKind::Public, &divisor_shape, 0);
                self.e.local(LocalInstr::PublicOp {
                    dst: reciprocal,
                    op: Op::Reciprocal,
                    args: vec![args[1].reg],
                });
                self.product_by_public(
                    args[0].reg,
                    reciprocal,
                    false,
                    self.frac,
                    false,
                    true,
                    shape,
                )
            }
            Op::Neg => {
                let dst = self.e.reg(RegKind::Rss, shape, self.e.frac(args[0].reg));
                self.e.local(LocalInstr::Neg {
                    dst,
                    a: args[0].reg,
                })
            }
            Op::Pow { exponent } if *exponent >= 1 => {
                let mut acc = args[0].reg;
                for _ in 1..*exponent {
                    acc = mul_shares(&mut self.e, acc, args[0].reg, shape);
                }
                acc
            }
            Op::Cast { to } => {
                let from = self.e.frac(args[0].reg);
                match to {
                    Encoding::Fixed => self.rescale(args[0].reg, self.frac.max(from)),
                    _ if from == 0 => args[0].reg,
                    _ => return Err(self.unsupported(v, "casting a secret real to an integer")),
                }
            }
            other => unreachable!(
                "lower_secret does not send {} to linear lowering",
                other.name()
            ),
        };
        Ok(reg)
    }

    /// A constant IR operand whose values are all integers of moderate size, if it is one.
    fn integer_constant(&self, v: ValueId) -> Option<&'p Tensor> {
        match &self.node(v).op {
            Op::Const { value }
                if value
                    .data
                    .iter()
                    .all(|x| x.fract() == 0.0 && x.abs() < f64::from(1u32 << 20)) =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// secret x public, element-wise or matrix product. Integer constants are encoded at scale 0
    /// so the product is exact; other public values are encoded with `precision` fraction bits
    /// and the product truncated back to the program's scale.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn product_by_public(
        &mut self,
        secret: Reg,
        public: Reg,
        exact: bool,
        precision: u32,
        matmul: bool,
        secret_first: bool,
        out_shape: &[usize],
    ) -> Reg {
        let ring = self.encode(public, if exact { 0 } else { precision });
        let (fs, fp) = (self.e.frac(secret), self.e.frac(ring));
        let dst = self.e.reg(RegKind::Rss, out_shape, fs + fp);
        let (a, b) = if secret_first {
            (secret, ring)
        } else {
            (ring, secret)
        };
        self.e.local(if matmul {
            LocalInstr::MatMulPublic { dst, a, b }
        } else {
            LocalInstr::MulPublic { dst, a, b }
        });
        let target = if exact { fs } else { self.frac };
        let shift = (fs + fp).saturating_sub(target);
        if shift == 0 {
            dst
        } else {
            truncate(&mut self.e, dst, shift)
        }
    }

    /// Lowers secret x public for the IR operand `public_value` (lowered at `public`).
    /// Powers of two 2^-k cost nothing (the share is read k bits finer); integers are exact;
    /// other constants get enough fraction bits for about 20 significant bits.
    #[allow(clippy::too_many_arguments)]
    fn times_public_operand(
        &mut self,
        secret: Reg,
        public: Reg,
        public_value: ValueId,
        matmul: bool,
        secret_first: bool,
        out_shape: &[usize],
    ) -> Reg {
        if let (false, Some(k)) = (matmul, self.inverse_power_of_two(public_value)) {
            let fs = self.e.frac(secret);
            let scaled = arith::rescale(&mut self.e, secret, fs + k);
            if self.e.shape(scaled) == out_shape {
                return scaled;
            }
            let dst = self.e.reg(RegKind::Rss, out_shape, fs + k);
            return self.e.local(LocalInstr::Struct {
                dst,
                src: scaled,
                op: StructOp::Broadcast {
                    shape: out_shape.to_vec(),
                },
            });
        }
        let exact = self.integer_constant(public_value).is_some();
        let precision = match &self.node(public_value).op {
            Op::Const { value } => constant_precision(value, self.frac),
            _ => self.frac,
        };
        self.product_by_public(
            secret,
            public,
            exact,
            precision,
            matmul,
            secret_first,
            out_shape,
        )
    }

    /// k when the IR value is a constant splat of 2^-k with 1 <= k <= 16.
    fn inverse_power_of_two(&self, v: ValueId) -> Option<u32> {
        let Op::Const { value } = &self.node(v).op else {
            return None;
        };
        let c = value.uniform_value()?;
        let k = -c.log2();
        (c > 0.0 && k.fract() == 0.0 && (1.0..=16.0).contains(&k)).then_some(k as u32)
    }

    fn aligned_pair(&mut self, args: &[Lowered]) -> (Reg, Reg) {
        let frac = args
            .iter()
            .filter(|a| a.secret)
            .map(|a| self.e.frac(a.reg))
            .max()
            .expect("a secret addition has a secret operand");
        let mut at_scale = |operand: Lowered| {
            if operand.secret {
                self.rescale(operand.reg, frac)
            } else {
                self.encode(operand.reg, frac)
            }
        };
        (at_scale(args[0]), at_scale(args[1]))
    }
}
