//! Public constant folding: a node whose arguments are all constants is replaced by the constant
//! it evaluates to (with the plaintext interpreter, so folding agrees with the oracle), unless
//! that would make the program larger (a broadcast of a scalar stays a broadcast).

use super::rewrite;
use crate::error::PassError;
use secc_ir::interp::evaluate;
use secc_ir::{Op, Program, Tensor, Weights};
use std::collections::HashMap;

pub const NAME: &str = "fold-constants";

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let p = rb.old;
        let node = &p.nodes[v];
        if node.args.is_empty() {
            return Ok(None);
        }
        let mut arg_elements = 0;
        for &a in &node.args {
            match &p.nodes[a].op {
                Op::Const { value } => arg_elements += value.len(),
                _ => return Ok(None),
            }
        }
        if node.ty.element_count() > arg_elements.max(1) {
            return Ok(None);
        }
        // Evaluate the node alone in a tiny program of its constant arguments.
        let mut tiny = Program::new("fold", p.frac_bits);
        let args = node
            .args
            .iter()
            .map(|&a| tiny.push(p.nodes[a].op.clone(), vec![], "fold"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| PassError::Internal {
                pass: NAME,
                message,
            })?;
        let out = tiny
            .push(node.op.clone(), args, "fold")
            .map_err(|message| PassError::Internal {
                pass: NAME,
                message,
            })?;
        tiny.add_output("value", out);
        let values = evaluate(&tiny, &Weights::default(), &HashMap::new()).map_err(|e| {
            PassError::Rejected {
                pass: NAME,
                node: v.to_string(),
                origin: node.origin.clone(),
                message: format!("constant evaluation failed: {e}"),
            }
        })?;
        let array = &values[0].1;
        let value = Tensor::new(
            array.shape().to_vec(),
            node.ty.encoding,
            array.iter().copied().collect(),
        );
        rb.emit(Op::Const { value }, vec![], &node.origin).map(Some)
    })
}
