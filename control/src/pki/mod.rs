//! X.509 certificates for IKEv1 signature authentication (RFC 2409 §5.1, RFC 4945, RFC 4754): a CA trust store,
//! the gateway's own certificate and private key (PEM or DER; RSA, ECDSA P-256 and P-384), validation of a peer's
//! chain to a trusted CA at a time the caller passes in (sans-IO: nothing here reads a clock or a socket), the
//! match between a certificate and the peer's IKE identity, and the raw-hash signatures IKEv1 puts in SIG payloads.

mod cert;
mod chain;
mod credentials;
mod identity;
mod key;

pub use cert::{Certificate, PublicKey};
pub use chain::TrustStore;
pub use credentials::{key_fits, Credentials};
pub use identity::id_matches;
pub use key::PrivateKey;

/// Why a certificate, key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("not a valid certificate: {0}")]
    BadCertificate(String),
    #[error("not a valid private key: {0}")]
    BadKey(String),
    #[error("unsupported public key algorithm or curve: {0}")]
    UnsupportedKey(String),
    #[error("unsupported certificate signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),
    #[error("certificate of {subject} is not valid before its notBefore time")]
    NotYetValid { subject: String },
    #[error("certificate of {subject} expired")]
    Expired { subject: String },
    #[error("no trusted CA issued the certificate of {subject} (issuer {issuer})")]
    UnknownIssuer { subject: String, issuer: String },
    #[error("the signature on the certificate of {subject} does not verify")]
    BadCertificateSignature { subject: String },
    #[error("{subject} signs certificates but is not a CA (basicConstraints)")]
    NotCa { subject: String },
    #[error("{subject}: path length constraint exceeded")]
    PathLength { subject: String },
    #[error("{subject}: key usage does not allow {usage}")]
    KeyUsage { subject: String, usage: &'static str },
    #[error("{subject}: unknown critical extension {oid}")]
    UnknownCriticalExtension { subject: String, oid: String },
    #[error("certificate chain longer than {0}")]
    ChainTooLong(usize),
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("the peer's identity does not match its certificate")]
    IdentityMismatch,
    #[error("signature does not verify")]
    BadSignature,
    #[error("cannot sign: {0}")]
    Sign(&'static str),
}
