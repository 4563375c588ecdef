//! IPv6 through `espgate run` on net_pcap ports, with Scapy as the oracle: outer IPv6 (interface addresses, static
//! IPv6 neighbors, routes), inner IPv6, and both mixed-family tunnels (IPv4 in IPv6, IPv6 in IPv4), with ESP, AH,
//! NAT-T (UDP checksum over IPv6) and ESN. One gateway, one crypto map entry per case, each with its own peer.
mod common;

use common::*;
use serde_json::{json, Value};

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::process::Command;

const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const PER_MAP: usize = 3;
const HOST4: [u8; 4] = [192, 0, 2, 10];
const HOST6: &str = "2001:db8:1::10";

struct Esp {
    enc: &'static str,
    integ: Option<&'static str>,
    scapy_enc: &'static str,
    scapy_auth: Option<&'static str>,
    enc_key: usize,
    auth_key: usize,
}

struct Ah {
    alg: &'static str,
    scapy: &'static str,
    key: usize,
}

struct Entry {
    outer_v6: bool,
    inner_v6: bool,
    esp: Option<Esp>,
    ah: Option<Ah>,
    nat_t: bool,
    esn: bool,
}

const CBC_SHA256: Esp = Esp {
    enc: "esp-aes-128",
    integ: Some("esp-sha256-hmac"),
    scapy_enc: "AES-CBC",
    scapy_auth: Some("SHA2-256-128"),
    enc_key: 16,
    auth_key: 32,
};
const GCM256: Esp =
    Esp { enc: "esp-gcm-256", integ: None, scapy_enc: "AES-GCM", scapy_auth: None, enc_key: 36, auth_key: 0 };
const AH_MD5: Ah = Ah { alg: "ah-md5-hmac", scapy: "HMAC-MD5-96", key: 16 };
const AH_SHA1: Ah = Ah { alg: "ah-sha-hmac", scapy: "HMAC-SHA1-96", key: 20 };
const AH_SHA256: Ah = Ah { alg: "ah-sha256-hmac", scapy: "SHA2-256-128", key: 32 };
const AH_SHA384: Ah = Ah { alg: "ah-sha384-hmac", scapy: "SHA2-384-192", key: 48 };
const AH_SHA512: Ah = Ah { alg: "ah-sha512-hmac", scapy: "SHA2-512-256", key: 64 };

const CBC_SHA1: Esp = Esp {
    enc: "esp-aes-256",
    integ: Some("esp-sha-hmac"),
    scapy_enc: "AES-CBC",
    scapy_auth: Some("HMAC-SHA1-96"),
    enc_key: 32,
    auth_key: 20,
};

fn entries() -> Vec<Entry> {
    let e = |outer_v6, inner_v6, esp, ah, nat_t, esn| Entry { outer_v6, inner_v6, esp, ah, nat_t, esn };
    vec![
        e(true, true, Some(CBC_SHA256), None, false, false),
        e(true, false, Some(GCM256), None, false, false),
        e(false, true, Some(CBC_SHA1), None, false, false),
        e(true, true, None, Some(AH_SHA256), false, false),
        e(true, false, None, Some(AH_SHA512), false, false),
        e(true, true, Some(GCM256), None, true, false),
        e(true, true, Some(CBC_SHA1), None, false, true),
        e(true, true, Some(CBC_SHA256), Some(AH_SHA1), false, false),
        e(false, true, None, Some(AH_MD5), false, false),
        e(true, true, None, Some(AH_SHA384), false, true),
    ]
}

fn name(e: &Entry) -> String {
    let fam = |v6| if v6 { "v6" } else { "v4" };
    let mut n = vec![format!("{} in {}", fam(e.inner_v6), fam(e.outer_v6))];
    n.extend([e.esp.as_ref().map(|x| x.enc), e.ah.as_ref().map(|x| x.alg)].into_iter().flatten().map(String::from));
    if e.nat_t {
        n.push("nat-t".into());
    }
    if e.esn {
        n.push("esn".into());
    }
    n.join(" ")
}

fn peer(e: &Entry, i: usize) -> String {
    if e.outer_v6 {
        format!("2001:db8:100::{}", 0x10 + i)
    } else {
        format!("198.51.100.{}", 10 + i)
    }
}

fn our_outer(e: &Entry) -> String {
    if e.outer_v6 { "2001:db8:100::1" } else { "198.51.100.1" }.into()
}

fn peer_mac(i: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0xe, i as u8]
}

