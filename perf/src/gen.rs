//! The traffic generator of `espgate-perf esp`: it runs on the main lcore, feeds one queue per worker (bursts round
//! robin, as RSS would spread flows), recycles the mbufs the workers send back (topping up from the pool), writes the
//! next frame into each, stamps the TSC into the mbuf's headroom (the first 8 bytes of the buffer, which no prepend
//! reaches) and records the round trip in an HDR histogram.
//!
//! Cleartext comes from templates patched per packet (a random SA's flow); ESP for the decrypt direction comes from
//! an arena pre-built by espgate's own outbound SAs. The inbound replay windows accept each arena frame once, so when
//! the arena is used up the generator lets the worker drain, reinstalls the SAs the arena used (fresh windows, through
//! the worker's command queue like the control thread does), and replays it: the pause is counted as stall time.
use engine::buf::PacketBuf;
use engine::dpdk::{rdtsc, Burst, Mbuf, Mempool, RxQueue, TxQueue};
use engine::esp::InboundSa;
use engine::wire::Spi;
use engine::worker::{Channels, Command, WorkerStats};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// xorshift64*: the SA of each packet, cheaply and reproducibly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// Pre-built frames, replayed in order.
#[derive(Debug, Default)]
pub struct Arena {
    pub bytes: Vec<u8>,
    /// (offset, length) of each frame in `bytes`.
    pub frames: Vec<(usize, usize)>,
    /// The SAs the frames belong to, each once.
    pub sas: Vec<u32>,
}

/// Where frames come from.
pub enum Source {
    /// Cleartext templates, one per size of the pattern, retargeted per packet to a random one of `sas` flows.
    Clear {
        templates: Vec<Vec<u8>>,
        sas: u32,
        retarget: fn(&mut [u8], u32),
    },
    Arena(Arena),
}

/// How the generator resets the workers' inbound SAs between arena passes. `None` in bypass runs.
pub struct Reinstall<'a> {
    /// Every worker's: an inbound SA is shared by all of them, so each gets the fresh one.
    pub channels: &'a [Channels],
    pub make: &'a dyn Fn(u32) -> Option<(Spi, InboundSa)>,
}

/// What the generator saw.
pub struct GenStats {
    pub sent: u64,
    pub received: u64,
    /// Frames that did not fit an mbuf (none with the sizes the job accepts).
    pub build_failed: u64,
    pub latency_cycles: Histogram<u64>,
    /// Polls (while sending) on which the generator had to wait for the worker: the in-flight budget used up or the
    /// input ring full. Near all of them when the worker is the bottleneck, near none when the generator is.
    pub waited: u64,
    pub polls: u64,
    pub epochs: u64,
    pub stall_cycles: u64,
    pub reinstalled: u64,
    /// Paced runs: frames due by the schedule that could not be sent (in-flight budget used up or input ring full).
    pub missed: u64,
}

pub struct Generator<'a> {
    /// One queue per worker: bursts go round robin over them, as RSS would spread flows.
    pub tx: Vec<TxQueue>,
    pub rx: Vec<RxQueue>,
    pub pool: &'a Mempool,
    pub source: Source,
    pub reinstall: Option<Reinstall<'a>>,
    pub workers: &'a [Arc<WorkerStats>],
    pub burst: usize,
    /// Most frames out at once (sent, not yet back, not dropped by the worker): at most what the return ring holds,
    /// so the worker never finds it full.
    pub in_flight: u64,
    /// Packets per second to pace at; 0: as fast as the worker takes them.
    pub rate_pps: u64,
}

/// How long a paced run keeps receiving after the last frame is due, so frames still in flight are not counted lost.
const DRAIN_MS: u64 = 100;

enum Phase {
    Sending,
    /// The arena is used up: wait until the worker received all that was sent.
    Draining {
        since: u64,
    },
    /// Reinstalling SAs: `next` indexes the arena's SA list.
    Resetting {
        since: u64,
        next: usize,
    },
}

/// Called about once per `period_cycles` with the stats so far (for periodic lines).
pub type Report<'r> = &'r mut dyn FnMut(&GenStats);

