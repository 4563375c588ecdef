//! The IPsec SA pairs IKE installed in the worker: install (inbound before outbound), rekey at 90% of the
//! lifetime, removal at 100%, on a peer's Delete, on `clear crypto sa`, and when a peer is dead.
use super::{Ike, OUTBOUND_DELAY};
use control::ike::Phase2Sa;
use control::isakmp::{Cookie, ProtocolId};
use engine::ah::{InboundAh, OutboundAh};
use engine::esp::OutboundSa;
use engine::sa::SaCounters;
use engine::wire::Spi;
use engine::worker::Command;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After a rekey, the old inbound SA keeps accepting packets in flight for this long.
const REKEY_GRACE: Duration = Duration::from_secs(10);
/// A pair announced gone with a Delete keeps its inbound SAs this much longer, so what the peer sent on it before it
/// read the Delete still arrives.
const DELETE_GRACE: Duration = Duration::from_secs(2);
/// The responder of a pair rekeys on a soft volume limit only this long after it: the initiator, which usually
/// reaches it at the same time, goes first, and both sides rekeying at once would make two pairs.
const RESPONDER_REKEY_DELAY: Duration = Duration::from_secs(2);
/// Time-based rekey points: the initiator of a pair at 90% of its lifetime, the responder (if the initiator did
/// not) at 95%.
const REKEY_AT_INITIATOR: f32 = 0.90;
const REKEY_AT_RESPONDER: f32 = 0.95;

/// The ESP half of a pair.
pub struct EspPair {
    pub inbound: Spi,
    /// The inbound SA's parameters (keys included) as installed, for `show crypto keys` (the SA itself lives in
    /// the worker).
    pub inbound_params: Arc<engine::sa::SaParams>,
    pub in_counters: Arc<SaCounters>,
    pub outbound: Arc<OutboundSa>,
    /// The crypto backend each of the two SAs got, for `show`.
    pub backends: crate::show::EspBackends,
}

/// The AH half of a pair (alone, or authenticating ESP in a bundle).
pub struct AhPair {
    pub inbound: Spi,
    pub in_counters: Arc<SaCounters>,
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
    /// Tell the peer with a Delete when the pair goes (a replaced or expired pair; not one the peer deleted, nor one
    /// already announced by `clear_where`).
    delete_on_retire: bool,
    /// The Delete went; the pair goes at `retire_at`.
    announced: bool,
    /// We initiated the Quick Mode of this pair.
    initiator: bool,
    /// When the worker reported the soft volume limit (the responder waits before rekeying).
    soft_at: Option<Instant>,
}

impl Active {
    pub fn retiring(&self) -> bool {
        self.retire_at.is_some()
    }

    /// Removes the pair at the next `retire`, without a Delete (the peer deleted it, or forgot it).
    pub(super) fn retire_now(&mut self, now: Instant) {
        self.retire_at = Some(now);
        self.delete_on_retire = false;
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

impl Active {
    /// Identifies the pair among its handle's pairs: its first outbound SPI.
    pub(super) fn key(&self) -> u32 {
        self.outbound_spis().next().unwrap_or(0)
    }

    /// What a Delete for this pair names: (peer, protocol, our inbound SPI).
    fn deletes(&self) -> impl Iterator<Item = (IpAddr, ProtocolId, u32)> + '_ {
        let esp = self.esp.iter().map(|e| (self.peer, ProtocolId::IPSEC_ESP, e.inbound.0));
        esp.chain(self.ah.iter().map(|h| (self.peer, ProtocolId::IPSEC_AH, h.inbound.0)))
    }

    fn outbound(&self) -> Outbound {
        Outbound {
            esp: self.esp.as_ref().map(|e| e.outbound.clone()),
            ah: self.ah.as_ref().map(|a| a.outbound.clone()),
        }
    }
}

impl Outbound {
    /// The pair key ([`Active::key`]) of these SAs.
    pub(super) fn key(&self) -> u32 {
        self.esp.as_ref().map(|e| e.params().spi.0).or(self.ah.as_ref().map(|a| a.params().spi.0)).unwrap_or(0)
    }

