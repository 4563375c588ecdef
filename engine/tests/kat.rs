//! Known-answer tests from the RFCs and draft-mcgrew-gcm-test-01 (files in tests/data, provenance in its README),
//! and a real capture (Wireshark's esp-bug-12671) decrypted through the inbound SA.

mod common;

use common::{hex, to_hex};
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{
    Cipher, EncryptionAlgorithm as E, EspCrypto, EspJob, Integrity, IntegrityAlgorithm as I, SoftwareEsp,
};
use engine::esp::InboundSa;
use engine::sa::{Mode, SaParams};
use engine::wire::{ipv4, IpProtocol, Spi};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex(v[k].as_str().unwrap_or_else(|| panic!("{k} missing in {v}")))
}

#[test]
fn rfc3602_raw_aes_cbc() {
    let d = load("rfc3602_aes_cbc.json");
    let mut n = 0;
    for c in d["cases"].as_array().unwrap().iter().filter(|c| c["kind"] == "aes-cbc-raw") {
        let cipher = Cipher::new(E::AesCbc128, &h(c, "key")).unwrap();
        let mut data = h(c, "plaintext");
        cipher.encrypt(&h(c, "iv"), &mut data);
        assert_eq!(data, h(c, "ciphertext"), "case {}", c["case"]);
        cipher.decrypt(&h(c, "iv"), &mut data);
        assert_eq!(data, h(c, "plaintext"));
        n += 1;
    }
    assert_eq!(n, 3);
}

/// Seals `plaintext` (payload + trailer) into an ESP packet with a fixed IV, as the vectors do.
fn seal(crypto: &SoftwareEsp, spi: &[u8], seq: u64, esn: bool, iv: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut esp = spi.to_vec();
    esp.extend_from_slice(&(seq as u32).to_be_bytes());
    esp.extend(vec![0; iv.len()]);
    esp.extend_from_slice(plaintext);
    esp.extend(vec![0; crypto.icv_len()]);
    let mut job = EspJob::new(&mut esp, (seq >> 32) as u32, esn);
    crypto.seal_with_iv(&mut job, iv);
    assert_eq!(job.status, Ok(()));
    esp
}

fn open(crypto: &SoftwareEsp, esp: &[u8], seq_hi: u32, esn: bool) -> Result<Vec<u8>, engine::DropReason> {
    let mut buf = esp.to_vec();
    let mut jobs = [EspJob::new(&mut buf, seq_hi, esn)];
    crypto.open_burst(&mut jobs);
    jobs[0].status?;
    let end = buf.len() - crypto.icv_len();
    Ok(buf[8 + crypto.iv_len()..end].to_vec())
}

#[test]
fn rfc3602_esp_packets() {
    let d = load("rfc3602_aes_cbc.json");
    let mut n = 0;
    for c in d["cases"].as_array().unwrap().iter().filter(|c| c["kind"] == "esp-packet") {
        let crypto = SoftwareEsp::new(E::AesCbc128, &h(c, "key"), I::None, &[]).unwrap();
        let seq = c["seq"].as_u64().unwrap();
        let pre = h(c, "pre_encryption_data");
        let esp = seal(&crypto, &h(c, "spi"), seq, false, &h(c, "iv"), &pre);
        assert_eq!(to_hex(&esp), c["esp_packet"].as_str().unwrap(), "case {}", c["case"]);
        assert_eq!(open(&crypto, &esp, 0, false).unwrap(), pre);
        n += 1;
    }
    assert_eq!(n, 3);
}

fn rfc3602_sa(c: &Value, mode: Mode) -> InboundSa {
    let spi = u32::from_be_bytes(h(c, "spi").try_into().unwrap());
    let mut p = SaParams::new(Spi(spi), mode, E::AesCbc128, &h(c, "key"), I::None, &[]);
    p.replay_window = 64;
    InboundSa::new(p).unwrap()
}

