//! The example config of the design document (the schema contract) parses, validates and means what it says.

use std::net::IpAddr;

use control::config::{
    parse, Auth, CryptoMapKind, DhGroup, EspEncryption, EspIntegrity, Hash, Identity, IsakmpEncryption, Mode, Selector,
    DEFAULT_CONTROL_SOCKET,
};

/// Verbatim from the design document's "The operator's view: config" (shared/DESIGN.md in the project's steering
/// repo), so a change of the contract shows up here.
const DESIGN_EXAMPLE: &str = r#"
[engine]
workers = [1]                 # lcores (core ids) that poll ports; the control thread takes control_core
control_core = 0
eal = ["--no-huge", "-m", "1024"]   # extra EAL arguments
replay_window = 1024

[[interface]]
name = "outside"
device = "net_af_packet0,iface=veth-out"    # DPDK devargs of a vdev, or a PCI address such as 0000:03:00.0
address = "198.51.100.1/24"   # IPv4 and/or IPv6: address = ["198.51.100.1/24", "2001:db8:100::1/64"]
mac = "02:00:00:00:01:01"     # optional: set the port's MAC address (default: the port's own)
mtu = 1500                    # optional
crypto_map = "CM1"            # applied to traffic routed out of this interface

[[interface]]
name = "inside"
device = "net_af_packet1,iface=veth-in"
address = "192.0.2.1/24"

[[neighbor]]                  # static ARP/ND entries; others are resolved
address = "198.51.100.2"
mac = "02:00:00:00:00:02"
interface = "outside"

[[route]]
destination = "203.0.113.0/24"
next_hop = "198.51.100.2"
interface = "outside"

[isakmp]
aggressive_mode = false
nat_keepalive = 20            # seconds
dpd = { interval = 10, retries = 3 }
identity = "address"          # or "fqdn:gw1.example.net"

[[isakmp_policy]]             # crypto isakmp policy 10
priority = 10
encryption = "aes-256"        # des | 3des | aes-128 | aes-192 | aes-256
hash = "sha384"               # md5 | sha1 | sha256 | sha384 | sha512
authentication = "pre-share"  # pre-share | rsa-sig | ecdsa-sig
group = 14                    # 1 2 5 14 15 16 19 20 24
lifetime = 86400              # seconds

[[isakmp_key]]                # crypto isakmp key ... address ...
peer = "198.51.100.2"
key = "example-only-secret"

[pki]
ca = ["ca.pem"]
certificate = "gw1.pem"
private_key = "gw1.key"

[[transform_set]]             # crypto ipsec transform-set TS1 esp-aes 256 esp-sha256-hmac
name = "TS1"
esp_encryption = "esp-aes-256"    # esp-null esp-des esp-3des esp-aes-128/192/256 esp-aes-ctr-128/192/256 esp-gcm-128/192/256
esp_integrity = "esp-sha256-hmac" # esp-md5-hmac esp-sha-hmac esp-sha256-hmac esp-sha384-hmac esp-sha512-hmac (none with gcm)
# ah = "ah-sha-hmac"              # ah-md5-hmac ah-sha-hmac ah-sha256-hmac ah-sha384-hmac ah-sha512-hmac
mode = "tunnel"                   # tunnel | transport

[[access_list]]               # the proxy identities: mirror images on the two peers
name = "VPN"
entries = [{ action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "203.0.113.0/24" }]

