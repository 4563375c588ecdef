//! The control thread's side of N worker lcores: one [`Channels`] per worker, seen through the same field names the
//! daemon used with one worker (`commands.push`, `punt.pop`, `events.pop`, `retired.pop`, `inject.push`, `tap`).
//!
//! Commands are routed (see `engine::worker` for why): tables and outbound SA changes go to every worker (outbound
//! SAs are shared `Arc`s); an inbound SA install goes to its owner only (`spi % N`, a bundle's ESP SA with its AH
//! SA); an inbound SA removal goes to every worker (it names only the SPI, and only the owner holds it, so the others
//! do nothing). Punts, lifetime events and retired objects are drained from every worker; injected frames go to
//! worker 0. One capture tap is shared by all workers.
use engine::capture::Tap;
use engine::sa::LifetimeEvent;
use engine::worker::{handoff, ArrayQueue, Channels, Command, Injected, Punted, Retired, WorkerStats};
use std::sync::Arc;

/// All workers' queues, for the control thread.
pub(super) struct Workers {
    pub channels: Vec<Channels>,
    pub commands: Router,
    pub punt: FanIn<Punted>,
    pub events: FanIn<LifetimeEvent>,
    pub retired: FanIn<Retired>,
    /// Worker 0's: frames the control thread sends, and packets it releases.
    pub inject: Arc<ArrayQueue<Injected>>,
    pub tap: Arc<Tap>,
    pub stats: Vec<Arc<WorkerStats>>,
}

impl Workers {
    pub fn new(workers: usize, capacity: usize) -> Self {
        let channels = Channels::for_workers(workers, capacity);
        Self {
            commands: Router { queues: channels.iter().map(|c| c.commands.clone()).collect() },
            punt: FanIn::new(&channels, |c| c.punt.clone()),
            events: FanIn::new(&channels, |c| c.events.clone()),
            retired: FanIn::new(&channels, |c| c.retired.clone()),
            inject: channels[0].inject.clone(),
            tap: channels[0].tap.clone(),
            stats: (0..channels.len()).map(|_| Arc::new(WorkerStats::default())).collect(),
            channels,
        }
    }

    /// The counters of all workers added up.
    pub fn total(&self) -> WorkerStats {
        let t = WorkerStats::default();
        for s in &self.stats {
            t.add(s);
        }
        t
    }
}

/// Pops from every worker's queue of one kind.
pub(super) struct FanIn<T> {
    queues: Vec<Arc<ArrayQueue<T>>>,
}

impl<T> FanIn<T> {
    fn new(channels: &[Channels], queue: impl Fn(&Channels) -> Arc<ArrayQueue<T>>) -> Self {
        Self { queues: channels.iter().map(queue).collect() }
    }

    pub fn pop(&self) -> Option<T> {
        self.queues.iter().find_map(|q| q.pop())
    }
}

/// Sends each command to the worker(s) it concerns.
pub(super) struct Router {
    queues: Vec<Arc<ArrayQueue<Command>>>,
}

