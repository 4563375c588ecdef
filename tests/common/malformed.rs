//! Helpers of the malformed-traffic test (tests/malformed_run.rs): packet builders and editors, the ESP builder
//! (tests/common/malformed_esp.py over Scapy), the same frames run in process through the engine's pipeline (for a
//! per-packet verdict), and the daemon's counters.
#![allow(dead_code)]

use crate::common::{checksum, python};
use engine::buf::VecBuf;
use engine::datapath::{Action, Datapath, PuntKind};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv6Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An Ethernet frame.
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    [&dst[..], &src, &ethertype.to_be_bytes(), payload].concat()
}

/// The EtherType of an IP packet by its version nibble.
pub fn ethertype(ip: &[u8]) -> u16 {
    if ip.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    }
}

/// An IPv4 packet with `options` (a multiple of 4 bytes) and a valid header checksum.
pub fn ip4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let hl = 20 + options.len();
    let mut p = vec![0u8; hl + payload.len()];
    p[0] = 0x40 | (hl / 4) as u8;
    p[2..4].copy_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
    p[8] = ttl;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..hl].copy_from_slice(options);
    p[hl..].copy_from_slice(payload);
    fix4(&mut p);
    p
}

/// Recomputes the IPv4 header checksum (over the header IHL announces, as far as the packet goes).
pub fn fix4(p: &mut [u8]) {
    let hl = (usize::from(p[0] & 0xf) * 4).min(p.len());
    p[10..12].fill(0);
    let c = checksum(&p[..hl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram 4000 -> 5000 (checksum 0, allowed over IPv4).
pub fn udp(payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&4000u16.to_be_bytes());
    u[2..4].copy_from_slice(&5000u16.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    [u, payload.to_vec()].concat()
}

/// An IPv4 UDP packet.
pub fn udp4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    ip4(src, dst, 17, ttl, &[], &udp(payload))
}

/// An IPv6 UDP packet with its mandatory checksum.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut u = udp(payload);
    let len = u.len();
    let mut sum = 0u32;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(len as u32).to_be_bytes());
    add(&[0, 17]);
    add(&u);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    u[6..8].copy_from_slice(&if c == 0 { 0xffff } else { c }.to_be_bytes());
    ip6(src, dst, 17, hop_limit, &u)
}

/// An IPv6 packet.
pub fn ip6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = next_header;
    p[7] = hop_limit;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    [p, payload.to_vec()].concat()
}

/// Inserts IPv6 extension headers right after the fixed header: each `(type, body)`, whose body (without the two
/// bytes of next header and length) makes the header a multiple of 8 bytes. Fixes next headers and payload length.
pub fn with_ext_headers(ip: &[u8], headers: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut next = ip[6];
    let mut chain = Vec::new();
    for (t, body) in headers.iter().rev() {
        let mut h = vec![next, 0];
        h.extend_from_slice(body);
        assert_eq!(h.len() % 8, 0, "extension header of {} bytes", h.len());
        // The fragment header's second byte is reserved; the others count 8-byte units after the first.
        h[1] = if *t == 44 { 0 } else { (h.len() / 8 - 1) as u8 };
        chain.splice(0..0, h);
        next = *t;
    }
    let mut p = ip[..40].to_vec();
    p[6] = next;
    let plen = ip.len() - 40 + chain.len();
    p[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
    [p, chain, ip[40..].to_vec()].concat()
}

/// Inserts IPv4 options into a packet's header (fixing IHL, total length and checksum).
pub fn with_options(ip: &[u8], options: &[u8]) -> Vec<u8> {
    let hl = usize::from(ip[0] & 0xf) * 4;
    let mut p = [&ip[..hl], options, &ip[hl..]].concat();
    p[0] = 0x40 | ((hl + options.len()) / 4) as u8;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    fix4(&mut p);
    p
}

/// The packet as a gateway forwards it: TTL or hop limit one lower (IPv4 checksum fixed).
pub fn forwarded(ip: &[u8]) -> Vec<u8> {
    let mut p = ip.to_vec();
    if p[0] >> 4 == 4 {
        p[8] -= 1;
        fix4(&mut p);
    } else {
        p[7] -= 1;
    }
    p
}

/// Runs cases through tests/common/malformed_esp.py (Scapy); every case must succeed. Returns the packets.
pub fn oracle(cases: &[Value]) -> Vec<Vec<u8>> {
    if cases.is_empty() {
        return Vec::new();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/malformed_esp.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Scapy ESP builder");
    child.stdin.take().unwrap().write_all(json!({ "cases": cases }).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Scapy ESP builder failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("builder JSON");
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["ok"].as_bool().unwrap(), "Scapy case {} failed: {}", r["id"], r["error"]);
            crate::common::unhex(r["packet"].as_str().unwrap())
        })
        .collect()
}

