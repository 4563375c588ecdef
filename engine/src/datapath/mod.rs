//! The per-packet pipeline of a worker, independent of DPDK: a received Ethernet frame in a [`PacketBuf`] goes in,
//! an [`Action`] comes out (transmit the rewritten frame on a port, punt it to the control thread, or drop it for a
//! counted reason).
//!
//! ```text
//! frame ─► Ethernet ─┬─ ARP ─────────────────────────────────────────────► punt
//!                    └─ IPv4/IPv6 ─┬─ to us: ESP / UDP-4500 ESP ─► SAD ─► unprotect ─► forward
//!                                  │         IKE (UDP 500, 4500 + non-ESP marker), keepalive, ICMP ─► punt
//!                                  └─ transit ─► forward
//! forward: TTL ─► route ─► egress SPD: protect (─► route to peer) / bypass / discard ─► MTU ─► neighbor ─► tx
//! ```
//!
//! Inbound SAs are owned by the worker (`&mut`, see [`crate::sa`]); outbound SAs are shared (`Arc`), their sequence
//! numbers atomic. The tables are an immutable snapshot the control side replaces whole.

mod drops;
pub mod ether;
pub mod frag;
pub mod icmp;
mod inbound;
pub mod policy;
pub mod ratelimit;
pub mod tables;

use crate::ah::{InboundAh, OutboundAh};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::esp::{InboundSa, OutboundSa};
use crate::sa::LifetimeEvent;
use crate::sad::Sad;
use crate::selector::FlowKey;
use crate::spd::{PolicyAction, Spd};
use crate::wire::{ipv4, ipv6, IpProtocol, Spi};
use core::net::IpAddr;
pub use drops::Drop;
use ether::EtherType;
use policy::{Decision, FragmentPolicies};
use ratelimit::TokenBucket;
use std::sync::Arc;
pub use tables::{IcmpLimit, Interface, Route, Routes, Tables};

pub const IKE_PORT: u16 = 500;
pub const NAT_T_PORT: u16 = 4500;

/// Why the control thread gets a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuntKind {
    Arp,
    /// ISAKMP on UDP 500, or on UDP 4500 behind the non-ESP marker.
    Ike,
    /// A NAT-T keepalive (one 0xFF byte on UDP 4500).
    NatKeepalive,
    /// ICMP or ICMPv6 to one of the gateway's addresses (echo, neighbor discovery, errors).
    Icmp,
    /// The next hop's MAC address is unknown: the control thread resolves it and sends the packet on.
    Resolve {
        port: u16,
        next_hop: IpAddr,
    },
    /// The packet (from its IP header) matches crypto map entry `handle`, which has no SA yet: the control thread
    /// starts IKE for it and holds or drops the packet. Rate-limited per worker ([`ACQUIRE_RATE`]); beyond the
    /// limit the packet is a `no-outbound-sa` drop.
    Acquire {
        handle: u32,
    },
}

/// What to do with a frame after [`Datapath::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The buffer holds the frame to send on `port`.
    Transmit {
        port: u16,
    },
    /// Hand the buffer, unchanged from reception unless `Resolve` (then it holds the IP packet), to the control thread.
    Punt(PuntKind),
    /// The buffer holds an IPv4 packet (DF clear, TTL already decremented) too big for its path: split it with
    /// [`frag::fragment_v4`] into fragments of at most `max_len` bytes and pass each to [`Datapath::send_ip`].
    Fragment {
        max_len: u16,
    },
    Drop(Drop),
}

/// The crypto step of a frame that [`Datapath::process_staged`] left for a group call, so the frames of one SA in
/// a burst are sealed or opened together (burst crypto: interleaved CBC, one sequence reservation, one lifetime
/// check per group instead of per packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferred {
    /// ESP (alone, no AH) with the outbound SA behind SPD handle `handle`, then out of `port`: finish with
    /// [`Datapath::seal_group`].
    Seal { handle: u32, port: u16 },
    /// ESP (not inside AH) for inbound SA `spi`: finish with [`Datapath::open_group`].
    Open { spi: Spi },
}

impl Deferred {
    /// Frames with the same key go through one group call.
    pub fn same_group(&self, other: &Deferred) -> bool {
        match (self, other) {
            (Deferred::Seal { handle: a, .. }, Deferred::Seal { handle: b, .. }) => a == b,
            (Deferred::Open { spi: a }, Deferred::Open { spi: b }) => a == b,
            _ => false,
        }
    }
}

/// What the first pass of [`Datapath::process_staged`] made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    Done(Action),
    /// Everything up to the crypto is done; the buffer waits for its group call.
    Crypto(Deferred),
}

/// One worker's pipeline state: its inbound SAs, the shared outbound SAs and the published tables.
pub struct Datapath {
    tables: Arc<Tables>,
    sas: Sas,
    /// Whether [`Self::warm`] pays: some SPD is larger than the caches keep hot.
    warm: bool,
}

