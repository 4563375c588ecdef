//! `espgate-perf esp`: the daemon's worker loop (`engine::worker::run` over a `Datapath` with real tables, SPD and
//! SAs) between two ring "cables", fed by a generator on the main lcore.
//!
//! ```text
//!   generator (main lcore)                      worker lcore: engine::worker::run
//!   port 1 ──ring──► port 0 inside  ─► Datapath ─► port 2 outside ──ring──► port 3   (encrypt)
//!   port 1 ◄──ring── port 0 inside  ◄─ Datapath ◄─ port 2 outside ◄──ring── port 3   (decrypt)
//! ```
//! With two CPUs the worker gets one to itself and the generator shares the other with EAL's and the OS's threads;
//! `--bypass` replaces the datapath by plain forwarding to measure that generator's ceiling.
use crate::eal_args::EalOpts;
use crate::esp_plan::{self as plan, Suite};
use crate::gen::{dropped, Arena, GenStats, Generator, Reinstall, Rng, Source};
use crate::report::thread_cpu_ns;
use anyhow::{bail, Context, Result};
use engine::datapath::Datapath;
use engine::dpdk::{lcore, rdtsc, tsc_hz, Burst, Eal, Mempool, Port, PortConfig, RingPair, RxQueue, TxQueue};
use engine::worker::{self, Channels, WorkerQueues, WorkerStats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Encrypt,
    Decrypt,
    /// A closed loop with no generator: every frame is decrypted and encrypted again per lap (see esp_loop).
    Both,
}

