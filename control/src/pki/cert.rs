//! One X.509 certificate: parsed once, with the facts validation and identity matching need kept at hand.

use std::time::SystemTime;

use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::Digest;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectAltName};
use x509_cert::name::Name;

use super::PkiError;

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const PRIME256V1: &str = "1.2.840.10045.3.1.7";
const SECP384R1: &str = "1.3.132.0.34";

/// The public key of a certificate, in a form that verifies signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// The hash a certificate's signature algorithm names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl SigHash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            SigHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            SigHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            SigHash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            SigHash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn pkcs1(self) -> Pkcs1v15Sign {
        match self {
            SigHash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
            SigHash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
            SigHash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
            SigHash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }
}

/// An X.509 certificate (DER as received, and its parsed form).
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// The exact bytes the issuer signed (tbsCertificate, as encoded in `der`).
    tbs: std::ops::Range<usize>,
    subject_der: Vec<u8>,
    parsed: x509_cert::Certificate,
    public_key: PublicKey,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

fn bad(e: impl std::fmt::Display) -> PkiError {
    PkiError::BadCertificate(e.to_string())
}

impl Certificate {
    /// Parses a DER certificate (as carried in a CERT payload of encoding X.509 Signature).
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let parsed = x509_cert::Certificate::from_der(der).map_err(bad)?;
        // Find tbsCertificate's own bytes: re-encoding could differ from what was signed if the issuer was lax.
        let mut r = der::SliceReader::new(der).map_err(bad)?;
        let outer = der::Header::decode(&mut r).map_err(bad)?;
        let start = usize::try_from(outer.encoded_len().map_err(bad)?).map_err(bad)?;
        let tbs_hdr = der::Header::decode(&mut r).map_err(bad)?;
        let tbs_len =
            usize::try_from((tbs_hdr.encoded_len().map_err(bad)? + tbs_hdr.length).map_err(bad)?).map_err(bad)?;
        let public_key = public_key(&parsed.tbs_certificate.subject_public_key_info)?;
        let subject_der = parsed.tbs_certificate.subject.to_der().map_err(bad)?;
        Ok(Certificate { der: der.to_vec(), tbs: start..start + tbs_len, subject_der, parsed, public_key })
    }

    /// Parses the first PEM certificate (`-----BEGIN CERTIFICATE-----`) of `pem`.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        Self::load_all(pem.as_bytes())?.into_iter().next().ok_or_else(|| bad("no CERTIFICATE block"))
    }

    /// Every certificate of a PEM bundle, or the one certificate of a DER file. PEM blocks are decoded to their
    /// DER bytes, never re-encoded, so the signed bytes stay exactly as the issuer signed them.
    pub fn load_all(bytes: &[u8]) -> Result<Vec<Self>, PkiError> {
        if bytes.first() == Some(&0x30) {
            return Ok(vec![Self::from_der(bytes)?]);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("neither DER nor PEM"))?;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(BEGIN) {
            let len = rest[start..].find(END).ok_or_else(|| bad("CERTIFICATE block without its END line"))?;
            let block = &rest[start..start + len + END.len()];
            let (label, der) = der::pem::decode_vec(block.as_bytes()).map_err(bad)?;
            if label != "CERTIFICATE" {
                return Err(bad(format!("unexpected PEM label {label}")));
            }
            out.push(Self::from_der(&der)?);
            rest = &rest[start + len + END.len()..];
        }
        if out.is_empty() {
            return Err(bad("no CERTIFICATE block"));
        }
        Ok(out)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The subject, DER-encoded (what ID_DER_ASN1_DN carries and a CR payload names).
    pub fn subject_der(&self) -> Vec<u8> {
        self.subject_der.clone()
    }

    pub(super) fn subject_name(&self) -> &Name {
        &self.parsed.tbs_certificate.subject
    }

    pub(super) fn issuer_name(&self) -> &Name {
        &self.parsed.tbs_certificate.issuer
    }

    /// The subject as text (RFC 4514 order), for errors and logs.
    pub fn subject(&self) -> String {
        self.parsed.tbs_certificate.subject.to_string()
    }

    pub fn issuer(&self) -> String {
        self.parsed.tbs_certificate.issuer.to_string()
    }

    /// Checks `now` against notBefore/notAfter.
    pub fn check_validity(&self, now: SystemTime) -> Result<(), PkiError> {
        let v = &self.parsed.tbs_certificate.validity;
        if now < v.not_before.to_system_time() {
            return Err(PkiError::NotYetValid { subject: self.subject() });
        }
        if now > v.not_after.to_system_time() {
            return Err(PkiError::Expired { subject: self.subject() });
        }
        Ok(())
    }

    fn extension<T: for<'a> Decode<'a> + der::oid::AssociatedOid>(&self) -> Result<Option<T>, PkiError> {
        let exts = self.parsed.tbs_certificate.extensions.as_deref().unwrap_or_default();
        match exts.iter().find(|e| e.extn_id == T::OID) {
            Some(e) => T::from_der(e.extn_value.as_bytes()).map(Some).map_err(bad),
            None => Ok(None),
        }
    }

    /// basicConstraints: (cA, pathLenConstraint); absent means not a CA.
    pub(super) fn basic_constraints(&self) -> Result<(bool, Option<u8>), PkiError> {
        Ok(self.extension::<BasicConstraints>()?.map_or((false, None), |b| (b.ca, b.path_len_constraint)))
    }

    pub(super) fn key_usage(&self) -> Result<Option<KeyUsage>, PkiError> {
        self.extension::<KeyUsage>()
    }

    /// The subjectAltName entries (empty when the extension is absent).
    pub(super) fn subject_alt_names(&self) -> Result<Vec<x509_cert::ext::pkix::name::GeneralName>, PkiError> {
        Ok(self.extension::<SubjectAltName>()?.map(|s| s.0).unwrap_or_default())
    }

    /// Critical extensions this code does not process make the certificate unusable (RFC 5280 §4.2).
    pub(super) fn check_critical_extensions(&self) -> Result<(), PkiError> {
        use der::oid::AssociatedOid;
        let known = [BasicConstraints::OID, KeyUsage::OID, SubjectAltName::OID, EXT_KEY_USAGE];
        for e in self.parsed.tbs_certificate.extensions.as_deref().unwrap_or_default() {
            if e.critical && !known.contains(&e.extn_id) {
                return Err(PkiError::UnknownCriticalExtension { subject: self.subject(), oid: e.extn_id.to_string() });
            }
        }
        Ok(())
    }

    /// Whether `issuer`'s key made this certificate's signature.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), PkiError> {
        let alg = self.parsed.signature_algorithm.oid.to_string();
        let unsupported = || PkiError::UnsupportedSignatureAlgorithm(alg.clone());
        let (rsa, hash) = match alg.as_str() {
            "1.2.840.113549.1.1.5" => (true, SigHash::Sha1),
            "1.2.840.113549.1.1.11" => (true, SigHash::Sha256),
            "1.2.840.113549.1.1.12" => (true, SigHash::Sha384),
            "1.2.840.113549.1.1.13" => (true, SigHash::Sha512),
            "1.2.840.10045.4.1" => (false, SigHash::Sha1),
            "1.2.840.10045.4.3.2" => (false, SigHash::Sha256),
            "1.2.840.10045.4.3.3" => (false, SigHash::Sha384),
            "1.2.840.10045.4.3.4" => (false, SigHash::Sha512),
            _ => return Err(unsupported()),
        };
        let sig = self.parsed.signature.as_bytes().ok_or_else(|| bad("signature has unused bits"))?;
        let digest = hash.digest(&self.der[self.tbs.clone()]);
        let bad_sig = || PkiError::BadCertificateSignature { subject: self.subject() };
        let ok = match (issuer, rsa) {
            (PublicKey::Rsa(k), true) => k.verify(hash.pkcs1(), &digest, sig).is_ok(),
            (PublicKey::P256(k), false) => {
                p256::ecdsa::Signature::from_der(sig).map(|s| k.verify_prehash(&digest, &s).is_ok()).unwrap_or(false)
            }
            (PublicKey::P384(k), false) => {
                p384::ecdsa::Signature::from_der(sig).map(|s| k.verify_prehash(&digest, &s).is_ok()).unwrap_or(false)
            }
            _ => false,
        };
        ok.then_some(()).ok_or_else(bad_sig)
    }
}

