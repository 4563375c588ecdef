//! IKE in the daemon: the sans-IO endpoint of `control::ike` fed with the IKE datagrams the worker punts, its
//! datagrams sent back out through the ports, and what it negotiates installed in the worker (inbound SA before
//! outbound, the old pair removed a little after a rekey installed the new one). Negotiations start at start-up
//! (`initiate = "on-start"`), on traffic (acquires from the worker), for rekeys, and after a dead peer (DPD with
//! `on_dead = "restart"`). Also the state `show crypto isakmp sa` prints and `clear crypto ...` acts on.
mod dpd;
mod faults;
mod sas;
mod udp;

use anyhow::{bail, Result};
use control::config::{self, Config, Initiate};
use control::crypto::{IkeCipher, Secret};
use control::ike::{self, CryptoMapPolicy, Endpoint, Event, Phase1Proposal, SignatureAuth};
use control::isakmp::{AuthMethod, Cookie, GroupDescription, HashAlgorithm};
use control::pki::Credentials;
use engine::worker::Command;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use sas::Active;

/// The Quick Mode initiator switches its outbound traffic to a new SA this long after installing it, so the
/// responder (which installs its inbound SA when message 3 arrives) is ready: otherwise the first packets of a rekey
/// can reach the peer before its new SA and be lost.
const OUTBOUND_DELAY: Duration = Duration::from_millis(300);
/// A failed negotiation of an entry that must be up (on-start, or restarted after a dead peer) is tried again
/// after this long.
const RETRY: Duration = Duration::from_secs(10);
/// Packets held for an acquire are dropped if no SA came up in this time.
const HOLD_TIMEOUT: Duration = Duration::from_secs(15);
/// A negotiation that reported neither success nor failure (it always should) stops blocking new ones after this.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Held packets leave this long after their SA was installed, so the worker applies the install first.
const RELEASE_DELAY: Duration = Duration::from_millis(5);
/// An initiator starts a new ISAKMP SA at this fraction of the old one's lifetime when IPsec SAs use the peer.
const PHASE1_REKEY_AT: f32 = 0.9;

/// One ISAKMP SA, for `show crypto isakmp sa`.
pub struct Phase1View {
    pub conn_id: u32,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub icookie: Cookie,
    pub proposal: Phase1Proposal,
    pub nat: bool,
    pub initiator: bool,
    pub established: Instant,
    /// A newer ISAKMP SA with the peer was started before this one expires.
    rekeyed: bool,
}

/// What the daemon's IKE side did, for `show counters`.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct IkeStats {
    /// Packets the worker handed over because their crypto map entry had no SA.
    pub acquires: u64,
    pub held: u64,
    pub released: u64,
    /// Acquired packets not held (hold queue full, `acquire_hold = 0`, a manual entry), or held in vain.
    pub acquire_dropped: u64,
    pub negotiations_started: u64,
    pub dpd_probes: u64,
    pub dead_peers: u64,
    pub phase1_rekeys: u64,
    pub deletes_sent: u64,
}

/// What `drive` hands the daemon to send.
pub enum Out {
    /// An IKE datagram (an IP packet) for the neighbor and the ports.
    Ike(Vec<u8>),
    /// A held packet (an IP packet) to route through the worker's egress, now that its SA is in.
    Release(Vec<u8>),
}

