//! `espgate-perf esp --direction both`: a closed loop through the daemon's worker loop, with no generator in the
//! measured path, so 1 and 2 worker lcores can be measured on a 2-CPU machine.
//!
//! ```text
//!            +-- net_ring "outside" (tx queue q loops to rx queue q) --+
//!            v                                                         |
//!   worker q: ESP to 198.51.100.1 ─► inbound SA (decrypt) ─► forward ─► SPD protect ─► outbound SA (encrypt) ─► tx
//!            ^
//!   net_ring "inside" queue q: fresh cleartext from the main lcore (only to replace frames whose TTL ran out)
//! ```
//! The gateway's outbound SA i is the one its inbound SA i accepts (same SPI and keys, tunnel 198.51.100.2 ->
//! 198.51.100.1, the gateway's own outside address, whose neighbor entry is the gateway's own MAC): every frame is
//! decrypted and encrypted again once per lap, in one `Datapath::process` call. Each lap decrements the inner TTL
//! (forwarding), so a frame ends after about 254 laps as a `ttl-exceeded` drop and the main lcore, otherwise asleep,
//! injects a replacement to keep the population at `--in-flight` frames. With several workers, every worker holds
//! every SA (as in the daemon) and injects frames of all of them on its own queue, where they circulate: with one SA
//! pair, both workers encrypt and decrypt for the same two SAs.
use crate::eal_args::parse_cpu_list;
use crate::esp::EspOpts;
use crate::esp_plan::{self as plan, Suite};
use crate::gen::Rng;
use anyhow::{bail, Context, Result};
use engine::datapath::{Datapath, Drop as DropCause, Interface, Route, Tables};
use engine::dpdk::{lcore, rdtsc, tsc_hz, Burst, Eal, Mempool, Port, PortConfig};
use engine::selector::{IpPrefix, TrafficSelector};
use engine::wire::IpProtocol;
use engine::worker::{self, Channels, WorkerQueues, WorkerStats};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const INSIDE: u16 = 0;
const OUTSIDE: u16 = 1;
/// Initial inner TTL: the most laps a frame makes.
const TTL: u8 = 255;
/// Offset of the IPv4 TTL in a frame.
const ETH_TTL: usize = 14 + 8;
/// Warm-up before the measured window (population built, caches warm).
const WARMUP: Duration = Duration::from_millis(300);

/// The result of a loop run, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct LoopResult {
    pub job: &'static str,
    pub direction: &'static str,
    pub cipher: String,
    pub integrity: String,
    pub mode: String,
    pub natt: bool,
    pub size: String,
    pub sas: u32,
    pub lcores: Vec<usize>,
    pub main_cpu: usize,
    pub seconds: f64,
    /// Frames the workers sent per second: each was decrypted and encrypted again (2 ESP operations).
    pub mpps: f64,
    pub gbps: f64,
    /// TSC cycles of all workers' CPU time per frame (one decrypt plus one encrypt).
    pub cycles_per_packet: f64,
    /// Frames per second of the workers' summed CPU time.
    pub mpps_per_cpu_second: f64,
    /// Frames per second of each worker's own CPU time (0 for a worker that had nothing to do).
    pub mpps_per_worker_cpu_second: Vec<f64>,
    pub worker_tx: Vec<u64>,
    pub worker_cpu_fraction: Vec<f64>,
    /// Frames circulating (the population target).
    pub in_flight: u32,
    /// Mean time of one lap, by Little's law (frames circulating / frames per second).
    pub lap_mean_ns: f64,
    pub tx_packets: u64,
    /// Drops other than the expected end of a frame's life (ttl-exceeded): must be 0.
    pub dropped: u64,
    pub drops: BTreeMap<String, u64>,
    pub ttl_expired: u64,
    pub injected: u64,
    pub handed_off: u64,
    pub tsc_hz: u64,
    pub eal_args: Vec<String>,
    /// The SAs' crypto backend (`--crypto`), as `show` would name it.
    pub crypto_backend: String,
}

