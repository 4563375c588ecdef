//! Quick Mode proxy identities (RFC 2409 §5.5, RFC 2407 §4.6.2): ID payloads ⇄ [`ProxyIdentity`], the
//! responder's check that what the initiator proposes lies within its own policy, and the crypto map policies
//! built from the operator's config.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{self, Action, Config, CryptoMapKind, Selector};
use crate::isakmp::{GroupDescription, IdData, IdRepr};

use super::api::{CryptoMapPolicy, EncapsulationMode, IpsecTransformSet, ProxyAddress, ProxyIdentity};

fn to_u128(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (true, u128::from(u32::from(v))),
        IpAddr::V6(v) => (false, u128::from(v)),
    }
}

fn mask_len(mask: IpAddr) -> Option<u8> {
    let (v4, m) = to_u128(mask);
    let bits = if v4 { 32 } else { 128 };
    let m = if v4 { m << 96 } else { m };
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0 && ones <= bits).then_some(ones as u8)
}

fn mask(v4: bool, len: u8) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)))
    } else {
        IpAddr::V6(Ipv6Addr::from(u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)))
    }
}

impl ProxyIdentity {
    /// A host, any protocol and port.
    pub fn host(a: IpAddr) -> Self {
        let len = if a.is_ipv4() { 32 } else { 128 };
        ProxyIdentity { address: ProxyAddress::Prefix(a, len), protocol: 0, port: 0 }
    }

    /// The first and last address, and the family.
    pub fn bounds(&self) -> (bool, u128, u128) {
        match self.address {
            ProxyAddress::Prefix(a, len) => {
                let (v4, n) = to_u128(a);
                let width: u32 = if v4 { 32 } else { 128 };
                let host_bits = width - u32::from(len).min(width);
                let host = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
                (v4, n & !host, n | host)
            }
            ProxyAddress::Range(a, b) => {
                let ((v4, lo), (_, hi)) = (to_u128(a), to_u128(b));
                (v4, lo, hi)
            }
        }
    }

    /// Whether every packet `other` names is one this identity names too.
    pub fn contains(&self, other: &ProxyIdentity) -> bool {
        let (fa, lo_a, hi_a) = self.bounds();
        let (fb, lo_b, hi_b) = other.bounds();
        fa == fb
            && lo_a <= lo_b
            && hi_b <= hi_a
            && (self.protocol == 0 || self.protocol == other.protocol)
            && (self.port == 0 || self.port == other.port)
    }

    /// The ID payload: ID_IPV4/6_ADDR for a host, _SUBNET for a prefix, _RANGE for a range.
    pub fn to_id(&self) -> IdRepr {
        let data = match self.address {
            ProxyAddress::Prefix(IpAddr::V4(a), 32) => IdData::Ipv4Addr(a),
            ProxyAddress::Prefix(IpAddr::V6(a), 128) => IdData::Ipv6Addr(a),
            ProxyAddress::Prefix(a, len) => {
                let (v4, lo, _) = self.bounds();
                match (a, mask(v4, len)) {
                    (IpAddr::V4(_), IpAddr::V4(m)) => IdData::Ipv4Subnet(Ipv4Addr::from(lo as u32), m),
                    (_, m) => IdData::Ipv6Subnet(Ipv6Addr::from(lo), ip6(m)),
                }
            }
            ProxyAddress::Range(IpAddr::V4(a), IpAddr::V4(b)) => IdData::Ipv4Range(a, b),
            ProxyAddress::Range(a, b) => IdData::Ipv6Range(ip6(a), ip6(b)),
        };
        IdRepr { protocol: self.protocol, port: self.port, data }
    }

