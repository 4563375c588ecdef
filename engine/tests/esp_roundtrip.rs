//! Encrypt -> decrypt round trips for every algorithm x mode x family (and NAT-T, ESN), and the drops for tampered,
//! truncated and replayed packets.

mod common;

use common::*;
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::{LifetimeEvent, LimitKind, Mode};
use engine::wire::{ipv4, ipv6, IpProtocol};
use engine::DropReason;

fn inners() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("v4-small", udp4(V4_A, V4_B, 1, 0xb8)),
        ("v4-mid", udp4(V4_A, V4_B, 200, 0x02)),
        ("v6-small", udp6(v6("2001:db8:1::1"), v6("2001:db8:2::2"), 3, 0x29)),
        ("v6-mid", udp6(v6("2001:db8:1::1"), v6("2001:db8:2::2"), 515, 0)),
        ("v6-ext", udp6_ext(v6("2001:db8:1::1"), v6("2001:db8:2::2"), 30)),
    ]
}

fn pair(e: E, i: I, mode: Mode, nat: bool, esn: bool) -> (OutboundSa, InboundSa) {
    let out = OutboundSa::new(params(e, i, mode, nat, esn, 0x1001)).unwrap();
    let inb = InboundSa::new(params(e, i, swap(mode), nat, esn, 0x1001)).unwrap();
    (out, inb)
}

#[test]
fn every_suite_mode_family_nat_esn_round_trips() {
    let mut cases = 0;
    for (e, i) in suites() {
        for mode in [Mode::Transport, tunnel4(), tunnel6()] {
            for nat in [false, true] {
                for esn in [false, true] {
                    let (out, inb) = pair(e, i, mode, nat, esn);
                    let mut expect = inners().len() as u64;
                    if esn {
                        // Move both ends to just below a 2^32 boundary so the high half changes during the test:
                        // one packet half way (the receiver's inference allows jumps < 2^31), then the edge.
                        out.set_last_seq(0x7fff_0000);
                        let mut b = VecBuf::new(&inners()[0].1);
                        assert_eq!(out.protect(&mut b).0, Ok(()));
                        assert_eq!(inb.unprotect(&mut b).0, Ok(()));
                        out.set_last_seq(0xffff_fffd);
                        expect += 1;
                    }
                    for (name, pkt) in inners() {
                        let mut b = VecBuf::new(&pkt);
                        let (v, _) = out.protect(&mut b);
                        assert_eq!(v, Ok(()), "{e:?} {i:?} {mode:?} nat={nat} esn={esn} {name}");
                        check_outer(&b, mode, nat, &pkt);
                        let (v, _) = inb.unprotect(&mut b);
                        assert_eq!(v, Ok(()), "{e:?} {i:?} {mode:?} nat={nat} esn={esn} {name}");
                        assert_eq!(b.data(), &pkt[..], "{e:?} {i:?} {mode:?} nat={nat} esn={esn} {name}");
                        cases += 1;
                    }
                    assert_eq!(inb.counters().snapshot().packets, expect);
                    assert_eq!(out.counters().snapshot().packets, expect);
                    if esn {
                        assert_eq!(inb.replay_window().top(), 0xffff_fffd + inners().len() as u64);
                    }
                }
            }
        }
    }
    assert_eq!(cases, suites().len() * 3 * 2 * 2 * inners().len());
}

/// The outer packet is well formed: checksums, lengths, protocol, DSCP/ECN copied in tunnel mode.
fn check_outer(b: &VecBuf, mode: Mode, nat: bool, inner: &[u8]) {
    let d = b.data();
    let want = if nat { IpProtocol::UDP } else { IpProtocol::ESP };
    let (proto, tos) = match d[0] >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked(d).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(usize::from(p.total_len()), d.len());
            (p.protocol(), p.tos())
        }
        _ => {
            let p = ipv6::Packet::new_checked(d).unwrap();
            assert_eq!(usize::from(p.payload_len()) + 40, d.len());
            (p.find_upper_layer().unwrap().1, p.traffic_class())
        }
    };
    assert_eq!(proto, want);
    if let Mode::Tunnel { .. } = mode {
        let inner_tos = if inner[0] >> 4 == 4 { inner[1] } else { ((inner[0] & 0x0f) << 4) | (inner[1] >> 4) };
        assert_eq!(tos, inner_tos, "DSCP and ECN copied to the outer header");
    }
}

