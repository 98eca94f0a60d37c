//! Truncation by 2^F with one party as the dealer of the mask: `TruncOpen` then `TruncFinish`.
//!
//! Roles ([`super::Roles`]): the protocol below is written with P2 as the dealer and P0, P1 as
//! the openers; with `dealer = d`, party P(d+1) plays P0, P(d+2) plays P1 and Pd plays P2, and
//! every key index k_j below means the key of the relabelled pair (k_(j+d+1), indices mod 3).
//! The relabelling is a rotation of the ring of parties, under which both who holds which
//! replicated component and who holds which key are preserved, so the text (and its privacy
//! argument) holds for each dealer as written; `d = 2` is the identity.
//!
//! Let v = x + 2^62 (so 0 <= v < 2^63 whenever |x| < 2^62). The dealer P2 draws r uniform in
//! Z_2^64 from its private seed and writes r = rb 2^63 + r_low. P0 and P1 learn the opening
//! c = v + r = cb 2^63 + c_low. Because v and r_low are both below 2^63, v + r_low does not wrap;
//! its bit 63 is the carry, and cb = carry XOR rb, so carry = cb + rb - 2 cb rb, which is linear
//! in rb once cb is public. Hence, exactly, v = c_low - r_low + carry 2^63 and
//!   x / 2^F ~ (c_low >> F) - (r_low >> F) + carry 2^(63-F) - 2^(62-F),
//! off by at most one unit in the last place (the two floors). With rc = r_low >> F and additive
//! shares rc = rc^0 + rc^1, rb = rb^0 + rb^1:
//!   y^0 = (c_low >> F) - 2^(62-F) - rc^0 + (cb + (1 - 2cb) rb^0) 2^(63-F)   (P0)
//!   y^1 = -rc^1 + (1 - 2cb) rb^1 2^(63-F)                                   (P1)
//! P0's shares rc^0, rb^0 come from key k_0 (shared by P2 and P0) on the instruction's stream,
//! in that order; P2 sends P1 the complements.
//!
//! Messages (`step_elements`): P2's [rc^1, rb^1] for P1 depend on its seeds alone, so P2 sends
//! them in the preprocessing round ([`dealer_corrections`]; they lead P1's payload of the step,
//! see `secc_ir::preprocessing`). Online: Add3 source — P0 and P1 swap z0 and z1, P2 sends
//! z2 + r to P0 and to P1. Rss source — P2 sends x2 + r to P0 and x0 + r to P1 (each then adds
//! the two components it holds). Both phases draw r from the same stream (the instruction's), so
//! the online r is the r of the corrections. `TruncFinish`: s0 from k_0, s2 from k_2; P0
//! sends y^0 - s0 to P1, P1 sends y^1 - s2 to P0, both form s1 = (y^0 - s0) + (y^1 - s2).
//!
//! Privacy: P0 and P1 see c = x + 2^62 + r with r uniform and unknown to them (one-time pad in
//! Z_2^64), and P1's rc^1, rb^1 are padded by P0's stream of k_0, which P1 lacks. P2 sees nothing
//! but its own draws. In `TruncFinish`, P0 receives y^1 - s2 with s2 from k_2 (P1 and P2 only),
//! and P1 receives y^0 - s0 with s0 from k_0 (P2 and P0 only). No failure probability: the
//! result is exact up to one ulp for every |x| < 2^62.

use super::{Outgoing, Roles};
use crate::audit::{self, Combine, KeyId, Mutation};
use crate::prg::{PartySeeds, Stream};
use crate::ring::{self, RingTensor};
use crate::share::Share;

/// The offset that makes every admissible x non-negative before the opening.
pub const OFFSET: u64 = 1 << 62;

const LOW_MASK: u64 = (1 << 63) - 1;

