//! The whole per-frame pipeline allocates nothing: a counting global allocator watches `Datapath::process` and
//! `send_ip` for ESP, AH and ESP+AH bundles both ways, the drops (replay, tamper, unknown SPI, AH stripped from a
//! bundle), ICMP too-big errors, fragmentation before encryption and the fragment policy table, and punts.
//! One test in this binary, so no other test thread allocates while it measures.
use engine::ah::{InboundAh, OutboundAh};
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
use engine::datapath::ether::{self, EtherType, MacAddr};
use engine::datapath::{frag, Action, Datapath, Interface, Route, Tables};
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::{Mode, SaParams};
use engine::selector::{IpPrefix, TrafficSelector};
use engine::spd::{PolicyAction, Spd, SpdEntry};
use engine::wire::{ipv4, IpProtocol, Spi};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const IN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const OUT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pfx(s: &str, len: u8) -> IpPrefix {
    IpPrefix::new(ip(s), len)
}

#[derive(Clone, Copy)]
enum Kind {
    Esp,
    Ah,
    Bundle,
}

/// A gateway: inside `me_net`/24 on port 0, outside `me_out` on port 1, protecting traffic to `peer_net`/24.
fn gateway(
    kind: Kind,
    me_out: &str,
    peer_out: &str,
    me_net: &str,
    peer_net: &str,
    out_spi: u32,
    in_spi: u32,
) -> Datapath {
    let iface = |name: &str, port, mac, addr, policy| Interface {
        name: name.into(),
        port,
        mac,
        addresses: vec![pfx(addr, 24)],
        mtu: 1500,
        policy,
    };
    let prefix = &me_net[..me_net.len() - 1];
    let (me_in, host) = (format!("{prefix}1"), format!("{prefix}10"));
    let spd = Spd::new(vec![
        SpdEntry {
            selector: TrafficSelector::prefixes(pfx(me_net, 24), pfx(peer_net, 24)),
            action: PolicyAction::Protect(0),
        },
        SpdEntry {
            selector: TrafficSelector::prefixes(pfx("0.0.0.0", 0), pfx("0.0.0.0", 0)),
            action: PolicyAction::Bypass,
        },
    ]);
    let tables = Tables::new(
        vec![iface("inside", 0, IN_MAC, &me_in, None), iface("outside", 1, OUT_MAC, me_out, Some(0))],
        vec![Route { prefix: pfx(peer_net, 24), next_hop: Some(ip(peer_out)), port: 1 }],
        HashMap::from([(ip(peer_out), OUT_MAC), (ip(&host), IN_MAC)]),
        vec![spd],
    );
    let mut dp = Datapath::new(Arc::new(tables), 16);
    let tunnel = Mode::Tunnel { local: ip(me_out), remote: ip(peer_out) };
    let esp = |spi| SaParams::new(Spi(spi), tunnel, E::AesCbc128, &[7; 16], I::HmacSha256_128, &[8; 32]);
    let ah = |spi, mode| SaParams::new(Spi(spi), mode, E::Null, &[], I::HmacSha1_96, &[9; 20]);
    let (ah_in, ah_out) = (in_spi + 0x100, out_spi + 0x100);
    if matches!(kind, Kind::Esp | Kind::Bundle) {
        let mut p = esp(in_spi);
        p.selector = Some(TrafficSelector::prefixes(pfx(peer_net, 24), pfx(me_net, 24)));
        if matches!(kind, Kind::Bundle) {
            p.bundle_ah = Some(Spi(ah_in));
        }
        dp.install_inbound(InboundSa::new(p).unwrap()).unwrap();
        dp.install_outbound(0, Arc::new(OutboundSa::new(esp(out_spi)).unwrap()));
    }
    if matches!(kind, Kind::Ah | Kind::Bundle) {
        let mode = if matches!(kind, Kind::Ah) { tunnel } else { Mode::Transport };
        let mut p = ah(ah_in, mode);
        if matches!(kind, Kind::Bundle) {
            p.bundle_esp = Some(Spi(in_spi));
        }
        dp.install_inbound_ah(InboundAh::new(p).unwrap()).unwrap();
        dp.install_outbound_ah(0, Arc::new(OutboundAh::new(ah(ah_out, mode)).unwrap()));
    }
    dp
}

