//! Every ISAKMP message in the Wireshark captures parses; every plaintext one re-emits byte for byte.

mod isakmp_support;

use control::isakmp::{Body, ExchangeType, Message, Payload, PayloadType};
use isakmp_support::isakmp_datagrams;

const CAPTURES: &[&str] = &["ikev1-certs.pcap", "ikev1-bug-12610.pcapng.gz", "ikev1-bug-12620.pcapng.gz"];

#[test]
fn every_captured_message_parses_and_round_trips() {
    let mut plain = 0;
    let mut encrypted = 0;
    for name in CAPTURES {
        let dgrams = isakmp_datagrams(name);
        assert!(!dgrams.is_empty(), "{name}: no ISAKMP datagrams");
        for d in dgrams {
            let msg = Message::parse(&d.isakmp).unwrap_or_else(|e| panic!("{name} frame {}: {e}", d.frame));
            match &msg.body {
                Body::Payloads(p) => {
                    assert!(!p.is_empty());
                    plain += 1;
                }
                Body::Encrypted { .. } => encrypted += 1,
            }
            let out = msg.to_bytes().unwrap();
            assert_eq!(out, d.isakmp, "{name} frame {} does not re-emit identically", d.frame);
        }
    }
    // ikev1-certs: MM 1-4 plaintext; 12610: MM 1-4; 12620: AM 1-3 (its first encrypted message is frame 4).
    assert_eq!(plain, 4 + 4 + 3, "plaintext messages");
    assert_eq!(plain + encrypted, 10 + 16 + 10, "all messages");
}

#[test]
fn certs_capture_main_mode_payloads() {
    let d = isakmp_datagrams("ikev1-certs.pcap");
    let m1 = Message::parse(&d[0].isakmp).unwrap();
    assert_eq!(m1.header.exchange_type, ExchangeType::MAIN_MODE);
    assert_eq!(m1.header.initiator_cookie, [0xfa, 0xfa, 0xeb, 0x49, 0x38, 0x2a, 0x76, 0x3c]);
    assert_eq!(m1.header.responder_cookie, [0; 8]);
    let Payload::Sa(sa) = &m1.payloads()[0] else { panic!("first payload is not SA") };
    assert_eq!(sa.doi, control::isakmp::Doi::IPSEC);
    assert!(!sa.proposals[0].transforms.is_empty());
    // Message 3 carries KE and NONCE; message 5 onwards is encrypted.
    let m3 = Message::parse(&d[2].isakmp).unwrap();
    let kinds: Vec<PayloadType> = m3.payloads().iter().map(Payload::kind).collect();
    assert!(kinds.contains(&PayloadType::KE) && kinds.contains(&PayloadType::NONCE), "{kinds:?}");
    let m5 = Message::parse(&d[4].isakmp).unwrap();
    assert!(m5.header.flags.encrypted());
}

#[test]
fn aggressive_mode_capture_has_id_and_vendor_ids() {
    let d = isakmp_datagrams("ikev1-bug-12620.pcapng.gz");
    let m1 = Message::parse(&d[0].isakmp).unwrap();
    assert_eq!(m1.header.exchange_type, ExchangeType::AGGRESSIVE);
    let kinds: Vec<PayloadType> = m1.payloads().iter().map(Payload::kind).collect();
    for k in [PayloadType::SA, PayloadType::KE, PayloadType::NONCE, PayloadType::ID] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(kinds.contains(&PayloadType::VENDOR_ID));
}

#[test]
fn captured_messages_become_fuzz_seeds() {
    // Keeps control/fuzz-seeds/isakmp/ in step with the captures: each seed is one captured message.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-seeds/isakmp");
    for name in CAPTURES {
        for d in isakmp_datagrams(name) {
            let stem = name.split('.').next().unwrap();
            let seed = dir.join(format!("{stem}-frame{:02}.bin", d.frame));
            let stored = std::fs::read(&seed).unwrap_or_else(|_| panic!("missing seed {}", seed.display()));
            assert_eq!(stored, d.isakmp, "{} differs from the capture", seed.display());
        }
    }
}