/// Rejects shifts the formulas cannot express (2^(62-F) needs F <= 62).
pub fn check_shift(shift: u32) -> Result<(), String> {
    if shift > 62 {
        Err(format!(
            "truncation by 2^{shift}: the shift must be at most 62"
        ))
    } else {
        Ok(())
    }
}

/// The dealer's values for one mask word: (rc, rb) = ((r mod 2^63) >> shift, msb(r)).
pub fn dealer_parts(r: u64, shift: u32) -> (u64, u64) {
    ((r & LOW_MASK) >> shift, r >> 63)
}

/// P0's half of x / 2^shift from the opening `c` and its shares of rc and rb.
pub fn half_p0(c: u64, rc0: u64, rb0: u64, shift: u32) -> u64 {
    let cb = c >> 63;
    let sign = 1u64.wrapping_sub(cb << 1);
    let carry_share = cb.wrapping_add(sign.wrapping_mul(rb0));
    (c & LOW_MASK)
        .wrapping_shr(shift)
        .wrapping_sub(1u64 << (62 - shift))
        .wrapping_sub(rc0)
        .wrapping_add(carry_share.wrapping_mul(1u64 << (63 - shift)))
}

/// P1's half of x / 2^shift from the opening `c` and its shares of rc and rb.
pub fn half_p1(c: u64, rc1: u64, rb1: u64, shift: u32) -> u64 {
    let cb = c >> 63;
    let sign = 1u64.wrapping_sub(cb << 1);
    sign.wrapping_mul(rb1)
        .wrapping_mul(1u64 << (63 - shift))
        .wrapping_sub(rc1)
}

/// What opener (role P0 or P1) keeps between the start and the finish of `TruncOpen`.
pub struct OpenState {
    /// The sum of the source components this party holds locally.
    local_sum: Vec<u64>,
    /// Whether the source was Add3 (then the other of P0/P1 sends its component).
    additive: bool,
    shape: Vec<usize>,
    shift: u32,
}

/// The dealer's mask r for one instruction (n words of its private seed's stream) and the key
/// it came from. The audit's mutations (tests only) draw it from the key shared with O0, or cut
/// it to 63 bits, to prove the checks fail.
fn dealer_mask(
    party: usize,
    seeds: &PartySeeds,
    roles: Roles,
    instruction: u64,
    n: usize,
) -> Result<(KeyId, Vec<u64>), String> {
    let (mask_key, mask_seed) = if audit::mutation(Mutation::TruncMaskFromOpenerKey) {
        (KeyId::Pair(roles.party(0)), roles.key(seeds, 0)?)
    } else {
        (KeyId::Private(party), &seeds.private)
    };
    let mut r = Stream::new(mask_seed, instruction).words(n);
    if audit::mutation(Mutation::TruncMask63Bits) {
        r.iter_mut().for_each(|w| *w &= LOW_MASK);
    }
    Ok((mask_key, r))
}

/// The preprocessing part of `TruncOpen` of `n` words: at the dealer, [rc^1, rb^1] for O1
/// (padded by k_0's stream, which O1 lacks); nothing at the openers. Depends on the seeds only.
pub fn dealer_corrections(
    party: usize,
    seeds: &PartySeeds,
    instruction: u64,
    n: usize,
    shift: u32,
    dealer: u8,
) -> Result<Outgoing, String> {
    check_shift(shift)?;
    let roles = Roles::new(dealer)?;
    let mut out: Outgoing = Default::default();
    if roles.role(party) != 2 {
        return Ok(out);
    }
    let (_, r) = dealer_mask(party, seeds, roles, instruction, n)?;
    let mut correction = Stream::new(roles.key(seeds, 0)?, instruction);
    let rc0 = correction.words(n);
    let rb0 = correction.words(n);
    let (rc, rb): (Vec<u64>, Vec<u64>) = r.iter().map(|&rj| dealer_parts(rj, shift)).unzip();
    let mut to_p1 = Vec::with_capacity(2 * n);
    to_p1.extend(rc.iter().zip(&rc0).map(|(v, p)| v.wrapping_sub(*p)));
    to_p1.extend(rb.iter().zip(&rb0).map(|(v, p)| v.wrapping_sub(*p)));
    if audit::enabled() {
        let k0 = KeyId::Pair(roles.party(0));
        let o1 = roles.party(1);
        let pad = |start, offset, values: &[u64], pads: &[u64]| {
            audit::stream_pad(
                party,
                o1,
                instruction,
                start,
                64,
                k0,
                offset,
                Combine::Sub,
                values,
                pads,
            )
        };
        pad(0, 0, &rc, &rc0);
        pad(n, n, &rb, &rb0);
    }
    out[roles.party(1)] = to_p1;
    Ok(out)
}

