//! Contention-robust companion to `esp.rs`: for each suite and size, alternates bursts of the bare crypto call and
//! of the full transform many times and keeps the fastest burst of each (the minimum estimates the uncontended cost
//! on a shared machine, and interleaving exposes both to the same conditions). Prints a Markdown table of ns per
//! packet and the transform / bare ratio. Run: `cargo bench -p engine --no-default-features --bench esp_ratio`.

use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as E, EspCrypto, EspJob, IntegrityAlgorithm as I, SoftwareEsp};
use engine::esp::{InboundSa, OutboundSa, Verdict};
use engine::sa::{Mode, SaParams};
use engine::wire::{ipv4, IpProtocol, Spi};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const BURST: usize = 32;
const ROUNDS: usize = 400;

fn suites() -> Vec<(E, I)> {
    vec![
        (E::AesGcm128, I::None),
        (E::AesGcm192, I::None),
        (E::AesGcm256, I::None),
        (E::AesCbc128, I::HmacSha1_96),
        (E::AesCbc256, I::HmacSha256_128),
        (E::AesCtr128, I::HmacSha256_128),
        (E::AesCtr256, I::HmacSha512_256),
        (E::AesCbc128, I::HmacSha384_192),
        (E::TripleDesCbc, I::HmacSha1_96),
        (E::DesCbc, I::HmacMd5_96),
        (E::Null, I::HmacSha256_128),
    ]
}

fn key(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

fn packet(size: usize) -> Vec<u8> {
    let mut b = vec![0x5au8; size];
    ipv4::Repr {
        src_addr: Ipv4Addr::new(192, 0, 2, 1),
        dst_addr: Ipv4Addr::new(203, 0, 113, 1),
        protocol: IpProtocol::UDP,
        payload_len: (size - 20) as u16,
        tos: 0,
        ident: 1,
        dont_frag: true,
        ttl: 64,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b
}

fn sa_params(e: E, i: I, local: Ipv4Addr, remote: Ipv4Addr) -> SaParams {
    let mode = Mode::Tunnel { local: IpAddr::V4(local), remote: IpAddr::V4(remote) };
    let mut p = SaParams::new(Spi(0x1000), mode, e, &key(e.key_len(), 1), i, &key(i.key_len(), 2));
    p.replay_window = 4096;
    p
}

fn timed(min: &mut Duration, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    *min = (*min).min(t.elapsed());
}

fn jobs(bufs: &mut [Vec<u8>]) -> [EspJob<'_>; BURST] {
    let mut it = bufs.iter_mut();
    core::array::from_fn(|_| EspJob::new(it.next().unwrap(), 0, false))
}

fn main() {
    let (gw_a, gw_b) = (Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2));
    println!("| suite | bytes | bare seal | encrypt | ratio | bare open | decrypt | ratio | encrypt Gbit/s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // Optional substring filter on the suite name, e.g. `ESP_RATIO_FILTER=gcm-128`.
    let filter = std::env::var("ESP_RATIO_FILTER").unwrap_or_default();
    for (e, i) in suites() {
        if !format!("{}+{}", e.name(), i.name()).contains(&filter) {
            continue;
        }
        for size in [64usize, 512, 1420] {
            let inner = packet(size);
            let out = OutboundSa::new(sa_params(e, i, gw_a, gw_b)).unwrap();
            let inb = InboundSa::new(sa_params(e, i, gw_b, gw_a)).unwrap();
            let crypto = SoftwareEsp::new(e, &key(e.key_len(), 1), i, &key(i.key_len(), 2)).unwrap();
            let mut sample = VecBuf::new(&inner);
            out.protect(&mut sample).0.unwrap();
            let clear = sample.data()[20..].to_vec();
            let mut sealed = clear.clone();
            crypto.seal_burst(&mut [EspJob::new(&mut sealed, 0, false)]);
            let mut esp_bufs = vec![clear.clone(); BURST];
            let mut bufs: Vec<VecBuf> = (0..BURST).map(|_| VecBuf::new(&inner)).collect();
            let mut v: Vec<Verdict> = vec![Ok(()); BURST];
            let mut m = [Duration::MAX; 4];
            let mut sealed_now: Vec<Vec<u8>> = (0..BURST).map(|_| Vec::with_capacity(2048)).collect();
            let rounds = std::env::var("ESP_RATIO_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(ROUNDS);
            for _ in 0..rounds {
                esp_bufs.iter_mut().for_each(|b| b.copy_from_slice(&clear));
                timed(&mut m[0], || crypto.seal_burst(black_box(&mut jobs(&mut esp_bufs))));
                bufs.iter_mut().for_each(|b| b.reset(&inner, VecBuf::HEADROOM).unwrap());
                timed(&mut m[1], || assert_eq!(out.protect_burst(black_box(&mut bufs), &mut v).ok, BURST));
                // Both sides start from packets just copied into place (the bare open's are copied right before
                // it; without this the ESP side found its packets evicted by the bare open's 48 KB).
                for (s, b) in sealed_now.iter_mut().zip(&bufs) {
                    s.clear();
                    s.extend_from_slice(b.data());
                }
                esp_bufs.iter_mut().for_each(|b| b.copy_from_slice(&sealed));
                timed(&mut m[2], || crypto.open_burst(black_box(&mut jobs(&mut esp_bufs))));
                for (b, s) in bufs.iter_mut().zip(&sealed_now) {
                    let room = b.headroom();
                    b.reset(s, room).unwrap();
                }
                timed(&mut m[3], || assert_eq!(inb.unprotect_burst(black_box(&mut bufs), &mut v).ok, BURST));
            }
            let ns = m.map(|d| d.as_nanos() as f64 / BURST as f64);
            println!(
                "| {}+{} | {size} | {:.0} | {:.0} | {:.3} | {:.0} | {:.0} | {:.3} | {:.2} |",
                e.name(),
                i.name(),
                ns[0],
                ns[1],
                ns[1] / ns[0],
                ns[2],
                ns[3],
                ns[3] / ns[2],
                size as f64 * 8.0 / ns[1]
            );
        }
    }
}
