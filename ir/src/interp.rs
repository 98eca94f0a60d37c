//! The plaintext interpreter: evaluates a program in f64. It is the accuracy oracle for every
//! rewrite and for the MPC runtime (brief §5).

use crate::approx;
use crate::op::{CompareKind, GeluKind, Op};
use crate::program::{Program, ValueId, Weights};
use ndarray::{concatenate, ArrayD, Axis, Ix2, IxDyn};
use std::collections::HashMap;

/// Why evaluation failed: a missing or misshaped input, or an internal inconsistency.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpError {
    #[error("input '{name}' is missing")]
    MissingInput { name: String },
    #[error("input '{name}' has shape {got:?}, the program expects {expected:?}")]
    InputShape {
        name: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("the weights hold {got} tensors, the program declares {expected} parameters")]
    WeightCount { got: usize, expected: usize },
    #[error("{node} (from '{origin}'): {message}")]
    Node {
        node: String,
        origin: String,
        message: String,
    },
}

/// Evaluates every node and returns the named outputs in program order.
pub fn evaluate(
    program: &Program,
    weights: &Weights,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<Vec<(String, ArrayD<f64>)>, InterpError> {
    let values = evaluate_all(program, weights, inputs)?;
    Ok(program
        .outputs
        .iter()
        .map(|o| (o.name.clone(), values[o.value.index()].clone()))
        .collect())
}

/// Evaluates every node, returning all intermediate values (used by calibration and tests).
pub fn evaluate_all(
    program: &Program,
    weights: &Weights,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<Vec<ArrayD<f64>>, InterpError> {
    if weights.tensors.len() != program.params.len() {
        return Err(InterpError::WeightCount {
            got: weights.tensors.len(),
            expected: program.params.len(),
        });
    }
    let mut values: Vec<ArrayD<f64>> = Vec::with_capacity(program.nodes.len());
    for (v, node) in program.nodes.iter() {
        let args: Vec<&ArrayD<f64>> = node.args.iter().map(|a| &values[a.index()]).collect();
        let out = eval_node(program, weights, inputs, &node.op, &args).map_err(|message| {
            InterpError::Node {
                node: v.to_string(),
                origin: node.origin.clone(),
                message,
            }
        });
        let out = match out {
            Ok(o) => o,
            Err(InterpError::Node { message, .. }) if message.starts_with("\u{0}") => {
                return Err(input_error(program, &node.op, &message[1..], inputs))
            }
            Err(e) => return Err(e),
        };
        if out.shape() != node.ty.shape.as_slice() {
            return Err(InterpError::Node {
                node: v.to_string(),
                origin: node.origin.clone(),
                message: format!(
                    "evaluated shape {:?} differs from the type {:?}",
                    out.shape(),
                    node.ty.shape
                ),
            });
        }
        values.push(out);
    }
    Ok(values)
}

fn input_error(
    program: &Program,
    op: &Op,
    _msg: &str,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> InterpError {
    let Op::Input { index } = op else {
        unreachable!("only inputs report input errors")
    };
    let decl = &program.inputs[*index];
    match inputs.get(&decl.name) {
        None => InterpError::MissingInput {
            name: decl.name.clone(),
        },
        Some(a) => InterpError::InputShape {
            name: decl.name.clone(),
            got: a.shape().to_vec(),
            expected: decl.ty.shape.clone(),
        },
    }
}

fn tensor_array(shape: &[usize], data: &[f64]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).expect("tensor data matches its shape")
}

fn eval_node(
    program: &Program,
    weights: &Weights,
    inputs: &HashMap<String, ArrayD<f64>>,
    op: &Op,
    a: &[&ArrayD<f64>],
) -> Result<ArrayD<f64>, String> {
    Ok(match op {
        Op::Input { index } => {
            let decl = &program.inputs[*index];
            match inputs.get(&decl.name) {
                Some(x) if x.shape() == decl.ty.shape.as_slice() => x.clone(),
                _ => return Err("\u{0}input".into()),
            }
        }
        Op::Param { index } => {
            let t = &weights.tensors[*index];
            if t.shape != program.params[*index].shape {
                return Err(format!(
                    "weight shape {:?} differs from the parameter's {:?}",
                    t.shape, program.params[*index].shape
                ));
            }
            tensor_array(&t.shape, &t.data)
        }
        _ => eval_op(op, a)?,
    })
}

/// Evaluates one operator that is not a source (`Input`, `Param`) on f64 arguments. The
/// arguments are checked against the operator's typing rule first, so a misshaped call returns
/// an error instead of panicking (the runtime evaluates public arithmetic with this).
pub fn eval_op(op: &Op, a: &[&ArrayD<f64>]) -> Result<ArrayD<f64>, String> {
    let types: Vec<crate::types::ValueType> = a
        .iter()
        .enumerate()
        .map(|(i, x)| {
            // Embedding ids are integers by its typing rule; everything else checks as fixed.
            let encoding = if matches!(op, Op::Embedding) && i == 1 {
                crate::types::Encoding::Int
            } else {
                crate::types::Encoding::Fixed
            };
            crate::types::ValueType::new(
                x.shape().to_vec(),
                crate::types::Visibility::Public,
                encoding,
            )
        })
        .collect();
    let type_refs: Vec<&crate::types::ValueType> = types.iter().collect();
    let expected = op.infer(&type_refs)?;
    let map = |f: fn(f64) -> f64| a[0].mapv(f);
    let out = match op {
        Op::Input { .. } | Op::Param { .. } => {
            return Err("source operators have no per-op evaluation".into())
        }
        Op::Const { value } => tensor_array(&value.shape, &value.data),
        Op::Add => a[0] + a[1],
        Op::Sub => a[0] - a[1],
        Op::Mul => a[0] * a[1],
        Op::Div => a[0] / a[1],
        Op::Neg => map(|x| -x),
        Op::Pow { exponent } => {
            let e = *exponent as i32;
            a[0].mapv(|x| x.powi(e))
        }
        Op::Sqrt => map(f64::sqrt),
        Op::Reciprocal => map(|x| 1.0 / x),
        Op::Exp => map(f64::exp),
        Op::Erf => map(libm::erf),
        Op::Tanh => map(f64::tanh),
        Op::Relu => map(|x| x.max(0.0)),
        Op::Gelu { kind } => match kind {
            GeluKind::Erf => map(gelu_erf),
            GeluKind::Tanh => map(gelu_tanh),
        },
        Op::Clip { min, max } => {
            let (lo, hi) = (
                min.unwrap_or(f64::NEG_INFINITY),
                max.unwrap_or(f64::INFINITY),
            );
            a[0].mapv(|x| x.clamp(lo, hi))
        }
        Op::Cast { to } => match to {
            crate::types::Encoding::Fixed => a[0].clone(),
            crate::types::Encoding::Int => map(f64::trunc),
            crate::types::Encoding::Bool => map(|x| if x != 0.0 { 1.0 } else { 0.0 }),
        },
        Op::Compare { kind } => {
            let f: fn(f64, f64) -> bool = match kind {
                CompareKind::Equal => |x, y| x == y,
                CompareKind::Less => |x, y| x < y,
                CompareKind::LessEqual => |x, y| x <= y,
                CompareKind::Greater => |x, y| x > y,
                CompareKind::GreaterEqual => |x, y| x >= y,
            };
            let shape = crate::types::broadcast_shapes(a[0].shape(), a[1].shape())
                .ok_or("operands do not broadcast")?;
            let x = a[0].broadcast(IxDyn(&shape)).ok_or("broadcast")?;
            let y = a[1].broadcast(IxDyn(&shape)).ok_or("broadcast")?;
            ndarray::Zip::from(&x)
                .and(&y)
                .map_collect(|&p, &q| if f(p, q) { 1.0 } else { 0.0 })
        }
        Op::Where => {
            let s = crate::types::broadcast_shapes(a[0].shape(), a[1].shape())
                .and_then(|s| crate::types::broadcast_shapes(&s, a[2].shape()))
                .ok_or("operands do not broadcast")?;
            let c = a[0].broadcast(IxDyn(&s)).ok_or("broadcast")?;
            let x = a[1].broadcast(IxDyn(&s)).ok_or("broadcast")?;
            let y = a[2].broadcast(IxDyn(&s)).ok_or("broadcast")?;
            ndarray::Zip::from(&c)
                .and(&x)
                .and(&y)
                .map_collect(|&c, &x, &y| if c != 0.0 { x } else { y })
        }
        Op::Reshape { shape } => a[0]
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))
            .map_err(|e| e.to_string())?,
        Op::Transpose { perm } => a[0]
            .clone()
            .permuted_axes(IxDyn(perm))
            .as_standard_layout()
            .into_owned(),
        Op::Slice { axis, start, end } => a[0]
            .slice_axis(Axis(*axis), ndarray::Slice::from(*start..*end))
            .to_owned(),
        Op::CumSum {
            axis,
            exclusive,
            reverse,
        } => cumsum(a[0], *axis, *exclusive, *reverse),
        Op::GatherElements { axis } => gather_elements(a[0], a[1], *axis)?,
        Op::Concat { axis } => {
            let views: Vec<_> = a.iter().map(|x| x.view()).collect();
            concatenate(Axis(*axis), &views).map_err(|e| e.to_string())?
        }
        Op::Broadcast { shape } => a[0]
            .broadcast(IxDyn(shape))
            .ok_or("cannot broadcast")?
            .to_owned(),
        Op::Gather { axis } => gather(a[0], a[1], *axis)?,
        Op::Embedding => gather(a[0], a[1], 0)?,
        Op::MatMul => matmul(a[0], a[1])?,
        Op::ReduceSum { axes, keep_dims } => reduce(a[0], axes, *keep_dims, |v| v.sum()),
        Op::ReduceMean { axes, keep_dims } => {
            reduce(a[0], axes, *keep_dims, |v| v.sum() / v.len() as f64)
        }
        Op::ReduceMax { axes, keep_dims } => reduce(a[0], axes, *keep_dims, |v| {
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }),
        Op::Softmax { axis } => {
            let x = match a.get(1) {
                Some(bias) => a[0] + *bias,
                None => a[0].clone(),
            };
            softmax(x, *axis)
        }
        Op::LayerNorm { eps } => layer_norm(a, |var| 1.0 / (var + eps).sqrt())?,
        Op::SecLayerNorm {
            eps,
            deflation,
            iterations,
        } => layer_norm(a, |var| {
            approx::goldschmidt_rsqrt(var + eps, *deflation, *iterations)
        })?,
        Op::Quad2Softmax {
            axis,
            shift,
            deflation,
            iterations,
        } => quad2_softmax(a, *axis, *shift, *deflation, *iterations)?,
        Op::SecGelu => {
            let b = approx::fourier_erf_coefficients();
            a[0].mapv(|x| approx::sec_gelu(x, &b))
        }
        Op::SecTanh => {
            let b = approx::fourier_tanh_coefficients();
            a[0].mapv(|x| approx::sec_tanh(x, &b))
        }
        Op::GoldschmidtDiv {
            deflation,
            iterations,
        } => {
            let recip = a[1].mapv(|v| approx::goldschmidt_reciprocal(v, *deflation, *iterations));
            a[0] * &recip
        }
        Op::PumaGelu => map(approx::puma_gelu),
        Op::PumaTanh => map(approx::puma_tanh),
        Op::PumaSoftmax {
            axis,
            iterations,
            exp_squarings,
        } => puma_softmax(a, *axis, *iterations, *exp_squarings)?,
        Op::PumaLayerNorm {
            eps,
            iterations,
            octaves,
        } => {
            let d = *a[0].shape().last().ok_or("layer_norm of a scalar")? as f64;
            layer_norm(a, |var| {
                d.sqrt() * approx::puma_rsqrt(d * var + d * eps, *iterations, *octaves)
            })?
        }
        Op::PumaRsqrt {
            iterations,
            octaves,
        } => a[0].mapv(|x| approx::puma_rsqrt(x, *iterations, *octaves)),
        Op::PumaSqrt {
            iterations,
            octaves,
        } => a[0].mapv(|x| approx::puma_sqrt(x, *iterations, *octaves)),
        Op::PumaReciprocal {
            iterations,
            octaves,
        } => {
            let recip = a[0].mapv(|x| approx::puma_reciprocal(x, *iterations, *octaves));
            match a.get(1) {
                Some(numerator) => *numerator * &recip,
                None => recip,
            }
        }
    };
    if out.shape() != expected.shape.as_slice() {
        return Err(format!(
            "{} evaluated to shape {:?}, its typing rule gives {:?}",
            op.name(),
            out.shape(),
            expected.shape
        ));
    }
    Ok(out)
}