/// The inbound SA of loop tunnel i: the gateway's usual inbound SA, but its inner selector is the cleartext the
/// gateway itself protected for tunnel i (host network to that SA's remote host and port).
fn loop_inbound(suite: &Suite, i: u32) -> engine::sa::SaParams {
    let mut p = suite.inbound(i);
    let (h, port) = plan::remote_of(i);
    p.selector = Some(TrafficSelector {
        src: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24),
        dst: IpPrefix::new(IpAddr::V4(h), 32),
        protocol: Some(IpProtocol::UDP),
        src_ports: 0..=u16::MAX,
        dst_ports: port..=port,
    });
    p
}

/// Inside and outside; the outside network's route and a neighbor entry that sends the gateway's own tunnel traffic
/// back to itself.
fn loop_tables(sas: u32) -> Tables {
    let iface = |name: &str, port, mac, addr: Ipv4Addr, policy| Interface {
        name: name.into(),
        port,
        mac,
        addresses: vec![IpPrefix::new(IpAddr::V4(addr), 24)],
        mtu: plan::MTU,
        policy,
    };
    let interfaces = vec![
        iface("inside", INSIDE, plan::INSIDE_MAC, plan::GW_INSIDE, None),
        iface("outside", OUTSIDE, plan::OUTSIDE_MAC, plan::GW_OUTSIDE, Some(0)),
    ];
    let routes = vec![
        Route {
            prefix: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)), 24),
            next_hop: Some(IpAddr::V4(plan::PEER)),
            port: OUTSIDE,
        },
        Route { prefix: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)), 24), next_hop: None, port: OUTSIDE },
    ];
    let neighbors = HashMap::from([
        (IpAddr::V4(plan::HOST), plan::HOST_MAC),
        (IpAddr::V4(plan::PEER), plan::PEER_MAC),
        (IpAddr::V4(plan::GW_OUTSIDE), plan::OUTSIDE_MAC),
    ]);
    Tables::new(interfaces, routes, neighbors, vec![plan::spd(sas)])
}

/// EAL arguments: lcore ids 0..N run the workers on the given CPUs, lcore N (the main one) on `main_cpu`, which may
/// be one of the workers' CPUs (it sleeps between refills).
fn eal_args(o: &EspOpts, workers: &[usize], main_cpu: usize) -> Vec<String> {
    let mut a = crate::eal_args::lcore_map(workers, main_cpu);
    a.extend([
        format!("--file-prefix=espgate-perf-loop-{}", std::process::id()),
        "--no-telemetry".into(),
        "--log-level=*:warning".into(),
        "--no-pci".into(),
        "--vdev=net_ring_lin".into(),
        "--vdev=net_ring_lout".into(),
    ]);
    if o.eal.no_huge || !engine::dpdk::hugepages_available() {
        a.extend(["--no-huge", "-m", "1024"].map(String::from));
    }
    a.extend(o.eal.extra.iter().cloned());
    a
}

fn all_drops(s: &WorkerStats) -> u64 {
    crate::gen::dropped(s) + s.handoff_dropped.load(Relaxed)
}

