//! Pseudo-random functions for IKEv1: HMAC with the negotiated hash (RFC 2409 §5; RFC 4868 for SHA-2), and the plain
//! hash used for IV derivation.

use hmac::{Hmac, Mac};
use sha2::Digest;
use zeroize::Zeroize;

use super::secret::Secret;
use crate::isakmp::HashAlgorithm;

/// An HMAC-based PRF. `HmacSha224` has no IKEv1 codepoint; it exists so the NIST SP 800-135 vectors (which include
/// SHA-224) run against the same code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prf {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

macro_rules! hmac_parts {
    ($d:ty, $key:expr, $parts:expr) => {{
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        let mut mac = <Hmac<$d> as Mac>::new_from_slice($key).unwrap_or_else(|_| unreachable!());
        for p in $parts {
            mac.update(p);
        }
        // The output is key material (SKEYID*, KEYMAT): wipe the stack copy once it is in the Secret's buffer.
        let mut out = mac.finalize().into_bytes();
        let v = out.to_vec();
        out.as_mut_slice().zeroize();
        v
    }};
}

macro_rules! hash_parts {
    ($d:ty, $parts:expr) => {{
        let mut h = <$d>::new();
        for p in $parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }};
}

impl Prf {
    /// The PRF of a negotiated Phase 1 hash (IKEv1 uses HMAC of that hash when no PRF attribute is sent).
    pub fn from_hash(h: HashAlgorithm) -> Option<Prf> {
        Some(match h {
            HashAlgorithm::MD5 => Prf::HmacMd5,
            HashAlgorithm::SHA1 => Prf::HmacSha1,
            HashAlgorithm::SHA2_256 => Prf::HmacSha256,
            HashAlgorithm::SHA2_384 => Prf::HmacSha384,
            HashAlgorithm::SHA2_512 => Prf::HmacSha512,
            _ => return None,
        })
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacMd5 => 16,
            Prf::HmacSha1 => 20,
            Prf::HmacSha224 => 28,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    /// `prf(key, parts[0] | parts[1] | ...)`.
    pub fn compute(self, key: &[u8], parts: &[&[u8]]) -> Secret {
        Secret::new(match self {
            Prf::HmacMd5 => hmac_parts!(md5::Md5, key, parts),
            Prf::HmacSha1 => hmac_parts!(sha1::Sha1, key, parts),
            Prf::HmacSha224 => hmac_parts!(sha2::Sha224, key, parts),
            Prf::HmacSha256 => hmac_parts!(sha2::Sha256, key, parts),
            Prf::HmacSha384 => hmac_parts!(sha2::Sha384, key, parts),
            Prf::HmacSha512 => hmac_parts!(sha2::Sha512, key, parts),
        })
    }

    /// The underlying hash of `parts[0] | parts[1] | ...` (not keyed; for IVs).
    pub fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Prf::HmacMd5 => hash_parts!(md5::Md5, parts),
            Prf::HmacSha1 => hash_parts!(sha1::Sha1, parts),
            Prf::HmacSha224 => hash_parts!(sha2::Sha224, parts),
            Prf::HmacSha256 => hash_parts!(sha2::Sha256, parts),
            Prf::HmacSha384 => hash_parts!(sha2::Sha384, parts),
            Prf::HmacSha512 => hash_parts!(sha2::Sha512, parts),
        }
    }
}