/// SPD entries above which a burst's policy and SA lookups are warmed before its first pass ([`Datapath::warm`]).
/// Below, the tables stay in cache and warming would only repeat the lookups.
const WARM_MIN_ENTRIES: usize = 4096;

/// The SAs (kept apart from the tables so the packet path borrows both without touching the tables' refcount).
struct Sas {
    /// Shared with every other worker: any of them may open a packet of any SA (see [`InboundSa`]).
    inbound: Sad<Arc<InboundSa>>,
    /// Boxed: AH SAs are few, and the SAD's slots are sized for `max_inbound` of them.
    inbound_ah: Sad<Box<InboundAh>>,
    /// Indexed by the handle in `PolicyAction::Protect`: the ESP SA, the AH SA, or both (a bundle: ESP, then AH).
    outbound: Vec<Option<Arc<OutboundSa>>>,
    outbound_ah: Vec<Option<Arc<OutboundAh>>>,
    fragments: FragmentPolicies,
    icmp_bucket: TokenBucket,
    acquire_bucket: TokenBucket,
    /// The clock of the ICMP rate limit (read only when an error is due, which is rare).
    epoch: std::time::Instant,
    errors_sent: u64,
    log: EventLog,
    /// Set during [`Datapath::process_staged`]: ESP without AH is not sealed or opened on the spot but recorded in
    /// `deferred` (and the returned action ignored).
    defer: bool,
    deferred: Option<Deferred>,
}

/// Lifetime events raised since the worker last took them (each SA raises each kind once, so few).
struct EventLog {
    events: [Option<LifetimeEvent>; MAX_EVENTS],
    len: usize,
    lost: u64,
}

/// Lifetime events held between two [`Datapath::take_events`] calls.
const MAX_EVENTS: usize = 64;

/// Default ICMP error rate limit per worker: 100 per second, bursts of 50 (Linux allows about 1000/s per host;
/// a gateway answering for whole networks is more careful).
pub const ICMP_RATE: u32 = 100;
pub const ICMP_BURST: u32 = 50;
/// Packets per second a worker hands to the control thread as acquires (traffic on a crypto map entry with no
/// SA): enough to start negotiations and hold the first packets, not enough for cleartext floods to swamp the
/// control thread.
pub const ACQUIRE_RATE: u32 = 200;
pub const ACQUIRE_BURST: u32 = 64;

impl EventLog {
    fn note(&mut self, outcome: &crate::esp::BurstOutcome) {
        for e in outcome.events.iter() {
            if self.len < MAX_EVENTS {
                self.events[self.len] = Some(*e);
                self.len += 1;
            } else {
                self.lost += 1;
            }
        }
    }
}

impl core::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Datapath").field("inbound", &self.sas.inbound.len()).finish_non_exhaustive()
    }
}

