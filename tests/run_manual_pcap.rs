//! `espgate run` end to end on net_pcap ports with manually keyed crypto maps: gateway A encrypts cleartext from
//! its inside port, gateway B decrypts A's output, and what leaves B's inside port is the original traffic. Mixed
//! into B's input: a replay, a tampered packet and an unknown SPI, which must be counted drops. Two transform sets.
mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const A_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const A_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const B_IN: [u8; 6] = [2, 0, 0, 0, 0xb, 0];
const B_OUT: [u8; 6] = [2, 0, 0, 0, 0xb, 1];
const HOST_A: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const HOST_B: [u8; 6] = [2, 0, 0, 0, 0xc, 2];

fn mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

struct Side {
    inside_addr: &'static str,
    outside_addr: &'static str,
    in_mac: [u8; 6],
    out_mac: [u8; 6],
    host: &'static str,
    host_mac: [u8; 6],
    net: &'static str,
}

const A: Side = Side {
    inside_addr: "192.0.2.1/24",
    outside_addr: "198.51.100.1/24",
    in_mac: A_IN,
    out_mac: A_OUT,
    host: "192.0.2.10",
    host_mac: HOST_A,
    net: "192.0.2.0/24",
};
const B: Side = Side {
    inside_addr: "203.0.113.1/24",
    outside_addr: "198.51.100.2/24",
    in_mac: B_IN,
    out_mac: B_OUT,
    host: "203.0.113.10",
    host_mac: HOST_B,
    net: "203.0.113.0/24",
};

#[allow(clippy::too_many_arguments)]
fn config(
    dir: &Path,
    me: &Side,
    peer: &Side,
    tag: &str,
    ts: &str,
    spi_in: u32,
    spi_out: u32,
    keys: (&str, &str),
) -> String {
    let d = dir.display();
    let peer_ip = peer.outside_addr.split('/').next().unwrap();
    format!(
        r#"
[engine]
workers = [1]
control_core = 0

[control]
socket = "{d}/{tag}.sock"

[[interface]]
name = "inside"
device = "net_pcap0,rx_pcap={d}/{tag}_in_rx.pcap,tx_pcap={d}/{tag}_in_tx.pcap"
address = "{}"
mac = "{}"

[[interface]]
name = "outside"
device = "net_pcap1,rx_pcap={d}/{tag}_out_rx.pcap,tx_pcap={d}/{tag}_out_tx.pcap"
address = "{}"
mac = "{}"
crypto_map = "CM1"

[[neighbor]]
address = "{peer_ip}"
mac = "{}"
interface = "outside"

[[neighbor]]
address = "{}"
mac = "{}"
interface = "inside"

[[route]]
destination = "{}"
next_hop = "{peer_ip}"
interface = "outside"

{ts}

[[access_list]]
name = "VPN"
entries = [{{ action = "permit", protocol = "ip", source = "{}", destination = "{}" }}]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-manual"
peer = "{peer_ip}"
match_address = "VPN"
transform_sets = ["TS1"]
inbound_esp = {{ spi = {spi_in}, {} }}
outbound_esp = {{ spi = {spi_out}, {} }}
"#,
        me.inside_addr,
        mac(me.in_mac),
        me.outside_addr,
        mac(me.out_mac),
        mac(peer.out_mac),
        me.host,
        mac(me.host_mac),
        peer.net,
        me.net,
        peer.net,
        keys.0,
        keys.1,
    )
}

fn espgate(cfg: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(cfg)
        .args(["--seconds", "2"])
        .output()
        .expect("run espgate");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{text}");
    text
}

fn counter(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("drop {name}: ")).map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0)
}

