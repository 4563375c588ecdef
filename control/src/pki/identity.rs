//! Whether a certificate vouches for the IKE identity a peer claims (RFC 4945 §3.1): ID_DER_ASN1_DN against the
//! subject, ID_FQDN / ID_USER_FQDN / ID_IPV4_ADDR / ID_IPV6_ADDR against subjectAltName dNSName / rfc822Name /
//! iPAddress.

use der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use super::cert::Certificate;
use super::PkiError;
use crate::isakmp::IdData;

/// `Ok(())` when `cert` names `id`; [`PkiError::IdentityMismatch`] otherwise.
pub fn id_matches(cert: &Certificate, id: &IdData) -> Result<(), PkiError> {
    let sans = cert.subject_alt_names()?;
    let ok = match id {
        // Compared as parsed names, so the same DN in another (valid DER) encoding of the set still matches.
        IdData::DerAsn1Dn(der) => Name::from_der(der).is_ok_and(|n| &n == cert.subject_name()),
        IdData::Fqdn(name) => sans.iter().any(|g| match g {
            GeneralName::DnsName(d) => d.as_bytes().eq_ignore_ascii_case(trim_dot(name)),
            _ => false,
        }),
        IdData::UserFqdn(mail) => sans.iter().any(|g| match g {
            GeneralName::Rfc822Name(m) => mail_eq(m.as_bytes(), mail),
            _ => false,
        }),
        IdData::Ipv4Addr(a) => has_ip(&sans, &a.octets()),
        IdData::Ipv6Addr(a) => has_ip(&sans, &a.octets()),
        _ => false,
    };
    ok.then_some(()).ok_or(PkiError::IdentityMismatch)
}

fn trim_dot(name: &[u8]) -> &[u8] {
    name.strip_suffix(b".").unwrap_or(name)
}

fn has_ip(sans: &[GeneralName], octets: &[u8]) -> bool {
    sans.iter().any(|g| matches!(g, GeneralName::IpAddress(ip) if ip.as_bytes() == octets))
}

/// user@domain: the local part exactly, the domain without regard to case (RFC 5280 §7.5).
fn mail_eq(a: &[u8], b: &[u8]) -> bool {
    let split = |m: &[u8]| {
        let at = m.iter().rposition(|&c| c == b'@').unwrap_or(m.len());
        (m[..at].to_vec(), m[at..].to_ascii_lowercase())
    };
    split(a) == split(b)
}
