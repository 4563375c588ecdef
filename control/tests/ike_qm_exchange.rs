//! Quick Mode between two in-memory endpoints on simulated time: every ESP transform, AH and ESP+AH, tunnel and
//! transport, PFS, NAT-T encapsulation, both directions, lifetimes, several exchanges at once, retransmission and
//! duplicates, the commit bit; both sides must derive the same keys.

mod ike_qm_support;

use std::collections::HashSet;
use std::net::SocketAddr;

use control::ike::{EncapsulationMode, Event, IkeError, IpsecTransformSet};
use control::isakmp::{ExchangeType, GroupDescription as G, Message, NotifyType};
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};
use ike_qm_support::net::{addr, config, Nat, Net, I, R};
use ike_qm_support::*;

#[test]
fn every_esp_transform_both_sides_same_keys() {
    let (mut net, c) = phase1();
    let integs =
        [Integ::HmacMd5_96, Integ::HmacSha1_96, Integ::HmacSha256_128, Integ::HmacSha384_192, Integ::HmacSha512_256];
    let mut spis = HashSet::new();
    for (n, e) in Enc::ALL.into_iter().enumerate() {
        let gcm = matches!(e, Enc::AesGcm128 | Enc::AesGcm192 | Enc::AesGcm256);
        let i = if gcm { Integ::None } else { integs[n % integs.len()] };
        let p = policy(vec![esp(e, i)], None);
        let (si, sr) = quick(&mut net, &c, &p);
        let pair = si.esp.as_ref().unwrap();
        assert_eq!((pair.inbound.encryption, pair.inbound.integrity), (e, i), "{e:?}");
        assert_eq!(si.mode, EncapsulationMode::Tunnel);
        assert_eq!(si.nat_t, None);
        assert_eq!((si.map.as_str(), si.seq, sr.map.as_str(), sr.seq, sr.handle), ("CM1", 10, "CM2", 20, 3));
        assert!(spis.insert(pair.inbound.spi) && spis.insert(pair.outbound.spi), "SPIs are never reused");
    }
    // Every integrity algorithm with AES-CBC as well.
    for i in integs {
        let (si, _) = quick(&mut net, &c, &policy(vec![esp(Enc::AesCbc256, i)], None));
        assert_eq!(si.esp.unwrap().outbound.integrity, i);
    }
}

#[test]
fn pfs_with_phase1_groups() {
    let (mut net, c) = phase1();
    for g in [G::MODP_1024, G::MODP_2048, G::ECP_256, G::ECP_384] {
        let (si, sr) = quick(&mut net, &c, &policy(vec![esp(Enc::AesGcm256, Integ::None)], Some(g)));
        assert_eq!((si.pfs, sr.pfs), (Some(g), Some(g)));
    }
    // The same transform without PFS gives other keys (the DH secret enters KEYMAT).
    let (a, _) = quick(&mut net, &c, &policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None));
    assert_eq!(a.pfs, None);
}

#[test]
fn responder_without_pfs_accepts_the_initiators_group() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], Some(G::ECP_256));
    let mut m = mirror(&p, addr(I).ip());
    m.pfs = None;
    net.r.set_crypto_maps(vec![m]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    check_same_keys(&phase2(&mut net.i), &phase2(&mut net.r));
}

#[test]
fn transport_ah_and_esp_plus_ah() {
    let (mut net, c) = phase1();
    let transport =
        IpsecTransformSet { mode: EncapsulationMode::Transport, ..esp(Enc::AesCtr256, Integ::HmacSha256_128) };
    let (si, _) = quick(&mut net, &c, &policy(vec![transport], None));
    assert_eq!(si.mode, EncapsulationMode::Transport);
    let ah = IpsecTransformSet { esp: None, ah: Some(Integ::HmacSha1_96), mode: EncapsulationMode::Tunnel };
    let (si, _) = quick(&mut net, &c, &policy(vec![ah], None));
    assert!(si.esp.is_none() && si.ah.as_ref().unwrap().inbound.integrity == Integ::HmacSha1_96);
    let both = IpsecTransformSet { ah: Some(Integ::HmacSha512_256), ..esp(Enc::AesCbc192, Integ::HmacSha384_192) };
    let (si, _) = quick(&mut net, &c, &policy(vec![both], Some(G::MODP_1024)));
    let (e, a) = (si.esp.unwrap(), si.ah.unwrap());
    assert_ne!(e.inbound.spi, a.inbound.spi);
    assert_eq!((e.inbound.integrity, a.inbound.integrity), (Integ::HmacSha384_192, Integ::HmacSha512_256));
}

