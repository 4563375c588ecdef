//! Phase 1 ciphers: known answers (OpenSSL-computed), round trips, padding, IV chaining and input errors.

use control::crypto::{pad, CryptoError, IkeCipher, IvManager, Prf};
use control::isakmp::EncryptionAlgorithm;

fn cipher_named(n: &str) -> IkeCipher {
    match n {
        "des" => IkeCipher::DesCbc,
        "3des" => IkeCipher::TripleDesCbc,
        "aes128" => IkeCipher::Aes128Cbc,
        "aes192" => IkeCipher::Aes192Cbc,
        "aes256" => IkeCipher::Aes256Cbc,
        _ => panic!("{n}"),
    }
}

#[test]
fn known_answers_all_ciphers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cbc_kat.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for c in cases {
        let h = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
        let cipher = cipher_named(c["cipher"].as_str().unwrap());
        let mut buf = h("plaintext");
        cipher.encrypt(&h("key"), &h("iv"), &mut buf).unwrap();
        assert_eq!(buf, h("ciphertext"), "{}", cipher.name());
        cipher.decrypt(&h("key"), &h("iv"), &mut buf).unwrap();
        assert_eq!(buf, h("plaintext"), "{}", cipher.name());
    }
}

#[test]
fn attributes_select_cipher() {
    use IkeCipher::*;
    assert_eq!(IkeCipher::from_attributes(EncryptionAlgorithm::DES_CBC, None), Ok(DesCbc));
    assert_eq!(IkeCipher::from_attributes(EncryptionAlgorithm::DES3_CBC, None), Ok(TripleDesCbc));
    assert_eq!(IkeCipher::from_attributes(EncryptionAlgorithm::AES_CBC, Some(128)), Ok(Aes128Cbc));
    assert_eq!(IkeCipher::from_attributes(EncryptionAlgorithm::AES_CBC, Some(192)), Ok(Aes192Cbc));
    assert_eq!(IkeCipher::from_attributes(EncryptionAlgorithm::AES_CBC, Some(256)), Ok(Aes256Cbc));
    assert!(IkeCipher::from_attributes(EncryptionAlgorithm::AES_CBC, None).is_err());
    assert!(IkeCipher::from_attributes(EncryptionAlgorithm::AES_CBC, Some(512)).is_err());
    assert!(IkeCipher::from_attributes(EncryptionAlgorithm::BLOWFISH_CBC, None).is_err());
}

#[test]
fn bad_lengths_are_errors() {
    let c = IkeCipher::Aes128Cbc;
    let mut buf = vec![0u8; 17];
    assert_eq!(c.encrypt(&[0; 16], &[0; 16], &mut buf), Err(CryptoError::NotBlockAligned { len: 17, block: 16 }));
    assert!(matches!(c.decrypt(&[0; 15], &[0; 16], &mut buf[..16]), Err(CryptoError::BadKeyLength { .. })));
    assert!(matches!(c.decrypt(&[0; 16], &[0; 8], &mut buf[..16]), Err(CryptoError::BadIvLength { .. })));
}

#[test]
fn padding_and_chained_round_trip() {
    for c in
        [IkeCipher::DesCbc, IkeCipher::TripleDesCbc, IkeCipher::Aes128Cbc, IkeCipher::Aes192Cbc, IkeCipher::Aes256Cbc]
    {
        let key: Vec<u8> = (0..c.key_len() as u8).collect();
        let mut sender = IvManager::new(Prf::HmacSha1, c.block_len(), b"gxi", b"gxr");
        let mut receiver = sender.clone();
        for (mid, len) in [(0u32, 37usize), (0, 64), (0x1234, 5), (0x1234, 100), (7, 1)] {
            let mut msg: Vec<u8> = (0..len as u8).collect();
            pad(&mut msg, c.block_len());
            assert_eq!(msg.len() % c.block_len(), 0);
            if len % c.block_len() != 0 {
                assert_eq!(*msg.last().unwrap() as usize, msg.len() - len - 1, "pad count byte");
            }
            let plain = msg.clone();
            c.encrypt(&key, &sender.iv(mid), &mut msg).unwrap();
            sender.update(mid, &msg);
            let ct = msg.clone();
            c.decrypt(&key, &receiver.iv(mid), &mut msg).unwrap();
            receiver.update(mid, &ct);
            assert_eq!(msg, plain, "{} M-ID {mid}", c.name());
        }
        // Chaining: the next IV of an exchange is the last ciphertext block.
        let mut ivm = IvManager::new(Prf::HmacSha1, c.block_len(), b"a", b"b");
        let ct = vec![9u8; 3 * c.block_len()];
        ivm.update(0, &ct);
        assert_eq!(ivm.iv(0), &ct[2 * c.block_len()..]);
        // A fresh exchange derives hash(last phase 1 block | M-ID).
        let expected = control::crypto::kdf::phase2_iv(Prf::HmacSha1, &ct[2 * c.block_len()..], 5, c.block_len());
        assert_eq!(ivm.iv(5), expected);
    }
}
