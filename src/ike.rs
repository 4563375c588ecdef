//! IKE in the daemon: the sans-IO endpoint of `control::ike` fed with the IKE datagrams the worker punts, its
//! datagrams sent back out through the ports, and what it negotiates installed in the worker (inbound SA before
//! outbound, the old pair removed a little after a rekey installed the new one). Also the state `show crypto isakmp
//! sa` prints.
use anyhow::{bail, Result};
use control::config::{self, Config, Initiate};
use control::crypto::{IkeCipher, Secret};
use control::ike::{self, CryptoMapPolicy, Endpoint, Event, Phase1Proposal, Phase2Sa, SignatureAuth};
use control::isakmp::{AuthMethod, Cookie, GroupDescription, HashAlgorithm};
use control::pki::Credentials;
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::SaCounters;
use engine::wire::Spi;
use engine::worker::Command;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// After a rekey, the old inbound SA keeps accepting packets in flight for this long.
const REKEY_GRACE: Duration = Duration::from_secs(10);
/// The Quick Mode initiator switches its outbound traffic to a new SA this long after installing it, so the
/// responder (which installs its inbound SA when message 3 arrives) is ready: otherwise the first packets of a rekey
/// can reach the peer before its new SA and be lost.
const OUTBOUND_DELAY: Duration = Duration::from_millis(300);
/// A failed on-start negotiation is tried again after this long.
const RETRY: Duration = Duration::from_secs(10);

/// One ISAKMP SA, for `show crypto isakmp sa`.
pub struct Phase1View {
    pub conn_id: u32,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub icookie: Cookie,
    pub proposal: Phase1Proposal,
    pub nat: bool,
    pub established: Instant,
}

/// One installed IPsec SA pair.
pub struct Active {
    pub handle: u32,
    pub peer: IpAddr,
    pub icookie: Cookie,
    pub inbound: Spi,
    pub outbound: Arc<OutboundSa>,
    pub in_counters: Arc<SaCounters>,
    pub installed: Instant,
    pub lifetime: Duration,
    rekeying: bool,
    /// Set once a newer pair took over the handle: the inbound SA goes at this time.
    retire_at: Option<Instant>,
}

pub struct Ike {
    ep: Endpoint,
    policies: Vec<CryptoMapPolicy>,
    on_start: Vec<IpAddr>,
    replay_window: u32,
    pub phase1: Vec<Phase1View>,
    pub active: Vec<Active>,
    retry_at: Option<Instant>,
    /// Outbound SAs waiting for OUTBOUND_DELAY: (when, SPD handle, SA).
    pending_outbound: Vec<(Instant, u32, Arc<OutboundSa>)>,
    next_conn_id: u32,
    pub log: Vec<String>,
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

impl Ike {
    /// The IKE endpoint on `local` (UDP 500, and 4500 after a NAT is found), for the config's `ipsec-isakmp` maps.
    pub fn new(cfg: &Config, local: IpAddr) -> Result<Option<Self>> {
        let policies = ike::phase2_policies(cfg)?;
        if policies.is_empty() {
            return Ok(None);
        }
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
        let config = ike::Config {
            policies: phase1,
            keys,
            retransmit_interval: Duration::from_secs(1),
            retransmit_tries: 5,
            max_half_open: 1024,
            aggressive_mode: cfg.isakmp.aggressive_mode,
            nat_traversal: cfg.isakmp.nat_t,
            nat_keepalive: Duration::from_secs(u64::from(cfg.isakmp.nat_keepalive)),
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
        let mut on_start: Vec<IpAddr> = cfg
            .crypto_maps
            .iter()
            .filter(|m| m.kind == config::CryptoMapKind::IpsecIsakmp && m.initiate() == Initiate::OnStart)
            .map(|m| m.peer)
            .collect();
        on_start.dedup();
        Ok(Some(Self {
            ep,
            policies,
            on_start,
            replay_window: cfg.engine.replay_window,
            phase1: Vec::new(),
            active: Vec::new(),
            retry_at: Some(Instant::now()),
            pending_outbound: Vec::new(),
            next_conn_id: 1001,
            log: Vec::new(),
        }))
    }

    /// A punted IKE frame (Ethernet + IP + UDP to port 500 or 4500).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let Some((src, dst, payload)) = parse_udp(frame) else { return };
        self.ep.handle(now, dst, src, payload);
    }