impl Generator<'_> {
    /// Generates until `end_tsc` (or `stop`).
    pub fn run(mut self, end_tsc: u64, stop: &AtomicBool, period_cycles: u64, report: Report<'_>) -> GenStats {
        let mut st = GenStats {
            sent: 0,
            received: 0,
            build_failed: 0,
            latency_cycles: Histogram::new(3).expect("3 significant figures is valid"),
            waited: 0,
            polls: 0,
            epochs: 0,
            stall_cycles: 0,
            reinstalled: 0,
            missed: 0,
        };
        let hz = engine::dpdk::tsc_hz();
        let paced = self.rate_pps > 0;
        let start = rdtsc();
        // Frames due by `now` on the schedule.
        let rate = self.rate_pps;
        // Frames due after `elapsed` cycles of sending (arena reinstall pauses left out: nothing is due then).
        let due = move |elapsed: u64| (u128::from(elapsed) * u128::from(rate) / u128::from(hz)) as u64;
        let (mut inb, mut pending, mut fresh) = (Burst::new(), Burst::new(), Burst::new());
        let mut rng = Rng::new(0x5eed);
        let (mut pos, mut size_pos) = (0usize, 0usize);
        let mut phase = Phase::Sending;
        let mut next_report = rdtsc() + period_cycles;
        let (mut lost, mut polls) = (0u64, 0u32);
        let mut next_q = 0usize;
        loop {
            let now = rdtsc();
            if now >= end_tsc || stop.load(Relaxed) {
                if paced {
                    self.drain(&mut st, &mut inb, now + hz * DRAIN_MS / 1000, stop);
                }
                break;
            }
            if period_cycles > 0 && now >= next_report {
                next_report = now + period_cycles;
                report(&st);
            }
            // Returned frames: latency, then reuse while there is something to send.
            self.receive(&mut inb);
            let now = rdtsc();
            for m in inb.drain() {
                st.received += 1;
                let t = stamp_of(&m);
                if t != 0 && now > t {
                    let _ = st.latency_cycles.record(now - t);
                }
                // Paced: fresh mbufs are taken when frames are due, returned ones go back to the pool.
                if !paced && matches!(phase, Phase::Sending) && !pending.is_full() {
                    if let Some(m) = self.build(m, &mut rng, &mut pos, &mut size_pos, &mut st) {
                        let _ = pending.push(m);
                    }
                }
            }
            polls = polls.wrapping_add(1);
            if polls % 256 == 0 {
                lost = dropped_all(self.workers);
            }
            let out = (st.sent + pending.len() as u64).saturating_sub(st.received + lost);
            if paced {
                if matches!(phase, Phase::Sending) {
                    let due = due(rdtsc().saturating_sub(start + st.stall_cycles));
                    self.paced_send(&mut st, &mut pending, &mut fresh, due, out, (&mut rng, &mut pos, &mut size_pos));
                }
                phase = self.advance(phase, &mut pos, &pending, &mut st);
                continue;
            }
            let mut waited = out >= self.in_flight;
            if matches!(phase, Phase::Sending) && pending.room() > 0 && out < self.in_flight {
                let want = self.burst.saturating_sub(pending.len()).min((self.in_flight - out) as usize);
                self.pool.alloc_bulk(&mut fresh, want);
                for m in fresh.drain() {
                    if let Some(m) = self.build(m, &mut rng, &mut pos, &mut size_pos, &mut st) {
                        let _ = pending.push(m);
                    }
                }
            }
            if !pending.is_empty() {
                let before = pending.len();
                let sent = self.tx[next_q].tx_burst(&mut pending);
                next_q = (next_q + 1) % self.tx.len();
                st.sent += sent as u64;
                waited |= sent < before;
            }
            if matches!(phase, Phase::Sending) {
                st.polls += 1;
                st.waited += u64::from(waited);
            }
            phase = self.advance(phase, &mut pos, &pending, &mut st);
        }
        pending.clear();
        st
    }

    /// Paced sending: builds and sends the frames due; those the in-flight budget or the input ring cannot take
    /// are freed and counted missed, as a NIC drops what finds its rx ring full.
    fn paced_send(
        &mut self,
        st: &mut GenStats,
        pending: &mut Burst,
        fresh: &mut Burst,
        due: u64,
        out: u64,
        (rng, pos, size_pos): (&mut Rng, &mut usize, &mut usize),
    ) {
        let behind = due.saturating_sub(st.sent + st.missed);
        if behind == 0 {
            return;
        }
        let room = self.in_flight.saturating_sub(out);
        let n = behind.min(self.burst as u64).min(room) as usize;
        if n == 0 {
            st.missed += behind.min(self.burst as u64);
            return;
        }
        self.pool.alloc_bulk(fresh, n);
        for m in fresh.drain() {
            if let Some(m) = self.build(m, rng, pos, size_pos, st) {
                let _ = pending.push(m);
            }
        }
        let before = pending.len();
        // Paced runs spread by burst too: the queue follows the count of frames sent so far.
        let q = (st.sent / self.burst.max(1) as u64) as usize % self.tx.len();
        let sent = self.tx[q].tx_burst(pending);
        st.sent += sent as u64;
        st.missed += (before - sent) as u64;
        pending.clear();
    }

    /// Empties `inb`, then takes a burst from each worker's return queue into it.
    fn receive(&mut self, inb: &mut Burst) {
        inb.clear();
        for rx in self.rx.iter_mut() {
            rx.rx_burst_max(inb, self.burst);
        }
    }

    /// Receives (and times) what is still in flight until `until` or until nothing is out.
    fn drain(&mut self, st: &mut GenStats, inb: &mut Burst, until: u64, stop: &AtomicBool) {
        let t = rdtsc();
        while rdtsc() < until && !stop.load(Relaxed) && st.received + dropped_all(self.workers) < st.sent {
            self.receive(inb);
            let now = rdtsc();
            for m in inb.drain() {
                st.received += 1;
                let t = stamp_of(&m);
                if t != 0 && now > t {
                    let _ = st.latency_cycles.record(now - t);
                }
            }
        }
        // Idle time: left out of the rates like the arena's reinstall pauses.
        st.stall_cycles += rdtsc() - t;
    }

    /// Moves through arena exhaustion, drain and SA reinstall; returns the next phase.
    fn advance(&mut self, phase: Phase, pos: &mut usize, pending: &Burst, st: &mut GenStats) -> Phase {
        let Source::Arena(arena) = &self.source else { return Phase::Sending };
        if let Some(r) = &self.reinstall {
            for c in r.channels {
                while c.retired.pop().is_some() {}
            }
        }
        match phase {
            Phase::Sending if *pos >= arena.frames.len() => {
                if self.reinstall.is_none() {
                    *pos = 0;
                    st.epochs += 1;
                    return Phase::Sending;
                }
                Phase::Draining { since: rdtsc() }
            }
            Phase::Sending => Phase::Sending,
            Phase::Draining { since } => {
                let received: u64 = self.workers.iter().map(|w| w.rx.load(Relaxed)).sum();
                if pending.is_empty() && received >= st.sent {
                    Phase::Resetting { since, next: 0 }
                } else {
                    Phase::Draining { since }
                }
            }
            Phase::Resetting { since, mut next } => {
                let r = self.reinstall.as_ref().expect("Draining only with reinstall");
                // Queue as many as fit; the worker applies 16 per poll.
                let room = |c: &Channels| c.commands.len() + 2 <= c.commands.capacity();
                while next < arena.sas.len() && r.channels.iter().all(room) {
                    next += 1;
                    // An SA that cannot be rebuilt was installed from the same parameters: cannot happen; skip it.
                    let Some((spi, sa)) = (r.make)(arena.sas[next - 1]) else { continue };
                    let sa = Arc::new(sa);
                    for c in r.channels {
                        let _ = c.commands.push(Command::RemoveInbound(spi));
                        let _ = c.commands.push(Command::InstallInbound(sa.clone()));
                    }
                    st.reinstalled += 1;
                }
                // Popped means applied before the worker's next receive: safe to send again.
                if next >= arena.sas.len() && r.channels.iter().all(|c| c.commands.is_empty()) {
                    *pos = 0;
                    st.epochs += 1;
                    st.stall_cycles += rdtsc() - since;
                    Phase::Sending
                } else {
                    Phase::Resetting { since, next }
                }
            }
        }
    }

    /// Writes the next frame into `m` and stamps it; `None` (mbuf freed) when it does not fit or the arena is used up.
    fn build(
        &self,
        mut m: Mbuf,
        rng: &mut Rng,
        pos: &mut usize,
        size_pos: &mut usize,
        st: &mut GenStats,
    ) -> Option<Mbuf> {
        m.reset();
        match &self.source {
            Source::Clear { templates, sas, retarget } => {
                let t = &templates[*size_pos];
                *size_pos = (*size_pos + 1) % templates.len();
                if !m.extend_from_slice(t) {
                    st.build_failed += 1;
                    return None;
                }
                // Retargeted even with one SA, so the generator's cost does not depend on --sas.
                retarget(m.data_mut(), rng.below(*sas));
            }
            Source::Arena(a) => {
                let &(off, len) = a.frames.get(*pos)?;
                *pos += 1;
                if !m.extend_from_slice(&a.bytes[off..off + len]) {
                    st.build_failed += 1;
                    return None;
                }
            }
        }
        PacketBuf::buffer_mut(&mut m)[..8].copy_from_slice(&rdtsc().to_le_bytes());
        Some(m)
    }
}

/// Frames the workers did not send on.
pub fn dropped_all(w: &[Arc<WorkerStats>]) -> u64 {
    w.iter().map(|s| dropped(s)).sum()
}

/// Frames the worker did not send on: dropped for a reason, refused by the device, or punted.
pub fn dropped(s: &WorkerStats) -> u64 {
    s.drops.iter().map(|d| d.load(Relaxed)).sum::<u64>()
        + s.tx_dropped.load(Relaxed)
        + s.punted.load(Relaxed)
        + s.punt_dropped.load(Relaxed)
}

fn stamp_of(m: &Mbuf) -> u64 {
    let b = PacketBuf::buffer(m);
    b.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn rng_spreads_over_the_range() {
        let mut r = Rng::new(1);
        let mut hits = [0u32; 10];
        for _ in 0..100_000 {
            hits[r.below(10) as usize] += 1;
        }
        assert!(hits.iter().all(|&h| (9_000..11_000).contains(&h)), "{hits:?}");
        assert!((0..1000).all(|_| r.below(1) == 0));
    }
}
