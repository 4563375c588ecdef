//! Phase 1 ciphers: DES-CBC, 3DES-CBC and AES-CBC 128/192/256 over whole ISAKMP bodies (RFC 2409 §5.3, RFC 3602),
//! and the CBC padding IKEv1 uses.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::error::CryptoError;
use crate::isakmp::EncryptionAlgorithm;

/// A negotiated Phase 1 cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IkeCipher {
    DesCbc,
    TripleDesCbc,
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
}

impl IkeCipher {
    /// The cipher of an Encryption Algorithm attribute and optional Key Length attribute (bits). AES without a key
    /// length is rejected (RFC 3602 gives no default for IKE); DES and 3DES must not carry one other than their own.
    pub fn from_attributes(alg: EncryptionAlgorithm, key_bits: Option<u64>) -> Result<Self, CryptoError> {
        match (alg, key_bits) {
            (EncryptionAlgorithm::DES_CBC, None | Some(64)) => Ok(IkeCipher::DesCbc),
            (EncryptionAlgorithm::DES3_CBC, None | Some(192)) => Ok(IkeCipher::TripleDesCbc),
            (EncryptionAlgorithm::AES_CBC, Some(128)) => Ok(IkeCipher::Aes128Cbc),
            (EncryptionAlgorithm::AES_CBC, Some(192)) => Ok(IkeCipher::Aes192Cbc),
            (EncryptionAlgorithm::AES_CBC, Some(256)) => Ok(IkeCipher::Aes256Cbc),
            (EncryptionAlgorithm::AES_CBC, _) => Err(CryptoError::Unsupported("AES-CBC without a 128/192/256 key")),
            _ => Err(CryptoError::Unsupported("encryption algorithm")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IkeCipher::DesCbc => "DES-CBC",
            IkeCipher::TripleDesCbc => "3DES-CBC",
            IkeCipher::Aes128Cbc => "AES-128-CBC",
            IkeCipher::Aes192Cbc => "AES-192-CBC",
            IkeCipher::Aes256Cbc => "AES-256-CBC",
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            IkeCipher::DesCbc => 8,
            IkeCipher::TripleDesCbc | IkeCipher::Aes192Cbc => 24,
            IkeCipher::Aes128Cbc => 16,
            IkeCipher::Aes256Cbc => 32,
        }
    }

    pub fn block_len(self) -> usize {
        match self {
            IkeCipher::DesCbc | IkeCipher::TripleDesCbc => 8,
            _ => 16,
        }
    }

    fn check(self, key: &[u8], iv: &[u8], len: usize) -> Result<(), CryptoError> {
        let cipher = self.name();
        if key.len() != self.key_len() {
            return Err(CryptoError::BadKeyLength { cipher, expected: self.key_len(), got: key.len() });
        }
        if iv.len() != self.block_len() {
            return Err(CryptoError::BadIvLength { cipher, expected: self.block_len(), got: iv.len() });
        }
        if len % self.block_len() != 0 {
            return Err(CryptoError::NotBlockAligned { len, block: self.block_len() });
        }
        Ok(())
    }

    /// Encrypts a block-aligned plaintext (see [`pad`]) in place with CBC.
    pub fn encrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.check(key, iv, buf.len())?;
        let len = buf.len();
        macro_rules! enc {
            ($c:ty) => {
                cbc::Encryptor::<$c>::new_from_slices(key, iv)
                    .map_err(|_| CryptoError::Unsupported("key or IV length"))?
                    .encrypt_padded_mut::<NoPadding>(buf, len)
                    .map(|_| ())
                    .map_err(|_| CryptoError::NotBlockAligned { len, block: self.block_len() })
            };
        }
        match self {
            IkeCipher::DesCbc => enc!(des::Des),
            IkeCipher::TripleDesCbc => enc!(des::TdesEde3),
            IkeCipher::Aes128Cbc => enc!(aes::Aes128),
            IkeCipher::Aes192Cbc => enc!(aes::Aes192),
            IkeCipher::Aes256Cbc => enc!(aes::Aes256),
        }
    }

    /// Decrypts a block-aligned ciphertext in place with CBC; padding is left for the payload parser to skip.
    pub fn decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.check(key, iv, buf.len())?;
        let len = buf.len();
        macro_rules! dec {
            ($c:ty) => {
                cbc::Decryptor::<$c>::new_from_slices(key, iv)
                    .map_err(|_| CryptoError::Unsupported("key or IV length"))?
                    .decrypt_padded_mut::<NoPadding>(buf)
                    .map(|_| ())
                    .map_err(|_| CryptoError::NotBlockAligned { len, block: self.block_len() })
            };
        }
        match self {
            IkeCipher::DesCbc => dec!(des::Des),
            IkeCipher::TripleDesCbc => dec!(des::TdesEde3),
            IkeCipher::Aes128Cbc => dec!(aes::Aes128),
            IkeCipher::Aes192Cbc => dec!(aes::Aes192),
            IkeCipher::Aes256Cbc => dec!(aes::Aes256),
        }
    }
}

/// Pads a payload chain to a multiple of the block size as RFC 2409 §5.3 suggests: zero bytes, the last one
/// holding the number of pad bytes before it. Nothing is added when the chain is already aligned.
pub fn pad(plaintext: &mut Vec<u8>, block_len: usize) {
    let rem = plaintext.len() % block_len;
    if rem != 0 {
        let n = block_len - rem;
        plaintext.resize(plaintext.len() + n, 0);
        let last = plaintext.len() - 1;
        plaintext[last] = (n - 1) as u8;
    }
}
