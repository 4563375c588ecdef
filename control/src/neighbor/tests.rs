use super::*;
use engine::datapath::Interface;
use engine::selector::IpPrefix;

const OUR: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn host() -> Host {
    limited(MAX_LEARNED, MAX_PENDING)
}

fn limited(max_learned: usize, max_pending: usize) -> Host {
    let iface = Interface {
        name: "outside".into(),
        port: 0,
        mac: OUR,
        addresses: vec![IpPrefix::new("198.51.100.1".parse().unwrap(), 24)],
        mtu: 1500,
        policy: None,
    };
    Host::with_limits(Tables::new(vec![iface], vec![], HashMap::new(), vec![]), max_learned, max_pending)
}

fn arp(op: ArpOp, smac: MacAddr, sip: &str, tip: &str) -> Vec<u8> {
    let a = Arp {
        op,
        sender_mac: smac,
        sender_ip: sip.parse().unwrap(),
        target_mac: MacAddr::ZERO,
        target_ip: tip.parse().unwrap(),
    };
    arp_frame(0, MacAddr::BROADCAST, smac, &a).bytes
}

#[test]
fn answers_arp_for_own_address_and_learns_sender() {
    let mut h = host();
    let out = h.handle(0, PuntKind::Arp, &arp(ArpOp::Request, PEER, "198.51.100.2", "198.51.100.1"), 10);
    assert_eq!(out.len(), 1);
    let reply = Arp::parse(&out[0].bytes[14..]).unwrap();
    assert_eq!(reply.op, ArpOp::Reply);
    assert_eq!((reply.sender_mac, reply.sender_ip.to_string()), (OUR, "198.51.100.1".to_string()));
    assert_eq!(ether::parse(&out[0].bytes).unwrap().dst, PEER);
    let t = h.take_changed_tables().expect("neighbor learned");
    assert_eq!(t.neighbor("198.51.100.2".parse().unwrap()), Some(PEER));
    assert!(h.take_changed_tables().is_none());
    // Not for us, or from off-link: no reply, nothing learned.
    assert!(h.handle(0, PuntKind::Arp, &arp(ArpOp::Request, PEER, "198.51.100.3", "198.51.100.9"), 10).is_empty());
    assert!(h.handle(0, PuntKind::Arp, &arp(ArpOp::Request, PEER, "203.0.113.3", "198.51.100.1"), 10).len() == 1);
    assert!(h.tables().neighbor("203.0.113.3".parse().unwrap()).is_none());
    assert!(h.tables().neighbor("198.51.100.3".parse().unwrap()).is_none());
    // Learned entries expire.
    assert!(h.tick(10 + NEIGHBOR_TIMEOUT_SECS + 1).is_empty());
    assert!(h.take_changed_tables().unwrap().neighbor("198.51.100.2".parse().unwrap()).is_none());
    // Garbage is ignored.
    assert!(h.handle(0, PuntKind::Arp, &[0u8; 20], 1).is_empty());
}

#[test]
fn resolves_next_hop_then_releases_held_packets() {
    let mut h = host();
    let pkt = vec![0x45u8; 40];
    let out = h.handle(0, PuntKind::Resolve { port: 0, next_hop: "198.51.100.7".parse().unwrap() }, &pkt, 5);
    assert_eq!(out.len(), 1, "one ARP request");
    let req = Arp::parse(&out[0].bytes[14..]).unwrap();
    assert_eq!((req.op, req.target_ip.to_string()), (ArpOp::Request, "198.51.100.7".to_string()));
    // A second packet is held without a second request; the retry comes from tick.
    assert!(h.handle(0, PuntKind::Resolve { port: 0, next_hop: "198.51.100.7".parse().unwrap() }, &pkt, 5).is_empty());
    assert_eq!(h.tick(7).len(), 1);
    // The reply releases both, framed for the neighbor.
    let mut reply = arp(ArpOp::Reply, PEER, "198.51.100.7", "198.51.100.1");
    reply[0..6].copy_from_slice(&OUR.0);
    let out = h.handle(0, PuntKind::Arp, &reply, 8);
    assert_eq!(out.len(), 2);
    for f in &out {
        let e = ether::parse(&f.bytes).unwrap();
        assert_eq!((e.dst, e.src, e.ethertype), (PEER, OUR, EtherType::IPV4));
        assert_eq!(&f.bytes[14..], &pkt[..]);
    }
    assert!(h.tick(20).is_empty(), "nothing pending any more");
}

