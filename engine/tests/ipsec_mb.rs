//! The intel-ipsec-mb CPU backend (`IpsecMbEsp`, the library called directly): known answers (draft-mcgrew-gcm-test-01
//! with ESN, RFC 3602, RFC 3686), cross-checks against the software backend in both directions for every suite it
//! takes with and without ESN, tampered ICVs (nothing decrypted), wrong ESN high halves, bad lengths, several threads
//! on one SA at once, and which backend `CryptoBackend::Cpu` picks. No allocation per burst: `ipsec_mb_alloc.rs`.
#![cfg(feature = "dpdk")]

mod common;

use common::bursts::{key, open, packets, plain_of, seal};
use engine::crypto::{
    CryptoBackend, EncryptionAlgorithm as E, EspCrypto, IntegrityAlgorithm as I, IpsecMbError, IpsecMbEsp, SoftwareEsp,
    CPU_IPSEC_MB,
};
use engine::DropReason;

const SUITES: [(E, I); 15] = [
    (E::AesGcm128, I::None),
    (E::AesGcm192, I::None),
    (E::AesGcm256, I::None),
    (E::AesCbc128, I::HmacSha1_96),
    (E::AesCbc192, I::HmacSha256_128),
    (E::AesCbc256, I::HmacSha384_192),
    (E::AesCbc256, I::HmacSha512_256),
    (E::AesCbc128, I::HmacMd5_96),
    (E::AesCtr128, I::HmacSha1_96),
    (E::AesCtr192, I::HmacSha384_192),
    (E::AesCtr256, I::HmacSha256_128),
    (E::Null, I::HmacSha256_128),
    (E::Null, I::HmacSha1_96),
    (E::AesCbc128, I::None),
    (E::AesCtr192, I::None),
];

fn cross_check(enc: E, int: I, esn: bool) {
    let (ck, ak) = (key(enc.key_len(), 3), key(int.key_len(), 9));
    let mb = IpsecMbEsp::new(enc, &ck, int, &ak).unwrap_or_else(|e| panic!("{enc:?}/{int:?}: {e}"));
    let sw = SoftwareEsp::new(enc, &ck, int, &ak).unwrap();
    let what = format!("{enc:?}/{int:?} esn={esn}");
    assert_eq!((mb.iv_len(), mb.icv_len(), mb.pad_align()), (sw.iv_len(), sw.icv_len(), sw.pad_align()), "{what}");
    let seq_hi = if esn { 7 } else { 0 };
    // 70 packets: two full library runs of 32 and a small one; sequence numbers cross a 2^32 boundary.
    let (mut pkts, plains) = packets(&mb, 70, 0xffff_ffe0);
    assert!(seal(&mb, &mut pkts, seq_hi, esn).iter().all(|s| s.is_ok()), "{what}: seal");
    if enc != E::Null {
        assert_ne!(plain_of(&mb, &pkts[3]), &plains[3][..], "{what}: encrypted");
    }
    let mut copy = pkts.clone();
    assert!(open(&sw, &mut copy, seq_hi, esn).iter().all(|s| s.is_ok()), "{what}: software opens intel-ipsec-mb");
    for (p, plain) in copy.iter().zip(&plains) {
        assert_eq!(plain_of(&sw, p), &plain[..], "{what}");
    }
    // A burst of a few (the small on-stack path), and the other way round.
    for n in [3, 70] {
        let (mut pkts, plains) = packets(&sw, n, 5);
        assert!(seal(&sw, &mut pkts, seq_hi, esn).iter().all(|s| s.is_ok()));
        let sealed = pkts.clone();
        assert!(open(&mb, &mut pkts, seq_hi, esn).iter().all(|s| s.is_ok()), "{what}: intel-ipsec-mb opens software");
        for (p, plain) in pkts.iter().zip(&plains) {
            assert_eq!(plain_of(&mb, p), &plain[..], "{what}");
        }
        if mb.icv_len() == 0 {
            continue;
        }
        // A tampered ICV in the middle of the burst: that packet is refused and left as it came; the others open.
        let mut t = sealed.clone();
        let bad = n / 2;
        let last = t[bad].len() - 1;
        t[bad][last] ^= 1;
        let st = open(&mb, &mut t, seq_hi, esn);
        assert_eq!(st[bad], Err(DropReason::AuthFailed), "{what}: tampered");
        assert!(st.iter().enumerate().all(|(i, s)| i == bad || s.is_ok()), "{what}: others open");
        if !enc.is_aead() {
            let mut want = sealed[bad].clone();
            want[last] ^= 1;
            assert_eq!(t[bad], want, "{what}: a packet that fails its ICV is not decrypted");
        }
        // A tampered ciphertext byte fails too.
        let mut t = sealed.clone();
        t[0][8 + mb.iv_len()] ^= 0x80;
        assert_eq!(open(&mb, &mut t[..1], seq_hi, esn)[0], Err(DropReason::AuthFailed), "{what}: ciphertext");
        if esn {
            let mut t = sealed.clone();
            let st = open(&mb, &mut t, seq_hi + 1, esn);
            assert!(st.iter().all(|s| *s == Err(DropReason::AuthFailed)), "{what}: wrong ESN high half");
        }
    }
    // A truncated packet, and a ciphertext that is not whole blocks, are length drops.
    let mut short = vec![vec![0u8; 8 + mb.iv_len() + mb.icv_len() + 1]];
    assert_eq!(open(&mb, &mut short, seq_hi, esn)[0], Err(DropReason::BadLength), "{what}");
    if mb.pad_align() > 4 {
        let mut ragged = vec![vec![0u8; 8 + mb.iv_len() + 20 + mb.icv_len()]];
        assert_eq!(open(&mb, &mut ragged, seq_hi, esn)[0], Err(DropReason::BadLength), "{what}");
        assert_eq!(seal(&mb, &mut ragged, seq_hi, esn)[0], Err(DropReason::BadLength), "{what}");
    }
}