pub struct Ike {
    ep: Endpoint,
    policies: Vec<CryptoMapPolicy>,
    /// Entries kept up whatever the traffic: on-start, and those restarted after a dead peer.
    keep_up: HashSet<u32>,
    replay_window: u32,
    hold_limit: usize,
    pub phase1: Vec<Phase1View>,
    pub active: Vec<Active>,
    retry_at: Option<Instant>,
    /// Outbound SAs waiting for OUTBOUND_DELAY: (when, SPD handle, SA).
    pending_outbound: Vec<(Instant, u32, sas::Outbound)>,
    /// The pair ([`Active::key`]) whose outbound SAs the worker has for each handle.
    outbound_in_use: HashMap<u32, u32>,
    /// Responder exchanges whose inbound SAs went in at message 2, by (initiator cookie, message ID).
    early: HashMap<(Cookie, u32), sas::EarlyInbound>,
    /// Quick Modes in flight by handle: (started, message ID once Quick Mode began).
    negotiating: HashMap<u32, (Instant, Option<u32>)>,
    /// Handles waiting for Phase 1 with their peer before Quick Mode can start.
    wanted: HashSet<u32>,
    /// Peers we started Main Mode with and have not heard the outcome of.
    connecting: HashMap<IpAddr, Instant>,
    /// Packets held per handle while it negotiates: (when, IP packet).
    held: HashMap<u32, Vec<(Instant, Vec<u8>)>>,
    release_at: Vec<(Instant, u32)>,
    dpd: dpd::Dpd,
    /// The chaos-test shim on IKE datagrams (in, out), when ESPGATE_IKE_FAULTS is set.
    faults: Option<(faults::Shim, faults::Shim)>,
    next_conn_id: u32,
    pub stats: IkeStats,
    /// Builds the ESP SAs on each entry's crypto backend (the daemon's, shared).
    crypto: std::sync::Arc<crate::run::crypto::CryptoFactory>,
}

fn proposal(p: &config::IsakmpPolicy, creds: Option<&Credentials>) -> Result<Phase1Proposal> {
    use config::{Auth, Hash, IsakmpEncryption as E};
    let cipher = match p.encryption {
        E::Des => IkeCipher::DesCbc,
        E::TripleDes => IkeCipher::TripleDesCbc,
        E::Aes128 => IkeCipher::Aes128Cbc,
        E::Aes192 => IkeCipher::Aes192Cbc,
        E::Aes256 => IkeCipher::Aes256Cbc,
    };
    let hash = match p.hash {
        Hash::Md5 => HashAlgorithm::MD5,
        Hash::Sha1 => HashAlgorithm::SHA1,
        Hash::Sha256 => HashAlgorithm::SHA2_256,
        Hash::Sha384 => HashAlgorithm::SHA2_384,
        Hash::Sha512 => HashAlgorithm::SHA2_512,
    };
    let auth = match (p.authentication, creds) {
        (Auth::PreShare, _) => AuthMethod::PRE_SHARED_KEY,
        (other, Some(c)) => match c.method_for(other) {
            Some(m) => m,
            None => bail!("isakmp_policy {}: authentication {other} does not fit the [pki] private key", p.priority),
        },
        (other, None) => bail!("isakmp_policy {}: authentication {other} needs a [pki] section", p.priority),
    };
    Ok(Phase1Proposal {
        cipher,
        hash,
        auth,
        group: GroupDescription::from(p.group.number()),
        lifetime_secs: p.lifetime,
    })
}

/// The config's `ipsec-isakmp` entries as Quick Mode policies, with the SPD handles the plan gave them.
fn policies_with(cfg: &Config, handles: &HashMap<(String, u32), u32>) -> Result<Vec<CryptoMapPolicy>> {
    let mut policies = ike::phase2_policies(cfg)?;
    for p in &mut policies {
        match handles.get(&(p.map.clone(), p.seq)) {
            Some(h) => p.handle = *h,
            None => bail!("crypto map {} {} has no SPD handle", p.map, p.seq),
        }
    }
    Ok(policies)
}

/// Phase 1 proposals in priority order and pre-shared keys by peer address (and the certificate credentials
/// the signature policies need).
#[allow(clippy::type_complexity)]
fn phase1_settings(
    cfg: &Config,
    policies: &[CryptoMapPolicy],
) -> Result<(Vec<Phase1Proposal>, Vec<(IpAddr, Secret)>, Option<Arc<Credentials>>)> {
    let mut ordered: Vec<&config::IsakmpPolicy> = cfg.isakmp_policies.iter().collect();
    ordered.sort_by_key(|p| p.priority);
    let creds = match &cfg.pki {
        Some(pki) if ordered.iter().any(|p| p.authentication != config::Auth::PreShare) => {
            Some(Arc::new(Credentials::from_config(pki)?))
        }
        _ => None,
    };
    let phase1 = ordered.into_iter().map(|p| proposal(p, creds.as_deref())).collect::<Result<Vec<_>>>()?;
    let mut keys = Vec::new();
    for p in policies.iter().map(|p| p.peer) {
        if let Some(k) = cfg.isakmp_key_for(p) {
            if !keys.iter().any(|(a, _)| *a == p) {
                keys.push((p, Secret::from_slice(k.key.as_bytes())));
            }
        }
    }
    Ok((phase1, keys, creds))
}

