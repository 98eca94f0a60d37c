//! Loading an ONNX file with tract at concrete input shapes.
//!
//! Owns: reading the protobuf, deciding every input's concrete shape (from `--batch`/`--seq-len`
//! or from exact shapes given by an input file), the checks that give clear errors before tract
//! runs (not ONNX, no or non-concrete input shape, `--seq-len` beyond the position table, ops
//! tract does not know), and producing tract's decluttered typed model. tract folds the dynamic
//! Shape/Gather/Concat chains of PyTorch exports once the shapes are concrete.
//!
//! Weight provenance: every learned float initializer (see [`is_learned`]) is taken out of the
//! initializer list and handed to tract as a model input (a source of known shape) instead of a
//! constant, with its value kept in [`LoadedModel::learned`]. tract therefore never sees its
//! value and cannot fold it away: a LayerNorm scale of all ones would otherwise vanish as a
//! multiplication by one, a zero bias as an addition of zero, and a uniform table would become a
//! scalar. The lowering ([`super::lower`]) turns these sources back into constants that remember
//! the initializer they came from, which is what makes them the model owner's secrets.
//!
//! Shape rule: a declared dimension that is a number is kept; a symbolic dimension (`dim_param`)
//! takes the value that an exact input shape gave the same symbol, else `batch` at position 0,
//! `seq_len` at position 1, and is an error anywhere else.

use crate::error::FrontendError;
use crate::frontend::OnnxInfo;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::prelude::*;

/// How to choose the concrete input shapes.
#[derive(Debug, Clone)]
pub struct ShapeRequest {
    pub batch: usize,
    pub seq_len: usize,
    /// Exact shapes of some inputs (for instance the arrays of an input file).
    pub exact: BTreeMap<String, Vec<usize>>,
}

/// A declared model input with the shape and element type chosen for it.
#[derive(Debug, Clone)]
pub struct ModelInput {
    pub name: String,
    pub shape: Vec<usize>,
    pub datum_type: DatumType,
}

/// The decluttered model and what the lowering needs to know about the original file.
pub struct LoadedModel {
    pub typed: TypedModel,
    pub info: OnnxInfo,
    pub inputs: Vec<ModelInput>,
    pub output_names: Vec<String>,
    /// The learned initializers, by name: tract sees them as sources (see the module docs).
    pub learned: HashMap<String, Arc<Tensor>>,
}

/// Whether an initializer is learned data of the model owner: a float tensor of rank one or
/// more (any size, any values). Rank-0 float initializers are the exporter's scalar constants
/// (eps, a 1/sqrt(d) scale); integer and boolean initializers are buffers (position ids, shapes,
/// axes). Both stay public constants.
pub fn is_learned(t: &pb::TensorProto) -> bool {
    const FLOAT: i32 = 1;
    const FLOAT16: i32 = 10;
    const DOUBLE: i32 = 11;
    const BFLOAT16: i32 = 16;
    matches!(t.data_type, FLOAT | FLOAT16 | DOUBLE | BFLOAT16) && !t.dims.is_empty()
}

fn tract_error(e: impl std::fmt::Display) -> FrontendError {
    FrontendError::Tract {
        message: format!("{e:#}"),
    }
}

