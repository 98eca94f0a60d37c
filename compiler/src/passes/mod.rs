//! IR passes, one per file. Each takes a verified program and returns a new one (passes never
//! edit in place); [`crate::pipeline`] chains them and runs the verifier after each.
//!
//! [`Rebuilder`] is the shared machinery: it copies a program node by node, re-typing every
//! copied node through the op table, and lets a pass emit a replacement for a node instead.
//! Replaced nodes' old operands stay in the program until [`dce`] removes what became dead.

pub mod approximations;
pub mod calibrate;
pub mod canonicalize;
pub mod dce;
pub mod fixed_point_guard;
pub mod fold_constants;
pub mod gelu;
pub mod gelu_relu;
pub mod goldschmidt_div;
pub mod layer_norm;
pub mod layer_norm_affine;
pub mod patterns;
pub mod puma;
pub mod puma_rsqrt;
pub mod quad_softmax;
pub mod sec_activations;
pub mod sec_layer_norm;
pub mod softmax_bias;
pub mod softmax_relu;

use crate::error::PassError;
use secc_ir::{Node, Op, Program, ValueId};

/// Copies a program into a new one, mapping old value ids to new ones.
pub struct Rebuilder<'a> {
    pub old: &'a Program,
    pub new: Program,
    map: Vec<Option<ValueId>>,
    pass: &'static str,
}

impl<'a> Rebuilder<'a> {
    /// A new program with the same declarations and no nodes yet.
    pub fn new(old: &'a Program, pass: &'static str) -> Self {
        let mut new = Program::new(old.name.clone(), old.frac_bits);
        new.inputs = old.inputs.clone();
        new.params = old.params.clone();
        Rebuilder {
            old,
            new,
            map: vec![None; old.nodes.len()],
            pass,
        }
    }

    /// The new id of an old value that was already copied or replaced.
    pub fn mapped(&self, old: ValueId) -> Result<ValueId, PassError> {
        self.map[old.index()].ok_or_else(|| PassError::Internal {
            pass: self.pass,
            message: format!("{old} used before it was rebuilt"),
        })
    }

    /// Copies old node `v` with its arguments remapped.
    pub fn copy(&mut self, v: ValueId) -> Result<ValueId, PassError> {
        let node = &self.old.nodes[v];
        let args = node
            .args
            .iter()
            .map(|&a| self.mapped(a))
            .collect::<Result<Vec<_>, _>>()?;
        let new = match node.op {
            Op::Input { .. } | Op::Param { .. } => self.new.nodes.append(Node {
                op: node.op.clone(),
                args,
                ty: node.ty.clone(),
                origin: node.origin.clone(),
            }),
            _ => self.emit(node.op.clone(), args, &node.origin)?,
        };
        self.map[v.index()] = Some(new);
        Ok(new)
    }

    /// Appends a new node (arguments are new ids).
    pub fn emit(&mut self, op: Op, args: Vec<ValueId>, origin: &str) -> Result<ValueId, PassError> {
        let pass = self.pass;
        self.new
            .push(op, args, origin)
            .map_err(|message| PassError::Internal { pass, message })
    }

    /// Records that old value `v` is now `new`.
    pub fn replace(&mut self, v: ValueId, new: ValueId) {
        self.map[v.index()] = Some(new);
    }

    /// The new program with the outputs remapped.
    pub fn finish(mut self) -> Result<Program, PassError> {
        for out in &self.old.outputs {
            let v = self.mapped(out.value)?;
            self.new.add_output(out.name.clone(), v);
        }
        Ok(self.new)
    }
}

/// Rebuilds `program`, asking `replace` for each non-source node whether to emit something else.
/// `replace` gets the rebuilder (to map arguments and emit nodes) and the old node id, and returns
/// the new id of the replacement or `None` to copy the node.
pub fn rewrite(
    program: &Program,
    pass: &'static str,
    mut replace: impl FnMut(&mut Rebuilder, ValueId) -> Result<Option<ValueId>, PassError>,
) -> Result<Program, PassError> {
    let mut rb = Rebuilder::new(program, pass);
    for v in program.nodes.handles() {
        match replace(&mut rb, v)? {
            Some(new) => rb.replace(v, new),
            None => {
                rb.copy(v)?;
            }
        }
    }
    rb.finish()
}
