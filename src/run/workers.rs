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
            Command::InstallInbound(sa) => return one(handoff::esp_owner(sa.params(), n), c),
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
