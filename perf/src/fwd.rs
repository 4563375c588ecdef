//! `espgate-perf fwd`: testpmd's io forwarding mode on espgate's DPDK layer. Ports are paired (0<->1, 2<->3, ...);
//! every lcore owns one rx/tx queue of each port and forwards both directions of every pair.
use crate::eal_args::EalOpts;
use crate::report::{self, Counters};
use anyhow::{bail, Context, Result};
use engine::dpdk::{lcore, rdtsc, Burst, Eal, Mempool, Port, PortConfig, RxQueue, TxQueue, MAX_BURST};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct FwdOpts {
    #[command(flatten)]
    pub eal: EalOpts,
    /// How long to forward.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Packets per rx burst (testpmd's --burst).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=MAX_BURST as i64))]
    pub burst: u16,
    /// Descriptors per rx and tx queue.
    #[arg(long, default_value_t = 1024)]
    pub descriptors: u16,
    /// Mbufs in the pool.
    #[arg(long, default_value_t = 16383)]
    pub mbufs: u32,
    /// Seconds between periodic statistics (0: none).
    #[arg(long, default_value_t = 1)]
    pub stats_period: u64,
    /// Print one JSON object at the end (periodic lines go to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The final result, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct FwdResult {
    pub job: &'static str,
    pub mpps: f64,
    pub gbps: f64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub dropped: u64,
    pub tx_bytes: u64,
    /// Where tx_bytes comes from: "port counters", or "sampled mean frame size" for PMDs that count no bytes.
    pub bytes_source: &'static str,
    pub lcores: Vec<usize>,
    pub seconds: f64,
    /// Forwarded packets per second of lcore CPU time: steadier than wall-clock Mpps when the machine is shared.
    pub mpps_per_cpu_second: f64,
    pub cycles_per_packet: f64,
    pub burst: u16,
    pub ports: Vec<String>,
    pub eal_args: Vec<String>,
}

struct Stream {
    rx: RxQueue,
    tx: TxQueue,
}

/// Bursts whose packet sizes are summed to find the mean frame size.
const SAMPLE_BURSTS: u32 = 4096;

struct LcoreResult {
    sampled_pkts: u64,
    sampled_bytes: u64,
    cpu_ns: u64,
    cycles: u64,
}

