//! Main Mode and Aggressive Mode with pre-shared keys: two sans-IO endpoints handshake in memory on simulated time.

mod isakmp_support;

use std::time::{Duration, Instant};

use control::crypto::IkeCipher;
use control::ike::{Endpoint, Event, IkeError, Phase1Proposal};
use control::isakmp::{AuthMethod, ExchangeType, GroupDescription, HashAlgorithm, Message, NotifyType, Payload};
use isakmp_support::net::*;

fn handshake(p: Phase1Proposal) {
    let mut net = Net::new(config(vec![p], R, b"example-only-secret"), config(vec![p], I, b"example-only-secret"));
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 6, "Main Mode is six messages");
    let (ci, pi) = established(&mut net.i).expect("initiator established");
    let (cr, pr) = established(&mut net.r).expect("responder established");
    assert_eq!((ci, cr), (icookie, icookie));
    assert_eq!((pi, pr), (p, p));
    assert_eq!(net.i.skeyid_d(&icookie).unwrap(), net.r.skeyid_d(&icookie).unwrap(), "same SKEYID_d");
    // Nothing left to retransmit: the next deadline is the SA's lifetime.
    let expiry = Some(net.now + Duration::from_secs(u64::from(p.lifetime_secs)));
    assert_eq!(net.i.poll_timeout(), expiry);
    assert_eq!(net.r.poll_timeout(), expiry);
    // Messages 5 and 6 are encrypted, 1-4 are not.
    for (n, (_, m)) in net.log.iter().enumerate() {
        let msg = Message::parse(m).unwrap();
        assert_eq!(msg.header.exchange_type, ExchangeType::MAIN_MODE);
        assert_eq!(msg.header.flags.encrypted(), n >= 4, "message {}", n + 1);
    }
}

#[test]
fn every_cipher_hash_and_group() {
    use GroupDescription as G;
    use HashAlgorithm as H;
    use IkeCipher as C;
    let cases = [
        (C::DesCbc, H::MD5, G::MODP_768),
        (C::TripleDesCbc, H::SHA1, G::MODP_1024),
        (C::Aes128Cbc, H::SHA2_256, G::MODP_1536),
        (C::Aes192Cbc, H::SHA2_384, G::MODP_2048),
        (C::Aes256Cbc, H::SHA2_512, G::MODP_3072),
        (C::Aes256Cbc, H::SHA2_256, G::MODP_4096),
        (C::Aes128Cbc, H::SHA1, G::MODP_2048_256),
        (C::Aes128Cbc, H::SHA2_256, G::ECP_256),
        (C::Aes256Cbc, H::SHA2_384, G::ECP_384),
    ];
    for (c, h, g) in cases {
        handshake(policy(c, h, g));
    }
}

#[test]
fn responder_picks_first_offered_transform_it_accepts() {
    let a = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048);
    let b = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let c = policy(IkeCipher::TripleDesCbc, HashAlgorithm::SHA1, GroupDescription::MODP_1024);
    // The initiator offers a, b, c; the responder has c and b (in its own priority order).
    let mut net = Net::new(config(vec![a, b, c], R, b"k"), config(vec![c, b], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(established(&mut net.i).unwrap().1, b);
    assert_eq!(established(&mut net.r).unwrap().1, b);
}

#[test]
fn longer_lifetime_than_local_is_not_accepted() {
    let mine = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::MODP_2048);
    let longer = Phase1Proposal { lifetime_secs: mine.lifetime_secs + 1, ..mine };
    let shorter = Phase1Proposal { lifetime_secs: 3600, ..mine };
    let offered = control::ike::offer(&[longer]);
    assert!(control::ike::choose(&[mine], &offered).is_none());
    let (reply, chosen) = control::ike::choose(&[mine], &control::ike::offer(&[longer, shorter])).unwrap();
    assert_eq!(chosen.lifetime_secs, 3600);
    assert_eq!(reply.proposals[0].transforms.len(), 1);
    assert_eq!(reply.proposals[0].transforms[0].number, 2);
}

