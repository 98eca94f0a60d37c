//! Tensors over Z_2^64 and the plain tensor operations the protocols are made of.
//!
//! Owns: element-wise wrapping arithmetic and bit operations with numpy broadcasting, batched
//! matrix products (rayon over output rows), sums over axes, the structural operations of
//! [`StructOp`] (generic over the element type, so they serve f64 public values too), and the
//! little-endian wire encoding of ring elements.
//!
//! Invariant: every tensor this module returns is in standard (row-major, contiguous) layout,
//! so callers may take `as_slice()` and the wire order is the row-major order. Every function
//! returns `Err(String)` on misfitting shapes instead of panicking; the engine turns the message
//! into a program error that names the instruction.

use ndarray::{ArrayD, Axis, IxDyn};
use rayon::prelude::*;
use secc_ir::lir::StructOp;
use secc_ir::types::{broadcast_shapes, matmul_shape};

/// A tensor of ring elements.
pub type RingTensor = ArrayD<u64>;

/// Below this many elements, element-wise work stays on the calling thread (rayon's fork-join
/// costs more than it saves).
const PARALLEL_THRESHOLD: usize = 1 << 15;

/// A tensor from row-major data.
pub fn from_vec<T>(shape: &[usize], data: Vec<T>) -> Result<ArrayD<T>, String> {
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(format!(
            "{} elements do not fill shape {shape:?} ({expected} elements)",
            data.len()
        ));
    }
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| e.to_string())
}

/// All-zero tensor.
pub fn zeros(shape: &[usize]) -> RingTensor {
    ArrayD::zeros(IxDyn(shape))
}

/// The tensor in standard layout (a copy only when it is not already).
pub fn standard<T: Clone>(t: ArrayD<T>) -> ArrayD<T> {
    if t.is_standard_layout() {
        t
    } else {
        t.as_standard_layout().into_owned()
    }
}

/// The elements in row-major order.
pub fn row_major<T: Clone>(t: &ArrayD<T>) -> Vec<T> {
    match t.as_slice() {
        Some(s) => s.to_vec(),
        None => t.iter().cloned().collect(),
    }
}

/// Element-wise `f(a, b)` with numpy broadcasting.
pub fn zip_with(
    a: &RingTensor,
    b: &RingTensor,
    f: impl Fn(u64, u64) -> u64 + Sync + Send,
) -> Result<RingTensor, String> {
    if a.shape() == b.shape() {
        if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
            let data: Vec<u64> = if x.len() >= PARALLEL_THRESHOLD {
                x.par_iter()
                    .zip(y.par_iter())
                    .map(|(&p, &q)| f(p, q))
                    .collect()
            } else {
                x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect()
            };
            return from_vec(a.shape(), data);
        }
    }
    let shape = broadcast_shapes(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    })?;
    let x = a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| format!("cannot broadcast {:?} to {shape:?}", a.shape()))?;
    let y = b
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| format!("cannot broadcast {:?} to {shape:?}", b.shape()))?;
    let data: Vec<u64> = x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect();
    from_vec(&shape, data)
}

/// Element-wise `f(a)`.
pub fn map(a: &RingTensor, f: impl Fn(u64) -> u64 + Sync + Send) -> RingTensor {
    let data: Vec<u64> = match a.as_slice() {
        Some(x) if x.len() >= PARALLEL_THRESHOLD => x.par_iter().map(|&p| f(p)).collect(),
        Some(x) => x.iter().map(|&p| f(p)).collect(),
        None => a.iter().map(|&p| f(p)).collect(),
    };
    ArrayD::from_shape_vec(IxDyn(a.shape()), data).expect("same element count as the source")
}

pub fn add(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    zip_with(a, b, u64::wrapping_add)
}

pub fn sub(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    zip_with(a, b, u64::wrapping_sub)
}

pub fn mul(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    zip_with(a, b, u64::wrapping_mul)
}

pub fn xor(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    zip_with(a, b, |p, q| p ^ q)
}

pub fn and(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    zip_with(a, b, |p, q| p & q)
}

pub fn neg(a: &RingTensor) -> RingTensor {
    map(a, u64::wrapping_neg)
}

/// Multiplies every element by `k` modulo 2^64.
pub fn scale(a: &RingTensor, k: u64) -> RingTensor {
    map(a, move |p| p.wrapping_mul(k))
}

/// Flat index of each batch of a broadcast operand, for each output batch.
fn batch_offsets(out_batch: &[usize], operand_batch: &[usize]) -> Vec<usize> {
    let total: usize = out_batch.iter().product();
    let pad = out_batch.len() - operand_batch.len();
    let mut offsets = Vec::with_capacity(total);
    for flat in 0..total {
        let mut rest = flat;
        let mut index = 0usize;
        let mut stride = 1usize;
        for axis in (0..out_batch.len()).rev() {
            let coordinate = rest % out_batch[axis];
            rest /= out_batch[axis];
            if axis >= pad {
                let dim = operand_batch[axis - pad];
                // A dimension of 1 is broadcast: every output coordinate reads its only entry.
                if dim != 1 {
                    index += coordinate * stride;
                }
                stride *= dim;
            }
        }
        offsets.push(index);
    }
    offsets
}

