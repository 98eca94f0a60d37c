//! Seeds and the pseudo-random streams drawn from them.
//!
//! Pairwise keys: key `k_j` is shared by parties P(j-1) and Pj, so party i knows `k_i` and
//! `k_(i+1)` — the same indexing as the components of a replicated share. Each party also has a
//! private seed (the dealer's masks in truncation come from it).
//!
//! Invariant: the words of instruction number `k` (a counter over all instructions of the
//! program, local and communication alike) come from AES-CTR keyed by the seed with stream id
//! `k`: word pair `b` of the stream is AES_seed(k || b) (two 64-bit big-endian halves of the
//! counter block), read as two little-endian words. Two holders of a key therefore draw identical words for the same instruction whatever
//! order they execute instructions in, and no two instructions ever share words. An instruction
//! that needs several draws from one key takes them one after the other from its stream, in the
//! order its protocol documents.

use crate::error::RuntimeError;
use crate::ring::RingTensor;
use ctr::cipher::{KeyIvInit, StreamCipher};
use ndarray::{ArrayD, IxDyn};

/// A 256-bit AES key.
pub type Seed = [u8; 32];

/// AES-256 in counter mode with the stream id in the high 64 bits of the counter block and the
/// block number in the low 64 bits, so that two (stream, block) pairs never share an input
/// block. The `aes` crate picks the CPU's AES instructions (AES-NI, VAES) at run time.
type Cipher = ctr::Ctr64BE<aes::Aes256>;

/// A fresh seed from the operating system's entropy source.
pub fn os_seed() -> Result<Seed, RuntimeError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RuntimeError::Entropy(e.to_string()))?;
    Ok(seed)
}

/// The words one instruction draws from one seed.
pub struct Stream {
    cipher: Cipher,
}

impl Stream {
    /// The stream of instruction `instruction` under `seed`.
    pub fn new(seed: &Seed, instruction: u64) -> Self {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&instruction.to_be_bytes());
        Stream {
            cipher: Cipher::new(seed.into(), &block.into()),
        }
    }

    /// The next `n` words.
    pub fn words(&mut self, n: usize) -> Vec<u64> {
        // Through a small buffer that stays in L1: a keystream buffer as large as the result
        // (megabytes for BERT-base registers) made draws three times slower than ChaCha12.
        const CHUNK: usize = 512;
        let mut out = vec![0u64; n];
        let mut bytes = [0u8; 8 * CHUNK];
        for words in out.chunks_mut(CHUNK) {
            let keystream = &mut bytes[..8 * words.len()];
            self.cipher.write_keystream(keystream);
            for (word, b) in words.iter_mut().zip(keystream.chunks_exact(8)) {
                *word = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
        }
        out
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
    fn draws_continue_the_stream_across_calls_and_buffer_chunks() {
        let seed = [5u8; 32];
        let whole = Stream::new(&seed, 9).words(1100);
        let mut stream = Stream::new(&seed, 9);
        let mut parts = stream.words(3);
        parts.extend(stream.words(700));
        parts.extend(stream.words(397));
        assert_eq!(whole, parts);
        // Word pair b is AES(k || b): the first pair of stream 9 is not that of stream 0 and
        // no word repeats within a stream (as a biased or unkeyed generator would).
        assert_ne!(whole[..2], Stream::new(&seed, 0).words(2)[..]);
        let distinct: std::collections::HashSet<u64> = whole.iter().copied().collect();
        assert_eq!(distinct.len(), whole.len());
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
