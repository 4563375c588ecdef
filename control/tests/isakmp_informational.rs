//! Informational exchanges on an established ISAKMP SA (DPD, Delete, notifications), the unprotected
//! NO-PROPOSAL-CHOSEN notify, and lifetime expiry, between two in-memory endpoints.

mod isakmp_support;

use std::time::Duration;

use control::crypto::IkeCipher;
use control::ike::Event;
use control::isakmp::{ExchangeType, GroupDescription, HashAlgorithm, Message, NotifyType, Payload};
use isakmp_support::net::*;

fn established_pair() -> (Net, control::isakmp::Cookie) {
    let p = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some() && established(&mut net.r).is_some());
    (net, icookie)
}

#[test]
fn dpd_probe_is_acknowledged_both_ways() {
    let (mut net, icookie) = established_pair();
    let before = net.log.len();
    net.i.dpd_probe(&icookie, 7).unwrap();
    net.pump();
    assert_eq!(net.log.len(), before + 2, "R-U-THERE and its ACK");
    for (_, m) in &net.log[before..] {
        let msg = Message::parse(m).unwrap();
        assert_eq!(msg.header.exchange_type, ExchangeType::INFORMATIONAL);
        assert!(msg.header.flags.encrypted());
        assert_ne!(msg.header.message_id, 0);
    }
    match net.i.poll_event() {
        Some(Event::DpdAck { sequence: 7, initiator_cookie, .. }) => assert_eq!(initiator_cookie, icookie),
        other => panic!("{other:?}"),
    }
    // The responder probes too (the SA is known by the initiator's cookie on both sides).
    net.r.dpd_probe(&icookie, 8).unwrap();
    net.pump();
    assert!(matches!(net.r.poll_event(), Some(Event::DpdAck { sequence: 8, .. })));
    // Several exchanges in a row keep their IVs apart.
    for seq in 9..12 {
        net.i.dpd_probe(&icookie, seq).unwrap();
    }
    net.pump();
    for seq in 9..12 {
        assert!(matches!(net.i.poll_event(), Some(Event::DpdAck { sequence, .. }) if sequence == seq));
    }
}

#[test]
fn tampered_informational_is_dropped() {
    let (mut net, icookie) = established_pair();
    net.i.dpd_probe(&icookie, 1).unwrap();
    let mut probe = net.i.poll_transmit().unwrap().contents;
    // A byte of the first encrypted block: that block decrypts to garbage (HASH payload header or HASH(1) itself).
    probe[40] ^= 0x80;
    net.r.handle(net.now, addr(R), addr(I), &probe);
    assert!(net.r.poll_transmit().is_none(), "no ACK to a forged probe");
    assert_eq!(net.r.stats().dropped_in_state, 1);
    assert!(net.r.poll_event().is_none());
}

#[test]
fn delete_removes_the_sa_on_both_sides() {
    let (mut net, icookie) = established_pair();
    net.i.delete(&icookie).unwrap();
    assert!(matches!(net.i.poll_event(), Some(Event::Phase1Deleted { by_peer: false, .. })));
    let d = net.i.poll_transmit().unwrap();
    net.r.handle(net.now, addr(R), addr(I), &d.contents);
    assert!(matches!(net.r.poll_event(), Some(Event::Phase1Deleted { by_peer: true, .. })));
    assert_eq!((net.i.sa_count(), net.r.sa_count()), (0, 0));
    assert!(net.i.dpd_probe(&icookie, 1).is_err());
}

#[test]
fn sa_expires_after_its_lifetime() {
    let (mut net, icookie) = established_pair();
    let at = net.i.poll_timeout().unwrap();
    assert_eq!(at - net.now, Duration::from_secs(86_400));
    net.i.handle_timeout(at - Duration::from_secs(1));
    assert!(net.i.poll_event().is_none());
    net.i.handle_timeout(at);
    match net.i.poll_event() {
        Some(Event::Phase1Expired { initiator_cookie, .. }) => assert_eq!(initiator_cookie, icookie),
        other => panic!("{other:?}"),
    }
    assert_eq!(net.i.poll_timeout(), None);
}

#[test]
fn initiator_hears_unprotected_no_proposal_chosen() {
    let a = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048);
    let b = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![a], R, b"k"), config(vec![b], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    match net.i.poll_event() {
        Some(Event::Notification { notify_type, protected, .. }) => {
            assert_eq!(notify_type, NotifyType::NO_PROPOSAL_CHOSEN);
            assert!(!protected, "sent before keys exist");
        }
        other => panic!("{other:?}"),
    }
    // An unauthenticated notify does not end the exchange: the initiator keeps retransmitting until it gives up.
    assert_eq!(net.i.sa_count(), 1);
    let (_, last) = net.log.last().unwrap();
    assert!(matches!(&Message::parse(last).unwrap().payloads()[0], Payload::Notification(_)));
}
