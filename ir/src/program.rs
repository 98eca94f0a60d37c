//! A program: the arena of nodes (each node is one value), its declarations and outputs.
//!
//! Arena order is a topological order: a node's arguments always precede it. Builders append
//! through [`Program::push`], which types the node with [`Op::infer`]; passes build new programs
//! instead of editing in place.

use crate::arena::{Arena, Handle};
use crate::op::{InputRole, Op};
use crate::tensor::Tensor;
use crate::types::{Encoding, ValueType, Visibility};
use serde::{Deserialize, Serialize};

/// One operation and the value it defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub op: Op,
    pub args: Vec<ValueId>,
    pub ty: ValueType,
    /// The ONNX node this came from (or, for inputs and parameters, the ONNX tensor name), so
    /// that every later message can point at the user's model.
    pub origin: String,
}

/// Handle of a node, i.e. of the value it defines.
pub type ValueId = Handle<Node>;

/// A program input supplied by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDecl {
    pub name: String,
    pub role: InputRole,
    pub ty: ValueType,
}

/// A learned parameter: secret, supplied once by the model owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDecl {
    pub name: String,
    pub shape: Vec<usize>,
}

/// A named program output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDecl {
    pub name: String,
    pub value: ValueId,
}

/// A typed MPC program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub name: String,
    /// Fraction bits of the fixed-point encoding in Z_2^64.
    pub frac_bits: u32,
    pub nodes: Arena<Node>,
    pub inputs: Vec<InputDecl>,
    pub params: Vec<ParamDecl>,
    pub outputs: Vec<OutputDecl>,
}

/// The model owner's parameter values, in the order of [`Program::params`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Weights {
    pub tensors: Vec<Tensor>,
}

impl Program {
    pub fn new(name: impl Into<String>, frac_bits: u32) -> Self {
        Program {
            name: name.into(),
            frac_bits,
            nodes: Arena::new(),
            inputs: Vec::new(),
            params: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Declares an input and appends the node that reads it.
    pub fn add_input(
        &mut self,
        name: impl Into<String>,
        role: InputRole,
        shape: Vec<usize>,
        encoding: Encoding,
    ) -> ValueId {
        let name = name.into();
        let visibility = match role {
            InputRole::Client => Visibility::Secret,
            InputRole::ClientPublic => Visibility::Public,
        };
        let ty = ValueType::new(shape, visibility, encoding);
        self.inputs.push(InputDecl {
            name: name.clone(),
            role,
            ty: ty.clone(),
        });
        self.nodes.append(Node {
            op: Op::Input {
                index: self.inputs.len() - 1,
            },
            args: vec![],
            ty,
            origin: name,
        })
    }

    /// Declares a parameter and appends the node that reads it.
    pub fn add_param(&mut self, name: impl Into<String>, shape: Vec<usize>) -> ValueId {
        let name = name.into();
        self.params.push(ParamDecl {
            name: name.clone(),
            shape: shape.clone(),
        });
        self.nodes.append(Node {
            op: Op::Param {
                index: self.params.len() - 1,
            },
            args: vec![],
            ty: ValueType::new(shape, Visibility::Secret, Encoding::Fixed),
            origin: name,
        })
    }

    /// Appends `op` applied to `args`, typed by the op table; the error says why it does not type.
    pub fn push(
        &mut self,
        op: Op,
        args: Vec<ValueId>,
        origin: impl Into<String>,
    ) -> Result<ValueId, String> {
        let tys: Vec<&ValueType> = args
            .iter()
            .map(|&a| {
                self.nodes
                    .try_get(a)
                    .map(|n| &n.ty)
                    .ok_or_else(|| format!("argument {a} does not exist"))
            })
            .collect::<Result<_, _>>()?;
        let ty = op.infer(&tys)?;
        Ok(self.nodes.append(Node {
            op,
            args,
            ty,
            origin: origin.into(),
        }))
    }

    pub fn add_output(&mut self, name: impl Into<String>, value: ValueId) {
        self.outputs.push(OutputDecl {
            name: name.into(),
            value,
        });
    }

    pub fn ty(&self, v: ValueId) -> &ValueType {
        &self.nodes[v].ty
    }

    /// Number of parameter elements (the model size).
    pub fn param_elements(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }
}
