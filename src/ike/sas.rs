//! The IPsec SA pairs IKE installed in the worker: install (inbound before outbound), rekey at 90% of the
//! lifetime, removal at 100%, on a peer's Delete, on `clear crypto sa`, and when a peer is dead.
use super::{Ike, OUTBOUND_DELAY};
use control::ike::Phase2Sa;
use control::isakmp::{Cookie, ProtocolId};
use engine::ah::{InboundAh, OutboundAh};
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::SaCounters;
use engine::wire::Spi;
use engine::worker::Command;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After a rekey, the old inbound SA keeps accepting packets in flight for this long.
const REKEY_GRACE: Duration = Duration::from_secs(10);

/// The ESP half of a pair.
pub struct EspPair {
    pub inbound: Spi,
    /// The inbound SA's parameters (keys included) as installed, for `show crypto keys` (the SA itself lives in
    /// the worker).
    #[allow(dead_code)]
    pub inbound_params: Arc<engine::sa::SaParams>,
    pub in_counters: Arc<SaCounters>,
    pub outbound: Arc<OutboundSa>,
}

/// The AH half of a pair (alone, or authenticating ESP in a bundle).
pub struct AhPair {
    pub inbound: Spi,
    pub in_counters: Arc<SaCounters>,
    #[allow(dead_code)]
    pub inbound_params: Arc<engine::sa::SaParams>,
    pub outbound: Arc<OutboundAh>,
}

/// One installed IPsec SA pair (ESP, AH or both) of a crypto map entry.
pub struct Active {
    pub handle: u32,
    pub peer: IpAddr,
    pub icookie: Cookie,
    pub esp: Option<EspPair>,
    pub ah: Option<AhPair>,
    pub installed: Instant,
    pub lifetime: Duration,
    rekeying: bool,
    /// Set once a newer pair took over the handle (or the pair was deleted): the inbound SAs go at this time.
    retire_at: Option<Instant>,
}

impl Active {
    pub fn retiring(&self) -> bool {
        self.retire_at.is_some()
    }

    pub(super) fn retire_now(&mut self, now: Instant) {
        self.retire_at = Some(now);
    }

    /// The SPIs the peer receives on (ours outbound).
    pub fn outbound_spis(&self) -> impl Iterator<Item = u32> + '_ {
        self.esp.iter().map(|e| e.outbound.params().spi.0).chain(self.ah.iter().map(|a| a.outbound.params().spi.0))
    }

    fn inbound_spis(&self) -> impl Iterator<Item = Spi> + '_ {
        self.esp.iter().map(|e| e.inbound).chain(self.ah.iter().map(|a| a.inbound))
    }

    pub(super) fn describe(&self) -> String {
        let mut d = Vec::new();
        if let Some(e) = &self.esp {
            d.push(format!("ESP in {} out {}", e.inbound, e.outbound.params().spi));
        }
        if let Some(a) = &self.ah {
            d.push(format!("AH in {} out {}", a.inbound, a.outbound.params().spi));
        }
        d.join(", ")
    }

    /// Bytes sent on the pair (its outermost protocol), for the volume lifetime.
    pub fn outbound_bytes(&self) -> u64 {
        match (&self.esp, &self.ah) {
            (Some(e), _) => e.outbound.counters().snapshot().bytes,
            (None, Some(a)) => a.outbound.counters().snapshot().bytes,
            (None, None) => 0,
        }
    }

    /// Packets received on the pair, for DPD's idea of a live peer.
    pub fn inbound_packets(&self) -> u64 {
        self.esp.as_ref().map_or(0, |e| e.in_counters.snapshot().packets)
    }
}

/// The outbound half of a new pair, installed at once or after OUTBOUND_DELAY.
pub(super) struct Outbound {
    esp: Option<Arc<OutboundSa>>,
    ah: Option<Arc<OutboundAh>>,
}

impl Outbound {
    pub(super) fn install(self, handle: u32, command: &mut dyn FnMut(Command)) {
        if let Some(sa) = self.esp {
            command(Command::InstallOutbound(handle, sa));
        }
        if let Some(sa) = self.ah {
            command(Command::InstallOutboundAh(handle, sa));
        }
    }
}

