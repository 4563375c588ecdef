//! AH alone and ESP+AH bundles through two in-memory gateways; fragments and the SPD; the ICMP rate limit.
use super::tests::{ip, pair, pfx, udp_frame, with_df, Gw, A_IN, B_IN, B_OUT};
use super::*;
use crate::buf::VecBuf;
use crate::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
use crate::sa::{Mode, SaParams};
use crate::selector::TrafficSelector;

const A_OUT_IP: &str = "198.51.100.1";
const B_OUT_IP: &str = "198.51.100.2";

fn ah(spi: u32, mode: Mode) -> SaParams {
    SaParams::new(Spi(spi), mode, EncryptionAlgorithm::Null, &[], IntegrityAlgorithm::HmacSha256_128, &[0x5a; 32])
}

fn tunnel(local: &str, remote: &str) -> Mode {
    Mode::Tunnel { local: ip(local), remote: ip(remote) }
}

/// Replaces both gateways' ESP SAs with AH tunnel SAs (A -> B SPI 0x3000, B -> A SPI 0x4000).
fn ah_only(a: &mut Gw, b: &mut Gw) {
    for (g, me, peer, out, inb, net_peer, net_me) in [
        (&mut *a, A_OUT_IP, B_OUT_IP, 0x3000, 0x4000, "203.0.113.0", "192.0.2.0"),
        (&mut *b, B_OUT_IP, A_OUT_IP, 0x4000, 0x3000, "192.0.2.0", "203.0.113.0"),
    ] {
        g.dp.remove_outbound(0);
        let mut p = ah(inb, tunnel(me, peer));
        p.selector = Some(TrafficSelector::prefixes(pfx(net_peer, 24), pfx(net_me, 24)));
        g.dp.install_inbound_ah(InboundAh::new(p).unwrap()).unwrap();
        g.dp.install_outbound_ah(0, Arc::new(OutboundAh::new(ah(out, tunnel(me, peer))).unwrap()));
    }
}

/// Adds AH (transport, over ESP's outer header) to both gateways' ESP SAs: A -> B ESP 0x1000 + AH 0x3000.
fn bundle(a: &mut Gw, b: &mut Gw) {
    for (g, esp_in, ah_out, ah_in) in [(&mut *a, 0x2000, 0x3000, 0x4000), (&mut *b, 0x1000, 0x4000, 0x3000)] {
        let esp = g.dp.remove_inbound(Spi(esp_in)).unwrap();
        let mut p = esp.params().clone();
        p.bundle_ah = Some(Spi(ah_in));
        g.dp.install_inbound(InboundSa::new(p).unwrap()).unwrap();
        let mut p = ah(ah_in, Mode::Transport);
        p.bundle_esp = Some(Spi(esp_in));
        g.dp.install_inbound_ah(InboundAh::new(p).unwrap()).unwrap();
        g.dp.install_outbound_ah(0, Arc::new(OutboundAh::new(ah(ah_out, Mode::Transport)).unwrap()));
    }
}

#[test]
fn ah_tunnel_both_ways_and_tamper() {
    let (mut a, mut b) = pair();
    ah_only(&mut a, &mut b);
    let payload = b"authenticated, not encrypted";
    let orig = udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1, 2, 64, payload);
    let mut buf = VecBuf::new(&orig);
    assert_eq!(a.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    let wire = buf.data().to_vec();
    assert_eq!(wire[14 + 9], 51, "AH");
    assert_eq!(&wire[14 + 24..14 + 28], &0x3000u32.to_be_bytes());
    assert_eq!(b.dp.process(1, &mut buf), Action::Transmit { port: 0 });
    assert_eq!(&buf.data()[42..], payload);
    assert_eq!(buf.data()[14 + 8], 62);
    assert_eq!(b.dp.inbound_ah(Spi(0x3000)).unwrap().counters().snapshot().packets, 1);
    // Replay, tamper, unknown SPI.
    let mut again = VecBuf::new(&wire);
    assert_eq!(b.dp.process(1, &mut again), Action::Drop(Drop::Ipsec(DropReason::Replay)));
    let mut fresh = VecBuf::new(&orig);
    a.dp.process(0, &mut fresh);
    let mut t = fresh.data().to_vec();
    let last = t.len() - 1;
    t[last] ^= 1;
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&t)), Action::Drop(Drop::Ipsec(DropReason::AuthFailed)));
    let mut u = wire.clone();
    u[14 + 27] ^= 0x55;
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&u)), Action::Drop(Drop::Ipsec(DropReason::NoSa)));
    // Back from B to A.
    let back = udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 2, 1, 64, payload);
    let mut buf = VecBuf::new(&back);
    assert_eq!(b.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    assert_eq!(a.dp.process(1, &mut buf), Action::Transmit { port: 0 });
    assert_eq!(&buf.data()[42..], payload);
}

