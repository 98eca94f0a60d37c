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
//! the reshare that follows is the round (see `reshare`). Circuits that use only the low bits
//! of a word gather them with a parallel bit extract ([`extract`], local and XOR-linear) and
//! send only them ([`pack_bits`], the packed reshare).

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

/// A parallel bit extract (PEXT) for one fixed mask, by byte tables: each non-zero byte of the
/// mask has a 256-entry table of its gathered bits and the offset they land at.
pub struct Extractor {
    /// (byte index, table, output offset) for every non-zero mask byte.
    bytes: Vec<(u32, [u8; 256], u32)>,
    /// `Some((shift, mask))` when the mask is one run of ones: (w >> shift) & mask.
    run: Option<(u32, u64)>,
}

impl Extractor {
    pub fn new(mask: u64) -> Self {
        let shift = mask.trailing_zeros().min(63);
        let shifted = mask >> shift;
        let run = (shifted & shifted.wrapping_add(1) == 0).then_some((shift, shifted));
        let mut bytes = Vec::new();
        let mut offset = 0;
        for j in 0..8u32 {
            let m = ((mask >> (8 * j)) & 0xff) as u8;
            if m == 0 {
                continue;
            }
            let mut table = [0u8; 256];
            for (v, entry) in table.iter_mut().enumerate() {
                *entry = pext_slow(v as u64, u64::from(m)) as u8;
            }
            bytes.push((j, table, offset));
            offset += m.count_ones();
        }
        Extractor { bytes, run }
    }

    pub fn apply(&self, w: u64) -> u64 {
        if let Some((shift, mask)) = self.run {
            return (w >> shift) & mask;
        }
        self.bytes.iter().fold(0, |out, (j, table, offset)| {
            out | u64::from(table[((w >> (8 * j)) & 0xff) as usize]) << offset
        })
    }
}

/// PEXT bit by bit (the definition; tables and tests use it).
pub fn pext_slow(w: u64, mut mask: u64) -> u64 {
    let mut out = 0;
    let mut k = 0;
    while mask != 0 {
        let lowest = mask & mask.wrapping_neg();
        if w & lowest != 0 {
            out |= 1 << k;
        }
        k += 1;
        mask &= mask - 1;
    }
    out
}

/// The bits at the positions of `mask` of every word, gathered into the low bits: the CPU's
/// PEXT where it is fast (see [`hardware_pext`]), else byte tables ([`Extractor`]).
pub fn extract(t: &RingTensor, mask: u64) -> RingTensor {
    #[cfg(target_arch = "x86_64")]
    if hardware_pext() {
        if let Some(words) = t.as_slice() {
            let mut data = vec![0u64; words.len()];
            use rayon::prelude::*;
            const CHUNK: usize = 1 << 14;
            data.par_chunks_mut(CHUNK)
                .zip(words.par_chunks(CHUNK))
                .for_each(|(out, src)| {
                    // SAFETY: `hardware_pext` checked that the CPU has BMI2.
                    unsafe { pext_bmi2(src, out, mask) }
                });
            return ring::from_vec(t.shape(), data).expect("same element count as the source");
        }
    }
    let extractor = Extractor::new(mask);
    ring::map(t, move |w| extractor.apply(w))
}

/// Whether to use the PEXT instruction: BMI2 present, and AVX-512F as a proxy for a core that
/// executes PEXT in a few cycles (Intel since Haswell, AMD since Zen 3; AMD's Zen 1 and 2, which
/// have BMI2 but microcode PEXT at up to hundreds of cycles, have no AVX-512).
#[cfg(target_arch = "x86_64")]
fn hardware_pext() -> bool {
    std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn pext_bmi2(words: &[u64], out: &mut [u64], mask: u64) {
    for (o, &w) in out.iter_mut().zip(words) {
        *o = std::arch::x86_64::_pext_u64(w, mask);
    }
}

/// The low `width` bits (1..=64) of each word, packed densely: word j of the result holds bits
/// 64j..64j+63 of the stream in which element i occupies bits i*width..(i+1)*width.
pub fn pack_bits(words: &[u64], width: u32) -> Vec<u64> {
    let n = secc_ir::lir::packed_words(words.len() as u64, width) as usize;
    if width == 64 {
        return words.to_vec();
    }
    let keep = (1u64 << width) - 1;
    let mut out = vec![0u64; n];
    let mut bit = 0usize;
    for &w in words {
        let v = w & keep;
        let (index, offset) = (bit / 64, (bit % 64) as u32);
        out[index] |= v << offset;
        if offset + width > 64 {
            out[index + 1] |= v >> (64 - offset);
        }
        bit += width as usize;
    }
    out
}

/// The inverse of [`pack_bits`] for `n` elements.
pub fn unpack_bits(packed: &[u64], n: usize, width: u32) -> Result<Vec<u64>, String> {
    let expected = secc_ir::lir::packed_words(n as u64, width) as usize;
    if packed.len() != expected {
        return Err(format!(
            "{} packed words for {n} elements of {width} bits ({expected} expected)",
            packed.len()
        ));
    }
    if width == 64 {
        return Ok(packed.to_vec());
    }
    let keep = (1u64 << width) - 1;
    let mut bit = 0usize;
    Ok((0..n)
        .map(|_| {
            let (index, offset) = (bit / 64, (bit % 64) as u32);
            let mut v = packed[index] >> offset;
            if offset + width > 64 {
                v |= packed[index + 1] << (64 - offset);
            }
            bit += width as usize;
            v & keep
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_agrees_with_the_definition() {
        let masks = [
            0,
            1,
            u64::MAX,
            0xaaaa_aaaa_aaaa_aaaa,
            0x5555_5555_5555_5555,
            0x7fff_fffe,
            1 << 63,
            0x8000_0000_0000_0001,
            0x0123_4567_89ab_cdef,
        ];
        let mut w = 0x9e37_79b9_7f4a_7c15u64;
        for &mask in &masks {
            let e = Extractor::new(mask);
            for _ in 0..200 {
                w = w.rotate_left(17).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234;
                assert_eq!(e.apply(w), pext_slow(w, mask), "mask {mask:#x} word {w:#x}");
            }
        }
        assert_eq!(pext_slow(0b1011_0110, 0b1111_0000), 0b1011);
        // `extract` (the CPU's PEXT where the machine has it) agrees with the definition.
        for &mask in &masks {
            let words: Vec<u64> = (0..40_000u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i << 7))
                .collect();
            let t = ring::from_vec(&[200, 200], words.clone()).unwrap();
            let got = extract(&t, mask);
            for (g, w) in got.iter().zip(&words) {
                assert_eq!(*g, pext_slow(*w, mask), "mask {mask:#x} word {w:#x}");
            }
        }
        assert_eq!(pext_slow(0b10, 0b1010), 0b01);
    }

    #[test]
    fn packing_round_trips_at_every_width() {
        let words: Vec<u64> = (0..37u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for width in 1..=64u32 {
            let packed = pack_bits(&words, width);
            assert_eq!(packed.len() as u64, secc_ir::lir::packed_words(37, width));
            let back = unpack_bits(&packed, words.len(), width).unwrap();
            let keep = if width == 64 {
                u64::MAX
            } else {
                (1 << width) - 1
            };
            let expected: Vec<u64> = words.iter().map(|w| w & keep).collect();
            assert_eq!(back, expected, "width {width}");
        }
        assert!(unpack_bits(&[0], 3, 31).is_err());
    }
}
