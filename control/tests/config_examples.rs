//! Every example config shipped in deploy/examples/ loads, validates and round-trips; the reference config and
//! docs/config.md cover every key of the schema; examples use documentation addresses only.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use control::config::{load, parse, CryptoMapKind, PermissionCheck};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(repo().join("deploy/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn all_examples_load_and_validate() {
    let names: Vec<String> = examples().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in
        ["espgate.toml", "site-to-site-psk.toml", "site-to-site-certs.toml", "nat-t.toml", "manual-keys.toml"]
    {
        assert!(names.iter().any(|n| n == expected), "deploy/examples/{expected} is missing");
    }
    for path in examples() {
        // The repository's files are world-readable; the daemon's own copy would not be.
        let c = load(&path, PermissionCheck::Skip).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.warnings(), vec![], "{}", path.display());
    }
}

#[test]
fn examples_round_trip() {
    for path in examples() {
        let text = fs::read_to_string(&path).unwrap();
        let c = parse(&text).unwrap();
        let again = c.to_toml().unwrap();
        assert_eq!(parse(&again).unwrap_or_else(|e| panic!("{}: {e}\n{again}", path.display())), c);
    }
}

#[test]
fn examples_show_what_they_say() {
    let read = |n: &str| parse(&fs::read_to_string(repo().join("deploy/examples").join(n)).unwrap()).unwrap();
    let manual = read("manual-keys.toml");
    assert!(manual.crypto_maps.iter().all(|m| m.kind == CryptoMapKind::IpsecManual && m.has_manual_keys()));
    assert!(manual.crypto_maps.iter().any(|m| m.inbound_ah.is_some()));
    let certs = read("site-to-site-certs.toml");
    assert!(certs.pki.is_some() && certs.isakmp_keys.is_empty() && !certs.contains_secrets());
    let nat = read("nat-t.toml");
    assert!(nat.isakmp.nat_t && nat.isakmp.nat_keepalive > 0);
    let psk = read("site-to-site-psk.toml");
    assert_eq!(psk.isakmp_keys.len(), 1);
    let reference = read("espgate.toml");
    assert!(reference.metrics.is_some() && reference.pki.is_some() && reference.isakmp.dpd.is_some());
    assert!(reference.crypto_maps.iter().any(|m| m.kind == CryptoMapKind::IpsecManual));
    assert!(reference.crypto_maps.iter().any(|m| m.kind == CryptoMapKind::IpsecIsakmp));
}

/// Every key of the schema, as `section.key` (array-of-tables and inline tables included).
const SCHEMA_KEYS: &[&str] = &[
    "engine.workers",
    "engine.control_core",
    "engine.eal",
    "engine.replay_window",
    "engine.crypto",
    "engine.crypto_devargs",
    "engine.trigger",
    "engine.icmp_rate_limit",
    "icmp_rate_limit.per_second",
    "icmp_rate_limit.burst",
    "interface.name",
    "interface.device",
    "interface.address",
    "interface.mac",
    "interface.mtu",
    "interface.queues",
    "interface.crypto_map",
    "neighbor.address",
    "neighbor.mac",
    "neighbor.interface",
    "route.destination",
    "route.next_hop",
    "route.interface",
    "isakmp.aggressive_mode",
    "isakmp.nat_t",
    "isakmp.nat_keepalive",
    "isakmp.identity",
    "isakmp.dpd",
    "dpd.interval",
    "dpd.retries",
    "dpd.mode",
    "dpd.on_dead",
    "isakmp_policy.priority",
    "isakmp_policy.encryption",
    "isakmp_policy.hash",
    "isakmp_policy.authentication",
    "isakmp_policy.group",
    "isakmp_policy.lifetime",
    "isakmp_key.peer",
    "isakmp_key.identity",
    "isakmp_key.key",
    "pki.ca",
    "pki.certificate",
    "pki.private_key",
    "transform_set.name",
    "transform_set.esp_encryption",
    "transform_set.esp_integrity",
    "transform_set.ah",
    "transform_set.mode",
    "access_list.name",
    "access_list.entries",
    "entries.action",
    "entries.protocol",
    "entries.source",
    "entries.destination",
    "entries.source_port",
    "entries.destination_port",
    "crypto_map.name",
    "crypto_map.seq",
    "crypto_map.kind",
    "crypto_map.peer",
    "crypto_map.match_address",
    "crypto_map.transform_sets",
    "crypto_map.pfs",
    "crypto_map.lifetime_seconds",
    "crypto_map.lifetime_kilobytes",
    "crypto_map.initiate",
    "crypto_map.inbound_esp",
    "crypto_map.outbound_esp",
    "crypto_map.inbound_ah",
    "crypto_map.outbound_ah",
    "crypto_map.nat_t",
    "crypto_map.esn",
    "crypto_map.crypto",
    "nat_t.local_port",
    "nat_t.remote_port",
    "manual.spi",
    "manual.cipher_key",
    "manual.auth_key",
    "metrics.listen",
    "control.socket",
];

#[test]
fn reference_config_and_docs_cover_every_key() {
    let reference = fs::read_to_string(repo().join("deploy/examples/espgate.toml")).unwrap();
    let docs = fs::read_to_string(repo().join("docs/config.md")).unwrap();
    for key in SCHEMA_KEYS {
        let (section, name) = key.split_once('.').unwrap();
        // In the reference config, live or commented out, as `name =` or inside an inline table.
        let mentioned = reference.contains(&format!("{name} =")) || reference.contains(&format!("{name}:"));
        assert!(mentioned, "deploy/examples/espgate.toml does not explain {key}");
        assert!(docs.contains(&format!("`{name}`")), "docs/config.md does not document {key}");
        if !["dpd", "entries", "manual", "nat_t", "icmp_rate_limit"].contains(&section) {
            assert!(docs.contains(section), "docs/config.md has no section {section}");
        }
    }
}

#[test]
fn examples_use_documentation_addresses_only() {
    let doc_nets = [[192u8, 0, 2], [198, 51, 100], [203, 0, 113]];
    for path in examples() {
        let text = fs::read_to_string(&path).unwrap();
        let words = text.split(|c: char| !(c.is_ascii_digit() || c == '.'));
        for ip in words.filter_map(|w| w.trim_matches('.').parse::<Ipv4Addr>().ok()) {
            let o = ip.octets();
            // Netmasks and wildcard masks appear in the Cisco equivalents quoted in comments.
            let m = u32::from(ip);
            let is_mask = m.leading_ones() + m.trailing_zeros() == 32 || m.leading_zeros() + m.trailing_ones() == 32;
            let ok = doc_nets.contains(&[o[0], o[1], o[2]]) || ip.is_loopback() || is_mask;
            assert!(ok, "{}: {ip} is not a documentation address", path.display());
        }
    }
}
