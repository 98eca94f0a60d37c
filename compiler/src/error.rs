//! Error types, one enum per phase.
//!
//! Every enum separates what the user can fix (an unsupported model, a bad file, a bad flag) from
//! an internal bug of secc (a broken invariant); the latter is worded as such so that it is
//! reported rather than worked around. Messages name the ONNX node, the file or the input they are
//! about.

use std::path::PathBuf;

/// Loading an ONNX model and lowering it into the IR.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("cannot read '{path}': {message}")]
    Io { path: PathBuf, message: String },
    #[error("'{path}' is not an ONNX model: {reason}")]
    NotOnnx { path: PathBuf, reason: String },
    #[error(
        "unsupported ONNX op: node '{node}' has op type {op_type}{detail}\n  supported ops: {supported}"
    )]
    UnsupportedOp {
        node: String,
        op_type: String,
        detail: String,
        supported: String,
    },
    #[error("input '{input}': {reason}")]
    InputShape { input: String, reason: String },
    #[error(
        "--seq-len {seq_len} exceeds the position table '{table}' ({rows} positions, used by node '{node}')"
    )]
    SeqLenTooLong {
        seq_len: usize,
        table: String,
        rows: usize,
        node: String,
    },
    #[error(
        "--public-weight {name}: the model has no learned initializer of that name (some it \
         has: {known})"
    )]
    UnknownWeight { name: String, known: String },
    #[error("tract could not type the model with the given input shapes: {message}")]
    Tract { message: String },
    #[error("internal error in the frontend at node '{node}' (this is a secc bug): {message}")]
    Internal { node: String, message: String },
}

/// A rewrite or check pass over the IR.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The model cannot be compiled safely (for example a constant that overflows fixed point).
    #[error("pass {pass}: node {node} (from ONNX node '{origin}'): {message}")]
    Rejected {
        pass: &'static str,
        node: String,
        origin: String,
        message: String,
    },
    /// A pass produced an invalid program.
    #[error("internal error after pass {pass} (this is a secc bug): {message}")]
    Internal { pass: &'static str, message: String },
}

/// Reading or writing a compiled program file.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot {action} '{path}': {message}")]
    Io {
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    /// The file is not a usable program file (foreign, corrupt, another format version, or
    /// the wrong copy for the command); `reason` says which.
    #[error("'{path}': {reason}")]
    Format { path: PathBuf, reason: String },
}

/// Reading client inputs (JSON) or writing results.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot {action} '{path}': {message}")]
    Io {
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("'{path}': {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Any failure of a compile, as returned by [`crate::pipeline`].
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error("cannot write IR dumps to '{path}': {message}")]
    Dump { path: PathBuf, message: String },
}