    /// Runs timers and turns what the endpoint produced into datagrams to send and commands for the worker.
    pub fn drive(&mut self, now: Instant, send: &mut dyn FnMut(Vec<u8>), command: &mut dyn FnMut(Command)) {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            for peer in self.on_start.clone() {
                let up = self.phase1.iter().any(|p| p.peer.ip() == peer);
                let has_sa = self.active.iter().any(|a| a.peer == peer && a.retire_at.is_none());
                if !up && !has_sa {
                    match self.ep.connect(now, SocketAddr::new(peer, 500)) {
                        Ok(_) => self.log.push(format!("IKE: Main Mode to {peer} started")),
                        Err(e) => self.log.push(format!("IKE: cannot start Main Mode to {peer}: {e}")),
                    }
                }
            }
        }
        let due: Vec<(Instant, u32, Arc<OutboundSa>)> = {
            let (due, wait) = self.pending_outbound.drain(..).partition(|(t, _, _)| *t <= now);
            self.pending_outbound = wait;
            due
        };
        for (_, handle, sa) in due {
            command(Command::InstallOutbound(handle, sa));
        }
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        self.lifetimes(now, command);
        while let Some(ev) = self.ep.poll_event() {
            self.event(now, ev, command);
        }
        while let Some(t) = self.ep.poll_transmit() {
            if let Some(p) = udp_packet(t.source, t.destination, &t.contents) {
                send(p);
            }
        }
    }

