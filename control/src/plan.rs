//! From the operator's config to what the engine runs: forwarding tables, egress policies (SPDs built from the
//! crypto maps' access lists) and the manually keyed SAs of `ipsec-manual` crypto maps. IKE-negotiated SAs use the
//! same policy handles later.
use crate::config::{self, AclEntry, AhIntegrity, Config, CryptoMapKind, EspEncryption, EspIntegrity, Selector};
use engine::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
use engine::datapath::ether::MacAddr;
use engine::datapath::{IcmpLimit, Interface, Route, Tables};
use engine::sa::{Lifetime, Mode, NatT, SaParams};
use engine::selector::{IpPrefix, TrafficSelector};
use engine::spd::{PolicyAction, Spd, SpdEntry};
use engine::wire::{IpProtocol, Spi};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why the config cannot be turned into an engine plan (beyond what config validation already refused).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("interface {name:?}: device {device:?} is not a DPDK port EAL found")]
    NoPort { name: String, device: String },
    #[error("interface {name:?}: {what}")]
    Port { name: String, what: String },
    #[error("crypto_map {name:?} seq {seq}: {what}")]
    CryptoMap { name: String, seq: u32, what: String },
}

/// One crypto map entry as the engine sees it: its SPD handle, and for manual maps the two SAs.
#[derive(Debug)]
pub struct MapPlan {
    pub name: String,
    pub seq: u32,
    pub peer: IpAddr,
    /// The handle `PolicyAction::Protect` carries for this entry.
    pub handle: u32,
    /// Manual ESP SAs (inbound, outbound), when the transform set has ESP.
    pub manual: Option<(SaParams, SaParams)>,
    /// Manual AH SAs (inbound, outbound), when the transform set has AH. With ESP too they form a bundle: ESP in
    /// the transform set's mode, then AH in transport mode over ESP's packet (the params link the two inbound SAs).
    pub manual_ah: Option<(SaParams, SaParams)>,
}

/// Everything the engine needs at start.
#[derive(Debug)]
pub struct Plan {
    pub tables: Tables,
    pub maps: Vec<MapPlan>,
}

/// The device name EAL gives a port: the devargs before the first comma (`net_pcap0,rx_pcap=...` -> `net_pcap0`).
pub fn device_name(device: &str) -> &str {
    device.split(',').next().unwrap_or(device)
}

/// Builds the plan. `port_of` maps a device name to its DPDK port id, `mac_of` a port id to its MAC address.
pub fn build(
    cfg: &Config,
    port_of: impl Fn(&str) -> Option<u16>,
    mac_of: impl Fn(u16) -> Option<[u8; 6]>,
) -> Result<Plan, PlanError> {
    build_keeping(cfg, port_of, mac_of, &HashMap::new(), 0)
}