/// Layer normalisation over the last axis with the given 1/sqrt(var + eps).
fn layer_norm(a: &[&ArrayD<f64>], inv_std: impl Fn(f64) -> f64) -> Result<ArrayD<f64>, String> {
    let last = a[0].ndim().checked_sub(1).ok_or("layer_norm of a scalar")?;
    let gamma: Vec<f64> = a[1].iter().copied().collect();
    let beta: Vec<f64> = a[2].iter().copied().collect();
    let mut out = a[0].clone();
    for mut lane in out.lanes_mut(Axis(last)) {
        let d = lane.len() as f64;
        let mean = lane.sum() / d;
        let var = lane.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d;
        let inv = inv_std(var);
        for (j, x) in lane.iter_mut().enumerate() {
            *x = (*x - mean) * inv * gamma[j] + beta[j];
        }
    }
    Ok(out)
}

/// The 2Quad softmax exactly as the protocol computes it (see [`Op::Quad2Softmax`]).
fn quad2_softmax(
    a: &[&ArrayD<f64>],
    axis: usize,
    shift: f64,
    deflation: f64,
    iterations: u32,
) -> Result<ArrayD<f64>, String> {
    let x = a[0];
    let bias = match a.get(1) {
        Some(b) => b
            .broadcast(x.raw_dim())
            .ok_or("softmax bias does not broadcast")?
            .to_owned(),
        None => ArrayD::zeros(x.raw_dim()),
    };
    let mut q = ndarray::Zip::from(x).and(&bias).map_collect(|&x, &b| {
        if b > crate::op::MASKED_BIAS {
            (x + b + shift).powi(2) / deflation
        } else {
            0.0
        }
    });
    for mut lane in q.lanes_mut(Axis(axis)) {
        let sum = lane.sum();
        let recip = approx::goldschmidt_reciprocal(sum, 1.0, iterations);
        lane.mapv_inplace(|v| v * recip);
    }
    Ok(q)
}

