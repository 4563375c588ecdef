//! The cryptodev ESP backend on `crypto_aesni_mb0` (intel-ipsec-mb), in both modes (CPU crypto and enqueue/dequeue):
//! known answers (draft-mcgrew-gcm-test-01 with ESN, RFC 3602, RFC 3686), cross-checks against the software backend in both
//! directions for every suite the device takes, tampered ICVs, wrong ESN high halves, many SAs in one run, and a
//! worker lcore on its own queue pair. One EAL per process: one test.
#![cfg(feature = "dpdk")]

mod common;

use common::bursts::{key, open, packets, plain_of, seal};
use engine::crypto::{
    CryptodevEsp, CryptodevEspError, CryptodevMode as Mode, EncryptionAlgorithm as E, EspCrypto, EspDirection, EspJob,
    IntegrityAlgorithm as I, SoftwareEsp,
};
use engine::dpdk::cryptodev::{CryptoDevice, CryptodevError};
use engine::dpdk::{lcore, Eal};
use engine::DropReason;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SUITES: [(E, I); 14] = [
    (E::AesGcm128, I::None),
    (E::AesGcm192, I::None),
    (E::AesGcm256, I::None),
    (E::AesCbc128, I::HmacSha1_96),
    (E::AesCbc192, I::HmacSha256_128),
    (E::AesCbc256, I::HmacSha384_192),
    (E::AesCbc256, I::HmacSha512_256),
    (E::AesCtr128, I::HmacSha1_96),
    (E::AesCtr256, I::HmacSha256_128),
    (E::TripleDesCbc, I::HmacSha1_96),
    (E::DesCbc, I::HmacMd5_96),
    (E::Null, I::HmacSha256_128),
    (E::AesCbc128, I::None),
    (E::AesCtr192, I::None),
];

/// Cross-checks one suite in one mode; returns false if the device does not take it.
fn cross_check(dev: &CryptoDevice, mode: Mode, enc: E, int: I, esn: bool) -> bool {
    let (ck, ak) = (key(enc.key_len(), 3), key(int.key_len(), 9));
    let hw = match CryptodevEsp::new(dev, mode, enc, &ck, int, &ak, esn) {
        Ok(c) => c,
        Err(CryptodevEspError::Device(CryptodevError::Unsupported { .. })) => {
            eprintln!("not on the device: {enc:?}/{int:?} esn={esn}");
            return false;
        }
        Err(e) => panic!("{enc:?}/{int:?}: {e}"),
    };
    let sw = SoftwareEsp::new(enc, &ck, int, &ak).unwrap();
    let what = format!("{enc:?}/{int:?} {mode:?} esn={esn}");
    assert_eq!((hw.iv_len(), hw.icv_len(), hw.pad_align()), (sw.iv_len(), sw.icv_len(), sw.pad_align()), "{what}");
    let seq_hi = if esn { 7 } else { 0 };
    // 70 packets: more than one device burst (64).
    let (mut pkts, plains) = packets(&hw, 70, 0xffff_ff00);
    let sealed_plain: Vec<Vec<u8>> = pkts.iter().map(|p| plain_of(&hw, p).to_vec()).collect();
    assert!(seal(&hw, &mut pkts, seq_hi, esn).iter().all(|s| s.is_ok()), "{what}: seal");
    if enc != E::Null {
        assert_ne!(plain_of(&hw, &pkts[3]), &sealed_plain[3][..], "{what}: encrypted");
    }
    let mut copy = pkts.clone();
    assert!(open(&sw, &mut copy, seq_hi, esn).iter().all(|s| s.is_ok()), "{what}: software opens cryptodev");
    for (p, plain) in copy.iter().zip(&plains) {
        assert_eq!(plain_of(&sw, p), &plain[..], "{what}");
    }
    // And the other way.
    let (mut pkts, plains) = packets(&sw, 70, 5);
    assert!(seal(&sw, &mut pkts, seq_hi, esn).iter().all(|s| s.is_ok()));
    let sealed = pkts.clone();
    assert!(open(&hw, &mut pkts, seq_hi, esn).iter().all(|s| s.is_ok()), "{what}: cryptodev opens software");
    for (p, plain) in pkts.iter().zip(&plains) {
        assert_eq!(plain_of(&hw, p), &plain[..], "{what}");
    }
    // A tampered ICV (or, with no integrity, nothing to check) in the middle of a burst.
    if hw.icv_len() > 0 {
        let mut t = sealed.clone();
        let last = t[10].len() - 1;
        t[10][last] ^= 1;
        let st = open(&hw, &mut t, seq_hi, esn);
        assert_eq!(st[10], Err(DropReason::AuthFailed), "{what}: tampered");
        assert!(st.iter().enumerate().all(|(i, s)| i == 10 || s.is_ok()), "{what}: others open");
        if esn {
            let mut t = sealed.clone();
            let st = open(&hw, &mut t[..4], seq_hi + 1, esn);
            assert!(st.iter().all(|s| *s == Err(DropReason::AuthFailed)), "{what}: wrong ESN high half");
        }
    }
    // A truncated packet is a length drop, not a device call.
    let mut short = vec![vec![0u8; 8 + hw.iv_len() + hw.icv_len() + 1]];
    assert_eq!(open(&hw, &mut short, seq_hi, esn)[0], Err(DropReason::BadLength));
    // The ESN setting is the session's: a job disagreeing with it is refused.
    let mut other = sealed[..1].to_vec();
    assert_eq!(open(&hw, &mut other, seq_hi, !esn)[0], Err(DropReason::CryptoDevice));
    true
}

