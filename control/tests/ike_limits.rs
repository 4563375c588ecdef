//! What unauthenticated senders can make the IKE endpoint do: the per-source rate limit of new responder exchanges,
//! the message size limit, the half-open limit and the expiry that drains it, bounded retransmissions, and the error
//! notifies of Phase 1 (sent where RFC 2408 §5 asks, and ending our exchange when received).

mod config_common;
mod isakmp_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use control::crypto::IkeCipher;
use control::ike::{Config, Endpoint, Event, IkeError, Phase1Proposal};
use control::isakmp::{Body, GroupDescription, HashAlgorithm, Message, NotifyType, Payload};
use isakmp_support::net::*;

fn p() -> Phase1Proposal {
    policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256)
}

/// A responder with a key for the initiator and for every address of 198.51.100.0/24 and 203.0.113.0/24, so
/// message 1 from any of them gets message 2 and leaves state behind (as with a wildcard key: the costly case).
fn responder(tune: impl FnOnce(&mut Config)) -> Endpoint {
    let mut c = config(vec![p()], I, b"k");
    c.max_half_open = 1000;
    for host in 0..=255u8 {
        for net in [[198, 51, 100, host], [203, 0, 113, host]] {
            c.keys.push((net.into(), control::crypto::Secret::from_slice(b"k")));
        }
    }
    tune(&mut c);
    Endpoint::new(c, addr(R)).unwrap()
}

/// `n` distinct Main Mode message 1s (fresh initiator cookies), as a peer would send them.
fn message_1s(n: usize) -> Vec<Vec<u8>> {
    let mut i = Endpoint::new(config(vec![p()], R, b"k"), addr(I)).unwrap();
    let now = Instant::now();
    (0..n)
        .map(|_| {
            i.connect(now, addr(R)).unwrap();
            i.poll_transmit().unwrap().contents
        })
        .collect()
}

fn from(host: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, host], 500))
}

#[test]
fn new_exchanges_are_rate_limited_per_source() {
    let mut r = responder(|_| {});
    let now = Instant::now();
    let m1 = message_1s(60);
    // A burst of twice the default rate (10/s) from one address, then nothing until tokens come back.
    for m in &m1[..30] {
        r.handle(now, addr(R), from(1), m);
    }
    assert_eq!((r.half_open(), r.stats().rate_limited), (20, 10));
    // Another address is not affected.
    for m in &m1[30..35] {
        r.handle(now, addr(R), from(2), m);
    }
    assert_eq!((r.half_open(), r.stats().rate_limited), (25, 10));
    // Half a second later five more from the first address.
    let later = now + Duration::from_millis(500);
    for m in &m1[35..45] {
        r.handle(later, addr(R), from(1), m);
    }
    assert_eq!((r.half_open(), r.stats().rate_limited), (30, 15));
    // A retransmitted message 1 of an accepted exchange is a duplicate, not a new exchange: no token needed.
    r.handle(later, addr(R), from(1), &m1[0]);
    assert_eq!((r.stats().duplicates, r.stats().rate_limited), (1, 15));
    // Every accepted one got its message 2, nothing else was sent.
    assert_eq!(std::iter::from_fn(|| r.poll_transmit()).count(), 31);
}

#[test]
fn rate_limit_zero_is_off_and_the_source_table_is_bounded() {
    let m1 = message_1s(300);
    let now = Instant::now();
    let mut off = responder(|c| c.max_new_per_source_per_sec = 0);
    for m in &m1[..100] {
        off.handle(now, addr(R), from(1), m);
    }
    assert_eq!((off.half_open(), off.stats().rate_limited, off.rate_limit_sources()), (100, 0, 0));

    let mut r = responder(|c| c.rate_limit_sources = 50);
    for (n, m) in m1.iter().enumerate() {
        r.handle(now, addr(R), SocketAddr::from(([198, 51, 100, (n % 250) as u8 + 2], 500)), m);
        assert!(r.rate_limit_sources() <= 50);
    }
    assert_eq!(r.rate_limit_sources(), 50);
    assert_eq!(r.stats().rate_limited, 0, "300 from 250 addresses stay within each one's burst");
}

