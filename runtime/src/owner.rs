//! The model owner: splits plaintext weights into one share set per party, once.
//!
//! Each parameter w is encoded with its fraction bits and split as w = w0 + w1 + w2 with w0, w1
//! fresh from an OS-seeded generator; party i's set holds only (w_i, w_(i+1)). Any one set is
//! uniformly random and independent of the weights; two sets together reconstruct them (the
//! honest-majority assumption). Writing the sets to files is the deployment layer's business.

use crate::error::RuntimeError;
use crate::prg::Stream;
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
            .iter()
            .find(|v| !v.is_finite() || v.abs() >= limit)
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
pub fn share_weights(
    program: &LowProgram,
    weights: &[Tensor],
) -> Result<[PartyParams; 3], RuntimeError> {
    check_weights(program, weights)?;
    let mut rng = crate::prg::os_stream()?;
    let mut sets: [PartyParams; 3] = std::array::from_fn(|party| PartyParams {
        party,
        params: vec![],
    });
    for (param, tensor) in program.params.iter().zip(weights) {
        let components = split(&mut rng, &tensor.data, param.frac_bits);
        for (party, set) in sets.iter_mut().enumerate() {
            set.params.push(ParamShare {
                shape: param.shape.clone(),
                first: components[party].clone(),
                second: components[(party + 1) % 3].clone(),
            });
        }
    }
    Ok(sets)
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
