//! Moves a public additive bias into the softmax: `softmax(s + b)` with `s` secret and `b` public
//! becomes `softmax[axis](s, b)`. This is how the attention mask (masked entries -3.4e38 or -inf)
//! stays out of the secret fixed-point path: protocols apply the bias knowing it is public
//! (2Quad multiplies by the 0/1 mask it implies, PUMA clamps it).

use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "softmax-bias";

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let p = rb.old;
        let node = &p.nodes[v];
        let Op::Softmax { axis } = node.op else {
            return Ok(None);
        };
        if node.args.len() != 1 {
            return Ok(None);
        }
        let add = &p.nodes[node.args[0]];
        if add.op != Op::Add {
            return Ok(None);
        }
        let (a, b) = (add.args[0], add.args[1]);
        let (scores, bias) = match (p.ty(a).is_secret(), p.ty(b).is_secret()) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ => return Ok(None),
        };
        // The bias may broadcast to the scores but not widen them.
        if p.ty(scores).shape != p.ty(node.args[0]).shape {
            return Ok(None);
        }
        let args = vec![rb.mapped(scores)?, rb.mapped(bias)?];
        rb.emit(Op::Softmax { axis }, args, &node.origin).map(Some)
    })
}
