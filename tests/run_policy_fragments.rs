//! Policy details through `espgate run` with Scapy as the oracle: an access list with two permit entries (one SA
//! pair; the inbound SA accepts either, mirrored, and nothing else) and port-specific protection of a packet the
//! gateway must fragment before encryption (the second fragment, which carries no ports, follows the first into ESP
//! instead of leaking in clear; Scapy's decryptions reassemble to the original), while other ports bypass in clear.
mod common;

use common::*;
use serde_json::{json, Value};

use std::path::Path;
use std::process::Command;

const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0xe, 1];

fn config(d: &Path) -> String {
    let d = d.display();
    format!(
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

[[neighbor]]
address = "198.51.100.2"
mac = "02:00:00:00:0e:01"
interface = "outside"

[[route]]
destination = "203.0.113.0/24"
next_hop = "198.51.100.2"
interface = "outside"

[[transform_set]]
name = "TS1"
esp_encryption = "esp-aes-128"
esp_integrity = "esp-sha256-hmac"

[[access_list]]
name = "VPN"
entries = [{{ action = "permit", protocol = "udp", source = "192.0.2.0/24", destination = "203.0.113.0/24", destination_port = 5000 }},
           {{ action = "permit", protocol = "icmp", source = "192.0.2.0/24", destination = "203.0.113.0/24" }}]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-manual"
peer = "198.51.100.2"
match_address = "VPN"
transform_sets = ["TS1"]
inbound_esp = {{ spi = 4096, cipher_key = "{}", auth_key = "{}" }}
outbound_esp = {{ spi = 8192, cipher_key = "{}", auth_key = "{}" }}
"#,
        key(16, 1),
        key(32, 2),
        key(16, 3),
        key(32, 4)
    )
}

fn case(id: &str, op: &str, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let (spi, k) = if inbound { (4096, 1) } else { (8192, 3) };
    let (src, dst) = if inbound { ("198.51.100.2", "198.51.100.1") } else { ("198.51.100.1", "198.51.100.2") };
    json!({
        "id": id, "op": op, "enc": "AES-CBC", "enc_key": key(16, k), "auth": "SHA2-256-128",
        "auth_key": key(32, k + 1), "spi": spi, "mode": "tunnel", "tunnel_src": src, "tunnel_dst": dst,
        "nat_t": false, "esn": false, "seq": seq, "packet": hex(packet),
    })
}

/// IPv4 UDP (or ICMP when `icmp`) from `src` to `dst` with the given ports (no Ethernet header).
fn packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, len: usize, icmp: bool) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    let mut p = udp_frame(OUR_IN, HOST, src, dst, 64, &payload)[14..].to_vec();
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[26..28].fill(0); // no UDP checksum
    if icmp {
        p[9] = 1;
        p[20..28].copy_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        let c = checksum(&p[20..]);
        p[22..24].copy_from_slice(&c.to_be_bytes());
    }
    p[10..12].fill(0);
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

#[test]
fn several_permit_entries_and_fragments_of_a_port_specific_flow() {
    let dir = TempDir::new("run-policy");
    let d = &dir.0;
    let (us, them) = ([192, 0, 2, 10], [203, 0, 113, 10]);
    // From the peer: the mirror of each permit entry (UDP from port 5000, ICMP), and UDP from another port.
    let inner_in = [
        packet(them, us, 5000, 40000, 100, false),
        packet(them, us, 0, 0, 64, true),
        packet(them, us, 6000, 40000, 100, false),
    ];
    let cases = inner_in.iter().enumerate().map(|(k, p)| case(&format!("in{k}"), "encrypt", true, k + 1, p)).collect();
    let esp_in: Vec<Vec<u8>> = scapy(cases)
        .iter()
        .map(|r| [&OUR_OUT[..], &PEER_MAC, &[0x08, 0x00], &unhex(r["packet"].as_str().unwrap())].concat())
        .collect();
    write_pcap(&d.join("out_rx.pcap"), &esp_in);
    // From our host: a full-size (1500-byte) datagram to port 5000, which only fits the outside MTU once fragmented
    // before encryption, and the same to port 6000, which bypasses in clear.
    let big = packet(us, them, 40000, 5000, 1472, false);
    let other = packet(us, them, 40000, 6000, 1472, false);
    let clear: Vec<Vec<u8>> =
        [&big, &other].iter().map(|p| [&OUR_IN[..], &HOST, &[0x08, 0x00], &p[..]].concat()).collect();
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

    let delivered = read_pcap(&d.join("in_tx.pcap"));
    assert_eq!(delivered.len(), 2, "both permit entries, nothing else:\n{log}");
    for (f, orig) in delivered.iter().zip(&inner_in) {
        assert_eq!(&f[14 + 9..14 + 10], &orig[9..10], "protocol");
        assert_eq!(&f[14 + 12..], &orig[12..], "addresses and payload");
    }
    assert!(log.contains("drop policy-mismatch: 1"), "{log}");

    let sent = read_pcap(&d.join("out_tx.pcap"));
    let (esp, plain): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = sent.iter().partition(|f| f[14 + 9] == 50);
    assert_eq!(esp.len(), 2, "the datagram to port 5000 leaves in fragments, each in ESP: {} ESP\n{log}", esp.len());
    let cases = esp.iter().enumerate().map(|(k, f)| case(&format!("out{k}"), "decrypt", false, 1, &f[14..])).collect();
    let mut data = Vec::new();
    for r in scapy(cases) {
        let frag = unhex(r["packet"].as_str().unwrap());
        let off = usize::from(u16::from_be_bytes([frag[6], frag[7]]) & 0x1fff) * 8;
        assert_eq!(off, data.len(), "fragments in order");
        data.extend_from_slice(&frag[20..]);
    }
    assert_eq!(&data[..], &big[20..], "Scapy's decryptions reassemble to the original datagram");
    // The datagram to port 6000 is not protected: it leaves whole, in clear.
    assert_eq!(plain.len(), 1, "{log}");
    assert_eq!(&plain[0][14 + 9..14 + 10], &[17]);
    assert_eq!(&plain[0][14 + 12..], &other[12..], "port 6000 bypasses in clear");
}
