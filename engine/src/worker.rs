//! The poll loop of a worker lcore: receive bursts on its queues, run each frame through the [`Datapath`], transmit,
//! punt or drop. Everything from the control thread arrives on bounded lock-free queues and is applied between
//! bursts; a full queue is a counted drop, never a wait.
//!
//! # Several workers
//!
//! With N workers, worker `i` polls rx queue `i` of every port (RSS spreads flows over the queues) and sends on tx
//! queue `i`. What they share and what they do not:
//! - **Inbound ESP SAs are shared** (`Arc`), like outbound ones: whichever worker receives a packet opens it, so one
//!   tunnel's decryption spreads over lcores (DPDK's ipsec-secgw and VPP pin an SA to one core). Only the replay
//!   window is serialised, by a lock taken twice per burst and SA (check before crypto, record after), never
//!   around the crypto itself ([`InboundSa`]); counters are atomic adds once per burst.
//! - **Inbound AH SAs have one owner each**, worker `spi % N` ([`handoff::owner`]): AH is rare, and its window stays
//!   plain memory behind `&mut`. A worker that receives AH whose SPI it does not own hands the mbuf, before any
//!   other processing, to the owner's bounded inbox ([`handoff::Handoff`]); the owner processes its inbox in its
//!   loop like received frames, and a full inbox is a counted drop (`handoff_dropped`). A bundle's ESP SA is
//!   opened after its AH, on the AH SA's owner.
//! - **Outbound SAs are shared** (`Arc`): cleartext of one policy may arrive on any queue, and the sequence number
//!   is one atomic `fetch_add`. Two lcores protecting for one SA may send its packets slightly out of sequence order;
//!   the receiver's replay window (1024 by default) absorbs that.
//! - **Tables** are an immutable snapshot each worker is sent; the control thread sends table and SA changes to
//!   every worker, except inbound AH SAs, which go to their owner only (a worker refuses an AH SA it does not own,
//!   so a misrouted install shows up as [`Retired::InstallFailed`] instead of an SA that never sees traffic).
use crate::ah::{InboundAh, OutboundAh};
use crate::capture::{self, Direction, Tap};
use crate::datapath::{frag, Action, Datapath, Deferred, Drop as DropCause, PuntKind, Staged, Tables};
use crate::dpdk::{Burst, Mbuf, RxQueue, TxQueue, MAX_BURST};
use crate::esp::{InboundSa, OutboundSa};
use crate::sa::LifetimeEvent;
use crate::wire::Spi;
/// The queue type of [`Channels`], re-exported so users need no crossbeam dependency of their own.
pub use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

pub mod handoff;
use handoff::{Handed, Handoff};

/// A change the control thread asks a worker to make.
pub enum Command {
    Tables(Arc<Tables>),
    InstallInbound(Arc<InboundSa>),
    RemoveInbound(Spi),
    InstallOutbound(u32, Arc<OutboundSa>),
    RemoveOutbound(u32),
    InstallInboundAh(Box<InboundAh>),
    RemoveInboundAh(Spi),
    InstallOutboundAh(u32, Arc<OutboundAh>),
    RemoveOutboundAh(u32),
}

/// What a worker hands back for the control thread to free (memory is released off the packet path), or to know.
pub enum Retired {
    Tables(Arc<Tables>),
    Inbound(Arc<InboundSa>),
    Outbound(Arc<OutboundSa>),
    InboundAh(Box<InboundAh>),
    OutboundAh(Arc<OutboundAh>),
    /// An inbound SA could not be installed (SAD full or duplicate SPI).
    InstallFailed(Spi),
}

/// A frame for the control thread, with where it came from and why.
pub struct Punted {
    pub port: u16,
    pub kind: PuntKind,
    pub mbuf: Mbuf,
}

/// A packet from the control thread.
pub struct Injected {
    /// The port a ready frame leaves by; ignored when `route` is set.
    pub port: u16,
    pub mbuf: Mbuf,
    /// The mbuf holds an IP packet (no Ethernet header) that goes through the pipeline's egress (route, crypto
    /// map, MTU, neighbor): packets held while IKE negotiated, released once the SA is in.
    pub route: bool,
}

