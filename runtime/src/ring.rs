//! Tensors over Z_2^64 and the plain tensor operations the protocols are made of.
//!
//! Owns: element-wise wrapping arithmetic and bit operations with numpy broadcasting, batched
//! matrix products and fused sums of them (cache-blocked, rayon over output tiles, an AVX-512DQ
//! kernel when the CPU has one; see [`matmul_sum`]), sums over axes, the structural operations of
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
    if let (Some(xs), Some(ys)) = (a.as_slice(), b.as_slice()) {
        if let Some(data) = broadcast_rows(xs, x.strides(), ys, y.strides(), &shape, &f) {
            return from_vec(&shape, data);
        }
    }
    let data: Vec<u64> = x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect();
    from_vec(&shape, data)
}

/// `f` over two standard-layout operands broadcast to `shape` (their broadcast strides given,
/// 0 on a broadcast axis), one output row (last axis) at a time: each operand's row is a
/// contiguous slice or one repeated element, so the inner loop is a plain zip. Rows are computed
/// in parallel when there are many elements. `None` when the last axis is not contiguous in an
/// operand (then the caller's generic iteration applies).
fn broadcast_rows(
    xs: &[u64],
    x_strides: &[isize],
    ys: &[u64],
    y_strides: &[isize],
    shape: &[usize],
    f: &(impl Fn(u64, u64) -> u64 + Sync + Send),
) -> Option<Vec<u64>> {
    let rank = shape.len();
    let row = *shape.last()?;
    let total: usize = shape.iter().product();
    if row == 0 || total == 0 {
        return None;
    }
    let last = |strides: &[isize]| strides[rank - 1];
    if !matches!(last(x_strides), 0 | 1) || !matches!(last(y_strides), 0 | 1) {
        return None;
    }
    let offset = |strides: &[isize], mut r: usize| -> usize {
        let mut at = 0isize;
        for axis in (0..rank - 1).rev() {
            let i = r % shape[axis];
            r /= shape[axis];
            at += i as isize * strides[axis];
        }
        at as usize
    };
    let fill = |r: usize, out: &mut [u64]| {
        let (xo, yo) = (offset(x_strides, r), offset(y_strides, r));
        match (last(x_strides), last(y_strides)) {
            (1, 1) => {
                for ((o, &p), &q) in out.iter_mut().zip(&xs[xo..xo + row]).zip(&ys[yo..yo + row]) {
                    *o = f(p, q);
                }
            }
            (1, _) => {
                let q = ys[yo];
                for (o, &p) in out.iter_mut().zip(&xs[xo..xo + row]) {
                    *o = f(p, q);
                }
            }
            (_, 1) => {
                let p = xs[xo];
                for (o, &q) in out.iter_mut().zip(&ys[yo..yo + row]) {
                    *o = f(p, q);
                }
            }
            _ => out.fill(f(xs[xo], ys[yo])),
        }
    };
    let mut data = vec![0u64; total];
    if total >= PARALLEL_THRESHOLD {
        data.par_chunks_mut(row)
            .enumerate()
            .for_each(|(r, out)| fill(r, out));
    } else {
        for (r, out) in data.chunks_mut(row).enumerate() {
            fill(r, out);
        }
    }
    Some(data)
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
/// batch dimensions broadcast). See [`matmul_sum`] for how it is computed.
pub fn matmul(a: &RingTensor, b: &RingTensor) -> Result<RingTensor, String> {
    matmul_sum(&[(a, b)])
}

/// `a_1 b_1 + a_2 b_2 + ...` modulo 2^64, each product a batched matrix product as in
/// [`matmul`], in one pass: the products accumulate into the same output tiles, so no product
/// is materialised on its own. The terms may differ in their inner dimension and batch shapes
/// but must give the same output shape.
///
/// The work is cut into output tiles (batch, rows, columns) that rayon runs in parallel. Each
/// tile walks the inner dimension in blocks of `KC`, packs its block of the left operand into
/// strips of `MR` rows and of the right operand into panels of `NR` columns (zero-padded at the
/// edges), and accumulates `MR x NR` register blocks. Wrapping addition is associative and
/// commutative, so the result is bit-identical to the naive triple loop.
pub fn matmul_sum(terms: &[(&RingTensor, &RingTensor)]) -> Result<RingTensor, String> {
    let (first_a, first_b) = terms.first().ok_or("a sum of no matrix products")?;
    let out_shape = product_shape(first_a, first_b)?;
    let rank = out_shape.len();
    let (m, n) = (out_shape[rank - 2], out_shape[rank - 1]);
    let out_batch = &out_shape[..rank - 2];
    let batches: usize = out_batch.iter().product();
    let mut operands = Vec::with_capacity(terms.len());
    for (a, b) in terms {
        let shape = product_shape(a, b)?;
        if shape != out_shape {
            return Err(format!(
                "matrix products of shapes {:?} and {shape:?} cannot be summed",
                out_shape
            ));
        }
        operands.push((a.as_standard_layout(), b.as_standard_layout(), a, b));
    }
    let mut out = vec![0u64; out_shape.iter().product()];
    let mut views = Vec::with_capacity(terms.len());
    for (a_std, b_std, a, b) in &operands {
        let k = a.shape()[a.ndim() - 1];
        if k == 0 {
            continue;
        }
        views.push(Operands {
            a: a_std.as_slice().expect("standard layout is contiguous"),
            b: b_std.as_slice().expect("standard layout is contiguous"),
            k,
            a_batches: batch_offsets(out_batch, &a.shape()[..a.ndim() - 2]),
            b_batches: batch_offsets(out_batch, &b.shape()[..b.ndim() - 2]),
        });
    }
    let work: usize = views.iter().map(|v| v.k).sum::<usize>() * out.len();
    if out.is_empty() || views.is_empty() {
        return from_vec(&out_shape, out);
    }
    let (row_block, col_block) = tile_sizes(batches, m, n, work);
    let tiles: Vec<Tile> = (0..batches)
        .flat_map(|batch| {
            (0..m).step_by(row_block).flat_map(move |r0| {
                (0..n).step_by(col_block).map(move |c0| Tile {
                    batch,
                    rows: r0..(r0 + row_block).min(m),
                    cols: c0..(c0 + col_block).min(n),
                })
            })
        })
        .collect();
    let compute = |tile: &Tile| {
        let mut acc = vec![0u64; tile.rows.len() * tile.cols.len()];
        accumulate_tile(&views, n, m, tile, &mut acc);
        acc
    };
    let results: Vec<Vec<u64>> = if work >= MATMUL_PARALLEL_WORK && tiles.len() > 1 {
        tiles.par_iter().map(compute).collect()
    } else {
        tiles.iter().map(compute).collect()
    };
    for (tile, acc) in tiles.iter().zip(results) {
        let width = tile.cols.len();
        for (r, src) in tile.rows.clone().zip(acc.chunks_exact(width)) {
            out[(tile.batch * m + r) * n + tile.cols.start..][..width].copy_from_slice(src);
        }
    }
    from_vec(&out_shape, out)
}

fn product_shape(a: &RingTensor, b: &RingTensor) -> Result<Vec<usize>, String> {
    matmul_shape(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "matmul shapes {:?} and {:?} do not fit",
            a.shape(),
            b.shape()
        )
    })
}

