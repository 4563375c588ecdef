//! One gateway with a manually keyed crypto map entry per ESP suite, each to its own peer, run through
//! `espgate run` on net_pcap ports against Scapy's IPsec module both ways: Scapy encrypts traffic from each peer and
//! espgate must decrypt it to the original; espgate encrypts cleartext for each peer and Scapy must decrypt it.
//! Shared by the tests that run it with different engine settings (software crypto, cryptodev, auto).
use super::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const PER_MAP: usize = 4;

/// One crypto map entry: espgate's transform set names, Scapy's, key lengths, ESN, and its own `crypto` key.
#[derive(Clone, Copy)]
pub struct Combo {
    pub enc: &'static str,
    pub integ: Option<&'static str>,
    pub scapy_enc: &'static str,
    pub scapy_auth: Option<&'static str>,
    pub enc_key: usize,
    pub auth_key: usize,
    pub esn: bool,
    /// The entry's `crypto = "..."` (none: `[engine] crypto` decides).
    pub crypto: Option<&'static str>,
}

impl Combo {
    /// The same entry with its own `crypto` key.
    #[allow(dead_code)] // not every test binary that includes this module uses it
    pub const fn on(self, crypto: &'static str) -> Self {
        Combo { crypto: Some(crypto), ..self }
    }
}

pub const fn c(
    enc: &'static str,
    integ: Option<&'static str>,
    scapy: (&'static str, Option<&'static str>),
    keys: (usize, usize),
    esn: bool,
) -> Combo {
    Combo { enc, integ, scapy_enc: scapy.0, scapy_auth: scapy.1, enc_key: keys.0, auth_key: keys.1, esn, crypto: None }
}

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