/// CPU nanoseconds of thread `tid` of this process.
fn task_cpu_ns(tid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn current_tid() -> u64 {
    // /proc/thread-self -> "<pid>/task/<tid>"
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().and_then(|f| f.to_str()).and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

pub fn run(o: &EspOpts) -> Result<LoopResult> {
    let suite = Suite::of(o)?;
    let sizes = plan::parse_sizes(&o.size)?;
    if o.bypass || o.rate.is_some() || o.mode != "tunnel" {
        bail!("--direction both (the closed loop) takes no --bypass or --rate and runs tunnel mode only");
    }
    if !o.eal.vdevs.is_empty() {
        bail!("--direction both builds its own ring ports; --vdev is not used");
    }
    let workers = parse_cpu_list(&o.eal.lcores)?;
    let n = workers.len();
    if n > 8 {
        bail!("--lcores: at most 8 workers (the ring device has 16 queues, 2 per worker)");
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |v| v.get());
    let main_cpu = o.eal.main_core.unwrap_or_else(|| (0..ncpu).find(|c| !workers.contains(c)).unwrap_or(0));
    let population = o.in_flight.unwrap_or(512).clamp(1, 900);
    let args = eal_args(o, &workers, main_cpu);
    let eal = Eal::init(&args).context("EAL init")?;
    let lcores = eal.worker_lcores();
    if lcores.len() != n {
        bail!("EAL started {} worker lcores, wanted {n}", lcores.len());
    }
    if eal.port_ids() != [INSIDE, OUTSIDE] {
        bail!("unexpected ports {:?}: give no -a or --vdev to EAL", eal.port_ids());
    }
    let pool = Mempool::new(&eal, "loop_pool", 8191, 256, 2176, None)?;
    let q = n as u16;
    // Inside: queue w is the main lcore's feed into worker w; queue n + w is worker w's (unused) inside tx.
    let inside = Port::configure(
        &eal,
        INSIDE,
        &PortConfig { rx_queues: 2 * q, tx_queues: 2 * q, rss: false, ..PortConfig::default() },
        &pool,
    )?;
    let outside = Port::configure(
        &eal,
        OUTSIDE,
        &PortConfig { rx_queues: q, tx_queues: q, rss: false, ..PortConfig::default() },
        &pool,
    )?;

    let backend = plan::crypto_backend(&eal, o.crypto, &o.crypto_devargs, o.crypto_mode, &lcores, o.sas)?;
    let tables = Arc::new(loop_tables(o.sas));
    let mut dps: Vec<Datapath> = (0..n).map(|_| Datapath::new(tables.clone(), o.sas as usize)).collect();
    // Every worker holds every SA, as the daemon's workers do: each injects frames of all of them on its own queue,
    // where they stay, so with one SA pair both workers decrypt and encrypt for the same SAs.
    for i in 0..o.sas {
        let out = Arc::new(plan::outbound_sa(&backend, suite.peer_outbound(i))?);
        let inb = Arc::new(plan::inbound_sa(&backend, loop_inbound(&suite, i))?);
        for dp in dps.iter_mut() {
            dp.install_outbound(i, out.clone());
            dp.install_inbound(inb.clone())?;
        }
    }
    inside.start()?;
    outside.start()?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let worker_stop = Arc::new(AtomicBool::new(false));
    let channels = Channels::for_workers(n, 4096);
    let stats: Vec<Arc<WorkerStats>> = (0..n).map(|_| Arc::new(WorkerStats::default())).collect();
    let tids: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut feeds = Vec::new();
    let mut handles = Vec::new();
    for (w, (dp, ch)) in dps.into_iter().zip(channels).enumerate() {
        let wq = w as u16;
        feeds.push(inside.tx_queue(wq)?);
        let queues = WorkerQueues {
            rx: vec![inside.rx_queue(wq)?, outside.rx_queue(wq)?],
            tx: vec![inside.tx_queue(q + wq)?, outside.tx_queue(wq)?],
        };
        let (st, stop, tid) = (stats[w].clone(), worker_stop.clone(), tids[w].clone());
        handles.push(lcore::launch(lcores[w], move || {
            tid.store(current_tid(), Relaxed);
            drop(worker::run(dp, queues, ch, &st, &stop));
        })?);
    }

    let hz = tsc_hz();
    let templates: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&len| {
            let mut f = plan::host_frame(len, 0);
            f[ETH_TTL] = TTL;
            f
        })
        .collect();
    let mut rng = Rng::new(0x100b);
    let mut size_pos = 0usize;
    let mut injected = vec![0u64; n];
    let mut fresh = Burst::new();
    let sum = |f: &dyn Fn(&WorkerStats) -> u64| stats.iter().map(|s| f(s)).sum::<u64>();
    // Keeps each worker's share of `population` frames alive. Frames end (TTL) on the worker they were injected on,
    // so a worker's drops are its own frames' ends: per-worker populations stay apart (a global count would let a
    // fast worker's frames end sooner and drift to the slow one).
    let mut refill = |injected: &mut [u64]| {
        for w in 0..n {
            let alive = injected[w].saturating_sub(all_drops(&stats[w]));
            let want = ((u64::from(population) / n as u64).saturating_sub(alive) as usize).min(32);
            if want == 0 {
                continue;
            }
            pool.alloc_bulk(&mut fresh, want);
            let mut out = Burst::new();
            for mut m in fresh.drain() {
                m.reset();
                let t = &templates[size_pos];
                size_pos = (size_pos + 1) % templates.len();
                if !m.extend_from_slice(t) {
                    continue;
                }
                plan::retarget_host_frame(m.data_mut(), rng.below(o.sas));
                let _ = out.push(m);
            }
            injected[w] += feeds[w].tx_burst(&mut out) as u64;
            out.clear();
        }
    };
    let t_setup = Instant::now();
    while t_setup.elapsed() < WARMUP && !stop.load(Relaxed) {
        refill(&mut injected);
        std::thread::sleep(Duration::from_micros(100));
    }
    let cpu0: Vec<u64> = tids.iter().map(|t| task_cpu_ns(t.load(Relaxed))).collect();
    let tx0: Vec<u64> = stats.iter().map(|s| s.tx.load(Relaxed)).collect();
    let drops0 = sum(&|s| all_drops(s));
    let (t0, c0) = (Instant::now(), rdtsc());
    let end = c0 + o.seconds * hz;
    let mut next_report = Instant::now() + Duration::from_secs(o.stats_period.max(1));
    let mut last = (Instant::now(), sum(&|s| s.tx.load(Relaxed)));
    while rdtsc() < end && !stop.load(Relaxed) {
        refill(&mut injected);
        std::thread::sleep(Duration::from_micros(200));
        if o.stats_period > 0 && Instant::now() >= next_report {
            next_report += Duration::from_secs(o.stats_period);
            let tx = sum(&|s| s.tx.load(Relaxed));
            let rate = (tx - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-9);
            let line = format!(
                "  loop: {:>12.0} frames/s (decrypt + encrypt each)  per worker tx {:?}  drops {}\n",
                rate,
                stats.iter().map(|s| s.tx.load(Relaxed)).collect::<Vec<_>>(),
                sum(&|s| all_drops(s)) - drops0
            );
            if o.json {
                eprint!("{line}");
            } else {
                print!("{line}");
            }
            last = (Instant::now(), tx);
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu1: Vec<u64> = tids.iter().map(|t| task_cpu_ns(t.load(Relaxed))).collect();
    let tx1: Vec<u64> = stats.iter().map(|s| s.tx.load(Relaxed)).collect();
    worker_stop.store(true, Relaxed);
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("a worker lcore panicked"))?;
    }

    let worker_tx: Vec<u64> = tx1.iter().zip(&tx0).map(|(a, b)| a - b).collect();
    let cpu: Vec<u64> = cpu1.iter().zip(&cpu0).map(|(a, b)| a.saturating_sub(*b)).collect();
    let tx: u64 = worker_tx.iter().sum();
    let cpu_ns: u64 = cpu.iter().sum();
    let mut drops = BTreeMap::new();
    for s in &stats {
        for (k, v) in s.nonzero_drops() {
            *drops.entry(k.to_string()).or_insert(0) += v;
        }
        for (k, v) in [("tx-dropped", &s.tx_dropped), ("punted", &s.punted), ("handoff-dropped", &s.handoff_dropped)] {
            let v = v.load(Relaxed);
            if v > 0 {
                *drops.entry(k.to_string()).or_insert(0) += v;
            }
        }
    }
    let ttl_expired = sum(&|s| s.drop_count(DropCause::Ttl));
    let mean_frame = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let pps = tx as f64 / seconds;
    Ok(LoopResult {
        crypto_backend: plan::crypto_label(&backend, &suite),
        job: "esp-loop",
        direction: "both",
        cipher: o.cipher.clone(),
        integrity: o.integrity.clone(),
        mode: o.mode.clone(),
        natt: o.natt,
        size: o.size.clone(),
        sas: o.sas,
        lcores: workers,
        main_cpu,
        seconds,
        mpps: pps / 1e6,
        gbps: pps * mean_frame * 8.0 / 1e9,
        cycles_per_packet: if tx > 0 { cpu_ns as f64 * hz as f64 / 1e9 / tx as f64 } else { 0.0 },
        mpps_per_cpu_second: if cpu_ns > 0 { tx as f64 / (cpu_ns as f64 / 1e9) / 1e6 } else { 0.0 },
        mpps_per_worker_cpu_second: worker_tx
            .iter()
            .zip(&cpu)
            .map(|(&t, &c)| if c > 0 { t as f64 / (c as f64 / 1e9) / 1e6 } else { 0.0 })
            .collect(),
        worker_cpu_fraction: cpu.iter().map(|&c| c as f64 / 1e9 / seconds).collect(),
        worker_tx,
        in_flight: population,
        lap_mean_ns: if pps > 0.0 { f64::from(population) / pps * 1e9 } else { 0.0 },
        tx_packets: tx,
        dropped: sum(&|s| all_drops(s)) - ttl_expired,
        drops,
        ttl_expired,
        injected: injected.iter().sum(),
        handed_off: sum(&|s| s.handed_off.load(Relaxed)),
        tsc_hz: hz,
        eal_args: args,
    })
}

pub fn print_final(r: &LoopResult) {
    println!(
        "\n  ESP loop (decrypt + encrypt per frame) {} {} {} SA(s), size {}, workers on CPUs {:?}: {:.3} Mpps, \
         {:.3} Gbps over {:.1} s\n  {:.0} cycles/frame, {:.3} Mpps per worker CPU-second (per worker {:.3?}, tx \
         {:?}, on CPU {:.2?})\n  {} frames circulating, mean lap {:.0} ns; {} injected, {} ended by TTL, {} handed \
         off\n  dropped {} {:?}",
        r.cipher,
        r.integrity,
        r.sas,
        r.size,
        r.lcores,
        r.mpps,
        r.gbps,
        r.seconds,
        r.cycles_per_packet,
        r.mpps_per_cpu_second,
        r.mpps_per_worker_cpu_second,
        r.worker_tx,
        r.worker_cpu_fraction,
        r.in_flight,
        r.lap_mean_ns,
        r.injected,
        r.ttl_expired,
        r.handed_off,
        r.dropped,
        r.drops
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::buf::{PacketBuf, VecBuf};
    use engine::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
    use engine::esp::{InboundSa, OutboundSa};
    use engine::wire::ipv4;

    /// One lap without DPDK: the frame the gateway protects for tunnel i comes back to its own outside address,
    /// is decrypted by inbound SA i and protected again, for the same next lap.
    #[test]
    fn a_lap_decrypts_and_encrypts_again() {
        let suite = Suite {
            enc: EncryptionAlgorithm::AesGcm128,
            integ: IntegrityAlgorithm::None,
            natt: false,
            replay_window: engine::replay::DEFAULT_WINDOW,
        };
        let mut dp = Datapath::new(Arc::new(loop_tables(3)), 3);
        for i in 0..3 {
            dp.install_outbound(i, Arc::new(OutboundSa::new(suite.peer_outbound(i)).unwrap()));
            dp.install_inbound(InboundSa::new(loop_inbound(&suite, i)).unwrap()).unwrap();
        }
        let mut f = plan::host_frame(200, 2);
        f[ETH_TTL] = TTL;
        plan::retarget_host_frame(&mut f, 2);
        let mut b = VecBuf::with_room(&f, 128, 2048);
        assert!(matches!(dp.process(INSIDE, &mut b), engine::datapath::Action::Transmit { port: OUTSIDE }));
        for lap in 0..3 {
            let esp = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
            assert_eq!(esp.protocol(), IpProtocol::ESP);
            assert_eq!(esp.dst_addr(), plan::GW_OUTSIDE);
            assert_eq!(&b.data()[..6], &plan::OUTSIDE_MAC.0, "lap {lap}");
            let a = dp.process(OUTSIDE, &mut b);
            assert!(matches!(a, engine::datapath::Action::Transmit { port: OUTSIDE }), "lap {lap}: {a:?}");
        }
    }
}