fn through_two_gateways(tag: &str, ts: &str, key_a_out: &str, key_b_out: &str) {
    let dir = TempDir::new(&format!("manual-{tag}"));
    let d = &dir.0;
    const N: usize = 50;
    let originals: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let payload: Vec<u8> = (0..(i * 17) % 1300 + 1).map(|j| (i + j) as u8).collect();
            udp_frame(A_IN, HOST_A, [192, 0, 2, 10], [203, 0, 113, 10], 64, &payload)
        })
        .collect();
    // Two packets too big for the tunnel once encrypted: one may be fragmented, the other has DF set.
    let big_payload: Vec<u8> = (0..1750).map(|j| (j * 3) as u8).collect();
    let big = udp_frame(A_IN, HOST_A, [192, 0, 2, 10], [203, 0, 113, 10], 64, &big_payload);
    let mut big_df = big.clone();
    big_df[14 + 6] |= 0x40;
    big_df[14 + 10..14 + 12].fill(0);
    let c = checksum(&big_df[14..34]);
    big_df[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    let mut a_input = originals.clone();
    a_input.push(big);
    a_input.push(big_df);
    write_pcap(&d.join("a_in_rx.pcap"), &a_input);
    write_pcap(&d.join("a_out_rx.pcap"), &[]);
    let cfg_a = d.join("a.toml");
    write_config(&cfg_a, &config(d, &A, &B, "a", ts, 0x2000, 0x1000, (key_b_out, key_a_out)));
    let out_a = espgate(&cfg_a);
    let esp = read_pcap(&d.join("a_out_tx.pcap"));
    assert_eq!(esp.len(), N + 2, "A sent every packet, encrypted, the big one in two fragments:\n{out_a}");
    assert!(esp.iter().all(|f| f.len() <= 14 + 1500), "nothing over the MTU");
    // The DF packet came back to its sender as ICMP Fragmentation Needed.
    let back = read_pcap(&d.join("a_in_tx.pcap"));
    assert_eq!(back.len(), 1, "{out_a}");
    assert_eq!(&back[0][0..6], &HOST_A);
    assert_eq!((back[0][14 + 9], back[0][34], back[0][35]), (1, 3, 4), "ICMP fragmentation needed");
    let mtu = u16::from_be_bytes([back[0][40], back[0][41]]);
    assert!((1400..1500).contains(&mtu), "announced MTU {mtu}");
    let (esp, frags) = esp.split_at(N);
    for f in esp {
        assert_eq!(&f[0..6], &B_OUT, "to B's outside MAC");
        assert_eq!(f[14 + 9], 50, "IP protocol ESP");
        assert_eq!(&f[14 + 20..14 + 24], &0x1000u32.to_be_bytes(), "A's outbound SPI");
    }

    // B's input: A's ESP, plus a replay, a tampered packet and an unknown SPI.
    let mut input = esp.to_vec();
    input.extend_from_slice(frags);
    input.push(esp[3].clone());
    let mut tampered = esp[N - 1].clone();
    let len = tampered.len();
    tampered[len - 20] ^= 0x40;
    let mut unknown = esp[0].clone();
    unknown[14 + 23] ^= 0x5a;
    // The tampered copy of the last packet arrives before the original: its ICV fails, and then the real one passes.
    input.insert(N - 1, tampered);
    assert_eq!(input.len(), N + 4);
    input.push(unknown);
    write_pcap(&d.join("b_out_rx.pcap"), &input);
    write_pcap(&d.join("b_in_rx.pcap"), &[]);
    let cfg_b = d.join("b.toml");
    write_config(&cfg_b, &config(d, &B, &A, "b", ts, 0x1000, 0x2000, (key_a_out, key_b_out)));
    let out_b = espgate(&cfg_b);
    let clear = read_pcap(&d.join("b_in_tx.pcap"));
    assert_eq!(clear.len(), N + 2, "B decrypted every valid packet and nothing else:\n{out_b}");
    let (clear, frag_out) = clear.split_at(N);
    let mut data = Vec::new();
    for f in frag_out {
        let ihl = usize::from(f[14] & 0xf) * 4;
        assert_eq!(checksum(&f[14..14 + ihl]), 0);
        data.extend_from_slice(&f[14 + ihl..]);
    }
    assert_eq!(&data[8..], &big_payload[..], "the fragments carry the whole big packet");
    for (got, orig) in clear.iter().zip(&originals) {
        assert_eq!(&got[0..6], &HOST_B);
        assert_eq!(&got[6..12], &B_IN);
        assert_eq!(got.len(), orig.len());
        assert_eq!(got[14 + 8], 62, "TTL decremented by each gateway");
        assert_eq!(checksum(&got[14..34]), 0, "valid IPv4 header checksum");
        assert_eq!(&got[14 + 9..14 + 10], &orig[14 + 9..14 + 10]);
        assert_eq!(&got[14 + 12..], &orig[14 + 12..], "addresses, ports and payload unchanged");
    }
    assert_eq!(counter(&out_b, "replay"), 1, "{out_b}");
    assert_eq!(counter(&out_b, "auth-failed"), 1, "{out_b}");
    assert_eq!(counter(&out_b, "no-sa"), 1, "{out_b}");
}

