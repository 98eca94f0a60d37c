//! Lowering of the structural operators on secret values: reshape, transpose, slice,
//! broadcast, gather at public indices, concatenation, sums and means along axes, embedding
//! lookups and selection by a public condition. All are local (no communication) except a
//! mean's truncation by 1/count and a secret embedding table's reshare; none changes a value's
//! scale except to align operands (concatenation, selection).

use super::{Lowered, Lowering};
use crate::codegen::protocols::arith::{constant_precision, settle_product};
use crate::codegen::CodegenError;
use secc_ir::lir::{LocalInstr, Reg, RegKind, StructOp};
use secc_ir::{Encoding, Node, Op, Tensor, ValueId};

impl<'p> Lowering<'p> {
    /// Lowers a secret structural node (the ops [`Lowering::lower_secret`] sends here).
    pub(super) fn lower_structural(
        &mut self,
        v: ValueId,
        node: &'p Node,
        args: &[Lowered],
        shape: &[usize],
    ) -> Result<Reg, CodegenError> {
        let reg = match &node.op {
            Op::Reshape { shape: s } => {
                self.structural(args[0].reg, StructOp::Reshape { shape: s.clone() }, shape)
            }
            Op::Transpose { perm } => self.structural(
                args[0].reg,
                StructOp::Transpose { perm: perm.clone() },
                shape,
            ),
            Op::Slice { axis, start, end } => self.structural(
                args[0].reg,
                StructOp::Slice {
                    axis: *axis,
                    start: *start,
                    end: *end,
                },
                shape,
            ),
            Op::Broadcast { shape: s } => {
                self.structural(args[0].reg, StructOp::Broadcast { shape: s.clone() }, shape)
            }
            Op::Gather { axis } => {
                let Op::Const { value } = &self.node(node.args[1]).op else {
                    return Err(self.unsupported(
                        v,
                        "gathering secret data at indices only known at run time",
                    ));
                };
                let n = self.node(node.args[0]).ty.shape[*axis] as f64;
                let indices = value
                    .data
                    .iter()
                    .map(|&i| (if i < 0.0 { i + n } else { i }) as usize)
                    .collect();
                self.structural(
                    args[0].reg,
                    StructOp::Gather {
                        axis: *axis,
                        indices,
                        indices_shape: value.shape.clone(),
                    },
                    shape,
                )
            }
            Op::Concat { axis } => {
                let frac = args
                    .iter()
                    .filter(|a| a.secret)
                    .map(|a| self.e.frac(a.reg))
                    .max()
                    .unwrap_or(self.frac);
                let mut srcs = Vec::new();
                for a in args {
                    srcs.push(if a.secret {
                        self.rescale(a.reg, frac)
                    } else {
                        return Err(self.unsupported(v, "concatenating public and secret values"));
                    });
                }
                let dst = self.e.reg(RegKind::Rss, shape, frac);
                self.e.local(LocalInstr::Concat {
                    dst,
                    srcs,
                    axis: *axis,
                })
            }
            Op::ReduceSum { axes, keep_dims } => {
                let dst = self.e.reg(RegKind::Rss, shape, self.e.frac(args[0].reg));
                self.e.local(LocalInstr::ReduceSum {
                    dst,
                    src: args[0].reg,
                    axes: axes.clone(),
                    keep_dims: *keep_dims,
                })
            }
            Op::ReduceMean { axes, keep_dims } => {
                let x = args[0].reg;
                let sum = self.e.reg(RegKind::Rss, shape, self.e.frac(x));
                self.e.local(LocalInstr::ReduceSum {
                    dst: sum,
                    src: x,
                    axes: axes.clone(),
                    keep_dims: *keep_dims,
                });
                let count: usize = axes
                    .iter()
                    .map(|&a| self.node(node.args[0]).ty.shape[a])
                    .product();
                let inv_value = Tensor::scalar(1.0 / count as f64, Encoding::Fixed);
                let precision = constant_precision(&inv_value, self.frac);
                let inv = self.e.constant(inv_value);
                self.product_by_public(sum, inv, false, precision, false, true, shape)
            }
            Op::Embedding if !args[0].secret => {
                // A public table (`--public-weights`): the one-hot share times the table
                // encoded at the program's scale is local and exact.
                let table = self.encode(args[0].reg, self.frac);
                let dst = self.e.reg(RegKind::Rss, shape, self.frac);
                self.e.local(LocalInstr::MatMulPublic {
                    dst,
                    a: args[1].reg,
                    b: table,
                })
            }
            Op::Embedding => {
                // one-hot ids (integer scale) times the table: exact, no truncation.
                let add3 = self.e.reg(RegKind::Add3, shape, self.e.frac(args[0].reg));
                self.e.local(LocalInstr::MatMulShares {
                    dst: add3,
                    a: args[1].reg,
                    b: args[0].reg,
                });
                settle_product(&mut self.e, add3, 0)
            }
            Op::Where => self.select(args, shape),
            other => unreachable!(
                "lower_secret does not send {} to structural lowering",
                other.name()
            ),
        };
        Ok(reg)
    }

    /// A structural operation on one register: the same kind and scale, a new shape.
    fn structural(&mut self, src: Reg, op: StructOp, shape: &[usize]) -> Reg {
        let decl = self.e.decl(src).clone();
        let dst = self.e.reg(decl.kind, shape, decl.frac_bits);
        self.e.local(LocalInstr::Struct { dst, src, op })
    }

    /// `cond ? a : b` with a public condition: a*cond + b*(1-cond), both products local.
    fn select(&mut self, args: &[Lowered], shape: &[usize]) -> Reg {
        let frac = args[1..]
            .iter()
            .filter(|a| a.secret)
            .map(|a| self.e.frac(a.reg))
            .max()
            .unwrap_or(self.frac);
        let cond = args[0].reg;
        let one = self.e.constant(Tensor::scalar(1.0, Encoding::Int));
        let cond_shape = self.e.shape(cond);
        let not_cond = self.e.reg(RegKind::Public, &cond_shape, 0);
        self.e.local(LocalInstr::PublicOp {
            dst: not_cond,
            op: Op::Sub,
            args: vec![one, cond],
        });
        let mut terms = Vec::new();
        for (branch, gate) in [(args[1], cond), (args[2], not_cond)] {
            let gate_ring = self.encode(gate, 0);
            if branch.secret {
                let x = self.rescale(branch.reg, frac);
                let dst = self.e.reg(RegKind::Rss, shape, frac);
                terms.push((
                    self.e.local(LocalInstr::MulPublic {
                        dst,
                        a: x,
                        b: gate_ring,
                    }),
                    true,
                ));
            } else {
                // The public product has the broadcast shape of its two operands, which may be
                // smaller than the result's (a scalar branch gated by a row mask, say).
                let gated_shape = secc_ir::types::broadcast_shapes(
                    &self.e.shape(branch.reg),
                    &self.e.shape(gate),
                )
                .expect("the verifier checked that the operands of where broadcast");
                let gated = self.e.reg(RegKind::Public, &gated_shape, 0);
                self.e.local(LocalInstr::PublicOp {
                    dst: gated,
                    op: Op::Mul,
                    args: vec![branch.reg, gate],
                });
                terms.push((self.encode(gated, frac), false));
            }
        }
        let dst = self.e.reg(RegKind::Rss, shape, frac);
        self.e.local(LocalInstr::Add {
            dst,
            a: terms[0].0,
            b: terms[1].0,
        })
    }
}
