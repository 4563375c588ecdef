//! The CA trust store and validation of a peer's certificate chain (RFC 5280 §6, the parts IKE peers rely on:
//! signatures, validity periods, basicConstraints and pathLenConstraint, keyUsage, unknown critical extensions).
//! No revocation checking (CRL/OCSP) yet.

use std::time::SystemTime;

use super::cert::Certificate;
use super::PkiError;

/// Intermediate CAs followed at most, above the end entity.
const MAX_DEPTH: usize = 8;

/// Trusted CA certificates (`[pki] ca`).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    cas: Vec<Certificate>,
}

impl TrustStore {
    pub fn new(cas: Vec<Certificate>) -> Self {
        TrustStore { cas }
    }

    pub fn cas(&self) -> &[Certificate] {
        &self.cas
    }

    /// The DER subjects of the trusted CAs, for CR payloads.
    pub fn ca_subjects(&self) -> Vec<Vec<u8>> {
        self.cas.iter().map(Certificate::subject_der).collect()
    }

    /// Validates `end_entity` at `now`, building a path to a trusted CA through `intermediates` (certificates the
    /// peer sent besides its own, in any order). Returns the trust anchor that ends the path.
    pub fn validate(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        now: SystemTime,
    ) -> Result<&Certificate, PkiError> {
        end_entity.check_critical_extensions()?;
        end_entity.check_validity(now)?;
        // RFC 4945 §5.1.3.2: an IKE signing key's certificate, if it restricts usage, allows digital signatures.
        if let Some(ku) = end_entity.key_usage()? {
            if !ku.digital_signature() && !ku.non_repudiation() {
                return Err(PkiError::KeyUsage { subject: end_entity.subject(), usage: "digitalSignature" });
            }
        }
        let mut current = end_entity;
        // `below`: CAs between the end entity and `current`'s issuer (for pathLenConstraint).
        for below in 0..=MAX_DEPTH {
            if let Some(anchor) = self.issuer_of(current)? {
                check_ca(anchor, below, now)?;
                return Ok(anchor);
            }
            let next = intermediates
                .iter()
                .filter(|c| c.subject_name() == current.issuer_name() && *c != current)
                .find(|c| current.verify_signed_by(c.public_key()).is_ok());
            let Some(next) = next else {
                return Err(PkiError::UnknownIssuer { subject: current.subject(), issuer: current.issuer() });
            };
            check_ca(next, below, now)?;
            current = next;
        }
        Err(PkiError::ChainTooLong(MAX_DEPTH))
    }

    /// The trusted CA that issued `cert`: same name and a signature that verifies. A CA with the right name whose
    /// signature does not verify is reported as such, so a forged certificate shows as forged.
    fn issuer_of(&self, cert: &Certificate) -> Result<Option<&Certificate>, PkiError> {
        let mut named = false;
        for ca in self.cas.iter().filter(|ca| ca.subject_name() == cert.issuer_name()) {
            named = true;
            if cert.verify_signed_by(ca.public_key()).is_ok() {
                return Ok(Some(ca));
            }
        }
        if named {
            return Err(PkiError::BadCertificateSignature { subject: cert.subject() });
        }
        Ok(None)
    }
}

/// A certificate that signed another: valid now, a CA by basicConstraints, allowed to sign certificates, and not
/// deeper than its pathLenConstraint allows (`below`: CA certificates between it and the end entity).
fn check_ca(ca: &Certificate, below: usize, now: SystemTime) -> Result<(), PkiError> {
    ca.check_critical_extensions()?;
    ca.check_validity(now)?;
    let (is_ca, path_len) = ca.basic_constraints()?;
    if !is_ca {
        return Err(PkiError::NotCa { subject: ca.subject() });
    }
    if path_len.is_some_and(|n| below > usize::from(n)) {
        return Err(PkiError::PathLength { subject: ca.subject() });
    }
    if let Some(ku) = ca.key_usage()? {
        if !ku.key_cert_sign() {
            return Err(PkiError::KeyUsage { subject: ca.subject(), usage: "keyCertSign" });
        }
    }
    Ok(())
}
