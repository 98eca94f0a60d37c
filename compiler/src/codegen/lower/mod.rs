//! Lowering of IR nodes into LIR instructions: picks the protocol for each node from the
//! visibility and encoding of its operands, and places truncations so that every secret value
//! leaves its node at its natural scale (the program's fraction bits for fixed point, 0 for
//! integers and bits).
//!
//! Only the parties' part of the program is lowered: the client's prologue
//! ([`secc_ir::prologue`]) is not, and the values the client sends ([`Partition::sends`]) are
//! the low-level program's inputs, in that order. Program outputs the client computes itself
//! are not outputs of the low-level program.

mod linear;
mod nonlinear;
mod structural;
#[cfg(test)]
mod tests;

use super::emit::Emitter;
use super::CodegenError;
use secc_ir::lir::{InputForm, LocalInstr, LowInput, LowOutput, LowParam, Reg, RegKind};
use secc_ir::prologue::Partition;
use secc_ir::{Encoding, Node, Op, Program, ValueId, Visibility};
use std::collections::HashMap;

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

    /// A secret node: its operator's family lowers it ([`linear`], [`structural`],
    /// [`nonlinear`]); an operator no family implements on secret values is refused naming the
    /// node. The match is exhaustive, so a new IR operator must be placed here.
    fn lower_secret(&mut self, v: ValueId, node: &'p Node) -> Result<Lowered, CodegenError> {
        let shape = node.ty.shape.clone();
        let args: Vec<Lowered> = node.args.iter().map(|&a| self.get(a)).collect();
        let reg = match &node.op {
            Op::Input { .. } => {
                return Err(self.invalid(v, "a program input outside the client's prologue"))
            }
            Op::Const { .. } => unreachable!("constants are public"),
            Op::Param { index } => {
                let dst = self.e.reg(RegKind::Rss, &shape, self.frac);
                self.e.local(LocalInstr::LoadParam {
                    dst,
                    param: *index as u32,
                })
            }
            Op::Add | Op::Sub | Op::Mul | Op::MatMul | Op::Div | Op::Neg | Op::Cast { .. } => {
                self.lower_linear(v, node, &args, &shape)?
            }
            Op::Pow { exponent } if *exponent >= 1 => self.lower_linear(v, node, &args, &shape)?,
            Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Broadcast { .. }
            | Op::Gather { .. }
            | Op::Concat { .. }
            | Op::ReduceSum { .. }
            | Op::ReduceMean { .. }
            | Op::Embedding
            | Op::Where => self.lower_structural(v, node, &args, &shape)?,
            Op::Relu
            | Op::Clip { .. }
            | Op::Quad2Softmax { .. }
            | Op::SecGelu
            | Op::SecTanh
            | Op::SecLayerNorm { .. }
            | Op::GoldschmidtDiv { .. }
            | Op::PumaGelu
            | Op::PumaTanh
            | Op::PumaSoftmax { .. }
            | Op::PumaLayerNorm { .. }
            | Op::PumaRsqrt { .. }
            | Op::PumaSqrt { .. }
            | Op::PumaReciprocal { .. } => self.lower_nonlinear(v, node, &args, &shape)?,
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
}