/// Starts `TruncOpen` at `party` with dealer `dealer`; returns the online messages (the
/// dealer's corrections went ahead, [`dealer_corrections`]) and, at the two openers, the state
/// to finish.
pub fn open_start(
    party: usize,
    seeds: &PartySeeds,
    instruction: u64,
    src: &Share,
    shift: u32,
    dealer: u8,
) -> Result<(Outgoing, Option<OpenState>), String> {
    check_shift(shift)?;
    let roles = Roles::new(dealer)?;
    let mut out: Outgoing = Default::default();
    let (own, other, additive) = match src {
        Share::Add3(z) => (z, None, true),
        Share::Rss { first, second } => (first, Some(second), false),
        other => return Err(format!("TruncOpen of a {:?} register", other.kind())),
    };
    let shape = own.shape().to_vec();
    let n = own.len();
    let role = roles.role(party);
    if role == 2 {
        let (mask_key, r) = dealer_mask(party, seeds, roles, instruction, n)?;
        let own = ring::row_major(own);
        let masked_own: Vec<u64> = own
            .iter()
            .zip(&r)
            .map(|(v, m)| v.wrapping_add(*m))
            .collect();
        // The dealer holds (x2, x0) of an Rss (in roles): P0 lacks x2, P1 lacks x0.
        let x0 = other.map(ring::row_major);
        let to_p1: Vec<u64> = match &x0 {
            Some(x0) => x0.iter().zip(&r).map(|(v, m)| v.wrapping_add(*m)).collect(),
            None => masked_own.clone(),
        };
        if audit::enabled() {
            let x0 = x0.as_ref().unwrap_or(&own);
            let pad = |to, start, values: &[u64]| {
                audit::stream_pad(
                    party,
                    to,
                    instruction,
                    start,
                    64,
                    mask_key,
                    0,
                    Combine::Add,
                    values,
                    &r,
                )
            };
            // P1's payload of the step starts with the 2n seed-only corrections.
            pad(roles.party(0), 0, &own);
            pad(roles.party(1), 2 * n, x0);
        }
        out[roles.party(0)] = masked_own;
        out[roles.party(1)] = to_p1;
        return Ok((out, None));
    }
    let local_sum = match other {
        Some(second) => ring::row_major(&ring::add(own, second)?),
        None => {
            out[roles.party(1 - role)] = ring::row_major(own);
            ring::row_major(own)
        }
    };
    Ok((
        out,
        Some(OpenState {
            local_sum,
            additive,
            shape,
            shift,
        }),
    ))
}

