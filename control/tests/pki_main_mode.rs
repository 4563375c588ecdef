//! Main Mode (and Aggressive Mode) with RSA and ECDSA signatures (RFC 2409 §5.1, RFC 4754): two sans-IO endpoints
//! with certificates from tests/data/pki handshake in memory on simulated time, and the failures a peer's
//! certificate can cause.

mod isakmp_support;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use control::crypto::IkeCipher;
use control::ike::{Endpoint, Event, IkeError, Phase1Proposal, SignatureAuth};
use control::isakmp::{AuthMethod, GroupDescription, HashAlgorithm, IdData, Message, NotifyType, Payload};
use control::pki::{Credentials, PkiError};
use isakmp_support::net::*;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki").join(name)
}

/// 2027-01-01: inside the test certificates' validity.
const WALL_2027: u64 = 1_798_761_600;

struct Side {
    cert: &'static str,
    key: &'static str,
    cas: &'static [&'static str],
    identity: Option<IdData>,
    wall: u64,
}

fn side(cert: &'static str, key: &'static str) -> Side {
    Side { cert, key, cas: &["ca-rsa.pem", "ca-ecdsa.pem"], identity: None, wall: WALL_2027 }
}

fn endpoint(s: &Side, policies: Vec<Phase1Proposal>, peer: &str, local: &str, now: Instant) -> Endpoint {
    let cas: Vec<PathBuf> = s.cas.iter().map(|c| path(c)).collect();
    let creds = Credentials::load(&cas, &path(s.cert), &path(s.key)).unwrap();
    let wall = UNIX_EPOCH + Duration::from_secs(s.wall);
    let auth = SignatureAuth::new(Arc::new(creds), s.identity.clone(), now, wall);
    // No pre-shared key for this peer: only the certificates can authenticate.
    let mut config = config(policies, peer, b"unused");
    config.keys.clear();
    Endpoint::with_signature_auth(config, addr(local), auth).unwrap()
}

fn net(i: Side, r: Side, pi: Vec<Phase1Proposal>, pr: Vec<Phase1Proposal>) -> Net {
    let now = Instant::now();
    Net {
        i: endpoint(&i, pi, R, I, now),
        r: endpoint(&r, pr, I, R, now),
        now,
        delivered: 0,
        log: Vec::new(),
        nat: None,
    }
}

fn sig_policy(auth: AuthMethod, cipher: IkeCipher, hash: HashAlgorithm, group: GroupDescription) -> Phase1Proposal {
    Phase1Proposal { auth, ..policy(cipher, hash, group) }
}

fn handshake(i: Side, r: Side, p: Phase1Proposal) -> Net {
    let mut net = net(i, r, vec![p], vec![p]);
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 6, "Main Mode is six messages");
    let (ci, pi) = established(&mut net.i).expect("initiator established");
    let (cr, pr) = established(&mut net.r).expect("responder established");
    assert_eq!((ci, cr), (icookie, icookie));
    assert_eq!((pi, pr), (p, p));
    assert_eq!(net.i.skeyid_d(&icookie).unwrap(), net.r.skeyid_d(&icookie).unwrap(), "same SKEYID_d");
    // Messages 3 and 4 ask for certificates from our CAs (two CR payloads naming them).
    for n in [2, 3] {
        let msg = Message::parse(&net.log[n].1).unwrap();
        let crs = msg.payloads().iter().filter(|p| matches!(p, Payload::Cr(_))).count();
        assert_eq!(crs, 2, "message {}", n + 1);
    }
    net
}

#[test]
fn rsa_signatures() {
    let p = sig_policy(
        AuthMethod::RSA_SIGNATURES,
        IkeCipher::Aes256Cbc,
        HashAlgorithm::SHA2_256,
        GroupDescription::MODP_2048,
    );
    handshake(side("gw-rsa.pem", "gw-rsa.key"), side("peer-rsa.pem", "peer-rsa.key"), p);
    // MD5 and 3DES, as in the Wireshark capture of OpenSwan against a Juniper.
    let p = sig_policy(
        AuthMethod::RSA_SIGNATURES,
        IkeCipher::TripleDesCbc,
        HashAlgorithm::MD5,
        GroupDescription::MODP_1024,
    );
    handshake(side("gw-rsa.pem", "gw-rsa.key"), side("peer-rsa.pem", "peer-rsa.key"), p);
}