/// The entries negotiated at start and kept up (`initiate = "on-start"`).
fn keep_up(cfg: &Config, policies: &[CryptoMapPolicy]) -> HashSet<u32> {
    policies
        .iter()
        .filter(|p| {
            cfg.crypto_maps.iter().any(|m| {
                m.name == p.map
                    && m.seq == p.seq
                    && m.kind == config::CryptoMapKind::IpsecIsakmp
                    && m.initiate() == Initiate::OnStart
            })
        })
        .map(|p| p.handle)
        .collect()
}

impl Ike {
    /// The IKE endpoint on `local` (UDP 500, and 4500 after a NAT is found), for the config's `ipsec-isakmp` maps.
    /// `handles` are the SPD handles `control::plan` gave the crypto map entries, by name and seq.
    /// `crypto` builds the ESP SAs, each on the backend its entry asks for.
    pub fn new(
        cfg: &Config,
        local: IpAddr,
        handles: &HashMap<(String, u32), u32>,
        crypto: std::sync::Arc<crate::run::crypto::CryptoFactory>,
    ) -> Result<Option<Self>> {
        let policies = policies_with(cfg, handles)?;
        if policies.is_empty() {
            return Ok(None);
        }
        let (phase1, keys, creds) = phase1_settings(cfg, &policies)?;
        let config = ike::Config {
            policies: phase1,
            keys,
            retransmit_interval: Duration::from_secs(1),
            retransmit_tries: 5,
            max_half_open: 1024,
            aggressive_mode: cfg.isakmp.aggressive_mode,
            nat_traversal: cfg.isakmp.nat_t,
            nat_keepalive: Duration::from_secs(u64::from(cfg.isakmp.nat_keepalive)),
            max_new_per_source_per_sec: ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
            rate_limit_sources: ike::DEFAULT_RATE_LIMIT_SOURCES,
            max_message_size: ike::DEFAULT_MAX_MESSAGE_SIZE,
        };
        let local_sock = SocketAddr::new(local, 500);
        let mut ep = match creds {
            Some(c) => {
                let auth =
                    SignatureAuth::from_config(c, &cfg.isakmp.identity, local, Instant::now(), SystemTime::now());
                Endpoint::with_signature_auth(config, local_sock, auth)?
            }
            None => Endpoint::new(config, local_sock)?,
        };
        // The responder side checks a peer's proposals against these.
        ep.set_crypto_maps(policies.clone());
        // Aggressive Mode peers known by identity rather than address ([[isakmp_key]] identity = ...).
        ep.set_identity_keys(ike::identity_keys(cfg));
        ep.set_vendor_id_events(true);
        // The responder's inbound SAs go in at Quick Mode message 2 (see Event::Phase2InboundReady).
        ep.set_early_inbound(true);
        let keep_up = keep_up(cfg, &policies);
        Ok(Some(Self {
            ep,
            policies,
            keep_up,
            replay_window: cfg.engine.replay_window,
            hold_limit: cfg.isakmp.acquire_hold as usize,
            phase1: Vec::new(),
            active: Vec::new(),
            retry_at: Some(Instant::now()),
            pending_outbound: Vec::new(),
            outbound_in_use: HashMap::new(),
            early: HashMap::new(),
            negotiating: HashMap::new(),
            wanted: HashSet::new(),
            connecting: HashMap::new(),
            held: HashMap::new(),
            release_at: Vec::new(),
            dpd: dpd::Dpd::new(cfg.isakmp.dpd.clone()),
            faults: match std::env::var("ESPGATE_IKE_FAULTS") {
                Ok(spec) => {
                    let f = faults::Faults::parse(&spec).map_err(|e| anyhow::anyhow!("ESPGATE_IKE_FAULTS: {e}"))?;
                    tracing::warn!(target: "espgate", "IKE fault shim on (ESPGATE_IKE_FAULTS={spec}): for tests only");
                    Some((faults::Shim::new(f), faults::Shim::new(f.reseeded(0x5bd1_e995))))
                }
                Err(_) => None,
            },
            next_conn_id: 1001,
            stats: IkeStats::default(),
            crypto,
        }))
    }

