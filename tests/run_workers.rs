//! `espgate run` with two worker lcores (`workers = [1, 2]`, both on CPU 1 through `--lcores`): gateway A (one
//! worker) encrypts a capture; gateway B reads A's ESP on two rx queues of its outside port (net_pcap gives a queue
//! per `rx_pcap`), the frames of its one inbound SA interleaved over both. Each worker decrypts the half it
//! received (inbound ESP SAs are shared, nothing is handed over), every packet exactly once, and replays on either
//! queue are still caught by the one shared window. A port that cannot have a queue per worker is a clear error
//! naming the interface.
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
const N: usize = 60;

fn mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A gateway config. `a`: gateway A (192.0.2.0/24 inside) or B (203.0.113.0/24); `engine`: the [engine] lines;
/// `inside`, `outside`: the net_pcap devargs after the device name.
fn config(d: &Path, a: bool, engine: &str, inside: &str, outside: &str) -> String {
    let (me, peer, in_addr, net, peer_net, host, in_mac, out_mac, peer_mac, host_mac, spi_in, spi_out) = if a {
        let h = "192.0.2.10";
        (
            "198.51.100.1",
            "198.51.100.2",
            "192.0.2.1/24",
            "192.0.2.0/24",
            "203.0.113.0/24",
            h,
            A_IN,
            A_OUT,
            B_OUT,
            HOST_A,
            0x2001,
            0x1000,
        )
    } else {
        let h = "203.0.113.10";
        (
            "198.51.100.2",
            "198.51.100.1",
            "203.0.113.1/24",
            "203.0.113.0/24",
            "192.0.2.0/24",
            h,
            B_IN,
            B_OUT,
            A_OUT,
            HOST_B,
            0x1000,
            0x2001,
        )
    };
    let (k_in, k_out) = if a { ("33", "11") } else { ("11", "33") };
    let keys = |k: &str| format!("cipher_key = \"{}\", auth_key = \"{}\"", k.repeat(32), k.repeat(32));
    let tag = if a { "a" } else { "b" };
    format!(
        r#"
[engine]
{engine}

[control]
socket = "{d}/{tag}.sock"

[[interface]]
name = "inside"
device = "net_pcap0,{inside}"
address = "{in_addr}"
mac = "{}"

[[interface]]
name = "outside"
device = "net_pcap1,{outside}"
address = "{me}/24"
mac = "{}"
crypto_map = "CM1"

[[neighbor]]
address = "{peer}"
mac = "{}"
interface = "outside"

[[neighbor]]
address = "{host}"
mac = "{}"
interface = "inside"

[[route]]
destination = "{peer_net}"
next_hop = "{peer}"
interface = "outside"

[[transform_set]]
name = "TS1"
esp_encryption = "esp-aes-256"
esp_integrity = "esp-sha256-hmac"
mode = "tunnel"

[[access_list]]
name = "VPN"
entries = [{{ action = "permit", protocol = "ip", source = "{net}", destination = "{peer_net}" }}]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-manual"
peer = "{peer}"
match_address = "VPN"
transform_sets = ["TS1"]
inbound_esp = {{ spi = {spi_in}, {} }}
outbound_esp = {{ spi = {spi_out}, {} }}
"#,
        mac(in_mac),
        mac(out_mac),
        mac(peer_mac),
        mac(host_mac),
        keys(k_in),
        keys(k_out),
        d = d.display(),
    )
}

fn espgate(cfg: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(cfg)
        .args(["--seconds", "2"])
        .output()
        .expect("run espgate");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn counter(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("drop {name}: ")).map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0)
}

/// `field` of the summary line of worker `w` ("  worker 1: rx 3 tx 0 handed-off 3 ...").
fn worker_field(out: &str, w: usize, field: &str) -> Option<u64> {
    let line = out.lines().find_map(|l| l.trim().strip_prefix(&format!("worker {w}: ")))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    words.iter().position(|x| *x == field).and_then(|i| words.get(i + 1)?.parse().ok())
}

/// On a 2-CPU machine lcore 2 has no CPU of its own: `espgate run` maps it onto CPU 1 (`--lcores=0@0,1@1,2@1`).
const TWO_WORKERS: &str = "workers = [1, 2]\ncontrol_core = 0";

