//! Rules for transform sets, access lists and crypto maps, including manual SA keys.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::acl::Action;
use super::algorithms::{AhIntegrity, EspEncryption, EspIntegrity};
use super::model::{Config, CryptoBackend, CryptoMap, CryptoMapKind, ManualAh, ManualEsp, TransformSet};
use super::validate::{field, unique_names, Report};

pub(super) fn validate(c: &Config, r: &mut Report) {
    transform_sets(c, r);
    access_lists(c, r);
    crypto_maps(c, r);
}

fn transform_sets(c: &Config, r: &mut Report) {
    unique_names(r, "transform set", c.transform_sets.iter().map(|t| t.name.as_str()), |i| {
        format!("transform_set[{i}]")
    });
    for ts in &c.transform_sets {
        let at = format!("transform_set \"{}\"", ts.name);
        let integrity = field(&at, "esp_integrity");
        match (ts.esp_encryption, ts.esp_integrity) {
            (None, None) if ts.ah.is_none() => r.error(&at, "needs esp_encryption, ah, or both"),
            (None, Some(i)) => {
                r.error(integrity, format!("{i} needs esp_encryption (esp-null for integrity-only ESP)"))
            }
            (Some(e), Some(_)) if e.is_aead() => {
                r.error(integrity, format!("must not be set with {e}: GCM provides integrity itself"))
            }
            (Some(EspEncryption::EspNull), None) => {
                r.error(integrity, "esp-null needs an integrity algorithm (RFC 4303 §3.2: not both NULL)")
            }
            (Some(e), None) if !e.is_aead() && ts.ah.is_none() => r.error(
                integrity,
                format!("required with {e} unless ah is set: only esp-gcm protects integrity by itself"),
            ),
            _ => {}
        }
    }
}

fn access_lists(c: &Config, r: &mut Report) {
    unique_names(r, "access list", c.access_lists.iter().map(|a| a.name.as_str()), |i| format!("access_list[{i}]"));
    for acl in &c.access_lists {
        let at = format!("access_list \"{}\"", acl.name);
        if acl.entries.is_empty() {
            r.error(field(&at, "entries"), "at least one entry is required");
        }
        for (i, e) in acl.entries.iter().enumerate() {
            let at = format!("{at}: entries[{i}]");
            for (name, port) in [("source_port", e.source_port), ("destination_port", e.destination_port)] {
                if port.is_some() && !e.protocol.has_ports() {
                    r.error(
                        format!("{at}.{name}"),
                        format!("ports need protocol tcp, udp or sctp (protocol is {})", e.protocol),
                    );
                }
            }
            if let (Some(s), Some(d)) = (e.source.is_ipv4(), e.destination.is_ipv4()) {
                if s != d {
                    r.error(
                        format!("{at}.destination"),
                        format!("{} is not of the same address family as source {}", e.destination, e.source),
                    );
                }
            }
        }
    }
}

