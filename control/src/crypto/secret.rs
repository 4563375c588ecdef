//! A byte string holding key material: zeroized on drop, never printed, compared in constant time.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes (DH shared secrets, SKEYID*, keys, pre-shared keys). `Debug` shows only the length.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }

    /// The secret bytes; callers keep them only in other `Secret`s or transient buffers they zeroize.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the first `n` bytes (zeroizing the rest).
    pub fn truncate(&mut self, n: usize) {
        if n < self.0.len() {
            self.0[n..].zeroize();
            self.0.truncate(n);
        }
    }

    /// Appends bytes; the old allocation is zeroized if the vector has to grow.
    pub fn extend_from_slice(&mut self, more: &[u8]) {
        if self.0.capacity() - self.0.len() < more.len() {
            let mut grown = Vec::with_capacity((self.0.len() + more.len()).max(2 * self.0.capacity()));
            grown.extend_from_slice(&self.0);
            self.0.zeroize();
            self.0 = grown;
        }
        self.0.extend_from_slice(more);
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

/// Constant-time equality (for comparing hashes and MACs received from a peer).
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Secret {}

/// Compares two byte strings in constant time (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let s = Secret::from_slice(b"example-only-secret");
        assert_eq!(format!("{s:?}"), "Secret([redacted; 19 bytes])");
    }

    #[test]
    fn grow_truncate_compare() {
        let mut s = Secret::from_slice(&[1, 2, 3]);
        s.extend_from_slice(&[4; 100]);
        assert_eq!(s.len(), 103);
        s.truncate(2);
        assert_eq!(s.expose(), &[1, 2]);
        assert_eq!(s, Secret::from_slice(&[1, 2]));
        assert_ne!(s, Secret::from_slice(&[1, 3]));
        assert_ne!(s, Secret::from_slice(&[1, 2, 0]));
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd"));
    }
}