impl Ike {
    pub(super) fn install(&mut self, now: Instant, sa: &Phase2Sa, command: &mut dyn FnMut(Command)) {
        let (esp, ah) = sa.engine_sas(self.replay_window);
        let esp = match esp.map(|(i, o)| Ok::<_, engine::sa::SaError>((InboundSa::new(i)?, OutboundSa::new(o)?))) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                tracing::warn!(target: "espgate", "IKE: {} {}: cannot install ESP SA: {e}", sa.map, sa.seq);
                return;
            }
        };
        let ah = match ah.map(|(i, o)| Ok::<_, engine::sa::SaError>((InboundAh::new(i)?, OutboundAh::new(o)?))) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                tracing::warn!(target: "espgate", "IKE: {} {}: cannot install AH SA: {e}", sa.map, sa.seq);
                return;
            }
        };
        if esp.is_none() && ah.is_none() {
            return;
        }
        // Make before break: the inbound SAs are installed before the outbound ones start being used, and the
        // initiator gives the responder time to install its inbound SAs too.
        let esp = esp.map(|(i, o)| {
            let pair = EspPair {
                inbound: i.params().spi,
                inbound_params: Arc::new(i.params().clone()),
                in_counters: i.shared_counters(),
                outbound: Arc::new(o),
            };
            command(Command::InstallInbound(Box::new(i)));
            pair
        });
        let ah = ah.map(|(i, o)| {
            let pair = AhPair {
                inbound: i.params().spi,
                in_counters: i.shared_counters(),
                inbound_params: Arc::new(i.params().clone()),
                outbound: Arc::new(o),
            };
            command(Command::InstallInboundAh(Box::new(i)));
            pair
        });
        let outbound =
            Outbound { esp: esp.as_ref().map(|e| e.outbound.clone()), ah: ah.as_ref().map(|a| a.outbound.clone()) };
        // The initiator's outbound SA waits until the responder has surely installed its inbound one (it does when
        // Quick Mode message 3 arrives); traffic meanwhile goes on the older pair, or is held as an acquire.
        if sa.initiator {
            self.pending_outbound.push((now + OUTBOUND_DELAY, sa.handle, outbound));
        } else {
            outbound.install(sa.handle, command);
            self.release_soon(now, sa.handle);
        }
        for old in self.active.iter_mut().filter(|a| a.handle == sa.handle && a.retire_at.is_none()) {
            old.retire_at = Some(now + REKEY_GRACE);
        }
        let pair = Active {
            handle: sa.handle,
            peer: sa.peer.ip(),
            icookie: sa.initiator_cookie,
            esp,
            ah,
            installed: now,
            lifetime: Duration::from_secs(u64::from(sa.lifetime_secs)),
            rekeying: false,
            retire_at: None,
        };
        tracing::info!(
            target: "espgate",
            event = "ipsec_sa_up",
            crypto_map = %sa.map,
            seq = sa.seq,
            peer = %sa.peer,
            esp_in = ?pair.esp.as_ref().map(|e| e.inbound.0),
            esp_out = ?pair.esp.as_ref().map(|e| e.outbound.params().spi.0),
            ah_in = ?pair.ah.as_ref().map(|a| a.inbound.0),
            ah_out = ?pair.ah.as_ref().map(|a| a.outbound.params().spi.0),
            nat_t = sa.nat_t.is_some(),
            lifetime_secs = sa.lifetime_secs,
            "IKE: IPsec SA for {} {} with {} up: {}",
            sa.map,
            sa.seq,
            sa.peer,
            pair.describe()
        );
        self.active.push(pair);
    }

    /// A lifetime event from the worker (the volume limits, which only the data path can count): soft rekeys the
    /// pair, hard retires it (the SA already refuses packets).
    pub fn lifetime_event(&mut self, now: Instant, e: engine::sa::LifetimeEvent, command: &mut dyn FnMut(Command)) {
        use engine::sa::LifetimeEvent as L;
        let (spi, hard) = match e {
            L::Soft { spi, .. } => (spi, false),
            L::Hard { spi, .. } | L::SeqExhausted { spi } => (spi, true),
        };
        let Some(i) = self
            .active
            .iter()
            .position(|a| a.inbound_spis().any(|s| s == spi) || a.outbound_spis().any(|s| s == spi.0))
        else {
            return;
        };
        if hard {
            self.active[i].retire_at = Some(now);
            self.retire(now, command);
        } else {
            self.rekey(now, i);
        }
    }

    /// Starts Quick Mode for pair `i`'s crypto map entry, on the peer's newest ISAKMP SA or a new one.
    fn rekey(&mut self, now: Instant, i: usize) {
        let a = &self.active[i];
        if a.retire_at.is_some() || a.rekeying {
            return;
        }
        let handle = a.handle;
        self.active[i].rekeying = true;
        if let Some(p) = self.policy(handle) {
            tracing::info!(
                target: "espgate",
                event = "ipsec_rekey",
                crypto_map = %p.map,
                seq = p.seq,
                peer = %p.peer,
                "IKE: rekeying {} {} with {}",
                p.map,
                p.seq,
                p.peer
            );
        }
        self.want_sa(now, handle);
    }

    /// Rekeys at 90% of an SA's lifetime, removes it at 100%.
    pub(super) fn lifetimes(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
        for i in 0..self.active.len() {
            if now.duration_since(self.active[i].installed) >= self.active[i].lifetime.mul_f32(0.9) {
                self.rekey(now, i);
            }
        }
        for a in
            self.active.iter_mut().filter(|a| a.retire_at.is_none() && now.duration_since(a.installed) >= a.lifetime)
        {
            a.retire_at = Some(now);
        }
        self.retire(now, command);
    }

    /// Removes the pairs whose time is up: the outbound SAs only if no newer pair replaced them on the handle.
    pub(super) fn retire(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
        if !self.active.iter().any(|a| a.retire_at.is_some_and(|t| t <= now)) {
            return;
        }
        let handles_with_new: Vec<u32> =
            self.active.iter().filter(|a| a.retire_at.is_none()).map(|a| a.handle).collect();
        let mut released = Vec::new();
        self.active.retain(|a| {
            if a.retire_at.is_none_or(|t| t > now) {
                return true;
            }
            if let Some(e) = &a.esp {
                command(Command::RemoveInbound(e.inbound));
                released.push(e.inbound.0);
            }
            if let Some(h) = &a.ah {
                command(Command::RemoveInboundAh(h.inbound));
                released.push(h.inbound.0);
            }
            if !handles_with_new.contains(&a.handle) {
                if a.esp.is_some() {
                    command(Command::RemoveOutbound(a.handle));
                }
                if a.ah.is_some() {
                    command(Command::RemoveOutboundAh(a.handle));
                }
            }
            false
        });
        // The SPI may be handed out again by a later Quick Mode.
        for spi in released {
            self.ep.release_spi(spi);
        }
        // An outbound SA still waiting for its delay would outlive its pair.
        let live: Vec<u32> = self.active.iter().map(|a| a.handle).collect();
        self.pending_outbound.retain(|(_, h, _)| live.contains(h));
    }

    /// `clear crypto sa [peer ADDR]` (and shutdown, and a dead peer): removes the pairs now and tells the peers
    /// with Delete payloads on their newest ISAKMP SA. Returns how many pairs went.
    pub fn clear_ipsec(&mut self, now: Instant, peer: Option<IpAddr>, command: &mut dyn FnMut(Command)) -> usize {
        self.clear_where(now, &mut |a| peer.is_none_or(|p| p == a.peer), command)
    }

    /// Removes the pairs `which` picks now, with Deletes to their peers.
    pub(super) fn clear_where(
        &mut self,
        now: Instant,
        which: &mut dyn FnMut(&Active) -> bool,
        command: &mut dyn FnMut(Command),
    ) -> usize {
        let mut by_peer: Vec<(IpAddr, Vec<u32>, Vec<u32>)> = Vec::new();
        let mut n = 0;
        for a in self.active.iter_mut().filter(|a| which(a)) {
            a.retire_at = Some(now);
            n += 1;
            let i = match by_peer.iter().position(|(p, _, _)| *p == a.peer) {
                Some(i) => i,
                None => {
                    by_peer.push((a.peer, Vec::new(), Vec::new()));
                    by_peer.len() - 1
                }
            };
            by_peer[i].1.extend(a.esp.iter().map(|e| e.inbound.0));
            by_peer[i].2.extend(a.ah.iter().map(|h| h.inbound.0));
        }
        for (p, esp, ah) in by_peer {
            let Some(icookie) = self.phase1_with(p) else { continue };
            for (proto, spis) in [(ProtocolId::IPSEC_ESP, esp), (ProtocolId::IPSEC_AH, ah)] {
                if !spis.is_empty() && self.ep.delete_ipsec(&icookie, proto, &spis).is_ok() {
                    self.stats.deletes_sent += 1;
                }
            }
        }
        if n > 0 {
            tracing::info!(target: "espgate", event = "ipsec_sa_cleared", pairs = n, "IKE: {n} IPsec SA pair(s) removed");
        }
        self.retire(now, command);
        n
    }
}