#[derive(Debug, clap::Args)]
pub struct EspOpts {
    #[command(flatten)]
    pub eal: EalOpts,
    /// ESP encryption, as in the config's transform sets (esp-gcm-128, esp-aes-128, esp-aes-ctr-256, esp-null, ...).
    #[arg(long, default_value = "esp-gcm-128")]
    pub cipher: String,
    /// ESP integrity (none, esp-sha-hmac, esp-sha256-hmac, ...); none with GCM.
    #[arg(long, default_value = "none")]
    pub integrity: String,
    /// ESP mode of the SAs. Transport is measured for encrypt only: transport ESP to the gateway ends at the gateway
    /// (local delivery), so there is no decrypted frame to send back to the generator.
    #[arg(long, default_value = "tunnel", value_parser = ["tunnel", "transport"])]
    pub mode: String,
    /// UDP-encapsulated ESP (RFC 3948, port 4500).
    #[arg(long)]
    pub natt: bool,
    /// Cleartext frame size in bytes (Ethernet header included, no FCS), or "imix" (7x64, 4x570, 1x1518).
    #[arg(long, default_value = "64")]
    pub size: String,
    /// Crypto map entries (one SPD entry, one flow and one SA each); traffic is spread over them at random.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=plan::MAX_SAS as i64))]
    pub sas: u32,
    #[arg(long, value_enum, default_value = "encrypt")]
    pub direction: Direction,
    /// Replace the datapath by plain forwarding: the generator's own ceiling.
    #[arg(long)]
    pub bypass: bool,
    /// ESP crypto backend of the SAs: the CPU backend (intel-ipsec-mb where it has the suite), software only
    /// (RustCrypto/ring), or a DPDK crypto device.
    #[arg(long, value_enum, default_value = "cpu")]
    pub crypto: plan::CryptoChoice,
    /// The crypto device for `--crypto cryptodev` (a vdev; a PCI device also needs `-a <address>` for EAL).
    #[arg(long, default_value = "crypto_aesni_mb0")]
    pub crypto_devargs: String,
    /// `auto`: CPU crypto where the device has it; `enqueue`: ops on the worker's queue pair.
    #[arg(long, value_enum, default_value = "auto")]
    pub crypto_mode: plan::CryptoModeChoice,
    /// Generate at this fixed rate (packets per second) instead of as fast as the worker takes them: frames that
    /// are due but find the input ring full or the in-flight budget used up are counted as missed (a NIC's
    /// rx-missed), and `lost` reports every frame offered that did not come back.
    #[arg(long, value_name = "PPS")]
    pub rate: Option<u64>,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Slots per ring (a power of two): bounds the frames in flight, and so the latency at saturation.
    #[arg(long, default_value_t = 1024)]
    pub ring_size: u32,
    /// Most frames in flight (default: the ring size less a burst). At saturation the latency is about this many
    /// frames' service time: lower it to measure latency with short queues.
    #[arg(long)]
    pub in_flight: Option<u32>,
    /// Frames per generator burst.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub burst: u16,
    /// Anti-replay window of the inbound SAs, in packets (64 to 65536, as `set replay-window` in a crypto map).
    #[arg(long, default_value_t = engine::replay::DEFAULT_WINDOW,
          value_parser = clap::value_parser!(u32).range(i64::from(engine::replay::MIN_WINDOW)..=i64::from(engine::replay::MAX_WINDOW)))]
    pub replay_window: u32,
    /// Decrypt: bytes of pre-built ESP frames (each replay of them costs a drain and SA reinstall).
    #[arg(long, default_value_t = 64 << 20)]
    pub arena_bytes: usize,
    #[arg(long, default_value_t = 1)]
    pub stats_period: u64,
    /// Print one JSON object at the end (periodic lines go to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The final result, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct EspResult {
    pub job: &'static str,
    pub direction: Direction,
    pub cipher: String,
    pub integrity: String,
    pub mode: String,
    pub natt: bool,
    pub size: String,
    pub sas: u32,
    pub bypass: bool,
    pub lcores: Vec<usize>,
    /// Frames each worker sent.
    pub worker_tx: Vec<u64>,
    pub generator_cpu: usize,
    pub seconds: f64,
    /// Forwarded packets per second, over the run less stall_seconds.
    pub mpps: f64,
    /// Cleartext frame bits per second (the frames the host side sends or receives).
    pub gbps: f64,
    /// TSC cycles the worker lcore spent on a CPU per packet it sent (the worker polls all the time, so this includes
    /// idle polls when the generator is the bottleneck: see generator_waited_fraction).
    pub cycles_per_packet: f64,
    /// Packets per second of the worker's on-CPU time: steadier when the worker's CPU is shared.
    pub mpps_per_cpu_second: f64,
    pub worker_cpu_fraction: f64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub dropped: u64,
    pub drops: BTreeMap<String, u64>,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub p999_ns: f64,
    pub max_ns: f64,
    pub mean_ns: f64,
    pub generator_sent: u64,
    pub generator_received: u64,
    /// Share of the generator's polls on which it waited for the worker (frames in flight at the limit, or the input
    /// ring full): near 1 when the worker is the bottleneck, near 0 when the generator is.
    pub generator_waited_fraction: f64,
    pub arena_frames: usize,
    pub epochs: u64,
    pub sa_reinstalls: u64,
    pub stall_seconds: f64,
    pub setup_seconds: BTreeMap<&'static str, f64>,
    /// Resident memory the tables, SPD and SAs added (heap, not DPDK's hugepages): what `espgate-perf mem` should
    /// span to find the memory floor of this many SAs.
    pub sa_state_bytes: u64,
    pub ring_size: u32,
    pub tsc_hz: u64,
    pub eal_args: Vec<String>,
    /// The SAs' crypto backend: `cpu`, or `cryptodev <device> (cpu-crypto|enqueue)`.
    pub crypto_backend: String,
    /// --rate: the paced rate; 0 when the generator ran flat out.
    pub rate_pps: u64,
    /// --rate: frames due by the schedule (sent + missed).
    pub offered: u64,
    /// --rate: frames due that could not be sent (input ring full or in-flight budget used up).
    pub missed: u64,
    /// --rate: frames offered that did not come back (missed, dropped by the worker, or still out after the drain).
    pub lost: u64,
    pub loss_fraction: f64,
}

/// This process's resident memory (Linux /proc/self/statm), 0 when unreadable.
fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0);
    pages * 4096
}

/// The worker lcore's own view of its run.
struct WorkerRun {
    cpu_ns: u64,
    wall_ns: u64,
}