#[test]
fn no_common_proposal_is_refused_with_notify() {
    let a = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048);
    let b = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![a], R, b"k"), config(vec![b], I, b"k"));
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    match net.r.poll_event() {
        Some(Event::Phase1Failed { error, initiator_cookie, .. }) => {
            assert_eq!(error, IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
            assert_eq!(initiator_cookie, icookie);
        }
        other => panic!("{other:?}"),
    }
    let (_, reply) = net.log.last().unwrap();
    let msg = Message::parse(reply).unwrap();
    assert_eq!(msg.header.exchange_type, ExchangeType::INFORMATIONAL);
    assert!(matches!(&msg.payloads()[0], Payload::Notification(n) if n.notify_type == NotifyType::NO_PROPOSAL_CHOSEN));
    assert_eq!(net.r.sa_count(), 0);
}

#[test]
fn wrong_pre_shared_key_fails_authentication() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![p], R, b"one key"), config(vec![p], I, b"another key"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 5, "the responder does not answer message 5");
    match net.r.poll_event() {
        Some(Event::Phase1Failed { error, .. }) => {
            assert_eq!(error.notify(), Some(NotifyType::AUTHENTICATION_FAILED), "{error}")
        }
        other => panic!("{other:?}"),
    }
    // The initiator retransmits message 5 with backoff (1, 2, 4 s), then gives up.
    let start = net.now;
    let mut retransmits = 0;
    while net.tick() {
        while net.i.poll_transmit().is_some() {
            retransmits += 1;
        }
    }
    assert_eq!(retransmits, 3);
    assert_eq!(net.now - start, Duration::from_secs(1 + 2 + 4 + 8));
    assert!(matches!(net.i.poll_event(), Some(Event::Phase1Failed { error: IkeError::Timeout(3), .. })));
    assert_eq!(net.i.sa_count(), 0);
}

#[test]
fn lost_reply_is_retransmitted_and_duplicate_gets_stored_reply() {
    let p = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048);
    let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    // Lose message 4 (the responder's KE): the initiator retransmits message 3 after 1 s; the responder sees a
    // duplicate and resends its stored message 4 instead of computing a new one.
    net.pump_with(|n, _| n == 4);
    assert_eq!(net.delivered, 4);
    let m4 = net.log[3].1.clone();
    assert!(net.tick());
    net.pump();
    assert!(net.r.stats().duplicates >= 1);
    assert_eq!(net.i.stats().retransmits, 1);
    // Every copy of message 4 (the stored reply to the duplicate, the responder's own retransmission) is the
    // original, byte for byte: no second key exchange was computed.
    let has_ke = |m: &[u8]| Message::parse(m).unwrap().payloads().iter().any(|p| matches!(p, Payload::Ke(_)));
    let copies: Vec<_> = net.log.iter().filter(|(from, m)| *from == addr(R) && has_ke(m)).collect();
    assert!(copies.len() >= 2);
    assert!(copies.iter().all(|(_, m)| *m == m4));
    assert!(established(&mut net.i).is_some());
    assert!(established(&mut net.r).is_some());
}

#[test]
fn lost_last_message_is_recovered_by_retransmitting_message_5() {
    let p = policy(IkeCipher::TripleDesCbc, HashAlgorithm::SHA1, GroupDescription::MODP_1024);
    let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump_with(|n, _| n == 6);
    assert!(established(&mut net.r).is_some());
    assert!(net.i.poll_event().is_none());
    assert!(net.tick());
    net.pump();
    assert!(established(&mut net.i).is_some(), "message 6 resent from the responder's store");
}

#[test]
fn garbage_and_forged_messages_do_not_disturb_the_exchange() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump_with(|n, _| n >= 4); // stop after message 3 reaches the responder
    let m4 = net.r.poll_transmit();
    assert!(m4.is_none(), "message 4 was already taken by pump");
    let m3 = net.log[2].1.clone();
    // Truncated, bit-flipped and unknown-SA copies are dropped and counted.
    net.r.handle(net.now, addr(R), addr(I), &m3[..m3.len() - 1]);
    let mut flipped = m3.clone();
    flipped[9] ^= 0xff; // responder cookie
    net.r.handle(net.now, addr(R), addr(I), &flipped);
    let s = net.r.stats();
    assert_eq!((s.malformed, s.unknown_sa), (1, 1));
    // The exchange still completes through retransmission.
    assert!(net.tick());
    net.pump();
    assert!(established(&mut net.i).is_some());
    assert!(established(&mut net.r).is_some());
}

