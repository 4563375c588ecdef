//! Signature authentication of Phase 1 (RFC 2409 §5.1; RSA signatures, and ECDSA per RFC 4754), shared by Main
//! and Aggressive Mode: which identity we send, the CERT, CR and SIG payloads we add, and the checks on the peer's
//! (chain to a trusted CA at the current calendar time, key type fits the negotiated method, identity named by the
//! certificate, SIG over HASH_I / HASH_R).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::isakmp::{AuthMethod, CertEncoding, CertRepr, IdData, IdRepr, Payload};
use crate::pki::{id_matches, key_fits, Certificate, Credentials, PkiError};

use super::IkeError;

/// How this endpoint authenticates with certificates (`[pki]`).
#[derive(Debug, Clone)]
pub struct SignatureAuth {
    pub credentials: Arc<Credentials>,
    /// The identity we send; `None` sends our certificate's subject (ID_DER_ASN1_DN).
    pub identity: Option<IdData>,
    /// One reading of the calendar clock and the `Instant` it was taken at. Certificate validity is calendar time,
    /// but the core is only ever given `Instant`s: it counts from this pair.
    pub wall_clock: (Instant, SystemTime),
}

impl SignatureAuth {
    pub fn new(credentials: Arc<Credentials>, identity: Option<IdData>, now: Instant, wall: SystemTime) -> Self {
        SignatureAuth { credentials, identity, wall_clock: (now, wall) }
    }

    /// From the config: `[isakmp] identity` picks the ID we send (`address` sends `local`, which the certificate
    /// must then carry as an iPAddress subjectAltName; `dn` the certificate's subject).
    pub fn from_config(
        credentials: Arc<Credentials>,
        identity: &crate::config::Identity,
        local: std::net::IpAddr,
        now: Instant,
        wall: SystemTime,
    ) -> Self {
        use crate::config::Identity;
        let id = match identity {
            Identity::Address => Some(match local {
                std::net::IpAddr::V4(a) => IdData::Ipv4Addr(a),
                std::net::IpAddr::V6(a) => IdData::Ipv6Addr(a),
            }),
            Identity::Fqdn(n) => Some(IdData::Fqdn(n.as_bytes().to_vec())),
            Identity::UserFqdn(n) => Some(IdData::UserFqdn(n.as_bytes().to_vec())),
            Identity::Dn => None,
        };
        Self::new(credentials, id, now, wall)
    }

    /// The calendar time at `now`.
    pub fn wall_time(&self, now: Instant) -> SystemTime {
        let (at, wall) = self.wall_clock;
        if now >= at {
            wall + (now - at)
        } else {
            wall - (at - now)
        }
    }

    /// Our Phase 1 ID payload when authenticating with the certificate.
    pub(super) fn local_id(&self) -> IdRepr {
        let data =
            self.identity.clone().unwrap_or_else(|| IdData::DerAsn1Dn(self.credentials.certificate.subject_der()));
        IdRepr { protocol: 17, port: 500, data }
    }

    /// Whether our key can sign for `method`.
    pub(super) fn can_sign(&self, method: AuthMethod) -> bool {
        key_fits(method, self.credentials.certificate.public_key())
    }

    /// One CR payload per trusted CA, naming it (RFC 2408 §3.10), so the peer picks a certificate we can check.
    pub(super) fn cert_requests(&self) -> Vec<Payload> {
        let request = |data| Payload::Cr(CertRepr { encoding: CertEncoding::X509_SIGNATURE, data });
        self.credentials.trust.ca_subjects().into_iter().map(request).collect()
    }

    /// Our CERT payloads (ours first, then intermediates) and the SIG over `hash`.
    pub(super) fn sign(&self, hash: &[u8]) -> Result<Vec<Payload>, IkeError> {
        let c = &self.credentials;
        let cert = |x: &Certificate| {
            Payload::Cert(CertRepr { encoding: CertEncoding::X509_SIGNATURE, data: x.der().to_vec() })
        };
        let mut out: Vec<Payload> = std::iter::once(&c.certificate).chain(&c.chain).map(cert).collect();
        out.push(Payload::Sig(c.key().sign_ike(hash).map_err(IkeError::Certificate)?));
        Ok(out)
    }

    /// Checks the peer's certificate chain, its identity `peer_id` and its SIG over `hash` (carried in `payloads`
    /// with the CERTs). The first X.509 CERT is the peer's own (as peers send it); the others may be intermediates.
    pub(super) fn verify(
        &self,
        now: Instant,
        method: AuthMethod,
        peer_id: &IdData,
        payloads: &[Payload],
        hash: &[u8],
    ) -> Result<(), IkeError> {
        let sig = payloads
            .iter()
            .find_map(|p| if let Payload::Sig(s) = p { Some(s) } else { None })
            .ok_or(IkeError::MissingPayload("SIG"))?;
        let mut certs = payloads.iter().filter_map(|p| match p {
            Payload::Cert(c) if c.encoding == CertEncoding::X509_SIGNATURE => Some(Certificate::from_der(&c.data)),
            _ => None,
        });
        // No certificate cache: a peer that sends none cannot be checked.
        let own = certs.next().ok_or(IkeError::MissingPayload("CERT"))?.map_err(IkeError::Certificate)?;
        let others = certs.collect::<Result<Vec<_>, _>>().map_err(IkeError::Certificate)?;
        self.credentials.trust.validate(&own, &others, self.wall_time(now)).map_err(IkeError::Certificate)?;
        if !key_fits(method, own.public_key()) {
            return Err(IkeError::AuthenticationFailed("the peer's key does not fit the negotiated method"));
        }
        id_matches(&own, peer_id)
            .map_err(|_| IkeError::AuthenticationFailed("the certificate does not name the peer's ID"))?;
        own.public_key().verify_ike(hash, sig).map_err(|e| match e {
            PkiError::BadSignature => IkeError::AuthenticationFailed("SIG does not verify"),
            other => IkeError::Certificate(other),
        })
    }
}

/// Whether `method` authenticates with signatures (the methods implemented here).
pub(super) fn is_signature(method: AuthMethod) -> bool {
    matches!(method, AuthMethod::RSA_SIGNATURES | AuthMethod::ECDSA_SHA256_P256 | AuthMethod::ECDSA_SHA384_P384)
}
