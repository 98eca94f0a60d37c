//! The compiled-program file. Every read and write of compiled files in the compiler goes
//! through [`save`] and [`load`]; the format itself is `secc_ir::bytecode` (prost body behind a
//! magic, a format version and a length, each section with its SHA-256), shared with the
//! runtime.
//!
//! What `secc compile` writes is the model owner's copy: a [`Container`] holding the IR program
//! (for `inspect` and `reference`), the low-level program the parties interpret and the
//! plaintext weights. `secc share` derives the parties' copy (no weights) and the share files
//! from it. Writes are atomic (temporary file, then rename), so a failure leaves no partial file.

use crate::error::ArtifactError;
use secc_ir::bytecode::{self, Container, FileError};
use secc_ir::Weights;
use std::path::Path;

/// Writes `container` to `path` atomically.
pub fn save(path: &Path, container: &Container) -> Result<(), ArtifactError> {
    bytecode::write_program(path, container).map_err(|e| from_file_error(e, "write"))
}

/// Reads and checks a program file (magic, format version, length, section hashes).
pub fn load(path: &Path) -> Result<Container, ArtifactError> {
    bytecode::read_program(path).map_err(|e| from_file_error(e, "read"))
}

/// The owner's weights of a loaded container; `purpose` says which command needs them.
pub fn weights_of<'a>(
    container: &'a Container,
    path: &Path,
    purpose: &str,
) -> Result<&'a Weights, ArtifactError> {
    container
        .weights
        .as_ref()
        .ok_or_else(|| ArtifactError::Format {
            path: path.to_owned(),
            reason: format!(
                "this is a parties' copy without weights; {purpose} needs the model owner's \
                 file as written by `secc compile`"
            ),
        })
}

fn from_file_error(error: FileError, action: &'static str) -> ArtifactError {
    match error {
        FileError::Io { path, source } => ArtifactError::Io {
            action,
            path,
            message: source.to_string(),
        },
        FileError::Format { path, source } => ArtifactError::Format {
            path,
            reason: source.to_string(),
        },
    }
}