fn remote_net(e: &Entry, i: usize) -> String {
    if e.inner_v6 {
        format!("2001:db8:2:{i}::/64")
    } else {
        format!("203.0.113.{}/28", 16 * i)
    }
}

fn remote_host(e: &Entry, i: usize) -> IpAddr {
    if e.inner_v6 {
        IpAddr::V6(format!("2001:db8:2:{i}::1").parse().unwrap())
    } else {
        IpAddr::V4([203, 0, 113, 16 * i as u8 + 1].into())
    }
}

fn our_host(e: &Entry) -> IpAddr {
    if e.inner_v6 {
        IpAddr::V6(HOST6.parse().unwrap())
    } else {
        IpAddr::V4(HOST4.into())
    }
}

/// An IPv4 or IPv6 UDP packet (no Ethernet header).
fn udp_ip(src: IpAddr, dst: IpAddr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => udp_frame(OUR_IN, HOST, s.octets(), d.octets(), ttl, payload)[14..].to_vec(),
        (IpAddr::V6(s), IpAddr::V6(d)) => udp6(s, d, ttl, payload),
        _ => unreachable!(),
    }
}

fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut p = vec![0u8; 40 + len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] = 17;
    p[7] = hop_limit;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..42].copy_from_slice(&4000u16.to_be_bytes());
    p[42..44].copy_from_slice(&5000u16.to_be_bytes());
    p[44..46].copy_from_slice(&(len as u16).to_be_bytes());
    p[48..].copy_from_slice(payload);
    // UDP checksum over the pseudo-header (mandatory in IPv6).
    let mut sum = 0u32;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&p[8..40]);
    add(&(len as u32).to_be_bytes());
    add(&[0, 17]);
    add(&p[40..]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    p[46..48].copy_from_slice(&if c == 0 { 0xffff } else { c }.to_be_bytes());
    p
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn config(dir: &Path, entries: &[Entry]) -> String {
    let d = dir.display();
    let mut s = format!(
        r#"
[engine]
workers = [1]
control_core = 0

[[interface]]
name = "inside"
device = "net_pcap0,rx_pcap={d}/in_rx.pcap,tx_pcap={d}/in_tx.pcap"
address = ["192.0.2.1/24", "2001:db8:1::1/64"]
mac = "02:00:00:00:0a:00"

[[interface]]
name = "outside"
device = "net_pcap1,rx_pcap={d}/out_rx.pcap,tx_pcap={d}/out_tx.pcap"
address = ["198.51.100.1/24", "2001:db8:100::1/64"]
mac = "02:00:00:00:0a:01"
crypto_map = "CM1"

[[neighbor]]
address = "192.0.2.10"
mac = "02:00:00:00:0c:01"
interface = "inside"

[[neighbor]]
address = "{HOST6}"
mac = "02:00:00:00:0c:01"
interface = "inside"
"#
    );
    for (i, e) in entries.iter().enumerate() {
        let p = peer(e, i);
        let net = remote_net(e, i);
        let m = mac_str(peer_mac(i));
        // The inner route picks the egress interface (and so the crypto map); the SA then routes to the peer.
        let next_hop = if e.inner_v6 == e.outer_v6 {
            p.clone()
        } else if e.inner_v6 {
            format!("2001:db8:100::{}", 0x80 + i)
        } else {
            format!("198.51.100.{}", 80 + i)
        };
        let mut ts = String::new();
        let mut sas = String::new();
        if let Some(x) = &e.esp {
            ts += &format!("esp_encryption = \"{}\"\n", x.enc);
            if let Some(integ) = x.integ {
                ts += &format!("esp_integrity = \"{integ}\"\n");
            }
            for inbound in [true, false] {
                let sd = seed(i, false, inbound);
                let mut k = vec![format!("spi = {}", spi(i, false, inbound))];
                k.push(format!("cipher_key = \"{}\"", key(x.enc_key, sd)));
                if x.auth_key > 0 {
                    k.push(format!("auth_key = \"{}\"", key(x.auth_key, sd + 100)));
                }
                let dir = if inbound { "inbound" } else { "outbound" };
                sas += &format!("{dir}_esp = {{ {} }}\n", k.join(", "));
            }
        }
        if let Some(x) = &e.ah {
            ts += &format!("ah = \"{}\"\n", x.alg);
            for inbound in [true, false] {
                let dir = if inbound { "inbound" } else { "outbound" };
                let k = key(x.key, seed(i, true, inbound) + 100);
                sas += &format!("{dir}_ah = {{ spi = {}, auth_key = \"{k}\" }}\n", spi(i, true, inbound));
            }
        }
        if e.nat_t {
            sas += "nat_t = { local_port = 4500, remote_port = 4500 }\n";
        }
        if e.esn {
            sas += "esn = true\n";
        }
        let src = if e.inner_v6 { "2001:db8:1::/64" } else { "192.0.2.0/24" };
        s += &format!(
            r#"
[[neighbor]]
address = "{p}"
mac = "{m}"
interface = "outside"

[[route]]
destination = "{net}"
next_hop = "{next_hop}"
interface = "outside"

[[transform_set]]
name = "TS{i}"
{ts}mode = "tunnel"

[[access_list]]
name = "VPN{i}"
entries = [{{ action = "permit", protocol = "ip", source = "{src}", destination = "{net}" }}]

[[crypto_map]]
name = "CM1"
seq = {}
kind = "ipsec-manual"
peer = "{p}"
match_address = "VPN{i}"
transform_sets = ["TS{i}"]
{sas}"#,
            10 * (i + 1),
        );
    }
    s
}

fn spi(i: usize, ah: bool, inbound: bool) -> usize {
    0x10000 * (1 + usize::from(!inbound) + 2 * usize::from(ah)) + i
}

fn seed(i: usize, ah: bool, inbound: bool) -> usize {
    4 * i + 2 * usize::from(ah) + usize::from(!inbound)
}

/// The outer addresses of entry `i` seen from the sender's side.
fn ends(e: &Entry, i: usize, inbound: bool) -> (String, String) {
    if inbound {
        (peer(e, i), our_outer(e))
    } else {
        (our_outer(e), peer(e, i))
    }
}

fn esp_case(id: String, op: &str, e: &Entry, i: usize, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let x = e.esp.as_ref().unwrap();
    let sd = seed(i, false, inbound);
    let (src, dst) = ends(e, i, inbound);
    json!({
        "id": id, "op": op, "enc": x.scapy_enc, "enc_key": key(x.enc_key, sd),
        "auth": x.scapy_auth, "auth_key": if x.auth_key > 0 { key(x.auth_key, sd + 100) } else { String::new() },
        "spi": spi(i, false, inbound), "mode": "tunnel", "tunnel_src": src, "tunnel_dst": dst,
        "nat_t": e.nat_t, "esn": e.esn, "seq": seq, "packet": hex(packet),
    })
}

fn ah_case(id: String, op: &str, e: &Entry, i: usize, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let x = e.ah.as_ref().unwrap();
    let (src, dst) = ends(e, i, inbound);
    json!({
        "id": id, "op": op, "proto": "AH", "enc": "NULL", "enc_key": "", "auth": x.scapy,
        "auth_key": key(x.key, seed(i, true, inbound) + 100), "spi": spi(i, true, inbound),
        "mode": if e.esp.is_some() { "transport" } else { "tunnel" }, "tunnel_src": src, "tunnel_dst": dst,
        "nat_t": false, "esn": e.esn, "seq": seq, "packet": hex(packet),
    })
}

/// Applies `case` through Scapy to the packets of the entries `pick` selects, in place.
fn through_scapy(
    packets: &mut [Vec<u8>],
    entries: &[Entry],
    pick: impl Fn(&Entry) -> bool,
    case: impl Fn(usize, &Entry, &[u8]) -> Value,
) {
    let ks: Vec<usize> = (0..packets.len()).filter(|k| pick(&entries[k / PER_MAP])).collect();
    let results = scapy(ks.iter().map(|&k| case(k, &entries[k / PER_MAP], &packets[k])).collect());
    for (k, r) in ks.into_iter().zip(results) {
        packets[k] = unhex(r["packet"].as_str().unwrap());
    }
}

/// The inner packet as the gateway forwards it: TTL / hop limit one lower, everything else unchanged.
fn assert_forwarded(got: &[u8], orig: &[u8], what: &str) {
    assert_eq!(got.len(), orig.len(), "{what}: length");
    if orig[0] >> 4 == 4 {
        assert_eq!(got[8], orig[8] - 1, "{what}: TTL");
        assert_eq!(checksum(&got[..20]), 0, "{what}: header checksum");
        assert_eq!(&got[12..], &orig[12..], "{what}: addresses and payload");
    } else {
        assert_eq!(&got[..7], &orig[..7], "{what}: IPv6 header");
        assert_eq!(got[7], orig[7] - 1, "{what}: hop limit");
        assert_eq!(&got[8..], &orig[8..], "{what}: addresses and payload");
    }
}

#[test]
fn ipv6_outer_inner_and_mixed_families_with_scapy() {
    let entries = entries();
    let dir = TempDir::new("scapy-v6");
    let d = &dir.0;
    let n = entries.len() * PER_MAP;
    let entry = |k: usize| &entries[k / PER_MAP];
    let inner_in: Vec<Vec<u8>> = (0..n)
        .map(|k| {
            let payload: Vec<u8> = (0..(k * 43) % 1000 + 1).map(|x| (x + k) as u8).collect();
            udp_ip(remote_host(entry(k), k / PER_MAP), our_host(entry(k)), 64, &payload)
        })
        .collect();
    let inner_out: Vec<Vec<u8>> = (0..n)
        .map(|k| {
            let payload: Vec<u8> = (0..(k * 61) % 1100 + 1).map(|x| (x ^ k) as u8).collect();
            udp_ip(our_host(entry(k)), remote_host(entry(k), k / PER_MAP), 64, &payload)
        })
        .collect();
    let seq = |k: usize| k % PER_MAP + 1;
    let mut wire_in = inner_in.clone();
    through_scapy(
        &mut wire_in,
        &entries,
        |e| e.esp.is_some(),
        |k, e, p| esp_case(format!("esp-enc{k}"), "encrypt", e, k / PER_MAP, true, seq(k), p),
    );
    through_scapy(
        &mut wire_in,
        &entries,
        |e| e.ah.is_some(),
        |k, e, p| ah_case(format!("ah-enc{k}"), "encrypt", e, k / PER_MAP, true, seq(k), p),
    );
    let ethertype = |ip: &[u8]| if ip[0] >> 4 == 6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let frames_in: Vec<Vec<u8>> = wire_in
        .iter()
        .enumerate()
        .map(|(k, ip)| [&OUR_OUT[..], &peer_mac(k / PER_MAP), &ethertype(ip), ip].concat())
        .collect();
    write_pcap(&d.join("out_rx.pcap"), &frames_in);
    let clear: Vec<Vec<u8>> = inner_out.iter().map(|ip| [&OUR_IN[..], &HOST, &ethertype(ip), ip].concat()).collect();
    write_pcap(&d.join("in_rx.pcap"), &clear);
    let cfg = d.join("gw.toml");
    write_config(&cfg, &config(d, &entries));

    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--seconds", "3"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{log}");

    let delivered = read_pcap(&d.join("in_tx.pcap"));
    assert_eq!(delivered.len(), n, "every Scapy packet delivered:\n{log}");
    for (k, f) in delivered.iter().enumerate() {
        assert_eq!(&f[0..6], &HOST);
        assert_eq!(&f[12..14], &ethertype(&inner_in[k]));
        assert_forwarded(&f[14..], &inner_in[k], &format!("{} packet {k} (Scapy -> espgate)", name(entry(k))));
    }
    let protected = read_pcap(&d.join("out_tx.pcap"));
    assert_eq!(protected.len(), n, "every cleartext packet protected:\n{log}");
    let mut wire_out: Vec<Vec<u8>> = protected
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let e = entry(k);
            assert_eq!(&f[0..6], &peer_mac(k / PER_MAP), "sent to the peer's MAC");
            let ip = &f[14..];
            assert_eq!(ip[0] >> 4 == 6, e.outer_v6, "{}: outer family", name(e));
            let proto = if e.outer_v6 { ip[6] } else { ip[9] };
            let want = match (e.ah.is_some(), e.nat_t) {
                (true, _) => 51,
                (false, true) => 17,
                (false, false) => 50,
            };
            assert_eq!(proto, want, "{}: outer protocol", name(e));
            ip.to_vec()
        })
        .collect();
    through_scapy(
        &mut wire_out,
        &entries,
        |e| e.ah.is_some(),
        |k, e, p| ah_case(format!("ah-dec{k}"), "decrypt", e, k / PER_MAP, false, 1, p),
    );
    through_scapy(
        &mut wire_out,
        &entries,
        |e| e.esp.is_some(),
        |k, e, p| esp_case(format!("esp-dec{k}"), "decrypt", e, k / PER_MAP, false, 1, p),
    );
    for (k, inner) in wire_out.iter().enumerate() {
        assert_forwarded(inner, &inner_out[k], &format!("{} packet {k} (espgate -> Scapy)", name(entry(k))));
    }
}