#[test]
fn oversized_messages_are_dropped_before_parsing() {
    let m1 = message_1s(2);
    let now = Instant::now();
    let mut r = responder(|c| c.max_message_size = m1[0].len() - 1);
    r.handle(now, addr(R), from(1), &m1[0]);
    assert_eq!((r.stats().oversized, r.stats().malformed, r.sa_count()), (1, 0, 0));
    // The default (64 KiB) takes any real message and refuses a larger datagram (an IPv6 jumbogram, a reassembly
    // gone wrong) without looking at it.
    let mut r = responder(|_| {});
    assert_eq!(control::ike::DEFAULT_MAX_MESSAGE_SIZE, 65_536);
    r.handle(now, addr(R), from(1), &m1[1]);
    assert_eq!(r.sa_count(), 1);
    let mut big = m1[1].clone();
    big.resize(70_000, 0);
    r.handle(now, addr(R), from(2), &big);
    assert_eq!((r.stats().oversized, r.stats().malformed, r.sa_count()), (1, 0, 1));
}

#[test]
fn half_open_table_is_bounded_and_drains_with_bounded_retransmissions() {
    let mut r = responder(|c| c.max_half_open = 8);
    let start = Instant::now();
    for (n, m) in message_1s(20).iter().enumerate() {
        r.handle(start, addr(R), from(n as u8 + 1), m);
    }
    assert_eq!((r.half_open(), r.stats().half_open_limit), (8, 12));
    assert_eq!(std::iter::from_fn(|| r.poll_transmit()).count(), 8, "message 2 for each accepted one");
    // No message 3 comes: each message 2 is resent 3 times (1, 2, 4 s), then the exchange is given up at 15 s.
    let mut now = start;
    while let Some(at) = r.poll_timeout() {
        now = at;
        r.handle_timeout(now);
    }
    assert_eq!(now - start, Duration::from_secs(1 + 2 + 4 + 8));
    assert_eq!((r.half_open(), r.sa_count()), (0, 0));
    assert_eq!(r.stats().retransmits, 8 * 3);
    assert_eq!(std::iter::from_fn(|| r.poll_transmit()).count(), 8 * 3);
    let timeouts = std::iter::from_fn(|| r.poll_event())
        .filter(|e| matches!(e, Event::Phase1Failed { error: IkeError::Timeout(3), .. }))
        .count();
    assert_eq!(timeouts, 8);
    // Room again for a genuine peer.
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.r = r;
    net.now = now;
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some() && established(&mut net.r).is_some());
}

#[test]
fn aggressive_mode_is_refused_unless_enabled_and_takes_no_token() {
    let mut ci = config(vec![p()], R, b"k");
    ci.max_new_per_source_per_sec = 1;
    let mut i = Endpoint::new(ci, addr(I)).unwrap();
    let mut cr = config(vec![p()], I, b"k");
    cr.aggressive_mode = false;
    cr.max_new_per_source_per_sec = 1;
    let mut r = Endpoint::new(cr, addr(R)).unwrap();
    let now = Instant::now();
    for _ in 0..5 {
        i.connect_aggressive(now, addr(R)).unwrap();
        let m = i.poll_transmit().unwrap().contents;
        r.handle(now, addr(R), addr(I), &m);
    }
    let s = r.stats();
    assert_eq!((s.aggressive_refused, s.rate_limited, r.sa_count()), (5, 0, 0));
    assert!(r.poll_transmit().is_none(), "no answer at all");
    // Main Mode from the same address still has its burst of 2.
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.r = r;
    net.i.connect(now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some());
}

/// Replaces the NONCE of a plain message with `nonce`.
fn with_nonce(bytes: &[u8], nonce: Vec<u8>) -> Vec<u8> {
    let m = Message::parse(bytes).unwrap();
    let payloads: Vec<Payload> = m
        .payloads()
        .iter()
        .map(|p| if let Payload::Nonce(_) = p { Payload::Nonce(nonce.clone()) } else { p.clone() })
        .collect();
    Message { header: m.header, body: Body::Payloads(payloads) }.to_bytes().unwrap()
}

fn notify_of(bytes: &[u8]) -> Option<NotifyType> {
    let m = Message::parse(bytes).ok()?;
    match m.payloads() {
        [Payload::Notification(n)] => Some(n.notify_type),
        _ => None,
    }
}