/// PUMA's softmax exactly as the protocol computes it (see [`Op::PumaSoftmax`]).
fn puma_softmax(
    a: &[&ArrayD<f64>],
    axis: usize,
    iterations: u32,
    exp_squarings: u32,
) -> Result<ArrayD<f64>, String> {
    let x = a[0];
    let mut v = match a.get(1) {
        Some(b) => {
            let bias = b
                .broadcast(x.raw_dim())
                .ok_or("softmax bias does not broadcast")?;
            ndarray::Zip::from(x).and(&bias).map_collect(|&x, &b| {
                if b > crate::op::MASKED_BIAS {
                    x + b
                } else {
                    crate::op::PUMA_MASKED_SCORE
                }
            })
        }
        None => x.clone(),
    };
    let deflation = x.shape()[axis].next_power_of_two() as f64;
    for mut lane in v.lanes_mut(Axis(axis)) {
        let max = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        lane.mapv_inplace(|v| approx::puma_exp(v - max, exp_squarings));
        let recip = approx::goldschmidt_reciprocal(lane.sum(), deflation, iterations);
        lane.mapv_inplace(|v| v * recip);
    }
    Ok(v)
}

/// 0.5 x (1 + erf(x / sqrt 2)).
pub fn gelu_erf(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
pub fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

/// ONNX GatherElements along `axis` (see [`Op::GatherElements`]); negative indices count from
/// the end.
fn gather_elements(
    data: &ArrayD<f64>,
    idx: &ArrayD<f64>,
    axis: usize,
) -> Result<ArrayD<f64>, String> {
    let n = data.shape()[axis] as f64;
    let mut out = ArrayD::zeros(idx.raw_dim());
    for (pos, &i) in idx.indexed_iter() {
        let i = if i < 0.0 { i + n } else { i };
        if i.fract() != 0.0 || i < 0.0 || i >= n {
            return Err(format!("index {i} out of 0..{n} on axis {axis}"));
        }
        let mut at = ndarray::Dimension::slice(&pos).to_vec();
        at[axis] = i as usize;
        out[pos] = *data
            .get(IxDyn(&at))
            .ok_or("gather_elements indices exceed the data")?;
    }
    Ok(out)
}

/// ONNX CumSum along `axis` (see [`Op::CumSum`]).
fn cumsum(x: &ArrayD<f64>, axis: usize, exclusive: bool, reverse: bool) -> ArrayD<f64> {
    let mut out = x.clone();
    for (mut lane, src) in out
        .lanes_mut(Axis(axis))
        .into_iter()
        .zip(x.lanes(Axis(axis)))
    {
        let n = src.len();
        let mut acc = 0.0;
        for k in 0..n {
            let i = if reverse { n - 1 - k } else { k };
            if exclusive {
                lane[i] = acc;
                acc += src[i];
            } else {
                acc += src[i];
                lane[i] = acc;
            }
        }
    }
    out
}

fn softmax(mut x: ArrayD<f64>, axis: usize) -> ArrayD<f64> {
    for mut lane in x.lanes_mut(Axis(axis)) {
        let max = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        lane.mapv_inplace(|v| (v - max).exp());
        let sum = lane.sum();
        lane.mapv_inplace(|v| v / sum);
    }
    x
}

fn reduce(
    x: &ArrayD<f64>,
    axes: &[usize],
    keep_dims: bool,
    f: impl Fn(&ndarray::ArrayViewD<f64>) -> f64,
) -> ArrayD<f64> {
    let shape: Vec<usize> = crate::op::reduced_shape(x.shape(), axes, true);
    let mut out = ArrayD::zeros(IxDyn(&shape));
    let mut moved = x.view();
    // Move reduced axes to the end, then reduce over the flattened tail.
    let kept: Vec<usize> = (0..x.ndim()).filter(|i| !axes.contains(i)).collect();
    let order: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    moved = moved.permuted_axes(IxDyn(&order));
    let kept_len: usize = kept.iter().map(|&i| x.shape()[i]).product();
    let red_len: usize = axes.iter().map(|&i| x.shape()[i]).product();
    let flat = moved
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&[kept_len, red_len]))
        .expect("sizes agree");
    for (o, row) in out.iter_mut().zip(flat.outer_iter()) {
        *o = f(&row.into_dyn());
    }
    if keep_dims {
        out
    } else {
        let shape = crate::op::reduced_shape(x.shape(), axes, false);
        out.into_shape_with_order(IxDyn(&shape))
            .expect("sizes agree")
    }
}

