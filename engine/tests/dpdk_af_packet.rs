//! Packets cross a veth pair through DPDK's net_af_packet. The test makes a network namespace with the pair,
//! re-runs itself inside it (`ip netns exec`), and removes the namespace afterwards. Needs root (CAP_NET_ADMIN/RAW).
#![cfg(feature = "dpdk")]

use engine::dpdk::{Burst, Eal, Mempool, Port, PortConfig};
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "ESPGATE_TEST_IN_NETNS";
const N: u32 = 2000;

fn ip(ns: Option<&str>, args: &[&str]) {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let st = c.args(args).status().expect("run ip (iproute2)");
    assert!(st.success(), "ip {args:?} failed");
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn frame(seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 64 + (seq as usize % 1000)];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0xbb, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0xaa, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype: the kernel ignores it
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (seq as usize ^ i) as u8;
    }
    f
}

#[test]
fn af_packet_over_veth_in_netns() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    let ns = Netns(format!("egt-afp-{}", std::process::id()));
    ip(None, &["netns", "add", &ns.0]);
    ip(Some(&ns.0), &["link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b"]);
    for l in ["veth-a", "veth-b", "lo"] {
        ip(Some(&ns.0), &["link", "set", l, "up"]);
    }
    // Addresses from the documentation range only; the kernel never routes anything off this pair.
    ip(Some(&ns.0), &["addr", "add", "198.51.100.1/24", "dev", "veth-a"]);
    ip(Some(&ns.0), &["addr", "add", "198.51.100.2/24", "dev", "veth-b"]);
    let exe = std::env::current_exe().unwrap();
    let st = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args(["--exact", "af_packet_over_veth_in_netns", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .status()
        .unwrap();
    assert!(st.success(), "the test inside the namespace failed");
}

fn child() {
    let prefix = format!("--file-prefix=espgate-t-afp-{}", std::process::id());
    let eal = Eal::init(&[
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=*:warning",
        &prefix,
        "--vdev=net_af_packet0,iface=veth-a",
        "--vdev=net_af_packet1,iface=veth-b",
    ])
    .expect("EAL init");
    let pool = Mempool::new(&eal, "afp_pool", 8191, 256, 2176, None).unwrap();
    let cfg = PortConfig::default();
    let a = Port::configure(&eal, Port::id_by_name(&eal, "net_af_packet0").unwrap(), &cfg, &pool).unwrap();
    let b = Port::configure(&eal, Port::id_by_name(&eal, "net_af_packet1").unwrap(), &cfg, &pool).unwrap();
    a.start().unwrap();
    b.start().unwrap();
    let mut tx = a.tx_queue(0).unwrap();
    let mut rx = b.rx_queue(0).unwrap();

    let mut seq = 0;
    let mut next = 0;
    let mut other = 0u64;
    let mut out = Burst::new();
    let mut inb = Burst::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while next < N {
        assert!(Instant::now() < deadline, "only {next} of {N} packets arrived");
        // Keep at most 256 in flight: af_packet's rings are small and drop on overflow.
        while seq < N && seq < next + 256 && !out.is_full() {
            let mut m = pool.alloc().unwrap();
            assert!(m.extend_from_slice(&frame(seq)));
            out.push(m).unwrap();
            seq += 1;
        }
        tx.tx_burst(&mut out);
        rx.rx_burst(&mut inb);
        for m in inb.as_slice() {
            // The kernel may send its own frames (IPv6 ND, ...): count them apart.
            if m.data().get(12..14) != Some(&[0x88, 0xb5]) {
                other += 1;
                continue;
            }
            assert_eq!(m.data(), frame(next).as_slice(), "packet {next} intact and in order");
            next += 1;
        }
        inb.clear();
    }
    let stats = b.stats().unwrap();
    assert_eq!(stats.rx_packets, u64::from(N) + other, "port counted what it received");
    assert!(a.stats().unwrap().tx_packets >= u64::from(N));
}