/// Builds the plan for a reload: entries in `keep` (by name and seq) keep their handles, so their SAs stay where
/// the worker has them; other entries get handles from `first_new` on (never a handle a removed entry had, whose
/// SAs may still be on their way out).
pub fn build_keeping(
    cfg: &Config,
    port_of: impl Fn(&str) -> Option<u16>,
    mac_of: impl Fn(u16) -> Option<[u8; 6]>,
    keep: &HashMap<(String, u32), u32>,
    first_new: u32,
) -> Result<Plan, PlanError> {
    // Crypto map entries get handles in config order; a map (a set of entries) becomes one SPD per interface.
    let mut next_new = first_new.max(keep.values().max().map_or(0, |h| h + 1));
    let mut maps = Vec::new();
    let mut spd_of_map: HashMap<&str, usize> = HashMap::new();
    let mut policies: Vec<Vec<SpdEntry>> = Vec::new();
    let mut entries: Vec<&config::CryptoMap> = cfg.crypto_maps.iter().collect();
    entries.sort_by_key(|m| (m.name.clone(), m.seq));
    for m in entries {
        let handle = match keep.get(&(m.name.clone(), m.seq)) {
            Some(h) => *h,
            None => {
                next_new += 1;
                next_new - 1
            }
        };
        let spd = *spd_of_map.entry(m.name.as_str()).or_insert_with(|| {
            policies.push(Vec::new());
            policies.len() - 1
        });
        let acl = cfg
            .access_lists
            .iter()
            .find(|a| a.name == m.match_address)
            .ok_or_else(|| map_err(m, "access list missing"))?;
        for e in &acl.entries {
            let action = match e.action {
                config::Action::Permit => PolicyAction::Protect(handle),
                config::Action::Deny => PolicyAction::Bypass,
            };
            for selector in selectors(e) {
                policies[spd].push(SpdEntry { selector, action });
            }
        }
        let (manual, manual_ah) = if m.kind == CryptoMapKind::IpsecManual { manual_sas(cfg, m)? } else { (None, None) };
        maps.push(MapPlan { name: m.name.clone(), seq: m.seq, peer: m.peer, handle, manual, manual_ah });
    }
    // Traffic that no crypto map entry claims goes out in clear, as on IOS.
    let any = |v4: bool| {
        let a = if v4 { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
        TrafficSelector::prefixes(IpPrefix::new(a, 0), IpPrefix::new(a, 0))
    };
    let policies: Vec<Spd> = policies
        .into_iter()
        .map(|mut v| {
            v.push(SpdEntry { selector: any(true), action: PolicyAction::Bypass });
            v.push(SpdEntry { selector: any(false), action: PolicyAction::Bypass });
            Spd::new(v)
        })
        .collect();

    let mut interfaces = Vec::new();
    let mut port_by_name = HashMap::new();
    for i in &cfg.interfaces {
        let dev = device_name(&i.device);
        let port = port_of(dev).ok_or_else(|| PlanError::NoPort { name: i.name.clone(), device: i.device.clone() })?;
        let mac = match i.mac {
            Some(m) => m.0,
            None => mac_of(port)
                .ok_or_else(|| PlanError::Port { name: i.name.clone(), what: "cannot read the port's MAC".into() })?,
        };
        port_by_name.insert(i.name.as_str(), port);
        interfaces.push(Interface {
            name: i.name.clone(),
            port,
            mac: MacAddr(mac),
            addresses: i.address.iter().map(|a| IpPrefix::new(a.addr(), a.prefix_len())).collect(),
            mtu: i.mtu(),
            policy: i.crypto_map.as_deref().and_then(|n| spd_of_map.get(n).copied()),
        });
    }
    let routes = cfg
        .routes
        .iter()
        .filter_map(|r| {
            Some(Route {
                prefix: IpPrefix::new(r.destination.addr(), r.destination.prefix_len()),
                next_hop: Some(r.next_hop),
                port: *port_by_name.get(r.interface.as_str())?,
            })
        })
        .collect();
    let neighbors = cfg.neighbors.iter().map(|n| (n.address, MacAddr(n.mac.0))).collect();
    let mut tables = Tables::new(interfaces, routes, neighbors, policies);
    if let Some(l) = &cfg.engine.icmp_rate_limit {
        tables.icmp_limit = IcmpLimit { per_second: l.per_second, burst: l.burst };
    }
    Ok(Plan { tables, maps })
}

fn map_err(m: &config::CryptoMap, what: &str) -> PlanError {
    PlanError::CryptoMap { name: m.name.clone(), seq: m.seq, what: what.into() }
}

/// The engine selectors of one ACL entry (`any` on both sides becomes one selector per family).
fn selectors(e: &AclEntry) -> Vec<TrafficSelector> {
    let fams: Vec<bool> = match (e.source.is_ipv4(), e.destination.is_ipv4()) {
        (Some(v4), _) | (None, Some(v4)) => vec![v4],
        (None, None) => vec![true, false],
    };
    let prefix = |s: &Selector, v4: bool| match s {
        Selector::Prefix(p) => IpPrefix::new(p.addr(), p.prefix_len()),
        Selector::Any if v4 => IpPrefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        Selector::Any => IpPrefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let ports = |p: &Option<config::PortRange>| p.map_or(0..=u16::MAX, |r| r.low..=r.high);
    fams.into_iter()
        .map(|v4| TrafficSelector {
            src: prefix(&e.source, v4),
            dst: prefix(&e.destination, v4),
            protocol: match e.protocol.number() {
                0 => None,
                n => Some(IpProtocol(n)),
            },
            src_ports: ports(&e.source_port),
            dst_ports: ports(&e.destination_port),
        })
        .collect()
}

/// The inbound and outbound SAs of an `ipsec-manual` entry, ESP and/or AH: tunnel between the local address facing
/// the peer and the peer, keys from the config, inbound traffic checked against the mirrored ACL.
#[allow(clippy::type_complexity)]
fn manual_sas(
    cfg: &Config,
    m: &config::CryptoMap,
) -> Result<(Option<(SaParams, SaParams)>, Option<(SaParams, SaParams)>), PlanError> {
    let ts = m
        .transform_sets
        .first()
        .and_then(|n| cfg.transform_sets.iter().find(|t| &t.name == n))
        .ok_or_else(|| map_err(m, "no transform set"))?;
    let local = cfg
        .interfaces
        .iter()
        .filter(|i| i.crypto_map.as_deref() == Some(m.name.as_str()))
        .find_map(|i| i.address_of_family(m.peer.is_ipv4()))
        .map(|a| a.addr())
        .ok_or_else(|| map_err(m, "no interface with this crypto map has an address of the peer's family"))?;
    let mode = match ts.mode {
        config::Mode::Tunnel => Mode::Tunnel { local, remote: m.peer },
        config::Mode::Transport => Mode::Transport,
    };
    let selectors = inbound_selectors(cfg, m);
    let esn = m.esn.unwrap_or(false);
    // Manual SAs have no IKE to rekey them, so they have no lifetime (as on IOS): the defaults mean none.
    let finish = |mut n: SaParams, mut o: SaParams| {
        n.replay_window = cfg.engine.replay_window;
        n.esn = esn;
        o.esn = esn;
        n.lifetime = Lifetime::default();
        o.lifetime = Lifetime::default();
        (n, o)
    };
    let key = |k: &Option<config::HexKey>| k.as_ref().map(|k| k.as_bytes().to_vec()).unwrap_or_default();
    let esp = match ts.esp_encryption {
        Some(enc) => {
            let (Some(inb), Some(outb)) = (m.inbound_esp.as_ref(), m.outbound_esp.as_ref()) else {
                return Err(map_err(m, "manual keying needs inbound_esp and outbound_esp"));
            };
            let (e, i) = (encryption(enc), integrity(ts.esp_integrity));
            let o = SaParams::new(Spi(outb.spi), mode, e, &key(&outb.cipher_key), i, &key(&outb.auth_key));
            let n = SaParams::new(Spi(inb.spi), mode, e, &key(&inb.cipher_key), i, &key(&inb.auth_key));
            let (mut n, mut o) = finish(n, o);
            let nat = m.nat_t.as_ref().map(|p| NatT { local_port: p.local_port, remote_port: p.remote_port });
            (n.nat_t, o.nat_t) = (nat, nat);
            Some((n, o))
        }
        None => None,
    };
    let ah = match ts.ah {
        Some(alg) => {
            let (Some(inb), Some(outb)) = (m.inbound_ah.as_ref(), m.outbound_ah.as_ref()) else {
                return Err(map_err(m, "manual keying needs inbound_ah and outbound_ah"));
            };
            // In a bundle ESP makes the tunnel and AH authenticates ESP's packet, outer header included.
            let ah_mode = if esp.is_some() { Mode::Transport } else { mode };
            let (null, i) = (EncryptionAlgorithm::Null, ah_integrity(alg));
            let o = SaParams::new(Spi(outb.spi), ah_mode, null, &[], i, outb.auth_key.as_bytes());
            let n = SaParams::new(Spi(inb.spi), ah_mode, null, &[], i, inb.auth_key.as_bytes());
            Some(finish(n, o))
        }
        None => None,
    };
    let (esp, ah) = match (esp, ah) {
        (Some((mut en, eo)), Some((mut an, ao))) => {
            // The inner packet is ESP's to check; AH checks that it carries the bundle's ESP.
            en.bundle_ah = Some(an.spi);
            an.bundle_esp = Some(en.spi);
            (en.selector, en.extra_selectors) = selectors;
            (Some((en, eo)), Some((an, ao)))
        }
        (Some((mut en, eo)), None) => {
            (en.selector, en.extra_selectors) = selectors;
            (Some((en, eo)), None)
        }
        (None, Some((mut an, ao))) => {
            (an.selector, an.extra_selectors) = selectors;
            (None, Some((an, ao)))
        }
        (None, None) => return Err(map_err(m, "the transform set has neither ESP nor AH")),
    };
    Ok((esp, ah))
}

/// What the inbound SA accepts (RFC 4301 §5.2): every permit entry of the ACL seen from the peer's side.
fn inbound_selectors(cfg: &Config, m: &config::CryptoMap) -> (Option<TrafficSelector>, Vec<TrafficSelector>) {
    let mirrored = cfg
        .access_lists
        .iter()
        .filter(|a| a.name == m.match_address)
        .flat_map(|a| a.entries.iter().filter(|e| e.action == config::Action::Permit))
        .flat_map(selectors)
        .map(|s| TrafficSelector {
            src: s.dst,
            dst: s.src,
            protocol: s.protocol,
            src_ports: s.dst_ports,
            dst_ports: s.src_ports,
        });
    let mut all: Vec<TrafficSelector> = mirrored.collect();
    if all.is_empty() {
        return (None, all);
    }
    let first = all.remove(0);
    (Some(first), all)
}

pub fn ah_integrity(a: AhIntegrity) -> IntegrityAlgorithm {
    match a {
        AhIntegrity::AhMd5Hmac => IntegrityAlgorithm::HmacMd5_96,
        AhIntegrity::AhShaHmac => IntegrityAlgorithm::HmacSha1_96,
        AhIntegrity::AhSha256Hmac => IntegrityAlgorithm::HmacSha256_128,
        AhIntegrity::AhSha384Hmac => IntegrityAlgorithm::HmacSha384_192,
        AhIntegrity::AhSha512Hmac => IntegrityAlgorithm::HmacSha512_256,
    }
}

pub fn encryption(e: EspEncryption) -> EncryptionAlgorithm {
    match e {
        EspEncryption::EspNull => EncryptionAlgorithm::Null,
        EspEncryption::EspDes => EncryptionAlgorithm::DesCbc,
        EspEncryption::Esp3des => EncryptionAlgorithm::TripleDesCbc,
        EspEncryption::EspAes128 => EncryptionAlgorithm::AesCbc128,
        EspEncryption::EspAes192 => EncryptionAlgorithm::AesCbc192,
        EspEncryption::EspAes256 => EncryptionAlgorithm::AesCbc256,
        EspEncryption::EspAesCtr128 => EncryptionAlgorithm::AesCtr128,
        EspEncryption::EspAesCtr192 => EncryptionAlgorithm::AesCtr192,
        EspEncryption::EspAesCtr256 => EncryptionAlgorithm::AesCtr256,
        EspEncryption::EspGcm128 => EncryptionAlgorithm::AesGcm128,
        EspEncryption::EspGcm192 => EncryptionAlgorithm::AesGcm192,
        EspEncryption::EspGcm256 => EncryptionAlgorithm::AesGcm256,
    }
}

pub fn integrity(i: Option<EspIntegrity>) -> IntegrityAlgorithm {
    match i {
        None => IntegrityAlgorithm::None,
        Some(EspIntegrity::EspMd5Hmac) => IntegrityAlgorithm::HmacMd5_96,
        Some(EspIntegrity::EspShaHmac) => IntegrityAlgorithm::HmacSha1_96,
        Some(EspIntegrity::EspSha256Hmac) => IntegrityAlgorithm::HmacSha256_128,
        Some(EspIntegrity::EspSha384Hmac) => IntegrityAlgorithm::HmacSha384_192,
        Some(EspIntegrity::EspSha512Hmac) => IntegrityAlgorithm::HmacSha512_256,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
