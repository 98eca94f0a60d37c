//! Boolean circuits written once as LIR instructions, for every program builder: codegen's
//! emitter (`compiler/src/codegen/protocols/compare.rs`) and the runtime's reference compositions
//! (`runtime/src/protocols/compose.rs`), so the runtime's tests execute exactly the circuit the
//! compiler emits.
//!
//! [`msb_bounded`] is the sign of a share whose value is known to fit in `bits` bits, with
//! bit-packed ANDs: only the low `bits` bits of the three arithmetic components enter a
//! carry-save adder, and a carry *tree* (not a prefix circuit: only the carry into the top bit
//! is needed) halves the number of ANDed bits per level. Every AND is a `BoolAndLocal` plus a
//! `ReshareBoolPacked` whose message carries only the meaningful bits.

use crate::lir::{CommInstr, LocalInstr, Reg, RegKind};

/// What a circuit needs from a program builder.
pub trait LirSink {
    /// A new register.
    fn reg(&mut self, kind: RegKind, shape: &[usize], frac_bits: u32) -> Reg;
    fn shape(&self, reg: Reg) -> Vec<usize>;
    /// Appends a local instruction; returns its destination.
    fn local(&mut self, instr: LocalInstr) -> Reg;
    /// Appends a communication step; returns its destination.
    fn comm(&mut self, instr: CommInstr) -> Reg;
}

/// Mask of the low `n` bits (n <= 64).
pub fn low_bits(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Rounds and bits sent per element by each party for [`msb_bounded`] with `bits`: one AND
/// round for the carry-save adder (bits - 1 bits), one for the first generate (bits - 2 bits)
/// and ceil(log2(bits - 2)) tree levels. Returns (rounds, widths of the packed ANDs in order).
pub fn msb_bounded_cost(bits: u32) -> (u32, Vec<u32>) {
    let mut widths = Vec::new();
    if bits >= 2 {
        widths.push(bits - 1);
    }
    if bits >= 3 {
        let mut n = bits - 2;
        widths.push(n);
        while n > 1 {
            let (k, u) = (n / 2, n % 2);
            widths.push(k + k - (1 - u));
            n = k + u;
        }
    }
    (widths.len() as u32, widths)
}

struct Circuit<'s, S: LirSink> {
    sink: &'s mut S,
    shape: Vec<usize>,
}

impl<S: LirSink> Circuit<'_, S> {
    fn bool_reg(&mut self) -> Reg {
        self.sink.reg(RegKind::BoolRss, &self.shape, 0)
    }

    fn xor(&mut self, a: Reg, b: Reg) -> Reg {
        let dst = self.bool_reg();
        self.sink.local(LocalInstr::BoolXor { dst, a, b })
    }

    fn shl(&mut self, a: Reg, bits: u32) -> Reg {
        if bits == 0 {
            return a;
        }
        let dst = self.bool_reg();
        self.sink.local(LocalInstr::BoolShl { dst, a, bits })
    }

    fn extract(&mut self, a: Reg, mask: u64) -> Reg {
        let dst = self.bool_reg();
        self.sink.local(LocalInstr::BoolExtract { dst, a, mask })
    }

    /// AND of the low `width` bits (one round; the result has zeros above `width`).
    fn and(&mut self, a: Reg, b: Reg, width: u32) -> Reg {
        let local = self.sink.reg(RegKind::BoolAdd3, &self.shape, 0);
        self.sink
            .local(LocalInstr::BoolAndLocal { dst: local, a, b });
        let dst = self.bool_reg();
        self.sink.comm(CommInstr::ReshareBoolPacked {
            dst,
            src: local,
            width,
        })
    }
}

/// Mask of the bits `start, start + 2, ...` below `end`.
fn every_other(start: u32, end: u32) -> u64 {
    (start..end).step_by(2).fold(0, |m, i| m | 1 << i)
}