/// Finishes `TruncOpen`: an opener's Pending half, or the dealer's empty placeholder.
pub fn open_finish(
    party: usize,
    seeds: &PartySeeds,
    instruction: u64,
    state: Option<OpenState>,
    incoming: super::Incoming<'_>,
    dst_shape: &[usize],
    dealer: u8,
) -> Result<Share, String> {
    let Some(state) = state else {
        return Ok(Share::Pending {
            share: None,
            shape: dst_shape.to_vec(),
        });
    };
    let roles = Roles::new(dealer)?;
    let n = state.local_sum.len();
    let role = roles.role(party);
    let from_peer = incoming[roles.party(1 - role)];
    let from_dealer = incoming[roles.party(2)];
    let expected = if role == 0 { n } else { 3 * n };
    if from_dealer.len() != expected || (state.additive && from_peer.len() != n) {
        return Err("TruncOpen: message sizes do not match the register".into());
    }
    // O1's payload from the dealer is [rc^1, rb^1 (preprocessing), masked value (online)].
    let masked = &from_dealer[expected - n..];
    let opening = |j: usize| {
        let mut c = state.local_sum[j]
            .wrapping_add(masked[j])
            .wrapping_add(OFFSET);
        if state.additive {
            c = c.wrapping_add(from_peer[j]);
        }
        c
    };
    if audit::enabled() {
        audit::record_opening(audit::Opening {
            party,
            instruction,
            width: 64,
            words: (0..n).map(&opening).collect(),
        });
    }
    let half: Vec<u64> = if role == 0 {
        let mut correction = Stream::new(roles.key(seeds, 0)?, instruction);
        let rc0 = correction.words(n);
        let rb0 = correction.words(n);
        (0..n)
            .map(|j| half_p0(opening(j), rc0[j], rb0[j], state.shift))
            .collect()
    } else {
        let (rc1, rb1) = (&from_dealer[..n], &from_dealer[n..2 * n]);
        (0..n)
            .map(|j| half_p1(opening(j), rc1[j], rb1[j], state.shift))
            .collect()
    };
    Ok(Share::Pending {
        share: Some(ring::from_vec(&state.shape, half)?),
        shape: state.shape,
    })
}

/// What a party keeps between the start and finish of `TruncFinish` (by role).
pub enum FinishState {
    /// Role P0: s0 and y^0 - s0 (which it sent).
    P0 { s0: RingTensor, sent: RingTensor },
    /// Role P1: s2 and y^1 - s2 (which it sent).
    P1 { s2: RingTensor, sent: RingTensor },
    /// The dealer: its two components (s2, s0), both from its keys.
    P2 { s2: RingTensor, s0: RingTensor },
}

/// Starts `TruncFinish` with dealer `dealer` (the dealer of the step that made the source).
pub fn finish_start(
    party: usize,
    seeds: &PartySeeds,
    instruction: u64,
    src: &Share,
    dealer: u8,
) -> Result<(Outgoing, FinishState), String> {
    let Share::Pending { share, shape } = src else {
        return Err(format!("TruncFinish of a {:?} register", src.kind()));
    };
    let roles = Roles::new(dealer)?;
    let key = |rho: usize| roles.key(seeds, rho);
    let mut out: Outgoing = Default::default();
    let state = match (roles.role(party), share) {
        (2, None) => FinishState::P2 {
            s2: Stream::new(key(2)?, instruction).tensor(shape),
            s0: Stream::new(key(0)?, instruction).tensor(shape),
        },
        (0, Some(y0)) => {
            let s0 = Stream::new(key(0)?, instruction).tensor(shape);
            let sent = ring::sub(y0, &s0)?;
            if audit::enabled() {
                let (values, pads) = (ring::row_major(y0), ring::row_major(&s0));
                let k0 = KeyId::Pair(roles.party(0));
                let to = roles.party(1);
                audit::stream_pad(
                    party,
                    to,
                    instruction,
                    0,
                    64,
                    k0,
                    0,
                    Combine::Sub,
                    &values,
                    &pads,
                );
            }
            out[roles.party(1)] = ring::row_major(&sent);
            FinishState::P0 { s0, sent }
        }
        (1, Some(y1)) => {
            let s2 = Stream::new(key(2)?, instruction).tensor(shape);
            let sent = ring::sub(y1, &s2)?;
            if audit::enabled() {
                let (values, pads) = (ring::row_major(y1), ring::row_major(&s2));
                let k2 = KeyId::Pair(roles.party(2));
                let to = roles.party(0);
                audit::stream_pad(
                    party,
                    to,
                    instruction,
                    0,
                    64,
                    k2,
                    0,
                    Combine::Sub,
                    &values,
                    &pads,
                );
            }
            out[roles.party(0)] = ring::row_major(&sent);
            FinishState::P1 { s2, sent }
        }
        (2, Some(_)) => {
            return Err(format!(
                "P{party} holds a pending half but is the dealer P{dealer} of this TruncFinish \
                 (its source was dealt by another party)"
            ))
        }
        _ => {
            return Err(format!(
                "P{party} holds no pending half (its source was dealt by P{party}, not by \
                 P{dealer})"
            ))
        }
    };
    Ok((out, state))
}