#[test]
fn tampered_truncated_and_replayed_packets_are_dropped_and_counted() {
    for (e, i) in suites() {
        for mode in [Mode::Transport, tunnel4(), tunnel6()] {
            let (out, inb) = pair(e, i, mode, false, false);
            let pkt = udp4(V4_A, V4_B, 64, 0);
            let mut b = VecBuf::new(&pkt);
            assert_eq!(out.protect(&mut b).0, Ok(()));
            let good = b.data().to_vec();
            let esp_off = good.len() - (good.len() - if good[0] >> 4 == 4 { 20 } else { 40 });
            let has_icv = i != I::None || e.is_aead();
            if has_icv {
                // Flip one bit in each region: SPI excluded (SPI mismatch), seq, IV, ciphertext, ICV.
                for pos in [esp_off + 4, esp_off + 8, good.len() / 2 + 10, good.len() - 1] {
                    let mut t = VecBuf::new(&good);
                    t.data_mut()[pos] ^= 0x10;
                    let (v, _) = inb.unprotect(&mut t);
                    assert!(
                        matches!(v, Err(DropReason::AuthFailed) | Err(DropReason::TooOld)),
                        "{e:?} {i:?} {pos} {v:?}"
                    );
                }
            }
            // Truncated at many lengths: never a panic, always a drop (or a malformed outer header).
            for cut in 1..good.len() {
                let mut t = VecBuf::new(&good[..cut]);
                assert!(inb.unprotect(&mut t).0.is_err(), "{e:?} {i:?} cut {cut}");
            }
            let mut t = VecBuf::new(&good);
            assert_eq!(inb.unprotect(&mut t).0, Ok(()), "{e:?} {i:?} {mode:?}");
            let mut t = VecBuf::new(&good);
            assert_eq!(inb.unprotect(&mut t).0, Err(DropReason::Replay));
            let c = inb.counters().snapshot();
            assert_eq!(c.packets, 1);
            assert_eq!(c.drop_count(DropReason::Replay), 1);
            if has_icv {
                assert!(c.drop_count(DropReason::AuthFailed) >= 3, "{e:?} {i:?} {c:?}");
            }
        }
    }
}

#[test]
fn forged_packets_do_not_move_the_window() {
    let (out, inb) = pair(E::AesGcm128, I::None, tunnel4(), false, false);
    let pkt = udp4(V4_A, V4_B, 10, 0);
    let mut b = VecBuf::new(&pkt);
    out.set_last_seq(5000);
    assert_eq!(out.protect(&mut b).0, Ok(()));
    let mut forged = b.data().to_vec();
    let l = forged.len();
    forged[l - 1] ^= 1;
    assert_eq!(inb.unprotect(&mut VecBuf::new(&forged)).0, Err(DropReason::AuthFailed));
    assert_eq!(inb.replay_window().top(), 0);
    out.set_last_seq(0);
    let mut b = VecBuf::new(&pkt);
    assert_eq!(out.protect(&mut b).0, Ok(()));
    assert_eq!(inb.unprotect(&mut b).0, Ok(()));
}

#[test]
fn duplicates_within_one_burst_are_dropped() {
    let (out, inb) = pair(E::AesCbc128, I::HmacSha256_128, tunnel4(), false, false);
    let mut b = VecBuf::new(&udp4(V4_A, V4_B, 40, 0));
    assert_eq!(out.protect(&mut b).0, Ok(()));
    let mut burst = vec![b.clone(), b.clone(), b];
    let mut v = [Ok(()); 3];
    let o = inb.unprotect_burst(&mut burst, &mut v);
    assert_eq!(o.ok, 1);
    assert_eq!(v, [Ok(()), Err(DropReason::Replay), Err(DropReason::Replay)]);
}

#[test]
fn long_bursts_are_chunked() {
    let (out, inb) = pair(E::AesCtr256, I::HmacSha1_96, tunnel6(), true, true);
    let mut burst: Vec<VecBuf> = (0..150).map(|n| VecBuf::new(&udp4(V4_A, V4_B, n, 0))).collect();
    let orig: Vec<Vec<u8>> = burst.iter().map(|b| b.data().to_vec()).collect();
    let mut v = vec![Ok(()); 150];
    assert_eq!(out.protect_burst(&mut burst, &mut v).ok, 150);
    // Deliver in reverse order: all within the window.
    burst.reverse();
    assert_eq!(inb.unprotect_burst(&mut burst, &mut v).ok, 150);
    burst.reverse();
    for (b, o) in burst.iter().zip(&orig) {
        assert_eq!(b.data(), &o[..]);
    }
}