    fn event(&mut self, now: Instant, ev: Event, command: &mut dyn FnMut(Command)) {
        match ev {
            Event::Phase1Established { local, peer, initiator_cookie, initiator, proposal, nat, .. } => {
                self.log.push(format!("IKE: ISAKMP SA with {peer} established (initiator: {initiator})"));
                self.phase1.push(Phase1View {
                    conn_id: self.next_conn_id,
                    local,
                    peer,
                    icookie: initiator_cookie,
                    proposal,
                    nat: nat.detected(),
                    established: now,
                });
                self.next_conn_id += 1;
                if initiator {
                    for p in self.policies.clone().iter().filter(|p| p.peer == peer.ip()) {
                        if let Err(e) = self.ep.quick_mode(now, &initiator_cookie, p) {
                            self.log.push(format!("IKE: Quick Mode for {} {}: {e}", p.map, p.seq));
                        }
                    }
                }
            }
            Event::Phase1Failed { peer, error, .. } => {
                self.log.push(format!("IKE: ISAKMP SA with {peer} failed: {error}"));
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::Phase1Expired { peer, initiator_cookie } | Event::Phase1Deleted { peer, initiator_cookie, .. } => {
                self.log.push(format!("IKE: ISAKMP SA with {peer} gone"));
                self.phase1.retain(|p| p.icookie != initiator_cookie);
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::Phase2Established(sa) => self.install(now, &sa, command),
            Event::Phase2Failed { peer, error, .. } => {
                self.log.push(format!("IKE: Quick Mode with {peer} failed: {error}"));
                self.retry_at.get_or_insert(now + RETRY);
            }
            Event::Phase2Deleted { peer, spis, .. } => {
                // The peer deleted its inbound SAs: our outbound ones with those SPIs, and their pairs.
                let gone: Vec<u32> = spis
                    .iter()
                    .filter_map(|s| <[u8; 4]>::try_from(s.as_slice()).ok())
                    .map(u32::from_be_bytes)
                    .collect();
                for a in self.active.iter_mut().filter(|a| gone.contains(&a.outbound.params().spi.0)) {
                    a.retire_at = Some(now);
                    self.log.push(format!("IKE: {peer} deleted SA {}", a.outbound.params().spi));
                }
                self.retire(now, command);
            }
            Event::VendorIds { peer, names, unknown, .. } => {
                self.log.push(format!(
                    "IKE: {peer} sent Vendor IDs: {}{}",
                    if names.is_empty() { "(none known)".to_string() } else { names.join(", ") },
                    if unknown.is_empty() { String::new() } else { format!(" and {} unknown", unknown.len()) }
                ));
            }
            Event::DpdAck { .. } | Event::Notification { .. } => {}
        }
    }

    fn install(&mut self, now: Instant, sa: &Phase2Sa, command: &mut dyn FnMut(Command)) {
        let Some(esp) = &sa.esp else {
            self.log.push(format!("IKE: {} {}: AH-only SAs are not installed by the daemon yet", sa.map, sa.seq));
            return;
        };
        let (inb, outb) = sa.sa_params(esp, self.replay_window);
        let (inbound, outbound) = match (InboundSa::new(inb), OutboundSa::new(outb)) {
            (Ok(i), Ok(o)) => (i, Arc::new(o)),
            (Err(e), _) | (_, Err(e)) => {
                self.log.push(format!("IKE: {} {}: cannot install SA: {e}", sa.map, sa.seq));
                return;
            }
        };
        let spi = inbound.params().spi;
        let in_counters = inbound.shared_counters();
        // Make before break: the inbound SA is installed before the outbound one starts being used, and the
        // initiator gives the responder time to install its inbound SA too.
        command(Command::InstallInbound(Box::new(inbound)));
        // A first SA goes into use at once: with no older one, waiting would only drop traffic.
        let replaces = self.active.iter().any(|a| a.handle == sa.handle && a.retire_at.is_none());
        if sa.initiator && replaces {
            self.pending_outbound.push((now + OUTBOUND_DELAY, sa.handle, outbound.clone()));
        } else {
            command(Command::InstallOutbound(sa.handle, outbound.clone()));
        }
        for old in self.active.iter_mut().filter(|a| a.handle == sa.handle && a.retire_at.is_none()) {
            old.retire_at = Some(now + REKEY_GRACE);
        }
        self.log.push(format!(
            "IKE: IPsec SA for {} {} with {} up: inbound {spi}, outbound {}",
            sa.map,
            sa.seq,
            sa.peer,
            outbound.params().spi
        ));
        self.active.push(Active {
            handle: sa.handle,
            peer: sa.peer.ip(),
            icookie: sa.initiator_cookie,
            inbound: spi,
            outbound,
            in_counters,
            installed: now,
            lifetime: Duration::from_secs(u64::from(sa.lifetime_secs)),
            rekeying: false,
            retire_at: None,
        });
    }

    /// A lifetime event from the worker (the volume limits, which only the data path can count): soft rekeys the
    /// pair, hard retires it (the SA already refuses packets).
    pub fn lifetime_event(&mut self, now: Instant, e: engine::sa::LifetimeEvent, command: &mut dyn FnMut(Command)) {
        use engine::sa::LifetimeEvent as L;
        let (spi, hard) = match e {
            L::Soft { spi, .. } => (spi, false),
            L::Hard { spi, .. } | L::SeqExhausted { spi } => (spi, true),
        };
        let Some(i) = self.active.iter().position(|a| a.inbound == spi || a.outbound.params().spi == spi) else {
            return;
        };
        if hard {
            self.active[i].retire_at = Some(now);
            self.retire(now, command);
        } else {
            self.rekey(now, i);
        }
    }

    /// Starts Quick Mode for pair `i`'s crypto map entry, on the ISAKMP SA it came from or a new one.
    fn rekey(&mut self, now: Instant, i: usize) {
        let a = &self.active[i];
        if a.retire_at.is_some() || a.rekeying {
            return;
        }
        let (handle, peer, icookie) = (a.handle, a.peer, a.icookie);
        self.active[i].rekeying = true;
        let Some(policy) = self.policies.iter().find(|p| p.handle == handle).cloned() else { return };
        let started =
            self.phase1.iter().any(|p| p.icookie == icookie) && self.ep.quick_mode(now, &icookie, &policy).is_ok();
        if !started {
            let _ = self.ep.connect(now, SocketAddr::new(peer, 500));
        }
        self.log.push(format!("IKE: rekeying {} {} with {peer}", policy.map, policy.seq));
    }

    /// Rekeys at 90% of an SA's lifetime (on the ISAKMP SA it came from, or a new one), removes it at 100%.
    fn lifetimes(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
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

    /// Removes the pairs whose time is up: the outbound SA only if no newer pair replaced it on the handle.
    fn retire(&mut self, now: Instant, command: &mut dyn FnMut(Command)) {
        let handles_with_new: Vec<u32> =
            self.active.iter().filter(|a| a.retire_at.is_none()).map(|a| a.handle).collect();
        let mut released = Vec::new();
        self.active.retain(|a| {
            if a.retire_at.is_some_and(|t| t <= now) {
                command(Command::RemoveInbound(a.inbound));
                released.push(a.inbound.0);
                if !handles_with_new.contains(&a.handle) {
                    command(Command::RemoveOutbound(a.handle));
                }
                false
            } else {
                true
            }
        });
        // The SPI may be handed out again by a later Quick Mode.
        for spi in released {
            self.ep.release_spi(spi);
        }
    }

    /// The crypto map entry (name, seq) an SPD handle belongs to.
    pub fn entry_of(&self, handle: u32) -> Option<(&str, u32)> {
        self.policies.iter().find(|p| p.handle == handle).map(|p| (p.map.as_str(), p.seq))
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
                })
            })
            .collect();
        serde_json::json!({ "isakmp_sas": list })
    }

    /// Deletes every SA (on shutdown and `clear crypto sa`): Delete payloads go to the peers.
    pub fn shutdown(&mut self) {
        for p in &self.phase1 {
            let _ = self.ep.delete(&p.icookie);
        }
    }
}