/// Finishes `TruncFinish`: the party's replicated components of the truncated value (in
/// roles, P0 holds (s0, s1), P1 (s1, s2), the dealer (s2, s0)).
pub fn finish_finish(
    state: FinishState,
    incoming: super::Incoming<'_>,
    dealer: u8,
) -> Result<(RingTensor, RingTensor), String> {
    let roles = Roles::new(dealer)?;
    Ok(match state {
        FinishState::P0 { s0, sent } => {
            let received = ring::from_vec(s0.shape(), incoming[roles.party(1)].to_vec())?;
            let s1 = ring::add(&sent, &received)?;
            (s0, s1)
        }
        FinishState::P1 { s2, sent } => {
            let received = ring::from_vec(s2.shape(), incoming[roles.party(0)].to_vec())?;
            let s1 = ring::add(&received, &sent)?;
            (s1, s2)
        }
        FinishState::P2 { s2, s0 } => (s2, s0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the arithmetic of the protocol for one element with the given mask and splits,
    /// returning y^0 + y^1 (the dealer's and openers' views are exercised end to end in
    /// runtime/tests; this checks the algebra exhaustively near its edges).
    fn truncate_one(x: i64, r: u64, rc0: u64, rb0: u64, shift: u32) -> i64 {
        let c = (x as u64).wrapping_add(OFFSET).wrapping_add(r);
        let (rc, rb) = dealer_parts(r, shift);
        let (rc1, rb1) = (rc.wrapping_sub(rc0), rb.wrapping_sub(rb0));
        half_p0(c, rc0, rb0, shift).wrapping_add(half_p1(c, rc1, rb1, shift)) as i64
    }

    #[test]
    fn truncation_is_within_one_ulp_for_every_admissible_value() {
        let mut stream = Stream::new(&[5; 32], 0);
        let edges: Vec<i64> = vec![
            0,
            1,
            -1,
            (1 << 62) - 1,
            -(1 << 62),
            -(1 << 62) + 1,
            (1 << 40) + 12345,
            -(1 << 40) - 12345,
            65535,
            -65536,
            -65537,
        ];
        for shift in [0u32, 1, 16, 18, 31, 62] {
            for trial in 0..4000 {
                let words = stream.words(4);
                let x = if trial < edges.len() * 20 {
                    edges[trial % edges.len()]
                } else {
                    // Uniform over the admissible range [-2^62, 2^62).
                    (words[3] >> 1) as i64 - (1 << 62)
                };
                // Masks near the carry boundaries as well as uniform ones.
                let r = match trial % 5 {
                    0 => words[0],
                    1 => (1 << 63) - (x as u64).wrapping_add(OFFSET) + (words[0] & 3),
                    2 => u64::MAX - (words[0] & 7),
                    3 => words[0] & 7,
                    _ => 1 << 63 | (words[0] & 0xff),
                };
                let y = truncate_one(x, r, words[1], words[2], shift);
                let exact = (x as i128) >> shift; // floor division
                let err = y as i128 - exact;
                assert!(
                    (0..=1).contains(&err),
                    "x={x} shift={shift} r={r:#x}: got {y}, floor is {exact}"
                );
            }
        }
    }
}
