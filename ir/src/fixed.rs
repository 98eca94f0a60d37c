//! Fixed-point encoding of reals in Z_2^64 (two's complement, `frac_bits` fraction bits).

/// Largest magnitude that encodes without wrapping, for `frac_bits` fraction bits.
pub fn max_abs(frac_bits: u32) -> f64 {
    2f64.powi(62 - frac_bits as i32)
}

/// Encodes `x` rounded to the nearest multiple of 2^-frac_bits; values beyond the ring's range
/// saturate (callers that must not saturate check [`max_abs`] first).
pub fn encode(x: f64, frac_bits: u32) -> u64 {
    let scaled = (x * 2f64.powi(frac_bits as i32)).round();
    let clamped = scaled.clamp(-(2f64.powi(62)), 2f64.powi(62));
    (clamped as i64) as u64
}

/// Decodes a ring element as a signed fixed-point number.
pub fn decode(x: u64, frac_bits: u32) -> f64 {
    (x as i64) as f64 / 2f64.powi(frac_bits as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_within_half_an_ulp() {
        for &x in &[0.0, 1.0, -1.0, 1.2345, -2.5e-5, 12345.678, -(2f64.powi(40))] {
            let back = decode(encode(x, 16), 16);
            assert!((back - x).abs() <= 0.5 / 65536.0 + 1e-12, "{x} -> {back}");
        }
    }

    #[test]
    fn negative_values_wrap_to_the_top_of_the_ring() {
        assert_eq!(
            encode(-1.0, 16),
            (1u64 << 63).wrapping_sub(1 << 16).wrapping_add(1 << 63)
        );
        assert_eq!(encode(1.0, 16), 1 << 16);
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        assert_eq!(decode(encode(-3.4e38, 16), 16), -(2f64.powi(46)));
    }
}