#[test]
fn manual_keys_aes_cbc_sha256() {
    let ts = "[[transform_set]]\nname = \"TS1\"\nesp_encryption = \"esp-aes-256\"\nesp_integrity = \"esp-sha256-hmac\"\nmode = \"tunnel\"";
    let key_a = format!("cipher_key = \"{}\", auth_key = \"{}\"", "11".repeat(32), "22".repeat(32));
    let key_b = format!("cipher_key = \"{}\", auth_key = \"{}\"", "33".repeat(32), "44".repeat(32));
    through_two_gateways("cbc", ts, &key_a, &key_b);
}

#[test]
fn manual_keys_aes_gcm() {
    let ts = "[[transform_set]]\nname = \"TS1\"\nesp_encryption = \"esp-gcm-128\"\nmode = \"tunnel\"";
    let key_a = format!("cipher_key = \"{}\"", "55".repeat(20));
    let key_b = format!("cipher_key = \"{}\"", "66".repeat(20));
    through_two_gateways("gcm", ts, &key_a, &key_b);
}

/// `espgate show` against the running daemon: the counters of the crypto map entry match the traffic sent.
#[test]
fn show_commands_report_the_running_state() {
    let dir = TempDir::new("manual-show");
    let d = &dir.0;
    let ts = "[[transform_set]]\nname = \"TS1\"\nesp_encryption = \"esp-aes-256\"\nesp_integrity = \"esp-sha256-hmac\"\nmode = \"tunnel\"";
    let key_a = format!("cipher_key = \"{}\", auth_key = \"{}\"", "11".repeat(32), "22".repeat(32));
    let key_b = format!("cipher_key = \"{}\", auth_key = \"{}\"", "33".repeat(32), "44".repeat(32));
    const N: usize = 7;
    let clear: Vec<Vec<u8>> =
        (0..N).map(|i| udp_frame(A_IN, HOST_A, [192, 0, 2, 10], [203, 0, 113, 10], 64, &[i as u8; 100])).collect();
    write_pcap(&d.join("a_in_rx.pcap"), &clear);
    write_pcap(&d.join("a_out_rx.pcap"), &[]);
    let socket = d.join("a.sock");
    let cfg = d.join("a.toml");
    write_config(&cfg, &config(d, &A, &B, "a", ts, 0x2000, 0x1000, (&key_b, &key_a)));
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--seconds", "6"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let show = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
            .arg("show")
            .args(args)
            .arg("--socket")
            .arg(&socket)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // Wait until the daemon answers and has sent the capture's packets.
    let mut json = String::new();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (ok, out) = show(&["crypto", "ipsec", "sa", "--json"]);
        if ok && out.contains(&format!("\"pkts_encaps\":{N}")) {
            json = out;
            break;
        }
    }
    assert!(!json.is_empty(), "no answer with {N} packets encapsulated");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let sa = &v["sas"][0];
    assert_eq!(sa["crypto_map"], "CM1");
    assert_eq!(sa["current_peer"], "198.51.100.2");
    assert_eq!(sa["local_ident"], "192.0.2.0/255.255.255.0/0/0");
    assert_eq!(sa["remote_ident"], "203.0.113.0/255.255.255.0/0/0");
    assert_eq!(sa["current_outbound_spi"], 0x1000);
    assert_eq!(sa["inbound_esp_sas"][0]["spi"], 0x2000);
    assert_eq!(sa["pkts_decaps"], 0);

    let (ok, text) = show(&["crypto", "ipsec", "sa", "detail"]);
    assert!(ok, "{text}");
    for line in [
        "interface: outside",
        "    Crypto map tag: CM1, local addr 198.51.100.1",
        "   local  ident (addr/mask/prot/port): (192.0.2.0/255.255.255.0/0/0)",
        "   current_peer 198.51.100.2 port 500",
        &format!("    #pkts encaps: {N}, #pkts encrypt: {N}, #pkts digest: {N}"),
        "    #pkts decaps: 0, #pkts decrypt: 0, #pkts verify: 0",
        "    ##pkts replay failed (rcv): 0",
        "     current outbound spi: 0x1000(4096)",
        "        transform: esp-256-aes esp-sha256-hmac ,",
        "        in use settings ={Tunnel, }",
    ] {
        assert!(text.lines().any(|l| l == line), "missing line {line:?} in:\n{text}");
    }
    let (ok, text) = show(&["crypto", "ipsec", "sa", "peer", "198.51.100.99", "--json"]);
    assert!(ok && text.contains("\"sas\":[]"), "{text}");
    let (ok, text) = show(&["interfaces"]);
    assert!(ok && text.contains("outside is up, line protocol is up"), "{text}");
    assert!(text.contains(&format!("{N} packets output")), "{text}");
    let (ok, text) = show(&["counters", "--json"]);
    assert!(ok && text.contains(&format!("\"rx\":{N}")), "{text}");
    let (ok, text) = show(&["crypto", "nonsense"]);
    assert!(!ok && text.contains("unknown command"), "{text}");
    assert!(daemon.wait().unwrap().success());
    assert!(!socket.exists(), "the daemon removes its socket when it stops");
}

