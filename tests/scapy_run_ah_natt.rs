//! Scapy against `espgate run` on net_pcap ports for manually keyed AH (every integrity algorithm, tunnel mode), an
//! ESP+AH bundle (ESP tunnel, then AH transport over it: Scapy applies its two SAs one after the other), ESP in UDP
//! (NAT-T, RFC 3948) and ESP with Extended Sequence Numbers. One gateway, one crypto map entry per case, each with its
//! own peer. Scapy protects traffic from each peer and espgate must deliver the original; espgate protects cleartext
//! for each peer and Scapy must recover the original.
mod common;

use common::*;
use serde_json::{json, Value};

use std::path::Path;
use std::process::Command;

const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const PER_MAP: usize = 3;

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

fn entries() -> Vec<Entry> {
    let ah = |a| Entry { esp: None, ah: Some(a), nat_t: false, esn: false };
    vec![
        ah(AH_MD5),
        ah(AH_SHA1),
        ah(AH_SHA256),
        ah(AH_SHA384),
        ah(AH_SHA512),
        Entry { esp: Some(CBC_SHA256), ah: Some(AH_SHA1), nat_t: false, esn: false },
        Entry { esp: Some(CBC_SHA256), ah: None, nat_t: true, esn: false },
        Entry { esp: Some(GCM256), ah: None, nat_t: true, esn: false },
        Entry { esp: Some(CBC_SHA256), ah: None, nat_t: false, esn: true },
        Entry { esp: Some(GCM256), ah: None, nat_t: true, esn: true },
        Entry { esp: None, ah: Some(AH_SHA256), nat_t: false, esn: true },
    ]
}

fn name(e: &Entry) -> String {
    let mut n = [e.esp.as_ref().map(|x| x.enc), e.ah.as_ref().map(|x| x.alg)].into_iter().flatten().collect::<Vec<_>>();
    if e.nat_t {
        n.push("nat-t");
    }
    if e.esn {
        n.push("esn");
    }
    n.join("+")
}

fn peer(i: usize) -> String {
    format!("198.51.100.{}", 10 + i)
}

fn peer_mac(i: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0xe, i as u8]
}

fn remote_host(i: usize) -> [u8; 4] {
    [203, 0, 113, 16 * i as u8 + 1]
}

/// SPIs and key seeds: ESP in/out 0x10000/0x20000 + i, AH in/out 0x30000/0x40000 + i.
fn spi(i: usize, ah: bool, inbound: bool) -> usize {
    0x10000 * (1 + usize::from(!inbound) + 2 * usize::from(ah)) + i
}

fn seed(i: usize, ah: bool, inbound: bool) -> usize {
    4 * i + 2 * usize::from(ah) + usize::from(!inbound)
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
address = "192.0.2.1/24"
mac = "02:00:00:00:0a:00"

[[interface]]
name = "outside"
device = "net_pcap1,rx_pcap={d}/out_rx.pcap,tx_pcap={d}/out_tx.pcap"
address = "198.51.100.1/24"
mac = "02:00:00:00:0a:01"
crypto_map = "CM1"

[[neighbor]]
address = "192.0.2.10"
mac = "02:00:00:00:0c:01"
interface = "inside"
"#
    );
    for (i, e) in entries.iter().enumerate() {
        let p = peer(i);
        let net = format!("203.0.113.{}/28", 16 * i);
        let m = peer_mac(i);
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
        s += &format!(
            r#"
[[neighbor]]
address = "{p}"
mac = "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}"
interface = "outside"

[[route]]
destination = "{net}"
next_hop = "{p}"
interface = "outside"

[[transform_set]]
name = "TS{i}"
{ts}mode = "tunnel"

[[access_list]]
name = "VPN{i}"
entries = [{{ action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "{net}" }}]

[[crypto_map]]
name = "CM1"
seq = {}
kind = "ipsec-manual"
peer = "{p}"
match_address = "VPN{i}"
transform_sets = ["TS{i}"]
{sas}"#,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            10 * (i + 1),
        );
    }
    s
}

/// The outer addresses of entry `i` seen from the sender's side.
fn ends(i: usize, inbound: bool) -> (String, String) {
    if inbound {
        (peer(i), "198.51.100.1".into())
    } else {
        ("198.51.100.1".into(), peer(i))
    }
}

fn esp_case(id: String, op: &str, e: &Entry, i: usize, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let x = e.esp.as_ref().unwrap();
    let sd = seed(i, false, inbound);
    let (src, dst) = ends(i, inbound);
    json!({
        "id": id, "op": op, "enc": x.scapy_enc, "enc_key": key(x.enc_key, sd),
        "auth": x.scapy_auth, "auth_key": if x.auth_key > 0 { key(x.auth_key, sd + 100) } else { String::new() },
        "spi": spi(i, false, inbound), "mode": "tunnel", "tunnel_src": src, "tunnel_dst": dst,
        "nat_t": e.nat_t, "esn": e.esn, "seq": seq, "packet": hex(packet),
    })
}

