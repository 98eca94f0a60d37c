//! secc's typed MPC IR.
//!
//! Owns: value types ([`types`]), the closed operator set and its table ([`op`]), programs made of
//! typed arenas ([`program`]), the verifier ([`verify`]), the text printer ([`print`]), DOT export
//! ([`dot`]), RON dumps ([`dump`]), the f64 plaintext interpreter ([`interp`]), the client's prologue ([`prologue`]), the offline/online split of low-level programs
//! ([`preprocessing`]), the bytecode
//! container shared with the runtime ([`bytecode`]) and boolean circuits written once as LIR for
//! codegen and the runtime's reference compositions ([`circuits`]).
//!
//! Invariant kept by every public constructor: a program's arena order is a topological order,
//! and every node's type is the one [`op::Op::infer`] gives (checked by [`verify::verify`]).

pub mod approx;
pub mod arena;
pub mod bytecode;
pub mod circuits;
pub mod dot;
pub mod fixed;
pub mod interp;
pub mod lir;
pub mod op;
pub mod preprocessing;
pub mod print;
pub mod program;
pub mod prologue;
pub mod tensor;
pub mod types;
pub mod verify;

pub use arena::{Arena, Handle};
pub use op::{Arity, CompareKind, GeluKind, InputRole, Op};
pub use program::{InputDecl, Node, OutputDecl, ParamDecl, Program, ValueId, Weights};
pub use tensor::Tensor;
pub use types::{Encoding, ValueType, Visibility};

/// RON dumps of programs (`--emit-ir`).
pub mod dump {
    use crate::program::Program;

    /// The program as pretty RON.
    pub fn to_ron(program: &Program) -> Result<String, ron::Error> {
        ron::ser::to_string_pretty(program, ron::ser::PrettyConfig::default())
    }

    /// A program back from its RON dump.
    pub fn from_ron(text: &str) -> Result<Program, ron::error::SpannedError> {
        ron::from_str(text)
    }
}
