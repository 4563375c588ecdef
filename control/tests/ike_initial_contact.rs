//! INITIAL-CONTACT (RFC 2407 §4.6.3.3) between two in-memory endpoints: sent inside Main Mode message 5 or 6 when
//! no other ISAKMP SA with the peer exists, and on receipt every other SA with that peer (same address and
//! identity) is deleted and `Event::InitialContact` raised, in both directions (a restarted initiator, a restarted
//! responder).

mod isakmp_support;

use control::crypto::IkeCipher;
use control::ike::{Endpoint, Event};
use control::isakmp::{
    Body, Cookie, Doi, ExchangeType, Flags, GroupDescription, HashAlgorithm, HeaderRepr, IdData, Message,
    NotificationRepr, NotifyType, Payload, ProtocolId,
};

const MAIN_MODE: ExchangeType = ExchangeType::MAIN_MODE;
use isakmp_support::net::*;

fn p() -> control::ike::Phase1Proposal {
    policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256)
}

fn endpoint(local: &str, peer: &str, initial_contact: bool) -> Endpoint {
    let mut e = Endpoint::new(config(vec![p()], peer, b"k"), addr(local)).unwrap();
    e.set_initial_contact(initial_contact);
    e
}

fn pair(i_sends: bool, r_sends: bool) -> Net {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.i.set_initial_contact(i_sends);
    net.r.set_initial_contact(r_sends);
    net
}

