//! Malformed traffic through `espgate run` on net_pcap ports (issue #8). One gateway with manually keyed crypto map
//! entries (ESP tunnel AES-GCM, AES-CBC + HMAC-SHA256, ESP in UDP, ESN, AH, IPv6 outer) receives valid packets
//! interleaved with every kind of invalid one: truncated or inconsistent Ethernet, IPv4, IPv6, UDP and ESP headers,
//! IPv4 options and IPv6 extension headers, bad ICVs, padding and next headers, replays, sequence numbers left of
//! the window, fragments of ESP, NAT-T markers and keepalives, inner packets outside the SA's selectors.
//! Valid ESP is built by Scapy (tests/common/malformed_esp.py); malformed ESP is valid ESP edited, or encrypted
//! by Scapy around a wrong plaintext (so the ICV verifies and the content is at fault).
//!
//! Checks: every valid packet leaves (decrypted ones byte for byte, encrypted ones as Scapy decrypts them), nothing
//! invalid leaves, each invalid packet has its drop reason (per packet from the engine's pipeline run in process on
//! the same config and frames; per reason from the daemon's `show counters --json` and exit summary), the drops
//! add up to the invalid packets, no panic, exit status 0. The table of cases is printed (`--nocapture`).
mod common;
#[path = "common/malformed.rs"]
mod malformed;

use common::*;
use malformed::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
const BYPASS_MAC: [u8; 6] = [2, 0, 0, 0, 0xd, 1];
const HOST4: [u8; 4] = [192, 0, 2, 10];
const US4: [u8; 4] = [198, 51, 100, 1];
/// A host on the outside network no crypto map entry covers: traffic to it bypasses in clear.
const BYPASS4: [u8; 4] = [198, 51, 100, 50];
const INSIDE: u16 = 0;
const OUTSIDE: u16 = 1;

struct Esp {
    enc: &'static str,
    integ: Option<&'static str>,
    scapy_enc: &'static str,
    scapy_auth: Option<&'static str>,
    enc_key: usize,
    auth_key: usize,
}

struct Entry {
    esp: Option<Esp>,
    /// AH with HMAC-SHA256-128 (tunnel mode).
    ah: bool,
    nat_t: bool,
    esn: bool,
    v6: bool,
}

const GCM128: Esp =
    Esp { enc: "esp-gcm-128", integ: None, scapy_enc: "AES-GCM", scapy_auth: None, enc_key: 20, auth_key: 0 };
const GCM256: Esp =
    Esp { enc: "esp-gcm-256", integ: None, scapy_enc: "AES-GCM", scapy_auth: None, enc_key: 36, auth_key: 0 };
const CBC256: Esp = Esp {
    enc: "esp-aes-256",
    integ: Some("esp-sha256-hmac"),
    scapy_enc: "AES-CBC",
    scapy_auth: Some("SHA2-256-128"),
    enc_key: 32,
    auth_key: 32,
};
const CBC128: Esp = Esp { enc: "esp-aes-128", enc_key: 16, ..CBC256 };

/// The entries, by index: 0 GCM, 1 CBC, 2 NAT-T, 3 ESN, 4 AH, 5 IPv6.
fn entries() -> Vec<Entry> {
    let e = |esp, ah, nat_t, esn, v6| Entry { esp, ah, nat_t, esn, v6 };
    vec![
        e(Some(GCM128), false, false, false, false),
        e(Some(CBC256), false, false, false, false),
        e(Some(GCM256), false, true, false, false),
        e(Some(CBC128), false, false, true, false),
        e(None, true, false, false, false),
        e(Some(CBC128), false, false, false, true),
    ]
}
const GCM: usize = 0;
const CBC: usize = 1;
const NATT: usize = 2;
const ESN: usize = 3;
const AH: usize = 4;
const V6: usize = 5;

