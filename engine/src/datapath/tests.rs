//! Two gateways back to back, in memory: a host's packet goes into A in clear, leaves A in ESP, enters B and
//! leaves B in clear; and the ways a frame is punted or dropped on the way.
use super::ether::{self, EtherType, MacAddr};
use super::*;
use crate::buf::VecBuf;
use crate::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
use crate::sa::{Mode, SaParams};
use crate::selector::{IpPrefix, TrafficSelector};
use crate::spd::{Spd, SpdEntry};
use crate::wire::checksum::checksum;
use std::collections::HashMap;

pub(super) const A_IN: MacAddr = MacAddr([2, 0, 0, 0, 0xa, 0]);
const A_OUT: MacAddr = MacAddr([2, 0, 0, 0, 0xa, 1]);
pub(super) const B_IN: MacAddr = MacAddr([2, 0, 0, 0, 0xb, 0]);
pub(super) const B_OUT: MacAddr = MacAddr([2, 0, 0, 0, 0xb, 1]);
const HOST_A: MacAddr = MacAddr([2, 0, 0, 0, 0xc, 1]);
const HOST_B: MacAddr = MacAddr([2, 0, 0, 0, 0xc, 2]);

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn pfx(s: &str, len: u8) -> IpPrefix {
    IpPrefix::new(ip(s), len)
}

/// An Ethernet frame carrying IPv4/UDP.
pub(super) fn udp_frame(
    dst_mac: MacAddr,
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + payload.len()];
    ether::emit(&mut f, dst_mac, HOST_A, EtherType::IPV4);
    let total = (20 + 8 + payload.len()) as u16;
    let h = &mut f[14..34];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[8] = ttl;
    h[9] = 17;
    let (IpAddr::V4(s), IpAddr::V4(d)) = (ip(src), ip(dst)) else { unreachable!() };
    h[12..16].copy_from_slice(&s.octets());
    h[16..20].copy_from_slice(&d.octets());
    let c = checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f[42..].copy_from_slice(payload);
    f
}

pub(super) struct Gw {
    pub(super) dp: Datapath,
}

/// One side of the tunnel: a gateway's two ports and the host and subnet behind it.
struct Side {
    in_mac: MacAddr,
    out_mac: MacAddr,
    in_addr: &'static str,
    out_addr: &'static str,
    host: &'static str,
    host_mac: MacAddr,
    net: &'static str,
}

const SIDE_A: Side = Side {
    in_mac: A_IN,
    out_mac: A_OUT,
    in_addr: "192.0.2.1",
    out_addr: "198.51.100.1",
    host: "192.0.2.10",
    host_mac: HOST_A,
    net: "192.0.2.0",
};
const SIDE_B: Side = Side {
    in_mac: B_IN,
    out_mac: B_OUT,
    in_addr: "203.0.113.1",
    out_addr: "198.51.100.2",
    host: "203.0.113.10",
    host_mac: HOST_B,
    net: "203.0.113.0",
};

