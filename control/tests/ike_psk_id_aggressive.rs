//! Pre-shared keys by peer identity (Aggressive Mode responder) and Vendor ID events: two sans-IO endpoints
//! handshake in memory.

mod isakmp_support;

use std::net::IpAddr;

use control::crypto::{IkeCipher, Secret};
use control::ike::{offer, Event, IkeError};
use control::isakmp::vendor::KNOWN_VENDOR_IDS;
use control::isakmp::{
    Body, ExchangeType, Flags, GroupDescription, HashAlgorithm, HeaderRepr, IdData, Message, NotifyType, Payload,
};
use isakmp_support::net::*;

fn fqdn(s: &str) -> IdData {
    IdData::Fqdn(s.as_bytes().to_vec())
}

fn p() -> control::ike::Phase1Proposal {
    policy(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048)
}

/// An initiator that sends ID_FQDN `name` with key `ikey`, and a responder with no address keys, only `rkeys`.
fn road_warrior(name: &str, ikey: &[u8], rkeys: Vec<(IdData, Secret)>) -> Net {
    let mut cr = config(vec![p()], I, b"unused");
    cr.keys.clear();
    let mut net = Net::new(config(vec![p()], R, ikey), cr);
    net.i.set_local_identity(fqdn(name));
    net.r.set_identity_keys(rkeys);
    net
}

fn events(e: &mut control::ike::Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn established_cookie(evs: &[Event]) -> Option<control::isakmp::Cookie> {
    evs.iter().find_map(|e| match e {
        Event::Phase1Established { initiator_cookie, .. } => Some(*initiator_cookie),
        _ => None,
    })
}

fn peer_id(evs: &[Event]) -> Option<IdData> {
    evs.iter().find_map(|e| match e {
        Event::Phase1Established { peer_id, .. } => Some(peer_id.clone()),
        _ => None,
    })
}

#[test]
fn aggressive_responder_picks_the_key_by_the_initiators_fqdn() {
    let keys = vec![
        (fqdn("other.example.net"), Secret::from_slice(b"wrong")),
        (fqdn("Road1.Example.NET"), Secret::from_slice(b"road-secret")),
    ];
    let mut net = road_warrior("road1.example.net", b"road-secret", keys);
    let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 3);
    let (i, r) = (events(&mut net.i), events(&mut net.r));
    assert_eq!((established_cookie(&i), established_cookie(&r)), (Some(icookie), Some(icookie)));
    assert_eq!(net.i.skeyid_d(&icookie).unwrap(), net.r.skeyid_d(&icookie).unwrap());
    // Each side learns who the other authenticated as: the FQDN whose key was used, and the responder's address.
    assert_eq!(peer_id(&r), Some(fqdn("road1.example.net")));
    let IpAddr::V4(r_addr) = addr(R).ip() else { unreachable!() };
    assert_eq!(peer_id(&i), Some(IdData::Ipv4Addr(r_addr)));
    // The ID on the wire is the FQDN.
    let m1 = Message::parse(&net.log[0].1).unwrap();
    assert!(m1.payloads().iter().any(|p| matches!(p, Payload::Id(id) if id.data == fqdn("road1.example.net"))));
}

#[test]
fn aggressive_responder_refuses_an_identity_without_a_key() {
    let keys = vec![(fqdn("other.example.net"), Secret::from_slice(b"road-secret"))];
    let mut net = road_warrior("road1.example.net", b"road-secret", keys);
    let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    let r = events(&mut net.r);
    let expected = IkeError::NoKeyForIdentity { address: addr(I).ip(), identity: "fqdn:road1.example.net".into() };
    assert_eq!(r, vec![Event::Phase1Failed { peer: addr(I), initiator_cookie: icookie, error: expected.clone() }]);
    assert!(expected.to_string().contains("fqdn:road1.example.net"));
    assert_eq!(net.r.sa_count(), 0, "a refused responder keeps no state");
    // The initiator hears NO-PROPOSAL-CHOSEN (unprotected) and never establishes.
    let reply = Message::parse(&net.log[1].1).unwrap();
    assert_eq!(reply.header.exchange_type, ExchangeType::INFORMATIONAL);
    assert!(reply
        .payloads()
        .iter()
        .any(|p| matches!(p, Payload::Notification(n) if n.notify_type == NotifyType::NO_PROPOSAL_CHOSEN)));
    assert_eq!(established_cookie(&events(&mut net.i)), None);
}

#[test]
fn a_wrong_identity_key_fails_authentication() {
    let keys = vec![(fqdn("road1.example.net"), Secret::from_slice(b"not-the-same"))];
    let mut net = road_warrior("road1.example.net", b"road-secret", keys);
    let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    let i = events(&mut net.i);
    assert!(
        i.iter().any(|e| matches!(e, Event::Phase1Failed { initiator_cookie, error: IkeError::AuthenticationFailed(_), .. } if *initiator_cookie == icookie)),
        "{i:?}"
    );
    assert_eq!(established_cookie(&events(&mut net.r)), None);
}

#[test]
fn an_address_key_wins_over_an_identity_key() {
    let mut net = Net::new(config(vec![p()], R, b"by-address"), config(vec![p()], I, b"by-address"));
    net.i.set_local_identity(fqdn("road1.example.net"));
    net.r.set_identity_keys(vec![(fqdn("road1.example.net"), Secret::from_slice(b"by-identity"))]);
    let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(established_cookie(&events(&mut net.i)), Some(icookie));
    assert_eq!(established_cookie(&events(&mut net.r)), Some(icookie));
}

