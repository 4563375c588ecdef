//! Garbled, truncated and misrouted Quick Mode messages are dropped and counted; they never panic, never produce an
//! SA, and never end an exchange that the genuine messages then complete.

mod ike_qm_support;

use control::ike::{Endpoint, Event, Transmit};
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};
use ike_qm_support::net::{addr, Net, I, R};
use ike_qm_support::*;
use proptest::prelude::*;

/// Feeds `t` (sent by the other side) to `e`.
fn deliver(net_now: std::time::Instant, e: &mut Endpoint, t: &Transmit, mutate: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = t.contents.clone();
    mutate(&mut bytes);
    e.handle(net_now, t.destination, t.source, &bytes);
}

fn no_sa(e: &mut Endpoint) {
    assert!(drain(e).iter().all(|ev| !matches!(ev, Event::Phase2Established(_))));
}

fn start() -> (Net, control::isakmp::Cookie, Transmit) {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    net.i.quick_mode(net.now, &c, &p).unwrap();
    let m1 = net.i.poll_transmit().unwrap();
    (net, c, m1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn garbled_message_1_then_the_genuine_one(pos in 0usize..400, bit in 0u8..8, cut in 0usize..400) {
        let (mut net, _, m1) = start();
        let len = m1.contents.len();
        deliver(net.now, &mut net.r, &m1, |b| b[pos % len] ^= 1 << bit);
        deliver(net.now, &mut net.r, &m1, |b| b.truncate(cut % len));
        no_sa(&mut net.r);
        // Whatever the responder answered to the garbage goes nowhere; the genuine message 1 still works.
        while net.r.poll_transmit().is_some() {}
        deliver(net.now, &mut net.r, &m1, |_| {});
        net.pump();
        let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
        check_same_keys(&si, &sr);
    }

    #[test]
    fn garbled_message_2_and_3_do_not_end_the_exchange(pos in 28usize..400, bit in 0u8..8) {
        let (mut net, _, m1) = start();
        deliver(net.now, &mut net.r, &m1, |_| {});
        let m2 = net.r.poll_transmit().unwrap();
        // Only the encrypted body is garbled here: a header change would make it another exchange.
        let len = m2.contents.len();
        deliver(net.now, &mut net.i, &m2, |b| b[28 + (pos - 28) % (len - 28)] ^= 1 << bit);
        no_sa(&mut net.i);
        while net.i.poll_transmit().is_some() {}
        deliver(net.now, &mut net.i, &m2, |_| {});
        let m3 = net.i.poll_transmit().unwrap();
        let len = m3.contents.len();
        deliver(net.now, &mut net.r, &m3, |b| b[28 + (pos - 28) % (len - 28)] ^= 1 << bit);
        no_sa(&mut net.r);
        deliver(net.now, &mut net.r, &m3, |_| {});
        let (si, sr) = (phase2(&mut net.i), phase2(&mut net.r));
        check_same_keys(&si, &sr);
    }
}

#[test]
fn quick_mode_from_strangers_is_ignored() {
    let (mut net, _, m1) = start();
    // From another address, and on an unknown ISAKMP SA.
    net.r.handle(net.now, m1.destination, "203.0.113.99:500".parse().unwrap(), &m1.contents);
    let mut other = m1.contents.clone();
    other[0] ^= 0xff;
    net.r.handle(net.now, m1.destination, m1.source, &other);
    assert_eq!(net.r.stats().unknown_sa, 2);
    assert!(net.r.poll_transmit().is_none() && drain(&mut net.r).is_empty());
    // Quick Mode needs an established ISAKMP SA on our side too.
    let p = policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None);
    assert!(net.i.quick_mode(net.now, &[9; 8], &p).is_err());
    let _ = (addr(R), &mut net);
}