/// Gateway `me` with `inside` on port 0 and `outside` on port 1, protecting its subnet <-> the peer's with AES-GCM.
fn gateway(me: &Side, peer: &Side, spi_out: u32, spi_in: u32) -> Gw {
    let policy = Spd::new(vec![
        SpdEntry {
            selector: TrafficSelector::prefixes(pfx(me.net, 24), pfx(peer.net, 24)),
            action: PolicyAction::Protect(0),
        },
        SpdEntry {
            selector: TrafficSelector::prefixes(pfx("0.0.0.0", 0), pfx("0.0.0.0", 0)),
            action: PolicyAction::Bypass,
        },
    ]);
    let iface = |name: &str, port, mac, addr, policy| Interface {
        name: name.into(),
        port,
        mac,
        addresses: vec![pfx(addr, 24)],
        mtu: 1500,
        policy,
    };
    let interfaces =
        vec![iface("inside", 0, me.in_mac, me.in_addr, None), iface("outside", 1, me.out_mac, me.out_addr, Some(0))];
    let routes = vec![Route { prefix: pfx(peer.net, 24), next_hop: Some(ip(peer.out_addr)), port: 1 }];
    let neighbors = HashMap::from([(ip(peer.out_addr), peer.out_mac), (ip(me.host), me.host_mac)]);
    let tables = Arc::new(Tables::new(interfaces, routes, neighbors, vec![policy]));
    let mut dp = Datapath::new(tables, 1024);
    let key = [0x11u8; 20]; // AES-128 key + 4-byte GCM salt
    let tunnel = Mode::Tunnel { local: ip(me.out_addr), remote: ip(peer.out_addr) };
    let gcm = EncryptionAlgorithm::AesGcm128;
    let out = SaParams::new(Spi(spi_out), tunnel, gcm, &key, IntegrityAlgorithm::None, &[]);
    let mut inb = SaParams::new(Spi(spi_in), tunnel, gcm, &key, IntegrityAlgorithm::None, &[]);
    inb.selector = Some(TrafficSelector::prefixes(pfx(peer.net, 24), pfx(me.net, 24)));
    dp.install_outbound(0, Arc::new(OutboundSa::new(out).unwrap()));
    dp.install_inbound(InboundSa::new(inb).unwrap()).unwrap();
    Gw { dp }
}

pub(super) fn pair() -> (Gw, Gw) {
    (gateway(&SIDE_A, &SIDE_B, 0x1000, 0x2000), gateway(&SIDE_B, &SIDE_A, 0x2000, 0x1000))
}

#[test]
fn clear_to_esp_to_clear_both_ways() {
    let (mut a, mut b) = pair();
    let payload = b"espgate datapath test payload";
    let orig = udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1234, 5678, 64, payload);
    let mut buf = VecBuf::new(&orig);
    assert_eq!(a.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    let wire = buf.data().to_vec();
    let eth = ether::parse(&wire).unwrap();
    assert_eq!((eth.dst, eth.src), (B_OUT, A_OUT));
    assert_eq!(wire[14 + 9], 50, "ESP");
    assert_eq!(&wire[14 + 20..14 + 24], &0x1000u32.to_be_bytes());
    assert!(!wire.windows(payload.len()).any(|w| w == payload), "payload is encrypted");

    assert_eq!(b.dp.process(1, &mut buf), Action::Transmit { port: 0 });
    let out = buf.data();
    assert_eq!(ether::parse(out).unwrap().dst, HOST_B);
    assert_eq!(out[14 + 8], 62, "TTL decremented once by each gateway");
    assert_eq!(&out[42..], payload);
    assert_eq!(checksum(&out[14..34]), 0, "IPv4 header checksum still valid");
    assert_eq!(b.dp.inbound(Spi(0x1000)).unwrap().counters().snapshot().packets, 1);

    // The same ESP frame again: a replay.
    let mut again = VecBuf::new(&wire);
    assert_eq!(b.dp.process(1, &mut again), Action::Drop(Drop::Ipsec(DropReason::Replay)));
    // Tampered ciphertext (of a fresh packet: the replay check comes before the ICV).
    let mut fresh = VecBuf::new(&orig);
    assert_eq!(a.dp.process(0, &mut fresh), Action::Transmit { port: 1 });
    let mut t = fresh.data().to_vec();
    t[60] ^= 1;
    let mut tb = VecBuf::new(&t);
    assert_eq!(b.dp.process(1, &mut tb), Action::Drop(Drop::Ipsec(DropReason::AuthFailed)));
    // Unknown SPI.
    let mut u = wire.clone();
    u[14 + 23] ^= 0x55;
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&u)), Action::Drop(Drop::Ipsec(DropReason::NoSa)));

    // Reverse direction.
    let back = udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 5678, 1234, 64, payload);
    let mut buf = VecBuf::new(&back);
    assert_eq!(b.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    assert_eq!(a.dp.process(1, &mut buf), Action::Transmit { port: 0 });
    assert_eq!(&buf.data()[42..], payload);
}

