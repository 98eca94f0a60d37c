//! secc's compiler library: the ONNX frontend, the IR passes, the pipeline that chains them,
//! the compiled-file container and the plaintext reference run behind the `secc` binary.
//!
//! Module map: [`frontend`] (tract -> IR), [`passes`] (one rewrite or check per file),
//! [`pipeline`] (the explicit pass order and `--emit-ir` dumps), [`artifact`] (the only code that
//! reads or writes compiled files), [`inputs`] (client input files), [`reference`] (plaintext
//! f64 results), [`stats`] (what `secc inspect` reports), [`error`] (one error enum per phase).

pub mod artifact;
pub mod error;
pub mod frontend;
pub mod inputs;
pub mod passes;
pub mod pipeline;
pub mod reference;
pub mod stats;
