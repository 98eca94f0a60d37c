//! `masked_fill` before a softmax: `Where(mask, -3.4e38, scores) -> Softmax` (DeBERTa-v2 fills
//! the masked attention scores instead of adding a bias).
//!
//! A secret selected against a huge public constant cannot be computed in fixed point (the
//! `fixed-point-guard` rejects it). In front of a softmax it is the same function as adding the
//! public bias `Where(mask, -3.4e38, 0)` to the scores: the masked entries get probability 0
//! either way, since the bias dominates any score. The addition is then absorbed by the
//! `softmax-bias` pass, which applies the public bias inside the softmax protocol, exactly as for
//! BERT's additive mask. Only this shape is rewritten: the condition public, one branch a
//! constant of magnitude above 2^30, the other a secret, and the `Where`'s only user a `Softmax`.

use super::lower::{Lowered, Lowerer};
use crate::error::FrontendError;
use secc_ir::{Encoding, Op, Tensor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::nn::Softmax;

/// Magnitude from which a fill value is a mask rather than data (the fixed-point guard's bound).
const MASK_FILL: f64 = (1u64 << 30) as f64;

/// The rewritten value if the current node, a `Where`, is a masked fill feeding a softmax.
pub fn masked_fill_before_softmax(
    lw: &mut Lowerer,
    node: &TypedNode,
) -> Result<Option<Lowered>, FrontendError> {
    let succ = &node.outputs[0].successors;
    let feeds_softmax = succ.len() == 1 && lw.model.node(succ[0].node).op_as::<Softmax>().is_some();
    let (cond, a, b) = (node.inputs[0], node.inputs[1], node.inputs[2]);
    if !feeds_softmax || lw.is_secret_value(cond) {
        return Ok(None);
    }
    let fill_of = |o: OutletId| {
        lw.constant(o)
            .and_then(|t| t.uniform_value())
            .filter(|v| v.abs() > MASK_FILL)
    };
    // (fill value, secret branch, whether the fill is the `true` branch)
    let (fill, scores, fill_when_true) = match (fill_of(a), fill_of(b)) {
        (Some(f), None) if lw.is_secret_value(b) => (f, b, true),
        (None, Some(f)) if lw.is_secret_value(a) => (f, a, false),
        _ => return Ok(None),
    };
    let cond = lw.value(cond)?;
    let scores = lw.value(scores)?;
    let konst = |lw: &mut Lowerer, v: f64| {
        lw.push(
            Op::Const {
                value: Tensor::scalar(v, Encoding::Fixed),
            },
            vec![],
        )
    };
    let (fill, zero) = (konst(lw, fill)?, konst(lw, 0.0)?);
    let branches = if fill_when_true {
        vec![cond, fill, zero]
    } else {
        vec![cond, zero, fill]
    };
    let bias = lw.push(Op::Where, branches)?;
    let sum = lw.push(Op::Add, vec![scores, bias])?;
    Ok(Some(Lowered::Value(sum)))
}