impl Datapath {
    /// A pipeline with room for `max_inbound` inbound SAs.
    pub fn new(tables: Arc<Tables>, max_inbound: usize) -> Self {
        let limit = tables.icmp_limit;
        let sas = Sas {
            inbound: Sad::with_capacity(max_inbound),
            inbound_ah: Sad::with_capacity(max_inbound),
            outbound: Vec::new(),
            outbound_ah: Vec::new(),
            fragments: FragmentPolicies::default(),
            icmp_bucket: TokenBucket::new(limit.per_second, limit.burst),
            acquire_bucket: TokenBucket::new(ACQUIRE_RATE, ACQUIRE_BURST),
            epoch: std::time::Instant::now(),
            errors_sent: 0,
            log: EventLog { events: [None; MAX_EVENTS], len: 0, lost: 0 },
            defer: false,
            deferred: None,
        };
        let warm = wants_warming(&tables);
        Self { tables, sas, warm }
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// Replaces the tables (the old snapshot is returned so its memory is freed off the packet path).
    pub fn set_tables(&mut self, t: Arc<Tables>) -> Arc<Tables> {
        // Remembered fragment decisions name policies of the old tables.
        self.sas.fragments.clear();
        if t.icmp_limit != self.tables.icmp_limit {
            self.set_icmp_rate_limit(t.icmp_limit.per_second, t.icmp_limit.burst);
        }
        self.warm = wants_warming(&t);
        core::mem::replace(&mut self.tables, t)
    }

    /// Installs an inbound ESP SA (the same `Arc` goes to every worker).
    pub fn install_inbound(&mut self, sa: impl Into<Arc<InboundSa>>) -> Result<(), crate::sad::SadError> {
        let sa = sa.into();
        self.sas.inbound.insert(sa.params().spi, sa)
    }

    pub fn remove_inbound(&mut self, spi: Spi) -> Option<Arc<InboundSa>> {
        self.sas.inbound.remove(spi)
    }

    pub fn inbound(&self, spi: Spi) -> Option<&InboundSa> {
        self.sas.inbound.get(spi).map(|a| &**a)
    }

    /// Installs (or replaces) the outbound SA behind SPD handle `handle`; returns the one it replaced.
    pub fn install_outbound(&mut self, handle: u32, sa: Arc<OutboundSa>) -> Option<Arc<OutboundSa>> {
        let h = handle as usize;
        if self.sas.outbound.len() <= h {
            self.sas.outbound.resize(h + 1, None);
        }
        self.sas.outbound[h].replace(sa)
    }

    pub fn remove_outbound(&mut self, handle: u32) -> Option<Arc<OutboundSa>> {
        self.sas.outbound.get_mut(handle as usize).and_then(Option::take)
    }

    /// Installs an inbound AH SA (alone, or the AH of a bundle when its params name `bundle_esp`). Pass it boxed
    /// when installing on a worker, so the lcore does not allocate.
    pub fn install_inbound_ah(&mut self, sa: impl Into<Box<InboundAh>>) -> Result<(), crate::sad::SadError> {
        let sa = sa.into();
        self.sas.inbound_ah.insert(sa.params().spi, sa)
    }

    pub fn remove_inbound_ah(&mut self, spi: Spi) -> Option<Box<InboundAh>> {
        self.sas.inbound_ah.remove(spi)
    }

    pub fn inbound_ah(&self, spi: Spi) -> Option<&InboundAh> {
        self.sas.inbound_ah.get(spi).map(|b| &**b)
    }

    /// Installs (or replaces) the outbound AH SA behind SPD handle `handle`. With an ESP SA on the same handle the
    /// two form a bundle: ESP is applied first, then AH over the result (RFC 4301 §4.5).
    pub fn install_outbound_ah(&mut self, handle: u32, sa: Arc<OutboundAh>) -> Option<Arc<OutboundAh>> {
        let h = handle as usize;
        if self.sas.outbound_ah.len() <= h {
            self.sas.outbound_ah.resize(h + 1, None);
        }
        self.sas.outbound_ah[h].replace(sa)
    }

    pub fn remove_outbound_ah(&mut self, handle: u32) -> Option<Arc<OutboundAh>> {
        self.sas.outbound_ah.get_mut(handle as usize).and_then(Option::take)
    }

    /// Sets the ICMP error rate limit of this worker (errors per second, burst).
    pub fn set_icmp_rate_limit(&mut self, per_second: u32, burst: u32) {
        self.sas.icmp_bucket = TokenBucket::new(per_second, burst);
    }

    /// Whether [`Self::warm`] is worth calling before each burst (set from the tables' SPD sizes).
    pub fn wants_warming(&self) -> bool {
        self.warm || self.sas.inbound.len() > WARM_MIN_ENTRIES
    }

    /// Before a burst's first pass, with tens of thousands of SAs or more: reads, for every frame that will be
    /// protected, what its protection reads first: the SPD index slot, the outbound table slot, the SA, the SA's
    /// crypto handler and the start of its keys. The first pass then finds them in cache. Each of those is a cache
    /// miss at a million SAs, and each depends on the one before; taken one frame at a time they were most of a
    /// frame's cost. Here each level is one tight loop over the burst, so a level's misses are all in flight at
    /// once and the burst waits about once per level instead of once per level per frame.
    ///
    /// With as many inbound SAs, ESP addressed to the gateway is warmed the same way: the SAD's index entry, its
    /// slab slot, the SA, its replay window and counters, its crypto handler and keys.
    pub fn warm<B: PacketBuf>(&self, in_port: u16, bufs: &[B]) {
        const N: usize = crate::esp::MAX_BURST;
        let tables = &*self.tables;
        let inbound = self.sas.inbound.len() > WARM_MIN_ENTRIES;
        let mut keys: smallvec::SmallVec<[(FlowKey, &Spd); N]> = smallvec::SmallVec::new();
        let mut spis: smallvec::SmallVec<[Spi; N]> = smallvec::SmallVec::new();
        for b in bufs.iter().take(N) {
            let Some(pkt) = b.data().get(ether::HEADER_LEN..) else { continue };
            if inbound {
                if let Some(spi) = esp_spi(pkt).filter(|_| destination(pkt).is_some_and(|d| tables.is_local(d))) {
                    spis.push(spi);
                    continue;
                }
            }
            let Some(dst) = destination(pkt) else { continue };
            let Some((route, _)) = tables.routes.lookup(&dst) else { continue };
            if route.port == in_port {
                continue;
            }
            let spd = tables.interface(route.port).and_then(|i| i.policy).and_then(|p| tables.policies.get(p));
            if let (Some(spd), Some(key)) = (spd, FlowKey::from_ip(pkt)) {
                keys.push((key, spd));
            }
        }
        let mut touched = 0u64;
        for (key, spd) in &keys {
            touched ^= spd.touch(key);
        }
        let mut handles: smallvec::SmallVec<[u32; N]> = smallvec::SmallVec::new();
        for (key, spd) in &keys {
            if let Some((_, PolicyAction::Protect(h))) = spd.lookup_action(key) {
                handles.push(h);
            }
        }
        let mut sas: smallvec::SmallVec<[&OutboundSa; N]> = smallvec::SmallVec::new();
        for &h in &handles {
            // The AH table's slot too: protect reads it (an ESP+AH bundle) even when it is empty.
            touched ^= u64::from(self.sas.outbound_ah.get(h as usize).is_some_and(Option::is_some));
            if let Some(Some(sa)) = self.sas.outbound.get(h as usize) {
                sas.push(sa);
            }
        }
        for sa in &sas {
            touched ^= sa.touch();
        }
        for sa in &sas {
            touched ^= sa.touch_crypto();
        }
        for &spi in &spis {
            touched ^= self.sas.inbound.touch(spi);
        }
        let mut ins: smallvec::SmallVec<[&InboundSa; N]> = smallvec::SmallVec::new();
        for &spi in &spis {
            if let Some(sa) = self.sas.inbound.get(spi) {
                ins.push(sa);
            }
        }
        for sa in &ins {
            touched ^= sa.touch();
        }
        for sa in &ins {
            touched ^= sa.touch_window() ^ sa.touch_crypto();
        }
        std::hint::black_box(touched);
    }

    /// Runs one received frame through the pipeline.
    pub fn process<B: PacketBuf>(&mut self, in_port: u16, buf: &mut B) -> Action {
        self.sas.process(&self.tables, in_port, buf)
    }

    /// The first pass over a frame of a burst: like [`Self::process`], except that ESP sealing or opening (without
    /// AH) is left undone and returned as [`Staged::Crypto`]; the caller gathers a burst's frames with the same
    /// [`Deferred::same_group`] key and finishes them with [`Self::seal_group`] / [`Self::open_group`] before it
    /// applies any command (the SA must still be the one staged).
    pub fn process_staged<B: PacketBuf>(&mut self, in_port: u16, buf: &mut B) -> Staged {
        self.sas.defer = true;
        let action = self.sas.process(&self.tables, in_port, buf);
        self.sas.defer = false;
        match self.sas.deferred.take() {
            Some(d) => Staged::Crypto(d),
            None => Staged::Done(action),
        }
    }

    /// Seals a group of frames staged as [`Deferred::Seal`] with `handle`; `ports[i]` is frame `i`'s staged port.
    /// `actions[i]` receives what to do with `bufs[i]`. At most [`crate::esp::MAX_BURST`] frames.
    pub fn seal_group<B: PacketBuf>(&mut self, handle: u32, bufs: &mut [B], ports: &[u16], actions: &mut [Action]) {
        let tables = &*self.tables;
        let sas = &mut self.sas;
        let n = bufs.len().min(ports.len()).min(actions.len()).min(crate::esp::MAX_BURST);
        let Some(sa) = sas.outbound.get(handle as usize).and_then(Option::as_ref) else {
            actions[..n].fill(Action::Drop(Drop::NoOutboundSa));
            return;
        };
        let mut verdicts = [Ok(()); crate::esp::MAX_BURST];
        let outcome = sa.protect_burst(&mut bufs[..n], &mut verdicts[..n]);
        if !outcome.events.is_empty() {
            sas.log.note(&outcome);
        }
        // A group's frames go to one peer: its route and neighbor are looked up once.
        let mut hop = None;
        for i in 0..n {
            actions[i] = match verdicts[i] {
                Ok(()) => sas.emit_frame_inline(tables, &mut bufs[i], ports[i], &mut hop),
                Err(r) => Action::Drop(Drop::Ipsec(r)),
            };
        }
    }

    /// Opens a group of frames staged as [`Deferred::Open`] for `spi`, then forwards each inner packet.
    /// `actions[i]` receives what to do with `bufs[i]`. At most [`crate::esp::MAX_BURST`] frames.
    pub fn open_group<B: PacketBuf>(&mut self, spi: Spi, bufs: &mut [B], actions: &mut [Action]) {
        let tables = &*self.tables;
        let sas = &mut self.sas;
        let n = bufs.len().min(actions.len()).min(crate::esp::MAX_BURST);
        let Some(sa) = sas.inbound.get(spi) else {
            actions[..n].fill(Action::Drop(Drop::Ipsec(DropReason::NoSa)));
            return;
        };
        let mut verdicts = [Ok(()); crate::esp::MAX_BURST];
        let outcome = sa.unprotect_burst(&mut bufs[..n], &mut verdicts[..n]);
        if !outcome.events.is_empty() {
            sas.log.note(&outcome);
        }
        for i in 0..n {
            actions[i] = match verdicts[i] {
                // The inner packet continues as transit traffic (RFC 4301 §5.2 step 4).
                Ok(()) => sas.after_decap(tables, &mut bufs[i]),
                Err(r) => Action::Drop(Drop::Ipsec(r)),
            };
        }
    }

    /// Sends an IP packet whose TTL is already accounted for (fragments of a forwarded packet, packets the control
    /// thread originates): route, egress crypto map, MTU, neighbor, Ethernet header.
    pub fn send_ip<B: PacketBuf>(&mut self, buf: &mut B) -> Action {
        self.sas.route_out(&self.tables, buf, true)
    }

    /// ICMP "too big" errors this pipeline generated.
    pub fn errors_sent(&self) -> u64 {
        self.sas.errors_sent
    }

    /// Hands over the SA lifetime events raised since the last call (soft: rekey now; hard: the SA stopped).
    pub fn take_events(&mut self, mut f: impl FnMut(LifetimeEvent)) {
        let log = &mut self.sas.log;
        for e in log.events[..log.len].iter_mut() {
            if let Some(e) = e.take() {
                f(e);
            }
        }
        log.len = 0;
    }

    /// Events that did not fit between two [`Self::take_events`] calls.
    pub fn events_lost(&self) -> u64 {
        self.sas.log.lost
    }
}

impl Sas {
    fn process<B: PacketBuf>(&mut self, tables: &Tables, in_port: u16, buf: &mut B) -> Action {
        let Some(iface) = tables.interface(in_port) else {
            return Action::Drop(Drop::NotForUs);
        };
        let Some(eth) = ether::parse(buf.data()) else {
            return Action::Drop(Drop::Malformed);
        };
        if eth.dst != iface.mac && !eth.dst.is_multicast() {
            return Action::Drop(Drop::NotForUs);
        }
        match eth.ethertype {
            EtherType::ARP => return Action::Punt(PuntKind::Arp),
            EtherType::IPV4 | EtherType::IPV6 => {}
            _ => return Action::Drop(Drop::UnsupportedEtherType),
        }
        let Some(ip) = IpInfo::parse(&buf.data()[ether::HEADER_LEN..]) else {
            return Action::Drop(Drop::Malformed);
        };
        // RFC 1812 §5.2.2: a router discards IPv4 with a bad header checksum (checked here, once, on what arrives:
        // IpInfo is parsed again on the way out); IPv6 to us must walk.
        let ip_bytes = &buf.data()[ether::HEADER_LEN..];
        let v4_bad = ip.dst.is_ipv4() && !ipv4::Packet::new_unchecked(ip_bytes).verify_checksum();
        if v4_bad || (!ip.chain_ok && tables.is_local(ip.dst)) {
            return Action::Drop(Drop::Malformed);
        }
        let to_us = tables.is_local(ip.dst);
        // Cleartext the ingress crypto map protects should have arrived in ESP (RFC 4301 §5.2): transit traffic, and
        // traffic to the gateway's own addresses (a ping of the inside address from the remote protected network
        // must come through the tunnel), except what IPsec itself needs in clear: IKE, NAT-T and ESP/AH.
        let exempt = ip.dst_multicast || (to_us && carries_ipsec(&buf.data()[ether::HEADER_LEN..], &ip));
        if !exempt {
            if let Some(spd) = iface.policy.and_then(|p| tables.policies.get(p)) {
                if cleartext_on_protected(spd, &buf.data()[ether::HEADER_LEN..]) {
                    return Action::Drop(Drop::CleartextOnProtected);
                }
            }
        }
        if to_us {
            return self.local(tables, buf, &ip);
        }
        if ip.dst_multicast {
            // Neighbor Discovery and other link-local ICMPv6 goes to the control thread; other multicast and
            // broadcast is not forwarded.
            if ip.protocol == IpProtocol::ICMPV6 {
                return Action::Punt(PuntKind::Icmp);
            }
            return Action::Drop(Drop::LocalUnhandled);
        }
        if buf.adj(ether::HEADER_LEN).is_err() {
            return Action::Drop(Drop::Malformed);
        }
        self.forward(tables, buf)
    }

