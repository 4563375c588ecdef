//! `espgate-perf mem`: what a random cache line costs this core, the floor under any per-SA state that does not fit
//! in cache. With a million SAs every packet's SA lines come from DRAM; a burst's lookups can overlap their misses
//! (as `Datapath::warm` arranges), so the floor is the cost of one line among `--batch` independent ones, not the
//! full latency. Both are measured, over a buffer the size of the SA state (`sa_state_bytes` of an `esp` run).
use anyhow::{bail, Result};
use clap::Args;
use engine::dpdk::rdtsc;
use serde::Serialize;
use std::hint::black_box;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct MemOpts {
    /// Buffer size in bytes (e.g. an `esp --sas 1000000` run's sa_state_bytes).
    #[arg(long, default_value_t = 1 << 30)]
    pub bytes: usize,
    /// Independent random lines loaded together (a burst's worth of lookups).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Lines loaded per measurement.
    #[arg(long, default_value_t = 4_000_000)]
    pub loads: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct MemResult {
    pub job: &'static str,
    pub bytes: usize,
    pub batch: usize,
    /// TSC cycles per line among `batch` independent random loads, the index arithmetic taken off (measured on a
    /// buffer that fits in L1).
    pub batched_line_cycles: f64,
    /// TSC cycles per line when each load's address depends on the previous one (the full miss latency).
    pub dependent_line_cycles: f64,
    pub tsc_hz: u64,
    pub setup_seconds: f64,
}

const LINE: usize = 64;
/// u64 words per line: each line's first word holds the index of the next line of the chase.
const WORDS: usize = LINE / 8;

/// xorshift64: addresses no prefetcher can follow.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Cycles per line of `loads` random loads, `batch` at a time, over `buf`.
fn batched(buf: &[u64], batch: usize, loads: usize) -> f64 {
    let lines = (buf.len() / WORDS) as u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut idx = vec![0usize; batch];
    let mut acc = 0u64;
    let rounds = loads / batch;
    let t = rdtsc();
    for _ in 0..rounds {
        for i in idx.iter_mut() {
            *i = (next(&mut x) % lines) as usize * WORDS;
        }
        for &i in &idx {
            acc = acc.wrapping_add(buf[i]);
        }
    }
    black_box(acc);
    (rdtsc() - t) as f64 / (rounds * batch) as f64
}

/// Links every line of `buf` into one random cycle (Sattolo's shuffle): each line's first word is the next's index.
fn link(buf: &mut [u64]) {
    let lines = buf.len() / WORDS;
    for l in 0..lines {
        buf[l * WORDS] = l as u64;
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..lines).rev() {
        let j = (next(&mut x) % i as u64) as usize;
        buf.swap(i * WORDS, j * WORDS);
    }
}

/// Cycles per line of a pointer chase through every line of `buf`.
fn dependent(buf: &mut [u64], loads: usize) -> f64 {
    link(buf);
    let mut at = 0usize;
    let t = rdtsc();
    for _ in 0..loads {
        at = buf[at * WORDS] as usize;
    }
    black_box(at);
    (rdtsc() - t) as f64 / loads as f64
}

fn tsc_hz() -> u64 {
    let (t0, i0) = (rdtsc(), Instant::now());
    std::thread::sleep(std::time::Duration::from_millis(200));
    ((rdtsc() - t0) as f64 / i0.elapsed().as_secs_f64()) as u64
}

pub fn run(o: &MemOpts) -> Result<MemResult> {
    if o.bytes < 64 * LINE || o.batch == 0 || o.batch > 1024 || o.loads < o.batch {
        bail!("mem: --bytes at least 4096, --batch 1 to 1024, --loads at least --batch");
    }
    let t = Instant::now();
    // Written, not just allocated: every page is backed before the clock starts.
    let mut buf = vec![1u64; o.bytes / 8];
    let setup_seconds = t.elapsed().as_secs_f64();
    let small = vec![1u64; 2048];
    // Warm up, then keep the best of three: the least disturbed by the rest of the machine.
    batched(&small, o.batch, o.loads / 4);
    let index_cost = (0..3).map(|_| batched(&small, o.batch, o.loads)).fold(f64::MAX, f64::min);
    let raw = (0..3).map(|_| batched(&buf, o.batch, o.loads)).fold(f64::MAX, f64::min);
    let chase = dependent(&mut buf, (o.loads / 4).max(1));
    Ok(MemResult {
        job: "mem",
        bytes: o.bytes,
        batch: o.batch,
        batched_line_cycles: (raw - index_cost).max(0.0),
        dependent_line_cycles: chase,
        tsc_hz: tsc_hz(),
        setup_seconds,
    })
}

pub fn print_final(r: &MemResult) {
    println!(
        "\n  Random cache lines over {:.2} GB: {:.1} cycles per line among {} independent loads, {:.1} cycles per \
         dependent load (TSC {:.2} GHz)",
        r.bytes as f64 / 1e9,
        r.batched_line_cycles,
        r.batch,
        r.dependent_line_cycles,
        r.tsc_hz as f64 / 1e9
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chase_visits_every_line_once_per_cycle() {
        // A shorter cycle would let a big buffer's chase run in cache and understate the latency.
        for lines in [2usize, 3, 64, 1000] {
            let mut buf = vec![0u64; lines * WORDS];
            link(&mut buf);
            let mut seen = vec![false; lines];
            let mut at = 0usize;
            for _ in 0..lines {
                assert!(!seen[at], "line {at} visited twice in {lines}");
                seen[at] = true;
                at = buf[at * WORDS] as usize;
            }
            assert_eq!(at, 0);
        }
    }

    #[test]
    fn both_costs_are_measured() {
        let r = run(&MemOpts { bytes: 1 << 20, batch: 8, loads: 10_000, json: true }).unwrap();
        assert!(r.batched_line_cycles.is_finite() && r.batched_line_cycles >= 0.0, "{r:?}");
        assert!(r.dependent_line_cycles > 0.0 && r.tsc_hz > 0, "{r:?}");
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(run(&MemOpts { bytes: 100, batch: 32, loads: 1000, json: false }).is_err());
        assert!(run(&MemOpts { bytes: 1 << 20, batch: 0, loads: 1000, json: false }).is_err());
    }
}