    /// Reads an ID payload of an address type; `None` for names, non-contiguous masks or mixed families.
    pub fn from_id(id: &IdRepr) -> Option<Self> {
        let address = match &id.data {
            IdData::Ipv4Addr(a) => ProxyAddress::Prefix(IpAddr::V4(*a), 32),
            IdData::Ipv6Addr(a) => ProxyAddress::Prefix(IpAddr::V6(*a), 128),
            IdData::Ipv4Subnet(a, m) => ProxyAddress::Prefix(IpAddr::V4(*a), mask_len(IpAddr::V4(*m))?),
            IdData::Ipv6Subnet(a, m) => ProxyAddress::Prefix(IpAddr::V6(*a), mask_len(IpAddr::V6(*m))?),
            IdData::Ipv4Range(a, b) if a <= b => ProxyAddress::Range(IpAddr::V4(*a), IpAddr::V4(*b)),
            IdData::Ipv6Range(a, b) if a <= b => ProxyAddress::Range(IpAddr::V6(*a), IpAddr::V6(*b)),
            _ => return None,
        };
        Some(ProxyIdentity { address, protocol: id.protocol, port: id.port })
    }
}

fn ip6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(v) => v,
        IpAddr::V4(v) => v.to_ipv6_mapped(),
    }
}

/// Why the config does not give Quick Mode policies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("crypto_map {map:?} seq {seq}: {what}")]
    CryptoMap { map: String, seq: u32, what: String },
}