    pub(super) fn install(self, handle: u32, command: &mut dyn FnMut(Command)) {
        if let Some(sa) = self.esp {
            command(Command::InstallOutbound(handle, sa));
        }
        if let Some(sa) = self.ah {
            command(Command::InstallOutboundAh(handle, sa));
        }
    }
}

/// Inbound SAs a Quick Mode responder installed at message 2, until message 3 (or the failure) comes.
pub(super) struct EarlyInbound {
    esp: Option<(Spi, Arc<SaCounters>, Arc<engine::sa::SaParams>, String)>,
    ah: Option<(Spi, Arc<SaCounters>)>,
}

impl Ike {
    /// The responder sent Quick Mode message 2: its inbound SAs go in now, so what the initiator sends right after
    /// message 3 is not lost while message 3 is on its way or being handled.
    pub(super) fn install_early(&mut self, sa: &Phase2Sa, command: &mut dyn FnMut(Command)) {
        let (esp, ah) = sa.engine_sas(self.replay_window);
        let choice = self.crypto.choice((&sa.map, sa.seq));
        let esp = esp.and_then(|(i, _)| self.crypto.inbound(choice, i).ok());
        let ah = ah.and_then(|(i, _)| InboundAh::new(i).ok());
        let early = EarlyInbound {
            esp: esp.as_ref().map(|i| {
                let p = i.sa.params();
                (p.spi, i.sa.shared_counters(), Arc::new(p.clone()), i.backend.clone())
            }),
            ah: ah.as_ref().map(|i| (i.params().spi, i.shared_counters())),
        };
        if let Some(i) = esp {
            command(Command::InstallInbound(Arc::new(i.sa)));
        }
        if let Some(i) = ah {
            command(Command::InstallInboundAh(Box::new(i)));
        }
        self.early.insert((sa.initiator_cookie, sa.message_id), early);
    }

    /// The exchange whose inbound SAs went in early failed: they go.
    pub(super) fn drop_early(&mut self, key: (control::isakmp::Cookie, u32), command: &mut dyn FnMut(Command)) {
        if let Some(e) = self.early.remove(&key) {
            if let Some((spi, _, _, _)) = e.esp {
                command(Command::RemoveInbound(spi));
            }
            if let Some((spi, _)) = e.ah {
                command(Command::RemoveInboundAh(spi));
            }
        }
    }

