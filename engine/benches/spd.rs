//! Outbound SPD lookup with 1, 1,000 and 1,000,000 protect entries (one per /32 host and UDP port, as
//! `espgate-perf esp --sas N` builds them), random keys over those flows; the time to build a 1M-entry SPD; and
//! route lookup with a route per peer.
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use engine::datapath::{Route, Routes};
use engine::selector::{FlowKey, IpPrefix, TrafficSelector};
use engine::spd::{PolicyAction, Spd, SpdEntry};
use engine::wire::IpProtocol;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn remote_of(i: u32) -> (Ipv4Addr, u16) {
    (Ipv4Addr::new(203, 0, 113, 1 + (i % 254) as u8), 1024 + (i / 254) as u16)
}

fn entries(n: u32) -> Vec<SpdEntry> {
    let mut v: Vec<SpdEntry> = (0..n)
        .map(|i| {
            let (h, port) = remote_of(i);
            SpdEntry {
                selector: TrafficSelector {
                    src: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24),
                    dst: IpPrefix::new(IpAddr::V4(h), 32),
                    protocol: Some(IpProtocol::UDP),
                    src_ports: 0..=u16::MAX,
                    dst_ports: port..=port,
                },
                action: PolicyAction::Protect(i),
            }
        })
        .collect();
    for a in [IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)] {
        let any = IpPrefix::new(a, 0);
        v.push(SpdEntry { selector: TrafficSelector::prefixes(any, any), action: PolicyAction::Bypass });
    }
    v
}

/// Keys of random flows among the first `n` (xorshift, fixed seed).
fn keys(n: u32) -> Vec<FlowKey> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (h, port) = remote_of((x % u64::from(n)) as u32);
            FlowKey {
                src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                dst: IpAddr::V4(h),
                protocol: IpProtocol::UDP,
                src_port: 4000,
                dst_port: port,
            }
        })
        .collect()
}

/// `indexed`: [`Spd::lookup`] (a walk below the index threshold); `linear`: the walk the index replaces, the
/// baseline. Sizes are protect entries (two catch-alls follow them).
fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("spd_lookup");
    for n in [1u32, 6, 14, 30, 1000, 1_000_000] {
        let spd = Spd::new(entries(n));
        let keys = keys(n);
        if n >= 100_000 {
            g.sample_size(10).measurement_time(Duration::from_secs(5));
        }
        let mut k = 0usize;
        g.bench_function(format!("indexed/{n}"), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(spd.lookup(black_box(&keys[k])).map(|(i, _)| i))
            })
        });
        g.bench_function(format!("linear/{n}"), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(spd.lookup_linear(black_box(&keys[k])).map(|(i, _)| i))
            })
        });
    }
    g.finish();
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("spd_build");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("1000000", |b| b.iter_batched(|| entries(1_000_000), Spd::new, BatchSize::LargeInput));
    g.finish();
}

/// Route lookup with a route per peer (/32s in 198.51.100.0/24 and 203.0.113.0/24 by next hop), a connected
/// network and a default: a walk below 8 routes, per-length tables from 8.
fn routes(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_lookup");
    for n in [2u32, 6, 100, 10_000] {
        let host = |i: u32| IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 51, 0, 0)) + (i % 65_536)));
        let mut v: Vec<Route> =
            (0..n).map(|i| Route { prefix: IpPrefix::new(host(i), 32), next_hop: None, port: 1 }).collect();
        v.push(Route { prefix: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24), next_hop: None, port: 0 });
        v.push(Route { prefix: IpPrefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), next_hop: None, port: 1 });
        let r = Routes::new(v);
        let dsts: Vec<IpAddr> = (0..4096u32).map(|k| host(k.wrapping_mul(2_654_435_761) % n)).collect();
        let mut k = 0usize;
        g.bench_function(format!("{}", n + 2), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(r.lookup(black_box(&dsts[k])).map(|(x, _)| x.port))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, lookup, build, routes);
criterion_main!(benches);