[[crypto_map]]                # crypto map CM1 10 ipsec-isakmp
name = "CM1"
seq = 10
kind = "ipsec-isakmp"         # or "ipsec-manual"
peer = "198.51.100.2"
match_address = "VPN"
transform_sets = ["TS1"]
pfs = 14                      # optional DH group for Quick Mode
lifetime_seconds = 3600
lifetime_kilobytes = 4608000
# ipsec-manual only (keys in hex; for GCM and CTR the cipher key ends with the 4-byte salt/nonce of RFC 4106 §8.1 and
# RFC 3686 §5.1; no integrity key with GCM):
# inbound_esp  = { spi = 4096, cipher_key = "…", auth_key = "…" }
# outbound_esp = { spi = 8192, cipher_key = "…", auth_key = "…" }
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn design_example_parses_and_validates() {
    let c = parse(DESIGN_EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.engine.workers, vec![1]);
    assert_eq!(c.engine.control_core, 0);
    assert_eq!(c.engine.eal, vec!["--no-huge", "-m", "1024"]);
    assert_eq!(c.engine.replay_window, 1024);

    let outside = c.interface("outside").unwrap();
    assert_eq!(outside.device, "net_af_packet0,iface=veth-out");
    assert_eq!(outside.address[0].to_string(), "198.51.100.1/24");
    assert_eq!(outside.mac.unwrap().to_string(), "02:00:00:00:01:01");
    assert_eq!(outside.mtu(), 1500);
    assert_eq!(outside.crypto_map.as_deref(), Some("CM1"));
    let inside = c.interface("inside").unwrap();
    assert_eq!(inside.mac, None);
    assert_eq!(inside.crypto_map, None);

    assert_eq!(c.neighbors[0].address, ip("198.51.100.2"));
    assert_eq!(c.routes[0].destination.to_string(), "203.0.113.0/24");
    assert_eq!(c.routes[0].next_hop, ip("198.51.100.2"));

    assert!(!c.isakmp.aggressive_mode);
    assert!(c.isakmp.nat_t, "NAT-T is on by default");
    assert_eq!(c.isakmp.nat_keepalive, 20);
    let dpd = c.isakmp.dpd.as_ref().unwrap();
    assert_eq!((dpd.interval, dpd.retries), (10, 3));
    assert_eq!(c.isakmp.identity, Identity::Address);

    let p = &c.isakmp_policies[0];
    assert_eq!(p.priority, 10);
    assert_eq!(p.encryption, IsakmpEncryption::Aes256);
    assert_eq!(p.hash, Hash::Sha384);
    assert_eq!(p.authentication, Auth::PreShare);
    assert_eq!(p.group, DhGroup::Modp2048);
    assert_eq!(p.lifetime, 86400);

    assert_eq!(c.isakmp_key_for(ip("198.51.100.2")).unwrap().key.as_bytes(), b"example-only-secret");
    assert!(c.isakmp_key_for(ip("198.51.100.3")).is_none());
    assert_eq!(c.pki.as_ref().unwrap().ca[0].to_str(), Some("ca.pem"));

    let ts = c.transform_set("TS1").unwrap();
    assert_eq!(ts.esp_encryption, Some(EspEncryption::EspAes256));
    assert_eq!(ts.esp_integrity, Some(EspIntegrity::EspSha256Hmac));
    assert_eq!(ts.ah, None);
    assert_eq!(ts.mode, Mode::Tunnel);

    let acl = c.access_list("VPN").unwrap();
    assert_eq!(acl.entries[0].source, Selector::Prefix("192.0.2.0/24".parse().unwrap()));

    let maps = c.crypto_map_entries("CM1");
    assert_eq!(maps.len(), 1);
    let m = maps[0];
    assert_eq!((m.seq, m.kind, m.peer), (10, CryptoMapKind::IpsecIsakmp, ip("198.51.100.2")));
    assert_eq!(m.pfs, Some(DhGroup::Modp2048));
    assert_eq!((m.lifetime_seconds(), m.lifetime_kilobytes()), (3600, 4_608_000));

    // Sections the example leaves out take their defaults.
    assert!(c.metrics.is_none());
    assert_eq!(c.control.socket.to_str(), Some(DEFAULT_CONTROL_SOCKET));
    assert!(c.contains_secrets());
}

#[test]
fn design_example_round_trips() {
    let c = parse(DESIGN_EXAMPLE).unwrap();
    let text = c.to_toml().unwrap();
    assert_eq!(parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}")), c);
}