#[test]
fn ecdsa_p256_and_p384() {
    let p = sig_policy(
        AuthMethod::ECDSA_SHA256_P256,
        IkeCipher::Aes128Cbc,
        HashAlgorithm::SHA2_256,
        GroupDescription::ECP_256,
    );
    handshake(side("gw-p256.pem", "gw-p256.key"), side("peer-p256.pem", "peer-p256.key"), p);
    let p = sig_policy(
        AuthMethod::ECDSA_SHA384_P384,
        IkeCipher::Aes256Cbc,
        HashAlgorithm::SHA2_384,
        GroupDescription::ECP_384,
    );
    handshake(side("gw-p384.pem", "gw-p384.key"), side("peer-p384.pem", "peer-p384.key"), p);
    let p = sig_policy(
        AuthMethod::ECDSA_SHA384_P384,
        IkeCipher::Aes256Cbc,
        HashAlgorithm::SHA2_512,
        GroupDescription::MODP_2048,
    );
    handshake(side("gw-p384.pem", "gw-p384.key"), side("peer-p384.pem", "peer-p384.key"), p);
}

#[test]
fn address_fqdn_and_email_identities_from_subject_alt_names() {
    let p =
        sig_policy(AuthMethod::RSA_SIGNATURES, IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::MODP_2048);
    let ids = [
        (IdData::Ipv4Addr(Ipv4Addr::new(192, 0, 2, 1)), IdData::Ipv4Addr(Ipv4Addr::new(198, 51, 100, 1))),
        (IdData::Fqdn(b"gw1.example.net".to_vec()), IdData::Fqdn(b"peer1.example.net".to_vec())),
        (IdData::UserFqdn(b"ike@gw1.example.net".to_vec()), IdData::Fqdn(b"peer1.example.net".to_vec())),
    ];
    for (idi, idr) in ids {
        let i = Side { identity: Some(idi), ..side("gw-rsa.pem", "gw-rsa.key") };
        let r = Side { identity: Some(idr), ..side("peer-rsa.pem", "peer-rsa.key") };
        handshake(i, r, p);
    }
}

/// Runs Main Mode and returns the responder's failure and what it sent last.
fn responder_failure(i: Side, r: Side, pi: Phase1Proposal, pr: Phase1Proposal) -> IkeError {
    let mut net = net(i, r, vec![pi], vec![pr]);
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    while let Some(e) = net.i.poll_event() {
        assert!(!matches!(e, Event::Phase1Established { .. }), "the initiator must not establish");
    }
    match net.r.poll_event() {
        Some(Event::Phase1Failed { error, .. }) => error,
        other => panic!("responder: {other:?}"),
    }
}

const RSA: fn() -> Phase1Proposal = || {
    sig_policy(AuthMethod::RSA_SIGNATURES, IkeCipher::Aes128Cbc, HashAlgorithm::SHA2_256, GroupDescription::MODP_2048)
};

#[test]
fn peer_certificate_from_an_untrusted_ca() {
    let r = Side { cas: &["ca-ecdsa.pem"], ..side("peer-rsa.pem", "peer-rsa.key") };
    let e = responder_failure(side("gw-rsa.pem", "gw-rsa.key"), r, RSA(), RSA());
    assert!(matches!(e, IkeError::Certificate(PkiError::UnknownIssuer { .. })), "{e}");
    assert_eq!(e.notify(), Some(NotifyType::INVALID_CERTIFICATE));
}

#[test]
fn expired_peer_certificate() {
    // The responder's calendar says 2037: the initiator's certificate (valid to 2036) has expired.
    let r = Side { wall: 2_114_380_800, ..side("peer-rsa.pem", "peer-rsa.key") };
    let e = responder_failure(side("gw-rsa.pem", "gw-rsa.key"), r, RSA(), RSA());
    assert!(matches!(e, IkeError::Certificate(PkiError::Expired { .. })), "{e}");
}

#[test]
fn identity_not_in_the_certificate() {
    let i = Side { identity: Some(IdData::Fqdn(b"peer1.example.net".to_vec())), ..side("gw-rsa.pem", "gw-rsa.key") };
    let e = responder_failure(i, side("peer-rsa.pem", "peer-rsa.key"), RSA(), RSA());
    assert!(matches!(e, IkeError::AuthenticationFailed(_)), "{e}");
    assert_eq!(e.notify(), Some(NotifyType::AUTHENTICATION_FAILED));
}