    /// A punted IKE frame (Ethernet + IP + UDP to port 500 or 4500).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        match self.faults.as_mut() {
            Some((inbound, _)) => {
                for f in inbound.pass(now, frame.to_vec()) {
                    self.handle_one(now, &f);
                }
            }
            None => self.handle_one(now, frame),
        }
    }

    fn handle_one(&mut self, now: Instant, frame: &[u8]) {
        let Some((src, dst, payload)) = udp::parse_udp(frame) else { return };
        self.dpd.heard_from(src.ip(), now);
        self.initial_contact_for(src.ip());
        self.ep.handle(now, dst, src, payload);
    }

    /// IKE datagrams out (through the fault shim when it is on).
    fn transmit(&mut self, now: Instant, out: &mut dyn FnMut(Out)) {
        let mut packets = Vec::new();
        while let Some(t) = self.ep.poll_transmit() {
            if let Some(p) = udp::udp_packet(t.source, t.destination, &t.contents) {
                packets.push(p);
            }
        }
        if let Some((inbound, outbound)) = self.faults.as_mut() {
            let held_in = inbound.release(now);
            let mut passed = outbound.release(now);
            for p in packets {
                passed.extend(outbound.pass(now, p));
            }
            packets = passed;
            for f in held_in {
                self.handle_one(now, &f);
            }
        }
        for p in packets {
            out(Out::Ike(p));
        }
    }

    /// Runs timers and turns what the endpoint produced into datagrams to send and commands for the worker.
    pub fn drive(&mut self, now: Instant, out: &mut dyn FnMut(Out), command: &mut dyn FnMut(Command)) {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            let mut handles: Vec<u32> = self.keep_up.iter().copied().collect();
            handles.sort_unstable();
            for h in handles {
                if !self.has_current_sa(h) {
                    self.want_sa(now, h);
                }
            }
        }
        let due: Vec<(Instant, u32, sas::Outbound)> = {
            let (due, wait) = self.pending_outbound.drain(..).partition(|(t, _, _)| *t <= now);
            self.pending_outbound = wait;
            due
        };
        for (_, handle, sa) in due {
            self.outbound_in_use.insert(handle, sa.key());
            sa.install(handle, command);
            self.release_soon(now, handle);
        }
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        self.lifetimes(now, command);
        self.phase1_rekeys(now);
        self.run_dpd(now, command);
        self.negotiating.retain(|_, (t, _)| now.duration_since(*t) < NEGOTIATION_TIMEOUT);
        while let Some(ev) = self.ep.poll_event() {
            self.event(now, ev, command);
        }
        self.release_held(now, out);
        self.transmit(now, out);
    }

    fn event(&mut self, now: Instant, ev: Event, command: &mut dyn FnMut(Command)) {
        match ev {
            Event::Phase1Established { local, peer, initiator_cookie, initiator, proposal, nat, .. } => {
                tracing::info!(target: "espgate", "IKE: ISAKMP SA with {peer} established (initiator: {initiator})");
                self.phase1.push(Phase1View {
                    conn_id: self.next_conn_id,
                    local,
                    peer,
                    icookie: initiator_cookie,
                    proposal,
                    nat: nat.detected(),
                    initiator,
                    established: now,
                    rekeyed: false,
                });
                self.next_conn_id += 1;
                self.dpd.heard_from(peer.ip(), now);
                if initiator {
                    self.connecting.remove(&peer.ip());
                }
                // Quick Modes that waited for this peer's ISAKMP SA.
                let mut waiting: Vec<u32> = self
                    .wanted
                    .iter()
                    .copied()
                    .filter(|h| self.policy(*h).is_some_and(|p| p.peer == peer.ip()))
                    .collect();
                waiting.sort_unstable();
                for h in waiting {
                    self.wanted.remove(&h);
                    self.negotiating.remove(&h);
                    self.want_sa(now, h);
                }
            }
            Event::Phase1Failed { peer, error, .. } => {
                tracing::warn!(target: "espgate", "IKE: ISAKMP SA with {peer} failed: {error}");
                self.connecting.remove(&peer.ip());
                self.give_up_on(peer.ip());
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::Phase1Expired { peer, initiator_cookie } | Event::Phase1Deleted { peer, initiator_cookie, .. } => {
                tracing::info!(target: "espgate", "IKE: ISAKMP SA with {peer} gone");
                self.phase1.retain(|p| p.icookie != initiator_cookie);
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::Phase2InboundReady(sa) => self.install_early(&sa, command),
            Event::Phase2Established(sa) => {
                self.negotiating.remove(&sa.handle);
                self.install(now, &sa, command);
            }
            Event::Phase2Failed { peer, message_id, error, initiator_cookie } => {
                self.drop_early((initiator_cookie, message_id), command);
                tracing::warn!(target: "espgate", "IKE: Quick Mode with {peer} failed: {error}");
                let failed: Vec<u32> =
                    self.negotiating.iter().filter(|(_, (_, m))| *m == Some(message_id)).map(|(h, _)| *h).collect();
                for h in failed {
                    self.negotiating.remove(&h);
                    self.drop_held(h);
                }
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::Phase2Deleted { peer, spis, .. } => {
                // The peer deleted its inbound SAs: our outbound ones with those SPIs, and their pairs.
                let gone: Vec<u32> = spis
                    .iter()
                    .filter_map(|s| <[u8; 4]>::try_from(s.as_slice()).ok())
                    .map(u32::from_be_bytes)
                    .collect();
                for a in self.active.iter_mut().filter(|a| a.outbound_spis().any(|s| gone.contains(&s))) {
                    a.retire_now(now);
                    tracing::info!(target: "espgate", "IKE: {peer} deleted SA {}", a.describe());
                }
                self.retire(now, command);
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::VendorIds { peer, names, unknown, .. } => {
                tracing::info!(target: "espgate",
                    "IKE: {peer} sent Vendor IDs: {}{}",
                    if names.is_empty() { "(none known)".to_string() } else { names.join(", ") },
                    if unknown.is_empty() { String::new() } else { format!(" and {} unknown", unknown.len()) }
                );
            }
            Event::DpdAck { peer, sequence, .. } => self.dpd.acked(peer.ip(), sequence, now),
            Event::InitialContact { peer, initiator_cookie } => {
                // The peer restarted: the SAs it had with us before are gone on its side.
                let mut n = 0;
                for a in self.active.iter_mut().filter(|a| a.peer == peer.ip() && a.icookie != initiator_cookie) {
                    a.retire_now(now);
                    n += 1;
                }
                if n > 0 {
                    tracing::info!(target: "espgate", "IKE: {peer} sent INITIAL-CONTACT: {n} old IPsec SA pair(s) removed");
                }
                self.retire(now, command);
            }
            Event::Notification { peer, notify_type, protected, .. } => {
                tracing::info!(target: "espgate",
                    "IKE: {peer} sent {notify_type:?}{}",
                    if protected { "" } else { " (unauthenticated)" }
                );
            }
        }
    }

    /// INITIAL-CONTACT goes with a new ISAKMP SA only while we hold no IPsec SA with the peer: it tells the peer
    /// to drop everything it has with us, which must not happen on a Phase 1 rekey with traffic running.
    fn initial_contact_for(&mut self, peer: IpAddr) {
        let fresh = !self.active.iter().any(|a| a.peer == peer && !a.retiring());
        self.ep.set_initial_contact(fresh);
    }

    fn policy(&self, handle: u32) -> Option<&CryptoMapPolicy> {
        self.policies.iter().find(|p| p.handle == handle)
    }

    /// Whether the entry has an SA pair in use (not being retired).
    fn has_current_sa(&self, handle: u32) -> bool {
        self.active.iter().any(|a| a.handle == handle && !a.retiring())
    }

    /// The newest established ISAKMP SA with `peer`.
    fn phase1_with(&self, peer: IpAddr) -> Option<Cookie> {
        self.phase1.iter().filter(|p| p.peer.ip() == peer).max_by_key(|p| p.established).map(|p| p.icookie)
    }

    /// Negotiates an SA pair for entry `handle`: Quick Mode on the peer's ISAKMP SA, or Main Mode first.
    fn want_sa(&mut self, now: Instant, handle: u32) {
        if self.negotiating.contains_key(&handle) {
            return;
        }
        let Some(policy) = self.policy(handle).cloned() else { return };
        self.stats.negotiations_started += 1;
        if let Some(icookie) = self.phase1_with(policy.peer) {
            match self.ep.quick_mode(now, &icookie, &policy) {
                Ok(mid) => {
                    self.negotiating.insert(handle, (now, Some(mid)));
                    return;
                }
                // The ISAKMP SA cannot carry it (e.g. just expired): a new one is made below.
                Err(e) => tracing::info!(target: "espgate", "IKE: Quick Mode for {} {}: {e}", policy.map, policy.seq),
            }
        }
        self.wanted.insert(handle);
        self.negotiating.insert(handle, (now, None));
        if self.connecting.get(&policy.peer).is_none_or(|t| now.duration_since(*t) >= NEGOTIATION_TIMEOUT) {
            match self.start_main_mode(now, policy.peer) {
                Ok(()) => tracing::info!(target: "espgate", "IKE: Main Mode to {} started", policy.peer),
                Err(e) => {
                    tracing::warn!(target: "espgate", "IKE: cannot start Main Mode to {}: {e}", policy.peer);
                    self.give_up_on(policy.peer);
                }
            }
        }
    }

    /// Starts Main Mode with `peer` (INITIAL-CONTACT only on a first contact) and notes it as in progress.
    fn start_main_mode(&mut self, now: Instant, peer: IpAddr) -> Result<(), ike::IkeError> {
        self.initial_contact_for(peer);
        self.ep.connect(now, SocketAddr::new(peer, 500))?;
        self.connecting.insert(peer, now);
        Ok(())
    }

    /// Phase 1 with `peer` failed: what waited for it stops waiting; held packets are dropped.
    fn give_up_on(&mut self, peer: IpAddr) {
        let handles: Vec<u32> = self.policies.iter().filter(|p| p.peer == peer).map(|p| p.handle).collect();
        for h in handles {
            if self.wanted.remove(&h) {
                self.negotiating.remove(&h);
            }
            if !self.negotiating.contains_key(&h) {
                self.drop_held(h);
            }
        }
    }

    /// A packet the worker could not protect because entry `handle` has no SA (an IP packet): hold it, and
    /// negotiate.
    pub fn acquire(&mut self, now: Instant, handle: u32, packet: &[u8]) {
        self.stats.acquires += 1;
        if self.policy(handle).is_none() {
            // A manual entry whose SA is gone (hard lifetime): nothing to negotiate.
            self.stats.acquire_dropped += 1;
            return;
        }
        let held = self.held.entry(handle).or_default();
        if held.len() < self.hold_limit {
            held.push((now, packet.to_vec()));
            self.stats.held += 1;
        } else {
            self.stats.acquire_dropped += 1;
        }
        if self.pending_outbound.iter().any(|(_, h, _)| *h == handle) {
            // Its outbound SA goes in shortly, and the held packets with it.
        } else if self.has_current_sa(handle) {
            // The SA came up while the packet was on its way here.
            self.release_at.push((now + RELEASE_DELAY, handle));
        } else {
            if !self.negotiating.contains_key(&handle) {
                if let Some(p) = self.policy(handle) {
                    tracing::info!(target: "espgate", "IKE: traffic for {} {} starts negotiation with {}", p.map, p.seq, p.peer);
                }
            }
            self.want_sa(now, handle);
        }
    }

    /// Held packets of `handle` go once the worker has its outbound SA.
    fn release_soon(&mut self, now: Instant, handle: u32) {
        if self.held.contains_key(&handle) {
            self.release_at.push((now + RELEASE_DELAY, handle));
        }
    }

    fn drop_held(&mut self, handle: u32) {
        if let Some(h) = self.held.remove(&handle) {
            self.stats.acquire_dropped += h.len() as u64;
        }
    }

    /// Sends held packets whose SA is in; drops those held too long.
    fn release_held(&mut self, now: Instant, out: &mut dyn FnMut(Out)) {
        let due: Vec<u32> = self.release_at.iter().filter(|(t, _)| *t <= now).map(|(_, h)| *h).collect();
        self.release_at.retain(|(t, _)| *t > now);
        for h in due {
            for (_, p) in self.held.remove(&h).unwrap_or_default() {
                self.stats.released += 1;
                out(Out::Release(p));
            }
        }
        let mut expired = 0;
        for q in self.held.values_mut() {
            let before = q.len();
            q.retain(|(t, _)| now.duration_since(*t) < HOLD_TIMEOUT);
            expired += before - q.len();
        }
        self.held.retain(|_, q| !q.is_empty());
        self.stats.acquire_dropped += expired as u64;
    }

    /// Starts a new ISAKMP SA before an old one we initiated expires, while IPsec SAs with the peer need it (for
    /// rekeys and DPD). The old one lives on until its own end.
    fn phase1_rekeys(&mut self, now: Instant) {
        let mut peers = Vec::new();
        for p in self.phase1.iter_mut().filter(|p| p.initiator && !p.rekeyed) {
            let life = Duration::from_secs(u64::from(p.proposal.lifetime_secs));
            if now.duration_since(p.established) >= life.mul_f32(PHASE1_REKEY_AT) {
                p.rekeyed = true;
                peers.push(p.peer.ip());
            }
        }
        for peer in peers {
            let newer = self.phase1.iter().any(|p| p.peer.ip() == peer && !p.rekeyed);
            if newer || !self.active.iter().any(|a| a.peer == peer && !a.retiring()) {
                continue;
            }
            if self.start_main_mode(now, peer).is_ok() {
                self.stats.phase1_rekeys += 1;
                tracing::info!(target: "espgate", "IKE: rekeying the ISAKMP SA with {peer}");
            }
        }
    }

    /// The IKE endpoint, read-only (`show crypto keys` reads the ISAKMP SAs' keys from it).
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The crypto map entry (name, seq) an SPD handle belongs to.
    pub fn entry_of(&self, handle: u32) -> Option<(&str, u32)> {
        self.policy(handle).map(|p| (p.map.as_str(), p.seq))
    }

    /// `show crypto isakmp sa` as JSON.
    pub fn isakmp_json(&self, now: Instant) -> serde_json::Value {
        let list: Vec<_> = self
            .phase1
            .iter()
            .map(|p| {
                let left = Duration::from_secs(u64::from(p.proposal.lifetime_secs))
                    .saturating_sub(now.duration_since(p.established))
                    .as_secs();
                serde_json::json!({
                    "conn_id": p.conn_id, "local": p.local.ip().to_string(), "remote": p.peer.ip().to_string(),
                    "local_port": p.local.port(), "remote_port": p.peer.port(),
                    "state": "QM_IDLE", "status": "ACTIVE",
                    "encryption": crate::show::ios_isakmp_cipher(p.proposal.cipher),
                    "hash": crate::show::ios_isakmp_hash(p.proposal.hash),
                    "auth": match p.proposal.auth {
                        AuthMethod::PRE_SHARED_KEY => "psk",
                        AuthMethod::RSA_SIGNATURES => "rsig",
                        _ => "ecdsa",
                    },
                    "dh_group": u16::from(p.proposal.group),
                    "lifetime_seconds": left, "nat_t": p.nat,
                    "initiator": p.initiator,
                })
            })
            .collect();
        serde_json::json!({ "isakmp_sas": list })
    }

    /// The daemon's IKE counters and the endpoint's, for `show counters`.
    pub fn counters_json(&self) -> serde_json::Value {
        let e = self.ep.stats();
        serde_json::json!({
            "sa_manager": self.stats,
            "endpoint": {
                "malformed": e.malformed, "unsupported_exchange": e.unsupported_exchange, "unknown_sa": e.unknown_sa,
                "dropped_in_state": e.dropped_in_state, "duplicates": e.duplicates, "retransmits": e.retransmits,
                "half_open_limit": e.half_open_limit, "aggressive_refused": e.aggressive_refused,
                "not_ike": e.not_ike, "keepalives_received": e.keepalives_received,
                "keepalives_sent": e.keepalives_sent, "rate_limited": e.rate_limited, "oversized": e.oversized,
                "initial_contacts": e.initial_contacts,
            },
            "fault_shim": self.faults.as_ref().map(|(i, o)| serde_json::json!({
                "dropped": i.dropped + o.dropped, "duplicated": i.duplicated + o.duplicated,
                "reordered": i.reordered + o.reordered,
            })),
            "isakmp_sas": self.phase1.len(),
            "ipsec_sa_pairs": self.active.iter().filter(|a| !a.retiring()).count(),
        })
    }

    /// `clear crypto isakmp [CONN-ID]`: deletes ISAKMP SAs (Delete payloads to the peers); IPsec SAs stay, as on
    /// IOS. Returns how many went.
    pub fn clear_isakmp(&mut self, conn_id: Option<u32>) -> usize {
        let gone: Vec<Cookie> =
            self.phase1.iter().filter(|p| conn_id.is_none_or(|c| c == p.conn_id)).map(|p| p.icookie).collect();
        for c in &gone {
            if self.ep.delete(c).is_ok() {
                self.stats.deletes_sent += 1;
            }
        }
        // The endpoint reports Phase1Deleted; the views go now so `show` right after the clear agrees.
        self.phase1.retain(|p| !gone.contains(&p.icookie));
        gone.len()
    }

    /// A reloaded config: the SAs of `gone` handles (entries removed or changed) are deleted (Deletes to the peers),
    /// the Quick Mode policies, Phase 1 proposals and keys, DPD and hold settings are replaced; SAs of unchanged
    /// entries keep running. Certificate credentials are read at start only.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        cfg: &Config,
        handles: &HashMap<(String, u32), u32>,
        gone: &[u32],
        command: &mut dyn FnMut(Command),
    ) -> Result<()> {
        let policies = policies_with(cfg, handles)?;
        let (phase1, keys, _) = phase1_settings(cfg, &policies)?;
        self.clear_where(now, &mut |a| gone.contains(&a.handle), command);
        for h in gone {
            self.drop_held(*h);
            self.negotiating.remove(h);
            self.wanted.remove(h);
        }
        self.ep.set_phase1_config(phase1, keys, cfg.isakmp.aggressive_mode);
        self.ep.set_identity_keys(ike::identity_keys(cfg));
        self.ep.set_crypto_maps(policies.clone());
        // Entries restarted after a dead peer stay kept up if they still exist.
        let restarted: Vec<u32> =
            self.keep_up.iter().copied().filter(|h| policies.iter().any(|p| p.handle == *h)).collect();
        self.keep_up = keep_up(cfg, &policies);
        self.keep_up.extend(restarted);
        self.policies = policies;
        self.hold_limit = cfg.isakmp.acquire_hold as usize;
        self.dpd.set_config(cfg.isakmp.dpd.clone());
        self.retry_at = Some(now);
        Ok(())
    }

    /// After `clear crypto ...`: entries that must be up negotiate again soon (traffic re-triggers the others).
    pub fn after_clear(&mut self, now: Instant) {
        self.retry_at = Some(now + Duration::from_secs(1));
    }

    /// Deletes every SA on shutdown: IPsec Deletes, then ISAKMP Deletes, to the peers.
    pub fn shutdown(&mut self, now: Instant) {
        self.clear_ipsec(now, None, &mut |_| {});
        self.clear_isakmp(None);
    }

    /// Datagrams queued by `clear_*`/`shutdown` outside `drive`.
    pub fn flush(&mut self, out: &mut dyn FnMut(Out)) {
        self.transmit(Instant::now(), out);
    }
}
