//! Local part of secret products: Rss x Rss -> Add3.
//!
//! With x = x0 + x1 + x2 and party i holding (x_i, x_(i+1)), the nine cross terms x_a * y_b are
//! covered exactly once by z_i = x_i y_i + x_i y_(i+1) + x_(i+1) y_i over i = 0, 1, 2. Each z_i is
//! re-randomised by alpha_i from a zero sharing (see `PartySeeds::zero_share`), so the component
//! a party later sends reveals nothing: alpha_i contains F(k_(i+1)), whose key the receiver
//! P(i-1) does not hold. Cost: no communication here; the reshare or truncation that follows is
//! the round.

use crate::prg::PartySeeds;
use crate::ring::{self, RingTensor};

/// z_i of the element-wise product (numpy broadcasting), re-randomised.
pub fn mul_shares_local(
    seeds: &PartySeeds,
    instruction: u64,
    x: (&RingTensor, &RingTensor),
    y: (&RingTensor, &RingTensor),
) -> Result<RingTensor, String> {
    // x_i (y_i + y_(i+1)) + x_(i+1) y_i: two products instead of three.
    let y_sum = ring::add(y.0, y.1)?;
    let z = ring::add(&ring::mul(x.0, &y_sum)?, &ring::mul(x.1, y.0)?)?;
    let alpha = seeds.zero_share(instruction, z.shape());
    ring::add(&z, &alpha)
}

/// z_i of the batched matrix product, re-randomised.
pub fn matmul_shares_local(
    seeds: &PartySeeds,
    instruction: u64,
    x: (&RingTensor, &RingTensor),
    y: (&RingTensor, &RingTensor),
) -> Result<RingTensor, String> {
    let y_sum = ring::add(y.0, y.1)?;
    let z = ring::add(&ring::matmul(x.0, &y_sum)?, &ring::matmul(x.1, y.0)?)?;
    let alpha = seeds.zero_share(instruction, z.shape());
    ring::add(&z, &alpha)
}