pub fn run(o: &EspOpts) -> Result<EspResult> {
    let suite = Suite::of(o)?;
    let sizes = plan::parse_sizes(&o.size)?;
    if !o.eal.vdevs.is_empty() {
        bail!("esp builds its own ring ports; --vdev is not used");
    }
    if o.direction == Direction::Both {
        bail!("--direction both is the closed loop: run it with crate::esp_loop::run");
    }
    let transport = o.mode == "transport";
    if transport && o.direction != Direction::Encrypt {
        bail!("--mode transport is measured for --direction encrypt only (transport ESP to the gateway is local)");
    }
    let (workers, main, mut args) = o.eal.build("esp")?;
    args.extend(plan::crypto_eal_args(o.crypto, &o.crypto_devargs));
    if !o.eal.extra.iter().any(|a| a == "-a" || a.starts_with("--allow")) {
        // Only the job's own ring ports: do not probe (and grab) PCI devices.
        args.push("--no-pci".into());
    }
    let mut setup = BTreeMap::new();
    let eal = Eal::init(&args).context("EAL init")?;
    lcore::pin_current_thread(main);
    let lcores = eal.worker_lcores();
    if lcores.is_empty() {
        bail!("EAL started no worker lcore");
    }
    let n = lcores.len();
    let nq = u16::try_from(n).context("--lcores: too many")?;
    let backend = plan::crypto_backend(&eal, o.crypto, &o.crypto_devargs, o.crypto_mode, &lcores, o.sas)?;
    let pool = Mempool::new(&eal, "esp_pool", 16383, 256, 2176, None)?;
    // Created in port-id order: inside pair (0, 1), then outside pair (2, 3), with a queue per worker (worker w
    // polls queue w of ports 0 and 2, as `espgate run` gives each worker its queue of every port). The inside pair
    // has a second set so each worker's tx slot for port 1 (which nothing routes to) is a queue of its own.
    let inside = RingPair::new(&eal, "espin", 2 * nq, o.ring_size)?;
    let outside = RingPair::new(&eal, "espout", nq, o.ring_size)?;
    if (inside.a, inside.b, outside.a, outside.b) != (plan::INSIDE, plan::GEN_INSIDE, plan::OUTSIDE, plan::GEN_OUTSIDE)
    {
        bail!("unexpected ring port ids {inside:?} {outside:?}: give no --vdev or -a to EAL");
    }
    let mut ports = Vec::new();
    for (id, q) in [(inside.a, 2 * nq), (inside.b, 2 * nq), (outside.a, nq), (outside.b, nq)] {
        let cfg = PortConfig { rx_queues: q, tx_queues: q, rss: false, ..PortConfig::default() };
        ports.push(Port::configure(&eal, id, &cfg, &pool)?);
    }

    let rss_before = rss_bytes();
    let t = Instant::now();
    let tables = Arc::new(plan::tables(o.sas));
    setup.insert("tables", t.elapsed().as_secs_f64());
    let t = Instant::now();
    // Every worker holds every SA (the same Arc), as in the daemon.
    let mut dps: Vec<Datapath> = (0..n).map(|_| Datapath::new(tables.clone(), o.sas as usize)).collect();
    if !o.bypass {
        for i in 0..o.sas {
            match o.direction {
                Direction::Encrypt | Direction::Both => {
                    let mut p = suite.outbound(i);
                    if transport {
                        p.mode = engine::sa::Mode::Transport;
                    }
                    let sa = Arc::new(plan::outbound_sa(&backend, p)?);
                    for dp in dps.iter_mut() {
                        dp.install_outbound(i, sa.clone());
                    }
                }
                Direction::Decrypt => {
                    let sa = Arc::new(plan::inbound_sa(&backend, suite.inbound(i))?);
                    for dp in dps.iter_mut() {
                        dp.install_inbound(sa.clone())?;
                    }
                }
            }
        }
    }
    setup.insert("sas", t.elapsed().as_secs_f64());
    let sa_state_bytes = rss_bytes().saturating_sub(rss_before);
    let t = Instant::now();
    let source = match o.direction {
        Direction::Encrypt | Direction::Both => Source::Clear {
            templates: sizes.iter().map(|&n| plan::host_frame(n, 0)).collect(),
            sas: o.sas,
            retarget: plan::retarget_host_frame,
        },
        Direction::Decrypt => Source::Arena(build_arena(&suite, &sizes, o.sas, o.arena_bytes)?),
    };
    setup.insert("arena", t.elapsed().as_secs_f64());
    let arena_frames = match &source {
        Source::Arena(a) => a.frames.len(),
        Source::Clear { .. } => 0,
    };
    for p in &ports {
        p.start().with_context(|| format!("start port {}", p.name()))?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let all_stats: Vec<Arc<WorkerStats>> = (0..n).map(|_| Arc::new(WorkerStats::default())).collect();
    let chans: Vec<Channels> = (0..n).map(|_| Channels::new(4096)).collect();
    let (gen_port, fwd_in, fwd_out) = match o.direction {
        Direction::Encrypt | Direction::Both => ((1, 3), 0, 2),
        Direction::Decrypt => ((3, 1), 2, 0),
    };
    let gen_tx = (0..nq).map(|q| ports[gen_port.0].tx_queue(q)).collect::<Result<Vec<_>, _>>()?;
    let gen_rx = (0..nq).map(|q| ports[gen_port.1].rx_queue(q)).collect::<Result<Vec<_>, _>>()?;
    let worker_stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (w, dp) in dps.into_iter().enumerate() {
        let q = w as u16;
        let (stats, stop, ch) = (all_stats[w].clone(), worker_stop.clone(), chans[w].clone());
        handles.push(if o.bypass {
            let (rx, tx) = (ports[fwd_in].rx_queue(q)?, ports[fwd_out].tx_queue(q)?);
            lcore::launch(lcores[w], move || timed(|| forward(rx, tx, &stats, &stop)))?
        } else {
            let wq = WorkerQueues {
                rx: vec![ports[0].rx_queue(q)?, ports[2].rx_queue(q)?],
                tx: vec![ports[0].tx_queue(q)?, ports[1].tx_queue(nq + q)?, ports[2].tx_queue(q)?],
            };
            lcore::launch(lcores[w], move || timed(|| drop(worker::run(dp, wq, ch, &stats, &stop))))?
        });
    }
    // Totals over the workers, for the periodic lines and the result.
    let total = || {
        let t = WorkerStats::default();
        for s in &all_stats {
            t.add(s);
        }
        t
    };

    let hz = tsc_hz();
    let make = |i: u32| {
        let p = suite.inbound(i);
        let spi = p.spi;
        // On the run's backend, like the SAs it replaces (a software SA here made decrypt runs measure software
        // from the first arena pass on).
        plan::inbound_sa(&backend, p).ok().map(|sa| (spi, sa))
    };
    let reinstall =
        (!o.bypass && o.direction == Direction::Decrypt).then_some(Reinstall { channels: &chans, make: &make });
    let generator = Generator {
        tx: gen_tx,
        rx: gen_rx,
        pool: &pool,
        source,
        reinstall,
        workers: &all_stats,
        burst: usize::from(o.burst),
        // An rte_ring of N slots holds N - 1; keep a burst of margin.
        in_flight: u64::from(o.in_flight.unwrap_or(o.ring_size).min(o.ring_size.saturating_sub(64))).max(1),
        rate_pps: o.rate.unwrap_or(0),
    };
    let title = format!(
        "{:?} {} {} {} SA(s) size {}{}",
        o.direction,
        o.cipher,
        o.integrity,
        o.sas,
        o.size,
        if o.bypass { " BYPASS" } else { "" }
    );
    if !o.json {
        println!("espgate-perf esp: {title}, worker lcores on CPUs {:?}, generator on CPU {main}", workers);
    }
    let mut last = (Instant::now(), 0u64);
    let mut periodic = |g: &GenStats| {
        let (t0, tx0) = last;
        let stats = total();
        let tx = stats.tx.load(Relaxed);
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        let lat = |q: f64| g.latency_cycles.value_at_quantile(q) as f64 * 1e9 / hz as f64;
        let s = format!(
            "  ######################## ESP statistics ({title}) ########################\n  \
             Generator: sent {:<12} received {:<12} waited for the worker {:.0}%\n  \
             Worker:    rx {:<12} tx {:<12} dropped {}\n  \
             Throughput (since last show): Tx-pps: {:>12.0}   latency p50 {:.0} ns  p99 {:.0} ns\n",
            g.sent,
            g.received,
            100.0 * g.waited as f64 / g.polls.max(1) as f64,
            stats.rx.load(Relaxed),
            tx,
            dropped(&stats),
            (tx - tx0) as f64 / dt,
            lat(0.5),
            lat(0.99)
        );
        if o.json {
            eprint!("{s}");
        } else {
            print!("{s}");
        }
        last = (Instant::now(), tx);
    };
    let t0 = Instant::now();
    let tx_start = total().tx.load(Relaxed);
    let end = rdtsc() + o.seconds * hz;
    let period = if o.stats_period == 0 { 0 } else { o.stats_period * hz };
    let g = generator.run(end, &stop, period, &mut periodic);
    let seconds = t0.elapsed().as_secs_f64();
    let tx_packets = total().tx.load(Relaxed) - tx_start;
    worker_stop.store(true, Relaxed);
    let mut runs = Vec::new();
    for h in handles {
        runs.push(h.join().map_err(|_| anyhow::anyhow!("a worker lcore panicked"))?);
    }
    for c in &chans {
        while c.retired.pop().is_some() {}
    }
    let stats = total();
    // The workers' CPU time together: cycles per packet and the per-CPU-second rate are per worker-CPU.
    let w =
        WorkerRun { cpu_ns: runs.iter().map(|r| r.cpu_ns).sum(), wall_ns: runs.iter().map(|r| r.wall_ns).sum::<u64>() };
    let worker_tx: Vec<u64> = all_stats.iter().map(|s| s.tx.load(Relaxed)).collect();

    let q = |x: f64| g.latency_cycles.value_at_quantile(x) as f64 * 1e9 / hz as f64;
    // Decrypt pauses while the worker drains and gets fresh SAs between arena passes: that is the harness, not the
    // datapath, so rates and costs leave those windows out (stall_seconds reports them).
    let stall = g.stall_cycles as f64 / hz as f64;
    let active = ((seconds - stall) / seconds).clamp(0.01, 1.0);
    let seconds_active = seconds * active;
    let worker_cpu_ns = (w.cpu_ns as f64 * active) as u64;
    let mean_frame = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let pps = tx_packets as f64 / seconds_active;
    let all_tx = stats.tx.load(Relaxed);
    let result = EspResult {
        job: "esp",
        direction: o.direction,
        cipher: o.cipher.clone(),
        integrity: o.integrity.clone(),
        mode: o.mode.clone(),
        natt: o.natt,
        size: o.size.clone(),
        sas: o.sas,
        bypass: o.bypass,
        lcores: workers,
        worker_tx,
        generator_cpu: main,
        seconds,
        mpps: pps / 1e6,
        gbps: pps * mean_frame * 8.0 / 1e9,
        cycles_per_packet: if all_tx > 0 { worker_cpu_ns as f64 * hz as f64 / 1e9 / all_tx as f64 } else { 0.0 },
        mpps_per_cpu_second: if worker_cpu_ns > 0 { all_tx as f64 / (worker_cpu_ns as f64 / 1e9) / 1e6 } else { 0.0 },
        worker_cpu_fraction: w.cpu_ns as f64 / w.wall_ns.max(1) as f64,
        rx_packets: stats.rx.load(Relaxed),
        tx_packets: stats.tx.load(Relaxed),
        dropped: dropped(&stats),
        drops: drop_map(&stats),
        p50_ns: q(0.5),
        p99_ns: q(0.99),
        p999_ns: q(0.999),
        max_ns: g.latency_cycles.max() as f64 * 1e9 / hz as f64,
        mean_ns: g.latency_cycles.mean() * 1e9 / hz as f64,
        generator_sent: g.sent,
        generator_received: g.received,
        generator_waited_fraction: g.waited as f64 / g.polls.max(1) as f64,
        arena_frames,
        epochs: g.epochs,
        sa_reinstalls: g.reinstalled,
        stall_seconds: stall,
        setup_seconds: setup,
        sa_state_bytes,
        ring_size: o.ring_size,
        tsc_hz: hz,
        eal_args: args,
        crypto_backend: plan::crypto_label(&backend, &suite),
        rate_pps: o.rate.unwrap_or(0),
        offered: g.sent + g.missed,
        missed: g.missed,
        lost: (g.sent + g.missed).saturating_sub(g.received),
        loss_fraction: (g.sent + g.missed).saturating_sub(g.received) as f64 / (g.sent + g.missed).max(1) as f64,
    };
    drop(ports);
    Ok(result)
}

/// Pre-builds ESP frames from the peer: `arena_bytes` worth, SAs at random, each SA's sequence numbers in order.
fn build_arena(suite: &Suite, sizes: &[usize], sas: u32, arena_bytes: usize) -> Result<Arena> {
    let mut a = Arena::default();
    let mut senders: Vec<Option<plan::PeerSender>> = Vec::new();
    senders.resize_with(sas as usize, || None);
    let mut rng = Rng::new(0xa7e4a);
    let mut k = 0;
    while a.bytes.len() < arena_bytes {
        let i = rng.below(sas);
        let s = match &mut senders[i as usize] {
            Some(s) => s,
            slot => {
                a.sas.push(i);
                slot.insert(plan::PeerSender::new(suite, i)?)
            }
        };
        let off = a.bytes.len();
        let len = s.next_frame(i, sizes[k % sizes.len()], &mut a.bytes)?;
        a.frames.push((off, len));
        k += 1;
    }
    Ok(a)
}

fn timed(f: impl FnOnce()) -> WorkerRun {
    let (cpu0, t0) = (thread_cpu_ns(), Instant::now());
    f();
    WorkerRun { cpu_ns: thread_cpu_ns().saturating_sub(cpu0), wall_ns: t0.elapsed().as_nanos() as u64 }
}

/// The bypass worker: receive a burst, send it on, nothing per packet (testpmd's io mode).
fn forward(mut rx: RxQueue, mut tx: TxQueue, stats: &WorkerStats, stop: &AtomicBool) {
    let mut b = Burst::new();
    let (mut n_rx, mut n_tx, mut lost) = (0u64, 0u64, 0u64);
    while !stop.load(Relaxed) {
        let n = rx.rx_burst(&mut b);
        if n == 0 {
            continue;
        }
        let (s, l) = tx.tx_burst_or_drop(&mut b);
        n_rx += n as u64;
        n_tx += s as u64;
        lost += l as u64;
        stats.rx.store(n_rx, Relaxed);
        stats.tx.store(n_tx, Relaxed);
        stats.tx_dropped.store(lost, Relaxed);
    }
}

fn drop_map(s: &WorkerStats) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = s.nonzero_drops().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for (k, v) in [("tx-dropped", &s.tx_dropped), ("punted", &s.punted), ("punt-dropped", &s.punt_dropped)] {
        let v = v.load(Relaxed);
        if v > 0 {
            m.insert(k.to_string(), v);
        }
    }
    m
}

