//! Quick Mode test support: policies, a Phase 1 between the two in-memory endpoints of `isakmp_support::net`, and
//! checks that both sides derived the same keys.
#![allow(dead_code)]

use std::net::IpAddr;

use control::crypto::IkeCipher;
use control::ike::{
    CryptoMapPolicy, EncapsulationMode, Endpoint, Event, IpsecTransformSet, Phase2Sa, ProxyAddress, ProxyIdentity,
    SaPair,
};
use control::isakmp::{Cookie, GroupDescription, HashAlgorithm};
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};

#[path = "../isakmp_support/net.rs"]
pub mod net;
use net::*;

/// The protected networks behind the initiator and the responder.
pub const I_NET: &str = "192.0.2.128/25";
pub const R_NET: &str = "203.0.113.0/24";

pub fn prefix(s: &str) -> ProxyIdentity {
    let (a, l) = s.split_once('/').unwrap();
    ProxyIdentity { address: ProxyAddress::Prefix(a.parse().unwrap(), l.parse().unwrap()), protocol: 0, port: 0 }
}

pub fn esp(e: Enc, i: Integ) -> IpsecTransformSet {
    IpsecTransformSet { esp: Some((e, i)), ah: None, mode: EncapsulationMode::Tunnel }
}

/// The initiator's crypto map entry: its network to the responder's, towards the responder.
pub fn policy(sets: Vec<IpsecTransformSet>, pfs: Option<GroupDescription>) -> CryptoMapPolicy {
    CryptoMapPolicy {
        map: "CM1".into(),
        seq: 10,
        handle: 0,
        peer: addr(R).ip(),
        local: prefix(I_NET),
        remote: prefix(R_NET),
        transform_sets: sets,
        pfs,
        lifetime_secs: 3600,
        lifetime_kilobytes: 4_608_000,
    }
}

/// The responder's mirror image of `p`, for the peer at `peer`.
pub fn mirror(p: &CryptoMapPolicy, peer: IpAddr) -> CryptoMapPolicy {
    CryptoMapPolicy { map: "CM2".into(), seq: 20, handle: 3, peer, local: p.remote, remote: p.local, ..p.clone() }
}

/// Two endpoints with an established Main Mode ISAKMP SA (AES-128, SHA-256, P-256: quick in debug builds).
pub fn phase1() -> (Net, Cookie) {
    let p = net::policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256);
    let mut net = Net::new(config(vec![p], R, b"example-only-secret"), config(vec![p], I, b"example-only-secret"));
    let c = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some() && established(&mut net.r).is_some());
    (net, c)
}

pub fn drain(e: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

/// The one Phase 2 SA an endpoint reported (and no other event).
pub fn phase2(e: &mut Endpoint) -> Box<Phase2Sa> {
    match drain(e).as_slice() {
        [Event::Phase2Established(sa)] => sa.clone(),
        other => panic!("expected one Phase2Established, got {other:?}"),
    }
}

fn check_pair(mine: &SaPair, theirs: &SaPair) {
    // My inbound SA is the peer's outbound one and vice versa: same SPI, algorithms and keys.
    assert_eq!(mine.inbound, theirs.outbound);
    assert_eq!(mine.outbound, theirs.inbound);
    for k in [&mine.inbound, &mine.outbound] {
        assert!(k.spi > 255, "SPI {} is reserved", k.spi);
        assert_eq!(k.auth_key.len(), k.integrity.key_len());
    }
    assert_ne!(mine.inbound.spi, mine.outbound.spi);
    // Each direction has its own keys (GCM has no integrity key, AH no cipher key).
    for (a, b) in
        [(&mine.inbound.cipher_key, &mine.outbound.cipher_key), (&mine.inbound.auth_key, &mine.outbound.auth_key)]
    {
        assert!(a.is_empty() || a != b);
    }
}

/// Both sides hold the same SAs, mirrored.
pub fn check_same_keys(i: &Phase2Sa, r: &Phase2Sa) {
    assert_eq!((i.initiator, r.initiator), (true, false));
    assert_eq!(i.message_id, r.message_id);
    assert_eq!((i.local_id, i.remote_id), (r.remote_id, r.local_id));
    assert_eq!(
        (i.mode, i.lifetime_secs, i.lifetime_kilobytes, i.pfs),
        (r.mode, r.lifetime_secs, r.lifetime_kilobytes, r.pfs)
    );
    assert_eq!(i.esp.is_some(), r.esp.is_some());
    assert_eq!(i.ah.is_some(), r.ah.is_some());
    if let (Some(a), Some(b)) = (&i.esp, &r.esp) {
        check_pair(a, b);
        assert_eq!(a.inbound.cipher_key.len(), a.inbound.encryption.key_len());
    }
    if let (Some(a), Some(b)) = (&i.ah, &r.ah) {
        check_pair(a, b);
        assert!(a.inbound.cipher_key.is_empty());
    }
}

/// Runs one Quick Mode from the initiator with `p` (the responder holding its mirror) and returns both SAs.
pub fn quick(net: &mut Net, c: &Cookie, p: &CryptoMapPolicy) -> (Box<Phase2Sa>, Box<Phase2Sa>) {
    net.r.set_crypto_maps(vec![mirror(p, addr(I).ip())]);
    let mid = net.i.quick_mode(net.now, c, p).unwrap();
    net.pump();
    let (i, r) = (phase2(&mut net.i), phase2(&mut net.r));
    assert_eq!(i.message_id, mid);
    check_same_keys(&i, &r);
    (i, r)
}
