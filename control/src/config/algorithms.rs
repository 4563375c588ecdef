//! Algorithm keywords of transform sets and ISAKMP policies, with the key and ICV sizes validation needs.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::names::named_enum;

named_enum! {
    /// ESP encryption (`crypto ipsec transform-set` cipher keywords).
    pub enum EspEncryption as "esp_encryption" {
        /// RFC 2410: integrity only.
        EspNull => "esp-null",
        /// DES-CBC (RFC 2405); legacy, weak.
        EspDes => "esp-des",
        /// 3DES-CBC (RFC 2451); legacy, weak.
        Esp3des => "esp-3des",
        /// AES-CBC (RFC 3602). Cisco's bare `esp-aes` means 128 bits.
        EspAes128 => "esp-aes-128" | "esp-aes",
        EspAes192 => "esp-aes-192",
        EspAes256 => "esp-aes-256",
        /// AES-CTR (RFC 3686); the key carries a 4-byte nonce.
        EspAesCtr128 => "esp-aes-ctr-128",
        EspAesCtr192 => "esp-aes-ctr-192",
        EspAesCtr256 => "esp-aes-ctr-256",
        /// AES-GCM with a 16-byte ICV (RFC 4106); the key carries a 4-byte salt.
        EspGcm128 => "esp-gcm-128" | "esp-gcm",
        EspGcm192 => "esp-gcm-192",
        EspGcm256 => "esp-gcm-256",
    }
}

impl EspEncryption {
    /// Length of the manual cipher key in bytes, including the salt/nonce of CTR (RFC 3686 §5.1) and GCM
    /// (RFC 4106 §8.1).
    pub fn key_len(self) -> usize {
        self.cipher_key_len() + self.salt_len()
    }

    /// Length of the block cipher key proper.
    pub fn cipher_key_len(self) -> usize {
        use EspEncryption::*;
        match self {
            EspNull => 0,
            EspDes => 8,
            Esp3des => 24,
            EspAes128 | EspAesCtr128 | EspGcm128 => 16,
            EspAes192 | EspAesCtr192 | EspGcm192 => 24,
            EspAes256 | EspAesCtr256 | EspGcm256 => 32,
        }
    }

    /// Bytes of salt (GCM) or nonce (CTR) at the end of the key material.
    pub fn salt_len(self) -> usize {
        if self.is_aead() || self.is_ctr() {
            4
        } else {
            0
        }
    }

    /// AES-GCM: integrity is part of the cipher, so no separate integrity algorithm or key.
    pub fn is_aead(self) -> bool {
        matches!(self, Self::EspGcm128 | Self::EspGcm192 | Self::EspGcm256)
    }

    pub fn is_ctr(self) -> bool {
        matches!(self, Self::EspAesCtr128 | Self::EspAesCtr192 | Self::EspAesCtr256)
    }

    /// DES and 3DES: accepted for interoperability, flagged in logs and `show`.
    pub fn is_weak(self) -> bool {
        matches!(self, Self::EspDes | Self::Esp3des)
    }
}

named_enum! {
    /// ESP integrity (`esp-*-hmac` transform keywords).
    pub enum EspIntegrity as "esp_integrity" {
        /// HMAC-MD5-96 (RFC 2403).
        EspMd5Hmac => "esp-md5-hmac",
        /// HMAC-SHA1-96 (RFC 2404).
        EspShaHmac => "esp-sha-hmac",
        /// HMAC-SHA2-256-128 (RFC 4868).
        EspSha256Hmac => "esp-sha256-hmac",
        /// HMAC-SHA2-384-192 (RFC 4868).
        EspSha384Hmac => "esp-sha384-hmac",
        /// HMAC-SHA2-512-256 (RFC 4868).
        EspSha512Hmac => "esp-sha512-hmac",
    }
}

named_enum! {
    /// AH integrity (`ah-*-hmac` transform keywords); same HMACs as ESP.
    pub enum AhIntegrity as "ah" {
        AhMd5Hmac => "ah-md5-hmac",
        AhShaHmac => "ah-sha-hmac",
        AhSha256Hmac => "ah-sha256-hmac",
        AhSha384Hmac => "ah-sha384-hmac",
        AhSha512Hmac => "ah-sha512-hmac",
    }
}

/// The HMAC underneath an ESP or AH integrity transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hmac {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hmac {
    /// Key length in bytes: the hash output length (RFC 2403 §3, RFC 2404 §3, RFC 4868 §2.1.1).
    pub fn key_len(self) -> usize {
        match self {
            Hmac::Md5 => 16,
            Hmac::Sha1 => 20,
            Hmac::Sha256 => 32,
            Hmac::Sha384 => 48,
            Hmac::Sha512 => 64,
        }
    }

    /// Truncated ICV length in bytes (96 bits for MD5/SHA1, half the output for SHA-2).
    pub fn icv_len(self) -> usize {
        match self {
            Hmac::Md5 | Hmac::Sha1 => 12,
            Hmac::Sha256 => 16,
            Hmac::Sha384 => 24,
            Hmac::Sha512 => 32,
        }
    }
}

impl EspIntegrity {
    pub fn hmac(self) -> Hmac {
        match self {
            Self::EspMd5Hmac => Hmac::Md5,
            Self::EspShaHmac => Hmac::Sha1,
            Self::EspSha256Hmac => Hmac::Sha256,
            Self::EspSha384Hmac => Hmac::Sha384,
            Self::EspSha512Hmac => Hmac::Sha512,
        }
    }

