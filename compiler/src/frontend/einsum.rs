//! Lowering of tract's two-operand `EinSum` into `Transpose`/`Reshape`/`MatMul`.
//!
//! tract turns MatMul, Gemm and the attention products into einsums with arbitrary axis orders
//! (`mbk,nbk->abmn`). Each axis is classified: batch (in both operands and the output), `m`
//! (first operand and output), `n` (second operand and output), contracted `k` (both operands,
//! not the output), a unit axis present in one operand only, or a unit axis present in the output
//! only. The operands are brought to `[batch.., M, K]` and `[batch.., K, N]`, multiplied, and the
//! result is reshaped and transposed into the output order. A constant operand (a weight) is
//! rearranged at compile time, so parameters are stored in `[K, N]` layout and cost nothing at
//! run time.

use super::lower::Lowerer;
use crate::error::FrontendError;
use ndarray::{ArrayD, IxDyn};
use secc_ir::{Op, Tensor, ValueId};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Batch,
    M,
    N,
    K,
    /// Only in one operand, of extent 1: dropped.
    UnitA,
    UnitB,
    /// Only in the output, of extent 1: added back at the end.
    UnitOut,
}

struct AxisInfo {
    role: Role,
    a: Option<usize>,
    b: Option<usize>,
    out: Option<usize>,
}

fn single(positions: &[usize]) -> Result<Option<usize>, ()> {
    match positions {
        [] => Ok(None),
        [p] => Ok(Some(*p)),
        _ => Err(()),
    }
}

/// Lowers the current node, an einsum, and returns its value.
pub fn lower_einsum(lw: &mut Lowerer, op: &EinSum) -> Result<ValueId, FrontendError> {
    let node = lw.model.node(lw.current);
    if node.inputs.len() != 2 || op.axes.output_count() != 1 {
        return Err(lw.unsupported("einsum with other than two operands"));
    }
    let (a_outlet, b_outlet) = (node.inputs[0], node.inputs[1]);
    let fact = |o: OutletId| -> Result<Vec<usize>, FrontendError> {
        lw.model
            .outlet_fact(o)
            .ok()
            .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()))
            .ok_or_else(|| lw.internal("einsum operand shape is not concrete"))
    };
    let (a_shape, b_shape) = (fact(a_outlet)?, fact(b_outlet)?);
    let out_shape = fact(OutletId::new(lw.current, 0))?;

    let mut axes = Vec::new();
    for axis in op.axes.iter_all_axes() {
        let (a, b, out) = match (
            single(&axis.inputs[0]),
            single(&axis.inputs[1]),
            single(&axis.outputs[0]),
        ) {
            (Ok(a), Ok(b), Ok(o)) => (a, b, o),
            _ => return Err(lw.unsupported("einsum with a repeated axis (diagonal)")),
        };
        let extent = |p: Option<usize>, s: &[usize]| p.map(|p| s[p]).unwrap_or(1);
        let role = match (a.is_some(), b.is_some(), out.is_some()) {
            (true, true, true) => Role::Batch,
            (true, false, true) => Role::M,
            (false, true, true) => Role::N,
            (true, true, false) => Role::K,
            (true, false, false) if extent(a, &a_shape) == 1 => Role::UnitA,
            (false, true, false) if extent(b, &b_shape) == 1 => Role::UnitB,
            (false, false, true) if extent(out, &out_shape) == 1 => Role::UnitOut,
            _ => return Err(lw.unsupported("einsum summing an axis of a single operand")),
        };
        axes.push(AxisInfo { role, a, b, out });
    }
    let of = |role: Role| axes.iter().filter(move |x| x.role == role);
    let prod = |role: Role, s: &[usize], pick: fn(&AxisInfo) -> Option<usize>| -> usize {
        of(role)
            .map(|x| pick(x).map(|p| s[p]).unwrap_or(1))
            .product()
    };
    let pick_a = |x: &AxisInfo| x.a;
    let pick_b = |x: &AxisInfo| x.b;

    // A as [batch.., M, K].
    let a_perm: Vec<usize> = of(Role::Batch)
        .chain(of(Role::M))
        .chain(of(Role::K))
        .chain(of(Role::UnitA))
        .map(|x| x.a.unwrap())
        .collect();
    let mut a_target: Vec<usize> = of(Role::Batch).map(|x| a_shape[x.a.unwrap()]).collect();
    a_target.push(prod(Role::M, &a_shape, pick_a));
    a_target.push(prod(Role::K, &a_shape, pick_a));
    // B as [batch.., K, N].
    let b_perm: Vec<usize> = of(Role::Batch)
        .chain(of(Role::K))
        .chain(of(Role::N))
        .chain(of(Role::UnitB))
        .map(|x| x.b.unwrap())
        .collect();
    let mut b_target: Vec<usize> = of(Role::Batch).map(|x| b_shape[x.b.unwrap()]).collect();
    b_target.push(prod(Role::K, &b_shape, pick_b));
    b_target.push(prod(Role::N, &b_shape, pick_b));

    let a = prepare(lw, a_outlet, &a_perm, a_target)?;
    let b = prepare(lw, b_outlet, &b_perm, b_target)?;
    let product = lw.push(Op::MatMul, vec![a, b])?;

    // Result laid out as [batch.., m.., n..]; move to the output order.
    let layout: Vec<&AxisInfo> = of(Role::Batch)
        .chain(of(Role::M))
        .chain(of(Role::N))
        .collect();
    let layout_shape: Vec<usize> = layout.iter().map(|x| out_shape[x.out.unwrap()]).collect();
    let mut order: Vec<(usize, usize)> = layout
        .iter()
        .enumerate()
        .map(|(i, x)| (x.out.unwrap(), i))
        .collect();
    order.sort();
    let perm: Vec<usize> = order.iter().map(|&(_, i)| i).collect();
    let moves_data = moves_data(&perm, &layout_shape);
    let mut value = reshape(lw, product, layout_shape)?;
    if moves_data {
        value = lw.push(Op::Transpose { perm }, vec![value])?;
    }
    reshape(lw, value, out_shape)
}

