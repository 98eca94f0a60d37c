//! The verifier: checks a [`Program`] and returns the facts later stages rely on.
//!
//! Invariants checked, each reported with the node and its ONNX origin:
//! 1. `frac_bits` is between 1 and 30 (two fixed-point factors must fit in 63 bits).
//! 2. Every argument of a node names an earlier node (arena order is a topological order,
//!    hence the graph is acyclic).
//! 3. Every node's argument count is admitted by its operator's arity.
//! 4. Every non-source node's stored type equals the op table's typing rule applied to its
//!    arguments' types ([`Op::infer`]); this covers shape, visibility and encoding.
//! 5. `Input` and `Param` nodes name an existing declaration, agree with its type, and each
//!    declaration is read by at most one node.
//! 6. Input names are unique, output names are unique, and every output names an existing node.
//! 7. Every node carries a non-empty origin (the ONNX node or tensor it came from).
//!
//! The returned [`Facts`] give the use count of each node, the set of nodes the outputs depend on
//! and the number of nodes per operator kind.

use crate::op::Op;
use crate::program::{Program, ValueId};
use crate::types::ValueType;
use std::collections::{BTreeMap, HashSet};

/// A broken invariant, naming the node and its origin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct VerifyError {
    pub location: String,
    pub message: String,
}

/// What the verifier established about a valid program.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// How many times each node is used as an argument or an output.
    pub use_counts: Vec<usize>,
    /// Whether each node contributes to some output.
    pub live: Vec<bool>,
    /// Number of nodes per operator name.
    pub op_counts: BTreeMap<&'static str, usize>,
}

fn err(program: &Program, v: ValueId, message: impl Into<String>) -> VerifyError {
    let node = &program.nodes[v];
    VerifyError {
        location: format!("{v} ({}, from '{}')", node.op.name(), node.origin),
        message: message.into(),
    }
}

/// Checks every invariant listed in the module documentation.
pub fn verify(program: &Program) -> Result<Facts, VerifyError> {
    let global = |message: String| VerifyError {
        location: format!("program '{}'", program.name),
        message,
    };
    if !(1..=30).contains(&program.frac_bits) {
        return Err(global(format!(
            "frac_bits {} outside 1..=30",
            program.frac_bits
        )));
    }
    let n = program.nodes.len();
    let mut use_counts = vec![0usize; n];
    let mut op_counts = BTreeMap::new();
    let mut inputs_read = vec![false; program.inputs.len()];
    let mut params_read = vec![false; program.params.len()];
    for (v, node) in program.nodes.iter() {
        *op_counts.entry(node.op.name()).or_insert(0) += 1;
        if node.origin.is_empty() {
            return Err(err(program, v, "node has no origin"));
        }
        for &a in &node.args {
            if a >= v {
                return Err(err(program, v, format!("argument {a} does not precede it")));
            }
            use_counts[a.index()] += 1;
        }
        if !node.op.arity().admits(node.args.len()) {
            return Err(err(
                program,
                v,
                format!(
                    "{} arguments for arity {:?}",
                    node.args.len(),
                    node.op.arity()
                ),
            ));
        }
        match &node.op {
            Op::Input { index } => {
                let decl = program
                    .inputs
                    .get(*index)
                    .ok_or_else(|| err(program, v, format!("no input #{index}")))?;
                if decl.ty != node.ty {
                    return Err(err(program, v, "type differs from the input declaration"));
                }
                if std::mem::replace(&mut inputs_read[*index], true) {
                    return Err(err(program, v, format!("input #{index} read twice")));
                }
            }
            Op::Param { index } => {
                let decl = program
                    .params
                    .get(*index)
                    .ok_or_else(|| err(program, v, format!("no parameter #{index}")))?;
                if decl.shape != node.ty.shape || !node.ty.is_secret() {
                    return Err(err(
                        program,
                        v,
                        "type differs from the parameter declaration",
                    ));
                }
                if std::mem::replace(&mut params_read[*index], true) {
                    return Err(err(program, v, format!("parameter #{index} read twice")));
                }
            }
            op => {
                let tys: Vec<&ValueType> =
                    node.args.iter().map(|&a| &program.nodes[a].ty).collect();
                let expected = op.infer(&tys).map_err(|m| err(program, v, m))?;
                if expected != node.ty {
                    return Err(err(
                        program,
                        v,
                        format!("stored type {} but the op table gives {expected}", node.ty),
                    ));
                }
            }
        }
    }
    let mut names = HashSet::new();
    for decl in &program.inputs {
        if !names.insert(decl.name.as_str()) {
            return Err(global(format!("input name '{}' used twice", decl.name)));
        }
    }
    let mut names = HashSet::new();
    for out in &program.outputs {
        if !names.insert(out.name.as_str()) {
            return Err(global(format!("output name '{}' used twice", out.name)));
        }
        if out.value.index() >= n {
            return Err(global(format!(
                "output '{}' names missing node {}",
                out.name, out.value
            )));
        }
        use_counts[out.value.index()] += 1;
    }
    let mut live = vec![false; n];
    for out in &program.outputs {
        live[out.value.index()] = true;
    }
    for (v, node) in program.nodes.iter().rev() {
        if live[v.index()] {
            for &a in &node.args {
                live[a.index()] = true;
            }
        }
    }
    Ok(Facts {
        use_counts,
        live,
        op_counts,
    })
}
