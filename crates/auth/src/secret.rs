//! Random secrets and comparisons that take the same time whatever the inputs hold.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS generator failing is not a condition a server can work around: without it no key is safe.
    getrandom::getrandom(&mut out).unwrap_or_else(|e| panic!("the operating system's random generator failed: {e}"));
    out
}

/// Compares two secrets of any lengths in constant time (both are hashed first, so neither the length nor the
/// position of the first difference leaks through timing).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.ct_eq(&hb).into()
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_and_hex() {
        assert!(secrets_equal(b"s3cret", b"s3cret"));
        assert!(!secrets_equal(b"s3cret", b"s3cre"));
        assert!(!secrets_equal(b"", b"x"));
        assert_eq!(from_hex(&to_hex(&[0, 15, 255])).unwrap(), vec![0, 15, 255]);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
    }
}
