//! The compiled-program file. Every read and write of compiled files goes through [`save`] and
//! [`load`], so the container can change (to the prost bytecode) without touching callers.
//!
//! Current layout (self-describing, little-endian):
//! ```text
//! "SECC-PROGRAM 1\n"                        magic line
//! u64 n, then n bytes of RON                the Program and the weight shapes/encodings
//! f64 x (sum of weight elements)            the weights' data, in parameter order
//! ```
//! Writes are atomic: the file is written to a temporary file in the target directory and
//! renamed, so a failure leaves no partial output.

use crate::error::ArtifactError;
use secc_ir::{Encoding, Program, Tensor, Weights};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8] = b"SECC-PROGRAM 1\n";

#[derive(Serialize, Deserialize)]
struct Header {
    program: Program,
    weight_shapes: Vec<(Vec<usize>, Encoding)>,
}

/// Writes `program` and `weights` to `path` atomically.
pub fn save(path: &Path, program: &Program, weights: &Weights) -> Result<(), ArtifactError> {
    let io = |e: &dyn std::fmt::Display| ArtifactError::Io {
        action: "write",
        path: path.to_owned(),
        message: e.to_string(),
    };
    let header = Header {
        program: program.clone(),
        weight_shapes: weights
            .tensors
            .iter()
            .map(|t| (t.shape.clone(), t.encoding))
            .collect(),
    };
    let ron = ron::to_string(&header).map_err(|e| io(&e))?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + ron.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(ron.len() as u64).to_le_bytes());
    bytes.extend_from_slice(ron.as_bytes());
    for t in &weights.tensors {
        for x in &t.data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(&e))?;
    tmp.write_all(&bytes).map_err(|e| io(&e))?;
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

/// Reads a file written by [`save`].
pub fn load(path: &Path) -> Result<(Program, Weights), ArtifactError> {
    let bytes = std::fs::read(path).map_err(|e| ArtifactError::Io {
        action: "read",
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let bad = |reason: &str| ArtifactError::Format {
        path: path.to_owned(),
        reason: reason.to_string(),
    };
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing the SECC-PROGRAM magic line"))?;
    if rest.len() < 8 {
        return Err(bad("truncated header"));
    }
    let (len, rest) = rest.split_at(8);
    let len = u64::from_le_bytes(len.try_into().unwrap()) as usize;
    if rest.len() < len {
        return Err(bad("truncated header"));
    }
    let (ron_bytes, mut data) = rest.split_at(len);
    let text = std::str::from_utf8(ron_bytes).map_err(|_| bad("header is not UTF-8"))?;
    let header: Header = ron::from_str(text).map_err(|e| bad(&format!("corrupt header: {e}")))?;
    let mut tensors = Vec::with_capacity(header.weight_shapes.len());
    for (shape, encoding) in header.weight_shapes {
        let n: usize = shape.iter().product();
        if data.len() < n * 8 {
            return Err(bad("truncated weights"));
        }
        let (chunk, tail) = data.split_at(n * 8);
        let values = chunk
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        tensors.push(Tensor::new(shape, encoding, values));
        data = tail;
    }
    if !data.is_empty() {
        return Err(bad("trailing bytes after the weights"));
    }
    let weights = Weights { tensors };
    if weights.tensors.len() != header.program.params.len() {
        return Err(bad("weight count differs from the parameter count"));
    }
    Ok((header.program, weights))
}