#[test]
fn main_mode_does_not_use_identity_keys() {
    // The ID comes encrypted in message 5: the responder has no key to offer a PSK proposal with.
    let keys = vec![(fqdn("road1.example.net"), Secret::from_slice(b"road-secret"))];
    let mut net = road_warrior("road1.example.net", b"road-secret", keys);
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    let r = events(&mut net.r);
    let refused = Event::Phase1Failed {
        peer: addr(I),
        initiator_cookie: icookie,
        error: IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN),
    };
    assert_eq!(r, vec![refused]);
}

#[test]
fn identity_keys_come_from_the_config() {
    // (A whole valid file is tested in config_isakmp_key_identity.rs; the conversion needs only the keys.)
    let mut cfg = control::config::Config::default();
    cfg.isakmp_keys.push(control::config::IsakmpKey {
        peer: None,
        identity: Some("fqdn:road1.example.net".parse().unwrap()),
        key: control::config::Psk::new("road-secret".into()),
    });
    let mut net = road_warrior("road1.example.net", b"road-secret", control::ike::identity_keys(&cfg));
    let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(established_cookie(&events(&mut net.r)), Some(icookie));
}

fn vendor_ids(evs: &[Event]) -> Vec<(Vec<String>, Vec<Vec<u8>>)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::VendorIds { names, unknown, .. } => Some((names.clone(), unknown.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn handshakes_report_the_peers_vendor_ids_by_name_once() {
    for aggressive in [false, true] {
        for nat_t in [true, false] {
            let (mut ci, mut cr) = (config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
            (ci.nat_traversal, cr.nat_traversal) = (nat_t, nat_t);
            let mut net = Net::new(ci, cr);
            net.i.set_vendor_id_events(true);
            net.r.set_vendor_id_events(true);
            let icookie = match aggressive {
                true => net.i.connect_aggressive(net.now, addr(R)).unwrap(),
                false => net.i.connect(net.now, addr(R)).unwrap(),
            };
            net.pump();
            let names: Vec<String> = match nat_t {
                true => vec!["RFC 3947 NAT-T".into(), "RFC 3706 DPD".into()],
                false => vec!["RFC 3706 DPD".into()],
            };
            let (i, r) = (events(&mut net.i), events(&mut net.r));
            // Main Mode too reports the authenticated IDs (here the addresses).
            let ip = |a: &str| match addr(a).ip() {
                IpAddr::V4(v4) => IdData::Ipv4Addr(v4),
                IpAddr::V6(v6) => IdData::Ipv6Addr(v6),
            };
            assert_eq!((peer_id(&i), peer_id(&r)), (Some(ip(R)), Some(ip(I))));
            for evs in [i, r] {
                assert_eq!(vendor_ids(&evs), vec![(names.clone(), vec![])], "aggressive {aggressive} nat_t {nat_t}");
                // Reported before the outcome, with the exchange's cookie.
                assert!(matches!(&evs[0], Event::VendorIds { initiator_cookie, .. } if *initiator_cookie == icookie));
                assert_eq!(established_cookie(&evs), Some(icookie));
            }
        }
    }
}

#[test]
fn vendor_id_events_are_off_by_default() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(vendor_ids(&events(&mut net.i)), vec![]);
    assert_eq!(vendor_ids(&events(&mut net.r)), vec![]);
}

#[test]
fn other_implementations_vendor_ids_are_named_and_unknown_ones_kept() {
    let mut net = Net::new(config(vec![p()], R, b"k"), config(vec![p()], I, b"k"));
    net.r.set_vendor_id_events(true);
    let known = |name: &str| KNOWN_VENDOR_IDS.iter().find(|k| k.name == name).unwrap().bytes.to_vec();
    let mut unity = known("Cisco Unity");
    unity.extend_from_slice(&[0x01, 0x00]); // Cisco appends a version
    let strange = b"\x01\x02\x03\x04 some vendor".to_vec();
    let header = HeaderRepr {
        initiator_cookie: [7; 8],
        responder_cookie: [0; 8],
        minor_version: 0,
        exchange_type: ExchangeType::MAIN_MODE,
        flags: Flags::default(),
        message_id: 0,
    };
    let payloads = vec![
        Payload::Sa(offer(&[p()])),
        Payload::VendorId(known("strongSwan")),
        Payload::VendorId(unity),
        Payload::VendorId(known("draft-ietf-ipsec-nat-t-ike-02\\n")),
        Payload::VendorId(strange.clone()),
    ];
    let m1 = Message { header, body: Body::Payloads(payloads) }.to_bytes().unwrap();
    net.r.handle(net.now, addr(R), addr(I), &m1);
    let names = vec!["strongSwan".to_owned(), "Cisco Unity".into(), "draft-ietf-ipsec-nat-t-ike-02\\n".into()];
    let evs = events(&mut net.r);
    assert_eq!(evs, vec![Event::VendorIds { peer: addr(I), initiator_cookie: [7; 8], names, unknown: vec![strange] }]);
    assert_eq!(net.r.sa_count(), 1, "message 1 was answered");
}