/// Rows of the register block (a strip of the packed left operand).
const MR: usize = 8;
/// Columns of the register block (a panel of the packed right operand).
const NR: usize = 16;
/// Block of the inner dimension: a packed strip and panel (KC x 8 words each, 16 KiB) stay in
/// L1 while a register block is accumulated.
const KC: usize = 256;
/// Largest output tile one task computes: its packed right-hand block (KC x 256 words,
/// 512 KiB) stays in L2 while the tile's row strips pass over it.
const MAX_TILE_ROWS: usize = 128;
const MAX_TILE_COLS: usize = 256;
/// Multiply-adds below which a product stays on the calling thread.
const MATMUL_PARALLEL_WORK: usize = 1 << 20;
/// Multiply-adds a task should at least get when tiles are cut smaller for parallelism.
const MIN_TASK_WORK: usize = 1 << 21;
/// Tasks wanted per product: a few per core of this machine class (two cores shared by three
/// party threads), so that rayon can balance tiles between the parties' products.
const TARGET_TASKS: usize = 8;

/// Rows and columns of an output tile: as large as the caches allow, then halved (columns
/// first, the packed left-hand strips are the cheaper ones to repeat) while there are fewer
/// than `TARGET_TASKS` tiles and each would keep at least `MIN_TASK_WORK` multiply-adds.
fn tile_sizes(batches: usize, m: usize, n: usize, work: usize) -> (usize, usize) {
    let mut rows = m.clamp(1, MAX_TILE_ROWS);
    let mut cols = n.clamp(1, MAX_TILE_COLS);
    let tasks = |rows: usize, cols: usize| batches * m.div_ceil(rows) * n.div_ceil(cols);
    let per_task = |rows: usize, cols: usize| work / tasks(rows, cols).max(1);
    while tasks(rows, cols) < TARGET_TASKS {
        if cols > 4 * NR && per_task(rows, cols.div_ceil(2)) >= MIN_TASK_WORK {
            cols = cols.div_ceil(2).next_multiple_of(NR);
        } else if rows > 2 * MR && per_task(rows.div_ceil(2), cols) >= MIN_TASK_WORK {
            rows = rows.div_ceil(2).next_multiple_of(MR);
        } else {
            break;
        }
    }
    (rows, cols)
}