/// Jumbo frames: with `mtu = 9000` on both ports, 8000- and 8900-byte packets cross the tunnel whole (mbufs are
/// sized for the largest MTU, so a frame is one segment; before, anything over 2048 bytes was a chained-frame drop).
#[test]
fn jumbo_mtu_packets_cross_whole() {
    let dir = TempDir::new("manual-jumbo");
    let d = &dir.0;
    let ts = "[[transform_set]]\nname = \"TS1\"\nesp_encryption = \"esp-gcm-128\"\nmode = \"tunnel\"";
    let (key_a, key_b) =
        (format!("cipher_key = \"{}\"", "55".repeat(20)), format!("cipher_key = \"{}\"", "66".repeat(20)));
    let jumbo =
        |text: String| -> String {
            text.lines()
                .map(|l| {
                    if l.starts_with("address = \"") && l.contains('/') {
                        format!("{l}\nmtu = 9000")
                    } else {
                        l.into()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
    let originals: Vec<Vec<u8>> = [8000usize, 8900, 1200]
        .iter()
        .map(|&len| {
            let payload: Vec<u8> = (0..len - 28).map(|j| (j * 7) as u8).collect();
            udp_frame(A_IN, HOST_A, [192, 0, 2, 10], [203, 0, 113, 10], 64, &payload)
        })
        .collect();
    write_pcap(&d.join("a_in_rx.pcap"), &originals);
    write_pcap(&d.join("a_out_rx.pcap"), &[]);
    let cfg_a = d.join("a.toml");
    write_config(&cfg_a, &jumbo(config(d, &A, &B, "a", ts, 0x2000, 0x1000, (&key_b, &key_a))));
    let out_a = espgate(&cfg_a);
    let esp = read_pcap(&d.join("a_out_tx.pcap"));
    assert_eq!(esp.len(), 3, "one ESP frame per packet, none fragmented:\n{out_a}");
    assert!(esp[1].len() > 8900 && esp[1].len() <= 14 + 9000, "{}", esp[1].len());
    assert_eq!(counter(&out_a, "chained-frame"), 0, "{out_a}");

    write_pcap(&d.join("b_out_rx.pcap"), &esp);
    write_pcap(&d.join("b_in_rx.pcap"), &[]);
    let cfg_b = d.join("b.toml");
    write_config(&cfg_b, &jumbo(config(d, &B, &A, "b", ts, 0x1000, 0x2000, (&key_a, &key_b))));
    let out_b = espgate(&cfg_b);
    let clear = read_pcap(&d.join("b_in_tx.pcap"));
    assert_eq!(clear.len(), 3, "B decrypted every jumbo packet:\n{out_b}");
    for (got, orig) in clear.iter().zip(&originals) {
        assert_eq!(got.len(), orig.len());
        assert_eq!(&got[14 + 12..], &orig[14 + 12..], "addresses, ports and payload unchanged");
    }
}