#[test]
fn two_workers_process_each_packet_of_an_sa_once() {
    let dir = TempDir::new("workers");
    let d = &dir.0;
    let p = |n: &str| d.join(n).display().to_string();
    let originals: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let payload: Vec<u8> = (0..(i * 23) % 900 + 8).map(|j| (i * 7 + j) as u8).collect();
            udp_frame(A_IN, HOST_A, [192, 0, 2, 10], [203, 0, 113, 10], 64, &payload)
        })
        .collect();
    write_pcap(&d.join("a_in_rx.pcap"), &originals);
    write_pcap(&d.join("a_out_rx.pcap"), &[]);
    let cfg_a = d.join("a.toml");
    let a_in = format!("rx_pcap={},tx_pcap={}", p("a_in_rx.pcap"), p("a_in_tx.pcap"));
    let a_out = format!("rx_pcap={},tx_pcap={}", p("a_out_rx.pcap"), p("a_out_tx.pcap"));
    write_config(&cfg_a, &config(d, true, "workers = [1]\ncontrol_core = 0", &a_in, &a_out));
    let (ok, out_a) = espgate(&cfg_a);
    assert!(ok, "{out_a}");
    let esp = read_pcap(&d.join("a_out_tx.pcap"));
    assert_eq!(esp.len(), N, "{out_a}");

    // B's inbound SPI 0x1000 belongs to worker 0 (0x1000 % 2). Queue 0 gets the even packets, queue 1 the odd
    // ones and a replay of packet 4; queue 0 also replays packet 3.
    let mut q0: Vec<Vec<u8>> = esp.iter().step_by(2).cloned().collect();
    let mut q1: Vec<Vec<u8>> = esp.iter().skip(1).step_by(2).cloned().collect();
    q1.push(esp[4].clone());
    q0.push(esp[3].clone());
    write_pcap(&d.join("b_out_rx0.pcap"), &q0);
    write_pcap(&d.join("b_out_rx1.pcap"), &q1);
    write_pcap(&d.join("b_in_rx0.pcap"), &[]);
    write_pcap(&d.join("b_in_rx1.pcap"), &[]);
    let two = |f: &str| {
        format!(
            "rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}",
            p(&format!("b_{f}_rx0.pcap")),
            p(&format!("b_{f}_rx1.pcap")),
            p(&format!("b_{f}_tx0.pcap")),
            p(&format!("b_{f}_tx1.pcap"))
        )
    };
    let cfg_b = d.join("b.toml");
    write_config(&cfg_b, &config(d, false, TWO_WORKERS, &two("in"), &two("out")));
    let daemon = Command::new(env!("CARGO_BIN_EXE_espgate"))
        .args(["run", "--config"])
        .arg(&cfg_b)
        .args(["--seconds", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `show counters` while it runs: totals over both workers, and each worker's own.
    let mut counters = None;
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let out = Command::new(env!("CARGO_BIN_EXE_espgate"))
            .args(["show", "counters", "--json", "--socket"])
            .arg(d.join("b.sock"))
            .output()
            .unwrap();
        let v: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
        if let Some(v) = v.filter(|v| v["worker"]["rx"] == (N + 2) as u64) {
            counters = Some(v);
            break;
        }
    }
    let out = daemon.wait_with_output().unwrap();
    let out_b = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out_b}");
    let v = counters.unwrap_or_else(|| panic!("show counters never saw every frame received:\n{out_b}"));
    let workers = v["workers"].as_array().expect("a per-worker array");
    assert_eq!(workers.len(), 2, "{v}");
    assert_eq!(workers[0]["rx"].as_u64().unwrap() + workers[1]["rx"].as_u64().unwrap(), (N + 2) as u64, "{v}");
    assert_eq!(v["worker"]["handed_off"], 0, "ESP is opened where it arrived: {v}");
    let clear0 = read_pcap(&d.join("b_in_tx0.pcap"));
    let clear1 = read_pcap(&d.join("b_in_tx1.pcap"));
    assert!(!clear0.is_empty() && !clear1.is_empty(), "both workers decrypt the one SA:\n{out_b}");
    assert_eq!(clear0.len() + clear1.len(), N, "every packet decrypted exactly once:\n{out_b}");
    // Each original exactly once; the queues are read concurrently, so the order across them is free.
    let mut seen = [false; N];
    for got in clear0.iter().chain(&clear1) {
        assert_eq!(&got[0..6], &HOST_B);
        let i = originals.iter().position(|o| o[14 + 12..] == got[14 + 12..]).expect("an original packet");
        assert!(!seen[i], "packet {i} delivered twice");
        seen[i] = true;
        assert_eq!(got[14 + 8], 62, "TTL decremented by each gateway");
    }
    assert_eq!(counter(&out_b, "replay"), 2, "{out_b}");
    for w in 0..2 {
        assert_eq!(worker_field(&out_b, w, "handed-off"), Some(0), "{out_b}");
        assert_eq!(worker_field(&out_b, w, "handoff-received"), Some(0), "{out_b}");
    }
}

#[test]
fn a_port_without_a_queue_per_worker_is_a_clear_error() {
    let dir = TempDir::new("workers-queues");
    let d = &dir.0;
    let p = |n: &str| d.join(n).display().to_string();
    for n in ["in_rx.pcap", "out_rx.pcap"] {
        write_pcap(&d.join(n), &[]);
    }
    let one = |f: &str| format!("rx_pcap={},tx_pcap={}", p(&format!("{f}_rx.pcap")), p(&format!("{f}_tx.pcap")));
    let cfg = d.join("b.toml");
    write_config(&cfg, &config(d, false, TWO_WORKERS, &one("in"), &one("out")));
    let (ok, out) = espgate(&cfg);
    assert!(!ok, "{out}");
    assert!(out.contains("interface \"inside\"") && out.contains("2 rx/tx queues"), "{out}");
}
