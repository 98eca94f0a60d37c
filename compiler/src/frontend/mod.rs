//! The ONNX frontend: tract loads the model at concrete shapes ([`load`]), and [`lower`] turns
//! tract's decluttered typed model into an IR [`Program`] plus the model owner's [`Weights`].
//!
//! Invariants of the produced program: it verifies; every node's origin is the name of the ONNX
//! node it came from (tract's suffixes such as `.fix-rank.1` stripped when the prefix is an ONNX
//! node); parameters are named after the ONNX initializer they come from. The rules
//! for what is public and what is secret are those of [`lower`] (also in docs/frontend.md).

pub mod einsum;
pub mod load;
pub mod lower;
pub mod ops_gather;
pub mod ops_mask;

use crate::error::FrontendError;
use secc_ir::{Program, Weights};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use tract_onnx::pb;

pub use load::ShapeRequest;

/// Which learned initializers the user made public (`secc compile --public-weights`,
/// `--public-weight NAME`); every other learned initializer is a secret parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightVisibility {
    /// Every learned initializer is public: products with them are local.
    pub all_public: bool,
    /// These learned initializers are public (each must name one).
    pub public: BTreeSet<String>,
}

impl WeightVisibility {
    pub fn is_public(&self, initializer: &str) -> bool {
        self.all_public || self.public.contains(initializer)
    }
}

/// Names from the original ONNX graph that tract does not keep.
#[derive(Debug, Clone, Default)]
pub struct OnnxInfo {
    /// Initializer name -> dims.
    pub initializers: HashMap<String, Vec<usize>>,
    /// Node name -> (op type, input tensor names).
    pub nodes: HashMap<String, (String, Vec<String>)>,
}

/// The ONNX op types secc lowers, directly or after tract folds them (for the error message).
pub const SUPPORTED_ONNX_OPS: &[&str] = &[
    "Add",
    "And",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "CumSum",
    "Div",
    "Einsum",
    "Equal",
    "Erf",
    "Expand",
    "Flatten",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gemm",
    "Greater",
    "GreaterOrEqual",
    "Identity",
    "IsNaN (after Softmax)",
    "LayerNormalization",
    "Less",
    "LessOrEqual",
    "MatMul",
    "Max",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL2",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Shape",
    "Slice",
    "Softmax",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Where",
];

impl OnnxInfo {
    pub fn from_graph(graph: &pb::GraphProto) -> Self {
        let initializers = graph
            .initializer
            .iter()
            .map(|t| (t.name.clone(), t.dims.iter().map(|&d| d as usize).collect()))
            .collect();
        let nodes = graph
            .node
            .iter()
            .map(|n| (n.name.clone(), (n.op_type.clone(), n.input.clone())))
            .collect();
        OnnxInfo {
            initializers,
            nodes,
        }
    }

    /// The ONNX node a tract node name derives from: tract appends suffixes such as
    /// `.fix-rank.1`, `.gelu_exact` or `-recip` to the names of the nodes it rewrites.
    pub fn onnx_node_name<'a>(&self, tract_name: &'a str) -> &'a str {
        let mut name = tract_name;
        loop {
            if self.nodes.contains_key(name) {
                return name;
            }
            match name.rfind(['.', '-']) {
                Some(cut) if cut > 0 => name = &name[..cut],
                _ => return tract_name,
            }
        }
    }

    /// The ONNX op type of the node a tract node derives from.
    pub fn op_type(&self, tract_name: &str) -> Option<&str> {
        self.nodes
            .get(self.onnx_node_name(tract_name))
            .map(|(op, _)| op.as_str())
    }

    /// The initializer a constant of `elements` elements named `tract_name` came from, if any:
    /// either the name itself (minus a tract suffix) or the one input of the ONNX node it was
    /// folded into with the same number of elements.
    pub fn initializer_name(&self, tract_name: &str, elements: usize) -> Option<String> {
        let mut name = tract_name;
        loop {
            if self.initializers.contains_key(name) {
                return Some(name.to_string());
            }
            match name.rfind('.') {
                Some(cut) if cut > 0 => name = &name[..cut],
                _ => break,
            }
        }
        let (_, inputs) = self.nodes.get(self.onnx_node_name(tract_name))?;
        let mut candidates = inputs.iter().filter(|i| {
            self.initializers
                .get(*i)
                .is_some_and(|d| d.iter().product::<usize>() == elements)
        });
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// The unsupported-op error for a tract node.
    pub fn unsupported(&self, tract_name: &str, detail: &str) -> FrontendError {
        FrontendError::UnsupportedOp {
            node: self.onnx_node_name(tract_name).to_string(),
            op_type: self.op_type(tract_name).unwrap_or("?").to_string(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
            supported: SUPPORTED_ONNX_OPS.join(", "),
        }
    }
}

/// Loads `path` at the requested shapes and lowers it into the IR; `public_inputs` are
/// declared public besides `attention_mask` (see [`lower::is_public_input`]).
pub fn import(
    path: &Path,
    request: &ShapeRequest,
    frac_bits: u32,
    public_inputs: &[String],
    visibility: &WeightVisibility,
) -> Result<(Program, Weights), FrontendError> {
    let model_name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    // tract may panic on malformed models; turn that into an error rather than a crash.
    let run = || -> Result<(Program, Weights), FrontendError> {
        let loaded = load::load(path, request)?;
        lower::lower(&loaded, &model_name, frac_bits, public_inputs, visibility)
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    match result {
        Ok(r) => r,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(FrontendError::Tract {
                message: format!("tract panicked while loading the model: {message}"),
            })
        }
    }
}
