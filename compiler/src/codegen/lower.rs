//! Lowering of IR nodes into LIR instructions: picks the protocol for each node from the
//! visibility and encoding of its operands, and places truncations so that every secret value
//! leaves its node at its natural scale (the program's fraction bits for fixed point, 0 for
//! integers and bits).
//!
//! Only the parties' part of the program is lowered: the client's prologue
//! ([`secc_ir::prologue`]) is not, and the values the client sends ([`Partition::sends`]) are
//! the low-level program's inputs, in that order. Program outputs the client computes itself
//! are not outputs of the low-level program.

use super::emit::Emitter;
use super::protocols::arith::{
    self, constant_precision, mul_shares, ring_scalar, settle_product, truncate,
};
use super::protocols::compare::relu;
use super::protocols::{puma, range_reduction, secformer};
use super::CodegenError;
use secc_ir::lir::{InputForm, LocalInstr, LowInput, LowOutput, LowParam, Reg, RegKind, StructOp};
use secc_ir::prologue::Partition;
use secc_ir::{Encoding, Node, Op, Program, Tensor, ValueId, Visibility};
use std::collections::HashMap;

/// Whether x is 2^k for an integer k (possibly negative).
fn is_power_of_two(x: f64) -> bool {
    x > 0.0 && x.log2().fract() == 0.0
}

/// Where an IR value lives after lowering.
#[derive(Debug, Clone, Copy)]
pub struct Lowered {
    pub reg: Reg,
    pub secret: bool,
}

pub struct Lowering<'p> {
    pub program: &'p Program,
    pub e: Emitter,
    pub values: Vec<Option<Lowered>>,
    pub inputs: Vec<LowInput>,
    pub params: Vec<LowParam>,
    pub outputs: Vec<LowOutput>,
    frac: u32,
    partition: Partition,
    /// The low-level input of each value the client sends, by arena index.
    send_of: HashMap<usize, usize>,
}

impl<'p> Lowering<'p> {
    pub fn new(program: &'p Program, partition: Partition) -> Self {
        let inputs = partition
            .sends
            .iter()
            .map(|send| {
                let ty = &program.nodes[send.value].ty;
                LowInput {
                    name: send.name.clone(),
                    shape: ty.shape.clone(),
                    form: match (ty.visibility, ty.encoding) {
                        (Visibility::Public, _) => InputForm::Public,
                        (Visibility::Secret, Encoding::Fixed) => InputForm::Secret {
                            frac_bits: program.frac_bits,
                        },
                        (Visibility::Secret, _) => InputForm::Secret { frac_bits: 0 },
                    },
                }
            })
            .collect();
        let send_of = partition
            .sends
            .iter()
            .enumerate()
            .map(|(k, send)| (send.value.index(), k))
            .collect();
        let params = program
            .params
            .iter()
            .map(|p| LowParam {
                name: p.name.clone(),
                shape: p.shape.clone(),
                frac_bits: program.frac_bits,
            })
            .collect();
        Lowering {
            program,
            e: Emitter::default(),
            values: vec![None; program.nodes.len()],
            inputs,
            params,
            outputs: vec![],
            frac: program.frac_bits,
            partition,
            send_of,
        }
    }