#[test]
fn responder_takes_the_first_offered_set_it_has() {
    let (mut net, c) = phase1();
    let sets = vec![
        esp(Enc::AesGcm128, Integ::None),
        esp(Enc::AesCbc256, Integ::HmacSha256_128),
        esp(Enc::TripleDesCbc, Integ::HmacSha1_96),
    ];
    let p = policy(sets.clone(), None);
    let mut m = mirror(&p, addr(I).ip());
    m.transform_sets = vec![sets[2], sets[1]];
    net.r.set_crypto_maps(vec![m]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
    check_same_keys(&si, &sr);
    assert_eq!(si.esp.unwrap().inbound.encryption, Enc::AesCbc256);
}

#[test]
fn the_responder_of_phase1_initiates_quick_mode_too() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], Some(G::MODP_2048));
    // Roles reversed: the Phase 1 responder proposes its own side.
    let mut rp = mirror(&p, addr(I).ip());
    rp.map = "CM1".into();
    net.i.set_crypto_maps(vec![mirror(&rp, addr(R).ip())]);
    net.r.quick_mode(net.now, &c, &rp).unwrap();
    net.pump();
    let (sr, si) = (phase2(&mut net.r), phase2(&mut net.i));
    check_same_keys(&sr, &si);
    assert_eq!(sr.local_id, prefix(R_NET));
}

#[test]
fn several_exchanges_at_once() {
    let (mut net, c) = phase1();
    let ps: Vec<_> = [Enc::AesCbc128, Enc::AesGcm256, Enc::AesCtr192, Enc::TripleDesCbc]
        .into_iter()
        .map(|e| {
            let i = if e == Enc::AesGcm256 { Integ::None } else { Integ::HmacSha256_128 };
            policy(vec![esp(e, i)], Some(G::ECP_256))
        })
        .collect();
    net.r.set_crypto_maps(ps.iter().map(|p| mirror(p, addr(I).ip())).collect());
    let mids: Vec<u32> = ps.iter().map(|p| net.i.quick_mode(net.now, &c, p).unwrap()).collect();
    assert_eq!(mids.iter().collect::<HashSet<_>>().len(), 4);
    net.pump();
    let (ei, er) = (drain(&mut net.i), drain(&mut net.r));
    assert_eq!((ei.len(), er.len()), (4, 4));
    for (a, b) in ei.iter().zip(&er) {
        let (Event::Phase2Established(a), Event::Phase2Established(b)) = (a, b) else { panic!("{a:?} {b:?}") };
        check_same_keys(a, b);
    }
}

#[test]
fn at_most_seven_in_negotiation_per_isakmp_sa() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    for _ in 0..7 {
        net.i.quick_mode(net.now, &c, &p).unwrap();
    }
    assert!(net.i.quick_mode(net.now, &c, &p).is_err(), "an eighth could lose the oldest IV chain");
    // A DPD exchange meanwhile needs an IV chain of its own; it must not cost a Quick Mode its chain.
    net.i.dpd_probe(&c, 7).unwrap();
    net.pump();
    let events = drain(&mut net.i);
    let established = events.iter().filter(|e| matches!(e, Event::Phase2Established(_))).count();
    assert!(events.iter().any(|e| matches!(e, Event::DpdAck { sequence: 7, .. })));
    assert_eq!((established, drain(&mut net.r).len()), (7, 7));
    // Finished exchanges no longer count.
    quick(&mut net, &c, &p);
}

#[test]
fn nat_detected_gives_udp_encapsulation() {
    let p1 = ike_qm_support::net::policy(
        control::crypto::IkeCipher::Aes128Cbc,
        control::isakmp::HashAlgorithm::SHA1,
        G::ECP_256,
    );
    let public: SocketAddr = "203.0.113.5:500".parse().unwrap();
    let mut net = Net::new(config(vec![p1], R, b"k"), config(vec![p1], "203.0.113.5:500", b"k"));
    net.nat = Some(Nat { public: public.ip(), port_shift: 1000 });
    let c = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    drain(&mut net.i);
    drain(&mut net.r);
    for mode in [EncapsulationMode::Tunnel, EncapsulationMode::Transport] {
        let p = policy(vec![IpsecTransformSet { mode, ..esp(Enc::AesCbc128, Integ::HmacSha1_96) }], None);
        net.r.set_crypto_maps(vec![mirror(&p, public.ip())]);
        net.i.quick_mode(net.now, &c, &p).unwrap();
        net.pump();
        let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
        check_same_keys(&si, &sr);
        assert_eq!(si.mode, mode);
        let n = si.nat_t.expect("UDP-encapsulated");
        assert_eq!((n.local_port, n.remote_port), (4500, 4500));
        // The responder sends ESP to the NAT's mapping of the initiator's port 4500.
        let n = sr.nat_t.expect("UDP-encapsulated");
        assert_eq!((n.local_port, n.remote_port), (4500, 5500));
        assert_eq!(sr.peer.ip(), public.ip());
        // Transport mode carries NAT-OA (RFC 3947 §5.2): each side learns the other's own address.
        let (oa_i, oa_r) = match mode {
            EncapsulationMode::Transport => (Some(addr(R).ip()), Some(addr(I).ip())),
            EncapsulationMode::Tunnel => (None, None),
        };
        assert_eq!((si.peer_original, sr.peer_original), (oa_i, oa_r));
    }
}