#[test]
fn sequence_overflow_ends_the_sa() {
    let (out, _) = pair(E::AesGcm256, I::None, tunnel4(), false, false);
    out.set_last_seq(u64::from(u32::MAX) - 1);
    let pkt = udp4(V4_A, V4_B, 10, 0);
    assert_eq!(out.protect(&mut VecBuf::new(&pkt)).0, Ok(()));
    let (v, o) = out.protect(&mut VecBuf::new(&pkt));
    assert_eq!(v, Err(DropReason::SeqOverflow));
    assert!(o.events.iter().any(|e| matches!(e, LifetimeEvent::SeqExhausted { .. })));
    assert!(out.is_expired());
    assert_eq!(out.protect(&mut VecBuf::new(&pkt)).0, Err(DropReason::SaExpired));
}

#[test]
fn soft_and_hard_lifetimes_raise_events_and_hard_stops() {
    let mut p = params(E::AesCbc256, I::HmacSha512_256, tunnel4(), false, false, 0x2000);
    p.lifetime.soft_packets = 2;
    p.lifetime.hard_packets = 4;
    let out = OutboundSa::new(p).unwrap();
    let pkt = udp4(V4_A, V4_B, 10, 0);
    let mut events = Vec::new();
    for _ in 0..5 {
        let (_, o) = out.protect(&mut VecBuf::new(&pkt));
        events.extend(o.events.iter().copied());
    }
    assert_eq!(
        events,
        vec![
            LifetimeEvent::Soft { spi: out.params().spi, limit: LimitKind::Packets },
            LifetimeEvent::Hard { spi: out.params().spi, limit: LimitKind::Packets }
        ]
    );
    assert_eq!(out.counters().snapshot().drop_count(DropReason::SaExpired), 1);

    let mut p = params(E::AesCbc128, I::HmacSha1_96, tunnel4(), false, false, 0x2000);
    p.lifetime.soft_bytes = 100;
    let inb = InboundSa::new(p.clone()).unwrap();
    let out = OutboundSa::new(p).unwrap();
    let mut b = VecBuf::new(&udp4(V4_A, V4_B, 100, 0));
    assert_eq!(out.protect(&mut b).0, Ok(()));
    let (v, o) = inb.unprotect(&mut b);
    assert_eq!(v, Ok(()));
    assert_eq!(o.events.iter().next(), Some(&LifetimeEvent::Soft { spi: inb.params().spi, limit: LimitKind::Bytes }));
}

#[test]
fn not_enough_room_is_a_drop() {
    let (out, _) = pair(E::AesCbc128, I::HmacSha1_96, tunnel4(), false, false);
    let pkt = udp4(V4_A, V4_B, 10, 0);
    assert_eq!(out.protect(&mut VecBuf::with_room(&pkt, 10, 100)).0, Err(DropReason::NoRoom));
    assert_eq!(out.protect(&mut VecBuf::with_room(&pkt, 100, 10)).0, Err(DropReason::NoRoom));
    assert_eq!(out.counters().snapshot().drop_count(DropReason::NoRoom), 2);
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    fn inbound_sas() -> Vec<InboundSa> {
        [(E::AesGcm128, I::None, tunnel4(), true), (E::AesCbc128, I::HmacSha1_96, Mode::Transport, false)]
            .into_iter()
            .map(|(e, i, m, nat)| InboundSa::new(params(e, i, m, nat, true, 0x1001)).unwrap())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes, and valid packets with arbitrary bytes overwritten or cut, are drops, never panics.
        #[test]
        fn unprotect_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                  edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
                                  cut in any::<usize>(), which in 0usize..2) {
            let mut sas = inbound_sas();
            let sa = &mut sas[which];
            let _ = sa.unprotect(&mut VecBuf::new(&bytes));
            let (e, i, m, nat) = if which == 0 {
                (E::AesGcm128, I::None, tunnel4(), true)
            } else {
                (E::AesCbc128, I::HmacSha1_96, Mode::Transport, false)
            };
            let out = OutboundSa::new(params(e, i, swap(m), nat, true, 0x1001)).unwrap();
            let mut b = VecBuf::new(&udp4(V4_A, V4_B, bytes.len() % 64, 0));
            prop_assert_eq!(out.protect(&mut b).0, Ok(()));
            let mut pkt = b.data().to_vec();
            for (pos, v) in edits {
                let l = pkt.len();
                pkt[pos % l] = v;
            }
            let l = pkt.len();
            pkt.truncate(l - cut % (l / 2));
            let (v, _) = sa.unprotect(&mut VecBuf::new(&pkt));
            if v.is_ok() {
                // Only edits in fields the ICV does not cover (outer header) can leave a packet valid.
                prop_assert!(pkt.len() == l);
            }
        }
    }
}

