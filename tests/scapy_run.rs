//! Scapy's IPsec module against `espgate run` on net_pcap ports, for every ESP encryption algorithm (each with an
//! integrity algorithm, all five covered): one gateway config with a crypto map entry per algorithm, each to its own
//! peer. Scapy encrypts traffic from each peer and espgate must decrypt it to the original; espgate encrypts
//! cleartext for each peer and Scapy must decrypt it to the original.
mod common;

use common::*;
use serde_json::{json, Value};

use std::path::Path;
use std::process::Command;

const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const PER_MAP: usize = 4;

struct Combo {
    enc: &'static str,
    integ: Option<&'static str>,
    scapy_enc: &'static str,
    scapy_auth: Option<&'static str>,
    enc_key: usize,
    auth_key: usize,
}

const fn c(
    enc: &'static str,
    integ: Option<&'static str>,
    scapy_enc: &'static str,
    scapy_auth: Option<&'static str>,
    enc_key: usize,
    auth_key: usize,
) -> Combo {
    Combo { enc, integ, scapy_enc, scapy_auth, enc_key, auth_key }
}

const COMBOS: [Combo; 12] = [
    c("esp-null", Some("esp-sha-hmac"), "NULL", Some("HMAC-SHA1-96"), 0, 20),
    c("esp-des", Some("esp-md5-hmac"), "DES", Some("HMAC-MD5-96"), 8, 16),
    c("esp-3des", Some("esp-sha-hmac"), "3DES", Some("HMAC-SHA1-96"), 24, 20),
    c("esp-aes-128", Some("esp-sha256-hmac"), "AES-CBC", Some("SHA2-256-128"), 16, 32),
    c("esp-aes-192", Some("esp-sha384-hmac"), "AES-CBC", Some("SHA2-384-192"), 24, 48),
    c("esp-aes-256", Some("esp-sha512-hmac"), "AES-CBC", Some("SHA2-512-256"), 32, 64),
    c("esp-aes-ctr-128", Some("esp-sha-hmac"), "AES-CTR", Some("HMAC-SHA1-96"), 20, 20),
    c("esp-aes-ctr-192", Some("esp-sha256-hmac"), "AES-CTR", Some("SHA2-256-128"), 28, 32),
    c("esp-aes-ctr-256", Some("esp-md5-hmac"), "AES-CTR", Some("HMAC-MD5-96"), 36, 16),
    c("esp-gcm-128", None, "AES-GCM", None, 20, 0),
    c("esp-gcm-192", None, "AES-GCM", None, 28, 0),
    c("esp-gcm-256", None, "AES-GCM", None, 36, 0),
];

fn peer(i: usize) -> [u8; 4] {
    [198, 51, 100, 10 + i as u8]
}

fn peer_mac(i: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0xe, i as u8]
}

fn remote_host(i: usize) -> [u8; 4] {
    [203, 0, 113, 16 * i as u8 + 1]
}

fn ip_str(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    let mut s = format!(
        r#"
[engine]
workers = [1]
control_core = 0

[control]
socket = "{d}/gw.sock"

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
    for (i, c) in COMBOS.iter().enumerate() {
        let p = ip_str(peer(i));
        let net = format!("203.0.113.{}/28", 16 * i);
        let integ = c.integ.map(|x| format!("esp_integrity = \"{x}\"\n")).unwrap_or_default();
        let keys = |seed: usize| {
            let mut k = Vec::new();
            if c.enc_key > 0 {
                k.push(format!("cipher_key = \"{}\"", key(c.enc_key, seed)));
            }
            if c.auth_key > 0 {
                k.push(format!("auth_key = \"{}\"", key(c.auth_key, seed + 100)));
            }
            k.join(", ")
        };
        let m = peer_mac(i);
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
esp_encryption = "{}"
{integ}mode = "tunnel"

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
inbound_esp = {{ spi = {}, {} }}
outbound_esp = {{ spi = {}, {} }}
"#,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            c.enc,
            10 * (i + 1),
            0x10000 + i,
            keys(2 * i),
            0x20000 + i,
            keys(2 * i + 1),
        );
    }
    s
}

fn sa_case(id: String, op: &str, i: usize, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let c = &COMBOS[i];
    let (spi, seed) = if inbound { (0x10000 + i, 2 * i) } else { (0x20000 + i, 2 * i + 1) };
    let (src, dst) =
        if inbound { (ip_str(peer(i)), "198.51.100.1".to_string()) } else { ("198.51.100.1".into(), ip_str(peer(i))) };
    json!({
        "id": id, "op": op, "enc": c.scapy_enc, "enc_key": key(c.enc_key, seed),
        "auth": c.scapy_auth, "auth_key": if c.auth_key > 0 { key(c.auth_key, seed + 100) } else { String::new() },
        "spi": spi, "mode": "tunnel", "tunnel_src": src, "tunnel_dst": dst, "nat_t": false, "esn": false,
        "seq": seq, "packet": hex(packet),
    })
}

