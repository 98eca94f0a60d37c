//! The closed operator set of the IR and its table.
//!
//! Every property of an operator lives in one place, the `impl Op` below: its printed name
//! ([`Op::name`]), its arity ([`Op::arity`]), its typing rule ([`Op::infer`]) and its abstract
//! cost ([`Op::cost`]). The printer, the verifier and the cost report are derived from these, so
//! adding an operator means adding a variant here (the compiler then points at every match that
//! needs a new arm, including the plaintext interpreter and the protocol lowering).

pub use crate::approx::Octaves;
use crate::tensor::Tensor;
use crate::types::{broadcast_shapes, matmul_shape, Encoding, ValueType, Visibility};
use serde::{Deserialize, Serialize};

/// Which party supplies an input of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputRole {
    /// The client's private input (token ids, features): secret-shared per request.
    Client,
    /// Supplied by the client but declared public (the attention mask by default).
    ClientPublic,
}

/// Approximation of GeLU named by the source model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GeluKind {
    /// 0.5 x (1 + erf(x / sqrt 2)).
    Erf,
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Tanh,
}

/// Element-wise comparisons (public operands only in this IR version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareKind {
    Equal,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

/// Number of arguments an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    Between(usize, usize),
}

impl Arity {
    pub fn admits(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::Between(lo, hi) => (lo..=hi).contains(&n),
        }
    }
}

/// Abstract cost of one operator instance, independent of the protocol chosen for it: how many
/// secret-by-secret products, truncations and non-linear element evaluations it implies. Exact
/// rounds and bytes come from codegen, which lowers each operator into protocol steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbstractCost {
    /// Secret x secret multiply-accumulate terms (a matmul of m x k by k x n counts m k n).
    pub secret_products: u64,
    /// Output elements of secret products (each needs one reshare and truncation).
    pub product_outputs: u64,
    /// Secret elements through a non-linear function (softmax, GeLU, rsqrt, ...).
    pub nonlinear_elements: u64,
}

