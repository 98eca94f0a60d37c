//! secc's compiler library: the ONNX frontend, the IR passes, the pipeline that chains them,
//! codegen, the compiled-file container and the plaintext reference run behind the `secc` binary.
//!
//! Module map: [`frontend`] (tract -> IR), [`passes`] (one rewrite or check per file),
//! [`pipeline`] (the explicit pass order and `--emit-ir` dumps), [`codegen`] (IR to the
//! low-level protocol program and its cost report), [`artifact`] (the only code that reads or
//! writes compiled files), [`bytecode_text`] (`inspect --bytecode`), [`inputs`] (client input
//! files), [`mpc_run`] (the client's report of an MPC run), [`reference`] (plaintext f64
//! results), [`stats`] (what `secc inspect` reports), [`error`] (one error enum per phase),
//! [`bench`] (`secc bench`: a BERT encoder built in Rust, compiled, run and measured),
//! [`progress`] (the stage progress bar of long runs), [`text`] (text input tokenized on the
//! client with `--tokenizer`).

pub mod artifact;
pub mod bench;
pub mod bytecode_text;
pub mod codegen;
pub mod error;
pub mod frontend;
pub mod inputs;
pub mod mpc_run;
pub mod passes;
pub mod pipeline;
pub mod progress;
pub mod reference;
pub mod stats;
pub mod text;