/// One term's operands, row-major, with the flat batch index of each output batch.
struct Operands<'a> {
    a: &'a [u64],
    b: &'a [u64],
    k: usize,
    a_batches: Vec<usize>,
    b_batches: Vec<usize>,
}

/// An output tile: one batch, a range of rows and a range of columns.
struct Tile {
    batch: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
}

/// Adds every term's product over `tile` into `acc` (the tile, row-major). The register
/// block uses 64-bit lane multiplies (AVX-512DQ) when the CPU has them, else a portable loop.
fn accumulate_tile(terms: &[Operands], n: usize, m: usize, tile: &Tile, acc: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU supports the features the function is compiled with.
            return unsafe { accumulate_tile_avx512(terms, n, m, tile, acc) };
        }
    }
    accumulate_tile_with(terms, n, m, tile, acc, kernel_portable)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn accumulate_tile_avx512(
    terms: &[Operands],
    n: usize,
    m: usize,
    tile: &Tile,
    acc: &mut [u64],
) {
    accumulate_tile_with(terms, n, m, tile, acc, |a, b| {
        // SAFETY: this function only runs on CPUs with AVX-512F and AVX-512DQ.
        unsafe { kernel_avx512(a, b) }
    })
}

#[inline(always)]
fn accumulate_tile_with(
    terms: &[Operands],
    n: usize,
    m: usize,
    tile: &Tile,
    acc: &mut [u64],
    kernel: impl Fn(&[u64], &[u64]) -> Block,
) {
    let (rows, cols) = (tile.rows.len(), tile.cols.len());
    let strips = rows.div_ceil(MR);
    let panels = cols.div_ceil(NR);
    let mut a_pack = vec![0u64; strips * MR * KC];
    let mut b_pack = vec![0u64; panels * NR * KC];
    for term in terms {
        let k = term.k;
        let a = &term.a[(term.a_batches[tile.batch] * m + tile.rows.start) * k..][..rows * k];
        let b = &term.b[term.b_batches[tile.batch] * k * n..][..k * n];
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            pack_a(a, k, rows, k0, kc, &mut a_pack);
            pack_b(b, n, &tile.cols, k0, kc, &mut b_pack);
            for p in 0..panels {
                let b_panel = &b_pack[p * NR * kc..][..NR * kc];
                let width = NR.min(cols - p * NR);
                for s in 0..strips {
                    let a_strip = &a_pack[s * MR * kc..][..MR * kc];
                    let block = kernel(a_strip, b_panel);
                    let height = MR.min(rows - s * MR);
                    for (r, block_row) in block.iter().take(height).enumerate() {
                        let dst = &mut acc[(s * MR + r) * cols + p * NR..][..width];
                        for (d, &v) in dst.iter_mut().zip(block_row) {
                            *d = d.wrapping_add(v);
                        }
                    }
                }
            }
        }
    }
}

