//! Recognises layer normalisation written out as arithmetic and makes it one `layer_norm` node:
//!
//! ```text
//! d = x - reduce_mean[last, keep](x)
//! n = d / sqrt(reduce_mean[last, keep](d^2) + eps)         (d^2 as pow[2] d or d * d)
//! y = n * gamma + beta                                      (gamma and beta optional)
//! ```
//!
//! This is ONNX's decomposed LayerNorm (opset < 17) and also what the frontend makes of tract's
//! RmsNorm, which tract uses for both LayerNormalization and the decomposed pattern. `gamma` and
//! `beta` must vary along the last axis only; missing ones become public constants 1 and 0.

use super::patterns::{add_scalar, is_last_axis_mean_of};
use super::rewrite;
use crate::error::PassError;
use secc_ir::{Encoding, Op, Program, Tensor, ValueId};

pub const NAME: &str = "layer-norm";

/// A recognised layer norm: its input, eps, optional affine parameters and the node it replaces.
struct Match {
    x: ValueId,
    eps: f64,
    gamma: Option<ValueId>,
    beta: Option<ValueId>,
}

/// Whether `v` is a per-feature vector for last axis `d`: shape `[1, .., 1, d]` or `[d]`.
fn per_feature(p: &Program, v: ValueId, d: usize) -> bool {
    let s = &p.ty(v).shape;
    s.last() == Some(&d) && s[..s.len() - 1].iter().all(|&k| k == 1)
}

/// Matches `n = d / sqrt(mean(d^2) + eps)` with `d = x - mean(x)` at `v`.
fn core(p: &Program, v: ValueId) -> Option<(ValueId, f64)> {
    let div = &p.nodes[v];
    if div.op != Op::Div {
        return None;
    }
    let (d, root) = (div.args[0], div.args[1]);
    let sub = &p.nodes[d];
    if sub.op != Op::Sub || !is_last_axis_mean_of(p, sub.args[1], sub.args[0]) {
        return None;
    }
    let x = sub.args[0];
    if p.nodes[root].op != Op::Sqrt {
        return None;
    }
    let (mean_sq, eps) = add_scalar(p, p.nodes[root].args[0])?;
    let sq = p.nodes[mean_sq].args.first().copied()?;
    if !is_last_axis_mean_of(p, mean_sq, sq) {
        return None;
    }
    let sq_node = &p.nodes[sq];
    let squares_d = match sq_node.op {
        Op::Pow { exponent: 2 } => sq_node.args[0] == d,
        Op::Mul => sq_node.args[0] == d && sq_node.args[1] == d,
        _ => false,
    };
    (squares_d && p.ty(v).shape == p.ty(x).shape).then_some((x, eps))
}

/// Users of every node (arguments only).
fn users(p: &Program) -> Vec<Vec<ValueId>> {
    let mut users = vec![Vec::new(); p.nodes.len()];
    for (v, node) in p.nodes.iter() {
        for &a in &node.args {
            users[a.index()].push(v);
        }
    }
    users
}

/// If the only user of `v` is `v op w` (either order) with `w` a per-feature vector, returns
/// that user and `w`.
fn affine_step(
    p: &Program,
    users: &[Vec<ValueId>],
    outputs: &[ValueId],
    v: ValueId,
    op: Op,
    d: usize,
) -> Option<(ValueId, ValueId)> {
    if users[v.index()].len() != 1 || outputs.contains(&v) {
        return None;
    }
    let u = users[v.index()][0];
    let node = &p.nodes[u];
    if node.op != op || p.ty(u).shape != p.ty(v).shape {
        return None;
    }
    let other = if node.args[0] == v {
        node.args[1]
    } else {
        node.args[0]
    };
    (other != v && per_feature(p, other, d)).then_some((u, other))
}

pub fn run(program: &Program) -> Result<Program, PassError> {
    let users = users(program);
    let outputs: Vec<ValueId> = program.outputs.iter().map(|o| o.value).collect();
    // Root node of each match -> the match.
    let mut matches: Vec<Option<Match>> = (0..program.nodes.len()).map(|_| None).collect();
    for v in program.nodes.handles() {
        let Some((x, eps)) = core(program, v) else {
            continue;
        };
        let d = *program.ty(x).shape.last().unwrap_or(&0);
        let mut root = v;
        let mut m = Match {
            x,
            eps,
            gamma: None,
            beta: None,
        };
        if let Some((u, g)) = affine_step(program, &users, &outputs, root, Op::Mul, d) {
            root = u;
            m.gamma = Some(g);
        }
        if let Some((u, b)) = affine_step(program, &users, &outputs, root, Op::Add, d) {
            root = u;
            m.beta = Some(b);
        }
        matches[root.index()] = Some(m);
    }
    rewrite(program, NAME, |rb, v| {
        let Some(m) = &matches[v.index()] else {
            return Ok(None);
        };
        let origin = rb.old.nodes[v].origin.clone();
        let d = *rb.old.ty(m.x).shape.last().unwrap_or(&0);
        let mut affine = |param: Option<ValueId>, fill: f64| -> Result<ValueId, PassError> {
            match param {
                Some(p) => rb.mapped(p),
                None => rb.emit(
                    Op::Const {
                        value: Tensor::new(vec![d], Encoding::Fixed, vec![fill; d]),
                    },
                    vec![],
                    &origin,
                ),
            }
        };
        let gamma = affine(m.gamma, 1.0)?;
        let beta = affine(m.beta, 0.0)?;
        let x = rb.mapped(m.x)?;
        rb.emit(Op::LayerNorm { eps: m.eps }, vec![x, gamma, beta], &origin)
            .map(Some)
    })
}