fn udp_frame(src: &str, dst: &str, len: usize, df: bool) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 28 + len];
    ether::emit(&mut f, IN_MAC, MacAddr([2, 0, 0, 0, 0, 9]), EtherType::IPV4);
    let (IpAddr::V4(s), IpAddr::V4(d)) = (ip(src), ip(dst)) else { unreachable!() };
    let r = ipv4::Repr {
        src_addr: s,
        dst_addr: d,
        protocol: IpProtocol::UDP,
        payload_len: (8 + len) as u16,
        tos: 0,
        ident: 5,
        dont_frag: df,
        ttl: 64,
    };
    r.emit(&mut ipv4::Packet::new_unchecked(&mut f[14..34]));
    f[38..40].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    f
}

#[test]
fn the_datapath_allocates_nothing() {
    let mut pairs: Vec<(Datapath, Datapath)> = [Kind::Esp, Kind::Ah, Kind::Bundle]
        .into_iter()
        .map(|k| {
            (
                gateway(k, "198.51.100.1", "198.51.100.2", "192.0.2.0", "203.0.113.0", 0x1000, 0x2000),
                gateway(k, "198.51.100.2", "198.51.100.1", "203.0.113.0", "192.0.2.0", 0x2000, 0x1000),
            )
        })
        .collect();
    let clear = udp_frame("192.0.2.10", "203.0.113.10", 400, false);
    let big_df = udp_frame("192.0.2.10", "203.0.113.10", 1600, true);
    let big = udp_frame("192.0.2.10", "203.0.113.10", 3000, false);
    let mut arp = vec![0u8; 42];
    ether::emit(&mut arp, MacAddr::BROADCAST, MacAddr([2, 0, 0, 0, 0, 9]), EtherType::ARP);
    // Every buffer exists before the measured region; `reset` refills them in place.
    let mut buf = VecBuf::with_room(&[0u8; 4000], 256, 256);
    let mut keep = VecBuf::with_room(&[0u8; 4000], 256, 256);
    let mut frags: Vec<VecBuf> = (0..4).map(|_| VecBuf::with_room(&[0u8; 1600], 256, 256)).collect();
    let mut results: Vec<Action> = Vec::with_capacity(256);

    let region = Region::new(GLOBAL);
    for (a, b) in pairs.iter_mut() {
        for _ in 0..3 {
            buf.reset(&clear, 256).unwrap();
            results.push(a.process(0, &mut buf));
            keep.reset(buf.data(), 256).unwrap();
            results.push(b.process(1, &mut buf));
            // The same packet again: a replay; a fresh one tampered.
            buf.reset(keep.data(), 256).unwrap();
            results.push(b.process(1, &mut buf));
            buf.reset(&clear, 256).unwrap();
            a.process(0, &mut buf);
            let last = buf.data_len() - 1;
            buf.data_mut()[last] ^= 1;
            results.push(b.process(1, &mut buf));
            // Unknown SPI (the AH SPI sits 4 bytes later than ESP's; corrupt both positions).
            buf.reset(keep.data(), 256).unwrap();
            buf.data_mut()[14 + 23] ^= 0x5a;
            buf.data_mut()[14 + 27] ^= 0x5a;
            results.push(b.process(1, &mut buf));
        }
        // ICMP Fragmentation Needed back to the sender, and fragmentation before encryption.
        buf.reset(&big_df, 256).unwrap();
        results.push(a.process(0, &mut buf));
        buf.reset(&big, 256).unwrap();
        if let Action::Fragment { max_len } = a.process(0, &mut buf) {
            let mut n = 0;
            let r = frag::fragment_v4(buf.data(), usize::from(max_len), |h, d| {
                let f = &mut frags[n];
                if f.reset(h, 256).is_err() || f.append(d.len()).is_err() {
                    return false;
                }
                let hl = h.len();
                f.data_mut()[hl..].copy_from_slice(d);
                results.push(a.send_ip(f));
                results.push(b.process(1, f));
                n += 1;
                true
            });
            assert!(r.is_ok());
        }
        buf.reset(&arp, 256).unwrap();
        results.push(b.process(1, &mut buf));
    }
    let stats = region.change();
    assert_eq!((stats.allocations, stats.reallocations), (0, 0), "allocations on the packet path: {results:?}");

    // And the pipeline did what it should while it was measured.
    let delivered = results.iter().filter(|r| **r == Action::Transmit { port: 0 }).count();
    // Per pair: 3 packets, the ICMP error back to the inside sender, 3 fragments.
    assert_eq!(delivered, 3 * (3 + 1 + 3), "{results:?}");
    let drops = results.iter().filter(|r| matches!(r, Action::Drop(_))).count();
    assert_eq!(drops, 3 * 3 * 3, "replay, tamper and unknown SPI per packet: {results:?}");
}
