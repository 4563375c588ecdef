//! The encrypted messages of the Wireshark captures decrypt with the published Phase 1 keys (IV from the captured
//! KE payloads, CBC chaining per Message ID) and then parse as valid ISAKMP payload chains.

mod isakmp_support;

use std::collections::HashSet;

use control::crypto::{IkeCipher, IvManager, Prf};
use control::isakmp::{parse_payloads, Body, CertEncoding, Message, Payload, Trailing};
use isakmp_support::{data_path, isakmp_datagrams};

struct Decrypted {
    frame: usize,
    message_id: u32,
    payloads: Vec<Payload>,
}

fn key_entry(capture: &str) -> (Vec<u8>, [u8; 8], [u8; 8]) {
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_path("keys.json")).unwrap()).unwrap();
    let e =
        keys["ikev1_decryption_table"]["entries"].as_array().unwrap().iter().find(|e| e["capture"] == capture).unwrap();
    let h = |k: &str| hex::decode(e[k].as_str().unwrap()).unwrap();
    (h("encryption_key"), h("initiator_cookie").try_into().unwrap(), h("responder_cookie").try_into().unwrap())
}

/// Decrypts every encrypted message of a capture; panics on any failure.
fn decrypt_capture(capture: &str, cipher: IkeCipher, prf: Prf) -> (Vec<Decrypted>, usize) {
    let (key, icookie, rcookie) = key_entry(capture);
    let dgrams = isakmp_datagrams(capture);
    let initiator = dgrams[0].src;
    let mut gxi = None;
    let mut gxr = None;
    let mut ivs: Option<IvManager> = None;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut duplicates = 0;
    for d in &dgrams {
        let msg = Message::parse(&d.isakmp).unwrap();
        assert_eq!(msg.header.initiator_cookie, icookie, "frame {}", d.frame);
        if !seen.insert(d.isakmp.clone()) {
            duplicates += 1; // a retransmission: same ciphertext, must not advance the IV
            continue;
        }
        match &msg.body {
            Body::Payloads(p) => {
                for pl in p {
                    if let Payload::Ke(ke) = pl {
                        if d.src == initiator {
                            gxi = Some(ke.clone())
                        } else {
                            gxr = Some(ke.clone())
                        }
                    }
                }
            }
            Body::Encrypted { first_payload, data } => {
                assert_eq!(msg.header.responder_cookie, rcookie);
                let ivm = ivs.get_or_insert_with(|| {
                    IvManager::new(prf, cipher.block_len(), gxi.as_ref().unwrap(), gxr.as_ref().unwrap())
                });
                let mid = msg.header.message_id;
                let iv = ivm.iv(mid);
                let mut plain = data.clone();
                cipher.decrypt(&key, &iv, &mut plain).unwrap_or_else(|e| panic!("frame {}: {e}", d.frame));
                ivm.update(mid, data);
                let payloads = parse_payloads(*first_payload, &plain, Trailing::Padding)
                    .unwrap_or_else(|e| panic!("{capture} frame {} (M-ID {mid:#x}) decrypts to garbage: {e}", d.frame));
                let used: usize = payloads.iter().map(Payload::buffer_len).sum();
                // Some peers add random padding beyond the block (this capture's peer adds 32 bytes); RFC 2409 §5.3
                // bounds it only by the one-byte pad count.
                assert!(plain.len() - used < 256, "frame {}: {} bytes of padding", d.frame, plain.len() - used);
                out.push(Decrypted { frame: d.frame, message_id: mid, payloads });
            }
        }
    }
    (out, duplicates)
}

fn hashes(d: &[Decrypted]) -> Vec<String> {
    d.iter()
        .flat_map(|m| m.payloads.iter())
        .filter_map(|p| if let Payload::Hash(h) = p { Some(hex::encode(h)) } else { None })
        .collect()
}

#[test]
fn certs_capture_3des_md5_main_mode_and_quick_mode() {
    let (dec, dups) = decrypt_capture("ikev1-certs.pcap", IkeCipher::TripleDesCbc, Prf::HmacMd5);
    assert_eq!(dups, 1, "frame 8 retransmits frame 7");
    assert_eq!(dec.len(), 10 - 4 - 1);
    // Main Mode 5 and 6: ID, CERT (X.509 signature), SIG; the initiator's certificate names OpenSwan.
    for m in &dec[..2] {
        assert_eq!(m.message_id, 0);
        assert!(matches!(m.payloads[0], Payload::Id(_)), "frame {}", m.frame);
        assert!(m.payloads.iter().any(|p| matches!(p, Payload::Sig(_))));
    }
    let cert = dec[0]
        .payloads
        .iter()
        .find_map(|p| if let Payload::Cert(c) = p { Some(c) } else { None })
        .expect("CERT in MM5");
    assert_eq!(cert.encoding, CertEncoding::X509_SIGNATURE);
    assert!(cert.data.windows(8).any(|w| w == b"OpenSwan"));
    // Quick Mode starts with HASH(1) and carries SA and NONCE.
    let qm = &dec[2];
    assert_ne!(qm.message_id, 0);
    assert!(matches!(qm.payloads[0], Payload::Hash(_)));
    assert!(qm.payloads.iter().any(|p| matches!(p, Payload::Sa(_))));
}

#[test]
fn bug_12610_aes256_sha256_interleaved_exchanges() {
    let (dec, dups) = decrypt_capture("ikev1-bug-12610.pcapng.gz", IkeCipher::Aes256Cbc, Prf::HmacSha256);
    assert_eq!(dups, 0);
    assert_eq!(dec.len(), 16 - 4);
    let mids: HashSet<u32> = dec.iter().map(|m| m.message_id).collect();
    assert!(mids.len() >= 4, "several exchanges on one ISAKMP SA: {mids:x?}");
    assert!(hashes(&dec).iter().any(|h| h.contains("b52521f774967402c9f6cee95fd17e5b")), "Wireshark's expected hash");
}

#[test]
fn bug_12620_aes256_after_aggressive_mode() {
    let (dec, _) = decrypt_capture("ikev1-bug-12620.pcapng.gz", IkeCipher::Aes256Cbc, Prf::HmacSha256);
    assert_eq!(dec.len(), 10 - 3);
    assert!(dec.iter().all(|m| m.message_id != 0));
    assert!(hashes(&dec).iter().any(|h| h.contains("40043b640f4373250d5ac3a1fb63153c")), "Wireshark's expected hash");
}

#[test]
fn wrong_key_does_not_parse() {
    let (mut key, _, _) = key_entry("ikev1-bug-12610.pcapng.gz");
    key[0] ^= 1;
    let dgrams = isakmp_datagrams("ikev1-bug-12610.pcapng.gz");
    let ke = |i: usize| match &Message::parse(&dgrams[i].isakmp).unwrap().payloads()[0] {
        Payload::Ke(k) => k.clone(),
        other => panic!("{other:?}"),
    };
    let mut ivm = IvManager::new(Prf::HmacSha256, 16, &ke(2), &ke(3));
    let m5 = Message::parse(&dgrams[4].isakmp).unwrap();
    let Body::Encrypted { first_payload, data } = m5.body else { panic!() };
    let mut plain = data.clone();
    IkeCipher::Aes256Cbc.decrypt(&key, &ivm.iv(0), &mut plain).unwrap();
    assert!(parse_payloads(first_payload, &plain, Trailing::Padding).is_err());
}
