//! The Quick Mode responder's early inbound event: raised when message 2 goes out, with the very SAs that
//! Phase2Established reports once message 3 arrives; nothing of it unless asked for; and a failed exchange after it
//! is reported so its SAs can go.

mod ike_qm_support;

use control::ike::Event;
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};
use ike_qm_support::net::{addr, I};
use ike_qm_support::*;

#[test]
fn responder_reports_its_sas_at_message_2() {
    let (mut net, c) = phase1();
    net.r.set_early_inbound(true);
    let p = policy(vec![esp(Enc::AesCbc256, Integ::HmacSha256_128)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    let mid = net.i.quick_mode(net.now, &c, &p).unwrap();
    // Message 1 to the responder only: message 2 is out, message 3 not yet in.
    let m1 = net.i.poll_transmit().unwrap();
    net.r.handle(net.now, m1.destination, m1.source, &m1.contents);
    let early = match drain(&mut net.r).as_slice() {
        [Event::Phase2InboundReady(sa)] => sa.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((early.message_id, early.initiator), (mid, false));
    net.pump();
    let done = match drain(&mut net.r).as_slice() {
        [Event::Phase2Established(sa)] => sa.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(early, done, "the same SAs and keys");
    let i = phase2(&mut net.i);
    assert_eq!(i.esp.as_ref().unwrap().outbound.spi, early.esp.as_ref().unwrap().inbound.spi);
}

#[test]
fn off_by_default() {
    let (mut net, c) = phase1();
    let (_, r) = quick(&mut net, &c, &policy(vec![esp(Enc::AesGcm128, Integ::None)], None));
    assert!(!r.initiator);
    assert!(drain(&mut net.r).is_empty());
}

#[test]
fn a_lost_message_3_fails_the_exchange_after_the_early_event() {
    let (mut net, c) = phase1();
    net.r.set_early_inbound(true);
    let p = policy(vec![esp(Enc::AesGcm256, Integ::None)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    let mid = net.i.quick_mode(net.now, &c, &p).unwrap();
    let m1 = net.i.poll_transmit().unwrap();
    net.r.handle(net.now, m1.destination, m1.source, &m1.contents);
    assert!(matches!(drain(&mut net.r).as_slice(), [Event::Phase2InboundReady(_)]));
    // Message 3 never comes: the responder's retransmissions run out.
    for _ in 0..200 {
        net.now += std::time::Duration::from_secs(5);
        net.r.handle_timeout(net.now);
        while net.r.poll_transmit().is_some() {}
    }
    let events = drain(&mut net.r);
    assert!(
        events.iter().any(|e| matches!(e, Event::Phase2Failed { message_id, .. } if *message_id == mid)),
        "{events:?}"
    );
}
