//! The gateway's private key: RSA (PKCS#1 or PKCS#8), ECDSA P-256 or P-384 (SEC1 or PKCS#8), PEM or DER. The key
//! types zeroize themselves on drop (`rsa::RsaPrivateKey`, `ecdsa::SigningKey` implement `ZeroizeOnDrop`), and the
//! file text passes only through `Zeroizing` buffers.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use zeroize::Zeroizing;

use super::cert::PublicKey;
use super::PkiError;

/// A private key that signs IKEv1 hashes.
pub enum PrivateKey {
    Rsa(RsaPrivateKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({}, redacted)", self.public_key().kind())
    }
}

fn bad(e: impl std::fmt::Display) -> PkiError {
    PkiError::BadKey(e.to_string())
}

impl PrivateKey {
    /// Reads a key file: PEM (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, `PRIVATE KEY`) or DER (PKCS#8, PKCS#1, SEC1).
    /// Encrypted keys are not supported.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        if bytes.first() == Some(&0x30) {
            return Self::from_der(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("neither DER nor PEM"))?;
        let (label, der) = pem_rfc7468_decode(text)?;
        match label.as_str() {
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der).map(PrivateKey::Rsa).map_err(bad),
            "EC PRIVATE KEY" => Self::from_sec1(&der),
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "ENCRYPTED PRIVATE KEY" => Err(bad("encrypted private keys are not supported")),
            other => Err(bad(format!("unexpected PEM label {other}"))),
        }
    }

    fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        Self::from_pkcs8(der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(der).map(PrivateKey::Rsa).map_err(bad))
            .or_else(|_| Self::from_sec1(der))
            .map_err(|_| bad("DER key is neither PKCS#8, PKCS#1 nor SEC1"))
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, PkiError> {
        use pkcs8::DecodePrivateKey;
        if let Ok(k) = RsaPrivateKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::Rsa(k));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P384(k));
        }
        Err(PkiError::UnsupportedKey("PKCS#8 key is not RSA, P-256 or P-384".into()))
    }

    fn from_sec1(der: &[u8]) -> Result<Self, PkiError> {
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P384(k.into()));
        }
        Err(PkiError::UnsupportedKey("EC key is not on P-256 or P-384".into()))
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::P384(k) => PublicKey::P384(*k.verifying_key()),
        }
    }

    /// Signs HASH_I or HASH_R for a SIG payload; see [`PublicKey::verify_ike`] for the formats.
    pub fn sign_ike(&self, hash: &[u8]) -> Result<Vec<u8>, PkiError> {
        match self {
            // Blinded by the rsa crate when given an RNG; signing uses the system RNG for that.
            PrivateKey::Rsa(k) => k
                .sign_with_rng(&mut rand_core::OsRng, Pkcs1v15Sign::new_unprefixed(), hash)
                .map_err(|_| PkiError::Sign("hash too long for the RSA key")),
            // RFC 6979 deterministic nonces: no RNG failure mode.
            PrivateKey::P256(k) => PrehashSigner::<p256::ecdsa::Signature>::sign_prehash(k, hash)
                .map(|s| s.to_bytes().to_vec())
                .map_err(|_| PkiError::Sign("hash too short for ECDSA P-256")),
            PrivateKey::P384(k) => PrehashSigner::<p384::ecdsa::Signature>::sign_prehash(k, hash)
                .map(|s| s.to_bytes().to_vec())
                .map_err(|_| PkiError::Sign("hash too short for ECDSA P-384")),
        }
    }
}

/// Decodes one PEM block into (label, DER) without leaving the key bytes in unzeroized buffers.
fn pem_rfc7468_decode(text: &str) -> Result<(String, Zeroizing<Vec<u8>>), PkiError> {
    // Skip anything before the first boundary (comments some tools write).
    let start = text.find("-----BEGIN ").ok_or_else(|| bad("no PEM block"))?;
    let (label, der) = der::pem::decode_vec(&text.as_bytes()[start..]).map_err(bad)?;
    Ok((label.to_string(), Zeroizing::new(der)))
}