#[test]
fn every_suite_agrees_with_the_software_backend_both_ways() {
    for (enc, int) in SUITES {
        for esn in [false, true] {
            cross_check(enc, int, esn);
        }
    }
}

/// Warming a burst reads each SA's keys ahead of it (`touch_keys`): reading must change nothing the SA seals.
#[test]
fn touching_the_keys_changes_nothing() {
    for (enc, int) in SUITES {
        let (ck, ak) = (key(enc.key_len(), 3), key(int.key_len(), 9));
        let mb = IpsecMbEsp::new(enc, &ck, int, &ak).unwrap();
        let (mut a, _) = packets(&mb, 5, 40);
        let mut b = a.clone();
        assert!(seal(&mb, &mut a, 0, false).iter().all(|s| s.is_ok()));
        assert_eq!(mb.touch_keys(), mb.touch_keys(), "{enc:?}/{int:?}");
        assert!(seal(&mb, &mut b, 0, false).iter().all(|s| s.is_ok()));
        assert_eq!(a, b, "{enc:?}/{int:?}");
    }
}

#[test]
fn known_answers() {
    let mut seen = std::collections::HashMap::new();
    for v in common::vectors::open_vectors() {
        let mb = IpsecMbEsp::new(v.enc, &v.key, I::None, &[]).unwrap();
        let mut pkt = vec![v.packet.clone()];
        assert_eq!(open(&mb, &mut pkt, (v.seq >> 32) as u32, v.esn), [Ok(())], "{}", v.what);
        assert_eq!(plain_of(&mb, &pkt[0]), &v.plaintext[..], "{}", v.what);
        *seen.entry(v.what.split(' ').next().unwrap().to_string()).or_insert(0) += 1;
    }
    assert_eq!((seen["draft-mcgrew"], seen["RFC"]), (14, 11), "{seen:?}");
}

#[test]
fn des_is_left_to_software_and_bad_keys_are_errors() {
    for enc in [E::DesCbc, E::TripleDesCbc] {
        let r = IpsecMbEsp::new(enc, &key(enc.key_len(), 1), I::HmacSha1_96, &key(20, 2));
        assert!(matches!(r, Err(IpsecMbError::Unsupported(_))), "{enc:?}");
    }
    assert!(matches!(IpsecMbEsp::new(E::AesGcm128, &key(16, 1), I::None, &[]), Err(IpsecMbError::Crypto(_))));
    assert!(matches!(
        IpsecMbEsp::new(E::AesCbc128, &key(16, 1), I::HmacSha1_96, &key(16, 2)),
        Err(IpsecMbError::Crypto(_))
    ));
    assert!(matches!(IpsecMbEsp::new(E::Null, &[], I::None, &[]), Err(IpsecMbError::Crypto(_))));
}