fn known_answers(dev: &CryptoDevice, mode: Mode) {
    let mut n = 0;
    for v in common::vectors::open_vectors() {
        let hw = CryptodevEsp::new(dev, mode, v.enc, &v.key, I::None, &[], v.esn).unwrap();
        let mut pkt = vec![v.packet.clone()];
        assert_eq!(open(&hw, &mut pkt, (v.seq >> 32) as u32, v.esn), [Ok(())], "{}", v.what);
        assert_eq!(plain_of(&hw, &pkt[0]), &v.plaintext[..], "{}", v.what);
        n += 1;
    }
    assert_eq!(n, 25);
}

/// Several SAs sealing interleaved sequence numbers through one device: each SA's packets open in order with that
/// SA's software twin (and not with another's).
fn many_sas(dev: &CryptoDevice, mode: Mode) {
    let sas: Vec<(CryptodevEsp, SoftwareEsp)> = (0..8u8)
        .map(|i| {
            let (ck, ak) = (key(16, i), key(20, i + 100));
            (
                CryptodevEsp::new(dev, mode, E::AesCbc128, &ck, I::HmacSha1_96, &ak, false).unwrap(),
                SoftwareEsp::new(E::AesCbc128, &ck, I::HmacSha1_96, &ak).unwrap(),
            )
        })
        .collect();
    for round in 0..5u32 {
        for (i, (hw, sw)) in sas.iter().enumerate() {
            let (mut pkts, plains) = packets(hw, 3 + i, round * 100 + 1);
            assert!(seal(hw, &mut pkts, 0, false).iter().all(|s| s.is_ok()));
            let (other_sw, mut wrong) = (&sas[(i + 1) % sas.len()].1, pkts.clone());
            assert!(open(other_sw, &mut wrong, 0, false).iter().all(|s| *s == Err(DropReason::AuthFailed)));
            assert!(open(sw, &mut pkts, 0, false).iter().all(|s| s.is_ok()));
            for (k, (p, plain)) in pkts.iter().zip(&plains).enumerate() {
                assert_eq!(u32::from_be_bytes([p[4], p[5], p[6], p[7]]), round * 100 + 1 + k as u32);
                assert_eq!(plain_of(sw, p), &plain[..]);
            }
        }
    }
}

