//! A hash that stays the same across builds, platforms and versions (FNV-1a, 64 bits), for
//! what is persisted or seeds a random stream: the template hashes NodeClaims record for drift,
//! and the names random streams are forked by. `std`'s hashers make no such promise.

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [`fnv1a`] as 16 lowercase hex digits, as an annotation records it.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // The published FNV-1a 64 test vectors.
        for (input, expected) in [
            ("", 0xcbf2_9ce4_8422_2325),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            assert_eq!(fnv1a(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(fnv1a_hex(b"a"), "af63dc4c8601ec8c");
    }
}