#[test]
fn punts_and_drops() {
    let (_, mut b) = pair();
    let run = |b: &mut Gw, port, f: Vec<u8>| b.dp.process(port, &mut VecBuf::new(&f));
    // IKE on 500 and behind the non-ESP marker on 4500; a NAT-T keepalive.
    let ike = udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 500, 500, 64, &[0u8; 28]);
    assert_eq!(run(&mut b, 1, ike), Action::Punt(PuntKind::Ike));
    let mut marked = vec![0u8; 4];
    marked.extend_from_slice(&[0xaa; 28]);
    let ike4500 = udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 4500, 4500, 64, &marked);
    assert_eq!(run(&mut b, 1, ike4500), Action::Punt(PuntKind::Ike));
    let ka = udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 4500, 4500, 64, &[0xff]);
    assert_eq!(run(&mut b, 1, ka), Action::Punt(PuntKind::NatKeepalive));
    // ESP in UDP 4500 for an SPI nobody has.
    let esp_udp =
        udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 4500, 4500, 64, &[0, 0, 0x77, 0x77, 0, 0, 0, 1, 9, 9]);
    assert_eq!(run(&mut b, 1, esp_udp), Action::Drop(Drop::Ipsec(DropReason::NoSa)));
    // Other UDP to us.
    let dns = udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 53, 53, 64, &[1, 2, 3]);
    assert_eq!(run(&mut b, 1, dns), Action::Drop(Drop::LocalUnhandled));
    // ARP.
    let mut arp = vec![0u8; 42];
    ether::emit(&mut arp, MacAddr::BROADCAST, A_OUT, EtherType::ARP);
    assert_eq!(run(&mut b, 1, arp), Action::Punt(PuntKind::Arp));
    // A frame for another MAC, an unknown EtherType, a runt.
    let other = udp_frame(MacAddr([2, 9, 9, 9, 9, 9]), "198.51.100.1", "198.51.100.2", 500, 500, 64, &[0; 8]);
    assert_eq!(run(&mut b, 1, other), Action::Drop(Drop::NotForUs));
    let mut vlan = udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 500, 500, 64, &[0; 8]);
    vlan[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    assert_eq!(run(&mut b, 1, vlan), Action::Drop(Drop::UnsupportedEtherType));
    assert_eq!(run(&mut b, 1, vec![0u8; 10]), Action::Drop(Drop::Malformed));
    let mut bad_ip = udp_frame(B_OUT, "198.51.100.1", "198.51.100.2", 500, 500, 64, &[0; 8]);
    bad_ip[14] = 0x41; // IHL 1
    assert_eq!(run(&mut b, 1, bad_ip), Action::Drop(Drop::Malformed));
    // Cleartext from outside for the protected subnets.
    let clear = udp_frame(B_OUT, "192.0.2.10", "203.0.113.10", 1, 2, 64, &[0; 8]);
    assert_eq!(run(&mut b, 1, clear), Action::Drop(Drop::CleartextOnProtected));
    // Inside traffic with TTL 1, to an address with no route, and to an inside host with no known MAC.
    let ttl1 = udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 1, &[0; 8]);
    assert_eq!(run(&mut b, 0, ttl1), Action::Drop(Drop::Ttl));
    let noroute = udp_frame(B_IN, "203.0.113.10", "203.0.114.1", 1, 2, 64, &[0; 8]);
    assert_eq!(run(&mut b, 0, noroute), Action::Drop(Drop::NoRoute));
    let unresolved = udp_frame(B_OUT, "198.51.100.1", "203.0.113.77", 1, 2, 64, &[0; 8]);
    assert_eq!(run(&mut b, 1, unresolved), Action::Punt(PuntKind::Resolve { port: 0, next_hop: ip("203.0.113.77") }));
    // Outbound SA removed: protected traffic goes to the control thread as an acquire (which starts IKE), up to
    // the acquire burst; beyond it, it is a no-outbound-sa drop.
    b.dp.remove_outbound(0);
    let inside = udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &[0; 8]);
    for _ in 0..super::ACQUIRE_BURST {
        assert_eq!(run(&mut b, 0, inside.clone()), Action::Punt(PuntKind::Acquire { handle: 0 }));
    }
    assert_eq!(run(&mut b, 0, inside), Action::Drop(Drop::NoOutboundSa));
    // Too big for the egress MTU without DF: the worker fragments it.
    let big = udp_frame(B_OUT, "198.51.100.1", "203.0.113.10", 1, 2, 64, &[0; 1600]);
    assert_eq!(run(&mut b, 1, big), Action::Fragment { max_len: 1500 });
}