    /// A packet that came out of an inbound SA (the buffer holds it from its IP header): forwarded, unless it is
    /// addressed to the gateway itself. An echo request to one of our addresses (a ping of the inside address from
    /// across the tunnel) is answered, and the reply goes out through the SPD, so back through the tunnel; anything
    /// else to us is a counted drop (IKE, ARP and the rest reach the control thread in clear).
    fn after_decap<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B) -> Action {
        let Some(ip) = IpInfo::parse(buf.data()) else { return Action::Drop(Drop::Malformed) };
        if !tables.is_local(ip.dst) {
            return self.forward(tables, buf);
        }
        if icmp::echo_reply_in_place(buf) {
            return self.route_out(tables, buf, false);
        }
        Action::Drop(Drop::LocalUnhandled)
    }

    /// Forwards a received IP packet (the buffer's data starts at the IP header): TTL, then [`Self::send_ip`].
    fn forward<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B) -> Action {
        if !decrement_ttl_in_place(buf.data_mut()) {
            return Action::Drop(Drop::Ttl);
        }
        self.route_out(tables, buf, true)
    }

    /// `may_answer`: whether a too-big packet may be turned into an ICMP error (not when sending one already).
    fn route_out<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B, may_answer: bool) -> Action {
        let Some(ip) = IpInfo::parse(buf.data()) else { return Action::Drop(Drop::Malformed) };
        let Some((route, _)) = tables.routes.lookup(&ip.dst) else { return Action::Drop(Drop::NoRoute) };
        let mut port = route.port;
        let policy = tables.interface(port).and_then(|i| i.policy);
        if let Some((index, spd)) = policy.and_then(|p| tables.policies.get(p).map(|s| (p, s))) {
            match self.fragments.decide(index, spd, buf.data()) {
                Decision::Action(PolicyAction::Bypass) => {}
                Decision::Action(PolicyAction::Discard) => return Action::Drop(Drop::PolicyDiscard),
                Decision::UnknownFragment => return Action::Drop(Drop::FragmentPolicy),
                Decision::Action(PolicyAction::Protect(h)) => match self.protect(tables, buf, &ip, h, may_answer) {
                    Ok(p) => port = p,
                    Err(a) => return a,
                },
            }
        }
        let mtu = tables.interface(port).map_or(0, |i| usize::from(i.mtu));
        if buf.data_len() > mtu {
            return self.too_big(tables, buf, mtu, may_answer);
        }
        self.emit_frame(tables, buf, port)
    }

    /// Applies the outbound SA(s) behind SPD handle `h` (ESP, AH, or ESP then AH); returns the port to the peer.
    // Always inlined into its one caller, so its `Action` is not returned through memory (a store-forwarding stall).
    #[inline(always)]
    fn protect<B: PacketBuf>(
        &mut self,
        tables: &Tables,
        buf: &mut B,
        ip: &IpInfo,
        h: u32,
        may_answer: bool,
    ) -> Result<u16, Action> {
        let esp = self.outbound.get(h as usize).and_then(Option::as_ref);
        let ah = self.outbound_ah.get(h as usize).and_then(Option::as_ref);
        // The outermost tunnel decides where the packet goes: ESP's in a bundle (AH is then transport), else AH's.
        let mode = match (esp, ah) {
            (Some(e), _) => e.params().mode,
            (None, Some(a)) => a.params().mode,
            (None, None) => {
                let now_ms = self.epoch.elapsed().as_millis() as u64;
                return Err(if self.acquire_bucket.allow(now_ms) {
                    Action::Punt(PuntKind::Acquire { handle: h })
                } else {
                    Action::Drop(Drop::NoOutboundSa)
                });
            }
        };
        let peer = match mode {
            crate::sa::Mode::Tunnel { remote, .. } => remote,
            crate::sa::Mode::Transport => ip.dst,
        };
        let Some((r, _)) = tables.routes.lookup(&peer) else { return Err(Action::Drop(Drop::NoRoute)) };
        // The protected packet must fit the path to the peer.
        let mtu = tables.interface(r.port).map_or(0, |i| usize::from(i.mtu));
        let v6 = !ip.dst.is_ipv4();
        let encapsulated = |len: usize| {
            let (mut l, mut outer_v6) = (len, v6);
            if let Some(e) = esp {
                l = e.encapsulated_len(l, ip.header_len);
                if let crate::sa::Mode::Tunnel { local, .. } = e.params().mode {
                    outer_v6 = !local.is_ipv4();
                }
            }
            ah.map_or(l, |a| a.encapsulated_len(l, outer_v6))
        };
        if encapsulated(buf.data_len()) > mtu {
            let fits = largest_inner(encapsulated, mtu);
            return Err(self.too_big(tables, buf, fits, may_answer));
        }
        if esp.is_some() && ah.is_none() && self.defer {
            self.deferred = Some(Deferred::Seal { handle: h, port: r.port });
            // Ignored: process_staged returns the deferred step.
            return Err(Action::Drop(Drop::NoOutboundSa));
        }
        if let Some(sa) = esp {
            let (verdict, outcome) = sa.protect(buf);
            if !outcome.events.is_empty() {
                self.log.note(&outcome);
            }
            verdict.map_err(|r| Action::Drop(Drop::Ipsec(r)))?;
        }
        if let Some(sa) = ah {
            let (verdict, outcome) = sa.protect(buf);
            if !outcome.events.is_empty() {
                self.log.note(&outcome);
            }
            verdict.map_err(|r| Action::Drop(Drop::Ipsec(r)))?;
        }
        Ok(r.port)
    }

    /// A packet larger than `fits` bytes: fragment it (IPv4 without DF) or answer its sender with ICMP "too big".
    fn too_big<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B, fits: usize, may_answer: bool) -> Action {
        let d = buf.data();
        if d.first().map(|b| b >> 4) == Some(4) && d.len() > 7 && d[6] & 0x40 == 0 {
            return Action::Fragment { max_len: fits.min(usize::from(u16::MAX)) as u16 };
        }
        if !may_answer {
            return Action::Drop(Drop::Mtu);
        }
        // From our address on the port the error leaves by, of the sender's family.
        let Some(to) = icmp::error_destination(d) else { return Action::Drop(Drop::Mtu) };
        let Some((back, _)) = tables.routes.lookup(&to) else { return Action::Drop(Drop::Mtu) };
        let from = tables
            .interface(back.port)
            .and_then(|i| i.addresses.iter().find(|a| a.addr.is_ipv4() == to.is_ipv4()))
            .map(|a| a.addr);
        let mtu = fits.min(usize::from(u16::MAX)) as u16;
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        if from.is_some() && !self.icmp_bucket.allow(now_ms) {
            return Action::Drop(Drop::IcmpRateLimited);
        }
        match from {
            Some(from) if icmp::too_big_in_place(buf, from, mtu) => {
                self.errors_sent += 1;
                self.route_out(tables, buf, false)
            }
            _ => Action::Drop(Drop::Mtu),
        }
    }

    /// [`Self::emit_frame_inline`] for one frame, as a call (inlining it into `route_out` too made the decrypt
    /// path about 20 cycles a packet slower).
    #[inline(never)]
    fn emit_frame<B: PacketBuf>(&self, tables: &Tables, buf: &mut B, port: u16) -> Action {
        self.emit_frame_inline(tables, buf, port, &mut None)
    }

    /// Puts the Ethernet header on an IP packet for `port`. `hop` remembers the last destination's neighbor MAC, so
    /// a run of packets to one destination (a sealed group, all to its peer) costs one route and neighbor lookup.
    // Always inlined into the sealed group's loop: an `Action` is returned through memory, and reading it back
    // right after it was stored field by field stalled on store forwarding, once per sealed packet.
    #[inline(always)]
    fn emit_frame_inline<B: PacketBuf>(
        &self,
        tables: &Tables,
        buf: &mut B,
        port: u16,
        hop: &mut Option<(IpAddr, ether::MacAddr)>,
    ) -> Action {
        let Some(dst) = destination(buf.data()) else { return Action::Drop(Drop::Malformed) };
        let Some(out) = tables.interface(port) else { return Action::Drop(Drop::NoRoute) };
        if buf.data_len() > usize::from(out.mtu) {
            return Action::Drop(Drop::Mtu);
        }
        let mac = match *hop {
            Some((to, mac)) if to == dst => mac,
            _ => {
                let Some((_, next_hop)) = tables.routes.lookup(&dst) else { return Action::Drop(Drop::NoRoute) };
                let Some(mac) = tables.neighbor(next_hop) else {
                    return Action::Punt(PuntKind::Resolve { port, next_hop });
                };
                *hop = Some((dst, mac));
                mac
            }
        };
        if buf.prepend(ether::HEADER_LEN).is_err() {
            return Action::Drop(Drop::Ipsec(DropReason::NoRoom));
        }
        let et = if dst.is_ipv4() { EtherType::IPV4 } else { EtherType::IPV6 };
        ether::emit(buf.data_mut(), mac, out.mac, et);
        Action::Transmit { port }
    }
}