fn gather(data: &ArrayD<f64>, idx: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>, String> {
    let n = data.shape()[axis];
    let indices: Vec<usize> = idx
        .iter()
        .map(|&i| {
            let j = if i < 0.0 { i + n as f64 } else { i };
            if j < 0.0 || j >= n as f64 || j.fract() != 0.0 {
                Err(format!("index {i} out of range 0..{n}"))
            } else {
                Ok(j as usize)
            }
        })
        .collect::<Result<_, _>>()?;
    let picked = data.select(Axis(axis), &indices);
    let mut shape = data.shape()[..axis].to_vec();
    shape.extend_from_slice(idx.shape());
    shape.extend_from_slice(&data.shape()[axis + 1..]);
    picked
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|e| e.to_string())
}

/// Batched matrix product with numpy broadcasting of the batch dimensions.
pub fn matmul(a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>, String> {
    let out_shape =
        crate::types::matmul_shape(a.shape(), b.shape()).ok_or("matmul shapes do not fit")?;
    let rank = out_shape.len();
    let batch = &out_shape[..rank - 2];
    let (m, n) = (out_shape[rank - 2], out_shape[rank - 1]);
    let k = a.shape()[a.ndim() - 1];
    let mut a_shape = batch.to_vec();
    a_shape.extend([m, k]);
    let mut b_shape = batch.to_vec();
    b_shape.extend([k, n]);
    let a = a.broadcast(IxDyn(&a_shape)).ok_or("broadcast")?;
    let b = b.broadcast(IxDyn(&b_shape)).ok_or("broadcast")?;
    let batches: usize = batch.iter().product();
    let a = a
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&[batches, m, k]))
        .map_err(|e| e.to_string())?;
    let b = b
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&[batches, k, n]))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(batches * m * n);
    for i in 0..batches {
        let ai = a
            .index_axis(Axis(0), i)
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        let bi = b
            .index_axis(Axis(0), i)
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        out.extend(ai.dot(&bi).iter().copied());
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| e.to_string())
}