/// (source, destination, UDP payload) of an Ethernet/IPv4-or-IPv6/UDP frame.
fn parse_udp(f: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let ip = f.get(14..)?;
    let (src, dst, l4) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), ip.get(ihl..total.min(ip.len()))?)
        }
        6 => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let len = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
    let payload = l4.get(8..len.min(l4.len()))?;
    Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport), payload))
}

/// An IPv4 or IPv6 UDP packet (without Ethernet header) carrying `payload`, checksums filled in.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    use engine::wire::checksum;
    let udp_len = 8 + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = checksum::pseudo_header_sum(src.ip(), dst.ip(), 17, udp_len as u32)?;
    let mut c = !checksum::combine(pseudo, checksum::sum(&udp));
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = vec![0u8; 20];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
            p[6] = 0x40; // DF: IKE handles its own sizes
            p[8] = 64;
            p[9] = 17;
            p[12..16].copy_from_slice(&s.octets());
            p[16..20].copy_from_slice(&d.octets());
            let c = checksum::checksum(&p);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p.extend_from_slice(&udp);
            Some(p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = vec![0u8; 40];
            p[0] = 0x60;
            p[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
            p[6] = 17;
            p[7] = 64;
            p[8..24].copy_from_slice(&s.octets());
            p[24..40].copy_from_slice(&d.octets());
            p.extend_from_slice(&udp);
            Some(p)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packets_round_trip_through_the_parser() {
        let s: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let d: SocketAddr = "198.51.100.2:4500".parse().unwrap();
        let p = udp_packet(s, d, b"isakmp").unwrap();
        assert_eq!(engine::wire::checksum::checksum(&p[..20]), 0);
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&p);
        assert_eq!(parse_udp(&f), Some((s, d, &b"isakmp"[..])));
        let s6: SocketAddr = "[2001:db8::1]:500".parse().unwrap();
        let d6: SocketAddr = "[2001:db8::2]:500".parse().unwrap();
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&udp_packet(s6, d6, b"x").unwrap());
        assert_eq!(parse_udp(&f), Some((s6, d6, &b"x"[..])));
        assert!(udp_packet(s, d6, b"x").is_none());
        assert_eq!(parse_udp(&[0u8; 20]), None);
    }
}