#[test]
fn ah_inner_packet_outside_the_selector_is_dropped() {
    let (mut a, mut b) = pair();
    ah_only(&mut a, &mut b);
    // B expects 192.0.2.0/24 -> 203.0.113.0/24 inside AH 0x3000; A sends 192.0.2.10 -> 203.0.113.10 normally, so
    // narrow B's selector to another subnet to see the check fire.
    b.dp.remove_inbound_ah(Spi(0x3000));
    let mut p = ah(0x3000, tunnel(B_OUT_IP, A_OUT_IP));
    p.selector = Some(TrafficSelector::prefixes(pfx("192.0.2.128", 25), pfx("203.0.113.0", 24)));
    b.dp.install_inbound_ah(InboundAh::new(p).unwrap()).unwrap();
    let mut buf = VecBuf::new(&udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1, 2, 64, b"x"));
    a.dp.process(0, &mut buf);
    assert_eq!(b.dp.process(1, &mut buf), Action::Drop(Drop::Ipsec(DropReason::PolicyMismatch)));
}

#[test]
fn esp_ah_bundle_round_trip_and_stripped_ah() {
    let (mut a, mut b) = pair();
    bundle(&mut a, &mut b);
    let payload = b"esp inside ah";
    let orig = udp_frame(A_IN, "192.0.2.10", "203.0.113.10", 1, 2, 64, payload);
    let mut buf = VecBuf::new(&orig);
    assert_eq!(a.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    let wire = buf.data().to_vec();
    assert_eq!(wire[14 + 9], 51, "outer protocol AH");
    assert_eq!(wire[14 + 20], 50, "AH next header ESP");
    let ah_len = (usize::from(wire[14 + 21]) + 2) * 4;
    assert_eq!(&wire[14 + 20 + ah_len..14 + 24 + ah_len], &0x1000u32.to_be_bytes(), "ESP SPI after AH");
    assert_eq!(b.dp.process(1, &mut buf), Action::Transmit { port: 0 });
    assert_eq!(&buf.data()[42..], payload);
    assert_eq!(b.dp.inbound(Spi(0x1000)).unwrap().counters().snapshot().packets, 1);
    assert_eq!(b.dp.inbound_ah(Spi(0x3000)).unwrap().counters().snapshot().packets, 1);

    // AH stripped: the bare ESP packet (a valid one, fresh sequence number) is refused by the bundled ESP SA.
    let mut fresh = VecBuf::new(&orig);
    a.dp.process(0, &mut fresh);
    let f = fresh.data();
    let mut stripped = f[..14 + 20].to_vec();
    stripped.extend_from_slice(&f[14 + 20 + ah_len..]);
    stripped[14 + 9] = 50;
    let total = (stripped.len() - 14) as u16;
    stripped[14 + 2..14 + 4].copy_from_slice(&total.to_be_bytes());
    stripped[14 + 10..14 + 12].fill(0);
    let c = crate::wire::checksum::checksum(&stripped[14..34]);
    stripped[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(b.dp.process(1, &mut VecBuf::new(&stripped)), Action::Drop(Drop::Ipsec(DropReason::PolicyMismatch)));
    // The complete bundle packet still passes afterwards (nothing moved the windows).
    assert_eq!(b.dp.process(1, &mut fresh), Action::Transmit { port: 0 });

    // The MTU announced into a bundle accounts for both headers.
    let big = with_df(udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &[0; 1472]));
    let mut buf = VecBuf::new(&big);
    assert_eq!(b.dp.process(0, &mut buf), Action::Transmit { port: 0 });
    let announced = usize::from(u16::from_be_bytes([buf.data()[40], buf.data()[41]]));
    let fits = with_df(udp_frame(B_IN, "203.0.113.10", "192.0.2.10", 1, 2, 64, &vec![0; announced - 28]));
    let mut buf = VecBuf::new(&fits);
    assert_eq!(b.dp.process(0, &mut buf), Action::Transmit { port: 1 });
    assert!(buf.data_len() <= 14 + 1500 && buf.data_len() > 14 + 1480, "{}", buf.data_len());
    assert_eq!(a.dp.process(1, &mut buf), Action::Transmit { port: 0 });
}

/// An IPv4 fragment frame of `data` bytes at `offset` (bytes) of packet `ident`.
fn fragment(
    dst_mac: ether::MacAddr,
    src: &str,
    dst: &str,
    ident: u16,
    offset: usize,
    mf: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut f = udp_frame(dst_mac, src, dst, 0, 0, 64, &[]);
    f.truncate(14 + 20);
    f.extend_from_slice(data);
    let h = &mut f[14..34];
    h[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6..8].copy_from_slice(&((offset / 8) as u16 | if mf { 0x2000 } else { 0 }).to_be_bytes());
    h[10..12].fill(0);
    let c = crate::wire::checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn fragments_follow_their_first_fragment_through_a_port_specific_policy() {
    let (mut a, _) = pair();
    // A's SPD: protect only UDP to port 5000; everything else bypasses.
    let mut t = (**a.dp.tables()).clone();
    let mut sel = TrafficSelector::prefixes(pfx("192.0.2.0", 24), pfx("203.0.113.0", 24));
    sel.protocol = Some(IpProtocol::UDP);
    sel.dst_ports = 5000..=5000;
    let any = TrafficSelector::prefixes(pfx("0.0.0.0", 0), pfx("0.0.0.0", 0));
    t.policies = vec![crate::spd::Spd::new(vec![
        crate::spd::SpdEntry { selector: sel, action: PolicyAction::Protect(0) },
        crate::spd::SpdEntry { selector: any, action: PolicyAction::Bypass },
    ])];
    a.dp.set_tables(Arc::new(t));
    let mut first_data = vec![0u8; 16];
    first_data[0..2].copy_from_slice(&1234u16.to_be_bytes());
    first_data[2..4].copy_from_slice(&5000u16.to_be_bytes());
    let proto = |f: &mut VecBuf| f.data()[14 + 9];
    let mut f1 = VecBuf::new(&fragment(A_IN, "192.0.2.10", "203.0.113.10", 77, 0, true, &first_data));
    assert_eq!(a.dp.process(0, &mut f1), Action::Transmit { port: 1 });
    assert_eq!(proto(&mut f1), 50, "first fragment protected");
    let mut f2 = VecBuf::new(&fragment(A_IN, "192.0.2.10", "203.0.113.10", 77, 16, false, &[9; 8]));
    assert_eq!(a.dp.process(0, &mut f2), Action::Transmit { port: 1 });
    assert_eq!(proto(&mut f2), 50, "second fragment follows the first into ESP, not in clear");
    // A later fragment of a packet whose first fragment never came: ports unknown, dropped, not leaked.
    let mut orphan = VecBuf::new(&fragment(A_IN, "192.0.2.10", "203.0.113.10", 78, 16, false, &[9; 8]));
    assert_eq!(a.dp.process(0, &mut orphan), Action::Drop(Drop::FragmentPolicy));
    // Elsewhere, no port rule applies: a fragment to another network bypasses as before.
    let mut other = VecBuf::new(&fragment(A_IN, "192.0.2.10", "198.51.100.77", 79, 16, false, &[9; 8]));
    let r = a.dp.process(0, &mut other);
    assert!(matches!(r, Action::Transmit { port: 1 } | Action::Punt(PuntKind::Resolve { .. })), "{r:?}");
}

#[test]
fn icmp_errors_are_rate_limited() {
    let (_, mut b) = pair();
    // The limit comes with the tables the control side publishes.
    let mut t = (**b.dp.tables()).clone();
    t.icmp_limit = IcmpLimit { per_second: 1, burst: 3 };
    b.dp.set_tables(Arc::new(t));
    let big = with_df(udp_frame(B_OUT, A_OUT_IP, "203.0.113.10", 1, 2, 64, &[0; 1600]));
    let results: Vec<Action> = (0..6).map(|_| b.dp.process(1, &mut VecBuf::new(&big))).collect();
    assert_eq!(&results[..3], &[Action::Transmit { port: 1 }; 3], "the burst gets errors");
    assert_eq!(&results[3..], &[Action::Drop(Drop::IcmpRateLimited); 3]);
    assert_eq!(b.dp.errors_sent(), 3);
}
