//! Two worker lcores over net_ring ports with a queue each, sharing every inbound ESP SA: ESP (also NAT-T ESP) is
//! opened by whichever worker received it, in order, with no handoff; one SA's frames spread over both queues are
//! each delivered exactly once; replays on either queue, and the same frames sent to both workers at once, are
//! dropped by the one shared window. One test in this binary (one EAL per process).
#![cfg(feature = "dpdk")]

use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
use engine::datapath::ether::{self, EtherType, MacAddr};
use engine::datapath::{Datapath, Drop as DropCause, Interface, Tables};
use engine::dpdk::{lcore, Burst, Eal, Mempool, Port, PortConfig, RingPair, RxQueue, TxQueue};
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::{Mode, NatT, SaParams};
use engine::selector::{IpPrefix, TrafficSelector};
use engine::wire::{ipv4, udp, IpProtocol, Spi};
use engine::worker::{self, Channels, Command, WorkerQueues, WorkerStats};
use engine::DropReason;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OUT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const IN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);
const GW: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
const SPI_A: u32 = 0x2000;
const SPI_B: u32 = 0x2001;
/// NAT-T.
const SPI_C: u32 = 0x2003;
const N: u32 = 200;

fn pfx(a: Ipv4Addr, len: u8) -> IpPrefix {
    IpPrefix::new(IpAddr::V4(a), len)
}

fn params(spi: u32, local: Ipv4Addr, remote: Ipv4Addr) -> SaParams {
    let mode = Mode::Tunnel { local: local.into(), remote: remote.into() };
    let mut p = SaParams::new(Spi(spi), mode, E::AesCbc128, &[spi as u8; 16], I::HmacSha256_128, &[9; 32]);
    p.selector = Some(TrafficSelector::prefixes(pfx(REMOTE, 24), pfx(HOST, 24)));
    p
}

/// The gateway: outside (port 0) 198.51.100.1/24, inside (port 2) 192.0.2.1/24 with the host's MAC known.
fn tables(out: u16, inside: u16) -> Arc<Tables> {
    let iface = |name: &str, port, mac, addr| Interface {
        name: name.into(),
        port,
        mac,
        addresses: vec![pfx(addr, 24)],
        mtu: 1500,
        policy: None,
    };
    // Interfaces are indexed by port id: port 1, the peer's end of the outside cable, is not the gateway's.
    assert_eq!((out, inside), (0, 2));
    let mut unused = iface("unused", 1, MacAddr([2, 0, 0, 0, 0, 0x0f]), GW);
    unused.addresses.clear();
    let inside_addr = Ipv4Addr::new(192, 0, 2, 1);
    let ifaces = vec![iface("outside", out, OUT_MAC, GW), unused, iface("inside", inside, IN_MAC, inside_addr)];
    Arc::new(Tables::new(ifaces, vec![], HashMap::from([(IpAddr::V4(HOST), HOST_MAC)]), vec![]))
}

/// An ESP frame from the peer for `sa`, carrying a UDP datagram tagged with (`tag`, `seq`).
fn esp_frame(sa: &OutboundSa, tag: u8, seq: u32) -> Vec<u8> {
    let mut inner = vec![0u8; 20 + 8 + 16];
    inner[28] = tag;
    inner[29..33].copy_from_slice(&seq.to_be_bytes());
    // UDP checksum 0: none (IPv4).
    udp::Repr { src_port: 1000 + u16::from(tag), dst_port: 5678, payload_len: 16 }
        .emit(&mut udp::Packet::new_unchecked(&mut inner[20..]));
    ipv4::Repr {
        src_addr: REMOTE,
        dst_addr: HOST,
        protocol: IpProtocol::UDP,
        payload_len: 24,
        tos: 0,
        ident: seq as u16,
        dont_frag: true,
        ttl: 64,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut inner[..]));
    let mut b = VecBuf::with_room(&inner, 128, 128);
    sa.protect(&mut b).0.expect("protect");
    b.prepend(ether::HEADER_LEN).unwrap();
    ether::emit(b.data_mut(), OUT_MAC, MacAddr([2, 0, 0, 0, 0, 9]), EtherType::IPV4);
    b.data().to_vec()
}

/// (tag, seq) of a decrypted frame delivered to the host.
fn tag_seq(frame: &[u8]) -> (u8, u32) {
    assert_eq!(&frame[..6], &HOST_MAC.0, "to the host");
    let p = &frame[14 + 28..];
    (p[0], u32::from_be_bytes([p[1], p[2], p[3], p[4]]))
}

fn send(pool: &Mempool, tx: &mut TxQueue, frames: &[Vec<u8>]) {
    for chunk in frames.chunks(32) {
        let mut b = Burst::new();
        for f in chunk {
            let mut m = pool.alloc().expect("pool has room");
            assert!(m.extend_from_slice(f));
            b.push(m).unwrap();
        }
        while !b.is_empty() {
            tx.tx_burst(&mut b);
        }
    }
}