pub(super) fn with_df(mut f: Vec<u8>) -> Vec<u8> {
    f[14 + 6] |= 0x40;
    f[14 + 10..14 + 12].fill(0);
    let c = checksum(&f[14..34]);
    f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn too_big_with_df_gets_icmp_and_protected_path_accounts_for_overhead() {
    let (_, mut b) = pair();
    // Plain egress: 1600 bytes with DF toward the inside network: ICMP back to the sender on the outside.
    let big = with_df(udp_frame(B_OUT, "198.51.100.1", "203.0.113.10", 1, 2, 64, &[0; 1600]));
    let mut buf = VecBuf::new(&big);
    assert_eq!(b.dp.process(1, &mut buf), Action::Transmit { port: 1 });
    let f = buf.data();
    assert_eq!(ether::parse(f).unwrap().dst, A_OUT);
    assert_eq!((f[14 + 9], f[34], f[35]), (1, 3, 4), "ICMP fragmentation needed");
    assert_eq!(u16::from_be_bytes([f[40], f[41]]), 1500);
    assert_eq!(&f[14 + 12..14 + 16], &[198, 51, 100, 2], "from our outside address");
    assert_eq!(b.dp.errors_sent(), 1);

    // Into the tunnel: the MTU announced is the largest inner packet that still fits once encapsulated.
    let big = with_df(udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &[0; 1472]));
    let mut buf = VecBuf::new(&big);
    assert_eq!(b.dp.process(0, &mut buf), Action::Transmit { port: 0 });
    let f = buf.data();
    assert_eq!(ether::parse(f).unwrap().dst, HOST_B);
    let announced = usize::from(u16::from_be_bytes([f[40], f[41]]));
    assert!((1400..1500).contains(&announced), "{announced}");
    let fits = with_df(udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &vec![0; announced - 28]));
    assert_eq!(b.dp.process(0, &mut VecBuf::new(&fits)), Action::Transmit { port: 1 });
    let over = with_df(udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &vec![0; announced - 27]));
    assert_eq!(b.dp.process(0, &mut VecBuf::new(&over)), Action::Transmit { port: 0 }, "ICMP again");
    // Without DF the same packet is fragmented to the announced size.
    let nodf = udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &vec![0; announced - 27]);
    assert_eq!(b.dp.process(0, &mut VecBuf::new(&nodf)), Action::Fragment { max_len: announced as u16 });
}

