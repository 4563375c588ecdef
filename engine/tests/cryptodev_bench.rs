//! Crypto-only cost per packet of the ESP backends (software, intel-ipsec-mb called directly, cryptodev CPU crypto,
//! cryptodev enqueue/dequeue on crypto_aesni_mb0), in bursts of 32, for AES-128-GCM and AES-128-CBC + HMAC-SHA1-96 at 64 and 1420 bytes. Cycles
//! are the thread's own on-CPU time (schedstat) times the TSC rate, so other load on the machine does not count.
//! A measurement, not a check: `cargo test -p engine --release --test cryptodev_bench -- --ignored --nocapture`.
#![cfg(feature = "dpdk")]

use engine::crypto::{
    CryptodevEsp, CryptodevMode, EncryptionAlgorithm as E, EspCrypto, EspJob, IntegrityAlgorithm as I, IpsecMbEsp,
    SoftwareEsp,
};
use engine::dpdk::cryptodev::CryptoDevice;
use engine::dpdk::{tsc_hz, Eal};

const BURST: usize = 32;

fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// ESP packets whose frame (14 + 20 outer + ESP) is about `frame` bytes.
fn burst(c: &dyn EspCrypto, frame: usize) -> Vec<Vec<u8>> {
    let payload = frame.saturating_sub(14 + 20 + 8 + c.iv_len() + c.icv_len()).max(2);
    let plain = payload.div_ceil(c.pad_align()) * c.pad_align();
    (0..BURST)
        .map(|i| {
            let mut p = vec![0, 0, 0x10, 0];
            p.extend_from_slice(&(i as u32 + 1).to_be_bytes());
            p.resize(8 + c.iv_len() + plain + c.icv_len(), i as u8);
            p
        })
        .collect()
}

/// Cycles per packet of sealing (then opening) bursts for about `secs` seconds of this thread's CPU time.
fn measure(seal: &dyn EspCrypto, open: &dyn EspCrypto, frame: usize, secs: f64) -> (f64, f64) {
    let template = burst(seal, frame);
    let mut sealed = template.clone();
    let mut jobs: Vec<EspJob> = sealed.iter_mut().map(|p| EspJob::new(p, 0, false)).collect();
    seal.seal_burst(&mut jobs);
    assert!(jobs.iter().all(|j| j.status.is_ok()));
    let hz = tsc_hz() as f64;
    let mut out = [0.0; 2];
    for (k, o) in out.iter_mut().enumerate() {
        let mut work = if k == 0 { template.clone() } else { sealed.clone() };
        let (t0, mut n) = (on_cpu_ns(), 0u64);
        while (on_cpu_ns() - t0) as f64 / 1e9 < secs {
            for _ in 0..64 {
                if k == 1 {
                    for (w, s) in work.iter_mut().zip(&sealed) {
                        w.copy_from_slice(s);
                    }
                }
                let mut jobs: Vec<EspJob> = work.iter_mut().map(|p| EspJob::new(p, 0, false)).collect();
                if k == 0 {
                    seal.seal_burst(&mut jobs);
                } else {
                    open.open_burst(&mut jobs);
                }
                assert!(jobs.iter().all(|j| j.status.is_ok()));
                n += BURST as u64;
            }
        }
        *o = (on_cpu_ns() - t0) as f64 / 1e9 * hz / n as f64;
    }
    (out[0], out[1])
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture (release build)"]
fn crypto_cost_per_packet_by_backend() {
    let prefix = format!("--file-prefix=espgate-t-cbench-{}", std::process::id());
    let eal = Eal::init(&[
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "--log-level=*:warning",
        &prefix,
        "--vdev=crypto_aesni_mb0",
    ])
    .expect("EAL init");
    let dev = CryptoDevice::open(&eal, "crypto_aesni_mb0", &eal.worker_lcores(), 64).unwrap();
    let suites = [(E::AesGcm128, I::None, "AES-128-GCM"), (E::AesCbc128, I::HmacSha1_96, "AES-128-CBC+SHA1-96")];
    println!("| suite | frame B | backend | seal cycles/pkt | open cycles/pkt |");
    println!("|---|---|---|---|---|");
    for round in 0..3 {
        for &(enc, int, name) in &suites {
            let (ck, ak) = (vec![7u8; enc.key_len()], vec![9u8; int.key_len()]);
            let sw = SoftwareEsp::new(enc, &ck, int, &ak).unwrap();
            let mb = IpsecMbEsp::new(enc, &ck, int, &ak).unwrap();
            let cpu = CryptodevEsp::new(&dev, CryptodevMode::CpuCrypto, enc, &ck, int, &ak, false).unwrap();
            let enq = CryptodevEsp::new(&dev, CryptodevMode::Enqueue, enc, &ck, int, &ak, false).unwrap();
            for frame in [64, 1420] {
                let backends: [(&str, &dyn EspCrypto); 4] = [
                    ("software", &sw),
                    ("cpu intel-ipsec-mb", &mb),
                    ("cryptodev cpu-crypto", &cpu),
                    ("cryptodev enqueue", &enq),
                ];
                for (label, b) in backends {
                    let (s, o) = measure(b, b, frame, 0.3);
                    println!("| {name} | {frame} | {label} (round {}) | {s:.0} | {o:.0} |", round + 1);
                }
            }
        }
    }
}