/// An `MR x NR` register block.
type Block = [[u64; NR]; MR];

/// The register block of a packed strip times a packed panel, row by row (the inner loop over
/// the panel's `NR` columns is what the compiler vectorises).
fn kernel_portable(a_strip: &[u64], b_panel: &[u64]) -> Block {
    let mut c = [[0u64; NR]; MR];
    for (r, c_row) in c.iter_mut().enumerate() {
        for (a, b) in a_strip.chunks_exact(MR).zip(b_panel.chunks_exact(NR)) {
            let ar = a[r];
            for (cj, &bj) in c_row.iter_mut().zip(b) {
                *cj = cj.wrapping_add(ar.wrapping_mul(bj));
            }
        }
    }
    c
}

/// The register block with AVX-512: `NR` = 16 columns are two vectors of eight lanes, and the
/// `MR` x 2 accumulators stay in registers over the whole strip.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn kernel_avx512(a_strip: &[u64], b_panel: &[u64]) -> Block {
    use std::arch::x86_64::*;
    let kc = a_strip.len() / MR;
    assert!(a_strip.len() == kc * MR && b_panel.len() == kc * NR);
    let zero = _mm512_setzero_si512();
    let mut c = [[zero; 2]; MR];
    let (a_ptr, b_ptr) = (a_strip.as_ptr(), b_panel.as_ptr());
    for p in 0..kc {
        // SAFETY: p < kc, so the reads stay inside the strip and the panel (asserted above).
        let (b0, b1) = unsafe {
            let b = b_ptr.add(p * NR);
            (
                _mm512_loadu_si512(b as *const _),
                _mm512_loadu_si512(b.add(8) as *const _),
            )
        };
        for (r, c_row) in c.iter_mut().enumerate() {
            // SAFETY: as above.
            let ar = _mm512_set1_epi64(unsafe { *a_ptr.add(p * MR + r) } as i64);
            c_row[0] = _mm512_add_epi64(c_row[0], _mm512_mullo_epi64(ar, b0));
            c_row[1] = _mm512_add_epi64(c_row[1], _mm512_mullo_epi64(ar, b1));
        }
    }
    let mut out = [[0u64; NR]; MR];
    for (dst, src) in out.iter_mut().zip(&c) {
        // SAFETY: each row of `out` holds NR = 16 words, two vectors.
        unsafe {
            _mm512_storeu_si512(dst.as_mut_ptr() as *mut _, src[0]);
            _mm512_storeu_si512(dst.as_mut_ptr().add(8) as *mut _, src[1]);
        }
    }
    out
}

/// Rows `0..rows` (of `a`, row-major with `k` columns), inner indices `k0..k0 + kc`, as strips
/// of `MR` rows: strip s holds, for each inner index, its `MR` row values (zero past `rows`).
#[inline(always)]
fn pack_a(a: &[u64], k: usize, rows: usize, k0: usize, kc: usize, pack: &mut [u64]) {
    for s in 0..rows.div_ceil(MR) {
        let strip = &mut pack[s * MR * kc..][..MR * kc];
        for r in 0..MR {
            let row = s * MR + r;
            if row < rows {
                let src = &a[row * k + k0..][..kc];
                for (p, &v) in src.iter().enumerate() {
                    strip[p * MR + r] = v;
                }
            } else {
                for p in 0..kc {
                    strip[p * MR + r] = 0;
                }
            }
        }
    }
}