/// The largest inner packet length `l` with `encapsulated(l) <= mtu` (padding makes the relation a staircase).
fn largest_inner(encapsulated: impl Fn(usize) -> usize, mtu: usize) -> usize {
    let overhead = encapsulated(0);
    let mut l = mtu.saturating_sub(overhead);
    while l > 0 && encapsulated(l) > mtu {
        l -= 1;
    }
    while encapsulated(l + 1) <= mtu {
        l += 1;
    }
    l
}

/// The SPI of an ESP packet (`pkt` from its IP header), plain or in UDP 4500 (not behind the non-ESP marker).
fn esp_spi(pkt: &[u8]) -> Option<Spi> {
    let ip = IpInfo::parse(pkt)?;
    let hl = ip.header_len;
    let at = match ip.protocol {
        IpProtocol::ESP => hl,
        IpProtocol::UDP if pkt.get(hl + 2..hl + 4) == Some(&NAT_T_PORT.to_be_bytes()[..]) => hl + 8,
        _ => return None,
    };
    inbound::spi_at(pkt.get(at..)?).filter(|s| s.0 != 0)
}

fn wants_warming(t: &Tables) -> bool {
    t.policies.iter().any(|s| s.entries().len() > WARM_MIN_ENTRIES)
}

/// Whether the received IP packet `pkt` is one the ingress crypto map protects, seen from the other side: it matches a
/// protect entry with its source and destination swapped (the map is written for outbound traffic).
fn cleartext_on_protected(spd: &crate::spd::Spd, pkt: &[u8]) -> bool {
    let Some(k) = FlowKey::from_ip(pkt) else { return false };
    let reversed = FlowKey { src: k.dst, dst: k.src, src_port: k.dst_port, dst_port: k.src_port, ..k };
    let (reversed, ports_known) = match policy::v6_fragment_protocol(pkt) {
        Some(protocol) => (FlowKey { protocol, ..reversed }, false),
        None => (reversed, crate::sa::ports_known(pkt)),
    };
    policy::protects(spd, &reversed, ports_known)
}