/// Batched matrix product modulo 2^64 with numpy `matmul` semantics (rank >= 2 on both sides,
/// batch dimensions broadcast). Output rows are computed in parallel.
pub fn matmul(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    let out_shape = matmul_shape(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "matmul shapes {:?} and {:?} do not fit",
            a.shape(),
            b.shape()
        )
    })?;
    let rank = out_shape.len();
    let (m, n) = (out_shape[rank - 2], out_shape[rank - 1]);
    let k = a.shape()[a.ndim() - 1];
    let a_std = a.as_standard_layout();
    let b_std = b.as_standard_layout();
    let a_data = a_std.as_slice().expect("standard layout is contiguous");
    let b_data = b_std.as_slice().expect("standard layout is contiguous");
    let out_batch = &out_shape[..rank - 2];
    let a_batches = batch_offsets(out_batch, &a.shape()[..a.ndim() - 2]);
    let b_batches = batch_offsets(out_batch, &b.shape()[..b.ndim() - 2]);
    let mut out = vec![0u64; out_shape.iter().product()];
    if n == 0 || m == 0 {
        return from_vec(&out_shape, out);
    }
    let row = |(index, out_row): (usize, &mut [u64])| {
        let (batch, i) = (index / m, index % m);
        let a_row = &a_data[(a_batches[batch] * m + i) * k..][..k];
        let b_matrix = &b_data[b_batches[batch] * k * n..][..k * n];
        // i-k-j order: the inner loop streams one row of b into the output row, which the
        // compiler vectorises.
        for (kk, &aik) in a_row.iter().enumerate() {
            if aik == 0 {
                continue;
            }
            let b_row = &b_matrix[kk * n..][..n];
            for (o, &bv) in out_row.iter_mut().zip(b_row) {
                *o = o.wrapping_add(aik.wrapping_mul(bv));
            }
        }
    };
    if out.len() * k >= PARALLEL_THRESHOLD {
        out.par_chunks_mut(n).enumerate().for_each(row);
    } else {
        out.chunks_mut(n).enumerate().for_each(row);
    }
    from_vec(&out_shape, out)
}

fn check_axes(rank: usize, axes: &[usize]) -> Result<(), String> {
    for (i, &axis) in axes.iter().enumerate() {
        if axis >= rank {
            return Err(format!("axis {axis} out of range for rank {rank}"));
        }
        if axes[..i].contains(&axis) {
            return Err(format!("axis {axis} listed twice"));
        }
    }
    Ok(())
}

/// Sum modulo 2^64 over `axes`.
pub fn reduce_sum(t: &RingTensor, axes: &[usize], keep_dims: bool) -> Result<RingTensor, String> {
    check_axes(t.ndim(), axes)?;
    let kept: Vec<usize> = (0..t.ndim()).filter(|i| !axes.contains(i)).collect();
    let order: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let kept_len: usize = kept.iter().map(|&i| t.shape()[i]).product();
    let reduced_len: usize = axes.iter().map(|&i| t.shape()[i]).product();
    let moved = t.view().permuted_axes(IxDyn(&order));
    let moved = moved.as_standard_layout();
    let data = moved.as_slice().expect("standard layout is contiguous");
    let sums: Vec<u64> = (0..kept_len)
        .map(|r| {
            data[r * reduced_len..(r + 1) * reduced_len]
                .iter()
                .fold(0u64, |acc, &v| acc.wrapping_add(v))
        })
        .collect();
    let shape = secc_ir::op::reduced_shape(t.shape(), axes, keep_dims);
    from_vec(&shape, sums)
}

/// Applies a structural operation (element movement only).
pub fn apply_struct<T: Clone>(t: &ArrayD<T>, op: &StructOp) -> Result<ArrayD<T>, String> {
    let rank = t.ndim();
    match op {
        StructOp::Reshape { shape } => {
            let count: usize = shape.iter().product();
            if count != t.len() {
                return Err(format!(
                    "cannot reshape {:?} ({} elements) to {shape:?}",
                    t.shape(),
                    t.len()
                ));
            }
            from_vec(shape, row_major(t))
        }
        StructOp::Transpose { perm } => {
            let mut seen = vec![false; rank];
            if perm.len() != rank {
                return Err(format!("permutation {perm:?} for rank {rank}"));
            }
            for &p in perm {
                if p >= rank || seen[p] {
                    return Err(format!("{perm:?} is not a permutation of 0..{rank}"));
                }
                seen[p] = true;
            }
            Ok(standard(t.clone().permuted_axes(IxDyn(perm))))
        }
        StructOp::Slice { axis, start, end } => {
            if *axis >= rank || start > end || *end > t.shape()[*axis] {
                return Err(format!(
                    "slice {start}..{end} on axis {axis} of shape {:?}",
                    t.shape()
                ));
            }
            Ok(standard(
                t.slice_axis(Axis(*axis), ndarray::Slice::from(*start..*end))
                    .to_owned(),
            ))
        }
        StructOp::Broadcast { shape } => t
            .broadcast(IxDyn(shape))
            .map(|v| standard(v.to_owned()))
            .ok_or_else(|| format!("cannot broadcast {:?} to {shape:?}", t.shape())),
        StructOp::Gather {
            axis,
            indices,
            indices_shape,
        } => {
            if *axis >= rank {
                return Err(format!("gather axis {axis} for rank {rank}"));
            }
            let dim = t.shape()[*axis];
            if let Some(bad) = indices.iter().find(|&&i| i >= dim) {
                return Err(format!("gather index {bad} out of range 0..{dim}"));
            }
            if indices_shape.iter().product::<usize>() != indices.len() {
                return Err(format!(
                    "{} gather indices do not fill shape {indices_shape:?}",
                    indices.len()
                ));
            }
            let picked = t.select(Axis(*axis), indices);
            let mut shape = t.shape()[..*axis].to_vec();
            shape.extend_from_slice(indices_shape);
            shape.extend_from_slice(&t.shape()[*axis + 1..]);
            from_vec(&shape, row_major(&picked))
        }
    }
}

