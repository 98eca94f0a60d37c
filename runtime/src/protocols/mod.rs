//! The protocols, one file each: the local part of products ([`mul`]), re-sharing of additive
//! products ([`reshare`]), truncation with P2 as dealer ([`trunc`]), boolean-share operations
//! ([`boolean`]), and the reference compositions codegen builds from LIR instructions
//! (comparison/MSB, B2A, ReLU, select: [`compose`]).
//!
//! Conventions: a party's replicated share is `(first, second)` = its components (i, i+1). A
//! communication step is split into a *start* that computes what this party sends to each peer
//! ([`Outgoing`], indexed by destination) and a *finish* that consumes what it received
//! (indexed by source). Payloads are flat row-major ring elements laid out exactly as
//! `LowProgram::step_elements` describes. No function here takes another party's share or a
//! plaintext secret: every argument is something the calling party legitimately holds.

pub mod boolean;
pub mod compose;
pub mod fourier;
pub mod mul;
pub mod reshare;
pub mod trunc;

/// Ring elements this party sends to each party (by destination; its own slot stays empty).
pub type Outgoing = [Vec<u64>; 3];

/// Ring elements this party received from each party for one step (by source).
pub type Incoming<'a> = [&'a [u64]; 3];

/// The party before `party` in the ring order (P(i-1)).
pub fn prev(party: usize) -> usize {
    (party + 2) % 3
}

/// The party after `party` (P(i+1)).
pub fn next(party: usize) -> usize {
    (party + 1) % 3
}