/// A convenient handle for tests: the value of `v` after evaluating everything.
pub fn value_of(values: &[ArrayD<f64>], v: ValueId) -> &ArrayD<f64> {
    &values[v.index()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx::{self, Octaves};
    use crate::{Encoding, InputRole, Tensor};

    /// The interpreter's range-reduced layer norm is sqrt(d) `puma_rsqrt`(sum c^2 + d eps) per
    /// row (the protocol's own rule), within 1e-4 of the exact layer norm on variances from
    /// 1e-6 to 1e6; and puma_reciprocal with a numerator broadcasts like a division.
    #[test]
    fn puma_layer_norm_and_division_follow_their_definitions() {
        let o = Octaves::for_frac_bits(16);
        let k = approx::puma_rsqrt_iterations(1e-4).unwrap();
        let (rows, d) = (4, 6);
        let mut p = Program::new("t", 16);
        let x = p.add_input("x", InputRole::Client, vec![rows, d], Encoding::Fixed);
        let g = p.add_param("g", vec![d]);
        let b = p.add_param("b", vec![d]);
        let op = Op::PumaLayerNorm {
            eps: 1e-12,
            iterations: k,
            octaves: o,
        };
        let ln = p.push(op, vec![x, g, b], "ln").unwrap();
        let norm = p
            .push(
                Op::ReduceSum {
                    axes: vec![1],
                    keep_dims: true,
                },
                vec![x],
                "s",
            )
            .unwrap();
        let div = Op::PumaReciprocal {
            iterations: approx::puma_reciprocal_iterations(1e-4).unwrap(),
            octaves: o,
        };
        let q = p.push(div, vec![norm, x], "q").unwrap();
        p.add_output("ln", ln);
        p.add_output("q", q);
        let scales = [1e-3, 0.7, 40.0, 1e3];
        let data: Vec<f64> = (0..rows * d)
            .map(|i| scales[i / d] * (1.0 + (i % d) as f64 + 0.3 * ((i * 7) % 5) as f64))
            .collect();
        let xs = ArrayD::from_shape_vec(IxDyn(&[rows, d]), data.clone()).unwrap();
        let gamma: Vec<f64> = (0..d).map(|j| 0.5 + 0.1 * j as f64).collect();
        let beta: Vec<f64> = (0..d).map(|j| 0.2 * j as f64 - 0.5).collect();
        let weights = Weights {
            tensors: vec![
                Tensor::new(vec![d], Encoding::Fixed, gamma.clone()),
                Tensor::new(vec![d], Encoding::Fixed, beta.clone()),
            ],
        };
        let out = evaluate(&p, &weights, &HashMap::from([("x".to_string(), xs)])).unwrap();
        for r in 0..rows {
            let row = &data[r * d..(r + 1) * d];
            let mean = row.iter().sum::<f64>() / d as f64;
            let sq: f64 = row.iter().map(|v| (v - mean).powi(2)).sum();
            let inv = (d as f64).sqrt() * approx::puma_rsqrt(sq + d as f64 * 1e-12, k, o);
            let exact_inv = 1.0 / (sq / d as f64 + 1e-12).sqrt();
            assert!((inv / exact_inv - 1.0).abs() < 1e-4, "row {r}");
            let sum: f64 = row.iter().sum();
            for j in 0..d {
                let want = (row[j] - mean) * inv * gamma[j] + beta[j];
                assert!((out[0].1[[r, j]] - want).abs() < 1e-12, "row {r}");
                assert!((out[1].1[[r, j]] / (row[j] / sum) - 1.0).abs() < 1e-4);
            }
        }
    }
}