fn config(dir: &Path, engine_extra: &str, combos: &[Combo]) -> String {
    let d = dir.display();
    let mut s = format!(
        r#"
[engine]
workers = [1]
control_core = 0
{engine_extra}

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
    for (i, c) in combos.iter().enumerate() {
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
        let esn = if c.esn { "esn = true\n" } else { "" };
        let crypto = c.crypto.map(|b| format!("crypto = \"{b}\"\n")).unwrap_or_default();
        let mac = peer_mac(i).iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        s += &format!(
            r#"
[[neighbor]]
address = "{p}"
mac = "{mac}"
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
{esn}{crypto}inbound_esp = {{ spi = {}, {} }}
outbound_esp = {{ spi = {}, {} }}
"#,
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

fn sa_case(combos: &[Combo], id: String, op: &str, i: usize, inbound: bool, seq: usize, packet: &[u8]) -> Value {
    let c = &combos[i];
    let (spi, seed) = if inbound { (0x10000 + i, 2 * i) } else { (0x20000 + i, 2 * i + 1) };
    let (src, dst) =
        if inbound { (ip_str(peer(i)), "198.51.100.1".to_string()) } else { ("198.51.100.1".into(), ip_str(peer(i))) };
    json!({
        "id": id, "op": op, "enc": c.scapy_enc, "enc_key": key(c.enc_key, seed),
        "auth": c.scapy_auth, "auth_key": if c.auth_key > 0 { key(c.auth_key, seed + 100) } else { String::new() },
        "spi": spi, "mode": "tunnel", "tunnel_src": src, "tunnel_dst": dst, "nat_t": false, "esn": c.esn,
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

/// `espgate run --config cfg --seconds N`, its output captured.
fn spawn_run(cfg: &std::path::Path, seconds: u32) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(cfg)
        .args(["--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `show crypto ipsec sa --json` of the daemon whose socket is `gw.sock` in `d`; `None` until it answers.
fn show_ipsec_sa(d: &std::path::Path) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["show", "crypto", "ipsec", "sa", "--json", "--socket"])
        .arg(d.join("gw.sock"))
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout).ok()
}

/// Starts `espgate run` for a second on the config of `combos` (no traffic); returns whether it exited cleanly, and
/// its log.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn start_only(name: &str, combos: &[Combo], engine_extra: &str) -> (bool, String) {
    let dir = TempDir::new(name);
    let d = &dir.0;
    write_pcap(&d.join("out_rx.pcap"), &[]);
    write_pcap(&d.join("in_rx.pcap"), &[]);
    let cfg = d.join("gw.toml");
    write_config(&cfg, &config(d, engine_extra, combos));
    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), log)
}

/// Runs `espgate run` for `seconds` on the config of `first` (no traffic); once it answers `show`, rewrites the config
/// for each of `reloads` in turn and sends SIGHUP. Returns its log and `show crypto ipsec sa --json` after the
/// last reload.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn run_with_reloads(
    name: &str,
    engine_extra: &str,
    first: &[Combo],
    reloads: &[&[Combo]],
    seconds: u32,
) -> (String, Option<Value>) {
    let dir = TempDir::new(name);
    let d = &dir.0;
    write_pcap(&d.join("out_rx.pcap"), &[]);
    write_pcap(&d.join("in_rx.pcap"), &[]);
    let cfg = d.join("gw.toml");
    write_config(&cfg, &config(d, engine_extra, first));
    let daemon = spawn_run(&cfg, seconds);
    let show = || show_ipsec_sa(d);
    for _ in 0..60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if show().is_some() {
            break;
        }
    }
    for combos in reloads {
        write_config(&cfg, &config(d, engine_extra, combos));
        let hup = Command::new("kill").args(["-HUP", &daemon.id().to_string()]).status().unwrap();
        assert!(hup.success());
        // The control loop reads the flag within a few milliseconds; give it time to apply or refuse.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let shown = show();
    let out = daemon.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{log}");
    (log, shown)
}

/// Runs every entry of `combos` through `espgate run` (with `engine_extra` lines in `[engine]`) both ways against
/// Scapy for `seconds`; with `show`, asks `show crypto ipsec sa --json` while it runs. Returns the daemon's log and
/// what show said.
pub fn agree_with_scapy(
    name: &str,
    combos: &[Combo],
    engine_extra: &str,
    seconds: u32,
    show: bool,
) -> (String, Option<Value>) {
    let dir = TempDir::new(name);
    let d = &dir.0;
    let n = combos.len();
    let what = |k: usize| {
        let c = &combos[k / PER_MAP];
        if c.esn {
            format!("{} esn packet {k}", c.enc)
        } else {
            format!("{} packet {k}", c.enc)
        }
    };
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
        .map(|k| sa_case(combos, format!("enc{k}"), "encrypt", k / PER_MAP, true, k % PER_MAP + 1, &inner_in[k]))
        .collect();
    let esp_in: Vec<Vec<u8>> = scapy(enc_cases)
        .iter()
        .enumerate()
        .map(|(k, r)| {
            [&OUR_OUT[..], &peer_mac(k / PER_MAP), &[0x08, 0x00], &unhex(r["packet"].as_str().unwrap())].concat()
        })
        .collect();
    write_pcap(&d.join("out_rx.pcap"), &esp_in);
    let clear: Vec<Vec<u8>> = inner_out.iter().map(|ip| [&OUR_IN[..], &HOST, &[0x08, 0x00], ip].concat()).collect();
    write_pcap(&d.join("in_rx.pcap"), &clear);
    let cfg = d.join("gw.toml");
    write_config(&cfg, &config(d, engine_extra, combos));

    let daemon = spawn_run(&cfg, seconds);
    let mut shown = None;
    for _ in 0..if show { 60 } else { 0 } {
        std::thread::sleep(std::time::Duration::from_millis(50));
        shown = show_ipsec_sa(d);
        if shown.is_some() {
            break;
        }
    }
    let out = daemon.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{log}");

    // espgate decrypted what Scapy encrypted.
    let decrypted = read_pcap(&d.join("in_tx.pcap"));
    assert_eq!(decrypted.len(), n * PER_MAP, "every Scapy packet decrypted:\n{log}");
    for (k, f) in decrypted.iter().enumerate() {
        assert_eq!(&f[0..6], &HOST);
        assert_forwarded(&f[14..], &inner_in[k], &format!("{} (Scapy -> espgate)", what(k)));
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
            sa_case(combos, format!("dec{k}"), "decrypt", k / PER_MAP, false, 1, &f[14..])
        })
        .collect();
    for (k, r) in scapy(dec_cases).iter().enumerate() {
        let inner = unhex(r["packet"].as_str().unwrap());
        assert_forwarded(&inner, &inner_out[k], &format!("{} (espgate -> Scapy)", what(k)));
    }
    (log, shown)
}