/// The queues between one worker and the control thread, and the handoff inboxes it shares with the other workers.
#[derive(Clone)]
pub struct Channels {
    pub commands: Arc<ArrayQueue<Command>>,
    pub retired: Arc<ArrayQueue<Retired>>,
    pub punt: Arc<ArrayQueue<Punted>>,
    pub inject: Arc<ArrayQueue<Injected>>,
    /// SA lifetime events (soft: rekey; hard: the SA stopped) for the control thread.
    pub events: Arc<ArrayQueue<LifetimeEvent>>,
    /// Frames of one port copied for `espgate capture` (one tap shared by all workers).
    pub tap: Arc<Tap>,
    /// This worker's index among the workers (its inbox in `handoff`, and the rx/tx queue it polls).
    pub worker: usize,
    /// The inboxes of all workers, for frames of an inbound SA another worker owns.
    pub handoff: Arc<Handoff>,
}

impl Channels {
    /// The channels of a single worker (nothing is ever handed off).
    pub fn new(capacity: usize) -> Self {
        Self::with_shared(capacity, Arc::new(Tap::new(capacity)), 0, Arc::new(Handoff::new(1, 1)))
    }

    /// The channels of `workers` workers (at least one): each its own control queues, one tap and one set of
    /// handoff inboxes (`capacity` frames each) shared by all.
    pub fn for_workers(workers: usize, capacity: usize) -> Vec<Self> {
        let tap = Arc::new(Tap::new(capacity));
        let handoff = Arc::new(Handoff::new(workers, capacity));
        (0..workers.max(1)).map(|i| Self::with_shared(capacity, tap.clone(), i, handoff.clone())).collect()
    }

    fn with_shared(capacity: usize, tap: Arc<Tap>, worker: usize, handoff: Arc<Handoff>) -> Self {
        Self {
            commands: Arc::new(ArrayQueue::new(capacity)),
            retired: Arc::new(ArrayQueue::new(capacity)),
            punt: Arc::new(ArrayQueue::new(capacity)),
            inject: Arc::new(ArrayQueue::new(capacity)),
            events: Arc::new(ArrayQueue::new(capacity)),
            tap,
            worker,
            handoff,
        }
    }

    /// The number of workers sharing the handoff inboxes.
    pub fn workers(&self) -> usize {
        self.handoff.workers()
    }
}

/// A worker's counters: written by the worker only (plain load+store), read by anyone.
#[derive(Debug)]
pub struct WorkerStats {
    pub rx: AtomicU64,
    pub tx: AtomicU64,
    /// Frames the device would not take.
    pub tx_dropped: AtomicU64,
    pub punted: AtomicU64,
    /// Punts lost because the punt queue was full.
    pub punt_dropped: AtomicU64,
    pub injected: AtomicU64,
    /// Lifetime events lost because the event queue was full.
    pub events_lost: AtomicU64,
    /// Received frames of an inbound SA another worker owns, put on its inbox.
    pub handed_off: AtomicU64,
    /// Such frames lost because the owner's inbox was full.
    pub handoff_dropped: AtomicU64,
    /// Frames other workers handed to this one (processed here, not counted in `rx`).
    pub handoff_received: AtomicU64,
    /// Indexed by [`DropCause::index`].
    pub drops: [AtomicU64; DropCause::COUNT],
}

