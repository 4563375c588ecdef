//! Quick Mode responder refusals of authentic but malformed message 1s (RFC 2408 §5: PAYLOAD-MALFORMED), which a
//! test outside the crate cannot build: the message is sealed here with the initiator's own ISAKMP SA keys.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::api::{CryptoMapPolicy, EncapsulationMode, IpsecTransformSet, ProxyAddress, ProxyIdentity};
use super::quick_mode::{qm_header, seal};
use super::{Config, Endpoint, Event, IkeError, Phase1Proposal};
use crate::crypto::kdf::message_hash;
use crate::crypto::{IkeCipher, Secret};
use crate::isakmp::{
    emit_payloads, AuthMethod, Cookie, Doi, GroupDescription, HashAlgorithm, NotifyType, Payload, SaRepr,
    SIT_IDENTITY_ONLY,
};
use engine::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};

const I: ([u8; 4], u16) = ([192, 0, 2, 1], 500);
const R: ([u8; 4], u16) = ([198, 51, 100, 1], 500);

fn config(peer: SocketAddr) -> Config {
    let p = Phase1Proposal {
        cipher: IkeCipher::Aes128Cbc,
        hash: HashAlgorithm::SHA2_256,
        auth: AuthMethod::PRE_SHARED_KEY,
        group: GroupDescription::ECP_256,
        lifetime_secs: 86_400,
    };
    Config {
        policies: vec![p],
        keys: vec![(peer.ip(), Secret::from_slice(b"example-only-secret"))],
        retransmit_interval: Duration::from_secs(1),
        retransmit_tries: 3,
        max_half_open: 4,
        aggressive_mode: false,
        nat_traversal: false,
        nat_keepalive: Duration::from_secs(20),
        max_new_per_source_per_sec: super::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
        rate_limit_sources: super::DEFAULT_RATE_LIMIT_SOURCES,
        max_message_size: super::DEFAULT_MAX_MESSAGE_SIZE,
    }
}

fn pump(i: &mut Endpoint, r: &mut Endpoint, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(t) = i.poll_transmit() {
            moved = true;
            r.handle(now, t.destination, t.source, &t.contents);
        }
        while let Some(t) = r.poll_transmit() {
            moved = true;
            i.handle(now, t.destination, t.source, &t.contents);
        }
        if !moved {
            return;
        }
    }
}

/// Two endpoints with an established Main Mode SA, their events drained.
fn pair() -> (Endpoint, Endpoint, Cookie, Instant) {
    let (i_addr, r_addr) = (SocketAddr::from(I), SocketAddr::from(R));
    let mut i = Endpoint::new(config(r_addr), i_addr).unwrap();
    let mut r = Endpoint::new(config(i_addr), r_addr).unwrap();
    let now = Instant::now();
    let c = i.connect(now, r_addr).unwrap();
    pump(&mut i, &mut r, now);
    for e in [&mut i, &mut r] {
        assert!(matches!(e.poll_event(), Some(Event::Phase1Established { .. })));
    }
    (i, r, c, now)
}

/// An authentic Quick Mode message 1 (correct HASH(1), encrypted with the SA's keys) carrying `payloads`.
fn message_1(i: &mut Endpoint, c: &Cookie, mid: u32, payloads: Vec<Payload>) -> Vec<u8> {
    let v = i.phase1_view(c).unwrap();
    let hash = message_hash(v.crypto.prf, &v.crypto.skeyids.skeyid_a, mid, &emit_payloads(&payloads).unwrap());
    seal(v.crypto, qm_header(*c, v.rcookie, mid, false), hash, payloads).unwrap()
}

fn sa_payload() -> Payload {
    let host = |a: [u8; 4]| ProxyIdentity { address: ProxyAddress::Prefix(a.into(), 32), protocol: 0, port: 0 };
    let policy = CryptoMapPolicy {
        map: "CM1".into(),
        seq: 10,
        handle: 0,
        peer: SocketAddr::from(R).ip(),
        local: host(I.0),
        remote: host(R.0),
        transform_sets: vec![IpsecTransformSet {
            esp: Some((EncryptionAlgorithm::AesCbc128, IntegrityAlgorithm::HmacSha256_128)),
            ah: None,
            mode: EncapsulationMode::Tunnel,
        }],
        pfs: None,
        lifetime_secs: 3600,
        lifetime_kilobytes: 0,
    };
    let proposals = super::ipsec_proposal::offer(&policy, false, 0x1000, 0);
    Payload::Sa(SaRepr { doi: Doi::IPSEC, situation: SIT_IDENTITY_ONLY, proposals })
}

/// The responder refuses with PAYLOAD-MALFORMED (a protected notify the initiator reports) and keeps nothing.
fn refused(payloads: Vec<Payload>) {
    let (mut i, mut r, c, now) = pair();
    let m = message_1(&mut i, &c, 0x5151_0001, payloads);
    r.handle(now, SocketAddr::from(R), SocketAddr::from(I), &m);
    match r.poll_event() {
        Some(Event::Phase2Failed { error, message_id, .. }) => {
            assert_eq!((error, message_id), (IkeError::Notify(NotifyType::PAYLOAD_MALFORMED), 0x5151_0001))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.quick_mode_count(), 0);
    pump(&mut i, &mut r, now);
    match i.poll_event() {
        Some(Event::Notification { notify_type, protected, .. }) => {
            assert_eq!((notify_type, protected), (NotifyType::PAYLOAD_MALFORMED, true))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn authentic_message_1_without_sa_is_payload_malformed() {
    refused(vec![Payload::Nonce(vec![7; 16])]);
}

#[test]
fn authentic_message_1_without_nonce_or_with_a_short_one_is_payload_malformed() {
    refused(vec![sa_payload()]);
    refused(vec![sa_payload(), Payload::Nonce(vec![7; 4])]);
}

#[test]
fn forged_message_1_is_dropped_silently() {
    let (mut i, mut r, c, now) = pair();
    let mut m = message_1(&mut i, &c, 0x5151_0002, vec![Payload::Nonce(vec![7; 16])]);
    let last = m.len() - 1;
    m[last] ^= 1;
    r.handle(now, SocketAddr::from(R), SocketAddr::from(I), &m);
    assert!(r.poll_event().is_none() && r.poll_transmit().is_none());
    assert_eq!(r.stats().dropped_in_state, 1);
}