fn peer(e: &Entry, i: usize) -> String {
    if e.v6 {
        format!("2001:db8:100::{}", 0x10 + i)
    } else {
        format!("198.51.100.{}", 10 + i)
    }
}
fn our_outer(e: &Entry) -> &'static str {
    if e.v6 {
        "2001:db8:100::1"
    } else {
        "198.51.100.1"
    }
}
fn peer_mac(i: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0xe, i as u8]
}
fn remote4(i: usize) -> [u8; 4] {
    [203, 0, 113, 16 * i as u8 + 1]
}
fn remote6() -> Ipv6Addr {
    "2001:db8:2:5::1".parse().unwrap()
}
fn host6() -> Ipv6Addr {
    "2001:db8:1::10".parse().unwrap()
}
/// ESP in/out 0x10000/0x20000 + i, AH in/out 0x30000/0x40000 + i.
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
replay_window = 64

[control]
socket = "{d}/gw.sock"

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
address = "2001:db8:1::10"
mac = "02:00:00:00:0c:01"
interface = "inside"

[[neighbor]]
address = "198.51.100.50"
mac = "02:00:00:00:0d:01"
interface = "outside"
"#
    );
    for (i, e) in entries.iter().enumerate() {
        let p = peer(e, i);
        let net = if e.v6 { "2001:db8:2:5::/64".to_string() } else { format!("203.0.113.{}/28", 16 * i) };
        let src = if e.v6 { "2001:db8:1::/64" } else { "192.0.2.0/24" };
        let m = peer_mac(i);
        let (mut ts, mut sas) = (String::new(), String::new());
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
        if e.ah {
            ts += "ah = \"ah-sha256-hmac\"\n";
            for inbound in [true, false] {
                let dir = if inbound { "inbound" } else { "outbound" };
                let k = key(32, seed(i, true, inbound) + 100);
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
entries = [{{ action = "permit", protocol = "ip", source = "{src}", destination = "{net}" }}]

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

/// What must become of a frame.
#[derive(Clone)]
enum Expect {
    /// Leaves the inside port to the host: this IP packet (the inner one, forwarded).
    Deliver(Vec<u8>),
    /// Leaves the outside port protected by entry `.0`; the peer recovers this IP packet.
    Protect(usize, Vec<u8>),
    /// Leaves the outside port in clear: this IP packet.
    Bypass(Vec<u8>),
    /// Dropped and counted under this reason.
    Drop(&'static str),
    /// Handed to the control thread (which, without IKE configured, ignores it): `ike` or `nat-keepalive`.
    Punt(&'static str),
}

impl Expect {
    fn word(&self) -> String {
        match self {
            Expect::Deliver(_) => format!("tx:{INSIDE}"),
            Expect::Protect(..) | Expect::Bypass(_) => format!("tx:{OUTSIDE}"),
            Expect::Drop(r) => r.to_string(),
            Expect::Punt(k) => format!("punt:{k}"),
        }
    }
    fn valid(&self) -> bool {
        matches!(self, Expect::Deliver(_) | Expect::Protect(..) | Expect::Bypass(_))
    }
}

/// How a case's frame is made.
enum Make {
    Frame(Vec<u8>),
    /// A Scapy request; its IP packet goes through `finish` to become the frame.
    Oracle(Value, Box<dyn Fn(Vec<u8>) -> Vec<u8>>),
    /// The same frame as case `.0` (a replay).
    Copy(usize),
}

struct Case {
    name: String,
    port: u16,
    make: Make,
    expect: Expect,
    /// A deviation from the RFCs found by this suite: (the outcome the RFC asks for, the reference). `expect` then
    /// holds today's behaviour, asserted so a fix is noticed: when fixed, put the RFC outcome into `expect` and
    /// remove this.
    deviation: Option<(&'static str, &'static str)>,
}

struct Suite {
    entries: Vec<Entry>,
    cases: Vec<Case>,
}

fn payload(k: usize, len: usize) -> Vec<u8> {
    (0..len).map(|x| (x * 7 + k) as u8).collect()
}

impl Suite {
    fn add(&mut self, name: impl Into<String>, port: u16, make: Make, expect: Expect) -> usize {
        self.cases.push(Case { name: name.into(), port, make, expect, deviation: None });
        self.cases.len() - 1
    }

    /// Marks the last case as a known deviation from `rfc_outcome` (see [`Case::deviation`]).
    fn deviates(&mut self, rfc_outcome: &'static str, reference: &'static str) {
        self.cases.last_mut().unwrap().deviation = Some((rfc_outcome, reference));
    }

    /// A Scapy request for entry `i`'s SA (`inbound`: the peer's side of our inbound SA).
    fn req(&self, i: usize, op: &str, inbound: bool, seq: u64, packet: &[u8]) -> Value {
        let e = &self.entries[i];
        let (src, dst) =
            if inbound { (peer(e, i), our_outer(e).to_string()) } else { (our_outer(e).to_string(), peer(e, i)) };
        let mut v = json!({
            "id": format!("{op}-{i}-{seq}"), "op": op, "spi": spi(i, e.ah, inbound), "mode": "tunnel",
            "tunnel_src": src, "tunnel_dst": dst, "nat_t": e.nat_t, "esn": e.esn, "seq": seq, "packet": hex(packet),
        });
        if let Some(x) = &e.esp {
            let sd = seed(i, false, inbound);
            v["enc"] = json!(x.scapy_enc);
            v["enc_key"] = json!(key(x.enc_key, sd));
            v["auth"] = json!(x.scapy_auth);
            v["auth_key"] = json!(if x.auth_key > 0 { key(x.auth_key, sd + 100) } else { String::new() });
        } else {
            v["proto"] = json!("AH");
            v["enc"] = json!("NULL");
            v["enc_key"] = json!("");
            v["auth"] = json!("SHA2-256-128");
            v["auth_key"] = json!(key(32, seed(i, true, inbound) + 100));
        }
        v
    }

    /// A cleartext packet from the peer's network of entry `i` to our host.
    fn inner(&self, i: usize, k: usize, len: usize) -> Vec<u8> {
        if self.entries[i].v6 {
            udp6(remote6(), host6(), 64, &payload(k, len))
        } else {
            udp4(remote4(i), HOST4, 64, &payload(k, len))
        }
    }

    /// A valid protected packet from entry `i`'s peer, delivered as `inner` forwarded.
    fn valid_in(&mut self, name: &str, i: usize, seq: u64, inner: Vec<u8>) -> usize {
        self.edited_in(name, i, seq, inner.clone(), |ip| ip, Expect::Deliver(forwarded(&inner)))
    }

    /// A packet from entry `i`'s peer: `inner` protected with `seq` by Scapy, then `edit`ed (IP packet to IP packet).
    fn edited_in(
        &mut self,
        name: &str,
        i: usize,
        seq: u64,
        inner: Vec<u8>,
        edit: impl Fn(Vec<u8>) -> Vec<u8> + 'static,
        expect: Expect,
    ) -> usize {
        let r = self.req(i, "encrypt", true, seq, &inner);
        let mac = peer_mac(i);
        let finish = move |ip: Vec<u8>| {
            let ip = edit(ip);
            eth(OUR_OUT, mac, ethertype(&ip), &ip)
        };
        self.add(name, OUTSIDE, Make::Oracle(r, Box::new(finish)), expect)
    }

    /// ESP from entry `i`'s peer around a wrong plaintext (see malformed_esp.py's "custom" op for `extra`).
    fn custom_in(&mut self, name: &str, i: usize, seq: u64, data: &[u8], extra: Value, expect: Expect) -> usize {
        let mut r = self.req(i, "custom", true, seq, data);
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        let mac = peer_mac(i);
        self.add(name, OUTSIDE, Make::Oracle(r, Box::new(move |ip| eth(OUR_OUT, mac, ethertype(&ip), &ip))), expect)
    }

    /// A raw frame on the outside port from entry `i`'s peer MAC.
    fn raw_out(&mut self, name: &str, i: usize, ip: Vec<u8>, expect: Expect) -> usize {
        let f = eth(OUR_OUT, peer_mac(i), ethertype(&ip), &ip);
        self.add(name, OUTSIDE, Make::Frame(f), expect)
    }

    /// Cleartext from our host on the inside port.
    fn clear_in(&mut self, name: &str, ip: Vec<u8>, expect: Expect) -> usize {
        let f = eth(OUR_IN, HOST, ethertype(&ip), &ip);
        self.add(name, INSIDE, Make::Frame(f), expect)
    }
}

#[path = "common/malformed_cases.rs"]
mod cases;

#[test]
fn malformed_traffic_is_dropped_with_the_right_reason() {
    let mut s = Suite { entries: entries(), cases: Vec::new() };
    cases::build(&mut s);
    let dir = TempDir::new("malformed-run");
    let d = &dir.0;
    let cfg_text = config(d, &s.entries);

    // Frames: Scapy's requests in one batch, then the edits.
    let reqs: Vec<Value> = s
        .cases
        .iter()
        .filter_map(|c| match &c.make {
            Make::Oracle(r, _) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let mut built = oracle(&reqs).into_iter();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for c in &s.cases {
        let f = match &c.make {
            Make::Frame(f) => f.clone(),
            Make::Oracle(_, finish) => finish(built.next().unwrap()),
            Make::Copy(k) => frames[*k].clone(),
        };
        frames.push(f);
    }
    let on = |port: u16| -> Vec<Vec<u8>> {
        s.cases.iter().zip(&frames).filter(|(c, _)| c.port == port).map(|(_, f)| f.clone()).collect()
    };
    write_pcap(&d.join("in_rx.pcap"), &on(INSIDE));
    write_pcap(&d.join("out_rx.pcap"), &on(OUTSIDE));
    let cfg = d.join("gw.toml");
    write_config(&cfg, &cfg_text);

    // Per packet: the engine's pipeline in process, on the same config and frames (each port's frames in order;
    // the two ports share no state a packet of the other could change).
    let mut sim_in: Vec<(u16, Vec<u8>)> = Vec::new();
    for port in [OUTSIDE, INSIDE] {
        sim_in.extend(s.cases.iter().zip(&frames).filter(|(c, _)| c.port == port).map(|(c, f)| (c.port, f.clone())));
    }
    let sim_out = pipeline_outcomes(&cfg_text, &sim_in);
    let mut got: Vec<String> = vec![String::new(); s.cases.len()];
    let mut it = sim_out.into_iter();
    for port in [OUTSIDE, INSIDE] {
        for (k, c) in s.cases.iter().enumerate() {
            if c.port == port {
                got[k] = it.next().unwrap();
            }
        }
    }

    // The daemon.
    let socket = d.join("gw.sock");
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--seconds", "5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start espgate");
    // Counters once every frame was received and they stopped moving.
    let mut live: Option<Value> = None;
    let mut last: Option<Value> = None;
    while started.elapsed() < Duration::from_millis(4500) {
        std::thread::sleep(Duration::from_millis(150));
        let Some(v) = show_counters(&socket) else { continue };
        if v["worker"]["rx"].as_u64() == Some(frames.len() as u64) && last.as_ref() == Some(&v) {
            live = Some(v);
            break;
        }
        last = Some(v);
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{log}");
    assert!(!log.contains("panicked"), "a panic:\n{log}");

    // The table.
    let mut failures = Vec::new();
    println!("\n{:<4} {:<6} {:<58} {:<24} {:<24} result", "#", "port", "case", "expected", "got");
    for (k, c) in s.cases.iter().enumerate() {
        let want = c.expect.word();
        let ok = got[k] == want;
        let result = match (&c.deviation, ok) {
            (Some((rfc, reference)), true) => format!("DEVIATION: {reference} asks for {rfc}"),
            (_, true) => "ok".into(),
            (_, false) => "MISMATCH".into(),
        };
        let port = if c.port == INSIDE { "in" } else { "out" };
        println!("{k:<4} {port:<6} {:<58} {want:<24} {:<24} {result}", c.name, got[k]);
        if !ok {
            failures.push(format!("case {k} {:?}: expected {want}, got {}", c.name, got[k]));
        }
    }
    // Invalid: every case not valid, and the deviations (invalid packets the gateway passes or misnames today).
    let is_invalid = |c: &Case| !c.expect.valid() || c.deviation.is_some();
    let invalid = s.cases.iter().filter(|c| is_invalid(c)).count();
    let valid = s.cases.len() - invalid;
    let drops_wanted: BTreeMap<String, u64> = s.cases.iter().fold(BTreeMap::new(), |mut m, c| {
        if let Expect::Drop(r) = c.expect {
            *m.entry(r.to_string()).or_default() += 1;
        }
        m
    });
    let dropped = drops_wanted.values().sum::<u64>();
    let punts = s.cases.iter().filter(|c| matches!(c.expect, Expect::Punt(_))).count() as u64;
    let deviations = s.cases.iter().filter(|c| c.deviation.is_some()).count();
    let passed = s.cases.iter().filter(|c| c.deviation.is_some() && c.expect.valid()).count();
    let handled_right = s
        .cases
        .iter()
        .zip(&got)
        .filter(|(c, g)| c.deviation.is_none() && !c.expect.valid() && **g == c.expect.word())
        .count();
    println!(
        "\n{} cases: {valid} valid (all delivered), {invalid} invalid: {handled_right} handled as the RFCs ask \
         ({} dropped with the expected reason, {punts} punted and ignored), {deviations} known deviations \
         ({passed} passed through, {} dropped under a reason the RFC does not ask for)",
        s.cases.len(),
        handled_right as u64 - punts,
        deviations - passed,
    );
    println!("drop reasons expected: {drops_wanted:?}");
    assert!(failures.is_empty(), "per-packet outcomes differ:\n{}", failures.join("\n"));

    // The daemon agrees, reason by reason.
    let live = live.unwrap_or_else(|| panic!("no stable `show counters` with rx {}:\n{log}", frames.len()));
    let live_drops: BTreeMap<String, u64> =
        live["worker"]["drops"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    println!("drop reasons counted by the daemon: {live_drops:?}");
    assert_eq!(live_drops, drops_wanted, "show counters --json, worker drops:\n{log}");
    assert_eq!(summary_drops(&log), drops_wanted, "the exit summary's drops:\n{log}");
    let total: u64 = live_drops.values().sum();
    let passing = (punts + passed as u64) as usize;
    assert_eq!(total, dropped, "total drops");
    assert_eq!(total as usize, invalid - passing, "total drops = invalid packets, less punted and passed deviations");
    assert_eq!(live["worker"]["punted"].as_u64(), Some(punts));
    assert_eq!(live["host"]["ignored"].as_u64(), Some(punts), "the punted ones were ignored");
    assert_eq!(summary_worker(&log, "rx"), Some(frames.len() as u64), "{log}");
    assert_eq!(summary_worker(&log, "tx-dropped"), Some(0), "{log}");

    // What left: decrypted packets on the inside, byte for byte, in order.
    let delivered = read_pcap(&d.join("in_tx.pcap"));
    let want_in: Vec<&Vec<u8>> = s
        .cases
        .iter()
        .filter_map(|c| match &c.expect {
            Expect::Deliver(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), want_in.len(), "every valid protected packet delivered, nothing else:\n{log}");
    for (k, (f, p)) in delivered.iter().zip(&want_in).enumerate() {
        assert_eq!(&f[0..6], &HOST, "delivery {k}: to the host");
        assert_eq!(&f[6..12], &OUR_IN, "delivery {k}: from our inside MAC");
        assert_eq!(&f[14..], &p[..], "delivery {k}: the inner packet, forwarded");
    }
    // On the outside: protected packets (Scapy decrypts them) and bypassed cleartext, in order.
    let sent = read_pcap(&d.join("out_tx.pcap"));
    let want_out: Vec<&Expect> =
        s.cases.iter().map(|c| &c.expect).filter(|e| matches!(e, Expect::Protect(..) | Expect::Bypass(_))).collect();
    assert_eq!(sent.len(), want_out.len(), "every valid cleartext packet sent, nothing else:\n{log}");
    let mut decrypt = Vec::new();
    for (k, (f, e)) in sent.iter().zip(&want_out).enumerate() {
        match e {
            Expect::Bypass(p) => {
                assert_eq!(&f[0..6], &BYPASS_MAC, "bypass {k}: to the outside host");
                assert_eq!(&f[14..], &p[..], "bypass {k}: in clear, forwarded");
            }
            Expect::Protect(i, p) => {
                assert_eq!(&f[0..6], &peer_mac(*i), "protected {k}: to the peer");
                let mut r = s.req(*i, "decrypt", false, 1, &f[14..]);
                r["id"] = json!(format!("out{k}"));
                decrypt.push((r, p));
            }
            _ => unreachable!(),
        }
    }
    let plain = oracle(&decrypt.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>());
    for (k, (inner, (_, want))) in plain.iter().zip(&decrypt).enumerate() {
        assert_eq!(&inner[..], &want[..], "protected packet {k}: Scapy recovers the forwarded cleartext");
    }
}
