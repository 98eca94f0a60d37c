//! Re-sharing: Add3 -> Rss (and BoolAdd3 -> BoolRss). Party i sends its component z_i to party
//! i-1, which then holds (z_(i-1), z_i); so party i ends with (z_i, z_(i+1)).
//!
//! Cost: one round; each party sends one ring element per element to one peer (for the packed
//! boolean form, `width` bits per element, ceil(n width / 64) words).
//! Privacy: z_i is masked by alpha_i of the zero sharing, which involves F(k_(i+1)); the
//! receiver P(i-1) holds k_(i-1) and k_i only, so z_i is uniform to it.

use super::{boolean, prev, Outgoing};
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

/// Packed boolean reshare (`ReshareBoolPacked`): the party's component cut to its low `width`
/// bits (what it keeps), and what it sends: those bits packed densely, to its predecessor.
/// The cut bits of z_i are masked by the same zero sharing as the whole word, so packing
/// changes the layout of the message, not what it reveals.
pub fn reshare_packed_start(party: usize, own: &RingTensor, width: u32) -> (RingTensor, Outgoing) {
    let keep = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let own = ring::map(own, move |w| w & keep);
    let mut out: Outgoing = Default::default();
    out[prev(party)] = boolean::pack_bits(&ring::row_major(&own), width);
    (own, out)
}

/// The party's boolean replicated components after receiving the packed z_(i+1).
pub fn reshare_packed_finish(
    own: RingTensor,
    from_next: &[u64],
    width: u32,
) -> Result<(RingTensor, RingTensor), String> {
    let n = own.len();
    let second = ring::from_vec(own.shape(), boolean::unpack_bits(from_next, n, width)?)?;
    Ok((own, second))
}
