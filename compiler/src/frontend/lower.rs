//! Lowering of tract's decluttered typed model into the IR.
//!
//! Owns the public/secret rules (docs/frontend.md repeats them):
//! - the input named exactly `attention_mask`, and any input named with `--public-input`, is
//!   public (`InputRole::ClientPublic`); every other input is the client's secret
//!   (`InputRole::Client`), whatever its name (`masked_lm_ids`, `pixel_mask`); integer and
//!   boolean inputs keep an integer encoding, float inputs are fixed point;
//! - secrecy of weights follows provenance, not values: every learned initializer of the ONNX
//!   file ([`super::load::is_learned`]: a float initializer of rank one or more, whatever its
//!   size or values, whatever it meets) is a secret of the model owner (`Param`), named after
//!   the initializer, unless [`WeightVisibility`] makes it public (`secc compile
//!   --public-weights`, `--public-weight NAME`). A constant computed from learned initializers
//!   alone (a transposed weight, a table sliced by constant indices) is learned too and named
//!   after the first of them. Everything else is a public `Const`: integer and boolean
//!   buffers, rank-0 initializers, `Constant` nodes and what tract folds from them;
//! - a `Gather` from a constant table by secret indices is an `Embedding`; by public or constant
//!   indices it is a `Gather`;
//! - subgraphs that only depend on the client's inputs and public constants (the attention-mask
//!   arithmetic, RoBERTa's position ids) stay ordinary IR ops; codegen moves them into the
//!   client's prologue (`secc_ir::prologue`).
//!
//! tract never sees a learned initializer's value (the loader hands it over as a source, see
//! [`super::load`]), so it cannot fold it; nodes whose inputs are all constants, one of them
//! learned, are evaluated here with tract's own kernels instead, and the result keeps its
//! provenance. Constants stay pending ([`Lowered::Const`]) until a user needs them, so that
//! weight layouts can be rearranged at compile time (see [`super::einsum`]), and each pending
//! constant is placed in the program at most once. `Where(IsNaN(p), c, p)` with `p` a softmax
//! output is dropped here because the IR has no NaN test and a softmax is never NaN.
//!
//! Invariant checked per node: the IR shape equals tract's concrete output shape.

use super::load::LoadedModel;
use super::{OnnxInfo, WeightVisibility};
use crate::error::FrontendError;
use secc_ir::{CompareKind, Encoding, GeluKind, InputRole, Op, Program, Tensor, ValueId, Weights};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{
    CumSum, Gather, GatherElements, GatherNd, MultiBroadcastTo, Slice, TypedConcat,
};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::konst::Const as TractConst;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, RmsNorm, Softmax, SoftmaxKind};
use tract_onnx::tract_core::ops::source::TypedSource;

/// What a tract outlet became.
#[derive(Debug, Clone)]
pub enum Lowered {
    Value(ValueId),
    /// A constant not yet placed in the program.
    Const(Rc<Tensor>),
    /// `IsNaN(outlet)`, only accepted as the condition of `Where` after a softmax.
    IsNan(OutletId),
}

/// The lowering state: the program being built and the value of every tract outlet so far.
pub struct Lowerer<'m> {
    pub model: &'m TypedModel,
    pub info: &'m OnnxInfo,
    pub program: Program,
    weights: Vec<Tensor>,
    values: HashMap<OutletId, Lowered>,
    /// tract's value of every constant outlet (to evaluate nodes on learned constants).
    tract_consts: HashMap<OutletId, TValue>,
    /// The learned initializer each learned constant outlet comes from.
    learned: HashMap<OutletId, Rc<str>>,
    /// Constants already placed in the program.
    placed: HashMap<OutletId, ValueId>,
    visibility: &'m WeightVisibility,
    param_names: HashSet<String>,
    /// The tract node being lowered (for names and messages).
    pub current: usize,
    /// Inputs declared public besides `attention_mask`.
    public_inputs: Vec<String>,
}

/// The inputs public by default: the attention mask alone (what BERT's exporters name it).
pub const DEFAULT_PUBLIC_INPUTS: &[&str] = &["attention_mask"];

/// Whether an input is public: exactly `attention_mask`, or one of `extra` (named with
/// `secc compile --public-input NAME`). Matching is exact: `masked_lm_ids` or `pixel_mask` stay
/// secret unless named.
pub fn is_public_input(name: &str, extra: &[String]) -> bool {
    DEFAULT_PUBLIC_INPUTS.contains(&name) || extra.iter().any(|e| e == name)
}

