//! The RSA-signature Main Mode of Wireshark's ikev1-certs.pcap (OpenSwan ↔ Juniper SRX, 3DES/MD5/group 2): messages
//! 5 and 6 decrypted with the published Phase 1 key, their CERT payloads parsed as X.509 by control::pki, and each
//! SIG payload opened with the public key of the certificate beside it. The capture's DH secrets are not published,
//! so HASH_I/HASH_R cannot be recomputed; what is checked is that each SIG is a PKCS#1 v1.5 type-1 block around a
//! bare 16-byte MD5 hash, with no DigestInfo: the IKEv1 convention control::pki signs and verifies with.

mod isakmp_support;

use control::crypto::{IkeCipher, IvManager, Prf};
use control::isakmp::{parse_payloads, Body, CertEncoding, IdData, Message, Payload, Trailing};
use control::pki::{Certificate, PkiError, PublicKey, TrustStore};
use isakmp_support::{data_path, isakmp_datagrams};
use rsa::traits::PublicKeyParts;

/// Main Mode messages 5 and 6 of the capture, decrypted.
fn main_mode_5_and_6() -> Vec<Vec<Payload>> {
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_path("keys.json")).unwrap()).unwrap();
    let entry = keys["ikev1_decryption_table"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["capture"] == "ikev1-certs.pcap")
        .unwrap();
    let key = hex::decode(entry["encryption_key"].as_str().unwrap()).unwrap();
    let dgrams = isakmp_datagrams("ikev1-certs.pcap");
    let initiator = dgrams[0].src;
    let (mut gxi, mut gxr) = (None, None);
    let mut ivs: Option<IvManager> = None;
    let mut out = Vec::new();
    for d in &dgrams {
        let msg = Message::parse(&d.isakmp).unwrap();
        match &msg.body {
            Body::Payloads(p) => {
                for pl in p {
                    if let Payload::Ke(ke) = pl {
                        *(if d.src == initiator { &mut gxi } else { &mut gxr }) = Some(ke.clone());
                    }
                }
            }
            Body::Encrypted { first_payload, data } if msg.header.message_id == 0 => {
                let cipher = IkeCipher::TripleDesCbc;
                let ivm = ivs.get_or_insert_with(|| {
                    IvManager::new(Prf::HmacMd5, cipher.block_len(), gxi.as_ref().unwrap(), gxr.as_ref().unwrap())
                });
                let iv = ivm.iv(0);
                let mut plain = data.clone();
                cipher.decrypt(&key, &iv, &mut plain).unwrap();
                ivm.update(0, data);
                out.push(parse_payloads(*first_payload, &plain, Trailing::Padding).unwrap());
                if out.len() == 2 {
                    return out;
                }
            }
            Body::Encrypted { .. } => {}
        }
    }
    panic!("fewer than two Main Mode messages 5/6");
}

/// s^e mod n, left-padded to the modulus size.
fn open(pk: &rsa::RsaPublicKey, sig: &[u8]) -> Vec<u8> {
    let m = rsa::BigUint::from_bytes_be(sig).modpow(pk.e(), pk.n());
    let b = m.to_bytes_be();
    let mut out = vec![0u8; pk.size() - b.len()];
    out.extend_from_slice(&b);
    out
}

#[test]
fn certificates_parse_and_signatures_are_raw_pkcs1_md5() {
    let messages = main_mode_5_and_6();
    let (mut subjects, mut issuers) = (Vec::new(), Vec::new());
    for payloads in &messages {
        let der = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Cert(c) if c.encoding == CertEncoding::X509_SIGNATURE => Some(c.data.clone()),
                _ => None,
            })
            .expect("CERT payload");
        let cert = Certificate::from_der(&der).expect("X.509 certificate");
        assert_eq!(cert.der(), &der[..], "kept byte for byte");
        let PublicKey::Rsa(pk) = cert.public_key().clone() else { panic!("{}: not RSA", cert.subject()) };
        let sig = payloads.iter().find_map(|p| if let Payload::Sig(s) = p { Some(s) } else { None }).expect("SIG");
        assert_eq!(sig.len(), pk.size(), "SIG is one modulus long");
        let em = open(&pk, sig);
        // EMSA-PKCS1-v1_5 type 1: 00 01 FF..FF 00 | T, and T here is the 16-byte MD5 HASH_I/HASH_R itself.
        let t = em.len() - 16;
        assert_eq!(&em[..2], &[0, 1], "{}", cert.subject());
        assert!(em[2..t - 1].iter().all(|&b| b == 0xff), "{}: padding", cert.subject());
        assert_eq!(em[t - 1], 0, "{}: no DigestInfo before the hash", cert.subject());
        // Both peers identify by address (ID_IPV4_ADDR); the issuing CA is not in the capture, so no path to a
        // trust anchor can be built from it.
        let id = payloads.iter().find_map(|p| if let Payload::Id(i) = p { Some(i) } else { None }).unwrap();
        assert!(matches!(id.data, IdData::Ipv4Addr(_)), "{:?}", id.data);
        let e = TrustStore::default().validate(&cert, &[], std::time::SystemTime::now()).unwrap_err();
        assert!(matches!(e, PkiError::UnknownIssuer { .. } | PkiError::Expired { .. }), "{e}");
        issuers.push(cert.issuer());
        subjects.push(cert.subject());
    }
    assert!(subjects[0].contains("OpenSwan"), "{subjects:?}");
    assert!(subjects[1].contains("srx210-3"), "{subjects:?}");
    assert_eq!(issuers[0], issuers[1], "one CA issued both");
}
