//! Pre-shared keys chosen by the peer's identity (ID_FQDN, ID_USER_FQDN) instead of its address: for peers whose
//! address is not known in advance (dynamic addresses, behind NAT).
//!
//! Only the Aggressive Mode responder can use them: there the initiator's ID arrives in the clear in message 1,
//! before any key is needed. In Main Mode with pre-shared keys the ID travels in message 5, encrypted with a key
//! derived from SKEYID, which itself depends on the pre-shared key (RFC 2409 §5.4), so the responder must pick the
//! key by the peer's address. Our own initiator also picks by address (it knows where it connects).

use crate::config::{Config as FileConfig, Identity};
use crate::crypto::Secret;
use crate::isakmp::IdData;

/// The identity keys of a config (`[[isakmp_key]]` entries with `identity`), in file order, for
/// [`super::Endpoint::set_identity_keys`].
pub fn identity_keys(cfg: &FileConfig) -> Vec<(IdData, Secret)> {
    cfg.isakmp_keys
        .iter()
        // Validation refuses `address` and `dn` for a key; `identity_data` skips them rather than guess.
        .filter_map(|k| Some((identity_data(k.identity.as_ref()?)?, Secret::from_slice(k.key.as_bytes()))))
        .collect()
}

/// The ID payload data for a configured `fqdn:` or `user-fqdn:` identity (`None` for `address` and `dn`, which
/// depend on the local address or certificate): for [`super::Endpoint::set_local_identity`] from
/// `[isakmp] identity`, so a peer can pick our pre-shared key by name.
pub fn identity_data(identity: &Identity) -> Option<IdData> {
    match identity {
        Identity::Fqdn(n) => Some(IdData::Fqdn(n.as_bytes().to_vec())),
        Identity::UserFqdn(n) => Some(IdData::UserFqdn(n.as_bytes().to_vec())),
        Identity::Address | Identity::Dn => None,
    }
}

/// Whether the ID the peer sent is the configured one. Host names compare without regard to ASCII case (DNS
/// names are case-insensitive), and so does the host part of user@host; the user part compares exactly.
pub(super) fn id_matches(configured: &IdData, received: &IdData) -> bool {
    match (configured, received) {
        (IdData::Fqdn(a), IdData::Fqdn(b)) => a.eq_ignore_ascii_case(b),
        (IdData::UserFqdn(a), IdData::UserFqdn(b)) => {
            let split = |s: &[u8]| match s.iter().rposition(|&c| c == b'@') {
                Some(at) => (s[..at].to_vec(), s[at + 1..].to_vec()),
                None => (s.to_vec(), Vec::new()),
            };
            let ((ua, ha), (ub, hb)) = (split(a), split(b));
            ua == ub && ha.eq_ignore_ascii_case(&hb)
        }
        _ => false,
    }
}

/// The key configured for the identity `received`, if any.
pub(super) fn find<'a>(keys: &'a [(IdData, Secret)], received: &IdData) -> Option<&'a Secret> {
    keys.iter().find(|(id, _)| id_matches(id, received)).map(|(_, k)| k)
}

/// The identity as the config spells it, for errors and logs (`fqdn:NAME`, `user-fqdn:NAME`; others by type).
pub(super) fn describe(id: &IdData) -> String {
    match id {
        IdData::Fqdn(n) => format!("fqdn:{}", String::from_utf8_lossy(n).escape_debug()),
        IdData::UserFqdn(n) => format!("user-fqdn:{}", String::from_utf8_lossy(n).escape_debug()),
        IdData::Ipv4Addr(a) => format!("address:{a}"),
        IdData::Ipv6Addr(a) => format!("address:{a}"),
        other => format!("ID type {:?}", other.id_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case_but_users_exactly() {
        let fqdn = |s: &str| IdData::Fqdn(s.as_bytes().to_vec());
        let user = |s: &str| IdData::UserFqdn(s.as_bytes().to_vec());
        assert!(id_matches(&fqdn("gw.example.net"), &fqdn("GW.Example.NET")));
        assert!(!id_matches(&fqdn("gw.example.net"), &fqdn("gw2.example.net")));
        assert!(!id_matches(&fqdn("gw.example.net"), &user("gw.example.net")));
        assert!(id_matches(&user("vpn@example.net"), &user("vpn@EXAMPLE.net")));
        assert!(!id_matches(&user("vpn@example.net"), &user("VPN@example.net")));
        assert_eq!(describe(&user("vpn@example.net")), "user-fqdn:vpn@example.net");
    }
}