impl Router {
    /// Queues `c` for the worker(s) it concerns; gives it back if a queue was full (for a command sent to every
    /// worker, the workers whose queues had room still got it).
    pub fn push(&self, c: Command) -> Result<(), Command> {
        let n = self.queues.len();
        let one = |w: usize, c: Command| self.queues[w].push(c);
        let every = |make: &dyn Fn() -> Command| {
            let mut ok = true;
            for q in &self.queues {
                ok &= q.push(make()).is_ok();
            }
            ok
        };
        let sent = match &c {
            Command::InstallInbound(sa) => every(&|| Command::InstallInbound(sa.clone())),
            Command::InstallInboundAh(sa) => return one(handoff::ah_owner(sa.params(), n), c),
            Command::Tables(t) => every(&|| Command::Tables(t.clone())),
            Command::RemoveInbound(spi) => every(&|| Command::RemoveInbound(*spi)),
            Command::RemoveInboundAh(spi) => every(&|| Command::RemoveInboundAh(*spi)),
            Command::InstallOutbound(h, sa) => every(&|| Command::InstallOutbound(*h, sa.clone())),
            Command::RemoveOutbound(h) => every(&|| Command::RemoveOutbound(*h)),
            Command::InstallOutboundAh(h, sa) => every(&|| Command::InstallOutboundAh(*h, sa.clone())),
            Command::RemoveOutboundAh(h) => every(&|| Command::RemoveOutboundAh(*h)),
        };
        if sent {
            Ok(())
        } else {
            Err(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
    use engine::esp::InboundSa;
    use engine::sa::{Mode, SaParams};
    use engine::wire::Spi;

    fn inbound(spi: u32, bundle_ah: Option<u32>) -> Command {
        let mut p = SaParams::new(Spi(spi), Mode::Transport, E::AesCbc128, &[1; 16], I::HmacSha256_128, &[2; 32]);
        p.bundle_ah = bundle_ah.map(Spi);
        Command::InstallInbound(Arc::new(InboundSa::new(p).unwrap()))
    }

    fn queued(w: &Workers) -> Vec<usize> {
        w.channels.iter().map(|c| c.commands.len()).collect()
    }

    #[test]
    fn commands_reach_the_workers_they_concern() {
        let w = Workers::new(3, 4);
        assert!(w.commands.push(inbound(0x1001, None)).is_ok());
        assert_eq!(queued(&w), [1, 1, 1], "an inbound ESP SA goes to every worker (any of them may open it)");
        let ah = |spi| {
            let p = SaParams::new(Spi(spi), Mode::Transport, E::Null, &[], I::HmacSha1_96, &[3; 20]);
            Command::InstallInboundAh(Box::new(engine::ah::InboundAh::new(p).unwrap()))
        };
        assert!(w.commands.push(ah(0x3000)).is_ok());
        assert_eq!(queued(&w), [2, 1, 1], "an inbound AH SA goes to its owner only (0x3000 % 3 = 0)");
        let tables = engine::datapath::Tables::new(vec![], vec![], Default::default(), vec![]);
        assert!(w.commands.push(Command::Tables(Arc::new(tables))).is_ok());
        assert!(w.commands.push(Command::RemoveInbound(Spi(0x1001))).is_ok());
        assert_eq!(queued(&w), [4, 3, 3], "tables and removals go to every worker");
        // Worker 0's queue is full (4) now: the command comes back, workers 1 and 2 still got it.
        assert!(matches!(w.commands.push(Command::RemoveOutbound(8)), Err(Command::RemoveOutbound(8))));
        assert_eq!(queued(&w), [4, 4, 4]);
        assert!(matches!(w.commands.push(inbound(0x3000, None)), Err(Command::InstallInbound(_))));
    }

    #[test]
    fn queues_of_every_worker_are_drained_and_counters_summed() {
        let w = Workers::new(2, 4);
        assert!(Arc::ptr_eq(&w.channels[0].tap, &w.channels[1].tap), "one capture tap");
        assert!(Arc::ptr_eq(&w.inject, &w.channels[0].inject), "injected frames go to worker 0");
        for (i, c) in w.channels.iter().enumerate() {
            assert!(c.retired.push(Retired::InstallFailed(Spi(i as u32 + 1))).is_ok());
        }
        let mut got = Vec::new();
        while let Some(Retired::InstallFailed(spi)) = w.retired.pop() {
            got.push(spi.0);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        w.stats[0].rx.store(5, std::sync::atomic::Ordering::Relaxed);
        w.stats[1].rx.store(7, std::sync::atomic::Ordering::Relaxed);
        w.stats[1].drops[3].store(2, std::sync::atomic::Ordering::Relaxed);
        let t = w.total();
        assert_eq!(t.rx.load(std::sync::atomic::Ordering::Relaxed), 12);
        assert_eq!(t.drops[3].load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