/// IPsec's own traffic to the gateway, which no crypto map protects: ESP, AH, and UDP to the IKE and NAT-T ports.
fn carries_ipsec(pkt: &[u8], ip: &IpInfo) -> bool {
    match ip.protocol {
        IpProtocol::ESP | IpProtocol::AH => true,
        IpProtocol::UDP => pkt
            .get(ip.header_len + 2..ip.header_len + 4)
            .is_some_and(|d| matches!(u16::from_be_bytes([d[0], d[1]]), IKE_PORT | NAT_T_PORT)),
        _ => false,
    }
}

/// The destination address of an IP packet whose header the pipeline parsed or built (only its length is checked).
#[inline]
fn destination(p: &[u8]) -> Option<IpAddr> {
    match p.first()? >> 4 {
        4 => {
            let a: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(a))
        }
        6 => {
            let a: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(a))
        }
        _ => None,
    }
}

/// The few IP header fields the pipeline dispatches on.
#[derive(Debug, Clone, Copy)]
struct IpInfo {
    dst: IpAddr,
    protocol: IpProtocol,
    header_len: usize,
    /// Forwarded as is; to us, a fragment would need reassembly, which the fast path does not do.
    fragment: bool,
    /// Multicast, or IPv4 limited broadcast: never forwarded.
    dst_multicast: bool,
    /// IPv6: the extension header chain walks (truncated chains, Hop-by-Hop not first and Type 0 Routing headers
    /// with segments left do not). Transit IPv6 is forwarded either way, judged by its first header; what is
    /// addressed to the gateway must walk. Always true for IPv4.
    chain_ok: bool,
}