/// What the pipeline did with one frame, as a short word: `tx:<port>`, `punt:<kind>` or the drop reason's name.
pub fn outcome_name(a: &Action) -> String {
    match a {
        Action::Transmit { port } => format!("tx:{port}"),
        Action::Punt(k) => format!(
            "punt:{}",
            match k {
                PuntKind::Arp => "arp",
                PuntKind::Ike => "ike",
                PuntKind::NatKeepalive => "nat-keepalive",
                PuntKind::Icmp => "icmp",
                PuntKind::Resolve { .. } => "resolve",
                #[allow(unreachable_patterns)]
                _ => "other",
            }
        ),
        Action::Fragment { .. } => "fragment".into(),
        Action::Drop(d) => d.name().into(),
    }
}

/// Runs `frames` (port, frame) through the engine's pipeline in process, with the tables and manual SAs the
/// daemon builds from the same config (as src/run.rs does), and names each outcome.
pub fn pipeline_outcomes(config: &str, frames: &[(u16, Vec<u8>)]) -> Vec<String> {
    let cfg = control::config::parse(config).expect("config");
    let ports = |dev: &str| dev.strip_prefix("net_pcap").and_then(|n| n.parse().ok());
    let plan = control::plan::build(&cfg, ports, |_| None).expect("plan");
    let mut dp = Datapath::new(Arc::new(plan.tables), 1024);
    for m in &plan.maps {
        if let Some((inb, outb)) = &m.manual {
            dp.install_inbound(engine::esp::InboundSa::new(inb.clone()).unwrap()).unwrap();
            dp.install_outbound(m.handle, Arc::new(engine::esp::OutboundSa::new(outb.clone()).unwrap()));
        }
        if let Some((inb, outb)) = &m.manual_ah {
            dp.install_inbound_ah(engine::ah::InboundAh::new(inb.clone()).unwrap()).unwrap();
            dp.install_outbound_ah(m.handle, Arc::new(engine::ah::OutboundAh::new(outb.clone()).unwrap()));
        }
    }
    frames
        .iter()
        .map(|(port, f)| {
            let mut b = VecBuf::new(f);
            outcome_name(&dp.process(*port, &mut b))
        })
        .collect()
}

/// The drop counters of the daemon's exit summary (`  drop <name>: <n>` lines).
pub fn summary_drops(log: &str) -> BTreeMap<String, u64> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("drop ")?.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap()))
        .collect()
}

/// A number from the exit summary's worker line (`worker: rx N tx N ... punted N ...`).
pub fn summary_worker(log: &str, field: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.trim_start().starts_with("worker: "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    words.windows(2).find(|w| w[0] == field).and_then(|w| w[1].parse().ok())
}

/// Asks the running daemon `show counters --json`.
pub fn show_counters(socket: &Path) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["show", "counters", "--json", "--socket"])
        .arg(socket)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Runs `espgate run`; as soon as the worker received `frames` frames and the counters stopped moving, reads
/// `show counters --json` and stops the daemon with SIGTERM (it stops by itself after 30 s otherwise). Returns its
/// output and those counters (None if they never settled). Asserts exit status 0 and no panic.
pub fn run_espgate(cfg: &Path, socket: &Path, frames: usize) -> (String, Option<Value>) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(cfg)
        .args(["--seconds", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start espgate");
    let mut live: Option<Value> = None;
    let mut last: Option<Value> = None;
    while started.elapsed() < Duration::from_secs(25) {
        std::thread::sleep(Duration::from_millis(200));
        let Some(v) = show_counters(socket) else { continue };
        if v["worker"]["rx"].as_u64() == Some(frames as u64) && last.as_ref() == Some(&v) {
            live = Some(v);
            break;
        }
        last = Some(v);
    }
    // The daemon stops cleanly on SIGTERM: summary printed, pcap files closed.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "espgate run failed:\n{log}");
    assert!(!log.contains("panicked"), "a panic:\n{log}");
    (log, live)
}