/// Sealing and opening bursts (after a first warm-up burst) allocate nothing on the Rust heap.
fn no_allocation(dev: &CryptoDevice, mode: Mode) {
    for (enc, int, esn) in [(E::AesGcm128, I::None, true), (E::AesCbc128, I::HmacSha1_96, true)] {
        let hw = CryptodevEsp::new(dev, mode, enc, &key(enc.key_len(), 1), int, &key(int.key_len(), 2), esn).unwrap();
        let (mut pkts, _) = packets(&hw, 40, 1);
        let mut jobs: Vec<EspJob> = pkts.iter_mut().map(|p| EspJob::new(p, 0, esn)).collect();
        hw.seal_burst(&mut jobs[..3]);
        hw.open_burst(&mut jobs[..3]);
        let region = Region::new(GLOBAL);
        hw.seal_burst(&mut jobs);
        hw.open_burst(&mut jobs);
        let stats = region.change();
        assert!(jobs.iter().all(|j| j.status.is_ok()), "{enc:?} {mode:?}");
        assert_eq!((stats.allocations, stats.reallocations), (0, 0), "{enc:?} {mode:?} allocated");
    }
}

#[test]
fn cryptodev_aesni_mb_backend() {
    let prefix = format!("--file-prefix=espgate-t-cdev-{}", std::process::id());
    let eal = Eal::init(&[
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "--log-level=*:warning",
        &prefix,
        "--vdev=crypto_aesni_mb0",
        "--vdev=crypto_openssl0",
        "--vdev=crypto_null0",
    ])
    .expect("EAL init");
    assert!(matches!(CryptoDevice::open(&eal, "crypto_nosuch0", &[], 64), Err(CryptodevError::NotFound(_))));
    let workers = eal.worker_lcores();
    let dev = CryptoDevice::open(&eal, "crypto_aesni_mb0", &workers, 2048).expect("open crypto_aesni_mb0");
    assert_eq!(dev.driver(), "crypto_aesni_mb");
    assert!(dev.supports_cpu_crypto(), "aesni_mb offers CPU crypto");
    assert!(dev.queue_pairs() >= 1);

    for mode in [Mode::CpuCrypto, Mode::Enqueue] {
        let mut taken = Vec::new();
        for (enc, int) in SUITES {
            for esn in [false, true] {
                if cross_check(&dev, mode, enc, int, esn) {
                    taken.push((enc, int, esn));
                }
            }
        }
        for must in [(E::AesGcm128, I::None), (E::AesGcm256, I::None), (E::AesCbc128, I::HmacSha1_96)] {
            assert!(taken.contains(&(must.0, must.1, true)), "{must:?} with ESN in {mode:?}");
        }
        eprintln!("{mode:?}: {} of {} suite/ESN combinations on the device", taken.len(), SUITES.len() * 2);
        known_answers(&dev, mode);
        many_sas(&dev, mode);
        no_allocation(&dev, mode);
    }

    // A handler built for one direction has only that direction's sessions; the other way is a counted drop.
    let ck = key(16, 3);
    let ak = key(20, 4);
    let seal_only = CryptodevEsp::for_direction(
        &dev,
        Mode::Auto,
        E::AesCbc128,
        &ck,
        I::HmacSha1_96,
        &ak,
        false,
        EspDirection::Seal,
    )
    .unwrap();
    let open_only = CryptodevEsp::for_direction(
        &dev,
        Mode::Auto,
        E::AesCbc128,
        &ck,
        I::HmacSha1_96,
        &ak,
        false,
        EspDirection::Open,
    )
    .unwrap();
    let (mut pkts, plains) = packets(&seal_only, 4, 1);
    assert!(seal(&seal_only, &mut pkts, 0, false).iter().all(|s| s.is_ok()));
    assert!(open(&seal_only, &mut pkts.clone(), 0, false).iter().all(|s| *s == Err(DropReason::CryptoDevice)));
    assert!(open(&open_only, &mut pkts, 0, false).iter().all(|s| s.is_ok()));
    assert_eq!(plain_of(&open_only, &pkts[3]), &plains[3][..]);
    assert!(seal(&open_only, &mut pkts, 0, false).iter().all(|s| *s == Err(DropReason::CryptoDevice)));

    // Auto picks CPU crypto on aesni_mb; the description says so.
    let auto = CryptodevEsp::new(&dev, Mode::Auto, E::AesGcm128, &key(20, 1), I::None, &[], false).unwrap();
    assert_eq!(auto.describe(), "cryptodev crypto_aesni_mb0 (cpu-crypto)");
    // Key and suite errors are the software backend's, not a fallback.
    assert!(matches!(
        CryptodevEsp::new(&dev, Mode::Auto, E::AesGcm128, &key(16, 1), I::None, &[], false),
        Err(CryptodevEspError::Crypto(_))
    ));

    // A device without CPU crypto (OpenSSL's PMD, as QAT would be): Auto means enqueue/dequeue.
    let ossl = CryptoDevice::open(&eal, "crypto_openssl0", &workers, 256).expect("open crypto_openssl0");
    assert!(!ossl.supports_cpu_crypto());
    assert!(matches!(
        CryptodevEsp::new(&ossl, Mode::CpuCrypto, E::AesGcm128, &key(20, 1), I::None, &[], false),
        Err(CryptodevEspError::NoCpuCrypto(_))
    ));
    let on_ossl = CryptodevEsp::new(&ossl, Mode::Auto, E::AesGcm128, &key(20, 1), I::None, &[], true).unwrap();
    assert_eq!(on_ossl.describe(), "cryptodev crypto_openssl0 (enqueue)");
    for (enc, int) in [(E::AesGcm128, I::None), (E::AesCbc128, I::HmacSha1_96), (E::AesCtr256, I::HmacSha256_128)] {
        for esn in [false, true] {
            assert!(cross_check(&ossl, Mode::Auto, enc, int, esn), "{enc:?}/{int:?} on OpenSSL");
        }
    }
    no_allocation(&ossl, Mode::Auto);

    // A device that lacks the suite (the NULL PMD has no AES): the SA gets the CPU backend, and says why.
    let null = CryptoDevice::open(&eal, "crypto_null0", &[], 64).expect("open crypto_null0");
    let backend = engine::crypto::CryptoBackend::Cryptodev { device: null, mode: Mode::Auto };
    let tunnel = engine::sa::Mode::Tunnel { local: common::GW4_L.into(), remote: common::GW4_R.into() };
    let params = engine::sa::SaParams::new(engine::wire::Spi(0x4242), tunnel, E::AesGcm128, &key(20, 4), I::None, &[]);
    let built = backend.build(&params).unwrap();
    assert!(
        built.backend.starts_with("cpu intel-ipsec-mb (fallback: crypto device crypto_null0 does not support"),
        "{}",
        built.backend
    );
    let sw = SoftwareEsp::new(E::AesGcm128, &key(20, 4), I::None, &[]).unwrap();
    let (mut pkts, plains) = packets(&*built.crypto, 5, 1);
    assert!(seal(&*built.crypto, &mut pkts, 0, false).iter().all(|s| s.is_ok()));
    assert!(open(&sw, &mut pkts, 0, false).iter().all(|s| s.is_ok()));
    assert_eq!(plain_of(&sw, &pkts[4]), &plains[4][..]);
    // Bad keys are errors, not a fallback.
    let mut bad = params.clone();
    bad.cipher_key = zeroize::Zeroizing::new(vec![0; 3]);
    assert!(backend.build(&bad).is_err());

    // A worker lcore uses its own queue pair in enqueue mode.
    if let Some(&w) = workers.first() {
        let (ck, ak) = (key(32, 5), key(32, 6));
        let hw =
            Arc::new(CryptodevEsp::new(&dev, Mode::Enqueue, E::AesCbc256, &ck, I::HmacSha256_128, &ak, true).unwrap());
        let sw = SoftwareEsp::new(E::AesCbc256, &ck, I::HmacSha256_128, &ak).unwrap();
        let hw2 = Arc::clone(&hw);
        let h = lcore::launch(w, move || {
            let (mut pkts, _) = packets(&*hw2, 100, 1);
            let st = seal(&*hw2, &mut pkts, 3, true);
            (st, pkts)
        })
        .unwrap();
        let (st, mut pkts) = h.join().expect("worker ran");
        assert!(st.iter().all(|s| s.is_ok()));
        assert!(open(&sw, &mut pkts, 3, true).iter().all(|s| s.is_ok()));
    }
}
