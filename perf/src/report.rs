//! Counters shared between lcores and the reporting thread, and testpmd-style periodic output.
use engine::dpdk::Port;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One lcore's counters: written by that lcore only, read by the reporter. Padded to a cache line so lcores do not
/// share one.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Counters {
    rx: AtomicU64,
    tx: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
}

impl Counters {
    pub fn publish(&self, rx: u64, tx: u64, dropped: u64) {
        self.rx.store(rx, Ordering::Relaxed);
        self.tx.store(tx, Ordering::Relaxed);
        self.dropped.store(dropped, Ordering::Relaxed);
    }

    pub fn sum(all: &[Counters]) -> Totals {
        all.iter().fold(Totals::default(), |t, c| Totals {
            rx: t.rx + c.rx.load(Ordering::Relaxed),
            tx: t.tx + c.tx.load(Ordering::Relaxed),
            dropped: t.dropped + c.dropped.load(Ordering::Relaxed),
        })
    }
}

/// Counters at one instant, for rates between two of them.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Instant,
    pub totals: Totals,
    pub ports: Vec<engine::dpdk::PortStats>,
}

impl Snapshot {
    pub fn take(c: &[Counters], ports: &[Port], _start: Instant) -> Self {
        Self {
            at: Instant::now(),
            totals: Counters::sum(c),
            ports: ports.iter().map(|p| p.stats().unwrap_or_default()).collect(),
        }
    }
}

/// testpmd's periodic block, one per port, then the forwarding rate.
pub fn print_periodic(a: &Snapshot, b: &Snapshot, names: &[String], to_stderr: bool) {
    let dt = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    let mut s = String::new();
    for (i, (pa, pb)) in a.ports.iter().zip(&b.ports).enumerate() {
        s += &format!(
            "  ######################## NIC statistics for port {i} ({})  ########################\n",
            names.get(i).map(String::as_str).unwrap_or("?")
        );
        s += &format!(
            "  RX-packets: {:<12} RX-missed: {:<10} RX-bytes:  {}\n  RX-errors: {}\n  RX-nombuf:  {}\n",
            pb.rx_packets, pb.rx_missed, pb.rx_bytes, pb.rx_errors, pb.rx_nombuf
        );
        s += &format!(
            "  TX-packets: {:<12} TX-errors: {:<10} TX-bytes:  {}\n\n",
            pb.tx_packets, pb.tx_errors, pb.tx_bytes
        );
        let rate = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / dt;
        s += &format!(
            "  Throughput (since last show)\n  Rx-pps: {:>12.0}          Rx-bps: {:>14.0}\n  Tx-pps: {:>12.0}          Tx-bps: {:>14.0}\n",
            rate(pa.rx_packets, pb.rx_packets),
            rate(pa.rx_bytes, pb.rx_bytes) * 8.0,
            rate(pa.tx_packets, pb.tx_packets),
            rate(pa.tx_bytes, pb.tx_bytes) * 8.0
        );
        s += "  ############################################################################\n";
    }
    let fwd = (b.totals.tx - a.totals.tx) as f64 / dt / 1e6;
    s +=
        &format!("  Forwarded: {:.3} Mpps (rx {} tx {} dropped {})\n", fwd, b.totals.rx, b.totals.tx, b.totals.dropped);
    if to_stderr {
        eprint!("{s}");
    } else {
        print!("{s}");
    }
}

/// Nanoseconds the calling thread has spent on a CPU (first field of /proc/thread-self/schedstat).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