fn events(e: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

/// What happened, in order, reduced to (kind, cookie).
fn summary(evs: &[Event]) -> Vec<(&'static str, Cookie)> {
    evs.iter()
        .map(|e| match e {
            Event::Phase1Established { initiator_cookie, .. } => ("established", *initiator_cookie),
            Event::Phase1Deleted { initiator_cookie, .. } => ("deleted", *initiator_cookie),
            Event::InitialContact { initiator_cookie, .. } => ("initial-contact", *initiator_cookie),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn main_mode(net: &mut Net) -> Cookie {
    let c = net.i.connect(net.now, addr(R)).unwrap();
    let before = net.log.len();
    net.pump();
    // Still six Main Mode messages: the notify rides inside message 5 or 6 (Deletes of old SAs may follow).
    let mm = net.log[before..].iter().filter(|(_, m)| Message::parse(m).unwrap().header.exchange_type == MAIN_MODE);
    assert_eq!(mm.count(), 6);
    c
}

#[test]
fn initiator_sends_it_in_message_5() {
    let mut net = pair(true, false);
    let c = main_mode(&mut net);
    assert_eq!(summary(&events(&mut net.i)), [("established", c)]);
    let evs = events(&mut net.r);
    assert_eq!(summary(&evs), [("established", c), ("initial-contact", c)]);
    assert!(matches!(evs[1], Event::InitialContact { peer, .. } if peer == addr(I)));
    assert_eq!((net.r.stats().initial_contacts, net.r.stats().initial_contact_removed), (1, 0));
    // Message 5 is the longer for it (a 28-byte notify: 12-byte header and the two cookies as SPI, then padding).
    let mut plain = pair(false, false);
    main_mode(&mut plain);
    assert!(net.log[4].1.len() > plain.log[4].1.len());
    assert_eq!(net.log[5].1.len(), plain.log[5].1.len());
}

#[test]
fn responder_sends_it_in_message_6() {
    let mut net = pair(false, true);
    let c = main_mode(&mut net);
    assert_eq!(summary(&events(&mut net.i)), [("established", c), ("initial-contact", c)]);
    assert_eq!(summary(&events(&mut net.r)), [("established", c)]);
    assert_eq!(net.i.stats().initial_contacts, 1);
}

#[test]
fn not_sent_while_another_sa_with_the_peer_exists() {
    let mut net = pair(true, true);
    let first = main_mode(&mut net);
    assert_eq!(summary(&events(&mut net.r)), [("established", first), ("initial-contact", first)]);
    assert_eq!(summary(&events(&mut net.i)), [("established", first), ("initial-contact", first)]);
    // A second ISAKMP SA between the same two: both already hold one, neither says INITIAL-CONTACT.
    let second = main_mode(&mut net);
    assert_eq!(summary(&events(&mut net.i)), [("established", second)]);
    assert_eq!(summary(&events(&mut net.r)), [("established", second)]);
    assert_eq!((net.i.sa_count(), net.r.sa_count()), (2, 2));
}

#[test]
fn restarted_initiator_clears_the_responders_old_sas() {
    let mut net = pair(false, false);
    let old = main_mode(&mut net);
    let old2 = main_mode(&mut net);
    let _ = (events(&mut net.i), events(&mut net.r));
    // The initiator restarts: no state, and it says so.
    net.i = endpoint(I, R, true);
    let new = main_mode(&mut net);
    let evs = summary(&events(&mut net.r));
    assert_eq!(evs.len(), 4, "{evs:?}");
    assert_eq!(evs[0], ("established", new));
    let mut deleted: Vec<Cookie> = evs[1..3].iter().map(|(k, c)| if *k == "deleted" { *c } else { panic!() }).collect();
    deleted.sort();
    let mut expected = vec![old, old2];
    expected.sort();
    assert_eq!(deleted, expected);
    assert_eq!(evs[3], ("initial-contact", new));
    assert_eq!(net.r.sa_count(), 1);
    assert_eq!((net.r.stats().initial_contacts, net.r.stats().initial_contact_removed), (1, 2));
    // The responder told the peer with protected Deletes; the restarted initiator does not know those SAs.
    let tail: Vec<Message> = net.log[net.log.len() - 2..].iter().map(|(_, m)| Message::parse(m).unwrap()).collect();
    assert!(tail.iter().all(|m| m.header.flags.encrypted() && expected.contains(&m.header.initiator_cookie)));
    assert_eq!(net.i.stats().unknown_sa, 2);
    assert_eq!(net.i.sa_count(), 1);
}

#[test]
fn restarted_responder_clears_the_initiators_old_sa() {
    let mut net = pair(false, false);
    let old = main_mode(&mut net);
    let _ = (events(&mut net.i), events(&mut net.r));
    net.r = endpoint(R, I, true);
    // The initiator still holds `old`, so it sends nothing; the fresh responder answers with INITIAL-CONTACT.
    let new = main_mode(&mut net);
    assert_eq!(summary(&events(&mut net.i)), [("established", new), ("deleted", old), ("initial-contact", new)]);
    assert_eq!(summary(&events(&mut net.r)), [("established", new)]);
    assert_eq!((net.i.sa_count(), net.r.sa_count()), (1, 1));
    assert!(net.i.skeyid_d(&old).is_none() && net.i.skeyid_d(&new).is_some());
}

#[test]
fn another_identity_at_the_same_address_is_left_alone() {
    let mut net = pair(false, false);
    let old = main_mode(&mut net);
    let _ = (events(&mut net.i), events(&mut net.r));
    // A second gateway behind the same address (another identity) starts and says INITIAL-CONTACT.
    net.i = endpoint(I, R, true);
    net.i.set_local_identity(IdData::Fqdn(b"gw2.example.net".to_vec()));
    let new = main_mode(&mut net);
    assert_eq!(summary(&events(&mut net.r)), [("established", new), ("initial-contact", new)]);
    assert_eq!((net.r.stats().initial_contact_removed, net.r.sa_count()), (0, 2));
    assert!(net.r.skeyid_d(&old).is_some());
}

/// Appends `extra` to the payloads of a plain message.
fn with_payload(bytes: &[u8], extra: Payload) -> Vec<u8> {
    let m = Message::parse(bytes).unwrap();
    let mut payloads = m.payloads().to_vec();
    payloads.push(extra);
    Message { header: m.header, body: Body::Payloads(payloads) }.to_bytes().unwrap()
}

fn initial_contact(icookie: Cookie, rcookie: Cookie) -> Payload {
    Payload::Notification(NotificationRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::ISAKMP,
        notify_type: NotifyType::INITIAL_CONTACT,
        spi: [icookie, rcookie].concat(),
        data: Vec::new(),
    })
}

#[test]
fn one_in_the_clear_is_not_believed() {
    let mut net = pair(false, false);
    let old = main_mode(&mut net);
    let _ = (events(&mut net.i), events(&mut net.r));
    // Aggressive Mode message 3 goes in the clear and HASH_I does not cover a notify added to it: the SA is
    // established, the INITIAL-CONTACT ignored.
    let new = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    let base = net.delivered;
    net.pump_with(|n, _| n == base + 3);
    let m3 = net.log.last().unwrap().1.clone();
    let rcookie = Message::parse(&m3).unwrap().header.responder_cookie;
    net.r.handle(net.now, addr(R), addr(I), &with_payload(&m3, initial_contact(new, rcookie)));
    assert_eq!(summary(&events(&mut net.r)), [("established", new)]);
    // Nor in an unprotected informational exchange on the established SA.
    let header = HeaderRepr {
        initiator_cookie: new,
        responder_cookie: rcookie,
        minor_version: 0,
        exchange_type: ExchangeType::INFORMATIONAL,
        flags: Flags::default(),
        message_id: 7,
    };
    let plain = Message { header, body: Body::Payloads(vec![initial_contact(new, rcookie)]) }.to_bytes().unwrap();
    net.r.handle(net.now, addr(R), addr(I), &plain);
    assert!(matches!(events(&mut net.r).as_slice(), [Event::Notification { protected: false, .. }]));
    assert_eq!((net.r.sa_count(), net.r.stats().initial_contacts), (2, 0));
    assert!(net.r.skeyid_d(&old).is_some());
}