/// Everything the host receives on its two queues until `want` frames came or a second of silence.
fn collect(rx: &mut [RxQueue], want: usize) -> [Vec<(u8, u32)>; 2] {
    let mut got: [Vec<(u8, u32)>; 2] = [Vec::new(), Vec::new()];
    let mut b = Burst::new();
    let mut last = Instant::now();
    while got[0].len() + got[1].len() < want && last.elapsed() < Duration::from_secs(1) {
        for (q, r) in rx.iter_mut().enumerate() {
            if r.rx_burst(&mut b) > 0 {
                last = Instant::now();
                got[q].extend(b.as_slice().iter().map(|m| tag_seq(m.data())));
                b.clear();
            }
        }
    }
    // Anything beyond `want` (a frame processed twice) would arrive shortly after.
    std::thread::sleep(Duration::from_millis(100));
    for (q, r) in rx.iter_mut().enumerate() {
        while r.rx_burst(&mut b) > 0 {
            got[q].extend(b.as_slice().iter().map(|m| tag_seq(m.data())));
            b.clear();
        }
    }
    got
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(5), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn every_worker_opens_every_inbound_sa() {
    let prefix = format!("--file-prefix=espgate-t-workers-{}", std::process::id());
    // Two worker lcores; on a 2-CPU machine they share CPU 1.
    let eal = Eal::init(&[
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=*:warning",
        "--lcores=0@0,1@1,2@1",
        &prefix,
    ])
    .expect("EAL init");
    let lcores = eal.worker_lcores();
    assert_eq!(lcores.len(), 2, "{lcores:?}");
    let pool = Mempool::new(&eal, "workers_pool", 8191, 256, 2176, None).unwrap();
    // Created first, so the outside cable has port ids 0 (gateway) and 1 (peer), the inside one 2 (gateway) and 3
    // (host). Workers poll rx queue 0/1 of the gateway's outside port and send on queue 0/1 of the inside port.
    // The workers' tx vectors are indexed by port id, so each also holds a tx queue of the peer's port (1), one it
    // never sends on: queues 2 and 3 there, leaving 0 and 1 to the test, which reach the gateway's rx queues 0 and 1.
    let outside = RingPair::new(&eal, "wout", 4, 1024).unwrap();
    let inside = RingPair::new(&eal, "win", 2, 1024).unwrap();
    assert_eq!((outside.a, outside.b, inside.a, inside.b), (0, 1, 2, 3));
    let cfg4 = PortConfig { rx_queues: 4, tx_queues: 4, ..PortConfig::default() };
    let cfg2 = PortConfig { rx_queues: 2, tx_queues: 2, ..PortConfig::default() };
    let ports: Vec<Port> = [(outside.a, &cfg4), (outside.b, &cfg4), (inside.a, &cfg2), (inside.b, &cfg2)]
        .iter()
        .map(|&(id, c)| Port::configure(&eal, id, c, &pool).unwrap())
        .collect();
    for p in &ports {
        p.start().unwrap();
    }
    let t = tables(outside.a, inside.a);

    let chans = Channels::for_workers(2, 1024);
    assert!(chans.iter().all(|c| Arc::ptr_eq(&c.tap, &chans[0].tap)), "one tap for all workers");
    let stop = Arc::new(AtomicBool::new(false));
    let stats: Vec<Arc<WorkerStats>> = (0..2).map(|_| Arc::new(WorkerStats::default())).collect();
    let mut handles = Vec::new();
    for (w, ch) in chans.iter().enumerate() {
        let q = w as u16;
        let tx = vec![ports[0].tx_queue(q).unwrap(), ports[1].tx_queue(2 + q).unwrap(), ports[2].tx_queue(q).unwrap()];
        let queues = WorkerQueues { rx: vec![ports[0].rx_queue(q).unwrap()], tx };
        let dp = Datapath::new(t.clone(), 16);
        let (ch, st, stop) = (ch.clone(), stats[w].clone(), stop.clone());
        handles.push(lcore::launch(lcores[w], move || drop(worker::run(dp, queues, ch, &st, &stop))).unwrap());
    }
    // Dropped before the handles: a failed assertion must stop the workers, or waiting for them never ends.
    let _guard = StopOnDrop(stop.clone());

    // Each inbound SA goes to both workers, as one shared SA (the daemon's command router does the same).
    let install = |sa: InboundSa| {
        let sa = Arc::new(sa);
        for c in &chans {
            assert!(c.commands.push(Command::InstallInbound(sa.clone())).is_ok());
        }
    };
    install(InboundSa::new(params(SPI_A, GW, PEER)).unwrap());
    install(InboundSa::new(params(SPI_B, GW, PEER)).unwrap());
    wait_until("the installs", || chans.iter().all(|c| c.commands.is_empty()));
    assert!(chans.iter().all(|c| c.retired.is_empty()), "an install was refused");

    let peer_a = OutboundSa::new(params(SPI_A, PEER, GW)).unwrap();
    let peer_b = OutboundSa::new(params(SPI_B, PEER, GW)).unwrap();
    let a: Vec<Vec<u8>> = (0..3 * N).map(|s| esp_frame(&peer_a, 0xa, s)).collect();
    let b: Vec<Vec<u8>> = (0..2 * N).map(|s| esp_frame(&peer_b, 0xb, s)).collect();
    let mut tx0 = ports[1].tx_queue(0).unwrap();
    let mut tx1 = ports[1].tx_queue(1).unwrap();
    let mut host = [ports[3].rx_queue(0).unwrap(), ports[3].rx_queue(1).unwrap()];
    let replay = DropCause::Ipsec(DropReason::Replay);
    let replays = || stats.iter().map(|s| s.drop_count(replay)).sum::<u64>();

    // 1. Each SA's frames on one queue: opened by the worker that received them, in order, nothing handed over.
    send(&pool, &mut tx0, &b[..N as usize]);
    send(&pool, &mut tx1, &a[..N as usize]);
    let got = collect(&mut host, 2 * N as usize);
    let want = |tag, r: std::ops::Range<u32>| r.map(|s| (tag, s)).collect::<Vec<_>>();
    assert_eq!(got[0], want(0xb, 0..N), "B, received by worker 0, leaves by queue 0 in order");
    assert_eq!(got[1], want(0xa, 0..N), "A, received by worker 1, leaves by queue 1 in order");
    for s in &stats {
        assert_eq!(s.handed_off.load(Relaxed), 0, "ESP is never handed over");
    }

    // 2. Replays, on either queue, are dropped by the shared window, whichever worker saw the original.
    send(&pool, &mut tx0, &b[..50]);
    send(&pool, &mut tx1, &b[50..100]);
    send(&pool, &mut tx0, &a[..50]);
    let got = collect(&mut host, 1);
    assert!(got[0].is_empty() && got[1].is_empty(), "replays delivered: {got:?}");
    assert_eq!(replays(), 150, "every replay dropped once");
    assert_eq!(stats[1].drop_count(replay), 50, "B's replays that came to worker 1, which never saw B before");

    // 3. One SA's frames interleaved over both queues: each decrypted exactly once, by both workers.
    for (i, f) in b[N as usize..].chunks(8).enumerate() {
        send(&pool, if i % 2 == 0 { &mut tx0 } else { &mut tx1 }, f);
    }
    let got = collect(&mut host, N as usize);
    assert!(!got[0].is_empty() && !got[1].is_empty(), "both workers opened B: {} / {}", got[0].len(), got[1].len());
    let mut seqs: Vec<u32> = got.iter().flatten().map(|&(tag, s)| if tag == 0xb { s } else { u32::MAX }).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (N..2 * N).collect::<Vec<_>>(), "each frame exactly once");
    assert_eq!(replays(), 150, "no frame of the interleaved run counted as a replay");

    // 4. The same frames sent to both workers at once: each sequence number gets through exactly once, the other
    //    copy is a replay (checked before crypto, or when the window records it after the other worker did).
    let dup = &a[N as usize..3 * N as usize];
    for f in dup.chunks(16) {
        send(&pool, &mut tx0, f);
        send(&pool, &mut tx1, f);
    }
    let got = collect(&mut host, dup.len());
    let mut seqs: Vec<u32> = got.iter().flatten().map(|&(tag, s)| if tag == 0xa { s } else { u32::MAX }).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (N..3 * N).collect::<Vec<_>>(), "each duplicated frame delivered exactly once");
    assert_eq!(replays(), 150 + dup.len() as u64, "the other copy of each was a replay");

    // 5. ESP in UDP 4500 (NAT-T) is opened where it arrived too.
    let nat_t = |local, remote| {
        let mut p = params(SPI_C, local, remote);
        p.nat_t = Some(NatT::default());
        p
    };
    install(InboundSa::new(nat_t(GW, PEER)).unwrap());
    wait_until("the NAT-T install", || chans.iter().all(|c| c.commands.is_empty()));
    let peer_c = OutboundSa::new(nat_t(PEER, GW)).unwrap();
    let frames: Vec<Vec<u8>> = (0..50).map(|s| esp_frame(&peer_c, 0xc, s)).collect();
    assert_eq!(frames[0][14 + 9], 17, "UDP-encapsulated");
    send(&pool, &mut tx0, &frames);
    let got = collect(&mut host, 50);
    assert!(got[1].is_empty(), "{:?}", got[1]);
    assert_eq!(got[0], want(0xc, 0..50), "C, received by worker 0, decrypted there in order");
    for s in &stats {
        assert_eq!(s.handed_off.load(Relaxed), 0);
    }

    stop.store(true, Relaxed);
    for h in handles {
        h.join().expect("worker");
    }
    drop((tx0, tx1, host));
    for c in &chans {
        while c.retired.pop().is_some() {}
        assert!(c.handoff.pending(c.worker) == 0, "nothing left in an inbox");
    }
    drop(chans);
    drop(ports);
    assert_eq!(pool.in_use(), 0, "every mbuf back in the pool");
}