impl IpInfo {
    // Always inlined: returned through memory, its fields were written one by one and read back 16 bytes at a
    // time, a store-forwarding stall per call (three calls per forwarded packet).
    #[inline(always)]
    fn parse(p: &[u8]) -> Option<Self> {
        match p.first()? >> 4 {
            4 => {
                let v = ipv4::Packet::new_checked(p).ok()?;
                let dst = v.dst_addr();
                Some(Self {
                    dst: IpAddr::V4(dst),
                    protocol: v.protocol(),
                    header_len: v.header_len(),
                    fragment: v.is_fragment(),
                    dst_multicast: dst.is_multicast() || dst.is_broadcast(),
                    chain_ok: true,
                })
            }
            6 => {
                let v = ipv6::Packet::new_checked(p).ok()?;
                // ESP/AH (or UDP, ICMPv6) may follow extension headers; transit packets whose chain does not walk
                // are still forwarded, judged by the first header.
                let walked = v.find_upper_layer();
                let chain_ok = walked.is_ok();
                let (header_len, protocol, _) = walked.unwrap_or((ipv6::HEADER_LEN, v.next_header(), 6));
                let fragment = protocol == IpProtocol::IPV6_FRAGMENT;
                let dst = v.dst_addr();
                Some(Self {
                    dst: IpAddr::V6(dst),
                    protocol,
                    header_len,
                    fragment,
                    dst_multicast: dst.is_multicast(),
                    chain_ok,
                })
            }
            _ => None,
        }
    }
}

/// Decrements the IPv4 TTL (with an incremental checksum update) or the IPv6 hop limit; false if it is exhausted.
fn decrement_ttl_in_place(p: &mut [u8]) -> bool {
    match p.first().map(|b| b >> 4) {
        // Both callers parsed the header with IpInfo::parse just before, so it is not checked again here.
        Some(4) if p.len() >= ipv4::HEADER_LEN => {
            let mut v = ipv4::Packet::new_unchecked(&mut *p);
            if v.ttl() <= 1 {
                return false;
            }
            v.decrement_ttl();
            true
        }
        Some(6) if p.len() > 7 && p[7] > 1 => {
            p[7] -= 1;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ah;
