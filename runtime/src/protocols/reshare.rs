//! Re-sharing: Add3 -> Rss (and BoolAdd3 -> BoolRss). Party i sends its component z_i to party
//! i-1, which then holds (z_(i-1), z_i); so party i ends with (z_i, z_(i+1)).
//!
//! Cost: one round; each party sends one ring element per element to one peer.
//! Privacy: z_i is masked by alpha_i of the zero sharing, which involves F(k_(i+1)); the
//! receiver P(i-1) holds k_(i-1) and k_i only, so z_i is uniform to it.

use super::{prev, Outgoing};
use crate::ring::{self, RingTensor};

/// What party `party` sends: its component, to its predecessor.
pub fn reshare_start(party: usize, own: &RingTensor) -> Outgoing {
    let mut out: Outgoing = Default::default();
    out[prev(party)] = ring::row_major(own);
    out
}

/// The party's replicated components after receiving z_(i+1) from its successor.
pub fn reshare_finish(
    own: RingTensor,
    from_next: &[u64],
) -> Result<(RingTensor, RingTensor), String> {
    let second = ring::from_vec(own.shape(), from_next.to_vec())?;
    Ok((own, second))
}
