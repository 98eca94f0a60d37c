//! The MPC protocols that codegen composes from LIR instructions, one file per protocol family:
//!
//! - [`arith`]: products of shares, products by public values, truncation, free rescaling and
//!   public constants in the ring; what every other family is built from.
//! - [`compare`]: the sign bit by boolean circuits (exact and bounded), bit injection, ReLU,
//!   comparison with a public constant, the comparison-tree maximum and segment selection.
//! - [`secformer`]: SecFormer's 2Quad softmax, Fourier GeLU and tanh, Goldschmidt reciprocal,
//!   inverse square root and division, and layer norm.
//! - [`puma`]: PUMA's GeLU, tanh and softmax, and the public polynomials they evaluate.
//! - [`range_reduction`]: PUMA mode's inverse square root, square root, reciprocal and layer
//!   norm by comparisons against powers of two, without calibration.
//!
//! Each function takes the [`Emitter`](super::emit::Emitter) and share registers and returns
//! the result's register; none reads an IR node (lowering, [`super::lower`], maps nodes to
//! calls and checks their attributes). Invariant shared by all of them: every emitted
//! instruction is local or exactly one communication step, and a value is only opened masked
//! by randomness its receivers do not hold. Each file states its range of validity, rounds and
//! the argument for what its openings reveal; docs/protocols.md has the full account.
//!
//! Dependencies run one way: `arith` <- `compare` <- the mode families; PUMA's softmax and range
//! reduction reuse SecFormer's Goldschmidt iterations and layer norm start.

pub mod arith;
pub mod compare;
pub mod puma;
pub mod range_reduction;
pub mod secformer;
#[cfg(test)]
mod tests;