#[test]
fn fragments_go_through_the_tunnel_and_arrive_whole() {
    let (mut a, mut b) = pair();
    let payload: Vec<u8> = (0..3000).map(|i| i as u8).collect();
    let big = udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1, 2, 64, &payload);
    let mut buf = VecBuf::new(&big);
    let Action::Fragment { max_len } = a.dp.process(0, &mut buf) else { panic!("expected fragmentation") };
    let mut data = Vec::new();
    let mut n = 0;
    frag::fragment_v4(buf.data(), usize::from(max_len), |h, d| {
        let mut f = VecBuf::new(&[h, d].concat());
        assert_eq!(a.dp.send_ip(&mut f), Action::Transmit { port: 1 }, "each fragment fits once encrypted");
        assert!(f.data_len() <= 14 + 1500);
        assert_eq!(b.dp.process(1, &mut f), Action::Transmit { port: 0 });
        let ip = &f.data()[14..];
        assert_eq!(ip[8], 62);
        data.extend_from_slice(&ip[usize::from(ip[0] & 0xf) * 4..]);
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(&data[8..], &payload[..], "UDP header and payload reassemble");
}

#[test]
fn drop_indexes_are_dense_and_unique() {
    let all: Vec<Drop> = Drop::all().collect();
    assert_eq!(all.len(), Drop::COUNT);
    for (i, d) in all.iter().enumerate() {
        assert_eq!(d.index(), i, "{d:?}");
    }
    let names: std::collections::HashSet<_> = all.iter().map(|d| d.name()).collect();
    assert_eq!(names.len(), Drop::COUNT);
}

#[test]
fn multicast_nd_is_punted_and_broadcast_dropped() {
    let (_, mut b) = pair();
    // An IPv6 Neighbor Solicitation to a solicited-node group (33:33:ff:.. Ethernet group address).
    let mut ns = vec![0u8; 14 + 40 + 32];
    ether::emit(&mut ns, MacAddr([0x33, 0x33, 0xff, 0, 0, 2]), A_OUT, EtherType::IPV6);
    ns[14] = 0x60;
    ns[14 + 4..14 + 6].copy_from_slice(&32u16.to_be_bytes());
    ns[14 + 6] = 58;
    ns[14 + 7] = 255;
    ns[14 + 24..14 + 40].copy_from_slice(&"ff02::1:ff00:2".parse::<std::net::Ipv6Addr>().unwrap().octets());
    ns[14 + 40] = 135;
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&ns)), Action::Punt(PuntKind::Icmp));
    let bcast = udp_frame(MacAddr::BROADCAST, "198.51.100.1", "255.255.255.255", 67, 68, 64, &[0; 8]);
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&bcast)), Action::Drop(Drop::LocalUnhandled));
}

#[test]
fn lifetime_events_reach_the_worker_and_hard_stops_the_sa() {
    let (mut a, mut b) = pair();
    // Replace B's inbound SA with one that is soft at 2 packets and hard at 3.
    let inb = b.dp.remove_inbound(Spi(0x1000)).unwrap();
    let mut p = inb.params().clone();
    p.lifetime.soft_packets = 2;
    p.lifetime.hard_packets = 3;
    b.dp.install_inbound(InboundSa::new(p).unwrap()).unwrap();
    let mut events = Vec::new();
    for i in 0..4 {
        let mut f = VecBuf::new(&udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1, 2, 64, &[i; 20]));
        assert_eq!(a.dp.process(0, &mut f), Action::Transmit { port: 1 });
        let r = b.dp.process(1, &mut f);
        if i < 3 {
            assert_eq!(r, Action::Transmit { port: 0 }, "packet {i}");
        } else {
            assert_eq!(r, Action::Drop(Drop::Ipsec(DropReason::SaExpired)));
        }
        b.dp.take_events(|e| events.push((i, e)));
    }
    use crate::sa::{LifetimeEvent, LimitKind};
    assert_eq!(
        events,
        vec![
            (1, LifetimeEvent::Soft { spi: Spi(0x1000), limit: LimitKind::Packets }),
            (2, LifetimeEvent::Hard { spi: Spi(0x1000), limit: LimitKind::Packets }),
        ]
    );
    assert_eq!(b.dp.events_lost(), 0);
}