/// Lowers the whole model.
pub fn lower(
    loaded: &LoadedModel,
    model_name: &str,
    frac_bits: u32,
    public_inputs: &[String],
    visibility: &WeightVisibility,
) -> Result<(Program, Weights), FrontendError> {
    if let Some(unknown) = visibility
        .public
        .iter()
        .find(|name| !loaded.learned.contains_key(*name))
    {
        let mut known: Vec<&str> = loaded.learned.keys().map(String::as_str).collect();
        known.sort_unstable();
        known.truncate(8);
        return Err(FrontendError::UnknownWeight {
            name: unknown.clone(),
            known: known.join(", "),
        });
    }
    let model = &loaded.typed;
    let mut lw = Lowerer {
        model,
        info: &loaded.info,
        program: Program::new(model_name, frac_bits),
        weights: Vec::new(),
        values: HashMap::new(),
        tract_consts: HashMap::new(),
        learned: HashMap::new(),
        placed: HashMap::new(),
        visibility,
        param_names: HashSet::new(),
        current: 0,
        public_inputs: public_inputs.to_vec(),
    };
    let order = model.eval_order().map_err(|e| FrontendError::Internal {
        node: model_name.into(),
        message: format!("{e:#}"),
    })?;
    for id in order {
        lw.current = id;
        lw.lower_node(id, &loaded.learned)?;
    }
    let outlets = model.output_outlets().map_err(|e| lw.internal(e))?.to_vec();
    for (i, outlet) in outlets.iter().enumerate() {
        let name = loaded
            .output_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("output_{i}"));
        lw.current = outlet.node;
        let value = lw.value(*outlet)?;
        lw.program.add_output(name, value);
    }
    let weights = Weights {
        tensors: lw.weights,
    };
    Ok((lw.program, weights))
}

/// The IR encoding of a tract datum type: floats become fixed point, bools and integers keep
/// theirs.
fn encoding_of(dt: DatumType) -> Encoding {
    if dt.is_float() {
        Encoding::Fixed
    } else if dt == DatumType::Bool {
        Encoding::Bool
    } else {
        Encoding::Int
    }
}

/// A tract tensor as an IR tensor (floats become fixed point, bools and integers keep theirs).
pub fn ir_tensor(t: &tract_onnx::prelude::Tensor) -> TractResult<Tensor> {
    let dt = t.datum_type();
    let encoding = encoding_of(dt);
    let data: Vec<f64> = if dt == DatumType::Bool {
        let b = t.to_plain_array_view::<bool>()?;
        b.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect()
    } else if dt == DatumType::TDim {
        let i = t.cast_to::<i64>()?;
        i.to_plain_array_view::<i64>()?
            .iter()
            .map(|&x| x as f64)
            .collect()
    } else {
        let f = t.cast_to::<f64>()?;
        f.to_plain_array_view::<f64>()?.iter().copied().collect()
    };
    Ok(Tensor::new(t.shape().to_vec(), encoding, data))
}