#[test]
fn rfc3602_case5_transport_packet_decapsulates_to_the_original() {
    let d = load("rfc3602_aes_cbc.json");
    let c = d["cases"].as_array().unwrap().iter().find(|c| c["case"] == 5).unwrap();
    let sa = rfc3602_sa(c, Mode::Transport);
    let mut b = VecBuf::new(&h(c, "full_esp_ip_packet"));
    assert_eq!(sa.unprotect(&mut b).0, Ok(()));
    assert_eq!(to_hex(b.data()), c["full_plaintext_packet"].as_str().unwrap());
}

#[test]
fn rfc3602_case7_tunnel_packet_decapsulates_to_the_inner_packet() {
    let d = load("rfc3602_aes_cbc.json");
    let c = d["cases"].as_array().unwrap().iter().find(|c| c["case"] == 7).unwrap();
    let (l, r) = (Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2));
    let sa = rfc3602_sa(c, Mode::Tunnel { local: IpAddr::V4(l), remote: IpAddr::V4(r) });
    // The RFC gives only the ESP part of this case; put an outer header (documentation addresses) in front.
    let esp = h(c, "esp_packet");
    let mut pkt = vec![0u8; 20];
    ipv4::Repr {
        src_addr: r,
        dst_addr: l,
        protocol: IpProtocol::ESP,
        payload_len: esp.len() as u16,
        tos: 0,
        ident: 1,
        dont_frag: false,
        ttl: 64,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut pkt[..]));
    pkt.extend_from_slice(&esp);
    let mut b = VecBuf::new(&pkt);
    assert_eq!(sa.unprotect(&mut b).0, Ok(()));
    assert_eq!(b.data(), &h(c, "plaintext_payload")[..]);
}

#[test]
fn rfc3686_aes_ctr() {
    let d = load("rfc3686_aes_ctr.json");
    let mut n = 0;
    for v in d["vectors"].as_array().unwrap() {
        let alg = match v["key_bits"].as_u64().unwrap() {
            128 => E::AesCtr128,
            192 => E::AesCtr192,
            _ => E::AesCtr256,
        };
        let cipher = Cipher::new(alg, &h(v, "esp_key_material")).unwrap();
        let mut data = h(v, "plaintext");
        cipher.encrypt(&h(v, "iv"), &mut data);
        assert_eq!(data, h(v, "ciphertext"), "vector {}", v["test_vector"]);
        cipher.decrypt(&h(v, "iv"), &mut data);
        assert_eq!(data, h(v, "plaintext"));
        n += 1;
    }
    assert_eq!(n, 8);
}

#[test]
fn gcm_esp_vectors_including_esn() {
    let d = load("gcm_esp_draft_mcgrew.json");
    let (mut n, mut esn_cases) = (0, 0);
    for c in d["cases"].as_array().unwrap() {
        if !c["algorithm"].as_str().unwrap().starts_with("AES-GCM-ESP") {
            continue; // the GMAC (ENCR_NULL_AUTH_AES_GMAC) case is not a seed algorithm
        }
        let alg = match c["key_bits"].as_u64().unwrap() {
            128 => E::AesGcm128,
            192 => E::AesGcm192,
            _ => E::AesGcm256,
        };
        let mut key = h(c, "key");
        key.extend(h(c, "salt"));
        let crypto = SoftwareEsp::new(alg, &key, I::None, &[]).unwrap();
        let esn = c["esn"].as_bool().unwrap();
        let seq = u64::from_str_radix(c["seq"].as_str().unwrap(), 16).unwrap();
        let esp = seal(&crypto, &h(c, "spi"), seq, esn, &h(c, "iv"), &h(c, "plaintext"));
        assert_eq!(to_hex(&esp), c["esp_packet"].as_str().unwrap(), "case {}", c["case"]);
        assert_eq!(open(&crypto, &esp, (seq >> 32) as u32, esn).unwrap(), h(c, "plaintext"));
        if esn {
            // The high half is authenticated though never sent: a wrong guess must fail.
            assert!(open(&crypto, &esp, (seq >> 32) as u32 ^ 1, esn).is_err());
            esn_cases += 1;
        }
        n += 1;
    }
    assert_eq!((n, esn_cases), (14, 9));
}