/// The inner packet as the gateway forwards it: TTL one lower, header checksum still valid.
fn assert_forwarded(got_ip: &[u8], orig_ip: &[u8], what: &str) {
    assert_eq!(got_ip.len(), orig_ip.len(), "{what}: length");
    assert_eq!(got_ip[8], orig_ip[8] - 1, "{what}: TTL");
    assert_eq!(checksum(&got_ip[..20]), 0, "{what}: header checksum");
    assert_eq!(&got_ip[12..], &orig_ip[12..], "{what}: addresses and payload");
}

#[test]
fn scapy_and_espgate_agree_on_every_algorithm() {
    let dir = TempDir::new("scapy-run");
    let d = &dir.0;
    let n = COMBOS.len();
    // Traffic from each peer's network to our host, encrypted by Scapy; cleartext from our host to each network.
    let inner_in: Vec<Vec<u8>> = (0..n * PER_MAP)
        .map(|k| {
            let (i, j) = (k / PER_MAP, k % PER_MAP);
            let payload: Vec<u8> = (0..(k * 37) % 1200 + 1).map(|x| (x + k) as u8).collect();
            udp_frame(OUR_IN, HOST, remote_host(i), [192, 0, 2, 10], 64 - j as u8, &payload)[14..].to_vec()
        })
        .collect();
    let inner_out: Vec<Vec<u8>> = (0..n * PER_MAP)
        .map(|k| {
            let i = k / PER_MAP;
            let payload: Vec<u8> = (0..(k * 53) % 1300 + 1).map(|x| (x ^ k) as u8).collect();
            udp_frame(OUR_IN, HOST, [192, 0, 2, 10], remote_host(i), 64, &payload)[14..].to_vec()
        })
        .collect();
    let enc_cases = (0..n * PER_MAP)
        .map(|k| sa_case(format!("enc{k}"), "encrypt", k / PER_MAP, true, k % PER_MAP + 1, &inner_in[k]))
        .collect();
    let esp_in: Vec<Vec<u8>> = scapy(enc_cases)
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let mut f = Vec::with_capacity(1600);
            f.extend_from_slice(&OUR_OUT);
            f.extend_from_slice(&peer_mac(k / PER_MAP));
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend_from_slice(&unhex(r["packet"].as_str().unwrap()));
            f
        })
        .collect();
    write_pcap(&d.join("out_rx.pcap"), &esp_in);
    let clear: Vec<Vec<u8>> = inner_out.iter().map(|ip| [&OUR_IN[..], &HOST, &[0x08, 0x00], ip].concat()).collect();
    write_pcap(&d.join("in_rx.pcap"), &clear);
    let cfg = d.join("gw.toml");
    write_config(&cfg, &config(d));

    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--seconds", "3"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{log}");

    // espgate decrypted what Scapy encrypted.
    let decrypted = read_pcap(&d.join("in_tx.pcap"));
    assert_eq!(decrypted.len(), n * PER_MAP, "every Scapy packet decrypted:\n{log}");
    for (k, f) in decrypted.iter().enumerate() {
        assert_eq!(&f[0..6], &HOST);
        assert_forwarded(&f[14..], &inner_in[k], &format!("{} packet {k} (Scapy -> espgate)", COMBOS[k / PER_MAP].enc));
    }
    // Scapy decrypts what espgate encrypted.
    let esp_out = read_pcap(&d.join("out_tx.pcap"));
    assert_eq!(esp_out.len(), n * PER_MAP, "every cleartext packet encrypted:\n{log}");
    let dec_cases = esp_out
        .iter()
        .enumerate()
        .map(|(k, f)| {
            assert_eq!(&f[0..6], &peer_mac(k / PER_MAP), "sent to the peer's MAC");
            assert_eq!(f[14 + 9], 50, "ESP");
            sa_case(format!("dec{k}"), "decrypt", k / PER_MAP, false, 1, &f[14..])
        })
        .collect();
    for (k, r) in scapy(dec_cases).iter().enumerate() {
        let inner = unhex(r["packet"].as_str().unwrap());
        assert_forwarded(&inner, &inner_out[k], &format!("{} packet {k} (espgate -> Scapy)", COMBOS[k / PER_MAP].enc));
    }
}
