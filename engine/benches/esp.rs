//! ESP transform throughput next to the bare crypto it wraps, per algorithm, at 64, 512 and 1420-byte packets.
//!
//! Four benchmarks per suite and size, all in bursts of 32 (the engine's unit of work):
//! - `bare-seal` / `bare-open`: the SA's crypto handler alone on ESP-shaped buffers of the same length;
//! - `encrypt` / `decrypt`: the full transform (IPv4 tunnel: headers, padding, sequence/replay, crypto, counters).
//!
//! The ratio transform / bare is the ESP framing overhead. Buffer refills between bursts are not timed.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as E, EspCrypto, EspJob, IntegrityAlgorithm as I, SoftwareEsp};
use engine::esp::{InboundSa, OutboundSa, Verdict};
use engine::sa::{Mode, SaParams};
use engine::wire::{ipv4, IpProtocol, Spi};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const BURST: usize = 32;
const SIZES: [usize; 3] = [64, 512, 1420];

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

/// An IPv4 packet of exactly `size` bytes.
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

/// Runs `iters` packets in bursts: `refill` untimed, `work` timed.
fn bursts<S>(iters: u64, s: &mut S, mut refill: impl FnMut(&mut S), mut work: impl FnMut(&mut S)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters.div_ceil(BURST as u64) {
        refill(s);
        let t = Instant::now();
        work(s);
        total += t.elapsed();
    }
    // Report per packet: criterion divides by `iters`, we ran whole bursts.
    total.mul_f64(iters as f64 / (iters.div_ceil(BURST as u64) * BURST as u64) as f64)
}

fn bench(c: &mut Criterion) {
    let (gw_a, gw_b) = (Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2));
    for (e, i) in suites() {
        let name = format!("{}+{}", e.name(), i.name());
        let mut g = c.benchmark_group(name);
        for size in SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            let inner = packet(size);
            let out = OutboundSa::new(sa_params(e, i, gw_a, gw_b)).unwrap();
            let inb = InboundSa::new(sa_params(e, i, gw_b, gw_a)).unwrap();
            let crypto = SoftwareEsp::new(e, &key(e.key_len(), 1), i, &key(i.key_len(), 2)).unwrap();

            // The ESP part (SPI..ICV) the transform builds for this packet, for the bare calls.
            let mut sample = VecBuf::new(&inner);
            out.protect(&mut sample).0.unwrap();
            let esp_clear = {
                let mut v = sample.data()[20..].to_vec();
                let icv = crypto.icv_len();
                let l = v.len();
                v[l - icv..].fill(0);
                v
            };
            let mut esp_bufs: Vec<Vec<u8>> = vec![esp_clear.clone(); BURST];
            let mut sealed = esp_clear.clone();
            crypto.seal_burst(&mut [EspJob::new(&mut sealed, 0, false)]);

            g.bench_function(BenchmarkId::new("bare-seal", size), |b| {
                b.iter_custom(|iters| {
                    bursts(
                        iters,
                        &mut esp_bufs,
                        |bufs| bufs.iter_mut().for_each(|v| v.copy_from_slice(&esp_clear)),
                        |esp_bufs| {
                            let mut jobs: [EspJob<'_>; BURST] =
                                core::array::from_fn(|_| EspJob::new(&mut [], 0, false));
                            for (j, v) in jobs.iter_mut().zip(esp_bufs.iter_mut()) {
                                *j = EspJob::new(v, 0, false);
                            }
                            crypto.seal_burst(black_box(&mut jobs));
                        },
                    )
                })
            });
            g.bench_function(BenchmarkId::new("bare-open", size), |b| {
                b.iter_custom(|iters| {
                    bursts(
                        iters,
                        &mut esp_bufs,
                        |bufs| bufs.iter_mut().for_each(|v| v.copy_from_slice(&sealed)),
                        |esp_bufs| {
                            let mut jobs: [EspJob<'_>; BURST] =
                                core::array::from_fn(|_| EspJob::new(&mut [], 0, false));
                            for (j, v) in jobs.iter_mut().zip(esp_bufs.iter_mut()) {
                                *j = EspJob::new(v, 0, false);
                            }
                            crypto.open_burst(black_box(&mut jobs));
                            assert!(jobs.iter().all(|j| j.status.is_ok()));
                        },
                    )
                })
            });

            let mut bufs: Vec<VecBuf> = (0..BURST).map(|_| VecBuf::new(&inner)).collect();
            let mut verdicts: Vec<Verdict> = vec![Ok(()); BURST];
            g.bench_function(BenchmarkId::new("encrypt", size), |b| {
                b.iter_custom(|iters| {
                    bursts(
                        iters,
                        &mut (&mut bufs, &mut verdicts),
                        |(bufs, _)| bufs.iter_mut().for_each(|v| v.reset(&inner, VecBuf::HEADROOM).unwrap()),
                        |(bufs, verdicts)| {
                            let o = out.protect_burst(black_box(bufs), verdicts);
                            assert_eq!(o.ok, BURST);
                        },
                    )
                })
            });
            g.bench_function(BenchmarkId::new("decrypt", size), |b| {
                b.iter_custom(|iters| {
                    bursts(
                        iters,
                        &mut (&mut bufs, &mut verdicts),
                        |(bufs, verdicts)| {
                            // Fresh packets with new sequence numbers each burst, so none is a replay.
                            bufs.iter_mut().for_each(|v| v.reset(&inner, VecBuf::HEADROOM).unwrap());
                            out.protect_burst(bufs, verdicts);
                        },
                        |(bufs, verdicts)| {
                            let o = inb.unprotect_burst(black_box(bufs), verdicts);
                            assert_eq!(o.ok, BURST);
                        },
                    )
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
