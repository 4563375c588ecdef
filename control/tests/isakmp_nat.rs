//! RFC 3947 NAT traversal between two in-memory endpoints, with a simulated NAT in front of the initiator.

mod isakmp_support;

use std::net::SocketAddr;
use std::time::Duration;

use control::crypto::IkeCipher;
use control::ike::{Event, NatStatus, NAT_T_PORT};
use control::isakmp::vendor::{recognize, Capability};
use control::isakmp::{GroupDescription, HashAlgorithm, Message, Payload};
use isakmp_support::net::*;

fn p() -> control::ike::Phase1Proposal {
    policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048)
}

fn with_port(a: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(a.ip(), port)
}

fn established_event(e: &mut control::ike::Endpoint) -> (SocketAddr, SocketAddr, NatStatus) {
    match e.poll_event() {
        Some(Event::Phase1Established { local, peer, nat, .. }) => (local, peer, nat),
        other => panic!("{other:?}"),
    }
}

/// Parses a logged datagram, removing the non-ESP marker if there is one.
fn parse(bytes: &[u8]) -> Message {
    let isakmp = if bytes.starts_with(&[0, 0, 0, 0]) { &bytes[4..] } else { bytes };
    Message::parse(isakmp).unwrap()
}

/// The responder knows the initiator by the NAT's public address.
const PUBLIC: &str = "203.0.113.5:500";

#[test]
fn initiator_behind_nat_floats_to_4500_and_keeps_the_mapping_alive() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], PUBLIC, b"k"));
    net.nat = Some(Nat { public: "203.0.113.5".parse().unwrap(), port_shift: 30_000 });
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 6);
    // Messages 1-4 on port 500 without a marker, 5 and 6 on 4500 with it.
    for (n, (_, m)) in net.log.iter().enumerate() {
        assert_eq!(m.starts_with(&[0, 0, 0, 0]), n >= 4, "message {}", n + 1);
        let msg = parse(m);
        assert_eq!(msg.header.flags.encrypted(), n >= 4);
        let nat_d = msg.payloads().iter().filter(|p| matches!(p, Payload::NatD { draft: false, .. })).count();
        assert_eq!(nat_d, if n == 2 || n == 3 { 2 } else { 0 }, "NAT-D in messages 3 and 4 only");
    }
    let vids: Vec<Capability> = parse(&net.log[0].1)
        .payloads()
        .iter()
        .filter_map(|p| if let Payload::VendorId(v) = p { recognize(v).map(|k| k.capability) } else { None })
        .collect();
    assert_eq!(vids, vec![Capability::NatT, Capability::Dpd]);

    let (local, peer, nat) = established_event(&mut net.i);
    assert_eq!((local, peer), (with_port(addr(I), NAT_T_PORT), with_port(addr(R), NAT_T_PORT)));
    assert_eq!(nat, NatStatus { local_behind_nat: true, peer_behind_nat: false });
    let (local, peer, nat) = established_event(&mut net.r);
    assert_eq!(local, with_port(addr(R), NAT_T_PORT));
    assert_eq!(peer, net.outside(with_port(addr(I), NAT_T_PORT)), "the NAT's mapping of port 4500");
    assert_eq!(nat, NatStatus { local_behind_nat: false, peer_behind_nat: true });

    // DPD runs over 4500 through the NAT.
    net.r.dpd_probe(&icookie, 5).unwrap();
    net.pump();
    assert!(matches!(net.r.poll_event(), Some(Event::DpdAck { sequence: 5, .. })));

    // Only the side behind the NAT sends keepalives, every 20 s.
    let start = net.now;
    assert!(net.tick());
    assert_eq!(net.now - start, Duration::from_secs(20));
    let ka = net.i.poll_transmit().expect("keepalive");
    assert_eq!((ka.contents.as_slice(), ka.source.port(), ka.destination.port()), (&[0xffu8][..], 4500, 4500));
    net.r.handle(net.now, ka.destination, net.outside(ka.source), &ka.contents);
    assert_eq!(net.r.stats().keepalives_received, 1);
    assert!(net.r.poll_transmit().is_none());
}

#[test]
fn no_nat_stays_on_port_500() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(net.log.iter().all(|(_, m)| !m.starts_with(&[0, 0, 0, 0])));
    let (local, peer, nat) = established_event(&mut net.i);
    assert_eq!((local, peer, nat), (addr(I), addr(R), NatStatus::default()));
    assert_eq!(established_event(&mut net.r).2, NatStatus::default());
    // No keepalives when nobody is behind a NAT: the next deadline is the lifetime.
    assert_eq!(net.i.poll_timeout().unwrap() - net.now, Duration::from_secs(86_400));
}

#[test]
fn responder_without_nat_traversal() {
    let mut cr = config(vec![p()], PUBLIC, b"k");
    cr.nat_traversal = false;
    let mut net = Net::new(config(vec![p()], R, b"k"), cr);
    net.nat = Some(Nat { public: "203.0.113.5".parse().unwrap(), port_shift: 30_000 });
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    // No RFC 3947 Vendor ID in message 2, so no NAT-D and no float: everything stays on port 500.
    let m2 = parse(&net.log[1].1);
    assert!(!m2
        .payloads()
        .iter()
        .any(|p| matches!(p, Payload::VendorId(v) if recognize(v).is_some_and(|k| k.capability == Capability::NatT))));
    assert!(net.log.iter().all(|(_, m)| !m.starts_with(&[0, 0, 0, 0])));
    assert_eq!(established_event(&mut net.i).2, NatStatus::default());
}

#[test]
fn port_4500_carries_only_marked_ike() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    let local = with_port(addr(R), NAT_T_PORT);
    let esp = [0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1, 9, 9, 9, 9];
    net.r.handle(net.now, local, addr(I), &esp);
    net.r.handle(net.now, local, addr(I), &[0xff]);
    net.r.handle(net.now, local, addr(I), &[0, 0, 0, 0, 1, 2, 3]);
    let s = net.r.stats();
    assert_eq!((s.not_ike, s.keepalives_received, s.malformed), (1, 1, 1));
}

#[test]
fn aggressive_mode_behind_nat_sends_message_3_from_4500() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], PUBLIC, b"k"));
    net.nat = Some(Nat { public: "203.0.113.5".parse().unwrap(), port_shift: 30_000 });
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 3);
    let marked: Vec<bool> = net.log.iter().map(|(_, m)| m.starts_with(&[0, 0, 0, 0])).collect();
    assert_eq!(marked, vec![false, false, true]);
    let nat_d = |n: usize| parse(&net.log[n].1).payloads().iter().filter(|p| matches!(p, Payload::NatD { .. })).count();
    assert_eq!((nat_d(0), nat_d(1), nat_d(2)), (0, 2, 2));
    let (local, peer, nat) = established_event(&mut net.i);
    assert_eq!((local.port(), peer.port()), (NAT_T_PORT, NAT_T_PORT));
    assert_eq!(nat, NatStatus { local_behind_nat: true, peer_behind_nat: false });
    let (local, peer, nat) = established_event(&mut net.r);
    assert_eq!((local.port(), peer), (NAT_T_PORT, net.outside(with_port(addr(I), NAT_T_PORT))));
    assert_eq!(nat, NatStatus { local_behind_nat: false, peer_behind_nat: true });
}

#[test]
fn aggressive_mode_without_nat_stays_on_500() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert!(net.log.iter().all(|(_, m)| !m.starts_with(&[0, 0, 0, 0])));
    assert_eq!(established_event(&mut net.i).2, NatStatus::default());
    assert_eq!(established_event(&mut net.r).2, NatStatus::default());
}