#[test]
fn the_cpu_backend_takes_intel_ipsec_mb_where_it_has_the_suite() {
    let tunnel = engine::sa::Mode::Tunnel { local: common::GW4_L.into(), remote: common::GW4_R.into() };
    for (enc, int, label) in [
        (E::AesGcm128, I::None, CPU_IPSEC_MB),
        (E::AesCbc128, I::HmacSha1_96, CPU_IPSEC_MB),
        (E::TripleDesCbc, I::HmacSha1_96, "cpu"),
    ] {
        let params = engine::sa::SaParams::new(
            engine::wire::Spi(0x4242),
            tunnel,
            enc,
            &key(enc.key_len(), 4),
            int,
            &key(int.key_len(), 5),
        );
        assert_eq!(CryptoBackend::Cpu.build(&params).unwrap().backend, label, "{enc:?}");
        assert_eq!(CryptoBackend::Software.build(&params).unwrap().backend, "cpu", "{enc:?}");
    }
}

/// Workers share inbound SAs: several threads seal and open through one handler at once, each on its own job
/// manager, and every packet comes out right.
#[test]
fn threads_share_one_sa() {
    for (enc, int) in [(E::AesCbc128, I::HmacSha1_96), (E::AesGcm128, I::None)] {
        let (ck, ak) = (key(enc.key_len(), 7), key(int.key_len(), 8));
        let mb = IpsecMbEsp::new(enc, &ck, int, &ak).unwrap();
        let sw = SoftwareEsp::new(enc, &ck, int, &ak).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (mb, sw) = (&mb, &sw);
                s.spawn(move || {
                    for round in 0..50u32 {
                        let (mut pkts, plains) = packets(mb, 32, t * 100_000 + round * 32);
                        assert!(seal(mb, &mut pkts, 0, false).iter().all(|r| r.is_ok()));
                        let mut copy = pkts.clone();
                        assert!(open(sw, &mut copy, 0, false).iter().all(|r| r.is_ok()));
                        assert!(open(mb, &mut pkts, 0, false).iter().all(|r| r.is_ok()));
                        for ((p, c), plain) in pkts.iter().zip(&copy).zip(&plains) {
                            assert_eq!(plain_of(mb, p), &plain[..]);
                            assert_eq!(plain_of(sw, c), &plain[..]);
                        }
                    }
                });
            }
        });
    }
}

mod differential {
    //! Arbitrary bytes, and sealed packets with a bit flipped, opened by both backends: the same verdict for every
    //! packet, and the same plaintext when both accept it. The intel-ipsec-mb path skips the library's per-job
    //! checks, so what it hands the library is exercised here on input nobody formed.
    use super::*;
    use proptest::prelude::*;

    fn handlers(s: usize) -> (IpsecMbEsp, SoftwareEsp) {
        let (enc, int) = SUITES[s % SUITES.len()];
        let (ck, ak) = (key(enc.key_len(), s as u8), key(int.key_len(), 77));
        (IpsecMbEsp::new(enc, &ck, int, &ak).unwrap(), SoftwareEsp::new(enc, &ck, int, &ak).unwrap())
    }

    fn both_open(mb: &IpsecMbEsp, sw: &SoftwareEsp, pkts: &[Vec<u8>], seq_hi: u32, esn: bool) {
        let (mut a, mut b) = (pkts.to_vec(), pkts.to_vec());
        let (ra, rb) = (open(mb, &mut a, seq_hi, esn), open(sw, &mut b, seq_hi, esn));
        assert_eq!(ra, rb, "verdicts");
        for ((r, x), y) in ra.iter().zip(&a).zip(&b) {
            if r.is_ok() {
                assert_eq!(plain_of(mb, x), plain_of(sw, y), "plaintext");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(s in 0usize..SUITES.len(), pkts in prop::collection::vec(
            prop::collection::vec(any::<u8>(), 0..200), 1..12), seq_hi in any::<u32>(), esn in any::<bool>()) {
                    let (mb, sw) = handlers(s);
            both_open(&mb, &sw, &pkts, seq_hi, esn);
        }

        #[test]
        fn sealed_then_flipped(s in 0usize..SUITES.len(), n in 1usize..40, flip in any::<prop::sample::Index>(),
            bit in 0u8..8, which in any::<prop::sample::Index>(), esn in any::<bool>()) {
                    let (mb, sw) = handlers(s);
            let (mut pkts, _) = packets(&mb, n, 1);
            prop_assert!(seal(&mb, &mut pkts, 3, esn).iter().all(|r| r.is_ok()));
            both_open(&mb, &sw, &pkts, 3, esn);
            let k = which.index(n);
            let at = flip.index(pkts[k].len());
            pkts[k][at] ^= 1 << bit;
            both_open(&mb, &sw, &pkts, 3, esn);
        }
    }
}
