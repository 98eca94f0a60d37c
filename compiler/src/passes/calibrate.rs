//! Calibration: runs the plaintext interpreter on sample inputs and records, for every node an
//! iterative approximation will replace, the range of the quantity that approximation sees:
//! - softmax: the row sums of (x + b + c)^2 over kept entries (what 2Quad divides by);
//! - layer norm: the row variances plus eps (what the inverse square root takes);
//! - division by a secret: the divisor where the numerator is not zero (a zero numerator gives
//!   0 whatever the reciprocal, e.g. an all-negative row of `--softmax relu`, whose divisor is
//!   only the guard epsilon); all of the divisor if the numerator is zero everywhere.
//!
//! Samples come from `--calibrate FILE...`; without them, [`synthetic_samples`] makes
//! deterministic ones from the declared inputs (random token ids within each embedding table,
//! a full and a half-padded attention mask, unit-range real inputs).

use crate::error::PassError;
use crate::inputs::InputArrays;
use ndarray::{ArrayD, Axis, IxDyn};
use secc_ir::interp::evaluate_all;
use secc_ir::op::MASKED_BIAS;
use secc_ir::{Encoding, InputRole, Op, Program, ValueId, Weights};
use std::collections::HashMap;

pub const NAME: &str = "calibrate";

/// SecFormer's shift in 2Quad: (x + 5)^2.
pub const QUAD_SHIFT: f64 = 5.0;

/// Observed (min, max) of the approximated quantity, per node.
pub type Ranges = HashMap<ValueId, (f64, f64)>;

fn widen(range: &mut Option<(f64, f64)>, lo: f64, hi: f64) {
    *range = Some(match *range {
        Some((a, b)) => (a.min(lo), b.max(hi)),
        None => (lo, hi),
    });
}

/// Evaluates `program` on every sample and returns the ranges of the module documentation.
pub fn calibrate(
    program: &Program,
    weights: &Weights,
    samples: &[HashMap<String, ArrayD<f64>>],
) -> Result<Ranges, PassError> {
    let mut found: HashMap<ValueId, Option<(f64, f64)>> = HashMap::new();
    // Each divisor over all its entries, used where no entry had a non-zero numerator.
    let mut divisors: HashMap<ValueId, Option<(f64, f64)>> = HashMap::new();
    for sample in samples {
        let values = evaluate_all(program, weights, sample).map_err(|e| PassError::Internal {
            pass: NAME,
            message: format!("the interpreter failed on a calibration sample: {e}"),
        })?;
        for (v, node) in program.nodes.iter() {
            let arg = |i: usize| &values[node.args[i].index()];
            match &node.op {
                Op::Softmax { axis } if node.ty.is_secret() => {
                    let x = arg(0);
                    let bias = match node.args.get(1) {
                        Some(b) => values[b.index()]
                            .broadcast(x.raw_dim())
                            .expect("the verifier checked the bias shape")
                            .to_owned(),
                        None => ArrayD::zeros(x.raw_dim()),
                    };
                    let q = ndarray::Zip::from(x).and(&bias).map_collect(|&x, &b| {
                        if b > MASKED_BIAS {
                            (x + b + QUAD_SHIFT).powi(2)
                        } else {
                            0.0
                        }
                    });
                    let sums = q.sum_axis(Axis(*axis));
                    let positive = sums.iter().copied().filter(|&s| s > 0.0);
                    let lo = positive.clone().fold(f64::INFINITY, f64::min);
                    let hi = positive.fold(0.0, f64::max);
                    if lo.is_finite() {
                        widen(found.entry(v).or_default(), lo, hi);
                    }
                }
                Op::LayerNorm { eps } if node.ty.is_secret() => {
                    let x = arg(0);
                    let last = Axis(x.ndim() - 1);
                    let mean = x.mean_axis(last).expect("non-empty rows");
                    let centred = x - &mean.insert_axis(last);
                    let var = centred.mapv(|c| c * c).mean_axis(last).expect("non-empty");
                    let lo = var.iter().fold(f64::INFINITY, |a, &b| a.min(b)) + eps;
                    let hi = var.iter().fold(0.0f64, |a, &b| a.max(b)) + eps;
                    widen(found.entry(v).or_default(), lo, hi);
                }
                Op::Div if program.ty(node.args[1]).is_secret() => {
                    let d = arg(1);
                    let lo = d.iter().fold(f64::INFINITY, |a, &b| a.min(b));
                    let hi = d.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                    if lo <= 0.0 {
                        return Err(PassError::Rejected {
                            pass: NAME,
                            node: v.to_string(),
                            origin: node.origin.clone(),
                            message: format!(
                                "the divisor takes the value {lo} on a calibration sample; \
                                 Goldschmidt division needs a positive divisor"
                            ),
                        });
                    }
                    widen(divisors.entry(v).or_default(), lo, hi);
                    let shape = IxDyn(&node.ty.shape);
                    let (n, d) = (arg(0).broadcast(shape.clone()), d.broadcast(shape));
                    let (n, d) = (n.expect("verified shapes"), d.expect("verified shapes"));
                    let kept = ndarray::Zip::from(&n).and(&d).fold(
                        (f64::INFINITY, f64::NEG_INFINITY),
                        |(lo, hi), &n, &d| {
                            if n != 0.0 {
                                (lo.min(d), hi.max(d))
                            } else {
                                (lo, hi)
                            }
                        },
                    );
                    if kept.0 <= kept.1 {
                        widen(found.entry(v).or_default(), kept.0, kept.1);
                    }
                }
                _ => {}
            }
        }
    }
    for (v, range) in divisors {
        found.entry(v).or_insert(range);
    }
    Ok(found
        .into_iter()
        .filter_map(|(v, r)| r.map(|r| (v, r)))
        .collect())
}