#[test]
fn answers_ping_and_ignores_other_icmp() {
    let mut h = host();
    let mut f = vec![0u8; 14 + 20 + 12];
    ether::emit(&mut f, OUR, PEER, EtherType::IPV4);
    let ip = &mut f[14..];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&32u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 1;
    ip[12..16].copy_from_slice(&[198, 51, 100, 2]);
    ip[16..20].copy_from_slice(&[198, 51, 100, 1]);
    let c = checksum::checksum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip[20] = 8;
    ip[24..32].copy_from_slice(b"pingdata");
    let c = checksum::checksum(&ip[20..32]);
    ip[22..24].copy_from_slice(&c.to_be_bytes());
    let out = h.handle(0, PuntKind::Icmp, &f, 0);
    assert_eq!(out.len(), 1);
    let r = &out[0].bytes;
    assert_eq!(ether::parse(r).unwrap().dst, PEER);
    assert_eq!(&r[14 + 12..14 + 16], &[198, 51, 100, 1]);
    assert_eq!(&r[14 + 16..14 + 20], &[198, 51, 100, 2]);
    assert_eq!(r[14 + 20], 0, "echo reply");
    assert_eq!(checksum::checksum(&r[14..34]), 0);
    assert_eq!(checksum::checksum(&r[34..46]), 0);
    assert_eq!(&r[38..46], b"pingdata");
    // A corrupted request is not answered.
    let mut bad = f.clone();
    bad[40] ^= 1;
    assert!(h.handle(0, PuntKind::Icmp, &bad, 0).is_empty());
    assert_eq!(h.stats.echo_replies_sent, 1);
}

#[test]
fn an_unanswered_next_hop_is_given_up_with_its_packets() {
    let mut h = host();
    let hop = PuntKind::Resolve { port: 0, next_hop: "198.51.100.7".parse().unwrap() };
    assert_eq!(h.handle(0, hop, &[0x45; 40], 5).len(), 1, "first request");
    assert!(h.handle(0, hop, &[0x45; 40], 5).is_empty());
    assert_eq!(h.tick(6).len(), 1, "second request");
    assert_eq!(h.tick(7).len(), 1, "third request");
    assert!(h.tick(8).is_empty(), "given up after three");
    assert_eq!(h.stats.hold_dropped, 2, "both held packets dropped");
    assert!(h.tick(9).is_empty() && h.tick(20).is_empty(), "no more requests");
    // A later packet starts over.
    assert_eq!(h.handle(0, hop, &[0x45; 40], 30).len(), 1);
}

#[test]
fn next_hops_being_resolved_are_bounded() {
    let mut h = limited(MAX_LEARNED, 4);
    let hop = |i: u8| PuntKind::Resolve { port: 0, next_hop: format!("198.51.100.{i}").parse().unwrap() };
    for i in 10..14 {
        assert_eq!(h.handle(0, hop(i), &[0x45; 40], 5).len(), 1);
    }
    assert!(h.handle(0, hop(14), &[0x45; 40], 5).is_empty(), "a fifth next hop: no request");
    assert_eq!((h.stats.held, h.stats.hold_dropped), (4, 1));
    // A next hop already pending still holds packets.
    assert!(h.handle(0, hop(10), &[0x45; 40], 5).is_empty());
    assert_eq!(h.stats.held, 5);
    // Once given up, there is room again.
    for t in 6..=8 {
        h.tick(t);
    }
    assert_eq!(h.handle(0, hop(14), &[0x45; 40], 9).len(), 1);
}

#[test]
fn learned_neighbors_are_bounded_but_a_requested_one_gets_in() {
    let mut h = limited(3, MAX_PENDING);
    let mac = |i: u8| MacAddr([2, 0, 0, 0, 1, i]);
    for i in 2..5 {
        let req = arp(ArpOp::Request, mac(i), &format!("198.51.100.{i}"), "198.51.100.1");
        assert_eq!(h.handle(0, PuntKind::Arp, &req, u64::from(i)).len(), 1);
    }
    // Full: a new sender is answered but not learned.
    let req = arp(ArpOp::Request, mac(5), "198.51.100.5", "198.51.100.1");
    assert_eq!(h.handle(0, PuntKind::Arp, &req, 10).len(), 1, "still answered");
    assert!(h.tables().neighbor("198.51.100.5".parse().unwrap()).is_none());
    assert_eq!(h.stats.neighbors_refused, 1);
    // A known one still refreshes.
    let req = arp(ArpOp::Request, mac(2), "198.51.100.2", "198.51.100.1");
    h.handle(0, PuntKind::Arp, &req, 11);
    assert_eq!(h.stats.neighbors_refused, 1);
    // A next hop we resolve replaces the entry confirmed longest ago (.3, at 3).
    let hop = PuntKind::Resolve { port: 0, next_hop: "198.51.100.9".parse().unwrap() };
    assert_eq!(h.handle(0, hop, &[0x45; 40], 12).len(), 1);
    let mut reply = arp(ArpOp::Reply, mac(9), "198.51.100.9", "198.51.100.1");
    reply[0..6].copy_from_slice(&OUR.0);
    assert_eq!(h.handle(0, PuntKind::Arp, &reply, 13).len(), 1, "the held packet leaves");
    let t = h.tables();
    assert_eq!(t.neighbor("198.51.100.9".parse().unwrap()), Some(mac(9)));
    assert!(t.neighbor("198.51.100.3".parse().unwrap()).is_none(), "the oldest made room");
    assert_eq!(t.neighbor("198.51.100.2".parse().unwrap()), Some(mac(2)), "refreshed at 11: kept");
}
