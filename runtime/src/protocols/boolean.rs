//! Local operations on XOR-shared 64-bit words, and the local bridges between arithmetic and
//! boolean sharing that need no communication.
//!
//! A component x_c of an arithmetic share is known to exactly the two parties that hold it, so
//! it is already a (degenerate) boolean sharing: component c = x_c, the others 0
//! (`ComponentToBool`). Likewise a bit b_c of a boolean sharing of bits is an arithmetic share
//! with one non-zero component (`BitComponentToArith`). Combining the three components is what
//! costs rounds (the adder in `compose::msb`, the products in `compose::bit_to_arith`).
//!
//! AND: z_i = x_i&y_i ^ x_i&y_(i+1) ^ x_(i+1)&y_i ^ alpha_i with alpha a boolean zero sharing;
//! the reshare that follows is the round (see `reshare`).

use crate::prg::PartySeeds;
use crate::ring::{self, RingTensor};

/// This party's components (c_i, c_(i+1)) of the boolean sharing whose only non-zero
/// component is arithmetic component `component` (a component index 0..3 is checked by the
/// caller).
pub fn component_to_bool(
    party: usize,
    first: &RingTensor,
    second: &RingTensor,
    component: usize,
) -> (RingTensor, RingTensor) {
    keep_component(party, first, second, component)
}

/// The same placement for a bit component: an arithmetic share whose only non-zero component
/// is boolean component `component` (a word 0 or 1).
pub fn bit_component_to_arith(
    party: usize,
    first: &RingTensor,
    second: &RingTensor,
    component: usize,
) -> (RingTensor, RingTensor) {
    keep_component(party, first, second, component)
}

fn keep_component(
    party: usize,
    first: &RingTensor,
    second: &RingTensor,
    component: usize,
) -> (RingTensor, RingTensor) {
    let pick = |index: usize, t: &RingTensor| {
        if index == component {
            t.clone()
        } else {
            ring::zeros(t.shape())
        }
    };
    (pick(party, first), pick((party + 1) % 3, second))
}

/// z_i of the AND of two boolean replicated shares, re-randomised.
pub fn and_local(
    seeds: &PartySeeds,
    instruction: u64,
    x: (&RingTensor, &RingTensor),
    y: (&RingTensor, &RingTensor),
) -> Result<RingTensor, String> {
    // x_i & (y_i ^ y_(i+1)) ^ x_(i+1) & y_i.
    let y_sum = ring::xor(y.0, y.1)?;
    let z = ring::xor(&ring::and(x.0, &y_sum)?, &ring::and(x.1, y.0)?)?;
    let alpha = seeds.zero_share_bool(instruction, z.shape());
    ring::xor(&z, &alpha)
}

/// Logical shift left of every word.
pub fn shl(t: &RingTensor, bits: u32) -> RingTensor {
    if bits >= 64 {
        ring::zeros(t.shape())
    } else {
        ring::map(t, move |w| w << bits)
    }
}

/// Bit `bit` of every word, as 0 or 1.
pub fn bit(t: &RingTensor, bit: u32) -> RingTensor {
    ring::map(t, move |w| (w >> bit) & 1)
}