fn reshape(lw: &mut Lowerer, v: ValueId, shape: Vec<usize>) -> Result<ValueId, FrontendError> {
    if lw.program.ty(v).shape == shape {
        Ok(v)
    } else {
        lw.push(Op::Reshape { shape }, vec![v])
    }
}

/// An operand transposed by `perm` and reshaped to `target`: at compile time for a constant,
/// as IR ops otherwise.
fn prepare(
    lw: &mut Lowerer,
    outlet: OutletId,
    perm: &[usize],
    target: Vec<usize>,
) -> Result<ValueId, FrontendError> {
    let shape = lw
        .model
        .outlet_fact(outlet)
        .ok()
        .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()))
        .ok_or_else(|| lw.internal("einsum operand shape is not concrete"))?;
    if let Some(t) = lw.constant(outlet) {
        let array =
            ArrayD::from_shape_vec(IxDyn(&t.shape), t.data.clone()).map_err(|e| lw.internal(e))?;
        let moved = array.permuted_axes(IxDyn(perm));
        let data: Vec<f64> = moved.as_standard_layout().iter().copied().collect();
        let tensor = Tensor::new(target, t.encoding, data);
        return lw.place_constant(tensor, lw.learned(outlet));
    }
    let mut v = lw.value(outlet)?;
    if moves_data(perm, &shape) {
        v = lw.push(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            vec![v],
        )?;
    }
    reshape(lw, v, target)
}

/// Whether transposing a tensor of `shape` by `perm` changes the order of its elements; moving
/// axes of extent 1 does not (a reshape suffices).
fn moves_data(perm: &[usize], shape: &[usize]) -> bool {
    let kept: Vec<usize> = perm.iter().copied().filter(|&p| shape[p] != 1).collect();
    kept.windows(2).any(|w| w[0] > w[1])
}