/// Boolean sharing (words 0 or 1) of the sign of an Rss `x` whose ring value lies in
/// [-2^(bits-1), 2^(bits-1)) (2 <= bits <= 64; exact for every ring element with 64). Outside
/// that range the result is bit bits-1 of x mod 2^bits, not the sign: the caller guarantees
/// the bound (a secret cannot be range-checked at run time).
///
/// The sign of x is the sign of x 2^(64-bits), whose components have their low 64 - bits bits
/// zero, so no carry comes from there; their top `bits` bits are the low `bits` bits of the
/// components x_c, which `BoolExtract` keeps. Then:
/// - carry-save adder: w0 + w1 + w2 = s + (maj << 1), maj = ((w0 ^ w2) & (w1 ^ w2)) ^ w2, one
///   AND of bits - 1 bits (the majority's top bit would be shifted out);
/// - sign = s_(bits-1) ^ c_(bits-1) ^ (carry into bit bits-1 of s + c), c = maj << 1;
/// - c_0 = 0, so nothing carries out of bit 0: the carry is the group generate of bit positions
///   1..bits-2 (n = bits - 2 groups of one bit; generate g = s & c is one AND of n bits,
///   propagate p = s ^ c is local);
/// - carry tree: each level pairs adjacent groups (hi, lo) into
///   (G_hi ^ P_hi G_lo, P_hi P_lo) (a group's G and P are never both set, so OR is XOR); both
///   ANDs of a level are one packed AND (P_hi next to P_hi, against G_lo next to P_lo); the
///   group holding bit 1 never needs its P (nothing carries into it), and an odd group out is
///   the lowest one, kept as it is. ceil(log2(n)) levels.
///
/// Cost for bits = 32: 7 rounds, 31 + 30 + 29 + 14 + 7 + 3 + 1 = 115 bits per element sent
/// by each party (see [`msb_bounded_cost`]).
pub fn msb_bounded<S: LirSink>(sink: &mut S, x: Reg, bits: u32) -> Reg {
    assert!(
        (2..=64).contains(&bits),
        "msb_bounded needs 2 <= bits <= 64, got {bits}"
    );
    let shape = sink.shape(x);
    let mut c = Circuit { sink, shape };
    let w: Vec<Reg> = (0..3u8)
        .map(|component| {
            let dst = c.bool_reg();
            let whole = c.sink.local(LocalInstr::ComponentToBool {
                dst,
                src: x,
                component,
            });
            if bits == 64 {
                whole
            } else {
                c.extract(whole, low_bits(bits))
            }
        })
        .collect();
    // Carry-save adder.
    let t0 = c.xor(w[0], w[2]);
    let t1 = c.xor(w[1], w[2]);
    let m = c.and(t0, t1, bits - 1);
    let w2_low = c.extract(w[2], low_bits(bits - 1));
    let majority = c.xor(m, w2_low);
    let carry = c.shl(majority, 1);
    let s01 = c.xor(w[0], w[1]);
    let s = c.xor(s01, w[2]);
    let sc = c.xor(s, carry);
    let top = c.extract(sc, 1 << (bits - 1));
    if bits == 2 {
        return top;
    }
    // Generate and propagate of positions 1..bits-2, as groups 0..n-1.
    let mut n = bits - 2;
    let positions = low_bits(bits - 1) & !1;
    let s_g = c.extract(s, positions);
    let c_g = c.extract(carry, positions);
    let mut g = c.and(s_g, c_g, n);
    let mut p = c.xor(s_g, c_g);
    while n > 1 {
        // Pairs j = 0..k (lo = 2j + u, hi = lo + 1); with n odd, group 0 stays alone.
        let (k, u) = (n / 2, n % 2);
        let hi = every_other(u + 1, n);
        let lo = every_other(u, n);
        // Pairs whose lo group is group 0 need no P: none when n is odd, pair 0 otherwise.
        let (hi_p, lo_p) = if u == 0 { (hi & !2, lo & !1) } else { (hi, lo) };
        let with_p = k - (1 - u);
        let p_hi = c.extract(p, hi);
        let g_lo = c.extract(g, lo);
        let (a, b) = if with_p > 0 {
            let p_hi2 = c.extract(p, hi_p);
            let p_hi2 = c.shl(p_hi2, k);
            let p_lo2 = c.extract(p, lo_p);
            let p_lo2 = c.shl(p_lo2, k);
            (c.xor(p_hi, p_hi2), c.xor(g_lo, p_lo2))
        } else {
            (p_hi, g_lo)
        };
        let r = c.and(a, b, k + with_p);
        let g_hi = c.extract(g, hi);
        let through = c.extract(r, low_bits(k));
        let g_pairs = c.xor(g_hi, through);
        let next = k + u;
        g = if u == 1 {
            let shifted = c.shl(g_pairs, 1);
            let alone = c.extract(g, 1);
            c.xor(shifted, alone)
        } else {
            g_pairs
        };
        if next > 1 {
            // P of the pairs (all but the group-0 one), into groups 1..next-1.
            let pairs_p = c.extract(r, low_bits(k + with_p) & !low_bits(k));
            p = c.shl(pairs_p, 1);
        }
        n = next;
    }
    c.xor(top, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_of_32_bits() {
        let (rounds, widths) = msb_bounded_cost(32);
        assert_eq!(rounds, 7);
        assert_eq!(widths, vec![31, 30, 29, 14, 7, 3, 1]);
        assert_eq!(msb_bounded_cost(64).0, 8);
        assert_eq!(msb_bounded_cost(2), (1, vec![1]));
        assert_eq!(msb_bounded_cost(3), (2, vec![2, 1]));
    }

    #[test]
    fn masks() {
        assert_eq!(every_other(0, 5), 0b10101);
        assert_eq!(every_other(1, 5), 0b01010);
        assert_eq!(low_bits(64), u64::MAX);
        assert_eq!(low_bits(3), 7);
    }
}
