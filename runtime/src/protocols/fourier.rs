//! SecFormer's sine protocol: a Fourier series sum_m c_m sin(2 pi m x / P) of a secret x, with
//! P = 2^period_bits, from one masked opening (`FourierOpen`).
//!
//! Roles ([`super::Roles`]): written below with P2 as the dealer; with `dealer = d`, P(d+1)
//! plays P0, P(d+2) plays P1, Pd plays P2, and key k_j means k_(j+d+1) (indices mod 3). The
//! relabelling is a rotation, which preserves who holds which replicated component and which
//! key, so the protocol and its privacy argument hold for each dealer; `d = 2` is the identity.
//!
//! Let F be the scale of x and M = 2^(period_bits + F): reducing the ring modulo M is a ring
//! homomorphism, and sin(2 pi m x / P) depends on x only modulo M (one period in fixed point).
//! The dealer's mask is t = t^0 + t^1 mod M with t^0 from key k_0 (P0 and P2) and t^1 from key
//! k_2 (P1 and P2), so only P2 knows t. P0 sends P1 a = x0 + x1 - t^0 and P1 sends P0
//! b = x2 - t^1 (both mod M); each then knows delta = a + b = x - t mod M. With
//! theta(v) = 2 pi v / M, the angle-addition identity gives
//!   sum_m c_m sin(m theta(x)) = sum_m c_m [sin(m theta(delta)) cos(m theta(t))
//!                                          + cos(m theta(delta)) sin(m theta(t))],
//! linear in the dealer's values cos(m theta(t)), sin(m theta(t)) once delta is public to P0
//! and P1. P0's additive shares of those come from k_0's stream (after t^0); P2 sends P1 the
//! complements in the preprocessing round ([`dealer_shares`]: they depend on its keys alone),
//! m-major: [C_1, S_1, C_2, S_2, ...], n words each, encoded with G fraction bits where F + G is
//! the destination's scale (G = F usually; more for series with large coefficients). The result is a Pending 2-out-of-2 share held by P0 and P1.
//!
//! Privacy: delta is x - t with t uniform modulo M and unknown to P0 and P1, so it is uniform
//! modulo M whatever x is (perfect hiding: the period is a power of two). P1 sees a, padded by
//! t^0, which it lacks; P0 sees b, padded by t^1. P1's dealer shares are padded by k_0's stream.
//! P2 receives nothing.

use super::{Outgoing, Roles};
use crate::audit::{self, Combine, KeyId};
use crate::prg::{PartySeeds, Stream};
use crate::ring;
use crate::share::Share;
use rayon::prelude::*;
use std::f64::consts::PI;

/// What an opener (role P0 or P1) keeps between the start and the finish.
pub struct FourierState {
    /// This party's piece of x - t mod M, which it sent.
    sent: Vec<u64>,
    /// P0's shares of (C_m, S_m) from k_0's stream; P1 receives its own.
    dealer_shares: Option<Vec<u64>>,
    shape: Vec<usize>,
}

fn modulus_mask(period_bits: u32, frac: u32) -> Result<u64, String> {
    let bits = period_bits + frac;
    if bits == 0 || bits > 62 {
        return Err(format!(
            "FourierOpen: period 2^{period_bits} at scale {frac} needs 1..=62 bits"
        ));
    }
    Ok((1u64 << bits) - 1)
}

/// (sin(m theta), cos(m theta)) for m = 1..=terms, by the angle-addition recurrence from one
/// sin_cos (rounding drift stays near 1e-15, far below the 2^-16 encoding step).
fn harmonics(theta: f64, terms: usize) -> Vec<(f64, f64)> {
    let (s1, c1) = theta.sin_cos();
    let mut out = Vec::with_capacity(terms);
    let (mut s, mut c) = (s1, c1);
    for _ in 0..terms {
        out.push((s, c));
        (s, c) = (s * c1 + c * s1, c * c1 - s * s1);
    }
    out
}

fn angle(v: u64, mask: u64) -> f64 {
    2.0 * PI * (v & mask) as f64 / (mask as f64 + 1.0)
}