impl Default for WorkerStats {
    fn default() -> Self {
        Self {
            rx: AtomicU64::new(0),
            tx: AtomicU64::new(0),
            tx_dropped: AtomicU64::new(0),
            punted: AtomicU64::new(0),
            punt_dropped: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            events_lost: AtomicU64::new(0),
            handed_off: AtomicU64::new(0),
            handoff_dropped: AtomicU64::new(0),
            handoff_received: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl WorkerStats {
    /// Adds `other`'s counts to these (the control thread summing workers into a fresh `WorkerStats`).
    pub fn add(&self, other: &WorkerStats) {
        let pairs = [
            (&self.rx, &other.rx),
            (&self.tx, &other.tx),
            (&self.tx_dropped, &other.tx_dropped),
            (&self.punted, &other.punted),
            (&self.punt_dropped, &other.punt_dropped),
            (&self.injected, &other.injected),
            (&self.events_lost, &other.events_lost),
            (&self.handed_off, &other.handed_off),
            (&self.handoff_dropped, &other.handoff_dropped),
            (&self.handoff_received, &other.handoff_received),
        ];
        for (a, b) in pairs.into_iter().chain(self.drops.iter().zip(other.drops.iter())) {
            a.fetch_add(b.load(Relaxed), Relaxed);
        }
    }

    pub fn drop_count(&self, d: DropCause) -> u64 {
        self.drops[d.index()].load(Relaxed)
    }

    /// (name, count) of every non-zero drop reason.
    pub fn nonzero_drops(&self) -> Vec<(&'static str, u64)> {
        DropCause::all().map(|d| (d.name(), self.drop_count(d))).filter(|(_, n)| *n > 0).collect()
    }
}

fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// The queues one worker polls and sends on. `tx[i]` must be the tx queue of port `i` (ports are dense from 0).
/// With several workers, worker `w` ([`Channels::worker`]) takes queue `w` of every port.
pub struct WorkerQueues {
    pub rx: Vec<RxQueue>,
    pub tx: Vec<TxQueue>,
}

/// Runs the poll loop until `stop` is set. Returns the datapath (with its SAs) for a clean shutdown.
pub fn run(mut dp: Datapath, mut q: WorkerQueues, ch: Channels, stats: &WorkerStats, stop: &AtomicBool) -> Datapath {
    let mut rx = Burst::new();
    let mut out: Vec<Burst> = (0..q.tx.len()).map(|_| Burst::new()).collect();
    let mut staging = Staging::new();
    crate::dpdk::ipsec_mb::prepare_thread();
    while !stop.load(Relaxed) {
        // An empty ArrayQueue's pop costs a full fence; its is_empty is two plain loads. The loop polls these
        // queues on every pass and they are nearly always empty.
        if !ch.commands.is_empty() {
            apply_commands(&mut dp, &ch);
        }
        for _ in 0..MAX_BURST {
            if ch.inject.is_empty() {
                break;
            }
            let Some(mut inj) = ch.inject.pop() else { break };
            if inj.route {
                let action = dp.send_ip(&mut inj.mbuf);
                bump(&stats.injected, 1);
                Sink { out: &mut out, tx: &mut q.tx, stats, ch: &ch }.dispatch(inj.port, inj.mbuf, action);
                continue;
            }
            if let Some(b) = out.get_mut(usize::from(inj.port)) {
                if let Err(m) = b.push(inj.mbuf) {
                    drop(m);
                    bump(&stats.tx_dropped, 1);
                } else {
                    bump(&stats.injected, 1);
                }
            }
        }
        // Frames other workers handed over: they already waited a poll, so they go first.
        let mut handed = 0u64;
        if ch.handoff.pending(ch.worker) > 0 {
            let mut sink = Sink { out: &mut out, tx: &mut q.tx, stats, ch: &ch };
            for _ in 0..MAX_BURST {
                let Some(h) = ch.handoff.recv(ch.worker) else { break };
                handed += 1;
                stage_frame(&mut dp, &mut sink, &mut staging, h.port, h.mbuf);
            }
            staging.finish(&mut dp, &mut sink);
        }
        if handed > 0 {
            bump(&stats.handoff_received, handed);
            take_events(&mut dp, &ch, stats);
        }
        let workers = ch.handoff.workers();
        for rq in q.rx.iter_mut() {
            let n = rq.rx_burst(&mut rx);
            if n == 0 {
                continue;
            }
            bump(&stats.rx, n as u64);
            let port = rq.port_id();
            if dp.wants_warming() {
                dp.warm(port, rx.as_slice());
            }
            tap(&ch.tap, port, Direction::Received, &rx);
            let mut sink = Sink { out: &mut out, tx: &mut q.tx, stats, ch: &ch };
            for m in rx.drain() {
                if workers > 1 {
                    if let Some(spi) = handoff::ah_spi(m.data()) {
                        let to = handoff::owner(spi, workers);
                        if to != ch.worker {
                            let c = match ch.handoff.send(to, Handed { port, mbuf: m }) {
                                Ok(()) => &stats.handed_off,
                                Err(_) => &stats.handoff_dropped,
                            };
                            bump(c, 1);
                            continue;
                        }
                    }
                }
                stage_frame(&mut dp, &mut sink, &mut staging, port, m);
            }
            staging.finish(&mut dp, &mut sink);
            take_events(&mut dp, &ch, stats);
        }
        for (t, b) in q.tx.iter_mut().zip(out.iter_mut()) {
            if !b.is_empty() {
                flush(t, b, stats, &ch.tap);
            }
        }
    }
    dp
}

/// Runs the first pass of the pipeline over one received (or handed-over) frame. Every frame waits in `staging`
/// until the end of its burst, so frames leave in the order they came whether or not they needed crypto (a flow
/// whose large packets are fragmented and small ones are not must not be reordered).
fn stage_frame(dp: &mut Datapath, sink: &mut Sink<'_>, staging: &mut Staging, port: u16, mut m: Mbuf) {
    // The pipeline reads and writes one contiguous buffer; a chained frame's first segment alone is not the packet.
    if m.segments() != 1 {
        bump(&sink.stats.drops[DropCause::Chained.index()], 1);
        return;
    }
    if staging.pending.len() == staging.pending.capacity() {
        // Never reached with bursts of at most MAX_BURST; finishing early keeps the Vec from growing.
        staging.finish(dp, sink);
    }
    let (step, action) = match dp.process_staged(port, &mut m) {
        Staged::Done(action) => (None, action),
        Staged::Crypto(d) => (Some(d), Action::Drop(DropCause::NoOutboundSa)),
    };
    staging.pending.push(Pending { port, mbuf: Some(m), step, action });
}

/// The frames of a burst after the first pass, and the scratch space of the group calls: allocated once per
/// worker, sized for a burst, so the loop never allocates.
struct Staging {
    pending: Vec<Pending>,
    group: Vec<Mbuf>,
    members: Vec<usize>,
    out_ports: Vec<u16>,
    actions: Vec<Action>,
}

struct Pending {
    port: u16,
    mbuf: Option<Mbuf>,
    /// The crypto still to do; `None` once `action` is final.
    step: Option<Deferred>,
    action: Action,
}

impl Staging {
    fn new() -> Self {
        let n = crate::esp::MAX_BURST;
        Self {
            pending: Vec::with_capacity(n),
            group: Vec::with_capacity(n),
            members: Vec::with_capacity(n),
            out_ports: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
        }
    }

    /// Seals or opens the staged frames one SA at a time (in arrival order within an SA), then dispatches every
    /// frame of the burst in arrival order.
    fn finish(&mut self, dp: &mut Datapath, sink: &mut Sink<'_>) {
        for i in 0..self.pending.len() {
            let Some(key) = self.pending[i].step else { continue };
            self.group.clear();
            self.members.clear();
            self.out_ports.clear();
            for (j, p) in self.pending.iter_mut().enumerate().skip(i) {
                if !p.step.is_some_and(|s| s.same_group(&key)) {
                    continue;
                }
                if let Some(m) = p.mbuf.take() {
                    self.group.push(m);
                    self.members.push(j);
                    self.out_ports.push(match p.step {
                        Some(Deferred::Seal { port, .. }) => port,
                        _ => p.port,
                    });
                }
            }
            self.actions.clear();
            self.actions.resize(self.group.len(), Action::Drop(DropCause::NoOutboundSa));
            match key {
                Deferred::Seal { handle, .. } => {
                    dp.seal_group(handle, &mut self.group, &self.out_ports, &mut self.actions)
                }
                Deferred::Open { spi } => dp.open_group(spi, &mut self.group, &mut self.actions),
            }
            for ((m, &j), &action) in self.group.drain(..).zip(&self.members).zip(&self.actions) {
                let p = &mut self.pending[j];
                p.mbuf = Some(m);
                p.step = None;
                p.action = action;
            }
        }
        for p in self.pending.drain(..) {
            if let Some(m) = p.mbuf {
                complete(dp, sink, p.port, m, p.action);
            }
        }
    }
}

/// Dispatches a frame the pipeline is done with; an IPv4 packet too big for its path is fragmented first.
fn complete(dp: &mut Datapath, sink: &mut Sink<'_>, port: u16, m: Mbuf, action: Action) {
    if let Action::Fragment { max_len } = action {
        let ok = frag::fragment_v4(m.data(), usize::from(max_len), |h, d| {
            let Some(mut f) = m.alloc_like() else { return false };
            if !(f.extend_from_slice(h) && f.extend_from_slice(d)) {
                return false;
            }
            let a = dp.send_ip(&mut f);
            sink.dispatch(port, f, a);
            true
        });
        if ok.is_err() {
            bump(&sink.stats.drops[DropCause::Mtu.index()], 1);
        }
        return;
    }
    sink.dispatch(port, m, action);
}

fn take_events(dp: &mut Datapath, ch: &Channels, stats: &WorkerStats) {
    dp.take_events(|e| {
        if ch.events.push(e).is_err() {
            bump(&stats.events_lost, 1);
        }
    });
}

/// Copies the burst's frames to the tap when it is armed on `port`: one relaxed load otherwise.
#[inline]
fn tap(tap: &Tap, port: u16, direction: Direction, b: &Burst) {
    if tap.armed_on(port) {
        let now = capture::now_ns();
        for m in b.as_slice() {
            tap.record(direction, m.data(), now);
        }
    }
}

/// Where the frames of one rx burst go: a tx burst per port, the punt queue, or a drop counter.
struct Sink<'a> {
    out: &'a mut [Burst],
    tx: &'a mut [TxQueue],
    stats: &'a WorkerStats,
    ch: &'a Channels,
}

impl Sink<'_> {
    fn dispatch(&mut self, in_port: u16, m: Mbuf, action: Action) {
        match action {
            Action::Transmit { port } => {
                let (Some(b), Some(t)) = (self.out.get_mut(usize::from(port)), self.tx.get_mut(usize::from(port)))
                else {
                    bump(&self.stats.drops[DropCause::NoRoute.index()], 1);
                    return;
                };
                if b.is_full() {
                    flush(t, b, self.stats, &self.ch.tap);
                }
                // Cannot fail: the burst was just flushed if it was full.
                let _ = b.push(m);
            }
            Action::Punt(kind) => {
                if self.ch.punt.push(Punted { port: in_port, kind, mbuf: m }).is_ok() {
                    bump(&self.stats.punted, 1);
                } else {
                    bump(&self.stats.punt_dropped, 1);
                }
            }
            Action::Drop(cause) => bump(&self.stats.drops[cause.index()], 1),
            // Fragments are sent with send_ip, which never asks to fragment again (they fit by construction).
            Action::Fragment { .. } => bump(&self.stats.drops[DropCause::Mtu.index()], 1),
        }
    }
}

fn flush(t: &mut TxQueue, b: &mut Burst, stats: &WorkerStats, tap_: &Tap) {
    tap(tap_, t.port_id(), Direction::Sent, b);
    let (sent, lost) = t.tx_burst_or_drop(b);
    bump(&stats.tx, sent as u64);
    if lost > 0 {
        bump(&stats.tx_dropped, lost as u64);
    }
}

fn apply_commands(dp: &mut Datapath, ch: &Channels) {
    let workers = ch.handoff.workers();
    // A few per pass, so a burst of installs cannot starve the packets.
    for _ in 0..16 {
        let Some(c) = ch.commands.pop() else { return };
        let retired = match c {
            Command::Tables(t) => Some(Retired::Tables(dp.set_tables(t))),
            Command::InstallInboundAh(sa) if handoff::ah_owner(sa.params(), workers) != ch.worker => {
                Some(Retired::InstallFailed(sa.params().spi))
            }
            Command::InstallInbound(sa) => {
                let spi = sa.params().spi;
                dp.install_inbound(sa).err().map(|_| Retired::InstallFailed(spi))
            }
            Command::RemoveInbound(spi) => dp.remove_inbound(spi).map(Retired::Inbound),
            Command::InstallOutbound(h, sa) => dp.install_outbound(h, sa).map(Retired::Outbound),
            Command::RemoveOutbound(h) => dp.remove_outbound(h).map(Retired::Outbound),
            Command::InstallInboundAh(sa) => {
                let spi = sa.params().spi;
                dp.install_inbound_ah(sa).err().map(|_| Retired::InstallFailed(spi))
            }
            Command::RemoveInboundAh(spi) => dp.remove_inbound_ah(spi).map(Retired::InboundAh),
            Command::InstallOutboundAh(h, sa) => dp.install_outbound_ah(h, sa).map(Retired::OutboundAh),
            Command::RemoveOutboundAh(h) => dp.remove_outbound_ah(h).map(Retired::OutboundAh),
        };
        if let Some(r) = retired {
            // If the control thread is not collecting, freeing here is the lesser evil.
            let _ = ch.retired.push(r);
        }
    }
}