/// The final table.
pub fn print_final(r: &EspResult) {
    println!(
        "\n  ESP {:?} {} {} {} SA(s), size {}{}: {:.3} Mpps, {:.3} Gbps (cleartext frames) over {:.1} s\n  \
         {:.0} cycles/packet, {:.3} Mpps per worker CPU-second (worker on CPU {:.0}% of the time)\n  \
         rx {} tx {} dropped {} {:?}\n  latency p50 {:.0} ns  p99 {:.0} ns  p99.9 {:.0} ns  max {:.0} ns\n  \
         generator: sent {} received {}, waited for the worker on {:.0}% of polls, {} arena passes, {} SA reinstalls, \
         {:.3} s stalled\n  setup: {:?}",
        r.direction,
        r.cipher,
        r.integrity,
        r.sas,
        r.size,
        if r.bypass { " (BYPASS: generator ceiling)" } else { "" },
        r.mpps,
        r.gbps,
        r.seconds,
        r.cycles_per_packet,
        r.mpps_per_cpu_second,
        r.worker_cpu_fraction * 100.0,
        r.rx_packets,
        r.tx_packets,
        r.dropped,
        r.drops,
        r.p50_ns,
        r.p99_ns,
        r.p999_ns,
        r.max_ns,
        r.generator_sent,
        r.generator_received,
        r.generator_waited_fraction * 100.0,
        r.epochs,
        r.sa_reinstalls,
        r.stall_seconds,
        r.setup_seconds
    );
}
