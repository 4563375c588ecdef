//! Quick Mode policies from the operator's config (`control::ike::phase2_policies`): one per permit line of a crypto
//! map entry's access list, with its transform sets, PFS group, lifetimes and the SPD handle `control::plan` uses.

use control::ike::{phase2_policies, EncapsulationMode, ProxyAddress, ProxyIdentity};
use control::isakmp::GroupDescription;
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};

const CONFIG: &str = r#"
[[isakmp_policy]]
priority = 10
encryption = "aes-256"
hash = "sha256"
authentication = "pre-share"
group = 14

[[isakmp_key]]
peer = "198.51.100.2"
key = "example-only-secret"

[[transform_set]]
name = "TS-GCM"
esp_encryption = "esp-gcm-256"

[[transform_set]]
name = "TS1"
esp_encryption = "esp-aes-128"
esp_integrity = "esp-sha-hmac"
ah = "ah-sha256-hmac"
mode = "transport"

[[access_list]]
name = "VPN"
entries = [
  { action = "deny", protocol = "ip", source = "192.0.2.7", destination = "any" },
  { action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "203.0.113.0/24" },
  { action = "permit", protocol = "udp", source = "192.0.2.10", destination = "203.0.113.0/25", destination_port = 53 },
]

[[access_list]]
name = "ANY"
entries = [{ action = "permit", protocol = "ip", source = "any", destination = "any" }]

[[crypto_map]]
name = "CM1"
seq = 20
kind = "ipsec-isakmp"
peer = "198.51.100.2"
match_address = "VPN"
transform_sets = ["TS-GCM", "TS1"]
pfs = 19
lifetime_seconds = 1800

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "198.51.100.3"
match_address = "ANY"
transform_sets = ["TS1"]
"#;

fn prefix(a: &str, len: u8) -> ProxyAddress {
    ProxyAddress::Prefix(a.parse().unwrap(), len)
}

#[test]
fn crypto_map_entries_become_quick_mode_policies() {
    let cfg = control::config::parse_unvalidated(CONFIG).unwrap();
    let ps = phase2_policies(&cfg).unwrap();
    // seq 10 (any to any: one policy per family), then seq 20 (two permit lines; the deny line is no proxy).
    assert_eq!(ps.len(), 4);
    let (v4, v6) = (&ps[0], &ps[1]);
    assert_eq!((v4.seq, v4.handle, v6.handle), (10, 0, 0));
    assert_eq!(v4.local.address, prefix("0.0.0.0", 0));
    assert_eq!(v6.remote.address, prefix("::", 0));
    assert_eq!((v4.pfs, v4.lifetime_secs, v4.lifetime_kilobytes), (None, 3600, 4_608_000));

    let (a, b) = (&ps[2], &ps[3]);
    assert_eq!((a.map.as_str(), a.seq, a.handle, b.handle), ("CM1", 20, 1, 1));
    assert_eq!(a.peer, "198.51.100.2".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(a.local, ProxyIdentity { address: prefix("192.0.2.0", 24), protocol: 0, port: 0 });
    assert_eq!(a.remote, ProxyIdentity { address: prefix("203.0.113.0", 24), protocol: 0, port: 0 });
    assert_eq!(b.local, ProxyIdentity { address: prefix("192.0.2.10", 32), protocol: 17, port: 0 });
    assert_eq!(b.remote, ProxyIdentity { address: prefix("203.0.113.0", 25), protocol: 17, port: 53 });
    assert_eq!((a.pfs, a.lifetime_secs), (Some(GroupDescription::ECP_256), 1800));
    let [gcm, ts1] = a.transform_sets.as_slice() else { panic!("{:?}", a.transform_sets) };
    assert_eq!((gcm.esp, gcm.ah, gcm.mode), (Some((Enc::AesGcm256, Integ::None)), None, EncapsulationMode::Tunnel));
    assert_eq!(ts1.esp, Some((Enc::AesCbc128, Integ::HmacSha1_96)));
    assert_eq!((ts1.ah, ts1.mode), (Some(Integ::HmacSha256_128), EncapsulationMode::Transport));
}

#[test]
fn handles_match_the_engine_plan() {
    // control::plan numbers crypto map entries in (name, seq) order, manual ones included.
    let text = CONFIG.replace("seq = 10\nkind = \"ipsec-isakmp\"", "seq = 10\nkind = \"ipsec-manual\"");
    let cfg = control::config::parse_unvalidated(&text).unwrap();
    let ps = phase2_policies(&cfg).unwrap();
    assert_eq!(ps.len(), 2, "the manual entry has no Quick Mode");
    assert!(ps.iter().all(|p| p.seq == 20 && p.handle == 1));
}

#[test]
fn missing_references_are_errors() {
    let text = CONFIG.replace("transform_sets = [\"TS1\"]", "transform_sets = [\"NOPE\"]");
    let cfg = control::config::parse_unvalidated(&text).unwrap();
    let e = phase2_policies(&cfg).unwrap_err();
    assert!(e.to_string().contains("transform set"), "{e}");
}
