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
use rayon::prelude::*;

/// Below this many elements the fused element-wise product stays on the calling thread.
const PARALLEL_ELEMENTS: usize = 1 << 15;

/// z_i of the element-wise product (numpy broadcasting), re-randomised.
pub fn mul_shares_local(
    seeds: &PartySeeds,
    instruction: u64,
    x: (&RingTensor, &RingTensor),
    y: (&RingTensor, &RingTensor),
) -> Result<RingTensor, String> {
    let same_shape = [x.1, y.0, y.1].iter().all(|t| t.shape() == x.0.shape());
    let mut z = match (
        x.0.as_slice(),
        x.1.as_slice(),
        y.0.as_slice(),
        y.1.as_slice(),
    ) {
        (Some(x0), Some(x1), Some(y0), Some(y1)) if same_shape => {
            // x_i (y_i + y_(i+1)) + x_(i+1) y_i in one pass: two products per element and no
            // intermediate tensors.
            let term = |(((&a0, &a1), &b0), &b1): (((&u64, &u64), &u64), &u64)| {
                a0.wrapping_mul(b0.wrapping_add(b1))
                    .wrapping_add(a1.wrapping_mul(b0))
            };
            let data: Vec<u64> = if x0.len() >= PARALLEL_ELEMENTS {
                (x0.par_iter().zip(x1).zip(y0).zip(y1)).map(term).collect()
            } else {
                x0.iter().zip(x1).zip(y0).zip(y1).map(term).collect()
            };
            ring::from_vec(x.0.shape(), data)?
        }
        _ => {
            let y_sum = ring::add(y.0, y.1)?;
            ring::add(&ring::mul(x.0, &y_sum)?, &ring::mul(x.1, y.0)?)?
        }
    };
    add_zero_share(seeds, instruction, &mut z);
    Ok(z)
}

/// z_i of the batched matrix product, re-randomised.
///
/// The three terms are two products accumulated in one pass ([`ring::matmul_sum`]): the
/// smaller operand's two components are summed, (x_i + x_(i+1)) y_i + x_i y_(i+1) or
/// x_i (y_i + y_(i+1)) + x_(i+1) y_i, the same ring element either way.
pub fn matmul_shares_local(
    seeds: &PartySeeds,
    instruction: u64,
    x: (&RingTensor, &RingTensor),
    y: (&RingTensor, &RingTensor),
) -> Result<RingTensor, String> {
    let mut z = if x.0.len() <= y.0.len() {
        let x_sum = ring::add(x.0, x.1)?;
        ring::matmul_sum(&[(&x_sum, y.0), (x.0, y.1)])?
    } else {
        let y_sum = ring::add(y.0, y.1)?;
        ring::matmul_sum(&[(x.0, &y_sum), (x.1, y.0)])?
    };
    add_zero_share(seeds, instruction, &mut z);
    Ok(z)
}

/// z += alpha_i, this party's component of the instruction's zero sharing.
fn add_zero_share(seeds: &PartySeeds, instruction: u64, z: &mut RingTensor) {
    let alpha = seeds.zero_share(instruction, z.shape());
    z.zip_mut_with(&alpha, |d, &a| *d = d.wrapping_add(a));
}