fn selector(s: &Selector, v4: bool, protocol: u8, port: Option<config::PortRange>) -> ProxyIdentity {
    let address = match s {
        Selector::Prefix(p) => ProxyAddress::Prefix(p.addr(), p.prefix_len()),
        Selector::Any if v4 => ProxyAddress::Prefix(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        Selector::Any => ProxyAddress::Prefix(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    // An ID payload carries one port or none: a single-port range is that port, any wider range is "any".
    let port = port.filter(|r| r.low == r.high).map_or(0, |r| r.low);
    ProxyIdentity { address, protocol, port }
}

fn transform_set(ts: &config::TransformSet) -> IpsecTransformSet {
    let ah = ts.ah.map(|a| {
        use config::AhIntegrity as H;
        use engine::crypto::IntegrityAlgorithm as I;
        match a {
            H::AhMd5Hmac => I::HmacMd5_96,
            H::AhShaHmac => I::HmacSha1_96,
            H::AhSha256Hmac => I::HmacSha256_128,
            H::AhSha384Hmac => I::HmacSha384_192,
            H::AhSha512Hmac => I::HmacSha512_256,
        }
    });
    let esp = ts.esp_encryption.map(|e| (crate::plan::encryption(e), crate::plan::integrity(ts.esp_integrity)));
    let mode = match ts.mode {
        config::Mode::Tunnel => EncapsulationMode::Tunnel,
        config::Mode::Transport => EncapsulationMode::Transport,
    };
    IpsecTransformSet { esp, ah, mode }
}

/// The Quick Mode policies of every `ipsec-isakmp` crypto map entry: one per permit line of its access list (and
/// per address family for `any` to `any`), with the SPD handle `control::plan::build` gives the entry (entries
/// numbered in (name, seq) order, manual ones included).
pub fn phase2_policies(cfg: &Config) -> Result<Vec<CryptoMapPolicy>, PolicyError> {
    let mut entries: Vec<&config::CryptoMap> = cfg.crypto_maps.iter().collect();
    entries.sort_by_key(|m| (m.name.clone(), m.seq));
    let mut out = Vec::new();
    for (handle, m) in entries.into_iter().enumerate() {
        if m.kind != CryptoMapKind::IpsecIsakmp {
            continue;
        }
        let err = |what: &str| PolicyError::CryptoMap { map: m.name.clone(), seq: m.seq, what: what.into() };
        let acl = cfg.access_list(&m.match_address).ok_or_else(|| err("access list missing"))?;
        let mut sets = Vec::new();
        for name in &m.transform_sets {
            sets.push(transform_set(cfg.transform_set(name).ok_or_else(|| err("transform set missing"))?));
        }
        let pfs = m.pfs.map(|g| GroupDescription(g as u16));
        for e in acl.entries.iter().filter(|e| e.action == Action::Permit) {
            let fams = match (e.source.is_ipv4(), e.destination.is_ipv4()) {
                (Some(v4), _) | (None, Some(v4)) => vec![v4],
                (None, None) => vec![true, false],
            };
            let proto = e.protocol.number();
            for v4 in fams {
                out.push(CryptoMapPolicy {
                    map: m.name.clone(),
                    seq: m.seq,
                    handle: handle as u32,
                    peer: m.peer,
                    local: selector(&e.source, v4, proto, e.source_port),
                    remote: selector(&e.destination, v4, proto, e.destination_port),
                    transform_sets: sets.clone(),
                    pfs,
                    lifetime_secs: m.lifetime_seconds(),
                    lifetime_kilobytes: m.lifetime_kilobytes(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ProxyIdentity {
        let (a, l) = s.split_once('/').unwrap();
        ProxyIdentity { address: ProxyAddress::Prefix(a.parse().unwrap(), l.parse().unwrap()), protocol: 0, port: 0 }
    }

    #[test]
    fn id_payload_round_trips() {
        let range = ProxyIdentity {
            address: ProxyAddress::Range("203.0.113.10".parse().unwrap(), "203.0.113.20".parse().unwrap()),
            protocol: 6,
            port: 443,
        };
        for p in
            [id("192.0.2.0/24"), id("192.0.2.1/32"), id("0.0.0.0/0"), id("2001:db8::/32"), id("2001:db8::1/128"), range]
        {
            let wire = p.to_id();
            assert_eq!(ProxyIdentity::from_id(&wire), Some(p), "{wire:?}");
        }
        assert_eq!(id("192.0.2.1/32").to_id().data, IdData::Ipv4Addr("192.0.2.1".parse().unwrap()));
        assert_eq!(
            id("192.0.2.77/24").to_id().data,
            IdData::Ipv4Subnet("192.0.2.0".parse().unwrap(), "255.255.255.0".parse().unwrap()),
            "host bits cleared"
        );
    }

    #[test]
    fn odd_ids_are_refused() {
        let sub = |m: &str| IdRepr {
            protocol: 0,
            port: 0,
            data: IdData::Ipv4Subnet("192.0.2.0".parse().unwrap(), m.parse().unwrap()),
        };
        assert!(ProxyIdentity::from_id(&sub("255.0.255.0")).is_none(), "non-contiguous mask");
        assert!(ProxyIdentity::from_id(&sub("255.255.255.252")).is_some());
        let backwards = IdData::Ipv4Range("192.0.2.9".parse().unwrap(), "192.0.2.1".parse().unwrap());
        assert!(ProxyIdentity::from_id(&IdRepr { protocol: 0, port: 0, data: backwards }).is_none());
        assert!(ProxyIdentity::from_id(&IdRepr { protocol: 0, port: 0, data: IdData::Fqdn(b"gw".to_vec()) }).is_none());
    }

    #[test]
    fn containment() {
        let net = id("192.0.2.0/24");
        assert!(net.contains(&id("192.0.2.128/25")) && net.contains(&id("192.0.2.5/32")) && net.contains(&net));
        assert!(!net.contains(&id("192.0.0.0/16")) && !net.contains(&id("198.51.100.0/24")));
        assert!(!net.contains(&id("::/0")), "families differ");
        let range = ProxyIdentity {
            address: ProxyAddress::Range("192.0.2.10".parse().unwrap(), "192.0.2.20".parse().unwrap()),
            protocol: 0,
            port: 0,
        };
        assert!(net.contains(&range) && !range.contains(&net) && range.contains(&id("192.0.2.16/30")));
        let dns = ProxyIdentity { protocol: 17, port: 53, ..net };
        assert!(net.contains(&dns) && !dns.contains(&net));
        assert!(!dns.contains(&ProxyIdentity { port: 54, ..dns }));
        assert!(id("0.0.0.0/0").contains(&id("203.0.113.1/32")));
    }
}
