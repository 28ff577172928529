//! Deterministic hashing: every generated value is a pure function of the seed and a few integers.

use rand::SeedableRng;
use rand::rngs::SmallRng;

/// The SplitMix64 finaliser: a fast, well-mixed 64-bit permutation.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a seed and a list of integers into one well-mixed value.
pub fn hash(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix(seed), |acc, &p| mix(acc ^ p.wrapping_mul(0xA24B_AED4_963E_E407)))
}

/// A stable tag for a name (FNV-1a), to mix route and stream names into hashes.
pub fn tag(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

/// Maps a hash to a uniform float in `[0, 1)`.
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A small fast RNG seeded from the seed and a list of integers.
pub fn rng(seed: u64, parts: &[u64]) -> SmallRng {
    SmallRng::seed_from_u64(hash(seed, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_in_range_and_spread() {
        let n = 10_000u64;
        let below_half = (0..n).filter(|&i| unit(hash(7, &[i])) < 0.5).count();
        assert!((4_700..=5_300).contains(&below_half), "{below_half}");
        assert!((0..n).all(|i| (0.0..1.0).contains(&unit(hash(7, &[i])))));
    }

    #[test]
    fn tags_differ() {
        assert_ne!(tag("tickets"), tag("users"));
        assert_eq!(tag("tickets"), tag("tickets"));
    }
}