/// AH in tunnel mode alone, in transport mode over ESP in a bundle.
fn ah_case(id: String, op: &str, e: &Entry, i: usize, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let x = e.ah.as_ref().unwrap();
    let (src, dst) = ends(i, inbound);
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

/// The inner packet as the gateway forwards it: TTL one lower, header checksum still valid.
fn assert_forwarded(got_ip: &[u8], orig_ip: &[u8], what: &str) {
    assert_eq!(got_ip.len(), orig_ip.len(), "{what}: length");
    assert_eq!(got_ip[8], orig_ip[8] - 1, "{what}: TTL");
    assert_eq!(checksum(&got_ip[..20]), 0, "{what}: header checksum");
    assert_eq!(&got_ip[12..], &orig_ip[12..], "{what}: addresses and payload");
}

#[test]
fn scapy_and_espgate_agree_on_ah_bundles_nat_t_and_esn() {
    let entries = entries();
    let dir = TempDir::new("scapy-ah-natt");
    let d = &dir.0;
    let n = entries.len() * PER_MAP;
    let inner_in: Vec<Vec<u8>> = (0..n)
        .map(|k| {
            let payload: Vec<u8> = (0..(k * 41) % 1100 + 1).map(|x| (x + k) as u8).collect();
            udp_frame(OUR_IN, HOST, remote_host(k / PER_MAP), [192, 0, 2, 10], 64, &payload)[14..].to_vec()
        })
        .collect();
    let inner_out: Vec<Vec<u8>> = (0..n)
        .map(|k| {
            let payload: Vec<u8> = (0..(k * 59) % 1200 + 1).map(|x| (x ^ k) as u8).collect();
            udp_frame(OUR_IN, HOST, [192, 0, 2, 10], remote_host(k / PER_MAP), 64, &payload)[14..].to_vec()
        })
        .collect();
    // Peer side, as Scapy: ESP first (tunnel), then AH (tunnel alone, transport over ESP in a bundle).
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
    let frame = |i: usize, ip: &[u8]| [&OUR_OUT[..], &peer_mac(i), &[0x08, 0x00], ip].concat();
    let mut frames_in: Vec<Vec<u8>> = wire_in.iter().enumerate().map(|(k, ip)| frame(k / PER_MAP, ip)).collect();
    // Mixed in, and none of it may come out: replays (AH, AH with ESN), tampered AH and NAT-T ESP, and a bundle's
    // ESP sent without its AH (fresh sequence numbers, so only the policy can refuse it).
    let (ah256, bundle, natt, ah_esn) = (2, 5, 6, 10);
    frames_in.push(frames_in[0].clone());
    frames_in.push(frames_in[ah_esn * PER_MAP].clone());
    let bad = scapy(vec![
        ah_case("bad-ah".into(), "encrypt", &entries[ah256], ah256, true, 10, &inner_in[ah256 * PER_MAP]),
        esp_case("bad-natt".into(), "encrypt", &entries[natt], natt, true, 10, &inner_in[natt * PER_MAP]),
        esp_case("stripped".into(), "encrypt", &entries[bundle], bundle, true, 10, &inner_in[bundle * PER_MAP]),
    ]);
    for (r, i, tamper) in [(&bad[0], ah256, true), (&bad[1], natt, true), (&bad[2], bundle, false)] {
        let mut ip = unhex(r["packet"].as_str().unwrap());
        if tamper {
            let last = ip.len() - 1;
            ip[last] ^= 1;
        }
        frames_in.push(frame(i, &ip));
    }
    write_pcap(&d.join("out_rx.pcap"), &frames_in);
    let clear: Vec<Vec<u8>> = inner_out.iter().map(|ip| [&OUR_IN[..], &HOST, &[0x08, 0x00], ip].concat()).collect();
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

    let decrypted = read_pcap(&d.join("in_tx.pcap"));
    assert_eq!(decrypted.len(), n, "every valid Scapy packet delivered, nothing else:\n{log}");
    for counted in ["drop replay: 2", "drop auth-failed: 2", "drop policy-mismatch: 1"] {
        assert!(log.contains(counted), "{counted}:\n{log}");
    }
    for (k, f) in decrypted.iter().enumerate() {
        assert_eq!(&f[0..6], &HOST);
        let what = format!("{} packet {k} (Scapy -> espgate)", name(&entries[k / PER_MAP]));
        assert_forwarded(&f[14..], &inner_in[k], &what);
    }
    let protected = read_pcap(&d.join("out_tx.pcap"));
    assert_eq!(protected.len(), n, "every cleartext packet protected:\n{log}");
    let mut wire_out: Vec<Vec<u8>> = protected
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let e = &entries[k / PER_MAP];
            assert_eq!(&f[0..6], &peer_mac(k / PER_MAP), "sent to the peer's MAC");
            let proto = match (e.ah.is_some(), e.nat_t) {
                (true, _) => 51,
                (false, true) => 17,
                (false, false) => 50,
            };
            assert_eq!(f[14 + 9], proto, "{}: outer protocol", name(e));
            if e.nat_t {
                assert_eq!(&f[34..38], &[0x11, 0x94, 0x11, 0x94], "UDP 4500 -> 4500");
            }
            f[14..].to_vec()
        })
        .collect();
    // Scapy undoes it in reverse order: AH, then ESP.
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
        let what = format!("{} packet {k} (espgate -> Scapy)", name(&entries[k / PER_MAP]));
        assert_forwarded(inner, &inner_out[k], &what);
    }
}
