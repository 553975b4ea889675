//! The form of the ids our services issue: voter ids (the cookie
//! `voter_id`, then each ballot's `voter_id`), and request ids alike, are
//! 16 lowercase hex digits.

/// `n` as 16 lowercase hex digits, as `{:016x}` writes it, without the
/// formatting machinery: ids are made on every request's path.
pub fn hex16(n: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex16_writes_what_the_formatter_writes() {
        for n in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(hex16(n), format!("{n:016x}").as_bytes());
        }
    }
}