/// The preprocessing part of the step over `n` words (`frac` the source's scale, `dealer_frac`
/// the precision of the dealer's sines and cosines: the result's scale is the sum of the two):
/// at the dealer, its shares of
/// cos(m theta_t), sin(m theta_t) for O1 (padded by k_0's stream, which O1 lacks); nothing at
/// the openers. Depends on the seeds only (t = t^0 + t^1 comes from the dealer's two keys).
#[allow(clippy::too_many_arguments)]
pub fn dealer_shares(
    party: usize,
    seeds: &PartySeeds,
    instruction: u64,
    n: usize,
    period_bits: u32,
    terms: usize,
    frac: u32,
    dealer_frac: u32,
    dealer: u8,
) -> Result<Outgoing, String> {
    let mask = modulus_mask(period_bits, frac)?;
    let roles = Roles::new(dealer)?;
    let key = |rho: usize| roles.key(seeds, rho);
    let mut out: Outgoing = Default::default();
    if roles.role(party) != 2 {
        return Ok(out);
    }
    let mut k0 = Stream::new(key(0)?, instruction);
    let t0 = k0.words(n);
    let p0_shares = k0.words(2 * terms * n);
    let t1 = Stream::new(key(2)?, instruction).words(n);
    let mut to_p1 = vec![0u64; 2 * terms * n];
    // The encoded values before their pads, kept only for the audit (tests).
    let mut plain = audit::enabled().then(|| vec![0u64; 2 * terms * n]);
    let waves: Vec<Vec<(f64, f64)>> = (0..n)
        .into_par_iter()
        .map(|j| harmonics(angle(t0[j].wrapping_add(t1[j]), mask), terms))
        .collect();
    for (j, wave) in waves.iter().enumerate() {
        for (m, &(sin, cos)) in wave.iter().enumerate() {
            let c = secc_ir::fixed::encode(cos, dealer_frac);
            let s = secc_ir::fixed::encode(sin, dealer_frac);
            let (ci, si) = ((2 * m) * n + j, (2 * m + 1) * n + j);
            to_p1[ci] = c.wrapping_sub(p0_shares[ci]);
            to_p1[si] = s.wrapping_sub(p0_shares[si]);
            if let Some(plain) = plain.as_mut() {
                (plain[ci], plain[si]) = (c, s);
            }
        }
    }
    if let Some(values) = plain {
        audit::stream_pad(
            party,
            roles.party(1),
            instruction,
            0,
            64,
            KeyId::Pair(roles.party(0)),
            n,
            Combine::Sub,
            &values,
            &p0_shares,
        );
    }
    out[roles.party(1)] = to_p1;
    Ok(out)
}

/// Starts the online part of the step at `party` with dealer `dealer` (the openers' masked
/// pieces); `frac` is the scale of the source.
#[allow(clippy::too_many_arguments)]
pub fn open_start(
    party: usize,
    seeds: &PartySeeds,
    instruction: u64,
    src: &Share,
    period_bits: u32,
    terms: usize,
    frac: u32,
    dealer: u8,
) -> Result<(Outgoing, Option<FourierState>), String> {
    let mask = modulus_mask(period_bits, frac)?;
    let roles = Roles::new(dealer)?;
    let Share::Rss { first, second } = src else {
        return Err(format!("FourierOpen of a {:?} register", src.kind()));
    };
    let shape = first.shape().to_vec();
    let n = first.len();
    let key = |rho: usize| roles.key(seeds, rho);
    let mut out: Outgoing = Default::default();
    match roles.role(party) {
        // The dealer's whole part went ahead in the preprocessing round ([`dealer_shares`]).
        2 => Ok((out, None)),
        0 => {
            let mut k0 = Stream::new(key(0)?, instruction);
            let t0 = k0.words(n);
            let dealer_shares = k0.words(2 * terms * n);
            let sum = ring::row_major(&ring::add(first, second)?);
            let sent: Vec<u64> = sum
                .iter()
                .zip(&t0)
                .map(|(x, t)| x.wrapping_sub(*t) & mask)
                .collect();
            if audit::enabled() {
                let pads: Vec<u64> = t0.iter().map(|t| t & mask).collect();
                audit::stream_pad(
                    party,
                    roles.party(1),
                    instruction,
                    0,
                    mask.count_ones(),
                    KeyId::Pair(roles.party(0)),
                    0,
                    Combine::SubLow,
                    &sum,
                    &pads,
                );
            }
            out[roles.party(1)] = sent.clone();
            Ok((
                out,
                Some(FourierState {
                    sent,
                    dealer_shares: Some(dealer_shares),
                    shape,
                }),
            ))
        }
        1 => {
            let t1 = Stream::new(key(2)?, instruction).words(n);
            let x2 = ring::row_major(second);
            let sent: Vec<u64> = x2
                .iter()
                .zip(&t1)
                .map(|(x, t)| x.wrapping_sub(*t) & mask)
                .collect();
            if audit::enabled() {
                let pads: Vec<u64> = t1.iter().map(|t| t & mask).collect();
                audit::stream_pad(
                    party,
                    roles.party(0),
                    instruction,
                    0,
                    mask.count_ones(),
                    KeyId::Pair(roles.party(2)),
                    0,
                    Combine::SubLow,
                    &x2,
                    &pads,
                );
            }
            out[roles.party(0)] = sent.clone();
            Ok((
                out,
                Some(FourierState {
                    sent,
                    dealer_shares: None,
                    shape,
                }),
            ))
        }
        _ => Err(format!("no party P{party}")),
    }
}