    pub fn key_len(self) -> usize {
        self.hmac().key_len()
    }
}

impl AhIntegrity {
    pub fn hmac(self) -> Hmac {
        match self {
            Self::AhMd5Hmac => Hmac::Md5,
            Self::AhShaHmac => Hmac::Sha1,
            Self::AhSha256Hmac => Hmac::Sha256,
            Self::AhSha384Hmac => Hmac::Sha384,
            Self::AhSha512Hmac => Hmac::Sha512,
        }
    }

    pub fn key_len(self) -> usize {
        self.hmac().key_len()
    }
}

named_enum! {
    /// Phase 1 encryption (`encryption` in `crypto isakmp policy`).
    pub enum IsakmpEncryption as "encryption" {
        Des => "des",
        TripleDes => "3des",
        /// Cisco's bare `aes` means 128 bits.
        Aes128 => "aes-128" | "aes",
        Aes192 => "aes-192",
        Aes256 => "aes-256",
    }
}

impl IsakmpEncryption {
    pub fn key_len(self) -> usize {
        match self {
            Self::Des => 8,
            Self::TripleDes => 24,
            Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }
}

named_enum! {
    /// Phase 1 hash / PRF (`hash` in `crypto isakmp policy`); Cisco's `sha` is SHA-1.
    pub enum Hash as "hash" {
        Md5 => "md5",
        Sha1 => "sha1" | "sha",
        Sha256 => "sha256",
        Sha384 => "sha384",
        Sha512 => "sha512",
    }
}

named_enum! {
    /// Phase 1 authentication (`authentication` in `crypto isakmp policy`).
    pub enum Auth as "authentication" {
        PreShare => "pre-share",
        RsaSig => "rsa-sig",
        EcdsaSig => "ecdsa-sig",
    }
}

impl Auth {
    /// Signature methods need `[pki]`.
    pub fn uses_certificates(self) -> bool {
        !matches!(self, Auth::PreShare)
    }
}

/// A Diffie-Hellman group by its IANA number (`group` in `crypto isakmp policy`, `set pfs groupN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 768-bit MODP (RFC 2409); weak.
    Modp768 = 1,
    /// 1024-bit MODP (RFC 2409); weak.
    Modp1024 = 2,
    /// 1536-bit MODP (RFC 3526); weak.
    Modp1536 = 5,
    Modp2048 = 14,
    Modp3072 = 15,
    Modp4096 = 16,
    /// NIST P-256 (RFC 5903).
    Ecp256 = 19,
    /// NIST P-384 (RFC 5903).
    Ecp384 = 20,
    /// 2048-bit MODP with a 256-bit prime order subgroup (RFC 5114).
    Modp2048S256 = 24,
}

impl DhGroup {
    pub const ALL: &'static [DhGroup] = &[
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Modp2048S256,
    ];

    pub fn number(self) -> u16 {
        self as u16
    }

    pub fn from_number(n: i64) -> Option<DhGroup> {
        DhGroup::ALL.iter().copied().find(|g| i64::from(g.number()) == n)
    }

    pub fn is_weak(self) -> bool {
        matches!(self, DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536)
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {}", self.number())
    }
}

impl Serialize for DhGroup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.number())
    }
}

impl<'de> Deserialize<'de> for DhGroup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(deserializer)?;
        DhGroup::from_number(n).ok_or_else(|| {
            let all: Vec<String> = DhGroup::ALL.iter().map(|g| g.number().to_string()).collect();
            de::Error::custom(format!("unsupported DH group {n}; expected one of: {}", all.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_include_salt() {
        assert_eq!(EspEncryption::EspGcm256.key_len(), 36);
        assert_eq!(EspEncryption::EspAesCtr128.key_len(), 20);
        assert_eq!(EspEncryption::EspAes192.key_len(), 24);
        assert_eq!(EspEncryption::Esp3des.key_len(), 24);
        assert_eq!(EspEncryption::EspDes.key_len(), 8);
        assert_eq!(EspEncryption::EspNull.key_len(), 0);
        assert_eq!(EspIntegrity::EspSha384Hmac.key_len(), 48);
        assert_eq!(AhIntegrity::AhShaHmac.key_len(), 20);
        assert_eq!(Hmac::Sha512.icv_len(), 32);
    }

    #[test]
    fn keywords_round_trip_and_aliases() {
        for e in EspEncryption::ALL {
            assert_eq!(e.name().parse::<EspEncryption>().unwrap(), *e);
        }
        assert_eq!("sha".parse::<Hash>().unwrap(), Hash::Sha1);
        assert_eq!("esp-aes".parse::<EspEncryption>().unwrap(), EspEncryption::EspAes128);
        let err = "esp-aes-512".parse::<EspEncryption>().unwrap_err();
        assert!(err.contains("unknown esp_encryption \"esp-aes-512\""), "{err}");
        assert!(err.contains("esp-gcm-256"), "{err}");
    }

    #[test]
    fn dh_groups_by_number() {
        assert_eq!(DhGroup::from_number(14), Some(DhGroup::Modp2048));
        assert_eq!(DhGroup::from_number(24), Some(DhGroup::Modp2048S256));
        assert_eq!(DhGroup::from_number(3), None);
        assert!(DhGroup::Modp1024.is_weak());
    }
}
