//! Per-SA HMAC with the inner and outer pad states computed once at install.
//!
//! `Hmac<D>` from RustCrypto stores the hash state after absorbing `key ^ ipad` and `key ^ opad`; cloning it for a
//! packet copies those two midstates (no key setup, no allocation), which is the ipad/opad precomputation.

use super::{CryptoError, IntegrityAlgorithm};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// Largest full HMAC output (SHA-512).
pub const MAX_MAC_LEN: usize = 64;

/// A keyed integrity algorithm.
#[derive(Clone)]
pub enum Integrity {
    None,
    Md5(Hmac<md5::Md5>),
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

impl core::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Integrity(..)")
    }
}

fn mac<M: Mac + Clone>(m: &M, parts: &[&[u8]], out: &mut [u8; MAX_MAC_LEN]) -> usize {
    let mut m = m.clone();
    for p in parts {
        m.update(p);
    }
    let full = m.finalize().into_bytes();
    out[..full.len()].copy_from_slice(&full);
    full.len()
}

impl Integrity {
    /// Builds the keyed HMAC. The key must have the length the RFCs require (the hash output length).
    pub fn new(alg: IntegrityAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        Self::build(alg, key, true)
    }

    /// Like [`Integrity::new`] but accepts any key length (HMAC allows it; used for RFC vectors with short keys).
    pub fn new_any_key_len(alg: IntegrityAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        Self::build(alg, key, false)
    }

    fn build(alg: IntegrityAlgorithm, key: &[u8], strict: bool) -> Result<Self, CryptoError> {
        use IntegrityAlgorithm as I;
        if strict && key.len() != alg.key_len() {
            return Err(CryptoError::KeyLength { algorithm: alg.name(), expected: alg.key_len(), got: key.len() });
        }
        // HMAC takes keys of any length, so new_from_slice cannot fail.
        let bad = |_| CryptoError::KeyLength { algorithm: alg.name(), expected: alg.key_len(), got: key.len() };
        Ok(match alg {
            I::None => Self::None,
            I::HmacMd5_96 => Self::Md5(Hmac::new_from_slice(key).map_err(bad)?),
            I::HmacSha1_96 => Self::Sha1(Hmac::new_from_slice(key).map_err(bad)?),
            I::HmacSha256_128 => Self::Sha256(Hmac::new_from_slice(key).map_err(bad)?),
            I::HmacSha384_192 => Self::Sha384(Hmac::new_from_slice(key).map_err(bad)?),
            I::HmacSha512_256 => Self::Sha512(Hmac::new_from_slice(key).map_err(bad)?),
        })
    }

    pub fn icv_len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::Md5(_) | Self::Sha1(_) => 12,
            Self::Sha256(_) => 16,
            Self::Sha384(_) => 24,
            Self::Sha512(_) => 32,
        }
    }

    /// The untruncated HMAC of the concatenated `parts`; returns its length.
    pub fn full_mac(&self, parts: &[&[u8]], out: &mut [u8; MAX_MAC_LEN]) -> usize {
        match self {
            Self::None => 0,
            Self::Md5(m) => mac(m, parts, out),
            Self::Sha1(m) => mac(m, parts, out),
            Self::Sha256(m) => mac(m, parts, out),
            Self::Sha384(m) => mac(m, parts, out),
            Self::Sha512(m) => mac(m, parts, out),
        }
    }

    /// Writes the truncated ICV of the concatenated `parts` into `icv` (`icv_len()` bytes).
    pub fn compute(&self, parts: &[&[u8]], icv: &mut [u8]) {
        let mut full = [0u8; MAX_MAC_LEN];
        self.full_mac(parts, &mut full);
        let n = icv.len();
        icv.copy_from_slice(&full[..n]);
    }

    /// Constant-time comparison of the received ICV with the computed one.
    pub fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> bool {
        let mut full = [0u8; MAX_MAC_LEN];
        self.full_mac(parts, &mut full);
        icv.len() == self.icv_len() && bool::from(full[..icv.len()].ct_eq(icv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2202_hmac_md5_and_sha1_case_1() {
        let m = Integrity::new_any_key_len(IntegrityAlgorithm::HmacMd5_96, &[0x0b; 16]).unwrap();
        let mut icv = [0u8; 12];
        m.compute(&[b"Hi ", b"There"], &mut icv);
        assert_eq!(icv, [0x92, 0x94, 0x72, 0x7a, 0x36, 0x38, 0xbb, 0x1c, 0x13, 0xf4, 0x8e, 0xf8]);
        let s = Integrity::new(IntegrityAlgorithm::HmacSha1_96, &[0x0b; 20]).unwrap();
        s.compute(&[b"Hi There"], &mut icv);
        assert_eq!(icv, [0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b, 0xc0, 0xb6]);
        assert!(s.verify(&[b"Hi There"], &icv));
        icv[11] ^= 1;
        assert!(!s.verify(&[b"Hi There"], &icv));
        assert!(!s.verify(&[b"Hi There"], &icv[..11]));
    }

    #[test]
    fn strict_key_length() {
        assert!(Integrity::new(IntegrityAlgorithm::HmacSha256_128, &[1; 20]).is_err());
    }
}
