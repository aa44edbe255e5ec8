//! The stable hash consistent hashing ranks backends with.

/// FNV-1a followed by a splitmix finaliser: stable across builds and
/// platforms (unlike `DefaultHasher`), and well mixed in the high bits.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separator so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Weighted rendezvous score of a backend for a key; the highest wins.
///
/// `weight / -ln(u)` with `u` uniform in (0,1) gives each backend a share
/// of keys proportional to its weight, and removing a backend only moves
/// the keys it owned.
pub fn rendezvous_score(key: &str, backend: &str, weight: u32) -> f64 {
    let h = stable_hash(&[key.as_bytes(), backend.as_bytes()]);
    // Top 53 bits → (0,1), never exactly 0 so ln stays finite.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(weight) / -u.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        assert_eq!(stable_hash(&[b"a"]), stable_hash(&[b"a"]));
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    }
}