#[test]
fn no_key_for_peer() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut e = Endpoint::new(config(vec![p], "203.0.113.9:500", b"k"), addr(I)).unwrap();
    assert_eq!(e.connect(Instant::now(), addr(R)), Err(IkeError::NoKey(addr(R).ip())));
    let unsupported = Phase1Proposal { auth: AuthMethod::RSA_SIGNATURES, ..p };
    assert!(Endpoint::new(config(vec![unsupported], R, b"k"), addr(I)).is_err());
}

#[test]
fn half_open_responder_exchanges_are_bounded() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut r = Endpoint::new(config(vec![p], I, b"k"), addr(R)).unwrap();
    let now = Instant::now();
    for n in 0..6u8 {
        let mut i = Endpoint::new(config(vec![p], R, b"k"), addr(I)).unwrap();
        i.connect(now, addr(R)).unwrap();
        let m1 = i.poll_transmit().unwrap().contents;
        r.handle(now, addr(R), addr(I), &m1);
        assert_eq!(r.sa_count(), usize::from(n.min(3) + 1));
    }
    assert_eq!(r.stats().half_open_limit, 2);
}

/// Handshakes per second, initiator and responder in one process on one thread (sans-IO, no sockets). Run with
/// `cargo test --release -p control --test isakmp_main_mode -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_handshakes_per_second() {
    for (name, p) in [
        ("PSK + group 14", policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048)),
        ("PSK + group 19", policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256)),
    ] {
        let n = 200;
        let start = std::time::Instant::now();
        for _ in 0..n {
            let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
            net.i.connect(net.now, addr(R)).unwrap();
            net.pump();
            assert!(established(&mut net.i).is_some());
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{name}: {n} Main Mode handshakes in {secs:.3} s = {:.0} handshakes/s", n as f64 / secs);
    }
}

#[test]
fn initiator_accepts_reply_encoded_differently_but_refuses_other_algorithms() {
    use control::isakmp::{Attribute, IkeAttributeType, SaRepr};
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut i = Endpoint::new(config(vec![p], R, b"k"), addr(I)).unwrap();
    let now = Instant::now();
    let icookie = i.connect(now, addr(R)).unwrap();
    let m1 = Message::parse(&i.poll_transmit().unwrap().contents).unwrap();
    let reply = |sa: SaRepr| {
        let mut h = m1.header.clone();
        h.responder_cookie = [9; 8];
        Message { header: h, body: control::isakmp::Body::Payloads(vec![Payload::Sa(sa)]) }.to_bytes().unwrap()
    };
    let Payload::Sa(offered) = &m1.payloads()[0] else { panic!() };
    // Attributes reversed and the lifetime sent as a 4-byte variable attribute: the same proposal.
    let mut same = offered.clone();
    let t = &mut same.proposals[0].transforms[0];
    t.attributes.reverse();
    let life = t.attributes.iter_mut().find(|a| a.kind == IkeAttributeType::LIFE_DURATION.0).unwrap();
    *life = Attribute::variable(IkeAttributeType::LIFE_DURATION, 86_400u32.to_be_bytes().to_vec());
    // Life type must precede life duration; put it back in front of the duration.
    t.attributes.retain(|a| a.kind != IkeAttributeType::LIFE_TYPE.0);
    let pos = t.attributes.iter().position(|a| a.kind == IkeAttributeType::LIFE_DURATION.0).unwrap();
    t.attributes.insert(pos, Attribute::basic(IkeAttributeType::LIFE_TYPE, 1u16));
    let mut other = offered.clone();
    let g = other.proposals[0].transforms[0]
        .attributes
        .iter_mut()
        .find(|a| a.kind == IkeAttributeType::GROUP_DESCRIPTION.0)
        .unwrap();
    *g = Attribute::basic(IkeAttributeType::GROUP_DESCRIPTION, GroupDescription::MODP_2048);
    i.handle(now, addr(I), addr(R), &reply(same));
    let m3 = Message::parse(&i.poll_transmit().expect("message 3").contents).unwrap();
    assert_eq!(m3.header.initiator_cookie, icookie);

    let mut i2 = Endpoint::new(config(vec![p], R, b"k"), addr(I)).unwrap();
    i2.connect(now, addr(R)).unwrap();
    let m1b = Message::parse(&i2.poll_transmit().unwrap().contents).unwrap();
    let mut h = m1b.header.clone();
    h.responder_cookie = [9; 8];
    let bytes =
        Message { header: h, body: control::isakmp::Body::Payloads(vec![Payload::Sa(other)]) }.to_bytes().unwrap();
    i2.handle(now, addr(I), addr(R), &bytes);
    match i2.poll_event() {
        Some(Event::Phase1Failed { error, .. }) => assert_eq!(error, IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN)),
        other => panic!("{other:?}"),
    }
}