pub fn run(o: &FwdOpts) -> Result<FwdResult> {
    let (workers, main, args) = o.eal.build("fwd")?;
    let eal = Eal::init(&args).context("EAL init")?;
    lcore::pin_current_thread(main);
    let ids = eal.port_ids();
    if ids.is_empty() || ids.len() % 2 != 0 {
        bail!("forwarding needs an even number of ports (found {}); give two --vdev", ids.len());
    }
    let lcores = eal.worker_lcores();
    if lcores.len() != workers.len() {
        bail!("EAL started {} worker lcores, expected {}", lcores.len(), workers.len());
    }
    let queues = workers.len() as u16;
    let pool = Mempool::new(&eal, "fwd_pool", o.mbufs, 256, 2176, None)?;
    let cfg = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_desc: o.descriptors,
        tx_desc: o.descriptors,
        ..PortConfig::default()
    };
    let mut ports = Vec::new();
    for &id in &ids {
        let p = Port::configure(&eal, id, &cfg, &pool).with_context(|| format!("configure port {id}"))?;
        p.start().with_context(|| format!("start port {}", p.name()))?;
        ports.push(p);
    }
    let names: Vec<String> = ports.iter().map(|p| p.name().to_string()).collect();
    if !o.json {
        println!("espgate-perf fwd: io forwarding, ports {names:?}, lcores {workers:?}, burst {}", o.burst);
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let counters: Arc<Vec<Counters>> = Arc::new((0..lcores.len()).map(|_| Counters::default()).collect());
    let mut handles = Vec::new();
    for (i, &lc) in lcores.iter().enumerate() {
        let mut streams = Vec::new();
        for pair in ports.chunks(2) {
            streams.push(Stream { rx: pair[0].rx_queue(i as u16)?, tx: pair[1].tx_queue(i as u16)? });
            streams.push(Stream { rx: pair[1].rx_queue(i as u16)?, tx: pair[0].tx_queue(i as u16)? });
        }
        let (stop, counters, burst) = (stop.clone(), counters.clone(), usize::from(o.burst));
        handles.push(lcore::launch(lc, move || forward(streams, &stop, &counters[i], burst))?);
    }

    let start = Instant::now();
    let run_for = Duration::from_secs(o.seconds);
    let mut last = report::Snapshot::take(&counters, &ports, start);
    let period = Duration::from_secs(o.stats_period.max(1));
    while !stop.load(Ordering::Relaxed) && start.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(50).min(run_for.saturating_sub(start.elapsed())));
        if o.stats_period > 0 && last.at.elapsed() >= period {
            let now = report::Snapshot::take(&counters, &ports, start);
            report::print_periodic(&last, &now, &names, o.json);
            last = now;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut cpu_ns = 0;
    let mut cycles = 0;
    let (mut sampled_pkts, mut sampled_bytes) = (0u64, 0u64);
    for h in handles {
        let r = h.join().map_err(|_| anyhow::anyhow!("a forwarding lcore panicked"))?;
        cpu_ns += r.cpu_ns;
        cycles += r.cycles;
        sampled_pkts += r.sampled_pkts;
        sampled_bytes += r.sampled_bytes;
    }
    let seconds = start.elapsed().as_secs_f64();
    let total = Counters::sum(&counters);
    // Frame bits without preamble/IFG: the ports' byte counters, or the sampled mean size when the PMD keeps none.
    let port_bytes: u64 = ports.iter().map(|p| p.stats().map(|s| s.tx_bytes).unwrap_or(0)).sum();
    let (tx_bytes, bytes_source) = if port_bytes > 0 {
        (port_bytes, "port counters")
    } else if sampled_pkts > 0 {
        ((total.tx as f64 * sampled_bytes as f64 / sampled_pkts as f64) as u64, "sampled mean frame size")
    } else {
        (0, "none")
    };
    let result = FwdResult {
        job: "fwd",
        mpps: total.tx as f64 / seconds / 1e6,
        gbps: tx_bytes as f64 * 8.0 / seconds / 1e9,
        rx_packets: total.rx,
        tx_packets: total.tx,
        dropped: total.dropped,
        tx_bytes,
        bytes_source,
        lcores: workers,
        seconds,
        mpps_per_cpu_second: if cpu_ns > 0 { total.tx as f64 / (cpu_ns as f64 / 1e9) / 1e6 } else { 0.0 },
        cycles_per_packet: if total.tx > 0 { cycles as f64 / total.tx as f64 } else { 0.0 },
        burst: o.burst,
        ports: names,
        eal_args: args,
    };
    // Ports close (and flush, for net_pcap) before EAL goes away.
    drop(ports);
    drop(pool);
    Ok(result)
}

/// The lcore loop: rx a burst, tx it on the paired port, free what the device refused. Nothing per packet.
fn forward(mut streams: Vec<Stream>, stop: &AtomicBool, c: &Counters, burst: usize) -> LcoreResult {
    let cpu0 = report::thread_cpu_ns();
    let t0 = rdtsc();
    let mut b = Burst::new();
    let (mut rx, mut tx, mut dropped, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut polls = 0u32;
    let (mut sampled_bursts, mut sampled_pkts) = (0u32, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for s in streams.iter_mut() {
            let n = s.rx.rx_burst_max(&mut b, burst);
            if n == 0 {
                continue;
            }
            // Some PMDs (net_null) count no bytes. Reading every packet's length costs ~15% of io forwarding, so
            // sizes are measured over the first bursts only and the mean is reported with its source.
            if sampled_bursts < SAMPLE_BURSTS {
                sampled_bursts += 1;
                sampled_pkts += n as u64;
                bytes += b.as_slice().iter().map(|m| u64::from(m.pkt_len())).sum::<u64>();
            }
            let (sent, lost) = s.tx.tx_burst_or_drop(&mut b);
            rx += n as u64;
            tx += sent as u64;
            dropped += lost as u64;
        }
        // Publish every 64 polls: the counters are read once a second, and this keeps stores off the hot path.
        polls = polls.wrapping_add(1);
        if polls % 64 == 0 {
            c.publish(rx, tx, dropped);
        }
    }
    c.publish(rx, tx, dropped);
    LcoreResult {
        sampled_pkts,
        sampled_bytes: bytes,
        cpu_ns: report::thread_cpu_ns().saturating_sub(cpu0),
        cycles: rdtsc() - t0,
    }
}