    pub(super) fn install(&mut self, now: Instant, sa: &Phase2Sa, command: &mut dyn FnMut(Command)) {
        if let Some(early) = self.early.remove(&(sa.initiator_cookie, sa.message_id)) {
            return self.install_after_early(now, sa, early, command);
        }
        let (esp, ah) = sa.engine_sas(self.replay_window);
        let choice = self.crypto.choice((&sa.map, sa.seq));
        let esp = match esp.map(|(i, o)| {
            Ok::<_, engine::sa::SaError>((self.crypto.inbound(choice, i)?, self.crypto.outbound(choice, o)?))
        }) {
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
                inbound: i.sa.params().spi,
                inbound_params: Arc::new(i.sa.params().clone()),
                in_counters: i.sa.shared_counters(),
                outbound: Arc::new(o.sa),
                backends: crate::show::EspBackends { inbound: i.backend, outbound: o.backend },
            };
            command(Command::InstallInbound(Arc::new(i.sa)));
            pair
        });
        let ah = ah.map(|(i, o)| {
            let pair = AhPair { inbound: i.params().spi, in_counters: i.shared_counters(), outbound: Arc::new(o) };
            command(Command::InstallInboundAh(Box::new(i)));
            pair
        });
        self.record(now, sa, esp, ah, command);
    }

    /// The outbound half of a new pair (at once, or after OUTBOUND_DELAY for the initiator), the old pairs of the
    /// handle set to retire, the pair kept.
    fn record(
        &mut self,
        now: Instant,
        sa: &Phase2Sa,
        esp: Option<EspPair>,
        ah: Option<AhPair>,
        command: &mut dyn FnMut(Command),
    ) {
        if esp.is_none() && ah.is_none() {
            return;
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
            delete_on_retire: false,
            announced: false,
            initiator: sa.initiator,
            soft_at: None,
        };
        let outbound = pair.outbound();
        // The initiator's outbound SA waits until the responder has surely installed its inbound one (it does when
        // Quick Mode message 3 arrives); traffic meanwhile goes on the older pair, or is held as an acquire.
        if sa.initiator {
            self.pending_outbound.push((now + OUTBOUND_DELAY, sa.handle, outbound));
        } else {
            self.outbound_in_use.insert(sa.handle, outbound.key());
            outbound.install(sa.handle, command);
            self.release_soon(now, sa.handle);
        }
        for old in self.active.iter_mut().filter(|a| a.handle == sa.handle && a.retire_at.is_none()) {
            old.retire_at = Some(now + REKEY_GRACE);
            old.delete_on_retire = true;
        }
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

    /// Message 3 arrived for an exchange whose inbound SAs are in: the outbound ones follow (the responder's go in
    /// at once), and the pair is recorded with the early inbound SAs' counters.
    fn install_after_early(
        &mut self,
        now: Instant,
        sa: &Phase2Sa,
        early: EarlyInbound,
        command: &mut dyn FnMut(Command),
    ) {
        let (esp, ah) = sa.engine_sas(self.replay_window);
        let choice = self.crypto.choice((&sa.map, sa.seq));
        let esp_out = esp.and_then(|(_, o)| self.crypto.outbound(choice, o).ok());
        let ah_out = ah.and_then(|(_, o)| OutboundAh::new(o).ok()).map(Arc::new);
        let esp = match (early.esp, esp_out) {
            (Some((inbound, in_counters, inbound_params, in_backend)), Some(o)) => Some(EspPair {
                inbound,
                inbound_params,
                in_counters,
                outbound: Arc::new(o.sa),
                backends: crate::show::EspBackends { inbound: in_backend, outbound: o.backend },
            }),
            _ => None,
        };
        let ah = match (early.ah, ah_out) {
            (Some((inbound, in_counters)), Some(outbound)) => Some(AhPair { inbound, in_counters, outbound }),
            _ => None,
        };
        self.record(now, sa, esp, ah, command);
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
            self.active[i].delete_on_retire = true;
            self.retire(now, command);
        } else if self.active[i].initiator {
            self.rekey(now, i);
        } else {
            self.active[i].soft_at.get_or_insert(now);
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

    /// Rekeys at 90% (initiator) or 95% (responder) of an SA's lifetime, or a while after the responder saw the soft
    /// volume limit; removes it at 100%.
    pub(super) fn lifetimes(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
        for i in 0..self.active.len() {
            let a = &self.active[i];
            let at = if a.initiator { REKEY_AT_INITIATOR } else { REKEY_AT_RESPONDER };
            let by_time = now.duration_since(a.installed) >= a.lifetime.mul_f32(at);
            let by_volume = a.soft_at.is_some_and(|t| now.duration_since(t) >= RESPONDER_REKEY_DELAY);
            if by_time || by_volume {
                self.rekey(now, i);
            }
        }
        for a in
            self.active.iter_mut().filter(|a| a.retire_at.is_none() && now.duration_since(a.installed) >= a.lifetime)
        {
            a.retire_at = Some(now);
            a.delete_on_retire = true;
        }
        self.retire(now, command);
    }

    /// Removes the pairs whose time is up. A pair that should be announced first gets its Delete now and goes
    /// DELETE_GRACE later. When the pair whose outbound SAs the worker uses goes, the newest remaining pair of the
    /// handle takes over, or the outbound SAs are removed.
    pub(super) fn retire(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
        if !self.active.iter().any(|a| a.retire_at.is_some_and(|t| t <= now)) {
            return;
        }
        // The peer learns that replaced or expired pairs are going, and stops sending on them.
        let mut announce: Vec<(IpAddr, ProtocolId, u32)> = Vec::new();
        for a in self.active.iter_mut().filter(|a| a.retire_at.is_some_and(|t| t <= now)) {
            if a.delete_on_retire && !a.announced {
                announce.extend(a.deletes());
                a.announced = true;
                a.retire_at = Some(now + DELETE_GRACE);
            }
        }
        self.send_deletes(announce);
        let mut released = Vec::new();
        let mut gone: Vec<(u32, u32)> = Vec::new();
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
            gone.push((a.handle, a.key()));
            false
        });
        for (handle, key) in gone {
            if self.outbound_in_use.get(&handle) != Some(&key) {
                continue;
            }
            // Prefer a pair still in use over one being retired, then the newest.
            let next = self
                .active
                .iter()
                .filter(|a| a.handle == handle)
                .max_by_key(|a| (a.retire_at.is_none(), a.installed))
                .map(|a| (a.key(), a.outbound()));
            match next {
                Some((k, out)) => {
                    self.outbound_in_use.insert(handle, k);
                    out.install(handle, command);
                }
                None => {
                    self.outbound_in_use.remove(&handle);
                    command(Command::RemoveOutbound(handle));
                    command(Command::RemoveOutboundAh(handle));
                }
            }
        }
        // The SPI may be handed out again by a later Quick Mode.
        for spi in released {
            self.ep.release_spi(spi);
        }
        // An outbound SA still waiting for its delay would outlive its pair.
        let live: Vec<u32> = self.active.iter().map(|a| a.key()).collect();
        self.pending_outbound.retain(|(_, _, o)| live.contains(&o.key()));
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
        let mut announce = Vec::new();
        let mut n = 0;
        for a in self.active.iter_mut().filter(|a| which(a)) {
            a.retire_at = Some(now);
            // Announced here, so `retire` removes it at once.
            a.delete_on_retire = false;
            n += 1;
            announce.extend(a.deletes());
        }
        self.send_deletes(announce);
        if n > 0 {
            tracing::info!(target: "espgate", event = "ipsec_sa_cleared", pairs = n, "IKE: {n} IPsec SA pair(s) removed");
        }
        self.retire(now, command);
        n
    }

    /// Delete payloads for these SAs: one message per peer and protocol, on the peer's newest ISAKMP SA (none
    /// without one).
    fn send_deletes(&mut self, mut list: Vec<(IpAddr, ProtocolId, u32)>) {
        list.sort_by_key(|(peer, proto, _)| (*peer, proto.0));
        for group in list.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (peer, proto) = (group[0].0, group[0].1);
            let spis: Vec<u32> = group.iter().map(|g| g.2).collect();
            let Some(icookie) = self.phase1_with(peer) else { continue };
            if self.ep.delete_ipsec(&icookie, proto, &spis).is_ok() {
                self.stats.deletes_sent += 1;
            }
        }
    }
}
