//! The ESP algorithms of the seed, with their key, IV, block and ICV sizes.

/// ESP encryption (RFC 4303 §3.2, IANA "ESP Transform Identifiers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    Null,
    DesCbc,
    TripleDesCbc,
    AesCbc128,
    AesCbc192,
    AesCbc256,
    /// RFC 3686: the key material is the AES key followed by a 4-byte nonce.
    AesCtr128,
    AesCtr192,
    AesCtr256,
    /// RFC 4106 with a 16-byte ICV: the key material is the AES key followed by a 4-byte salt.
    AesGcm128,
    AesGcm192,
    AesGcm256,
}

impl EncryptionAlgorithm {
    pub const ALL: [Self; 12] = [
        Self::Null,
        Self::DesCbc,
        Self::TripleDesCbc,
        Self::AesCbc128,
        Self::AesCbc192,
        Self::AesCbc256,
        Self::AesCtr128,
        Self::AesCtr192,
        Self::AesCtr256,
        Self::AesGcm128,
        Self::AesGcm192,
        Self::AesGcm256,
    ];

    /// Key material length in bytes, including the salt/nonce of CTR and GCM.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Null => 0,
            Self::DesCbc => 8,
            Self::TripleDesCbc => 24,
            Self::AesCbc128 => 16,
            Self::AesCbc192 => 24,
            Self::AesCbc256 => 32,
            Self::AesCtr128 | Self::AesGcm128 => 20,
            Self::AesCtr192 | Self::AesGcm192 => 28,
            Self::AesCtr256 | Self::AesGcm256 => 36,
        }
    }

    pub const fn iv_len(self) -> usize {
        match self {
            Self::Null => 0,
            Self::DesCbc | Self::TripleDesCbc => 8,
            Self::AesCbc128 | Self::AesCbc192 | Self::AesCbc256 => 16,
            _ => 8,
        }
    }

    /// Alignment of payload + trailer: the cipher block for CBC, 4 bytes otherwise.
    pub const fn pad_align(self) -> usize {
        match self {
            Self::DesCbc | Self::TripleDesCbc => 8,
            Self::AesCbc128 | Self::AesCbc192 | Self::AesCbc256 => 16,
            _ => 4,
        }
    }

    /// Combined-mode (AEAD): carries its own ICV.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm128 | Self::AesGcm192 | Self::AesGcm256)
    }

    /// DES and 3DES are allowed for interoperability but flagged as weak (64-bit blocks, small keys).
    pub const fn is_weak(self) -> bool {
        matches!(self, Self::DesCbc | Self::TripleDesCbc)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Null => "esp-null",
            Self::DesCbc => "esp-des",
            Self::TripleDesCbc => "esp-3des",
            Self::AesCbc128 => "esp-aes-128",
            Self::AesCbc192 => "esp-aes-192",
            Self::AesCbc256 => "esp-aes-256",
            Self::AesCtr128 => "esp-aes-ctr-128",
            Self::AesCtr192 => "esp-aes-ctr-192",
            Self::AesCtr256 => "esp-aes-ctr-256",
            Self::AesGcm128 => "esp-gcm-128",
            Self::AesGcm192 => "esp-gcm-192",
            Self::AesGcm256 => "esp-gcm-256",
        }
    }
}

/// ESP/AH integrity (RFC 2403, 2404, 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityAlgorithm {
    None,
    HmacMd5_96,
    HmacSha1_96,
    HmacSha256_128,
    HmacSha384_192,
    HmacSha512_256,
}

impl IntegrityAlgorithm {
    pub const ALL: [Self; 6] = [
        Self::None,
        Self::HmacMd5_96,
        Self::HmacSha1_96,
        Self::HmacSha256_128,
        Self::HmacSha384_192,
        Self::HmacSha512_256,
    ];

    /// Key length required by the RFCs (the hash output length).
    pub const fn key_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacMd5_96 => 16,
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length.
    pub const fn icv_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacMd5_96 | Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha384_192 => 24,
            Self::HmacSha512_256 => 32,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::HmacMd5_96 => "esp-md5-hmac",
            Self::HmacSha1_96 => "esp-sha-hmac",
            Self::HmacSha256_128 => "esp-sha256-hmac",
            Self::HmacSha384_192 => "esp-sha384-hmac",
            Self::HmacSha512_256 => "esp-sha512-hmac",
        }
    }
}
