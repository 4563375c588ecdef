//! Dead Peer Detection (RFC 3706) as the daemon runs it: a peer is alive while IKE messages or ESP packets come
//! from it. In `on-demand` mode (strongSwan's and IOS's default behaviour: probe only when idle) an R-U-THERE
//! goes out after `interval` seconds without hearing from the peer; in `periodic` mode every `interval` whatever
//! the traffic. An unanswered probe is repeated every `interval` with the next sequence number; after `retries`
//! unanswered probes the peer is dead: its SAs are removed and, with `on_dead = "restart"`, negotiated again.
use super::Ike;
use control::config::{DeadPeerAction, DpdMode};
use engine::worker::Command;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// DPD is checked this often (it works in whole seconds).
const CHECK: Duration = Duration::from_millis(200);

struct Peer {
    last_heard: Instant,
    /// Inbound packets on the peer's SAs at the last check: a change is traffic from the peer.
    inbound_packets: u64,
    last_probe: Option<Instant>,
    /// Sequence numbers of the probes of the current episode: [first, next).
    first_seq: u32,
    next_seq: u32,
    unanswered: u32,
}

impl Peer {
    /// The peer showed it is alive: a probe run in progress ends.
    fn alive(&mut self, now: Instant) {
        self.last_heard = now;
        self.unanswered = 0;
        self.first_seq = self.next_seq;
    }
}

pub struct Dpd {
    config: Option<control::config::Dpd>,
    peers: HashMap<IpAddr, Peer>,
    last_check: Option<Instant>,
    /// The sequence numbers start at a random point (RFC 3706 §7: makes forged ACKs harder).
    seed: u32,
}

impl Dpd {
    pub fn new(config: Option<control::config::Dpd>) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS's random source: enough for a starting point that is not guessable
        // off the wire.
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish() as u32;
        Self { config, peers: HashMap::new(), last_check: None, seed: seed & 0x7fff_ffff }
    }

    pub fn set_config(&mut self, config: Option<control::config::Dpd>) {
        if config.is_none() {
            self.peers.clear();
        }
        self.config = config;
    }

    fn peer(&mut self, peer: IpAddr, now: Instant) -> &mut Peer {
        let seed = self.seed;
        self.peers.entry(peer).or_insert(Peer {
            last_heard: now,
            inbound_packets: 0,
            last_probe: None,
            first_seq: seed,
            next_seq: seed,
            unanswered: 0,
        })
    }

    /// Any IKE message from the peer: it is alive (a peer busy retransmitting its own exchange may not answer
    /// probes, e.g. before its ISAKMP SA is complete), so a probe run in progress ends.
    pub fn heard_from(&mut self, peer: IpAddr, now: Instant) {
        if self.config.is_some() {
            self.peer(peer, now).alive(now);
        }
    }

    /// An R-U-THERE-ACK: alive if it answers a probe of the current episode.
    pub fn acked(&mut self, peer: IpAddr, sequence: u32, now: Instant) {
        if let Some(p) = self.peers.get_mut(&peer) {
            if sequence.wrapping_sub(p.first_seq) < p.next_seq.wrapping_sub(p.first_seq) {
                p.alive(now);
            }
        }
    }
}

impl Ike {
    /// Probes idle peers, declares dead those that do not answer.
    pub(super) fn run_dpd(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
        let Some(cfg) = self.dpd.config.clone() else { return };
        if self.dpd.last_check.is_some_and(|t| now.duration_since(t) < CHECK) {
            return;
        }
        self.dpd.last_check = Some(now);
        let interval = Duration::from_secs(u64::from(cfg.interval));
        let mut peers: Vec<IpAddr> = self.phase1.iter().map(|p| p.peer.ip()).collect();
        peers.extend(self.active.iter().filter(|a| !a.retiring()).map(|a| a.peer));
        peers.sort();
        peers.dedup();
        self.dpd.peers.retain(|p, _| peers.contains(p));
        let mut dead = Vec::new();
        let mut probe_by_main_mode = Vec::new();
        for peer in peers {
            let inbound: u64 = self.active.iter().filter(|a| a.peer == peer).map(|a| a.inbound_packets()).sum();
            let icookie = self.phase1_with(peer);
            let p = self.dpd.peer(peer, now);
            // Only growth is traffic: the sum also drops when a replaced pair is retired.
            let grew = inbound > p.inbound_packets;
            p.inbound_packets = inbound;
            if grew && cfg.mode == DpdMode::OnDemand {
                p.alive(now);
            }
            let since_probe = p.last_probe.map_or(Duration::MAX, |t| now.duration_since(t));
            if p.unanswered >= cfg.retries {
                if since_probe >= interval {
                    dead.push(peer);
                }
                continue;
            }
            let due = match (cfg.mode, p.unanswered) {
                (_, 1..) => since_probe >= interval,
                (DpdMode::OnDemand, 0) => now.duration_since(p.last_heard) >= interval,
                (DpdMode::Periodic, 0) => since_probe >= interval && now.duration_since(p.last_heard) >= interval,
            };
            if !due {
                continue;
            }
            p.unanswered += 1;
            p.last_probe = Some(now);
            match icookie {
                Some(icookie) => {
                    let seq = p.next_seq;
                    p.next_seq = p.next_seq.wrapping_add(1);
                    if self.ep.dpd_probe(&icookie, seq).is_ok() {
                        self.stats.dpd_probes += 1;
                    }
                }
                // IPsec SAs but no ISAKMP SA to probe on (it expired or was cleared): a new Main Mode is the probe;
                // its answer counts as hearing from the peer.
                None => probe_by_main_mode.push(peer),
            }
        }
        for peer in probe_by_main_mode {
            if !self.connecting.contains_key(&peer) && self.start_main_mode(now, peer).is_ok() {
                self.stats.dpd_probes += 1;
            }
        }
        for peer in dead {
            self.peer_dead(now, peer, cfg.retries, cfg.on_dead, command);
        }
    }

    fn peer_dead(
        &mut self,
        now: Instant,
        peer: IpAddr,
        probes: u32,
        action: DeadPeerAction,
        c: &mut dyn FnMut(Command),
    ) {
        self.stats.dead_peers += 1;
        tracing::warn!(target: "espgate", "IKE: peer {peer} is dead (DPD: {probes} R-U-THERE unanswered); deleting its SAs");
        self.dpd.peers.remove(&peer);
        let had: Vec<u32> = self.active.iter().filter(|a| a.peer == peer).map(|a| a.handle).collect();
        self.clear_ipsec(now, Some(peer), c);
        let gone: Vec<control::isakmp::Cookie> =
            self.phase1.iter().filter(|p| p.peer.ip() == peer).map(|p| p.icookie).collect();
        for icookie in &gone {
            let _ = self.ep.delete(icookie);
        }
        self.phase1.retain(|p| p.peer.ip() != peer);
        self.connecting.remove(&peer);
        self.give_up_on(peer);
        // Quick Modes in flight with the dead peer will not finish: a restart must not wait for them to time out.
        let handles: Vec<u32> = self.policies.iter().filter(|p| p.peer == peer).map(|p| p.handle).collect();
        self.negotiating.retain(|h, _| !handles.contains(h));
        if action == DeadPeerAction::Restart {
            for h in had {
                self.keep_up.insert(h);
            }
            self.retry_at = Some(now);
            tracing::warn!(target: "espgate", "IKE: negotiating with {peer} again (dpd on_dead = restart)");
        }
    }
}
