//! Dead-code elimination: drops nodes no output depends on, and the parameters (with their
//! weights) only dead nodes read. Input nodes always stay: the inputs are the client's interface.

use super::Rebuilder;
use crate::error::PassError;
use secc_ir::verify::verify;
use secc_ir::{Node, Op, Program, Weights};

pub const NAME: &str = "dce";

pub fn run(program: &Program, weights: &Weights) -> Result<(Program, Weights), PassError> {
    let facts = verify(program).map_err(|e| PassError::Internal {
        pass: NAME,
        message: e.to_string(),
    })?;
    let mut rb = Rebuilder::new(program, NAME);
    rb.new.params.clear();
    let mut kept_weights = Vec::new();
    for (v, node) in program.nodes.iter() {
        let live = facts.live[v.index()] || matches!(node.op, Op::Input { .. });
        if !live {
            continue;
        }
        if let Op::Param { index } = node.op {
            rb.new.params.push(program.params[index].clone());
            kept_weights.push(weights.tensors[index].clone());
            let new = rb.new.nodes.append(Node {
                op: Op::Param {
                    index: rb.new.params.len() - 1,
                },
                args: vec![],
                ty: node.ty.clone(),
                origin: node.origin.clone(),
            });
            rb.replace(v, new);
        } else {
            rb.copy(v)?;
        }
    }
    Ok((
        rb.finish()?,
        Weights {
            tensors: kept_weights,
        },
    ))
}
