//! Seeds and the pseudo-random streams drawn from them.
//!
//! Pairwise keys: key `k_j` is shared by parties P(j-1) and Pj, so party i knows `k_i` and
//! `k_(i+1)` — the same indexing as the components of a replicated share. Each party also has a
//! private seed (the dealer's masks in truncation come from it).
//!
//! Invariant: the words of instruction number `k` (a counter over all instructions of the
//! program, local and communication alike) come from ChaCha keyed by the seed with stream id
//! `k`. Two holders of a key therefore draw identical words for the same instruction whatever
//! order they execute instructions in, and no two instructions ever share words. An instruction
//! that needs several draws from one key takes them one after the other from its stream, in the
//! order its protocol documents.

use crate::error::RuntimeError;
use crate::ring::RingTensor;
use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};

/// A 256-bit ChaCha key.
pub type Seed = [u8; 32];

/// A fresh seed from the operating system's entropy source.
pub fn os_seed() -> Result<Seed, RuntimeError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RuntimeError::Entropy(e.to_string()))?;
    Ok(seed)
}

/// The words one instruction draws from one seed.
pub struct Stream {
    rng: ChaCha12Rng,
}

impl Stream {
    /// The stream of instruction `instruction` under `seed`.
    pub fn new(seed: &Seed, instruction: u64) -> Self {
        let mut rng = ChaCha12Rng::from_seed(*seed);
        rng.set_stream(instruction);
        Stream { rng }
    }

    /// The next `n` words.
    pub fn words(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.rng.next_u64()).collect()
    }

    /// The next words, shaped as a tensor.
    pub fn tensor(&mut self, shape: &[usize]) -> RingTensor {
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), self.words(n)).expect("n words fill the shape")
    }
}

/// A generator seeded from the OS, for values that must be fresh and need no agreement (the
/// client's input masks, the model owner's weight masks).
pub fn os_stream() -> Result<Stream, RuntimeError> {
    Ok(Stream::new(&os_seed()?, 0))
}

/// The seeds one party holds.
#[derive(Clone)]
pub struct PartySeeds {
    /// This party's number i.
    pub party: usize,
    /// Key k_i, shared with party i-1.
    pub own_key: Seed,
    /// Key k_(i+1), shared with party i+1.
    pub next_key: Seed,
    /// Known to this party alone.
    pub private: Seed,
}

impl PartySeeds {
    /// Key `k_j`, if this party holds it.
    pub fn key(&self, j: usize) -> Option<&Seed> {
        if j == self.party {
            Some(&self.own_key)
        } else if j == (self.party + 1) % 3 {
            Some(&self.next_key)
        } else {
            None
        }
    }

    /// Key `k_j`, or an internal error when a protocol asks for a key this party cannot hold
    /// (which would be a bug in the protocol code, not in the program).
    pub fn require_key(&self, j: usize) -> Result<&Seed, RuntimeError> {
        self.key(j).ok_or_else(|| {
            RuntimeError::Internal(format!("party P{} does not hold key k{j}", self.party))
        })
    }

    /// Component `i` (this party's first) of a zero sharing for instruction `instruction`:
    /// alpha_i = F(k_i) - F(k_(i+1)); the three parties' values sum to zero.
    pub fn zero_share(&self, instruction: u64, shape: &[usize]) -> RingTensor {
        let a = Stream::new(&self.own_key, instruction).tensor(shape);
        let b = Stream::new(&self.next_key, instruction).tensor(shape);
        crate::ring::sub(&a, &b).expect("equal shapes")
    }

    /// The boolean counterpart: F(k_i) XOR F(k_(i+1)); the three values XOR to zero.
    pub fn zero_share_bool(&self, instruction: u64, shape: &[usize]) -> RingTensor {
        let a = Stream::new(&self.own_key, instruction).tensor(shape);
        let b = Stream::new(&self.next_key, instruction).tensor(shape);
        crate::ring::xor(&a, &b).expect("equal shapes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_instruction_and_repeat_for_the_same_one() {
        let seed = [7u8; 32];
        let a = Stream::new(&seed, 3).words(5);
        assert_eq!(a, Stream::new(&seed, 3).words(5));
        assert_ne!(a, Stream::new(&seed, 4).words(5));
    }

    #[test]
    fn zero_shares_sum_to_zero() {
        let keys = [[1u8; 32], [2u8; 32], [3u8; 32]];
        let seeds: Vec<PartySeeds> = (0..3)
            .map(|i| PartySeeds {
                party: i,
                own_key: keys[i],
                next_key: keys[(i + 1) % 3],
                private: [9; 32],
            })
            .collect();
        let shares: Vec<RingTensor> = seeds.iter().map(|s| s.zero_share(11, &[4])).collect();
        let sum = crate::ring::add(
            &crate::ring::add(&shares[0], &shares[1]).unwrap(),
            &shares[2],
        )
        .unwrap();
        assert!(sum.iter().all(|&v| v == 0));
        assert!(shares[0].iter().any(|&v| v != 0));
        let bools: Vec<RingTensor> = seeds.iter().map(|s| s.zero_share_bool(11, &[4])).collect();
        let x =
            crate::ring::xor(&crate::ring::xor(&bools[0], &bools[1]).unwrap(), &bools[2]).unwrap();
        assert!(x.iter().all(|&v| v == 0));
    }
}