/// SPIs seen so far: inbound ones must be unique per protocol (the SAD is keyed by SPI), outbound ones per
/// protocol and peer (each peer picks its own inbound SPIs).
#[derive(Default)]
struct Spis {
    inbound: HashMap<(&'static str, u32), String>,
    outbound: HashMap<(&'static str, IpAddr, u32), String>,
}

impl Spis {
    fn check(&mut self, r: &mut Report, at: &str, dir: &'static str, peer: IpAddr, spi: u32) {
        let path = format!("{}.spi", field(at, dir));
        if spi < 256 {
            r.error(path, format!("{spi} is reserved (RFC 4303 §2.1: SPIs 1-255 are reserved); use 256 or more"));
            return;
        }
        let proto = if dir.ends_with("esp") { "esp" } else { "ah" };
        let other = if dir.starts_with("inbound") {
            self.inbound.insert((proto, spi), at.to_owned())
        } else {
            self.outbound.insert((proto, peer, spi), at.to_owned())
        };
        if let Some(other) = other {
            r.error(path, format!("{dir} SPI {spi} is also used by {other}"));
        }
    }
}

fn crypto_maps(c: &Config, r: &mut Report) {
    let certificates = c.isakmp_policies.iter().any(|p| p.authentication.uses_certificates());
    let mut entries = HashSet::new();
    let mut spis = Spis::default();
    for (i, m) in c.crypto_maps.iter().enumerate() {
        let at = format!("crypto_map \"{}\" seq {}", m.name, m.seq);
        if m.name.trim().is_empty() {
            r.error(format!("crypto_map[{i}].name"), "a crypto map needs a non-empty name");
        }
        r.range(field(&at, "seq"), m.seq, 1, 65535);
        if !entries.insert((m.name.as_str(), m.seq)) {
            r.error(field(&at, "seq"), format!("crypto map \"{}\" already has an entry with seq {}", m.name, m.seq));
        }
        let acl = c.access_list(&m.match_address);
        if acl.is_none() {
            r.error(field(&at, "match_address"), format!("unknown access list \"{}\"", m.match_address));
        }
        if m.transform_sets.is_empty() {
            r.error(field(&at, "transform_sets"), "at least one transform set is required");
        }
        let mut listed = HashSet::new();
        for name in &m.transform_sets {
            if c.transform_set(name).is_none() {
                r.error(field(&at, "transform_sets"), format!("unknown transform set \"{name}\""));
            } else if !listed.insert(name) {
                r.error(field(&at, "transform_sets"), format!("transform set \"{name}\" is listed twice"));
            }
        }
        if c.interfaces.iter().any(|i| i.address.iter().any(|a| a.addr() == m.peer)) {
            r.error(field(&at, "peer"), format!("{} is an address of this gateway", m.peer));
        } else if !c.interfaces.iter().any(|i| i.is_connected(m.peer))
            && !c.routes.iter().any(|rt| rt.destination.contains(m.peer))
        {
            r.error(field(&at, "peer"), format!("{} is not reachable: no connected prefix or route covers it", m.peer));
        }
        for iface in c.interfaces.iter().filter(|i| i.crypto_map.as_deref() == Some(m.name.as_str())) {
            if iface.address_of_family(m.peer.is_ipv4()).is_none() {
                let family = if m.peer.is_ipv4() { "IPv4" } else { "IPv6" };
                r.error(
                    field(&at, "peer"),
                    format!(
                        "{} is {family} but interface \"{}\", which applies this map, has no {family} address",
                        m.peer, iface.name
                    ),
                );
            }
        }
        if let Some(b @ (CryptoBackend::Cryptodev | CryptoBackend::Auto)) = m.crypto {
            if c.engine.crypto == CryptoBackend::Cpu {
                r.error(
                    field(&at, "crypto"),
                    format!(
                        "\"{b}\" needs a crypto device, and [engine] crypto = \"cpu\" opens none: set [engine] crypto \
                         to \"auto\" or \"cryptodev\" (and crypto = \"cpu\" on the entries that should stay in software)"
                    ),
                );
            }
        }
        match m.kind {
            CryptoMapKind::IpsecIsakmp => isakmp_entry(c, r, &at, m, certificates),
            CryptoMapKind::IpsecManual => {
                manual_entry(r, &at, m);
                if let Some(acl) = acl {
                    if !acl.entries.iter().any(|e| e.action == Action::Permit) {
                        r.error(
                            field(&at, "match_address"),
                            format!(
                                "access list \"{}\" has no permit entry: an ipsec-manual entry protects the traffic \
                                 its permit entries match (one SA pair for all of them)",
                                acl.name
                            ),
                        );
                    }
                }
                if let [name] = m.transform_sets.as_slice() {
                    if let Some(ts) = c.transform_set(name) {
                        manual_keys(r, &at, m, ts, &mut spis);
                    }
                }
            }
        }
    }
}

fn isakmp_entry(c: &Config, r: &mut Report, at: &str, m: &CryptoMap, certificates: bool) {
    let manual = [
        ("inbound_esp", m.inbound_esp.is_some()),
        ("outbound_esp", m.outbound_esp.is_some()),
        ("inbound_ah", m.inbound_ah.is_some()),
        ("outbound_ah", m.outbound_ah.is_some()),
    ];
    for (name, _) in manual.iter().filter(|(_, set)| *set) {
        r.error(field(at, name), "manual keys belong to kind = \"ipsec-manual\" entries; IKE negotiates these");
    }
    for (name, set) in [("nat_t", m.nat_t.is_some()), ("esn", m.esn.is_some())] {
        if set {
            r.error(field(at, name), "only for kind = \"ipsec-manual\" (IKE negotiates NAT-T and sequence numbers)");
        }
    }
    if c.isakmp_policies.is_empty() {
        r.error(field(at, "kind"), "ipsec-isakmp needs at least one [[isakmp_policy]]");
    } else if !certificates && c.isakmp_key_for(m.peer).is_none() {
        r.error(
            field(at, "peer"),
            format!("no isakmp_key matches {} and no isakmp_policy authenticates with certificates", m.peer),
        );
    }
    if let Some(s) = m.lifetime_seconds {
        r.range(field(at, "lifetime_seconds"), s, 120, 86400);
    }
    if let Some(kb) = m.lifetime_kilobytes {
        r.range(field(at, "lifetime_kilobytes"), kb, 2560, u64::from(u32::MAX));
    }
}

fn manual_entry(r: &mut Report, at: &str, m: &CryptoMap) {
    if m.transform_sets.len() > 1 {
        r.error(field(at, "transform_sets"), "an ipsec-manual entry takes exactly one transform set");
    }
    let isakmp_only = [
        ("pfs", m.pfs.is_some()),
        ("lifetime_seconds", m.lifetime_seconds.is_some()),
        ("lifetime_kilobytes", m.lifetime_kilobytes.is_some()),
        ("initiate", m.initiate.is_some()),
    ];
    for (name, _) in isakmp_only.iter().filter(|(_, set)| *set) {
        r.error(field(at, name), "only for kind = \"ipsec-isakmp\" (manual SAs neither negotiate nor expire)");
    }
}

fn manual_keys(r: &mut Report, at: &str, m: &CryptoMap, ts: &TransformSet, spis: &mut Spis) {
    if let Some(n) = &m.nat_t {
        if ts.esp_encryption.is_none() {
            r.error(field(at, "nat_t"), format!("transform set \"{}\" has no ESP: NAT-T carries ESP only", ts.name));
        } else if ts.ah.is_some() {
            r.error(field(at, "nat_t"), "AH cannot cross a NAT (it authenticates the addresses): drop ah or nat_t");
        }
        if n.local_port != 4500 {
            r.error(
                format!("{}.local_port", field(at, "nat_t")),
                format!("{} is not supported: the data path takes ESP-in-UDP on port 4500 (RFC 3948)", n.local_port),
            );
        }
        if n.remote_port == 0 {
            r.error(format!("{}.remote_port", field(at, "nat_t")), "0 is not a UDP port");
        }
    }
    let sets = [("inbound_esp", &m.inbound_esp), ("outbound_esp", &m.outbound_esp)];
    for (dir, sa) in sets {
        match (ts.esp_encryption, sa) {
            (Some(enc), Some(sa)) => {
                spis.check(r, at, dir, m.peer, sa.spi);
                esp_keys(r, &field(at, dir), sa, enc, ts.esp_integrity);
            }
            (Some(_), None) => r.error(field(at, dir), format!("required: transform set \"{}\" uses ESP", ts.name)),
            (None, Some(_)) => r.error(field(at, dir), format!("transform set \"{}\" has no ESP", ts.name)),
            (None, None) => {}
        }
    }
    let sets = [("inbound_ah", &m.inbound_ah), ("outbound_ah", &m.outbound_ah)];
    for (dir, sa) in sets {
        match (ts.ah, sa) {
            (Some(ah), Some(sa)) => {
                spis.check(r, at, dir, m.peer, sa.spi);
                ah_key(r, &field(at, dir), sa, ah);
            }
            (Some(_), None) => r.error(field(at, dir), format!("required: transform set \"{}\" uses AH", ts.name)),
            (None, Some(_)) => r.error(field(at, dir), format!("transform set \"{}\" has no AH", ts.name)),
            (None, None) => {}
        }
    }
}

fn length_error(alg: &str, want: usize, got: usize, extra: &str) -> String {
    format!("{alg} needs a {want}-byte key ({} hex digits){extra}, got {got} bytes", want * 2)
}

fn esp_keys(r: &mut Report, at: &str, sa: &ManualEsp, enc: EspEncryption, integrity: Option<EspIntegrity>) {
    let want = enc.key_len();
    let path = format!("{at}.cipher_key");
    match &sa.cipher_key {
        Some(_) if want == 0 => r.error(path, format!("{enc} takes no cipher key")),
        None if want > 0 => r.error(path, format!("required for {enc} ({want} bytes)")),
        Some(k) if k.len() != want => {
            let extra = match (enc.is_aead(), enc.is_ctr()) {
                (true, _) => ": the AES key then the 4-byte salt (RFC 4106 §8.1)",
                (_, true) => ": the AES key then the 4-byte nonce (RFC 3686 §5.1)",
                _ => "",
            };
            r.error(path, length_error(enc.name(), want, k.len(), extra));
        }
        _ => {}
    }
    let path = format!("{at}.auth_key");
    match (integrity, &sa.auth_key) {
        (_, Some(_)) if enc.is_aead() => {
            r.error(path, format!("must not be set with {enc}: GCM authenticates with its cipher key"))
        }
        (None, Some(_)) => r.error(path, "the transform set has no esp_integrity"),
        (Some(i), None) if !enc.is_aead() => r.error(path, format!("required for {i} ({} bytes)", i.key_len())),
        (Some(i), Some(k)) if k.len() != i.key_len() => r.error(path, length_error(i.name(), i.key_len(), k.len(), "")),
        _ => {}
    }
}

fn ah_key(r: &mut Report, at: &str, sa: &ManualAh, ah: AhIntegrity) {
    if sa.auth_key.len() != ah.key_len() {
        r.error(format!("{at}.auth_key"), length_error(ah.name(), ah.key_len(), sa.auth_key.len(), ""));
    }
}