/// Concatenation along `axis`.
pub fn concat<T: Clone>(parts: &[&ArrayD<T>], axis: usize) -> Result<ArrayD<T>, String> {
    let first = parts.first().ok_or("concatenation of nothing")?;
    if axis >= first.ndim() {
        return Err(format!("concat axis {axis} for rank {}", first.ndim()));
    }
    for p in parts {
        let fits = p.ndim() == first.ndim()
            && (0..first.ndim()).all(|i| i == axis || p.shape()[i] == first.shape()[i]);
        if !fits {
            return Err(format!(
                "cannot concatenate {:?} with {:?} on axis {axis}",
                p.shape(),
                first.shape()
            ));
        }
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(axis), &views)
        .map(standard)
        .map_err(|e| e.to_string())
}

/// Ring elements as little-endian bytes (the wire format).
pub fn words_to_bytes(words: &[u64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 8);
    for w in words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes
}

/// Little-endian bytes back to ring elements; `None` when the length is not a multiple of 8.
pub fn bytes_to_words(bytes: &[u8]) -> Option<Vec<u64>> {
    let chunks = bytes.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: &[i64]) -> RingTensor {
        from_vec(shape, data.iter().map(|&v| v as u64).collect()).unwrap()
    }

    #[test]
    fn broadcasting_add_wraps() {
        let a = t(&[2, 1], &[u64::MAX as i64, 5]);
        let b = t(&[3], &[1, 2, 3]);
        let c = add(&a, &b).unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(row_major(&c), vec![0, 1, 2, 6, 7, 8]);
        assert!(add(&t(&[2], &[1, 2]), &t(&[3], &[1, 2, 3])).is_err());
    }

    #[test]
    fn batched_matmul_matches_naive_with_negatives_and_broadcast_batches() {
        let a = t(&[2, 2, 3], &[1, -2, 3, 4, 5, -6, 0, 1, 0, -1, 0, 2]);
        let b = t(&[3, 2], &[1, 2, -3, 4, 5, 6]);
        let c = matmul(&a, &b).unwrap();
        assert_eq!(c.shape(), &[2, 2, 2]);
        let signed: Vec<i64> = row_major(&c).iter().map(|&v| v as i64).collect();
        assert_eq!(signed, vec![22, 12, -41, -8, -3, 4, 9, 10]);
        let b_batched = t(&[1, 3, 2], &[1, 2, -3, 4, 5, 6]);
        assert_eq!(matmul(&a, &b_batched).unwrap(), c);
        assert!(matmul(&a, &t(&[2, 2], &[0; 4])).is_err());
    }

    #[test]
    fn structural_ops_reject_bad_arguments() {
        let a = t(&[2, 3], &[0, 1, 2, 3, 4, 5]);
        let tr = apply_struct(&a, &StructOp::Transpose { perm: vec![1, 0] }).unwrap();
        assert_eq!(row_major(&tr), vec![0, 3, 1, 4, 2, 5]);
        let g = apply_struct(
            &a,
            &StructOp::Gather {
                axis: 1,
                indices: vec![2, 0],
                indices_shape: vec![2],
            },
        )
        .unwrap();
        assert_eq!(row_major(&g), vec![2, 0, 5, 3]);
        assert!(apply_struct(&a, &StructOp::Transpose { perm: vec![0, 0] }).is_err());
        assert!(apply_struct(&a, &StructOp::Reshape { shape: vec![4] }).is_err());
        let slice = StructOp::Slice {
            axis: 1,
            start: 2,
            end: 4,
        };
        assert!(apply_struct(&a, &slice).is_err());
        let s = reduce_sum(&a, &[1], false).unwrap();
        assert_eq!(row_major(&s), vec![3, 12]);
        assert!(reduce_sum(&a, &[2], false).is_err());
    }

    #[test]
    fn wire_encoding_round_trips() {
        let words = vec![0, 1, u64::MAX, 0x0123_4567_89ab_cdef];
        assert_eq!(bytes_to_words(&words_to_bytes(&words)).unwrap(), words);
        assert!(bytes_to_words(&[1, 2, 3]).is_none());
    }
}