/// One IR operator with its attributes. The list is closed on purpose: every pass matches all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    // --- sources ---
    /// The `index`-th program input.
    Input {
        index: usize,
    },
    /// The `index`-th learned parameter: a secret of the model owner.
    Param {
        index: usize,
    },
    /// A public constant.
    Const {
        value: Tensor,
    },

    // --- element-wise arithmetic, numpy broadcasting ---
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    /// x^exponent for a small positive integer exponent.
    Pow {
        exponent: u32,
    },
    Sqrt,
    Reciprocal,
    Exp,
    Erf,
    Tanh,
    Relu,
    Gelu {
        kind: GeluKind,
    },
    /// Clamp to [min, max]; either bound may be absent.
    Clip {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Change of encoding (int <-> fixed <-> bool).
    Cast {
        to: Encoding,
    },
    /// Element-wise comparison giving a boolean.
    Compare {
        kind: CompareKind,
    },
    /// `cond ? a : b` with a public boolean condition.
    Where,

    // --- structure ---
    Reshape {
        shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// Elements `start..end` (step 1) along `axis`.
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    Concat {
        axis: usize,
    },
    /// Numpy broadcast to `shape`.
    Broadcast {
        shape: Vec<usize>,
    },
    /// Rows of `data` (axis 0 for now) picked by public integer `indices`.
    Gather {
        axis: usize,
    },
    /// ONNX GatherElements: `out[i][j]..` is `data` at `indices[i][j]..` along `axis`, the
    /// other coordinates unchanged (output shape = the indices' shape). Indices must be public
    /// in MPC; in practice only found in client prologues (RoBERTa's token type ids gathered by
    /// its position ids).
    GatherElements {
        axis: usize,
    },
    /// Rows of a secret table picked by the client's private token ids: the client, who knows
    /// the ids, supplies their one-hot encoding as a secret input.
    Embedding,

    // --- linear algebra and reductions ---
    /// Batched matrix product with numpy `matmul` semantics.
    MatMul,
    ReduceSum {
        axes: Vec<usize>,
        keep_dims: bool,
    },
    ReduceMean {
        axes: Vec<usize>,
        keep_dims: bool,
    },
    ReduceMax {
        axes: Vec<usize>,
        keep_dims: bool,
    },
    /// Running sum along `axis` (ONNX CumSum): element i is the sum of elements 0..=i
    /// (0..i when `exclusive`), counted from the end when `reverse`. Linear; in practice only
    /// found in client prologues (RoBERTa's position ids from the non-padding tokens).
    CumSum {
        axis: usize,
        exclusive: bool,
        reverse: bool,
    },

    // --- fused network operators recognised by the frontend ---
    /// softmax(x + bias) along `axis`; the optional second argument is a public additive bias
    /// (the attention mask, whose masked entries may be as low as -3.4e38).
    Softmax {
        axis: usize,
    },
    /// (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
    LayerNorm {
        eps: f64,
    },

    // --- protocol nodes chosen by the mode passes; the interpreter computes exactly the
    // approximation, so MPC results are compared with what the protocol is meant to compute ---
    /// SecFormer's 2Quad softmax along the last axis: q = (x + b + shift)^2 on entries the public
    /// bias b keeps (b > MASKED_BIAS), 0 elsewhere; p = q / sum(q), the division by the
    /// Goldschmidt reciprocal of sum(q) / deflation (a power of two) with `iterations` steps.
    Quad2Softmax {
        axis: usize,
        shift: f64,
        deflation: f64,
        iterations: u32,
    },
    /// SecFormer's GeLU: 0 below -GELU_CUT, x above GELU_CUT, 0.5 x (1 + F(x)) between, with F
    /// the power-of-two-period Fourier series of erf(x / sqrt 2) (see `approx`).
    SecGelu,
    /// tanh by the same construction: -1 / Fourier series / +1 around +-TANH_CUT.
    SecTanh,
    /// LayerNorm over the last axis with 1/sqrt(var + eps) by Goldschmidt iterations on
    /// (var + eps) / deflation (a power of four), from the start 1; no comparisons.
    SecLayerNorm {
        eps: f64,
        deflation: f64,
        iterations: u32,
    },
    /// a / b with the Goldschmidt reciprocal of b / deflation (a power of two).
    GoldschmidtDiv {
        deflation: f64,
        iterations: u32,
    },
    /// PUMA's GeLU (`approx::puma_gelu`): 0 below -4, a cubic on [-4, -1.95), an even degree-6
    /// polynomial plus 0.5 x on [-1.95, 3], x above 3.
    PumaGelu,
    /// tanh in PUMA mode (`approx::puma_tanh`): -1 below -5, 1 from 5 up, degree-5 polynomials on
    /// [0, 1.5), [1.5, 3), [3, 5) and their odd mirrors; within 1e-4 of tanh, no calibration.
    PumaTanh,
    /// PUMA's softmax along the last axis: v = x + b on entries the public bias b keeps
    /// (b > MASKED_BIAS), PUMA_MASKED_SCORE on the others (so they give 0 when the row keeps
    /// any entry); e = `approx::puma_exp`(v - max v, exp_squarings) and
    /// p = e * `approx::goldschmidt_reciprocal`(sum e, D, iterations) for D the power of two at
    /// or above the row length (sum e lies in [1, n]: the max entry gives exp(0) = 1).
    PumaSoftmax {
        axis: usize,
        iterations: u32,
        /// t in exp(x) ~ (1 + x / 2^t)^(2^t): t squarings (PUMA uses 5).
        exp_squarings: u32,
    },
    /// PUMA mode's layer norm over the last axis without calibration: with c = x - mean and
    /// q = sum(c^2) + d eps over the row of d entries, 1/sqrt(var + eps) = sqrt(d)
    /// `approx::puma_rsqrt`(q, iterations, octaves) (octave of q by comparisons against powers
    /// of two, normalisation into [11/16, 11/8), Goldschmidt). Valid for
    /// q in `octaves.valid()`, i.e. var + eps in [2^lo / d, 2^(hi + 1) / d) (F = 16:
    /// [2^-16 / d, 2^30 / d)).
    PumaLayerNorm {
        eps: f64,
        iterations: u32,
        octaves: Octaves,
    },
    /// 1/sqrt(x) by `approx::puma_rsqrt` (range reduction by comparisons against powers of
    /// two, no calibration); valid for x in `octaves.valid()`.
    PumaRsqrt {
        iterations: u32,
        octaves: Octaves,
    },
    /// sqrt(x) by `approx::puma_sqrt` (the same normalisation as `PumaRsqrt`, sqrt(m) = m /
    /// sqrt(m)); valid for x in `octaves.valid()` (and x = 0, which gives 0).
    PumaSqrt {
        iterations: u32,
        octaves: Octaves,
    },
    /// a / b by `approx::puma_reciprocal` of the first argument b (range reduction by
    /// comparisons, no calibration), times the optional second argument a (1 when absent):
    /// arguments (b) give 1/b, (b, a) give a/b. Valid for b in `octaves.valid()` and, because
    /// a is multiplied by 2^-i first, |a / b| < 2^(60 - F - hi) (F = 16: 2^15; 1/b alone is
    /// valid on the whole range).
    PumaReciprocal {
        iterations: u32,
        octaves: Octaves,
    },
}

/// A softmax bias at or below this marks a masked entry (PyTorch uses the float minimum, older
/// exports -10000).
pub const MASKED_BIAS: f64 = -1000.0;

/// PUMA's softmax replaces a masked entry by this score before the row max: far below any
/// score, yet within the bounded comparison's range (|a - b| < 2^15) against scores with
/// |x| < 2^14. A masked entry then gives exp(-2^14 - max) = 0, unless the whole row is masked,
/// which gives 1/n like the exact softmax of equal scores.
pub const PUMA_MASKED_SCORE: f64 = -16384.0;

impl Op {
    /// The printed name, also used in the cost report and by `secc inspect`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Const { .. } => "const",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
            Op::Neg => "neg",
            Op::Pow { .. } => "pow",
            Op::Sqrt => "sqrt",
            Op::Reciprocal => "reciprocal",
            Op::Exp => "exp",
            Op::Erf => "erf",
            Op::Tanh => "tanh",
            Op::Relu => "relu",
            Op::Gelu { .. } => "gelu",
            Op::Clip { .. } => "clip",
            Op::Cast { .. } => "cast",
            Op::Compare { .. } => "compare",
            Op::Where => "where",
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
            Op::Broadcast { .. } => "broadcast",
            Op::Gather { .. } => "gather",
            Op::Embedding => "embedding",
            Op::MatMul => "matmul",
            Op::ReduceSum { .. } => "reduce_sum",
            Op::ReduceMean { .. } => "reduce_mean",
            Op::ReduceMax { .. } => "reduce_max",
            Op::CumSum { .. } => "cumsum",
            Op::GatherElements { .. } => "gather_elements",
            Op::Softmax { .. } => "softmax",
            Op::LayerNorm { .. } => "layer_norm",
            Op::Quad2Softmax { .. } => "quad2_softmax",
            Op::SecGelu => "sec_gelu",
            Op::SecTanh => "sec_tanh",
            Op::SecLayerNorm { .. } => "sec_layer_norm",
            Op::GoldschmidtDiv { .. } => "goldschmidt_div",
            Op::PumaGelu => "puma_gelu",
            Op::PumaTanh => "puma_tanh",
            Op::PumaSoftmax { .. } => "puma_softmax",
            Op::PumaLayerNorm { .. } => "puma_layer_norm",
            Op::PumaRsqrt { .. } => "puma_rsqrt",
            Op::PumaSqrt { .. } => "puma_sqrt",
            Op::PumaReciprocal { .. } => "puma_reciprocal",
        }
    }

    pub fn arity(&self) -> Arity {
        use Arity::*;
        match self {
            Op::Input { .. } | Op::Param { .. } | Op::Const { .. } => Exactly(0),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Compare { .. } => Exactly(2),
            Op::Neg
            | Op::Pow { .. }
            | Op::Sqrt
            | Op::Reciprocal
            | Op::Exp
            | Op::Erf
            | Op::Tanh
            | Op::Relu
            | Op::Gelu { .. }
            | Op::Clip { .. }
            | Op::Cast { .. }
            | Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Broadcast { .. }
            | Op::ReduceSum { .. }
            | Op::ReduceMean { .. }
            | Op::ReduceMax { .. }
            | Op::CumSum { .. } => Exactly(1),
            Op::Where => Exactly(3),
            Op::Concat { .. } => Between(1, usize::MAX),
            Op::Gather { .. } | Op::GatherElements { .. } | Op::Embedding | Op::MatMul => {
                Exactly(2)
            }
            Op::Softmax { .. } | Op::Quad2Softmax { .. } | Op::PumaSoftmax { .. } => Between(1, 2),
            Op::LayerNorm { .. } | Op::SecLayerNorm { .. } | Op::PumaLayerNorm { .. } => Exactly(3),
            Op::SecGelu
            | Op::SecTanh
            | Op::PumaGelu
            | Op::PumaTanh
            | Op::PumaRsqrt { .. }
            | Op::PumaSqrt { .. } => Exactly(1),
            Op::PumaReciprocal { .. } => Between(1, 2),
            Op::GoldschmidtDiv { .. } => Exactly(2),
        }
    }

    /// Whether the operator only moves elements (free in MPC).
    pub fn is_structural(&self) -> bool {
        matches!(
            self,
            Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Slice { .. }
                | Op::Concat { .. }
                | Op::Broadcast { .. }
                | Op::Gather { .. }
        )
    }

    /// The typing rule: the result type from the argument types, or why they do not fit.
    /// Source operators (`Input`, `Param`) take their type from the program's declarations.
    pub fn infer(&self, args: &[&ValueType]) -> Result<ValueType, String> {
        if !self.arity().admits(args.len()) {
            return Err(format!(
                "{} takes {:?} arguments, got {}",
                self.name(),
                self.arity(),
                args.len()
            ));
        }
        let vis = joined_visibility(args);
        let first = args.first().copied();
        match self {
            Op::Input { .. } | Op::Param { .. } => {
                Err("source operators are typed by their declaration".into())
            }
            Op::Const { value } => Ok(ValueType::new(
                value.shape.clone(),
                Visibility::Public,
                value.encoding,
            )),
            Op::Add | Op::Sub | Op::Mul | Op::Div => {
                let shape = broadcast_shapes(&args[0].shape, &args[1].shape).ok_or_else(|| {
                    format!(
                        "shapes {:?} and {:?} do not broadcast",
                        args[0].shape, args[1].shape
                    )
                })?;
                let enc = arithmetic_encoding(args[0].encoding, args[1].encoding);
                let enc = if matches!(self, Op::Div) && !args[1].is_secret() {
                    enc
                } else if matches!(self, Op::Div) {
                    Encoding::Fixed
                } else {
                    enc
                };
                Ok(ValueType::new(shape, vis, enc))
            }
            Op::Compare { .. } => {
                let shape = broadcast_shapes(&args[0].shape, &args[1].shape)
                    .ok_or_else(|| "comparison operands do not broadcast".to_string())?;
                Ok(ValueType::new(shape, vis, Encoding::Bool))
            }
            Op::Neg | Op::Relu | Op::Clip { .. } | Op::Pow { .. } => {
                let a = first.unwrap();
                let enc = if a.encoding == Encoding::Bool {
                    Encoding::Int
                } else {
                    a.encoding
                };
                Ok(ValueType::new(a.shape.clone(), vis, enc))
            }
            Op::Sqrt | Op::Reciprocal | Op::Exp | Op::Erf | Op::Tanh | Op::Gelu { .. } => Ok(
                ValueType::new(first.unwrap().shape.clone(), vis, Encoding::Fixed),
            ),
            Op::Cast { to } => Ok(ValueType::new(first.unwrap().shape.clone(), vis, *to)),
            Op::Where => {
                if args[0].is_secret() {
                    return Err("the condition of `where` must be public".into());
                }
                let s = broadcast_shapes(&args[0].shape, &args[1].shape)
                    .and_then(|s| broadcast_shapes(&s, &args[2].shape))
                    .ok_or_else(|| "where operands do not broadcast".to_string())?;
                let enc = arithmetic_encoding(args[1].encoding, args[2].encoding);
                Ok(ValueType::new(s, joined_visibility(&args[1..]), enc))
            }
            Op::Reshape { shape } => {
                let a = first.unwrap();
                if shape.iter().product::<usize>() != a.element_count() {
                    return Err(format!("cannot reshape {:?} into {:?}", a.shape, shape));
                }
                Ok(ValueType::new(shape.clone(), vis, a.encoding))
            }
            Op::Transpose { perm } => {
                let a = first.unwrap();
                let mut seen = vec![false; a.rank()];
                if perm.len() != a.rank() {
                    return Err(format!("permutation {perm:?} for rank {}", a.rank()));
                }
                for &p in perm {
                    if p >= a.rank() || std::mem::replace(&mut seen[p], true) {
                        return Err(format!("{perm:?} is not a permutation"));
                    }
                }
                let shape = perm.iter().map(|&p| a.shape[p]).collect();
                Ok(ValueType::new(shape, vis, a.encoding))
            }
            Op::Slice { axis, start, end } => {
                let a = first.unwrap();
                if *axis >= a.rank() || start >= end || *end > a.shape[*axis] {
                    return Err(format!(
                        "slice {start}..{end} of axis {axis} out of shape {:?}",
                        a.shape
                    ));
                }
                let mut shape = a.shape.clone();
                shape[*axis] = end - start;
                Ok(ValueType::new(shape, vis, a.encoding))
            }
            Op::Concat { axis } => {
                let a = first.unwrap();
                if *axis >= a.rank() {
                    return Err(format!("concat axis {axis} for rank {}", a.rank()));
                }
                let mut shape = a.shape.clone();
                shape[*axis] = 0;
                for t in args {
                    let mut s = t.shape.clone();
                    if s.len() != shape.len() {
                        return Err("concat of different ranks".into());
                    }
                    let d = s[*axis];
                    s[*axis] = 0;
                    if s != {
                        let mut z = shape.clone();
                        z[*axis] = 0;
                        z
                    } {
                        return Err(format!("concat of {:?} and {:?}", a.shape, t.shape));
                    }
                    shape[*axis] += d;
                }
                let enc = args
                    .iter()
                    .map(|t| t.encoding)
                    .reduce(arithmetic_encoding)
                    .unwrap();
                Ok(ValueType::new(shape, vis, enc))
            }
            Op::Broadcast { shape } => {
                let a = first.unwrap();
                match broadcast_shapes(&a.shape, shape) {
                    Some(s) if &s == shape => Ok(ValueType::new(s, vis, a.encoding)),
                    _ => Err(format!("cannot broadcast {:?} to {:?}", a.shape, shape)),
                }
            }
            Op::Gather { axis } => {
                let (data, idx) = (args[0], args[1]);
                if idx.is_secret() {
                    return Err("gather indices must be public (use embedding)".into());
                }
                if *axis >= data.rank() {
                    return Err(format!("gather axis {axis} for rank {}", data.rank()));
                }
                let mut shape = data.shape[..*axis].to_vec();
                shape.extend_from_slice(&idx.shape);
                shape.extend_from_slice(&data.shape[axis + 1..]);
                Ok(ValueType::new(shape, data.visibility, data.encoding))
            }
            Op::GatherElements { axis } => {
                let (data, idx) = (args[0], args[1]);
                if *axis >= data.rank() || idx.rank() != data.rank() {
                    return Err(format!(
                        "gather_elements axis {axis} of {:?} by indices {:?}",
                        data.shape, idx.shape
                    ));
                }
                Ok(ValueType::new(idx.shape.clone(), vis, data.encoding))
            }
            Op::Embedding => {
                let (table, ids) = (args[0], args[1]);
                if table.rank() != 2 || ids.encoding != Encoding::Int {
                    return Err("embedding takes a [vocab, dim] table and integer ids".into());
                }
                let mut shape = ids.shape.clone();
                shape.push(table.shape[1]);
                Ok(ValueType::new(shape, Visibility::Secret, Encoding::Fixed))
            }
            Op::MatMul => {
                let shape = matmul_shape(&args[0].shape, &args[1].shape).ok_or_else(|| {
                    format!(
                        "matmul of {:?} by {:?} does not fit",
                        args[0].shape, args[1].shape
                    )
                })?;
                let enc = arithmetic_encoding(args[0].encoding, args[1].encoding);
                Ok(ValueType::new(shape, vis, enc))
            }
            Op::CumSum { axis, .. } => {
                let a = first.unwrap();
                if *axis >= a.rank() {
                    return Err(format!("cumsum axis {axis} for rank {}", a.rank()));
                }
                let enc = if a.encoding == Encoding::Bool {
                    Encoding::Int
                } else {
                    a.encoding
                };
                Ok(ValueType::new(a.shape.clone(), vis, enc))
            }
            Op::ReduceSum { axes, keep_dims }
            | Op::ReduceMean { axes, keep_dims }
            | Op::ReduceMax { axes, keep_dims } => {
                let a = first.unwrap();
                if axes.iter().any(|&x| x >= a.rank()) {
                    return Err(format!("reduce axes {axes:?} for rank {}", a.rank()));
                }
                let shape = reduced_shape(&a.shape, axes, *keep_dims);
                let enc = if matches!(self, Op::ReduceMean { .. }) {
                    Encoding::Fixed
                } else {
                    a.encoding
                };
                Ok(ValueType::new(shape, vis, enc))
            }
            Op::Softmax { axis } | Op::Quad2Softmax { axis, .. } | Op::PumaSoftmax { axis, .. } => {
                let a = first.unwrap();
                if *axis >= a.rank() {
                    return Err(format!("softmax axis {axis} for rank {}", a.rank()));
                }
                if let Some(bias) = args.get(1) {
                    if bias.is_secret() {
                        return Err("the softmax bias (attention mask) must be public".into());
                    }
                    if broadcast_shapes(&a.shape, &bias.shape).as_ref() != Some(&a.shape) {
                        return Err(format!(
                            "softmax bias {:?} does not broadcast to {:?}",
                            bias.shape, a.shape
                        ));
                    }
                }
                Ok(ValueType::new(
                    a.shape.clone(),
                    a.visibility,
                    Encoding::Fixed,
                ))
            }
            Op::SecGelu
            | Op::SecTanh
            | Op::PumaGelu
            | Op::PumaTanh
            | Op::PumaRsqrt { .. }
            | Op::PumaSqrt { .. } => Ok(ValueType::new(
                first.unwrap().shape.clone(),
                vis,
                Encoding::Fixed,
            )),
            Op::PumaReciprocal { .. } if args.len() == 1 => Ok(ValueType::new(
                first.unwrap().shape.clone(),
                vis,
                Encoding::Fixed,
            )),
            Op::GoldschmidtDiv { .. } | Op::PumaReciprocal { .. } => {
                let shape = broadcast_shapes(&args[0].shape, &args[1].shape).ok_or_else(|| {
                    format!(
                        "shapes {:?} and {:?} do not broadcast",
                        args[0].shape, args[1].shape
                    )
                })?;
                Ok(ValueType::new(shape, vis, Encoding::Fixed))
            }
            Op::LayerNorm { .. } | Op::SecLayerNorm { .. } | Op::PumaLayerNorm { .. } => {
                let a = first.unwrap();
                let d = *a.shape.last().ok_or("layer_norm of a scalar")?;
                for p in &args[1..] {
                    if p.shape.iter().product::<usize>() != d {
                        return Err(format!(
                            "layer_norm parameter {:?} for last axis {d}",
                            p.shape
                        ));
                    }
                }
                Ok(ValueType::new(a.shape.clone(), vis, Encoding::Fixed))
            }
        }
    }

    /// Abstract cost of this operator for the given argument and result types.
    pub fn cost(&self, args: &[&ValueType], out: &ValueType) -> AbstractCost {
        let n = out.element_count() as u64;
        let both_secret = args.len() >= 2 && args[0].is_secret() && args[1].is_secret();
        let secret_out = out.is_secret();
        match self {
            Op::Mul if both_secret => AbstractCost {
                secret_products: n,
                product_outputs: n,
                ..Default::default()
            },
            Op::MatMul if both_secret => {
                let k = *args[0].shape.last().unwrap_or(&1) as u64;
                AbstractCost {
                    secret_products: n * k,
                    product_outputs: n,
                    ..Default::default()
                }
            }
            Op::Embedding => {
                let vocab = args[0].shape[0] as u64;
                AbstractCost {
                    secret_products: n * vocab,
                    product_outputs: n,
                    ..Default::default()
                }
            }
            Op::Div if args[1].is_secret() => AbstractCost {
                nonlinear_elements: n,
                ..Default::default()
            },
            Op::Pow { exponent } if secret_out => AbstractCost {
                secret_products: n * u64::from(exponent.saturating_sub(1)),
                product_outputs: n * u64::from(exponent.saturating_sub(1)),
                ..Default::default()
            },
            Op::Sqrt
            | Op::Reciprocal
            | Op::Exp
            | Op::Erf
            | Op::Tanh
            | Op::Relu
            | Op::Gelu { .. }
            | Op::Clip { .. }
            | Op::ReduceMax { .. }
            | Op::Softmax { .. }
            | Op::LayerNorm { .. }
            | Op::Quad2Softmax { .. }
            | Op::SecGelu
            | Op::SecTanh
            | Op::SecLayerNorm { .. }
            | Op::GoldschmidtDiv { .. }
            | Op::PumaGelu
            | Op::PumaTanh
            | Op::PumaSoftmax { .. }
            | Op::PumaLayerNorm { .. }
            | Op::PumaRsqrt { .. }
            | Op::PumaSqrt { .. }
            | Op::PumaReciprocal { .. }
                if secret_out || args.first().is_some_and(|a| a.is_secret()) =>
            {
                let elems = args.first().map_or(n, |a| a.element_count() as u64);
                AbstractCost {
                    nonlinear_elements: elems,
                    ..Default::default()
                }
            }
            _ => AbstractCost::default(),
        }
    }
}

fn joined_visibility(args: &[&ValueType]) -> Visibility {
    if args.iter().any(|a| a.is_secret()) {
        Visibility::Secret
    } else {
        Visibility::Public
    }
}

fn arithmetic_encoding(a: Encoding, b: Encoding) -> Encoding {
    match (a, b) {
        (Encoding::Fixed, _) | (_, Encoding::Fixed) => Encoding::Fixed,
        (Encoding::Bool, Encoding::Bool) => Encoding::Bool,
        _ => Encoding::Int,
    }
}

/// The shape left after reducing `axes`.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keep_dims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keep_dims) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(d),
        })
        .collect()
}