/// Reads and types `path` at the requested shapes.
pub fn load(path: &Path, request: &ShapeRequest) -> Result<LoadedModel, FrontendError> {
    let bytes = std::fs::read(path).map_err(|e| FrontendError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let not_onnx = |reason: String| FrontendError::NotOnnx {
        path: path.to_owned(),
        reason,
    };
    let mut proto: pb::ModelProto = prost::Message::decode(bytes.as_slice())
        .map_err(|e| not_onnx(format!("protobuf decoding failed ({e})")))?;
    drop(bytes);
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("the file has no graph".into()))?;
    if graph.node.is_empty() || graph.output.is_empty() || proto.opset_import.is_empty() {
        return Err(not_onnx(
            "the file has no nodes, no outputs or no opset".into(),
        ));
    }
    let info = OnnxInfo::from_graph(graph);
    let inputs = choose_input_shapes(graph, &info, request)?;
    check_position_tables(graph, &info, &inputs, request.seq_len)?;

    let onnx = tract_onnx::onnx()
        // Exporters write symbolic value_info (e.g. `[1, sequence]`) that contradicts concrete
        // input shapes; tract infers every shape itself.
        .with_ignore_value_info(true)
        .with_ignore_output_shapes(true);
    let dir = path.parent().and_then(|d| d.to_str());
    let learned = detach_learned(&mut proto, &onnx, dir)?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("the file has no graph".into()))?;
    let parsed = onnx.parse(&proto, dir).map_err(tract_error)?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(not_onnx(format!(
            "unresolved tensors {:?}",
            parsed.unresolved_inputs
        )));
    }
    let mut model = parsed.model;
    for node in model.nodes() {
        let op_name = node.op.name();
        if op_name.starts_with("Unimplemented(") {
            return Err(info.unsupported(&node.name, "tract has no implementation of it"));
        }
    }
    let by_name: HashMap<&str, &ModelInput> = inputs.iter().map(|i| (i.name.as_str(), i)).collect();
    let outlets = model.input_outlets().map_err(tract_error)?.to_vec();
    for (i, outlet) in outlets.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        if let Some(t) = learned.get(&name) {
            model
                .set_input_fact(
                    i,
                    InferenceFact::dt_shape(t.datum_type(), t.shape().to_vec()),
                )
                .map_err(tract_error)?;
            continue;
        }
        let input = by_name
            .get(name.as_str())
            .ok_or_else(|| FrontendError::Internal {
                node: name.clone(),
                message: "tract input without an ONNX graph input".into(),
            })?;
        model
            .set_input_fact(
                i,
                InferenceFact::dt_shape(input.datum_type, input.shape.clone()),
            )
            .map_err(tract_error)?;
    }
    let typed = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(tract_error)?;
    let output_names = graph.output.iter().map(|o| o.name.clone()).collect();
    Ok(LoadedModel {
        typed,
        info,
        inputs,
        output_names,
        learned,
    })
}