/// Inner indices `k0..k0 + kc` of the columns `cols` (of `b`, row-major with `n` columns), as
/// panels of `NR` columns: panel p holds, for each inner index, its `NR` values (zero past the
/// last column).
#[inline(always)]
fn pack_b(
    b: &[u64],
    n: usize,
    cols: &std::ops::Range<usize>,
    k0: usize,
    kc: usize,
    pack: &mut [u64],
) {
    let width = cols.len();
    for p in 0..width.div_ceil(NR) {
        let panel = &mut pack[p * NR * kc..][..NR * kc];
        let c0 = cols.start + p * NR;
        let w = NR.min(width - p * NR);
        for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
            let src = &b[(k0 + kk) * n + c0..][..w];
            dst[..w].copy_from_slice(src);
            dst[w..].fill(0);
        }
    }
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
    let mut bytes = vec![0u8; words.len() * 8];
    let convert = |(dst, src): (&mut [u8], &[u64])| {
        for (d, w) in dst.chunks_exact_mut(8).zip(src) {
            d.copy_from_slice(&w.to_le_bytes());
        }
    };
    if words.len() >= WIRE_PARALLEL_WORDS {
        bytes
            .par_chunks_mut(WIRE_BLOCK * 8)
            .zip(words.par_chunks(WIRE_BLOCK))
            .for_each(convert);
    } else {
        convert((&mut bytes, words));
    }
    bytes
}

/// Little-endian bytes back to ring elements; `None` when the length is not a multiple of 8.
pub fn bytes_to_words(bytes: &[u8]) -> Option<Vec<u64>> {
    if !bytes.chunks_exact(8).remainder().is_empty() {
        return None;
    }
    let mut words = vec![0u64; bytes.len() / 8];
    let convert = |(dst, src): (&mut [u64], &[u8])| {
        for (w, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
            *w = u64::from_le_bytes(c.try_into().expect("chunks of 8"));
        }
    };
    if words.len() >= WIRE_PARALLEL_WORDS {
        words
            .par_chunks_mut(WIRE_BLOCK)
            .zip(bytes.par_chunks(WIRE_BLOCK * 8))
            .for_each(convert);
    } else {
        convert((&mut words, bytes));
    }
    Some(words)
}

