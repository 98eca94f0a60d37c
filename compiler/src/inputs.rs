//! Client input files: a JSON object mapping input names to nested arrays, or an `.npz`.
//!
//! Completion rule ([`complete`]): every program input must be given with exactly its declared
//! shape, except that a missing input whose name contains `token_type` defaults to zeros (BERT
//! exports take segment ids the user usually does not have). Names the program does not know
//! are ignored, so one input file can serve several models.

use crate::error::DataError;
use ndarray::{ArrayD, IxDyn};
use secc_ir::Program;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Named arrays as read from a file.
pub type InputArrays = BTreeMap<String, ArrayD<f64>>;

fn invalid(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Reads a `.json` or `.npz` input file.
pub fn read(path: &Path) -> Result<InputArrays, DataError> {
    if path.extension().is_some_and(|e| e == "npz") {
        return read_npz(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::Io {
        action: "read",
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| invalid(path, format!("not JSON: {e}")))?;
    let Value::Object(map) = json else {
        return Err(invalid(
            path,
            "expected a JSON object of input names to arrays",
        ));
    };
    map.into_iter()
        .map(|(name, value)| {
            let array = nested_to_array(&value)
                .map_err(|m| invalid(path, format!("input '{name}': {m}")))?;
            Ok((name, array))
        })
        .collect()
}

fn read_npz(path: &Path) -> Result<InputArrays, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::Io {
        action: "open",
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut npz =
        ndarray_npy::NpzReader::new(file).map_err(|e| invalid(path, format!("not npz: {e}")))?;
    let names = npz.names().map_err(|e| invalid(path, e.to_string()))?;
    let mut out = InputArrays::new();
    for name in names {
        let key = name.trim_end_matches(".npy").to_string();
        let array: ArrayD<f64> = if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>(&name)
        {
            a
        } else if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>(&name) {
            a.mapv(f64::from)
        } else if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i64>, IxDyn>(&name) {
            a.mapv(|x| x as f64)
        } else if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i32>, IxDyn>(&name) {
            a.mapv(f64::from)
        } else {
            return Err(invalid(
                path,
                format!("array '{key}' is not f64, f32, i64 or i32"),
            ));
        };
        out.insert(key, array);
    }
    Ok(out)
}

/// A rectangular nested JSON array of numbers (or booleans) as an array.
pub fn nested_to_array(value: &Value) -> Result<ArrayD<f64>, String> {
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut data = Vec::new();
    flatten(value, &shape, &mut data)?;
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| e.to_string())
}

fn flatten(value: &Value, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
    match (value, shape.split_first()) {
        (Value::Array(items), Some((&n, rest))) if items.len() == n => {
            items.iter().try_for_each(|item| flatten(item, rest, out))
        }
        (Value::Number(x), None) => {
            out.push(x.as_f64().ok_or("number out of range")?);
            Ok(())
        }
        (Value::Bool(b), None) => {
            out.push(if *b { 1.0 } else { 0.0 });
            Ok(())
        }
        _ => Err("not a rectangular array of numbers".into()),
    }
}

/// The arrays the program reads, completed by the rule of the module documentation.
pub fn complete(
    program: &Program,
    given: &InputArrays,
    path: &Path,
) -> Result<HashMap<String, ArrayD<f64>>, DataError> {
    let mut out = HashMap::new();
    for decl in &program.inputs {
        let array = match given.get(&decl.name) {
            Some(a) if a.shape() == decl.ty.shape.as_slice() => a.clone(),
            Some(a) => {
                return Err(invalid(
                    path,
                    format!(
                        "input '{}' has shape {:?}, the program expects {:?}",
                        decl.name,
                        a.shape(),
                        decl.ty.shape
                    ),
                ))
            }
            None if decl.name.contains("token_type") => ArrayD::zeros(IxDyn(&decl.ty.shape)),
            None => {
                return Err(invalid(
                    path,
                    format!(
                        "input '{}' (shape {:?}) is missing",
                        decl.name, decl.ty.shape
                    ),
                ))
            }
        };
        out.insert(decl.name.clone(), array);
    }
    Ok(out)
}
