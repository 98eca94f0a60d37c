//! Substitution `--gelu relu`: every `gelu` (erf or tanh form) becomes `relu`, for models
//! fine-tuned with ReLU in place of GeLU to be cheap in MPC (ReLU is one comparison: the MSB,
//! a bit injection and a local select; no Fourier series). Runs before the mode's passes, so
//! no mode sees a GeLU afterwards. This changes the model's function: use it only on a model
//! that was trained or fine-tuned with ReLU.

use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "gelu-relu";

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        let Op::Gelu { .. } = node.op else {
            return Ok(None);
        };
        let x = rb.mapped(node.args[0])?;
        rb.emit(Op::Relu, vec![x], &node.origin).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secc_ir::{Encoding, GeluKind, InputRole};

    #[test]
    fn every_gelu_becomes_relu() {
        let mut p = Program::new("g", 16);
        let x = p.add_input("x", InputRole::Client, vec![2, 3], Encoding::Fixed);
        let a = p
            .push(
                Op::Gelu {
                    kind: GeluKind::Erf,
                },
                vec![x],
                "/erf",
            )
            .unwrap();
        let b = p
            .push(
                Op::Gelu {
                    kind: GeluKind::Tanh,
                },
                vec![a],
                "/tanh",
            )
            .unwrap();
        p.add_output("y", b);
        let q = run(&p).unwrap();
        let ops: Vec<_> = q.nodes.iter().map(|(_, n)| n.op.name()).collect();
        assert_eq!(ops, ["input", "relu", "relu"]);
        assert_eq!(q.nodes.iter().nth(1).unwrap().1.origin, "/erf");
    }
}
