//! Everything one gateway needs for signature authentication, loaded from the `[pki]` files.

use std::path::Path;

use zeroize::Zeroizing;

use super::cert::{Certificate, PublicKey};
use super::chain::TrustStore;
use super::key::PrivateKey;
use super::PkiError;
use crate::isakmp::AuthMethod;

/// Trusted CAs, our certificate (with any intermediates to send along) and our private key.
#[derive(Debug)]
pub struct Credentials {
    pub trust: TrustStore,
    pub certificate: Certificate,
    /// Intermediate CA certificates sent after ours in CERT payloads.
    pub chain: Vec<Certificate>,
    key: PrivateKey,
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| PkiError::Io { path: path.display().to_string(), reason: e.to_string() })
}

impl Credentials {
    /// Checks that `key` belongs to `certificate`.
    pub fn new(
        trust: TrustStore,
        certificate: Certificate,
        chain: Vec<Certificate>,
        key: PrivateKey,
    ) -> Result<Self, PkiError> {
        if &key.public_key() != certificate.public_key() {
            return Err(PkiError::KeyMismatch);
        }
        Ok(Credentials { trust, certificate, chain, key })
    }

    /// Loads the `[pki]` files: CA certificates (PEM bundles or DER), our certificate (a PEM file may carry
    /// intermediates after it) and our private key.
    pub fn load(ca: &[impl AsRef<Path>], certificate: &Path, private_key: &Path) -> Result<Self, PkiError> {
        let mut cas = Vec::new();
        for p in ca {
            cas.extend(Certificate::load_all(&read(p.as_ref())?)?);
        }
        let mut mine = Certificate::load_all(&read(certificate)?)?.into_iter();
        let cert = mine.next().ok_or_else(|| PkiError::BadCertificate("empty certificate file".into()))?;
        let key = PrivateKey::from_bytes(&read(private_key)?)?;
        Self::new(TrustStore::new(cas), cert, mine.collect(), key)
    }

    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Loads the files of a `[pki]` section (paths already resolved against the config's directory).
    pub fn from_config(pki: &crate::config::Pki) -> Result<Self, PkiError> {
        Self::load(&pki.ca, &pki.certificate, &pki.private_key)
    }

    /// The Phase 1 method an `isakmp_policy` `authentication` means with our key: `rsa-sig` is RSA signatures (3),
    /// `ecdsa-sig` is RFC 4754 method 9 or 10 by our key's curve. `None` when our key cannot sign for it.
    pub fn method_for(&self, auth: crate::config::Auth) -> Option<AuthMethod> {
        use crate::config::Auth;
        let mine = self.auth_method();
        match auth {
            Auth::PreShare => Some(AuthMethod::PRE_SHARED_KEY),
            Auth::RsaSig => (mine == AuthMethod::RSA_SIGNATURES).then_some(mine),
            Auth::EcdsaSig => (mine != AuthMethod::RSA_SIGNATURES).then_some(mine),
        }
    }

    /// The Phase 1 authentication method our key signs with.
    pub fn auth_method(&self) -> AuthMethod {
        match self.certificate.public_key() {
            PublicKey::Rsa(_) => AuthMethod::RSA_SIGNATURES,
            PublicKey::P256(_) => AuthMethod::ECDSA_SHA256_P256,
            PublicKey::P384(_) => AuthMethod::ECDSA_SHA384_P384,
        }
    }
}

/// Whether `method` is a signature method and `key` is of the kind it names (RSA for RSA signatures, the curve of
/// RFC 4754 methods 9 and 10).
pub fn key_fits(method: AuthMethod, key: &PublicKey) -> bool {
    matches!(
        (method, key),
        (AuthMethod::RSA_SIGNATURES, PublicKey::Rsa(_))
            | (AuthMethod::ECDSA_SHA256_P256, PublicKey::P256(_))
            | (AuthMethod::ECDSA_SHA384_P384, PublicKey::P384(_))
    )
}
