//! The plaintext reference run (`secc reference`): the program evaluated in f64 by the IR's
//! interpreter, and the result written as the JSON contract of the brief
//! (`{"outputs": [{"name", "shape", "data"}]}`, row-major) or as `.npy` / `.npz`.

use crate::error::DataError;
use ndarray::ArrayD;
use secc_ir::interp::evaluate;
use secc_ir::{Encoding, Program, Weights};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

/// One named result.
#[derive(Debug, Clone)]
pub struct NamedOutput {
    pub name: String,
    pub array: ArrayD<f64>,
    /// Integer (or boolean) outputs are written as integers.
    pub integer: bool,
}

/// Evaluates the program; `select` picks outputs by name (all, in program order, when `None`).
pub fn run(
    program: &Program,
    weights: &Weights,
    inputs: &HashMap<String, ArrayD<f64>>,
    select: Option<&[String]>,
) -> Result<Vec<NamedOutput>, String> {
    if let Some(names) = select {
        for name in names {
            if !program.outputs.iter().any(|o| &o.name == name) {
                let known: Vec<&str> = program.outputs.iter().map(|o| o.name.as_str()).collect();
                return Err(format!("no output named '{name}' (outputs: {known:?})"));
            }
        }
    }
    let results = evaluate(program, weights, inputs).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (decl, (name, array)) in program.outputs.iter().zip(results) {
        if select.is_some_and(|s| !s.contains(&name)) {
            continue;
        }
        let integer = program.ty(decl.value).encoding != Encoding::Fixed;
        out.push(NamedOutput {
            name,
            array,
            integer,
        });
    }
    Ok(out)
}

/// The JSON contract: `{"outputs": [{"name", "shape", "data"}, ...]}`.
pub fn to_json(outputs: &[NamedOutput]) -> Value {
    let items: Vec<Value> = outputs
        .iter()
        .map(|o| {
            let data: Vec<Value> = o
                .array
                .iter()
                .map(|&x| if o.integer { json!(x as i64) } else { json!(x) })
                .collect();
            json!({"name": o.name, "shape": o.array.shape(), "data": data})
        })
        .collect();
    json!({ "outputs": items })
}

/// Writes one output as `.npy`, several as `.npz` (named by output), atomically.
pub fn write_arrays(path: &Path, outputs: &[NamedOutput]) -> Result<(), DataError> {
    let io = |e: &dyn std::fmt::Display| DataError::Io {
        action: "write",
        path: path.to_owned(),
        message: e.to_string(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(&e))?;
    let wants_npz = path.extension().is_some_and(|e| e == "npz");
    if outputs.len() == 1 && !wants_npz {
        write_one(tmp.as_file_mut(), &outputs[0]).map_err(|e| io(&e))?;
    } else {
        let mut npz = ndarray_npy::NpzWriter::new(tmp.as_file_mut());
        for o in outputs {
            let result = if o.integer {
                npz.add_array(o.name.as_str(), &o.array.mapv(|x| x as i64))
            } else {
                npz.add_array(o.name.as_str(), &o.array)
            };
            result.map_err(|e| io(&e))?;
        }
        npz.finish().map_err(|e| io(&e))?;
    }
    // Temporary files are created private; a result file gets the usual permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| io(&e.error))?;
    Ok(())
}

fn write_one(file: &mut std::fs::File, o: &NamedOutput) -> Result<(), ndarray_npy::WriteNpyError> {
    use ndarray_npy::WriteNpyExt;
    if o.integer {
        o.array.mapv(|x| x as i64).write_npy(file)
    } else {
        o.array.write_npy(file)
    }
}