#[test]
fn methods_must_match_and_fit_the_key() {
    // The initiator signs with RSA, the responder only allows ECDSA P-256.
    let ecdsa = Phase1Proposal { auth: AuthMethod::ECDSA_SHA256_P256, ..RSA() };
    let e = responder_failure(side("gw-rsa.pem", "gw-rsa.key"), side("peer-p256.pem", "peer-p256.key"), RSA(), ecdsa);
    assert_eq!(e, IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
    // An RSA policy with only an ECDSA key cannot be offered at all.
    let mut net =
        net(side("gw-p256.pem", "gw-p256.key"), side("peer-rsa.pem", "peer-rsa.key"), vec![RSA()], vec![RSA()]);
    assert_eq!(net.i.connect(net.now, addr(R)), Err(IkeError::NoCredentials));
    // Signature policies need credentials.
    assert_eq!(Endpoint::new(config(vec![RSA()], R, b"k"), addr(I)).err(), Some(IkeError::NoPolicy));
}

#[test]
fn mixed_policies_offer_only_what_can_be_authenticated() {
    // The initiator lists RSA, then ECDSA P-256; its key is P-256, so only the second is offered and chosen.
    let p256 = Phase1Proposal { auth: AuthMethod::ECDSA_SHA256_P256, ..RSA() };
    let mut net =
        net(side("gw-p256.pem", "gw-p256.key"), side("peer-p256.pem", "peer-p256.key"), vec![RSA(), p256], vec![p256]);
    net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    let m1 = Message::parse(&net.log[0].1).unwrap();
    let Payload::Sa(sa) = &m1.payloads()[0] else { panic!() };
    assert_eq!(sa.proposals[0].transforms.len(), 1);
    assert_eq!(established(&mut net.i).unwrap().1, p256);
    assert_eq!(established(&mut net.r).unwrap().1, p256);
}

#[test]
fn tampered_signature_fails_authentication() {
    // Corrupt the encrypted message 5 in flight: with signatures the keys still agree, so the message decrypts to
    // garbage or a bad SIG; either way the responder must not establish (garbage is dropped, a bad SIG fails).
    let mut net = net(side("gw-rsa.pem", "gw-rsa.key"), side("peer-rsa.pem", "peer-rsa.key"), vec![RSA()], vec![RSA()]);
    net.i.connect(net.now, addr(R)).unwrap();
    let mut first = true;
    loop {
        let mut moved = false;
        while let Some(mut t) = net.i.poll_transmit() {
            moved = true;
            let m = Message::parse(&t.contents).unwrap();
            if m.header.flags.encrypted() && first {
                first = false;
                let n = t.contents.len();
                t.contents[n - 20] ^= 0x40;
            }
            net.r.handle(net.now, t.destination, t.source, &t.contents);
        }
        while let Some(t) = net.r.poll_transmit() {
            moved = true;
            net.i.handle(net.now, t.destination, t.source, &t.contents);
        }
        if !moved {
            break;
        }
    }
    assert!(!matches!(net.r.poll_event(), Some(Event::Phase1Established { .. })));
    assert!(net.i.poll_event().is_none());
}

fn aggressive(i: Side, r: Side, p: Phase1Proposal) {
    let mut net = net(i, r, vec![p], vec![p]);
    let icookie = net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    assert_eq!(net.delivered, 3, "Aggressive Mode is three messages");
    assert_eq!(established(&mut net.i).unwrap(), (icookie, p));
    assert_eq!(established(&mut net.r).unwrap(), (icookie, p));
    assert_eq!(net.i.skeyid_d(&icookie).unwrap(), net.r.skeyid_d(&icookie).unwrap());
    // Messages 2 and 3 carry CERT and SIG, and no HASH.
    for n in [1, 2] {
        let m = Message::parse(&net.log[n].1).unwrap();
        let has = |f: fn(&Payload) -> bool| m.payloads().iter().any(f);
        assert!(has(|p| matches!(p, Payload::Cert(_))) && has(|p| matches!(p, Payload::Sig(_))), "message {}", n + 1);
        assert!(!has(|p| matches!(p, Payload::Hash(_))), "message {}", n + 1);
    }
}

#[test]
fn aggressive_mode_rsa_and_ecdsa() {
    aggressive(side("gw-rsa.pem", "gw-rsa.key"), side("peer-rsa.pem", "peer-rsa.key"), RSA());
    let p = sig_policy(
        AuthMethod::ECDSA_SHA256_P256,
        IkeCipher::Aes128Cbc,
        HashAlgorithm::SHA2_256,
        GroupDescription::ECP_256,
    );
    aggressive(side("gw-p256.pem", "gw-p256.key"), side("peer-p256.pem", "peer-p256.key"), p);
    let p = sig_policy(
        AuthMethod::ECDSA_SHA384_P384,
        IkeCipher::Aes256Cbc,
        HashAlgorithm::SHA2_384,
        GroupDescription::ECP_384,
    );
    aggressive(side("gw-p384.pem", "gw-p384.key"), side("peer-p384.pem", "peer-p384.key"), p);
}

#[test]
fn aggressive_mode_untrusted_initiator() {
    let r = Side { cas: &["ca-ecdsa.pem"], ..side("peer-rsa.pem", "peer-rsa.key") };
    let mut net = net(side("gw-rsa.pem", "gw-rsa.key"), r, vec![RSA()], vec![RSA()]);
    net.i.connect_aggressive(net.now, addr(R)).unwrap();
    net.pump();
    // The responder signs message 2 (it cannot check the initiator yet); the initiator's certificate fails at
    // message 3.
    assert!(matches!(net.i.poll_event(), Some(Event::Phase1Established { .. })));
    match net.r.poll_event() {
        Some(Event::Phase1Failed { error: IkeError::Certificate(PkiError::UnknownIssuer { .. }), .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn identity_from_the_config() {
    use control::config::Identity;
    let creds = Arc::new(Credentials::load(&[path("ca-rsa.pem")], &path("gw-rsa.pem"), &path("gw-rsa.key")).unwrap());
    let wall = UNIX_EPOCH + Duration::from_secs(WALL_2027);
    let now = Instant::now();
    let local = addr(I).ip();
    let cases = [
        (Identity::Address, Some(IdData::Ipv4Addr(Ipv4Addr::new(192, 0, 2, 1)))),
        (Identity::Fqdn("gw1.example.net".into()), Some(IdData::Fqdn(b"gw1.example.net".to_vec()))),
        (Identity::UserFqdn("ike@gw1.example.net".into()), Some(IdData::UserFqdn(b"ike@gw1.example.net".to_vec()))),
        (Identity::Dn, None),
    ];
    for (identity, expected) in cases {
        let auth = SignatureAuth::from_config(creds.clone(), &identity, local, now, wall);
        assert_eq!(auth.identity, expected, "{identity}");
        assert_eq!(auth.wall_time(now + Duration::from_secs(5)), wall + Duration::from_secs(5));
    }
}

#[test]
fn p384_with_a_short_hash_is_not_offered() {
    // ECDSA P-384 over a 20-byte SHA-1 HASH_I is below the digest size the signer accepts: not offered.
    let short = sig_policy(
        AuthMethod::ECDSA_SHA384_P384,
        IkeCipher::Aes128Cbc,
        HashAlgorithm::SHA1,
        GroupDescription::MODP_2048,
    );
    let mut net =
        net(side("gw-p384.pem", "gw-p384.key"), side("peer-p384.pem", "peer-p384.key"), vec![short], vec![short]);
    assert_eq!(net.i.connect(net.now, addr(R)), Err(IkeError::NoCredentials));
}

/// Phase 1 handshakes per second in one process on one core, Main Mode, certificates on both sides (each side signs
/// once and validates one chain per handshake). Run with
/// `cargo test --release -p control --test pki_main_mode -- --ignored --nocapture handshake_rate`.
#[test]
#[ignore]
fn handshake_rate() {
    let rsa = RSA();
    let p256 = sig_policy(
        AuthMethod::ECDSA_SHA256_P256,
        IkeCipher::Aes128Cbc,
        HashAlgorithm::SHA2_256,
        GroupDescription::ECP_256,
    );
    let rsa_ecp = Phase1Proposal { group: GroupDescription::ECP_256, ..rsa };
    let cases = [
        ("RSA-2048, group 14", rsa, ("gw-rsa.pem", "gw-rsa.key"), ("peer-rsa.pem", "peer-rsa.key")),
        ("RSA-2048, group 19", rsa_ecp, ("gw-rsa.pem", "gw-rsa.key"), ("peer-rsa.pem", "peer-rsa.key")),
        ("ECDSA P-256, group 19", p256, ("gw-p256.pem", "gw-p256.key"), ("peer-p256.pem", "peer-p256.key")),
    ];
    for (name, p, (ci, ki), (cr, kr)) in cases {
        let mut net = net(side(ci, ki), side(cr, kr), vec![p], vec![p]);
        let n = 30;
        let start = Instant::now();
        for _ in 0..n {
            net.i.connect(net.now, addr(R)).unwrap();
            net.pump();
            assert!(established(&mut net.i).is_some() && established(&mut net.r).is_some());
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!("{name}: {:.1} handshakes/s ({:.2} ms each)", f64::from(n) / secs, secs * 1000.0 / f64::from(n));
    }
}
