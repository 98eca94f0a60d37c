//! The model owner: splits plaintext weights into one share set per party, once.
//!
//! Each parameter w is encoded with its fraction bits and split as w = w0 + w1 + w2 with w0, w1
//! fresh from an OS-seeded generator; party i's set holds only (w_i, w_(i+1)). Any one set is
//! uniformly random and independent of the weights; two sets together reconstruct them (the
//! honest-majority assumption). Writing the sets to files is the deployment layer's business.

use crate::error::RuntimeError;
use crate::prg::Stream;
use rayon::prelude::*;
use secc_ir::fixed;
use secc_ir::lir::LowProgram;
use secc_ir::Tensor;

/// One parameter as one party holds it: components (i, i+1), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamShare {
    pub shape: Vec<usize>,
    pub first: Vec<u64>,
    pub second: Vec<u64>,
}

/// Everything one party receives from the model owner.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyParams {
    pub party: usize,
    pub params: Vec<ParamShare>,
}

/// Checks that plaintext weights fit the program's parameters (count, shape, range).
pub fn check_weights(program: &LowProgram, weights: &[Tensor]) -> Result<(), RuntimeError> {
    if weights.len() != program.params.len() {
        return Err(RuntimeError::Weights(format!(
            "{} tensors given, the program declares {} parameters",
            weights.len(),
            program.params.len()
        )));
    }
    for (param, tensor) in program.params.iter().zip(weights) {
        if tensor.shape != param.shape || tensor.data.len() != param.shape.iter().product() {
            return Err(RuntimeError::Weights(format!(
                "parameter '{}' has shape {:?} ({} values), the program expects {:?}",
                param.name,
                tensor.shape,
                tensor.data.len(),
                param.shape
            )));
        }
        let limit = fixed::max_abs(param.frac_bits);
        if let Some(bad) = tensor
            .data
            .par_iter()
            .find_first(|v| !v.is_finite() || v.abs() >= limit)
        {
            return Err(RuntimeError::Weights(format!(
                "parameter '{}' holds {bad}, outside the fixed-point range (|w| < {limit})",
                param.name
            )));
        }
    }
    Ok(())
}

/// Splits the weights into the three parties' share sets (index = party).
///
/// The masks come from one fresh OS seed, one PRG stream per block of `SPLIT_BLOCK`
/// elements (numbered across all parameters, so no two blocks share words), which lets rayon
/// split the blocks in parallel. Each component is written straight into the two sets that
/// hold it: six buffers per parameter, each written once, no copies.
pub fn share_weights(
    program: &LowProgram,
    weights: &[Tensor],
) -> Result<[PartyParams; 3], RuntimeError> {
    check_weights(program, weights)?;
    let seed = crate::prg::os_seed()?;
    let mut sets: [PartyParams; 3] = std::array::from_fn(|party| PartyParams {
        party,
        params: Vec::with_capacity(program.params.len()),
    });
    let mut first_stream = 0u64;
    for (param, tensor) in program.params.iter().zip(weights) {
        let [c0, c1, c2] = split_blocks(&seed, first_stream, &tensor.data, param.frac_bits);
        first_stream += tensor.data.len().div_ceil(SPLIT_BLOCK) as u64;
        for (set, [first, second]) in
            sets.iter_mut()
                .zip([[c0.0, c1.0], [c1.1, c2.0], [c2.1, c0.1]])
        {
            set.params.push(ParamShare {
                shape: param.shape.clone(),
                first,
                second,
            });
        }
    }
    Ok(sets)
}

/// Elements per PRG stream (and per parallel task) when splitting weights.
const SPLIT_BLOCK: usize = 1 << 14;

/// The three components of `values`, each twice (for its two holders): block b of the values
/// is masked by stream `first_stream + b` of `seed`, x0 and x1 drawn one after the other and
/// x2 = encode(v) - x0 - x1.
fn split_blocks(
    seed: &crate::prg::Seed,
    first_stream: u64,
    values: &[f64],
    frac_bits: u32,
) -> [(Vec<u64>, Vec<u64>); 3] {
    let n = values.len();
    let mut out: [(Vec<u64>, Vec<u64>); 3] =
        std::array::from_fn(|_| (vec![0u64; n], vec![0u64; n]));
    let [(a0, a1), (b0, b1), (c0, c1)] = &mut out;
    (
        values.par_chunks(SPLIT_BLOCK),
        a0.par_chunks_mut(SPLIT_BLOCK),
        a1.par_chunks_mut(SPLIT_BLOCK),
        b0.par_chunks_mut(SPLIT_BLOCK),
        b1.par_chunks_mut(SPLIT_BLOCK),
        c0.par_chunks_mut(SPLIT_BLOCK),
        c1.par_chunks_mut(SPLIT_BLOCK),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(block, (v, a0, a1, b0, b1, c0, c1))| {
            let mut rng = Stream::new(seed, first_stream + block as u64);
            let x0 = rng.words(v.len());
            let x1 = rng.words(v.len());
            a0.copy_from_slice(&x0);
            a1.copy_from_slice(&x0);
            b0.copy_from_slice(&x1);
            b1.copy_from_slice(&x1);
            for (i, &value) in v.iter().enumerate() {
                let x2 = fixed::encode(value, frac_bits)
                    .wrapping_sub(x0[i])
                    .wrapping_sub(x1[i]);
                c0[i] = x2;
                c1[i] = x2;
            }
        });
    out
}

/// Encodes `values` and splits them into three additive components.
pub(crate) fn split(rng: &mut Stream, values: &[f64], frac_bits: u32) -> [Vec<u64>; 3] {
    let x0 = rng.words(values.len());
    let x1 = rng.words(values.len());
    let x2 = values
        .iter()
        .zip(x0.iter().zip(&x1))
        .map(|(&v, (&a, &b))| fixed::encode(v, frac_bits).wrapping_sub(a).wrapping_sub(b))
        .collect();
    [x0, x1, x2]
}