const EXT_KEY_USAGE: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.29.37");

fn public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<PublicKey, PkiError> {
    let alg = spki.algorithm.oid.to_string();
    let bits = spki.subject_public_key.as_bytes().ok_or_else(|| bad("public key has unused bits"))?;
    let unsupported = |what: String| PkiError::UnsupportedKey(what);
    match alg.as_str() {
        RSA_ENCRYPTION => {
            RsaPublicKey::from_pkcs1_der(bits).map(PublicKey::Rsa).map_err(|e| unsupported(format!("RSA: {e}")))
        }
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok())
                .map(|o| o.to_string())
                .unwrap_or_default();
            match curve.as_str() {
                PRIME256V1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(PublicKey::P256)
                    .map_err(|_| unsupported("invalid P-256 point".into())),
                SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(PublicKey::P384)
                    .map_err(|_| unsupported("invalid P-384 point".into())),
                other => Err(unsupported(format!("EC curve {other}"))),
            }
        }
        other => Err(unsupported(other.to_string())),
    }
}

impl PublicKey {
    /// Verifies an IKEv1 SIG payload over `hash` (HASH_I or HASH_R): RSA with PKCS#1 v1.5 type-1 padding of the
    /// bare hash (no DigestInfo, as RFC 2409 implementations do), ECDSA with the hash itself as the digest and the
    /// signature as r | s, each the curve's size (RFC 4754 §7).
    pub fn verify_ike(&self, hash: &[u8], sig: &[u8]) -> Result<(), PkiError> {
        let ok = match self {
            PublicKey::Rsa(k) => k.verify(Pkcs1v15Sign::new_unprefixed(), hash, sig).is_ok(),
            PublicKey::P256(k) => {
                p256::ecdsa::Signature::from_slice(sig).map(|s| k.verify_prehash(hash, &s).is_ok()).unwrap_or(false)
            }
            PublicKey::P384(k) => {
                p384::ecdsa::Signature::from_slice(sig).map(|s| k.verify_prehash(hash, &s).is_ok()).unwrap_or(false)
            }
        };
        ok.then_some(()).ok_or(PkiError::BadSignature)
    }

    /// A short name of the key type, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "RSA",
            PublicKey::P256(_) => "ECDSA P-256",
            PublicKey::P384(_) => "ECDSA P-384",
        }
    }
}