// ---- Aggressive Mode ----

#[test]
fn aggressive_mode_handshakes() {
    for p in [
        policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048),
        policy(IkeCipher::TripleDesCbc, HashAlgorithm::MD5, GroupDescription::MODP_1024),
        policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256),
    ] {
        let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
        let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
        net.pump();
        assert_eq!(net.delivered, 3, "Aggressive Mode is three messages");
        assert_eq!(established(&mut net.i).unwrap(), (icookie, p));
        assert_eq!(established(&mut net.r).unwrap(), (icookie, p));
        assert_eq!(net.i.skeyid_d(&icookie).unwrap(), net.r.skeyid_d(&icookie).unwrap());
        for (_, m) in &net.log {
            let msg = Message::parse(m).unwrap();
            assert_eq!(msg.header.exchange_type, ExchangeType::AGGRESSIVE);
            assert!(!msg.header.flags.encrypted());
        }
        let expiry = Some(net.now + Duration::from_secs(u64::from(p.lifetime_secs)));
        assert_eq!((net.i.poll_timeout(), net.r.poll_timeout()), (expiry, expiry));
    }
}

#[test]
fn aggressive_mode_offers_only_the_first_group() {
    let a = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256);
    let b = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::MODP_2048);
    let c = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut i = Endpoint::new(config(vec![a, b, c], R, b"k"), addr(I)).unwrap();
    i.connect_aggressive(Instant::now(), addr(R)).unwrap();
    let m1 = Message::parse(&i.poll_transmit().unwrap().contents).unwrap();
    let Payload::Sa(sa) = &m1.payloads()[0] else { panic!() };
    let offered: Vec<_> =
        sa.proposals[0].transforms.iter().map(|t| Phase1Proposal::from_transform(t).unwrap()).collect();
    assert_eq!(offered, vec![a, c]);
    // A responder whose only policy uses another group cannot take the KE already sent.
    let mut net = Net::new(config(vec![a, b, c], R, b"k"), config(vec![b], I, b"k"));
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert!(matches!(
        net.r.poll_event(),
        Some(Event::Phase1Failed { error: IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN), .. })
    ));
}

#[test]
fn aggressive_mode_can_be_disabled_on_the_responder() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut cr = config(vec![p], I, b"k");
    cr.aggressive_mode = false;
    let mut net = Net::new(config(vec![p], R, b"k"), cr);
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.r.stats().aggressive_refused, 1);
    assert_eq!(net.r.sa_count(), 0);
    while net.tick() {
        net.pump();
    }
    assert!(matches!(net.i.poll_event(), Some(Event::Phase1Failed { error: IkeError::Timeout(3), .. })));
    assert_eq!(net.r.stats().aggressive_refused, 4, "message 1 and its three retransmissions");
    // Main Mode still works with the same configuration.
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some());
}

#[test]
fn aggressive_mode_wrong_key_is_caught_by_the_initiator() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![p], R, b"right"), config(vec![p], I, b"wrong"));
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 2);
    match net.i.poll_event() {
        Some(Event::Phase1Failed { error, .. }) => {
            assert_eq!(error, IkeError::AuthenticationFailed("HASH_R does not match"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn aggressive_mode_lost_message_3_is_answered_again() {
    let p = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048);
    let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump_with(|n, _| n == 3);
    assert!(established(&mut net.i).is_some());
    assert!(net.r.poll_event().is_none());
    // The responder retransmits message 2; the established initiator answers with its stored message 3.
    assert!(net.tick());
    net.pump();
    assert!(established(&mut net.r).is_some());
    assert_eq!(net.i.stats().duplicates, 1);
    assert_eq!(net.log[2].1, net.log[4].1, "message 3 resent byte for byte");
    assert!(net.i.poll_event().is_none(), "no second establishment");
}