/// Messages of at least this many words are converted in parallel blocks of `WIRE_BLOCK`.
const WIRE_PARALLEL_WORDS: usize = 1 << 18;
const WIRE_BLOCK: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: &[i64]) -> RingTensor {
        from_vec(shape, data.iter().map(|&v| v as u64).collect()).unwrap()
    }

    #[test]
    fn broadcast_rows_agree_with_ndarray_broadcasting() {
        // Every pattern of the fast path: equal rows, a column against rows, a row vector
        // against a matrix, scalars, and broadcasts on middle axes.
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 3, 4], &[2, 3, 1]),
            (&[2, 3, 1], &[2, 3, 4]),
            (&[2, 3, 4], &[4]),
            (&[3, 1, 4], &[1, 5, 4]),
            (&[2, 1, 1], &[1, 3, 1]),
            (&[5], &[]),
            (&[], &[7]),
            (&[2, 40_000], &[2, 1]),
        ];
        for &(sa, sb) in cases {
            let na: usize = sa.iter().product();
            let nb: usize = sb.iter().product();
            let a = from_vec(sa, (0..na as u64).map(|v| v * 0x9e37_79b9 + 1).collect()).unwrap();
            let b = from_vec(
                sb,
                (0..nb as u64)
                    .map(|v| v.wrapping_mul(u64::MAX - 6))
                    .collect(),
            )
            .unwrap();
            let shape = broadcast_shapes(sa, sb).unwrap();
            let x = a.broadcast(IxDyn(&shape)).unwrap();
            let y = b.broadcast(IxDyn(&shape)).unwrap();
            let want: Vec<u64> = x
                .iter()
                .zip(y.iter())
                .map(|(&p, &q)| p.wrapping_sub(q))
                .collect();
            let got = sub(&a, &b).unwrap();
            assert_eq!(got.shape(), shape.as_slice(), "{sa:?} - {sb:?}");
            assert_eq!(got.as_slice().unwrap(), want.as_slice(), "{sa:?} - {sb:?}");
        }
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

    /// Full-range words from a xorshift generator (wrapping products everywhere).
    fn words(shape: &[usize], seed: u64) -> RingTensor {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            })
            .collect();
        from_vec(shape, data).unwrap()
    }

    /// The textbook triple loop over numpy-broadcast batches.
    fn naive_matmul(a: &RingTensor, b: &RingTensor) -> RingTensor {
        let out_shape = matmul_shape(a.shape(), b.shape()).unwrap();
        let rank = out_shape.len();
        let (m, n, k) = (
            out_shape[rank - 2],
            out_shape[rank - 1],
            a.shape()[a.ndim() - 1],
        );
        let batch = &out_shape[..rank - 2];
        let spread = |t: &RingTensor, rows: usize, cols: usize| {
            let mut shape = batch.to_vec();
            shape.extend([rows, cols]);
            t.broadcast(IxDyn(&shape)).unwrap().to_owned()
        };
        let (a, b) = (spread(a, m, k), spread(b, k, n));
        let mut out = zeros(&out_shape);
        for (index, o) in out.indexed_iter_mut() {
            let index = ndarray::Dimension::slice(&index).to_vec();
            let mut sum = 0u64;
            for kk in 0..k {
                let mut ai = index.clone();
                ai[rank - 1] = kk;
                let mut bi = index.clone();
                bi[rank - 2] = kk;
                sum = sum.wrapping_add(a[IxDyn(&ai)].wrapping_mul(b[IxDyn(&bi)]));
            }
            *o = sum;
        }
        out
    }

    #[test]
    fn blocked_matmul_equals_naive_on_odd_shapes_with_wrapping_words() {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[1, 1], &[1, 1]),
            (&[3, 5], &[5, 7]),
            (&[9, 300], &[300, 17]),
            (&[MR + 1, KC + 3], &[KC + 3, NR + 1]),
            (&[130, 257], &[257, 270]),
            (&[2, 1, 3, 5], &[4, 5, 7]),
            (&[5, 2], &[3, 1, 2, 19]),
            (&[2, 3, 4, 0], &[2, 1, 0, 6]),
            (&[0, 4], &[4, 3]),
        ];
        for (seed, (sa, sb)) in shapes.iter().enumerate() {
            let a = words(sa, 2 * seed as u64 + 1);
            let b = words(sb, 2 * seed as u64 + 2);
            let got = matmul(&a, &b).unwrap();
            assert_eq!(got, naive_matmul(&a, &b), "{sa:?} x {sb:?}");
            assert!(got.is_standard_layout());
        }
        // Non-standard layouts are accepted.
        let a = words(&[7, 11], 40);
        let b = words(&[13, 11], 41).reversed_axes();
        assert_eq!(matmul(&a, &b).unwrap(), naive_matmul(&a, &b.to_owned()));
    }

    #[test]
    fn matmul_sum_accumulates_terms_of_different_inner_sizes() {
        let (a1, b1) = (words(&[2, 6, 300], 1), words(&[300, 21], 2));
        let (a2, b2) = (words(&[6, 5], 3), words(&[2, 5, 21], 4));
        let got = matmul_sum(&[(&a1, &b1), (&a2, &b2)]).unwrap();
        let want = add(&naive_matmul(&a1, &b1), &naive_matmul(&a2, &b2)).unwrap();
        assert_eq!(got, want);
        let other = words(&[6, 20], 5);
        assert!(matmul_sum(&[(&a1, &b1), (&a2, &other)]).is_err());
        assert!(matmul_sum(&[(&a2, &words(&[3, 21], 6))]).is_err());
        assert!(matmul_sum(&[]).is_err());
    }

    #[test]
    fn register_kernels_agree() {
        let kc = 37;
        let (a, b) = (words(&[kc * MR], 7), words(&[kc * NR], 8));
        let (a, b) = (a.as_slice().unwrap(), b.as_slice().unwrap());
        let portable = kernel_portable(a, b);
        for (r, row) in portable.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let want = (0..kc).fold(0u64, |s, p| {
                    s.wrapping_add(a[p * MR + r].wrapping_mul(b[p * NR + j]))
                });
                assert_eq!(v, want);
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU has the features.
            assert_eq!(unsafe { kernel_avx512(a, b) }, portable);
        }
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
        let many = row_major(&self::words(&[WIRE_PARALLEL_WORDS + 5], 9));
        let bytes = words_to_bytes(&many);
        assert_eq!(&bytes[8..16], &many[1].to_le_bytes());
        assert_eq!(bytes_to_words(&bytes).unwrap(), many);
    }
}