/// Moves the learned initializers out of the graph's initializer list into its inputs (so that
/// tract makes them sources) and returns their values.
fn detach_learned(
    proto: &mut pb::ModelProto,
    onnx: &tract_onnx::Onnx,
    dir: Option<&str>,
) -> Result<HashMap<String, Arc<Tensor>>, FrontendError> {
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(HashMap::new());
    };
    let (learned, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut graph.initializer)
        .into_iter()
        .partition(is_learned);
    graph.initializer = kept;
    let mut values = HashMap::new();
    for t in learned {
        let value = tract_onnx::tensor::load_tensor(&*onnx.provider, &t, dir).map_err(|e| {
            FrontendError::Tract {
                message: format!("initializer '{}': {e:#}", t.name),
            }
        })?;
        // Old exports also list initializers among the graph inputs; they are inputs already.
        if !graph.input.iter().any(|i| i.name == t.name) {
            graph.input.push(pb::ValueInfoProto {
                name: t.name.clone(),
                r#type: Some(pb::TypeProto {
                    value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                        elem_type: t.data_type,
                        shape: Some(pb::TensorShapeProto {
                            dim: t
                                .dims
                                .iter()
                                .map(|&d| pb::tensor_shape_proto::Dimension {
                                    value: Some(DimValue::DimValue(d)),
                                    ..Default::default()
                                })
                                .collect(),
                        }),
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        values.insert(t.name.clone(), Arc::new(value));
    }
    Ok(values)
}

fn datum_type_of(elem_type: i32) -> Option<DatumType> {
    Some(match elem_type {
        1 => DatumType::F32,
        2 => DatumType::U8,
        3 => DatumType::I8,
        6 => DatumType::I32,
        7 => DatumType::I64,
        9 => DatumType::Bool,
        10 => DatumType::F16,
        11 => DatumType::F64,
        _ => return None,
    })
}

/// A declared dimension: `Ok(n)` for a number, `Err(symbol)` for a symbolic (or unnamed) one.
type DeclaredDim = Result<usize, String>;

fn choose_input_shapes(
    graph: &pb::GraphProto,
    info: &OnnxInfo,
    request: &ShapeRequest,
) -> Result<Vec<ModelInput>, FrontendError> {
    let bad = |input: &str, reason: String| FrontendError::InputShape {
        input: input.to_string(),
        reason,
    };
    let mut declared: Vec<(String, DatumType, Vec<DeclaredDim>)> = Vec::new();
    for input in &graph.input {
        if info.initializers.contains_key(&input.name) {
            continue; // old exports list initializers among the inputs
        }
        let Some(pb::type_proto::Value::TensorType(tensor)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(bad(&input.name, "is not a tensor".into()));
        };
        let dt = datum_type_of(tensor.elem_type).ok_or_else(|| {
            bad(
                &input.name,
                format!("unsupported element type {}", tensor.elem_type),
            )
        })?;
        let shape = tensor.shape.as_ref().ok_or_else(|| {
            bad(
                &input.name,
                "the model declares no shape for it, so secc cannot choose a concrete one".into(),
            )
        })?;
        let dims = shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(DimValue::DimValue(v)) if *v > 0 => Ok(*v as usize),
                Some(DimValue::DimParam(p)) if !p.is_empty() => Err(p.clone()),
                _ => Err(String::new()),
            })
            .collect();
        declared.push((input.name.clone(), dt, dims));
    }
    let mut symbols: HashMap<String, usize> = HashMap::new();
    for (name, _, dims) in &declared {
        let Some(exact) = request.exact.get(name) else {
            continue;
        };
        let fits = exact.len() == dims.len()
            && dims.iter().zip(exact).all(|(d, &e)| match d {
                Ok(n) => *n == e,
                Err(sym) => sym.is_empty() || *symbols.entry(sym.clone()).or_insert(e) == e,
            });
        if !fits {
            return Err(bad(
                name,
                format!(
                    "has shape {exact:?}, the model declares {}",
                    show_dims(dims)
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for (name, dt, dims) in declared {
        let shape = match request.exact.get(&name) {
            Some(exact) => exact.clone(),
            None => dims
                .iter()
                .enumerate()
                .map(|(pos, d)| match d {
                    Ok(n) => Ok(*n),
                    Err(sym) if symbols.contains_key(sym) => Ok(symbols[sym]),
                    Err(_) if pos == 0 => Ok(request.batch),
                    Err(_) if pos == 1 => Ok(request.seq_len),
                    Err(_) => Err(bad(
                        &name,
                        format!(
                            "dimension {pos} of {} is not concrete and is neither the batch \
                             (0) nor the sequence (1) axis",
                            show_dims(&dims)
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        out.push(ModelInput {
            name,
            shape,
            datum_type: dt,
        });
    }
    Ok(out)
}

fn show_dims(dims: &[DeclaredDim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Ok(n) => n.to_string(),
            Err(s) if s.is_empty() => "?".into(),
            Err(s) => s.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// A `Gather` from an initializer named like a position table, with computed indices, can only
/// serve as many positions as the table has rows. tract would fail much later with a shape
/// error, so check it here.
fn check_position_tables(
    graph: &pb::GraphProto,
    info: &OnnxInfo,
    inputs: &[ModelInput],
    seq_len: usize,
) -> Result<(), FrontendError> {
    // The sequence length actually used: the largest axis-1 extent among the inputs.
    let used = inputs
        .iter()
        .filter(|i| i.shape.len() >= 2)
        .map(|i| i.shape[1])
        .max()
        .unwrap_or(seq_len);
    for node in &graph.node {
        if node.op_type != "Gather" {
            continue;
        }
        let Some(table) = node.input.first() else {
            continue;
        };
        let Some(dims) = info.initializers.get(table) else {
            continue;
        };
        if table.to_lowercase().contains("position") && dims.first().is_some_and(|&r| r < used) {
            return Err(FrontendError::SeqLenTooLong {
                seq_len: used,
                table: table.clone(),
                rows: dims[0],
                node: node.name.clone(),
            });
        }
    }
    Ok(())
}