#[test]
fn rfc4868_hmac_sha2() {
    let d = load("rfc4868_hmac_sha2.json");
    let mut n = 0;
    for c in d["cases"].as_array().unwrap() {
        let name = c["algorithm"].as_str().unwrap();
        let alg = if name.contains("SHA2_256") {
            I::HmacSha256_128
        } else if name.contains("SHA2_384") {
            I::HmacSha384_192
        } else {
            I::HmacSha512_256
        };
        let mut full = [0u8; 64];
        if c["kind"] == "prf" {
            let m = Integrity::new_any_key_len(alg, &h(c, "key")).unwrap();
            let len = m.full_mac(&[&h(c, "data")], &mut full);
            assert_eq!(to_hex(&full[..len]), c["output"].as_str().unwrap(), "{}", c["test_case"]);
        } else {
            // Keys of the RFC length must pass the strict constructor; AUTH-4 (errata keys) are longer.
            let key = h(c, "key");
            let m = if key.len() == alg.key_len() {
                Integrity::new(alg, &key)
            } else {
                Integrity::new_any_key_len(alg, &key)
            };
            let m = m.unwrap();
            let mut icv = vec![0u8; alg.icv_len()];
            m.compute(&[&h(c, "data")], &mut icv);
            assert_eq!(to_hex(&icv), c["icv"].as_str().unwrap(), "{}", c["test_case"]);
            assert!(m.verify(&[&h(c, "data")], &icv));
            let len = m.full_mac(&[&h(c, "data")], &mut full);
            assert_eq!(to_hex(&full[..len]), c["full_hmac"].as_str().unwrap());
        }
        n += 1;
    }
    assert_eq!(n, 27);
}

#[test]
fn wireshark_capture_decrypts_through_the_inbound_sa() {
    let d = load("esp_bug_12671.json");
    let frames = d["frames"].as_array().unwrap();
    let mut decrypted = 0;
    for sa in d["sas"].as_array().unwrap() {
        let spi = u32::from_str_radix(sa["spi"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        let local: IpAddr = sa["dst_ip"].as_str().unwrap().parse().unwrap();
        let remote: IpAddr = sa["src_ip"].as_str().unwrap().parse().unwrap();
        let p = SaParams::new(
            Spi(spi),
            Mode::Tunnel { local, remote },
            E::AesCbc128,
            &h(sa, "encryption_key"),
            I::HmacSha1_96,
            &h(sa, "authentication_key"),
        );
        let inb = InboundSa::new(p).unwrap();
        for f in sa["frames"].as_array().unwrap() {
            let frame = &frames[f.as_u64().unwrap() as usize - 1];
            let pkt = h(frame, "ip_packet");
            let mut b = VecBuf::new(&pkt);
            assert_eq!(inb.unprotect(&mut b).0, Ok(()), "frame {f}");
            // An ICMP echo between 10.1.1.1 and 10.1.0.10 with the usual ping pattern.
            let inner = ipv4::Packet::new_checked(b.data()).unwrap();
            assert!(inner.verify_checksum());
            assert_eq!(inner.protocol(), IpProtocol::ICMP);
            assert!(to_hex(inner.payload()).contains("08090a0b0c0d0e0f1011121314151617"));
            if f == 1 {
                assert!(to_hex(b.data()).starts_with(d["frame_1_detail"]["inner_packet_prefix"].as_str().unwrap()));
            }
            // Replaying the capture is refused.
            assert_eq!(inb.unprotect(&mut VecBuf::new(&pkt)).0, Err(engine::DropReason::Replay));
            decrypted += 1;
        }
    }
    assert_eq!(decrypted, 6);
}