fn failed(e: &mut control::ike::Endpoint) -> IkeError {
    // (The initiator also reports the peer's protected notify as a Notification event.)
    let events: Vec<Event> = drain(e).into_iter().filter(|e| !matches!(e, Event::Notification { .. })).collect();
    match events.as_slice() {
        [Event::Phase2Failed { error, .. }] => error.clone(),
        other => panic!("expected one Phase2Failed, got {other:?}"),
    }
}

#[test]
fn mismatched_proxy_ids_are_invalid_id_information() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None);
    let mut m = mirror(&p, addr(I).ip());
    m.remote = prefix("192.0.2.0/26"); // not the initiator's 192.0.2.128/25
    net.r.set_crypto_maps(vec![m]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    assert_eq!(failed(&mut net.r), IkeError::Notify(NotifyType::INVALID_ID_INFORMATION));
    assert_eq!(failed(&mut net.i), IkeError::Notify(NotifyType::INVALID_ID_INFORMATION));
    assert_eq!(net.i.quick_mode_count(), 0);
    // A narrower proposal inside the responder's policy is accepted, with the proposed identities.
    let narrow = ike_qm_support::policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None);
    let mut wide = mirror(&narrow, addr(I).ip());
    wide.remote = prefix("192.0.2.0/24");
    net.r.set_crypto_maps(vec![wide]);
    net.i.quick_mode(net.now, &c, &narrow).unwrap();
    net.pump();
    let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
    check_same_keys(&si, &sr);
    assert_eq!(sr.remote_id, prefix(I_NET));
}

#[test]
fn no_common_transform_is_no_proposal_chosen() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None);
    let mut m = mirror(&p, addr(I).ip());
    m.transform_sets = vec![esp(Enc::AesCbc256, Integ::HmacSha1_96)];
    net.r.set_crypto_maps(vec![m.clone()]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    assert_eq!(failed(&mut net.r), IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
    assert_eq!(failed(&mut net.i), IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
    // A PFS group the responder's policy does not have is no match either.
    m.transform_sets = p.transform_sets.clone();
    m.pfs = Some(G::ECP_384);
    net.r.set_crypto_maps(vec![m]);
    net.i.quick_mode(net.now, &c, &policy(p.transform_sets.clone(), Some(G::ECP_256))).unwrap();
    net.pump();
    assert_eq!(failed(&mut net.r), IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
    assert_eq!(failed(&mut net.i), IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
}

#[test]
fn responder_shortens_lifetimes() {
    let (mut net, c) = phase1();
    let mut p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None);
    p.lifetime_secs = 7200;
    p.lifetime_kilobytes = 0;
    let mut m = mirror(&p, addr(I).ip());
    m.lifetime_secs = 1800;
    m.lifetime_kilobytes = 100_000;
    net.r.set_crypto_maps(vec![m]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
    check_same_keys(&si, &sr);
    assert_eq!((si.lifetime_secs, si.lifetime_kilobytes), (1800, 100_000));
    // A longer responder lifetime does not lengthen the initiator's.
    let mut m = mirror(&p, addr(I).ip());
    m.lifetime_secs = 86_400;
    net.r.set_crypto_maps(vec![m]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
    assert_eq!((si.lifetime_secs, sr.lifetime_secs), (7200, 7200));
}

/// Quick Mode messages in the log after the first `skip` entries.
fn qm_messages(net: &Net, skip: usize) -> Vec<(SocketAddr, Message)> {
    net.log[skip..].iter().map(|(from, m)| (*from, Message::parse(m).unwrap())).collect()
}

#[test]
fn lost_reply_is_retransmitted_and_duplicate_answered() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], Some(G::ECP_256));
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    let first = net.delivered;
    // Lose message 2: the initiator retransmits message 1, the responder answers with its stored message 2.
    net.pump_with(|n, _| n == first + 2);
    assert!(drain(&mut net.i).is_empty() && drain(&mut net.r).is_empty());
    assert!(net.tick());
    net.pump();
    let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
    check_same_keys(&si, &sr);
    eprintln!("{:?}\n{:?}", net.i.stats(), net.r.stats());
    assert!(net.i.stats().retransmits >= 1);
    assert!(net.r.stats().duplicates >= 1, "message 1 again is a duplicate");
}

#[test]
fn lost_final_message_is_recovered() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesGcm128, Integ::None)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    let first = net.delivered;
    // Lose message 3: the responder retransmits message 2, which the initiator answers with message 3 again.
    net.pump_with(|n, _| n == first + 3);
    let si = phase2(&mut net.i);
    assert!(drain(&mut net.r).is_empty());
    assert!(net.tick());
    net.pump();
    let sr = phase2(&mut net.r);
    check_same_keys(&si, &sr);
    assert!(drain(&mut net.i).is_empty(), "no second SA from a duplicate");
    assert_eq!((net.r.stats().retransmits, net.i.stats().duplicates), (1, 1));
    // Lingering exchanges are forgotten after a while; nothing is retransmitted any more.
    while net.tick() && net.i.quick_mode_count() + net.r.quick_mode_count() > 0 {}
    assert_eq!(net.i.quick_mode_count() + net.r.quick_mode_count(), 0);
}