impl<'m> Lowerer<'m> {
    fn node_name(&self) -> &'m str {
        &self.model.node(self.current).name
    }

    /// The ONNX node name used as the origin of the IR nodes made for the current tract node.
    pub fn origin(&self) -> String {
        self.info.onnx_node_name(self.node_name()).to_string()
    }

    pub fn internal(&self, e: impl std::fmt::Display) -> FrontendError {
        FrontendError::Internal {
            node: self.node_name().to_string(),
            message: format!("{e:#}"),
        }
    }

    pub fn unsupported(&self, detail: &str) -> FrontendError {
        self.info.unsupported(self.node_name(), detail)
    }

    /// Appends an IR op for the current node.
    pub fn push(&mut self, op: Op, args: Vec<ValueId>) -> Result<ValueId, FrontendError> {
        let origin = self.origin();
        self.program
            .push(op, args, origin)
            .map_err(|m| self.internal(m))
    }

    pub fn lowered(&self, outlet: OutletId) -> Result<Lowered, FrontendError> {
        self.values
            .get(&outlet)
            .cloned()
            .ok_or_else(|| self.internal(format!("outlet {outlet:?} used before it is lowered")))
    }

    /// The pending constant behind `outlet`, if it is one.
    pub fn constant(&self, outlet: OutletId) -> Option<Rc<Tensor>> {
        match self.values.get(&outlet) {
            Some(Lowered::Const(t)) => Some(t.clone()),
            _ => None,
        }
    }

    pub fn is_secret_value(&self, outlet: OutletId) -> bool {
        matches!(self.values.get(&outlet), Some(Lowered::Value(v)) if self.program.ty(*v).is_secret())
    }

    /// The learned initializer a pending constant comes from, if it is learned.
    pub fn learned(&self, outlet: OutletId) -> Option<Rc<str>> {
        self.learned.get(&outlet).cloned()
    }

    /// Places a constant tensor: a parameter when it comes from the learned initializer
    /// `learned` and the user did not make that one public, else a public constant.
    pub fn place_constant(
        &mut self,
        tensor: Tensor,
        learned: Option<Rc<str>>,
    ) -> Result<ValueId, FrontendError> {
        match learned {
            Some(base) if !self.visibility.is_public(&base) => {
                let mut name = base.to_string();
                let mut k = 2;
                while !self.param_names.insert(name.clone()) {
                    name = format!("{base}#{k}");
                    k += 1;
                }
                // A learned tensor is fixed point whatever tract made of it.
                let tensor = Tensor::new(tensor.shape, Encoding::Fixed, tensor.data);
                let v = self.program.add_param(name, tensor.shape.clone());
                self.weights.push(tensor);
                Ok(v)
            }
            _ => self.push(Op::Const { value: tensor }, vec![]),
        }
    }

    /// The IR value of `outlet`, placing a pending constant once (see [`Self::place_constant`]).
    pub fn value(&mut self, outlet: OutletId) -> Result<ValueId, FrontendError> {
        match self.lowered(outlet)? {
            Lowered::Value(v) => Ok(v),
            Lowered::Const(t) => {
                if let Some(&v) = self.placed.get(&outlet) {
                    return Ok(v);
                }
                let v = self.place_constant((*t).clone(), self.learned(outlet))?;
                self.placed.insert(outlet, v);
                Ok(v)
            }
            Lowered::IsNan(_) => Err(self.info.unsupported(
                &self.model.node(outlet.node).name,
                "IsNaN is only supported as `Where(IsNaN(p), c, p)` after a Softmax",
            )),
        }
    }

    /// The IR values of all inputs of the current node.
    fn input_values(&mut self) -> Result<Vec<ValueId>, FrontendError> {
        let inputs = self.model.node(self.current).inputs.clone();
        inputs.iter().map(|&i| self.value(i)).collect()
    }

    fn set(&mut self, value: Lowered) {
        self.values.insert(OutletId::new(self.current, 0), value);
    }

    fn set_const(&mut self, t: Tensor, tract: TValue, learned: Option<Rc<str>>) {
        let outlet = OutletId::new(self.current, 0);
        self.values.insert(outlet, Lowered::Const(Rc::new(t)));
        self.tract_consts.insert(outlet, tract);
        if let Some(name) = learned {
            self.learned.insert(outlet, name);
        }
    }

    /// Evaluates, with tract's kernel, a node whose inputs are all constants, at least one of
    /// them learned (tract did not fold it because it never saw the learned value); the result
    /// is learned and named after the first learned input.
    fn fold_learned(&mut self, node: &TypedNode) -> Result<bool, FrontendError> {
        let Some(name) = node.inputs.iter().find_map(|i| self.learned(*i)) else {
            return Ok(false);
        };
        let Some(inputs) = node
            .inputs
            .iter()
            .map(|i| self.tract_consts.get(i).cloned())
            .collect::<Option<TVec<TValue>>>()
        else {
            return Ok(false);
        };
        let Some(mut outputs) = node
            .op
            .eval_out_of_plan(inputs)
            .map_err(|e| self.internal(e))?
        else {
            return Ok(false);
        };
        if outputs.len() != 1 {
            return Ok(false);
        }
        let value = outputs.remove(0);
        let t = ir_tensor(&value).map_err(|e| self.internal(e))?;
        self.set_const(t, value, Some(name));
        Ok(true)
    }

    fn lower_node(
        &mut self,
        id: usize,
        learned: &HashMap<String, Arc<tract_onnx::prelude::Tensor>>,
    ) -> Result<(), FrontendError> {
        let node = self.model.node(id);
        let fact = self
            .model
            .outlet_fact(OutletId::new(id, 0))
            .map_err(|e| self.internal(e))?;
        if let Some(value) = learned.get(&node.name) {
            if node.op_as::<TypedSource>().is_some() {
                let t = ir_tensor(value).map_err(|e| self.internal(e))?;
                self.set_const(
                    t,
                    value.clone().into_tvalue(),
                    Some(node.name.as_str().into()),
                );
                return Ok(());
            }
        }
        if let Some(source) = node.op_as::<TypedSource>() {
            let shape = source
                .fact
                .shape
                .as_concrete()
                .ok_or_else(|| self.internal("input shape is not concrete"))?
                .to_vec();
            let encoding = encoding_of(source.fact.datum_type);
            let role = if is_public_input(&node.name, &self.public_inputs) {
                InputRole::ClientPublic
            } else {
                InputRole::Client
            };
            let v = self
                .program
                .add_input(node.name.clone(), role, shape, encoding);
            self.set(Lowered::Value(v));
            return Ok(());
        }
        if node.outputs.len() != 1 {
            return Err(self.unsupported("ops with several outputs are not supported"));
        }
        if let Some(konst) = node
            .op_as::<TractConst>()
            .map(|c| c.val().clone())
            .or(fact.konst.clone())
        {
            let t = ir_tensor(&konst).map_err(|e| self.internal(e))?;
            self.set_const(t, konst.into_tvalue(), None);
            return Ok(());
        }
        if self.fold_learned(node)? {
            return Ok(());
        }
        let lowered = self.lower_op(node)?;
        if let Lowered::Value(v) = &lowered {
            let expected = fact.shape.as_concrete();
            if expected != Some(self.program.ty(*v).shape.as_slice()) {
                return Err(self.internal(format!(
                    "lowered to shape {:?}, tract says {:?}",
                    self.program.ty(*v).shape,
                    fact.shape
                )));
            }
        }
        self.set(lowered);
        Ok(())
    }

    fn output_shape(&self) -> Result<Vec<usize>, FrontendError> {
        let fact = self
            .model
            .outlet_fact(OutletId::new(self.current, 0))
            .map_err(|e| self.internal(e))?;
        fact.shape
            .as_concrete()
            .map(|s| s.to_vec())
            .ok_or_else(|| self.internal("output shape is not concrete"))
    }

    fn lower_op(&mut self, node: &TypedNode) -> Result<Lowered, FrontendError> {
        let v = |x: ValueId| Ok(Lowered::Value(x));
        if let Some(bin) = node.op_as::<TypedBinOp>() {
            return self.lower_binary(bin.0.name());
        }
        if let Some(ew) = node.op_as::<ElementWiseOp>() {
            return self.lower_unary(&ew.0.name(), node);
        }
        if let Some(op) = node.op_as::<EinSum>() {
            if op.q_params.is_some() {
                return Err(self.unsupported("quantized einsum"));
            }
            return super::einsum::lower_einsum(self, op).map(Lowered::Value);
        }
        if let Some(op) = node.op_as::<AxisOp>() {
            let args = self.input_values()?;
            let op = match op {
                AxisOp::Move(from, to) => {
                    let rank = self.program.ty(args[0]).rank();
                    let mut perm: Vec<usize> = (0..rank).collect();
                    let axis = perm.remove(*from);
                    perm.insert(*to, axis);
                    Op::Transpose { perm }
                }
                _ => Op::Reshape {
                    shape: self.output_shape()?,
                },
            };
            return v(self.push(op, args)?);
        }
        if node.op_as::<MultiBroadcastTo>().is_some() {
            let args = self.input_values()?;
            let shape = self.output_shape()?;
            return v(self.push(Op::Broadcast { shape }, args)?);
        }
        if let Some(op) = node.op_as::<Slice>() {
            let args = self.input_values()?;
            let (start, end) = match (op.start.as_i64(), op.end.as_i64()) {
                (Some(s), Some(e)) if s >= 0 && e >= s => (s as usize, e as usize),
                _ => return Err(self.unsupported("slice bounds are not concrete")),
            };
            if start == end {
                return Err(self.unsupported("empty slice"));
            }
            return v(self.push(
                Op::Slice {
                    axis: op.axis,
                    start,
                    end,
                },
                args,
            )?);
        }
        if let Some(op) = node.op_as::<TypedConcat>() {
            let args = self.input_values()?;
            if args.len() == 1 {
                return v(args[0]);
            }
            return v(self.push(Op::Concat { axis: op.axis }, args)?);
        }
        if let Some(op) = node.op_as::<Gather>() {
            return self.lower_gather(op.axis, node);
        }
        if let Some(op) = node.op_as::<GatherElements>() {
            // Constant indices (DeBERTa's relative positions): a local gather of any data;
            // computed indices (the client's prologue): the IR's own op.
            if self.constant(node.inputs[1]).is_some() {
                return super::ops_gather::lower_gather_elements(self, op.axis, node);
            }
            let args = self.input_values()?;
            return v(self.push(Op::GatherElements { axis: op.axis }, args)?);
        }
        if let Some(op) = node.op_as::<GatherNd>() {
            return self.lower_gather_nd(op.batch_dims, node);
        }
        if let Some(op) = node.op_as::<CumSum>() {
            let args = self.input_values()?;
            let op = Op::CumSum {
                axis: op.axis,
                exclusive: op.exclusive,
                reverse: op.reverse,
            };
            return v(self.push(op, args)?);
        }
        if let Some(op) = node.op_as::<Cast>() {
            return self.lower_cast(op.to);
        }
        if node.op_as::<Iff>().is_some() {
            return self.lower_where(node);
        }
        if let Some(op) = node.op_as::<Softmax>() {
            if op.kind != SoftmaxKind::Softmax || op.axes.len() != 1 || op.quant_output_dt.is_some()
            {
                return Err(self.unsupported("only a float softmax over one axis"));
            }
            let args = self.input_values()?;
            return v(self.push(Op::Softmax { axis: op.axes[0] }, args)?);
        }
        if let Some(op) = node.op_as::<Reduce>() {
            let args = self.input_values()?;
            let axes: Vec<usize> = op.axes.to_vec();
            let keep_dims = true; // tract's Reduce keeps the reduced axes
            let op = match op.reducer {
                Reducer::Sum => Op::ReduceSum { axes, keep_dims },
                Reducer::Max => Op::ReduceMax { axes, keep_dims },
                Reducer::MeanOfSquares => {
                    let sq = self.push(Op::Pow { exponent: 2 }, args.clone())?;
                    return v(self.push(Op::ReduceMean { axes, keep_dims }, vec![sq])?);
                }
                _ => return Err(self.unsupported(&format!("reduction {:?}", op.reducer))),
            };
            return v(self.push(op, args)?);
        }
        if let Some(op) = node.op_as::<RmsNorm>() {
            // x / sqrt(mean(x^2) + eps): the form the layer-norm pass recognises.
            let args = self.input_values()?;
            let eps = op
                .eps
                .cast_to_scalar::<f64>()
                .map_err(|e| self.internal(e))?;
            let axes = vec![op.axis];
            let sq = self.push(Op::Pow { exponent: 2 }, args.clone())?;
            let mean = self.push(
                Op::ReduceMean {
                    axes,
                    keep_dims: true,
                },
                vec![sq],
            )?;
            let eps = self.push(
                Op::Const {
                    value: Tensor::scalar(eps, Encoding::Fixed),
                },
                vec![],
            )?;
            let shifted = self.push(Op::Add, vec![mean, eps])?;
            let root = self.push(Op::Sqrt, vec![shifted])?;
            return v(self.push(Op::Div, vec![args[0], root])?);
        }
        Err(self.unsupported(&format!("tract op {}", node.op.name())))
    }

    fn lower_binary(&mut self, mini: &str) -> Result<Lowered, FrontendError> {
        let inputs = self.model.node(self.current).inputs.clone();
        let scalar_of =
            |lw: &Self, i: usize| lw.constant(inputs[i]).and_then(|t| t.uniform_value());
        let simple = match mini {
            "Add" => Some(Op::Add),
            "Sub" => Some(Op::Sub),
            "Mul" | "And" => Some(Op::Mul),
            "Div" => Some(Op::Div),
            "Eq" => Some(Op::Compare {
                kind: CompareKind::Equal,
            }),
            "LT" => Some(Op::Compare {
                kind: CompareKind::Less,
            }),
            "LTE" => Some(Op::Compare {
                kind: CompareKind::LessEqual,
            }),
            "GT" => Some(Op::Compare {
                kind: CompareKind::Greater,
            }),
            "GTE" => Some(Op::Compare {
                kind: CompareKind::GreaterEqual,
            }),
            _ => None,
        };
        if let Some(op) = simple {
            let args = self.input_values()?;
            return Ok(Lowered::Value(self.push(op, args)?));
        }
        match mini {
            "Max" | "Min" => {
                // Clamping by a scalar constant (Relu, Clip); tract broadcasts it to full rank.
                let (x, bound) = match (scalar_of(self, 0), scalar_of(self, 1)) {
                    (None, Some(b)) => (inputs[0], b),
                    (Some(b), None) => (inputs[1], b),
                    _ => return Err(self.unsupported("max/min of two tensors")),
                };
                let shape = self.output_shape()?;
                let x = self.value(x)?;
                let op = match mini {
                    "Max" if bound == 0.0 => Op::Relu,
                    "Max" => Op::Clip {
                        min: Some(bound),
                        max: None,
                    },
                    _ => Op::Clip {
                        min: None,
                        max: Some(bound),
                    },
                };
                let mut out = self.push(op, vec![x])?;
                if self.program.ty(out).shape != shape {
                    out = self.push(Op::Broadcast { shape }, vec![out])?;
                }
                Ok(Lowered::Value(out))
            }
            "Pow" => {
                let e = scalar_of(self, 1)
                    .ok_or_else(|| self.unsupported("pow by a non-constant exponent"))?;
                let x = self.value(inputs[0])?;
                self.power(x, e)
            }
            "Or" => {
                let args = self.input_values()?;
                let both = self.push(Op::Mul, args.clone())?;
                let sum = self.push(Op::Add, args)?;
                Ok(Lowered::Value(self.push(Op::Sub, vec![sum, both])?))
            }
            _ => Err(self.unsupported(&format!("binary op {mini}"))),
        }
    }

    fn power(&mut self, x: ValueId, e: f64) -> Result<Lowered, FrontendError> {
        let op = if e == 0.5 {
            Op::Sqrt
        } else if e == -1.0 {
            Op::Reciprocal
        } else if (1.0..=16.0).contains(&e) && e.fract() == 0.0 {
            Op::Pow { exponent: e as u32 }
        } else {
            return Err(self.unsupported(&format!("pow with exponent {e}")));
        };
        Ok(Lowered::Value(self.push(op, vec![x])?))
    }

    fn lower_unary(&mut self, mini: &str, node: &TypedNode) -> Result<Lowered, FrontendError> {
        if mini == "IsNan" {
            return Ok(Lowered::IsNan(node.inputs[0]));
        }
        let x = self.input_values()?[0];
        let op = match mini {
            "GeluExact" => Op::Gelu {
                kind: GeluKind::Erf,
            },
            "GeluApproximate" => {
                let fast = node
                    .op_as::<ElementWiseOp>()
                    .map(|o| format!("{:?}", o.0).contains("fast_impl: true"))
                    .unwrap_or(false);
                if fast {
                    return Err(self.unsupported("the x^2 fast GeLU approximation"));
                }
                Op::Gelu {
                    kind: GeluKind::Tanh,
                }
            }
            "Erf" => Op::Erf,
            "Tanh" => Op::Tanh,
            "Exp" => Op::Exp,
            "Sqrt" => Op::Sqrt,
            "Recip" => Op::Reciprocal,
            "Square" => Op::Pow { exponent: 2 },
            "Neg" => Op::Neg,
            "Rsqrt" => {
                let r = self.push(Op::Sqrt, vec![x])?;
                return Ok(Lowered::Value(self.push(Op::Reciprocal, vec![r])?));
            }
            "Not" => {
                let one = self.push(
                    Op::Const {
                        value: Tensor::scalar(1.0, Encoding::Bool),
                    },
                    vec![],
                )?;
                return Ok(Lowered::Value(self.push(Op::Sub, vec![one, x])?));
            }
            _ if mini.starts_with("PowConst") => {
                let text = format!("{:?}", node.op);
                let e: f64 = text
                    .split("exponent:")
                    .nth(1)
                    .and_then(|s| {
                        s.trim()
                            .trim_end_matches(['}', ')', ' '])
                            .split([' ', '}', ','])
                            .next()
                    })
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| self.internal(format!("cannot read the exponent of {text}")))?;
                return self.power(x, e);
            }
            _ => return Err(self.unsupported(&format!("element-wise op {mini}"))),
        };
        Ok(Lowered::Value(self.push(op, vec![x])?))
    }

    fn lower_cast(&mut self, to: DatumType) -> Result<Lowered, FrontendError> {
        let target = if to.is_float() {
            Encoding::Fixed
        } else if to == DatumType::Bool {
            Encoding::Bool
        } else {
            Encoding::Int
        };
        let x = self.input_values()?[0];
        let from = self.program.ty(x).encoding;
        if from == target {
            return Ok(Lowered::Value(x)); // float -> float casts are no-ops in fixed point
        }
        Ok(Lowered::Value(self.push(Op::Cast { to: target }, vec![x])?))
    }

    fn lower_where(&mut self, node: &TypedNode) -> Result<Lowered, FrontendError> {
        let inputs = node.inputs.clone();
        if let Lowered::IsNan(p) = self.lowered(inputs[0])? {
            // Where(IsNaN(p), c, p) after a softmax: p is never NaN, so this is p.
            let after_softmax = self.model.node(p.node).op_as::<Softmax>().is_some();
            if after_softmax && inputs[2] == p && self.constant(inputs[1]).is_some() {
                return self.lowered(p);
            }
            return Err(self.info.unsupported(
                &self.model.node(inputs[0].node).name,
                "IsNaN is only supported as `Where(IsNaN(p), c, p)` after a Softmax",
            ));
        }
        if let Some(v) = super::ops_mask::masked_fill_before_softmax(self, node)? {
            return Ok(v);
        }
        let args = self.input_values()?;
        if self.program.ty(args[0]).is_secret() {
            return Err(self.unsupported("Where with a secret condition"));
        }
        Ok(Lowered::Value(self.push(Op::Where, args)?))
    }

    fn lower_gather(&mut self, axis: usize, node: &TypedNode) -> Result<Lowered, FrontendError> {
        let (data, indices) = (node.inputs[0], node.inputs[1]);
        if self.is_secret_value(indices) {
            let table = self.constant(data).ok_or_else(|| {
                self.unsupported("gather from a computed table by secret indices")
            })?;
            if axis != 0 || table.shape.len() != 2 {
                return Err(self.unsupported("embedding lookups need a 2-D table and axis 0"));
            }
            let table = self.value(data)?;
            let ids = self.value(indices)?;
            return Ok(Lowered::Value(self.push(Op::Embedding, vec![table, ids])?));
        }
        let data = self.value(data)?;
        let idx = self.value(indices)?;
        Ok(Lowered::Value(
            self.push(Op::Gather { axis }, vec![data, idx])?,
        ))
    }

    /// GatherND by constant indices (batch_dims 0) is a gather from the flattened leading axes.
    fn lower_gather_nd(
        &mut self,
        batch_dims: usize,
        node: &TypedNode,
    ) -> Result<Lowered, FrontendError> {
        let indices = self
            .constant(node.inputs[1])
            .ok_or_else(|| self.unsupported("GatherND by computed indices"))?;
        if batch_dims != 0 {
            return Err(self.unsupported("GatherND with batch_dims"));
        }
        let data = self.value(node.inputs[0])?;
        let data_shape = self.program.ty(data).shape.clone();
        let depth = *indices
            .shape
            .last()
            .ok_or_else(|| self.unsupported("scalar indices"))?;
        if depth == 0 || depth > data_shape.len() {
            return Err(self.unsupported("GatherND index depth"));
        }
        let lead: usize = data_shape[..depth].iter().product();
        let mut flat_shape = vec![lead];
        flat_shape.extend_from_slice(&data_shape[depth..]);
        let flat = self.push(Op::Reshape { shape: flat_shape }, vec![data])?;
        let mut flat_idx = Vec::with_capacity(indices.len() / depth);
        for tuple in indices.data.chunks(depth) {
            let mut k = 0i64;
            for (&i, &d) in tuple.iter().zip(&data_shape[..depth]) {
                let i = if i < 0.0 {
                    i as i64 + d as i64
                } else {
                    i as i64
                };
                k = k * d as i64 + i;
            }
            flat_idx.push(k as f64);
        }
        let idx_shape = indices.shape[..indices.shape.len() - 1].to_vec();
        let idx = self.push(
            Op::Const {
                value: Tensor::new(idx_shape, Encoding::Int, flat_idx),
            },
            vec![],
        )?;
        Ok(Lowered::Value(
            self.push(Op::Gather { axis: 0 }, vec![flat, idx])?,
        ))
    }
}