#[test]
fn malformed_nonce_is_answered_with_payload_malformed_which_ends_the_initiator() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    // Deliver message 3 with a 4-byte nonce (RFC 2409 §5: 8 to 256 bytes) instead of the real one.
    net.pump_with(|n, _| n == 3);
    let m3 = with_nonce(&net.log[2].1, vec![1, 2, 3, 4]);
    net.r.handle(net.now, addr(R), addr(I), &m3);
    match net.r.poll_event() {
        Some(Event::Phase1Failed { error, .. }) => assert_eq!(error, IkeError::Notify(NotifyType::PAYLOAD_MALFORMED)),
        other => panic!("{other:?}"),
    }
    assert_eq!(net.r.sa_count(), 0);
    let t = net.r.poll_transmit().expect("a notify");
    assert_eq!(notify_of(&t.contents), Some(NotifyType::PAYLOAD_MALFORMED));
    let hdr = Message::parse(&t.contents).unwrap().header;
    assert_eq!(hdr.initiator_cookie, icookie);
    assert_ne!(hdr.responder_cookie, [0; 8], "names the exchange by both cookies");
    // The initiator hears it in the clear: reported at once, and the exchange ends at the next retransmission
    // instead of after all of them.
    net.i.handle(net.now, addr(I), addr(R), &t.contents);
    assert!(matches!(net.i.poll_event(), Some(Event::Notification { protected: false, .. })));
    assert_eq!(net.i.sa_count(), 1);
    let at = net.i.poll_timeout().unwrap();
    assert_eq!(at, net.now + Duration::from_secs(1));
    net.i.handle_timeout(at);
    match net.i.poll_event() {
        Some(Event::Phase1Failed { error, initiator_cookie, .. }) => {
            assert_eq!((error, initiator_cookie), (IkeError::Notify(NotifyType::PAYLOAD_MALFORMED), icookie))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((net.i.sa_count(), net.i.stats().retransmits), (0, 0));
}

#[test]
fn a_forged_notify_does_not_end_an_exchange_that_then_progresses() {
    let a = policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048);
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    // A real NO-PROPOSAL-CHOSEN from an unrelated refused exchange, its cookie changed to this one's.
    let mut other = Net::new(config(vec![a], R, b"k"), config(vec![p()], I, b"k"));
    other.i.connect(other.now, addr(R)).unwrap();
    other.pump();
    let mut forged = other.log.last().unwrap().1.clone();
    assert_eq!(notify_of(&forged), Some(NotifyType::NO_PROPOSAL_CHOSEN));
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    forged[..8].copy_from_slice(&icookie);
    net.i.handle(net.now, addr(I), addr(R), &forged);
    // The genuine message 2 arrives before the timer: the exchange goes on and establishes.
    net.pump();
    let events: Vec<Event> = std::iter::from_fn(|| net.i.poll_event()).collect();
    assert!(matches!(events.as_slice(), [Event::Notification { .. }, Event::Phase1Established { .. }]), "{events:?}");
    // The notify is forgotten once authentic messages moved the exchange on: nothing ends it later.
    net.i.handle_timeout(net.now + Duration::from_secs(60));
    assert!(net.i.poll_event().is_none());
    assert_eq!(net.i.sa_count(), 1, "still established");
}

#[test]
fn wrong_key_is_not_announced_to_the_guesser() {
    // The responder of a PSK mismatch fails silently (no AUTHENTICATION-FAILED in the clear).
    let mut net = Net::new(config(vec![p()], R, b"one"), config(vec![p()], I, b"two"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 5);
    assert!(net.log.iter().all(|(_, m)| notify_of(m).is_none()));
}

#[test]
fn aggressive_mode_is_off_unless_the_config_says_so() {
    // config_common::BASE has no [isakmp] section at all, and an empty one is no different.
    let omitted = control::config::parse(config_common::BASE).unwrap();
    assert!(!omitted.isakmp.aggressive_mode);
    let empty = control::config::parse(&format!("{}\n[isakmp]\n", config_common::BASE)).unwrap();
    assert!(!empty.isakmp.aggressive_mode);
    let on = control::config::parse(&format!("{}\n[isakmp]\naggressive_mode = true\n", config_common::BASE)).unwrap();
    assert!(on.isakmp.aggressive_mode);
}