#[test]
fn time_lifetimes_raise_events_and_hard_stops() {
    let mut p = params(E::AesGcm128, I::None, tunnel4(), false, false, 0x2100);
    p.lifetime.soft_seconds = 3000;
    p.lifetime.hard_seconds = 3600;
    let out = OutboundSa::new(p.clone()).unwrap();
    let inb = InboundSa::new(p).unwrap();
    let checks: [&dyn Fn(u64) -> Option<LifetimeEvent>; 2] = [&|a| out.check_age(a), &|a| inb.check_age(a)];
    for sa_check in checks {
        assert_eq!(sa_check(10), None);
        assert_eq!(
            sa_check(3000),
            Some(LifetimeEvent::Soft { spi: engine::wire::Spi(0x2100), limit: LimitKind::Time })
        );
        assert_eq!(sa_check(3001), None);
        assert_eq!(
            sa_check(3600),
            Some(LifetimeEvent::Hard { spi: engine::wire::Spi(0x2100), limit: LimitKind::Time })
        );
        assert_eq!(sa_check(4000), None);
    }
    assert!(out.is_expired() && inb.is_expired());
    assert_eq!(out.protect(&mut VecBuf::new(&udp4(V4_A, V4_B, 5, 0))).0, Err(DropReason::SaExpired));
}

#[test]
fn encapsulated_len_matches_protect() {
    for (e, i) in suites() {
        for mode in [Mode::Transport, tunnel4(), tunnel6()] {
            for nat in [false, true] {
                let out = OutboundSa::new(params(e, i, mode, nat, false, 0x2200)).unwrap();
                for n in [0usize, 1, 17, 100, 1400] {
                    let pkt = udp4(V4_A, V4_B, n, 0);
                    let mut b = VecBuf::new(&pkt);
                    assert_eq!(out.protect(&mut b).0, Ok(()));
                    assert_eq!(out.encapsulated_len(pkt.len(), 20), b.data_len(), "{e:?} {i:?} {mode:?} {n}");
                }
            }
        }
    }
}

#[test]
fn inner_packet_outside_the_sa_selectors_is_dropped() {
    use engine::selector::{IpPrefix, TrafficSelector};
    let mut p = params(E::AesGcm128, I::None, swap(tunnel4()), false, false, 0x2300);
    p.selector = Some(TrafficSelector::prefixes(
        IpPrefix::new(V4_A.into(), 24), // the peer's protected network (inner source)
        IpPrefix::new(V4_B.into(), 24),
    ));
    let inb = InboundSa::new(p).unwrap();
    let out = OutboundSa::new(params(E::AesGcm128, I::None, tunnel4(), false, false, 0x2300)).unwrap();
    let mut ok = VecBuf::new(&udp4(V4_A, V4_B, 10, 0));
    assert_eq!(out.protect(&mut ok).0, Ok(()));
    assert_eq!(inb.unprotect(&mut ok).0, Ok(()));
    // Authentic, but from an address the SA does not cover (RFC 4301 §5.2).
    let spoofed = udp4(std::net::Ipv4Addr::new(198, 51, 100, 99), V4_B, 10, 0);
    let mut bad = VecBuf::new(&spoofed);
    assert_eq!(out.protect(&mut bad).0, Ok(()));
    assert_eq!(inb.unprotect(&mut bad).0, Err(DropReason::PolicyMismatch));
    assert_eq!(inb.counters().snapshot().drop_count(DropReason::PolicyMismatch), 1);
}

#[test]
fn packets_that_would_overflow_the_length_field_are_mtu_drops() {
    let out = OutboundSa::new(params(E::AesCbc128, I::HmacSha1_96, tunnel4(), false, false, 0x2400)).unwrap();
    let big = udp4(V4_A, V4_B, 65_535 - 28, 0);
    assert_eq!(out.protect(&mut VecBuf::new(&big)).0, Err(DropReason::Mtu));
    let ah =
        engine::ah::OutboundAh::new(params(E::Null, I::HmacSha1_96, Mode::Transport, false, false, 0x2400)).unwrap();
    assert_eq!(ah.protect(&mut VecBuf::new(&big)).0, Err(DropReason::Mtu));
    let fits = udp4(V4_A, V4_B, 65_535 - 28 - 100, 0);
    assert_eq!(out.protect(&mut VecBuf::new(&fits)).0, Ok(()));
}