/// Finishes the step: an opener's Pending half (public factors encoded at the source scale
/// `frac`), or the dealer's empty placeholder.
#[allow(clippy::too_many_arguments)]
pub fn open_finish(
    party: usize,
    instruction: u64,
    state: Option<FourierState>,
    incoming: super::Incoming<'_>,
    period_bits: u32,
    coefficients: &[f64],
    frac: u32,
    dst_shape: &[usize],
    dealer: u8,
) -> Result<Share, String> {
    let Some(state) = state else {
        return Ok(Share::Pending {
            share: None,
            shape: dst_shape.to_vec(),
        });
    };
    let mask = modulus_mask(period_bits, frac)?;
    let roles = Roles::new(dealer)?;
    let n = state.sent.len();
    let peer_piece = incoming[roles.party(1 - roles.role(party))];
    let shares: &[u64] = match &state.dealer_shares {
        Some(own) => own,
        None => incoming[roles.party(2)],
    };
    let terms = coefficients.len();
    if peer_piece.len() != n || shares.len() != 2 * terms * n {
        return Err("FourierOpen: message sizes do not match the register".into());
    }
    if audit::enabled() {
        audit::record_opening(audit::Opening {
            party,
            instruction,
            width: mask.count_ones(),
            words: (0..n)
                .map(|j| state.sent[j].wrapping_add(peer_piece[j]) & mask)
                .collect(),
        });
    }
    let half: Vec<u64> = (0..n)
        .into_par_iter()
        .map(|j| {
            let theta = angle(state.sent[j].wrapping_add(peer_piece[j]), mask);
            let wave = harmonics(theta, terms);
            let mut acc = 0u64;
            for (m, (c, &(sin, cos))) in coefficients.iter().zip(&wave).enumerate() {
                let sin_delta = secc_ir::fixed::encode(c * sin, frac);
                let cos_delta = secc_ir::fixed::encode(c * cos, frac);
                let (ci, si) = ((2 * m) * n + j, (2 * m + 1) * n + j);
                acc = acc
                    .wrapping_add(sin_delta.wrapping_mul(shares[ci]))
                    .wrapping_add(cos_delta.wrapping_mul(shares[si]));
            }
            acc
        })
        .collect();
    Ok(Share::Pending {
        share: Some(ring::from_vec(&state.shape, half)?),
        shape: state.shape,
    })
}

#[cfg(test)]
mod tests {
    use super::harmonics;

    #[test]
    fn the_recurrence_matches_direct_evaluation() {
        for &theta in &[0.0, 1e-9, 0.3, 1.0, 3.1, 5.5, 6.2] {
            for (m, (s, c)) in harmonics(theta, 7).into_iter().enumerate() {
                let phase = (m + 1) as f64 * theta;
                assert!((s - phase.sin()).abs() < 1e-13 && (c - phase.cos()).abs() < 1e-13);
            }
        }
    }
}