/// The worker's two-pass path (stage a burst, then seal or open each SA's frames together) gives the same frames
/// as one-by-one processing, keeps each SA's order, and leaves frames that need no crypto to the first pass.
#[test]
fn staged_burst_equals_one_by_one() {
    let (mut a1, mut b1) = pair();
    let (mut a2, mut b2) = pair();
    let frames: Vec<Vec<u8>> =
        (0..12u16).map(|i| udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1000 + i, 5678, 64, &[i as u8; 40])).collect();
    // One by one.
    let mut wire_one = Vec::new();
    for f in &frames {
        let mut b = VecBuf::new(f);
        assert_eq!(a1.dp.process(0, &mut b), Action::Transmit { port: 1 });
        wire_one.push(b.data().to_vec());
    }
    // Staged: a cleartext frame to the gateway itself (ICMP is punted) sits in the middle of the burst.
    let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::new(f)).collect();
    let mut ping = udp_frame(A_IN, "192.0.2.10", "192.0.2.1", 1, 2, 64, &[0; 8]);
    ping[14 + 9] = 1;
    ping[24..26].fill(0);
    let c = checksum(&ping[14..34]);
    ping[24..26].copy_from_slice(&c.to_be_bytes());
    let mut pb = VecBuf::new(&ping);
    assert_eq!(a2.dp.process_staged(0, &mut pb), Staged::Done(Action::Punt(PuntKind::Icmp)));
    let mut ports = Vec::new();
    for b in bufs.iter_mut() {
        match a2.dp.process_staged(0, b) {
            Staged::Crypto(Deferred::Seal { handle: 0, port }) => ports.push(port),
            other => panic!("{other:?}"),
        }
    }
    let mut actions = vec![Action::Drop(Drop::NoRoute); bufs.len()];
    a2.dp.seal_group(0, &mut bufs, &ports, &mut actions);
    assert!(actions.iter().all(|a| *a == Action::Transmit { port: 1 }));
    let wire_staged: Vec<Vec<u8>> = bufs.iter().map(|b| b.data().to_vec()).collect();
    assert_eq!(wire_one, wire_staged, "same sequence numbers, same ciphertext");

    // B opens them: one by one on b1, as a group on b2 (ESP frames arrive addressed to B's outside port).
    let mut clear_one = Vec::new();
    for w in &wire_one {
        let mut b = VecBuf::new(w);
        ether::emit(b.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
        assert_eq!(b1.dp.process(1, &mut b), Action::Transmit { port: 0 });
        clear_one.push(b.data().to_vec());
    }
    let mut bufs: Vec<VecBuf> = wire_staged.iter().map(|w| VecBuf::new(w)).collect();
    for b in bufs.iter_mut() {
        ether::emit(b.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
        assert_eq!(b2.dp.process_staged(1, b), Staged::Crypto(Deferred::Open { spi: Spi(0x1000) }));
    }
    // The last frame is tampered with: only it is dropped, for its ICV.
    let last = bufs.last_mut().unwrap();
    let n = last.data().len();
    last.data_mut()[n - 1] ^= 1;
    let mut actions = vec![Action::Drop(Drop::NoRoute); bufs.len()];
    b2.dp.open_group(Spi(0x1000), &mut bufs, &mut actions);
    for (i, (a, b)) in actions.iter().zip(&bufs).enumerate() {
        if i + 1 == bufs.len() {
            assert_eq!(*a, Action::Drop(Drop::Ipsec(crate::drop::DropReason::AuthFailed)));
        } else {
            assert_eq!(*a, Action::Transmit { port: 0 });
            assert_eq!(b.data(), &clear_one[i][..]);
        }
    }
    // Replaying the group: every frame is a replay now (the tampered one was never accepted, so it is new but
    // still fails its ICV).
    let mut again: Vec<VecBuf> = wire_staged[..3].iter().map(|w| VecBuf::new(w)).collect();
    for b in again.iter_mut() {
        ether::emit(b.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
        assert!(matches!(b2.dp.process_staged(1, b), Staged::Crypto(_)));
    }
    let mut actions = vec![Action::Drop(Drop::NoRoute); 3];
    b2.dp.open_group(Spi(0x1000), &mut again, &mut actions);
    assert!(actions.iter().all(|a| *a == Action::Drop(Drop::Ipsec(crate::drop::DropReason::Replay))), "{actions:?}");
}

/// A host behind A pings B's inside address across the tunnel: B answers, and the reply goes back through the
/// tunnel in ESP (not out of a port in clear); other traffic to B itself out of the tunnel is a counted drop.
#[test]
fn ping_of_the_peer_gateway_across_the_tunnel_is_answered_through_it() {
    let (mut a, mut b) = pair();
    let mut req = udp_frame(A_IN, "192.0.2.10", "203.0.113.1", 0, 0, 64, &[0xab; 24]);
    // ICMP echo request, id 0x1234, seq 1, payload 0xab...
    req[14 + 9] = 1;
    req[14 + 10..14 + 12].fill(0);
    let c = checksum(&req[14..34]);
    req[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    req[34..42].copy_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
    let c = checksum(&req[34..]);
    req[36..38].copy_from_slice(&c.to_be_bytes());
    let mut buf = VecBuf::new(&req);
    assert_eq!(a.dp.process(0, &mut buf), Action::Transmit { port: 1 }, "A encrypts the request");
    ether::emit(buf.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
    assert_eq!(b.dp.process(1, &mut buf), Action::Transmit { port: 1 }, "B answers back out of its outside port");
    let reply = buf.data().to_vec();
    assert_eq!(reply[14 + 9], 50, "the reply leaves in ESP");
    ether::emit(buf.data_mut(), A_OUT, B_OUT, EtherType::IPV4);
    assert_eq!(a.dp.process(1, &mut buf), Action::Transmit { port: 0 }, "A decrypts it for its host");
    let got = buf.data();
    assert_eq!(&got[14 + 12..14 + 20], &[203, 0, 113, 1, 192, 0, 2, 10], "from B's inside address to the host");
    assert_eq!(checksum(&got[14..34]), 0);
    assert_eq!((got[34], got[35]), (0, 0), "echo reply");
    assert_eq!(checksum(&got[34..]), 0, "ICMP checksum");
    assert_eq!(&got[38..], &req[38..], "id, sequence and payload echoed");

    // UDP to B's inside address from across the tunnel: nothing listens there.
    let udp = udp_frame(A_IN, "192.0.2.10", "203.0.113.1", 1000, 2000, 64, &[1; 10]);
    let mut buf = VecBuf::new(&udp);
    assert_eq!(a.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    ether::emit(buf.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
    assert_eq!(b.dp.process(1, &mut buf), Action::Drop(Drop::LocalUnhandled));

    // The same ping in clear, from A's protected subnet straight to B's outside port: B's crypto map says it
    // must come through the tunnel, so it is dropped, not answered.
    let mut clear = req.clone();
    ether::emit(&mut clear, B_OUT, A_OUT, EtherType::IPV4);
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&clear)), Action::Drop(Drop::CleartextOnProtected));
    // IPsec's own traffic is never held to the map: IKE and NAT-T between the same addresses still reach IKE.
    for port in [500, 4500] {
        let ike = udp_frame(B_OUT, "192.0.2.10", "203.0.113.1", port, port, 64, &[0; 12]);
        assert_eq!(b.dp.process(1, &mut VecBuf::new(&ike)), Action::Punt(PuntKind::Ike), "port {port}");
    }
    // A ping of B's outside address (in no protected subnet) is answered in clear, by the control thread.
    let mut outside = clear.clone();
    outside[14 + 16..14 + 20].copy_from_slice(&[198, 51, 100, 2]);
    outside[14 + 10..14 + 12].fill(0);
    let c = checksum(&outside[14..34]);
    outside[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&outside)), Action::Punt(PuntKind::Icmp));
}

/// With an SPD too large for the caches, a burst is warmed before its first pass: the gate follows the SPD size,
/// and warming changes nothing a frame's processing decides.
#[test]
fn large_spds_warm_bursts_without_changing_decisions() {
    let (mut a, mut b) = pair();
    assert!(!a.dp.wants_warming(), "a two-entry SPD stays in cache");
    let mut t = (**a.dp.tables()).clone();
    let mut entries = t.policies[0].entries().to_vec();
    // Filler after the real entries (first match wins): protect entries for flows that never occur.
    let filler = (0..5000u32).map(|i| SpdEntry {
        selector: TrafficSelector::prefixes(
            pfx(&format!("198.51.100.{}", i % 200), 32),
            pfx(&format!("203.0.113.{}", i / 200), 32),
        ),
        action: PolicyAction::Protect(1 + i),
    });
    entries.splice(1..1, filler);
    t.policies[0] = Spd::new(entries);
    a.dp.set_tables(Arc::new(t));
    assert!(a.dp.wants_warming());
    let frames: Vec<VecBuf> = (0..8u8)
        .map(|i| VecBuf::new(&udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1000 + u16::from(i), 2, 64, &[i; 20])))
        .collect();
    a.dp.warm(0, &frames);
    for (i, mut f) in frames.into_iter().enumerate() {
        assert_eq!(a.dp.process(0, &mut f), Action::Transmit { port: 1 }, "frame {i}");
        assert_eq!(f.data()[14 + 9], 50, "frame {i} left in ESP");
        ether::emit(f.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
        assert_eq!(b.dp.process(1, &mut f), Action::Transmit { port: 0 }, "B decrypts frame {i}");
    }
}

/// With more inbound SAs than the caches hold, ESP bursts are warmed too (SAD, SA, replay window, keys): the gate
/// follows the SAD's size, and warming decides nothing: frames open as before, and warmed replays are still replays.
#[test]
fn many_inbound_sas_warm_bursts_without_changing_decisions() {
    let (mut a, mut b) = pair();
    let real = b.dp.remove_inbound(Spi(0x1000)).unwrap();
    let mut dp = Datapath::new(b.dp.tables().clone(), 2 * WARM_MIN_ENTRIES);
    dp.install_inbound(InboundSa::new(real.params().clone()).unwrap()).unwrap();
    assert!(!dp.wants_warming(), "one SA stays in cache");
    for i in 0..WARM_MIN_ENTRIES as u32 {
        let mut p = real.params().clone();
        p.spi = Spi(0x10_0000 + i);
        dp.install_inbound(InboundSa::new(p).unwrap()).unwrap();
    }
    assert!(dp.wants_warming());
    let esp: Vec<VecBuf> = (0..8u8)
        .map(|i| {
            let mut f =
                VecBuf::new(&udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1000 + u16::from(i), 2, 64, &[i; 20]));
            assert_eq!(a.dp.process(0, &mut f), Action::Transmit { port: 1 });
            ether::emit(f.data_mut(), B_OUT, A_OUT, EtherType::IPV4);
            f
        })
        .collect();
    assert!(esp.iter().all(|f| esp_spi(&f.data()[14..]) == Some(Spi(0x1000))), "warming finds the SPI");
    let frames = esp.clone();
    dp.warm(1, &frames);
    for (i, mut f) in frames.into_iter().enumerate() {
        assert_eq!(dp.process(1, &mut f), Action::Transmit { port: 0 }, "frame {i}");
    }
    let again = esp.clone();
    dp.warm(1, &again);
    for (i, mut f) in again.into_iter().enumerate() {
        assert_eq!(dp.process(1, &mut f), Action::Drop(Drop::Ipsec(DropReason::Replay)), "replayed frame {i}");
    }
}

proptest::proptest! {
    /// The TTL decrement's incremental checksum leaves every header valid, and a TTL of 0 or 1 is refused untouched.
    #[test]
    fn ttl_decrement_keeps_the_header_checksum_valid(mut h in proptest::array::uniform20(proptest::num::u8::ANY)) {
        h[0] = 0x45;
        h[10..12].fill(0);
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let before = h;
        let ok = decrement_ttl_in_place(&mut h);
        proptest::prop_assert_eq!(ok, before[8] > 1);
        if ok {
            proptest::prop_assert_eq!(h[8], before[8] - 1);
            proptest::prop_assert!(crate::wire::ipv4::Packet::new_unchecked(&h[..]).verify_checksum());
        } else {
            proptest::prop_assert_eq!(h, before);
        }
    }
}