    fn node(&self, v: ValueId) -> &'p Node {
        &self.program.nodes[v]
    }

    fn get(&self, v: ValueId) -> Lowered {
        self.values[v.index()].expect("arguments are lowered before their uses")
    }

    fn invalid(&self, v: ValueId, why: &str) -> CodegenError {
        let node = self.node(v);
        CodegenError::BadAttribute {
            node: node.origin.clone(),
            op: node.op.name(),
            reason: why.to_string(),
        }
    }

    fn unsupported(&self, v: ValueId, why: impl Into<String>) -> CodegenError {
        let node = self.node(v);
        CodegenError::NoProtocol {
            node: node.origin.clone(),
            op: node.op.name(),
            reason: why.into(),
        }
    }

    /// Lowers every live node in arena (topological) order, then the outputs.
    pub fn run(&mut self, live: &[bool]) -> Result<(), CodegenError> {
        let embedding_ids = self.one_hot_inputs()?;
        for (v, node) in self.program.nodes.iter() {
            if !live[v.index()] {
                continue;
            }
            self.e.source = format!("{} @ {}", node.op.name(), node.origin);
            let lowered = if let Some(&k) = self.send_of.get(&v.index()) {
                self.load_input(node, k, embedding_ids[k])
            } else if self.partition.is_client(v) {
                continue; // the client's prologue computes it
            } else if node.ty.is_secret() {
                self.lower_secret(v, node)?
            } else {
                self.lower_public(v, node)?
            };
            self.values[v.index()] = Some(lowered);
        }
        for out in &self.program.outputs {
            if self.partition.is_client(out.value) {
                continue; // the client has it already
            }
            let l = self.get(out.value);
            self.outputs.push(LowOutput {
                name: out.name.clone(),
                reg: l.reg,
                frac_bits: self.e.frac(l.reg),
            });
        }
        Ok(())
    }

    /// Sent values used by the parties only as embedding ids are sent as one-hot shares;
    /// returns, per low-level input, the vocabulary size when that is the case.
    fn one_hot_inputs(&mut self) -> Result<Vec<Option<usize>>, CodegenError> {
        let mut vocab: Vec<Option<usize>> = vec![None; self.inputs.len()];
        let mut other_use = vec![false; self.inputs.len()];
        for (v, node) in self.program.nodes.iter() {
            if self.partition.is_client(v) {
                continue;
            }
            for (pos, &a) in node.args.iter().enumerate() {
                let Some(&index) = self.send_of.get(&a.index()) else {
                    continue;
                };
                if matches!(node.op, Op::Embedding) && pos == 1 {
                    let table_rows = self.program.nodes[node.args[0]].ty.shape[0];
                    match vocab[index] {
                        Some(rows) if rows != table_rows => {
                            return Err(self.unsupported(
                                v,
                                "the same token ids index tables of different sizes",
                            ))
                        }
                        _ => vocab[index] = Some(table_rows),
                    }
                } else {
                    other_use[index] = true;
                }
            }
        }
        for (index, v) in vocab.iter_mut().enumerate() {
            if other_use[index] {
                *v = None;
            }
            if let Some(rows) = *v {
                self.inputs[index].form = InputForm::OneHot { vocab: rows };
            }
        }
        Ok(vocab)
    }

    /// A value the client sends, read from low-level input `index` (a one-hot input adds the
    /// vocabulary axis and has integer scale).
    fn load_input(&mut self, node: &Node, index: usize, one_hot: Option<usize>) -> Lowered {
        let input = index as u32;
        if !node.ty.is_secret() {
            let dst = self.e.reg(RegKind::Public, &node.ty.shape, 0);
            self.e.local(LocalInstr::LoadInput { dst, input });
            return Lowered {
                reg: dst,
                secret: false,
            };
        }
        let (shape, frac) = match one_hot {
            Some(vocab) => {
                let mut s = node.ty.shape.clone();
                s.push(vocab);
                (s, 0)
            }
            None => (
                node.ty.shape.clone(),
                match self.inputs[index].form {
                    InputForm::Secret { frac_bits } => frac_bits,
                    _ => 0,
                },
            ),
        };
        let dst = self.e.reg(RegKind::Rss, &shape, frac);
        self.e.local(LocalInstr::LoadInput { dst, input });
        Lowered {
            reg: dst,
            secret: true,
        }
    }

    fn lower_public(&mut self, v: ValueId, node: &Node) -> Result<Lowered, CodegenError> {
        let dst = self.e.reg(RegKind::Public, &node.ty.shape, 0);
        let instr = match &node.op {
            Op::Input { .. } => {
                return Err(self.invalid(v, "a program input outside the client's prologue"))
            }
            Op::Const { value } => {
                let reg = self.e.constant(value.clone());
                return Ok(Lowered { reg, secret: false });
            }
            op => LocalInstr::PublicOp {
                dst,
                op: op.clone(),
                args: node.args.iter().map(|&a| self.get(a).reg).collect(),
            },
        };
        self.e.local(instr);
        Ok(Lowered {
            reg: dst,
            secret: false,
        })
    }

    /// The public operand encoded in the ring at `frac` fraction bits.
    fn encode(&mut self, public: Reg, frac: u32) -> Reg {
        let shape = self.e.shape(public);
        let dst = self.e.reg(RegKind::Ring, &shape, frac);
        self.e.local(LocalInstr::Encode {
            dst,
            src: public,
            frac_bits: frac,
        })
    }

    /// Raises an Rss share to scale `frac` (multiplication by a power of two, no communication).
    fn rescale(&mut self, x: Reg, frac: u32) -> Reg {
        let have = self.e.frac(x);
        if have == frac {
            return x;
        }
        assert!(have < frac, "rescale only raises scales");
        let shape = self.e.shape(x);
        let dst = self.e.reg(RegKind::Rss, &shape, frac);
        self.e.local(LocalInstr::MulInt {
            dst,
            a: x,
            k: 1i64 << (frac - have),
        })
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
    fn product_by_public(
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

    fn lower_secret(&mut self, v: ValueId, node: &'p Node) -> Result<Lowered, CodegenError> {
        let shape = node.ty.shape.clone();
        let args: Vec<Lowered> = node.args.iter().map(|&a| self.get(a)).collect();
        let reg = match &node.op {
            Op::Input { .. } => {
                return Err(self.invalid(v, "a program input outside the client's prologue"))
            }
            Op::Param { index } => {
                let dst = self.e.reg(RegKind::Rss, &shape, self.frac);
                self.e.local(LocalInstr::LoadParam {
                    dst,
                    param: *index as u32,
                })
            }
            Op::Add | Op::Sub => {
                let (a, b) = self.aligned_pair(&args);
                let dst = self
                    .e
                    .reg(RegKind::Rss, &shape, self.e.frac(a).max(self.e.frac(b)));
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
                        let add3 = self.e.reg(RegKind::Add3, &shape, fa + fb);
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
                        &shape,
                    ),
                    (false, true) => self.times_public_operand(
                        args[1].reg,
                        args[0].reg,
                        node.args[0],
                        matmul,
                        false,
                        &shape,
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
                    &shape,
                )
            }
            Op::Neg => {
                let dst = self.e.reg(RegKind::Rss, &shape, self.e.frac(args[0].reg));
                self.e.local(LocalInstr::Neg {
                    dst,
                    a: args[0].reg,
                })
            }
            Op::Pow { exponent } if *exponent >= 1 => {
                let mut acc = args[0].reg;
                for _ in 1..*exponent {
                    acc = mul_shares(&mut self.e, acc, args[0].reg, &shape);
                }
                acc
            }
            Op::Relu => relu(&mut self.e, args[0].reg),
            Op::Cast { to } => {
                let from = self.e.frac(args[0].reg);
                match to {
                    Encoding::Fixed => self.rescale(args[0].reg, self.frac.max(from)),
                    _ if from == 0 => args[0].reg,
                    _ => return Err(self.unsupported(v, "casting a secret real to an integer")),
                }
            }
            Op::Reshape { shape: s } => {
                self.structural(args[0].reg, StructOp::Reshape { shape: s.clone() }, &shape)
            }
            Op::Transpose { perm } => self.structural(
                args[0].reg,
                StructOp::Transpose { perm: perm.clone() },
                &shape,
            ),
            Op::Slice { axis, start, end } => self.structural(
                args[0].reg,
                StructOp::Slice {
                    axis: *axis,
                    start: *start,
                    end: *end,
                },
                &shape,
            ),
            Op::Broadcast { shape: s } => self.structural(
                args[0].reg,
                StructOp::Broadcast { shape: s.clone() },
                &shape,
            ),
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
                    &shape,
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
                for a in &args {
                    srcs.push(if a.secret {
                        self.rescale(a.reg, frac)
                    } else {
                        return Err(self.unsupported(v, "concatenating public and secret values"));
                    });
                }
                let dst = self.e.reg(RegKind::Rss, &shape, frac);
                self.e.local(LocalInstr::Concat {
                    dst,
                    srcs,
                    axis: *axis,
                })
            }
            Op::ReduceSum { axes, keep_dims } => {
                let dst = self.e.reg(RegKind::Rss, &shape, self.e.frac(args[0].reg));
                self.e.local(LocalInstr::ReduceSum {
                    dst,
                    src: args[0].reg,
                    axes: axes.clone(),
                    keep_dims: *keep_dims,
                })
            }
            Op::ReduceMean { axes, keep_dims } => {
                let x = args[0].reg;
                let sum = self.e.reg(RegKind::Rss, &shape, self.e.frac(x));
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
                self.product_by_public(sum, inv, false, precision, false, true, &shape)
            }
            Op::Embedding if !args[0].secret => {
                // A public table (`--public-weights`): the one-hot share times the table
                // encoded at the program's scale is local and exact.
                let table = self.encode(args[0].reg, self.frac);
                let dst = self.e.reg(RegKind::Rss, &shape, self.frac);
                self.e.local(LocalInstr::MatMulPublic {
                    dst,
                    a: args[1].reg,
                    b: table,
                })
            }
            Op::Embedding => {
                // one-hot ids (integer scale) times the table: exact, no truncation.
                let add3 = self.e.reg(RegKind::Add3, &shape, self.e.frac(args[0].reg));
                self.e.local(LocalInstr::MatMulShares {
                    dst: add3,
                    a: args[1].reg,
                    b: args[0].reg,
                });
                settle_product(&mut self.e, add3, 0)
            }
            Op::Where => self.select(v, node, &args, &shape)?,
            Op::Const { .. } => unreachable!("constants are public"),
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
            Op::Pow { .. }
            | Op::Sqrt
            | Op::Reciprocal
            | Op::Exp
            | Op::Erf
            | Op::Tanh
            | Op::Gelu { .. }
            | Op::Compare { .. }
            | Op::ReduceMax { .. }
            | Op::CumSum { .. }
            | Op::GatherElements { .. }
            | Op::Softmax { .. }
            | Op::LayerNorm { .. } => {
                return Err(self.unsupported(
                    v,
                    "no protocol for this operator on secret values in this mode (secformer \
                     and PUMA modes replace softmax, GeLU, tanh, layer norm and division by a \
                     secret)",
                ))
            }
        };
        Ok(Lowered { reg, secret: true })
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

    /// The two operands of an addition as registers of a common scale (public ones encoded).
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

    fn structural(&mut self, src: Reg, op: StructOp, shape: &[usize]) -> Reg {
        let decl = self.e.decl(src).clone();
        let dst = self.e.reg(decl.kind, shape, decl.frac_bits);
        self.e.local(LocalInstr::Struct { dst, src, op })
    }

    /// `cond ? a : b` with a public condition: a*cond + b*(1-cond), both products local.
    fn select(
        &mut self,
        _v: ValueId,
        node: &Node,
        args: &[Lowered],
        shape: &[usize],
    ) -> Result<Reg, CodegenError> {
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
        let _ = node;
        let dst = self.e.reg(RegKind::Rss, shape, frac);
        Ok(self.e.local(LocalInstr::Add {
            dst,
            a: terms[0].0,
            b: terms[1].0,
        }))
    }
}