#[test]
fn unanswered_quick_mode_times_out_and_frees_its_spi() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    let first = net.delivered;
    // The responder never hears anything.
    let mut sent = 0;
    while net.i.quick_mode_count() > 0 {
        net.pump_with(|n, _| n > first);
        assert!(net.tick());
        sent += 1;
        assert!(sent < 10);
    }
    match drain(&mut net.i).as_slice() {
        [Event::Phase2Failed { error: IkeError::Timeout(3), .. }] => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn commit_bit_waits_for_connected() {
    let (mut net, c) = phase1();
    net.i.set_quick_mode_commit(true);
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    let skip = net.log.len();
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.pump();
    let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
    check_same_keys(&si, &sr);
    let msgs = qm_messages(&net, skip);
    let kinds: Vec<ExchangeType> = msgs.iter().map(|(_, m)| m.header.exchange_type).collect();
    use ExchangeType as X;
    assert_eq!(kinds, [X::QUICK_MODE, X::QUICK_MODE, X::QUICK_MODE, X::INFORMATIONAL]);
    assert!(msgs[0].1.header.flags.contains(control::isakmp::Flags::COMMIT));
    assert_eq!(msgs[3].0, addr(R), "CONNECTED comes from the responder");
    assert_eq!(msgs[3].1.header.message_id, si.message_id, "on the Quick Mode's message ID");
}

#[test]
fn initiator_without_connected_reports_nothing() {
    let (mut net, c) = phase1();
    net.i.set_quick_mode_commit(true);
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha1_96)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    let first = net.delivered;
    net.pump_with(|n, _| n == first + 4); // CONNECTED lost
    let sr = phase2(&mut net.r);
    assert!(drain(&mut net.i).is_empty());
    // Message 3 again makes the responder send CONNECTED again, without a second SA on its side.
    assert!(net.tick());
    net.pump();
    let si = phase2(&mut net.i);
    assert!(drain(&mut net.r).is_empty());
    check_same_keys(&si, &sr);
}

#[test]
fn quick_mode_on_an_aggressive_mode_sa() {
    let p1 = ike_qm_support::net::policy(
        control::crypto::IkeCipher::Aes256Cbc,
        control::isakmp::HashAlgorithm::SHA2_384,
        G::ECP_384,
    );
    let mut net = Net::new(config(vec![p1], R, b"k"), config(vec![p1], I, b"k"));
    let c = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    drain(&mut net.i);
    drain(&mut net.r);
    quick(&mut net, &c, &policy(vec![esp(Enc::AesGcm256, Integ::None)], Some(G::ECP_384)));
}

#[test]
fn quick_mode_on_a_deleted_isakmp_sa_fails() {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    net.i.delete(&c).unwrap();
    while net.i.poll_transmit().is_some() {}
    assert!(net.tick());
    let events = drain(&mut net.i);
    assert!(matches!(events.as_slice(), [Event::Phase1Deleted { .. }, Event::Phase2Failed { .. }]), "{events:?}");
    assert_eq!(net.i.quick_mode_count(), 0);
}