/// Deterministic sample inputs for a program with no user samples: two samples, the second
/// with the attention mask padding out the second half of every row.
pub fn synthetic_samples(program: &Program) -> Vec<HashMap<String, ArrayD<f64>>> {
    let mut state = 0x5eccu64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let vocab = embedding_vocabularies(program);
    (0..2)
        .map(|sample| {
            program
                .inputs
                .iter()
                .enumerate()
                .map(|(index, decl)| {
                    let shape = &decl.ty.shape;
                    let n: usize = shape.iter().product();
                    let last = *shape.last().unwrap_or(&1);
                    let data: Vec<f64> = (0..n)
                        .map(|i| match (decl.role, decl.ty.encoding) {
                            (InputRole::ClientPublic, _) => {
                                if sample == 1 && i % last >= last.div_ceil(2) {
                                    0.0
                                } else {
                                    1.0
                                }
                            }
                            (InputRole::Client, Encoding::Fixed) => 4.0 * next() - 2.0,
                            (InputRole::Client, _) => match vocab.get(&index) {
                                Some(&rows) => (next() * rows as f64).floor(),
                                None => 0.0,
                            },
                        })
                        .collect();
                    let array = ArrayD::from_shape_vec(IxDyn(shape), data)
                        .expect("sizes agree by construction");
                    (decl.name.clone(), array)
                })
                .collect()
        })
        .collect()
}

/// For each integer input used as embedding ids, the number of rows of its table.
fn embedding_vocabularies(program: &Program) -> HashMap<usize, usize> {
    let mut out = HashMap::new();
    for (_, node) in program.nodes.iter() {
        if node.op == Op::Embedding {
            if let Op::Input { index } = program.nodes[node.args[1]].op {
                let rows = program.ty(node.args[0]).shape[0];
                let entry = out.entry(index).or_insert(rows);
                *entry = (*entry).min(rows);
            }
        }
    }
    out
}

/// User samples (read from files) completed for this program: missing token types are zeros.
pub fn complete_samples(
    program: &Program,
    given: &[(std::path::PathBuf, InputArrays)],
) -> Result<Vec<HashMap<String, ArrayD<f64>>>, crate::error::DataError> {
    given
        .iter()
        .map(|(path, arrays)| crate::inputs::complete(program, arrays, path))
        .collect()
}
