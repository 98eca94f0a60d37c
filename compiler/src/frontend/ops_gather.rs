//! `GatherElements` by constant indices (DeBERTa-v2's relative-position attention gathers its
//! content-to-position scores with indices that depend only on the sequence length, which tract
//! folds into a constant once shapes are concrete).
//!
//! Lowered as a `gather` on axis 0 of the flattened data by a constant table of flat offsets: the
//! indices are public (they are part of the program), so the data may be secret and the gather
//! stays local to each party. Indices computed from a value are rejected with the node's name.

use super::lower::{Lowered, Lowerer};
use crate::error::FrontendError;
use secc_ir::{Encoding, Op, Tensor};
use tract_onnx::prelude::*;

/// Lowers the current node, `GatherElements(data, indices)` along `axis`.
pub fn lower_gather_elements(
    lw: &mut Lowerer,
    axis: usize,
    node: &TypedNode,
) -> Result<Lowered, FrontendError> {
    let indices = lw
        .constant(node.inputs[1])
        .ok_or_else(|| lw.unsupported("GatherElements by computed indices"))?;
    let data = lw.value(node.inputs[0])?;
    let data_shape = lw.program.ty(data).shape.clone();
    let idx_shape = indices.shape.clone();
    if idx_shape.len() != data_shape.len() || axis >= data_shape.len() {
        return Err(lw.unsupported("GatherElements indices of another rank than the data"));
    }
    // Row-major strides of the data: output coordinate c reads data at c with c[axis] replaced.
    let mut strides = vec![1usize; data_shape.len()];
    for d in (0..data_shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * data_shape[d + 1];
    }
    let mut flat = Vec::with_capacity(indices.len());
    let mut coord = vec![0usize; idx_shape.len()];
    for &raw in &indices.data {
        let extent = data_shape[axis] as i64;
        let i = if raw < 0.0 {
            raw as i64 + extent
        } else {
            raw as i64
        };
        if !(0..extent).contains(&i) {
            return Err(lw.unsupported(&format!("GatherElements index {raw} out of range")));
        }
        let mut offset = 0usize;
        for (d, &c) in coord.iter().enumerate() {
            let c = if d == axis { i as usize } else { c };
            offset += c * strides[d];
        }
        flat.push(offset as f64);
        // Next coordinate of the indices, row-major.
        for d in (0..coord.len()).rev() {
            coord[d] += 1;
            if coord[d] < idx_shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    let total: usize = data_shape.iter().product();
    let flat_data = lw.push(Op::Reshape { shape: vec![total] }, vec![data])?;
    let idx = lw.push(
        Op::Const {
            value: Tensor::new(idx_shape, Encoding::Int, flat),
        },
        vec![],
    )?;
    Ok(Lowered::Value(
        lw.push(Op::Gather { axis: 0 }, vec![flat_data, idx])?,
    ))
}
