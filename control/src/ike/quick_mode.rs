//! Quick Mode (RFC 2409 §5.5) on an established ISAKMP SA, as initiator and responder:
//!
//! ```text
//! Initiator                                   Responder
//! HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] -->
//!                                             <-- HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, N(RESPONDER-LIFETIME)]
//! HDR*, HASH(3)                               -->
//!                                             [<-- HDR*, HASH, N(CONNECTED)   when the commit bit was set]
//! ```
//!
//! Each exchange lives under (initiator cookie, message ID) with its own CBC IV chain, so several run at once.
//! Retransmission and duplicate handling follow Phase 1: the last message is resent on a timer, a retransmitted
//! request gets the stored answer, and a finished exchange lingers a while to answer late duplicates.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::crypto::dh::{self, random_bytes, KeyExchange};
use crate::crypto::kdf::{message_hash, quick_mode_hash2, quick_mode_hash3};
use crate::crypto::{ct_eq, Secret};
use crate::isakmp::{
    emit_payloads, Cookie, Doi, ExchangeType, Flags, HeaderRepr, IdRepr, Message, NatOaRepr, NotificationRepr,
    NotifyType, Payload, ProposalRepr, ProtocolId, SaRepr, SIT_IDENTITY_ONLY,
};

use super::api::{CryptoMapPolicy, EncapsulationMode, Phase2Sa, ProxyIdentity};
use super::ipsec_proposal::{self as ipsec, Agreed};
use super::keys::Phase1Crypto;
use super::main_mode::{check_nonce, exchange_header, nonce, State};
use super::qm_keys::{sa_pair, KeySource};
use super::{Endpoint, Event, IkeError, Timer};

/// Quick Modes in negotiation at once on one ISAKMP SA: the IV store (`crypto::IvManager`) keeps the IV chains of
/// eight exchanges, and one informational exchange (DPD, a notify) may need a chain at the same moment; more would
/// lose the oldest chain.
pub const MAX_NEGOTIATING: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Initiator, after message 1.
    Sent1,
    /// Initiator, after message 3, when the commit bit asks for CONNECTED first.
    AwaitConnected,
    /// Responder, after message 2.
    Sent2,
    /// Finished; kept only to answer duplicates.
    Done,
}

pub(super) struct QuickExchange {
    pub(super) stage: Stage,
    pub(super) initiator: bool,
    pub(super) policy: CryptoMapPolicy,
    /// Our proxy identity and the peer's.
    pub(super) local_id: ProxyIdentity,
    pub(super) remote_id: ProxyIdentity,
    /// IDci, IDcr as sent in message 1 (None: no ID payloads, the identities are the IKE addresses).
    pub(super) ids: Option<(IdRepr, IdRepr)>,
    pub(super) offered: Vec<ProposalRepr>,
    /// Our inbound SPIs, per protocol.
    pub(super) spis: Vec<(ProtocolId, u32)>,
    pub(super) ni: Vec<u8>,
    pub(super) dh: Option<Box<dyn KeyExchange>>,
    pub(super) commit: bool,
    pub(super) life_secs: u32,
    pub(super) life_kb: u64,
    pub(super) last_sent: Option<Vec<u8>>,
    pub(super) last_received: Option<Vec<u8>>,
    /// Whether `last_sent` answers `last_received` (so a duplicate of that gets it again).
    pub(super) answered: bool,
    pub(super) timer: Option<Timer>,
    pub(super) linger: Option<Instant>,
    /// Initiator with the commit bit: the SA, reported once CONNECTED arrives.
    pub(super) pending: Option<Box<Phase2Sa>>,
    /// Responder after message 2: what message 3 completes.
    pub(super) agreed: Vec<Agreed>,
    pub(super) nr: Vec<u8>,
    pub(super) gxy: Option<Secret>,
    /// The peer's own address from its NAT-OA payload (transport mode through a NAT, RFC 3947 §5.2).
    pub(super) peer_original: Option<IpAddr>,
    /// The peer's IKE address when the exchange began (for the failure event if the ISAKMP SA is gone by then).
    pub(super) peer: SocketAddr,
}

/// The parts of an established ISAKMP SA a Quick Mode needs.
pub(super) struct Phase1View<'a> {
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    pub(super) rcookie: Cookie,
    pub(super) udp: bool,
    pub(super) crypto: &'a mut Phase1Crypto,
}

pub(super) fn qm_header(icookie: Cookie, rcookie: Cookie, mid: u32, commit: bool) -> HeaderRepr {
    let mut h = exchange_header(ExchangeType::QUICK_MODE, icookie, rcookie);
    h.message_id = mid;
    if commit {
        h.flags = Flags::COMMIT;
    }
    h
}

/// Encrypts HDR*, HASH, payloads.
pub(super) fn seal(
    crypto: &mut Phase1Crypto,
    header: HeaderRepr,
    hash: Vec<u8>,
    rest: Vec<Payload>,
) -> Result<Vec<u8>, IkeError> {
    let mut payloads = vec![Payload::Hash(hash)];
    payloads.extend(rest);
    crypto.encrypt(header, &payloads)
}

/// Decrypts a message whose first payload must be the HASH, and checks it against `expected(crypto, bytes after
/// the HASH)`; returns the payloads after the HASH. Decryption runs on a copy of the keys and IV state, kept only
/// if the HASH matches: a garbled message that still parses must not move the exchange's IV chain (the genuine
/// message, or its retransmission, would then no longer decrypt). A mismatch is not fatal.
pub(super) fn open(
    crypto: &mut Phase1Crypto,
    msg: &Message,
    expected: impl FnOnce(&Phase1Crypto, &[u8]) -> Vec<u8>,
) -> Result<Vec<Payload>, IkeError> {
    let mut trial = crypto.clone();
    let payloads = trial.decrypt(msg)?;
    let Some((Payload::Hash(h), rest)) = payloads.split_first() else {
        return Err(IkeError::MissingPayload("HASH as first payload"));
    };
    if !ct_eq(&expected(&trial, &emit_payloads(rest)?), h) {
        return Err(IkeError::Unexpected("the HASH of a Phase 2 message does not match"));
    }
    *crypto = trial;
    Ok(rest.to_vec())
}

pub(super) fn ids_of(payloads: &[Payload]) -> Result<Option<(IdRepr, IdRepr)>, IkeError> {
    let ids: Vec<&IdRepr> =
        payloads.iter().filter_map(|p| if let Payload::Id(i) = p { Some(i) } else { None }).collect();
    match ids.as_slice() {
        [] => Ok(None),
        [ci, cr] => Ok(Some(((*ci).clone(), (*cr).clone()))),
        _ => Err(IkeError::Notify(NotifyType::INVALID_ID_INFORMATION)),
    }
}

/// NAT-OAi and NAT-OAr payloads: the initiator's and the responder's original address.
pub(super) fn nat_oa(initiator: IpAddr, responder: IpAddr) -> [Payload; 2] {
    [initiator, responder].map(|address| Payload::NatOa { draft: false, oa: NatOaRepr { address } })
}

/// The (NAT-OAi, NAT-OAr) addresses a message carries, if it has both.
pub(super) fn nat_oa_of(payloads: &[Payload]) -> Option<(IpAddr, IpAddr)> {
    let mut oa =
        payloads.iter().filter_map(|p| if let Payload::NatOa { oa, .. } = p { Some(oa.address) } else { None });
    Some((oa.next()?, oa.next()?))
}

pub(super) fn ke_of(payloads: &[Payload]) -> Option<&Vec<u8>> {
    payloads.iter().find_map(|p| if let Payload::Ke(k) = p { Some(k) } else { None })
}

impl Endpoint {
    /// The Quick Mode policies the responder matches proposals against (one per crypto map entry and ACL line).
    pub fn set_crypto_maps(&mut self, maps: Vec<CryptoMapPolicy>) {
        self.crypto_maps = maps;
    }

    /// Whether our Quick Mode initiator sets the commit bit (and so waits for CONNECTED before reporting the SA).
    pub fn set_quick_mode_commit(&mut self, commit: bool) {
        self.qm_commit = commit;
    }

    /// Frees an inbound SPI once its SA is gone from the engine, so it may be chosen again.
    pub fn release_spi(&mut self, spi: u32) -> bool {
        self.inbound_spis.remove(&spi)
    }

    /// Quick Mode exchanges in progress or lingering.
    pub fn quick_mode_count(&self) -> usize {
        self.quick.len()
    }

    pub(super) fn phase1_view(&mut self, icookie: &Cookie) -> Result<Phase1View<'_>, IkeError> {
        let sa = self.sas.get_mut(icookie).ok_or(IkeError::Unexpected("no such ISAKMP SA"))?;
        match &mut sa.state {
            State::Established(e) => Ok(Phase1View {
                local: sa.local,
                peer: sa.peer,
                rcookie: sa.rcookie,
                udp: e.nat.detected(),
                crypto: &mut e.crypto,
            }),
            _ => Err(IkeError::Unexpected("the ISAKMP SA is not established")),
        }
    }

    /// A random inbound SPI outside the reserved 0..=255, not in use.
    pub(super) fn allocate_spi(&mut self) -> Result<u32, IkeError> {
        loop {
            let mut b = [0u8; 4];
            random_bytes(&mut b)?;
            let spi = u32::from_be_bytes(b);
            if spi > 255 && self.inbound_spis.insert(spi) {
                return Ok(spi);
            }
        }
    }

    pub(super) fn fresh_mid(&self, icookie: &Cookie) -> Result<u32, IkeError> {
        loop {
            let mut b = [0u8; 4];
            random_bytes(&mut b)?;
            let mid = u32::from_be_bytes(b);
            if mid != 0 && !self.quick.contains_key(&(*icookie, mid)) {
                return Ok(mid);
            }
        }
    }

    /// Quick Modes in negotiation (not finished) on one ISAKMP SA.
    fn negotiating(&self, icookie: &Cookie) -> usize {
        self.quick.iter().filter(|(k, e)| k.0 == *icookie && e.stage != Stage::Done).count()
    }

    fn linger_time(&self) -> Duration {
        self.config.retransmit_interval * 2u32.pow(self.config.retransmit_tries.min(10) + 1)
    }

    pub(super) fn start_timer(&self, now: Instant) -> Option<Timer> {
        let interval = self.config.retransmit_interval;
        Some(Timer { at: now + interval, interval, tries: 0 })
    }

    /// Starts Quick Mode on an established ISAKMP SA for `policy`; returns the exchange's message ID. The result
    /// arrives as [`Event::Phase2Established`] or [`Event::Phase2Failed`].
    pub fn quick_mode(&mut self, now: Instant, icookie: &Cookie, policy: &CryptoMapPolicy) -> Result<u32, IkeError> {
        if policy.transform_sets.is_empty() {
            return Err(IkeError::Unexpected("a crypto map entry without transform sets"));
        }
        self.phase1_view(icookie)?;
        if self.negotiating(icookie) >= MAX_NEGOTIATING {
            return Err(IkeError::Unexpected("too many Quick Modes in negotiation on this ISAKMP SA"));
        }
        let mid = self.fresh_mid(icookie)?;
        let mut spis = Vec::new();
        if policy.transform_sets.iter().any(|t| t.esp.is_some()) {
            spis.push((ProtocolId::IPSEC_ESP, self.allocate_spi()?));
        }
        if policy.transform_sets.iter().any(|t| t.ah.is_some()) {
            spis.push((ProtocolId::IPSEC_AH, self.allocate_spi()?));
        }
        let commit = self.qm_commit;
        let built = (|| {
            let spi_of = |p| spis.iter().find(|(q, _)| *q == p).map_or(0, |(_, s)| *s);
            let dh = policy.pfs.map(dh::generate).transpose()?;
            let ni = nonce()?;
            let ids = (policy.local.to_id(), policy.remote.to_id());
            let v = self.phase1_view(icookie)?;
            let offered = ipsec::offer(policy, v.udp, spi_of(ProtocolId::IPSEC_ESP), spi_of(ProtocolId::IPSEC_AH));
            let sa = SaRepr { doi: Doi::IPSEC, situation: SIT_IDENTITY_ONLY, proposals: offered.clone() };
            let mut rest = vec![Payload::Sa(sa), Payload::Nonce(ni.clone())];
            if let Some(d) = &dh {
                rest.push(Payload::Ke(d.public_value().to_vec()));
            }
            rest.push(Payload::Id(ids.0.clone()));
            rest.push(Payload::Id(ids.1.clone()));
            // RFC 3947 §5.2: transport mode through a NAT carries the original addresses (NAT-OAi, NAT-OAr).
            if v.udp && policy.transform_sets.iter().any(|t| t.mode == EncapsulationMode::Transport) {
                rest.extend(nat_oa(v.local.ip(), v.peer.ip()));
            }
            let hash = message_hash(v.crypto.prf, &v.crypto.skeyids.skeyid_a, mid, &emit_payloads(&rest)?);
            let msg = seal(v.crypto, qm_header(*icookie, v.rcookie, mid, commit), hash, rest)?;
            Ok::<_, IkeError>((msg, v.local, v.peer, dh, ni, ids, offered))
        })();
        let (msg, local, peer, dh, ni, ids, offered) = match built {
            Ok(b) => b,
            Err(e) => {
                for (_, s) in &spis {
                    self.inbound_spis.remove(s);
                }
                return Err(e);
            }
        };
        self.queue(local, peer, &msg);
        let ex = QuickExchange {
            stage: Stage::Sent1,
            initiator: true,
            policy: policy.clone(),
            local_id: policy.local,
            remote_id: policy.remote,
            ids: Some(ids),
            offered,
            spis,
            ni,
            dh,
            commit,
            life_secs: policy.lifetime_secs,
            life_kb: policy.lifetime_kilobytes,
            last_sent: Some(msg),
            last_received: None,
            answered: false,
            timer: self.start_timer(now),
            linger: None,
            pending: None,
            agreed: Vec::new(),
            nr: Vec::new(),
            gxy: None,
            peer_original: None,
            peer,
        };
        self.quick.insert((*icookie, mid), ex);
        Ok(mid)
    }

    /// A Quick Mode message from `remote`.
    pub(super) fn quick_message(&mut self, now: Instant, remote: SocketAddr, msg: &Message, datagram: &[u8]) {
        let key = (msg.header.initiator_cookie, msg.header.message_id);
        let known = self.sas.get(&key.0).is_some_and(|sa| {
            sa.peer.ip() == remote.ip()
                && sa.rcookie == msg.header.responder_cookie
                && matches!(sa.state, State::Established(_))
        });
        if !known || !msg.header.flags.encrypted() || key.1 == 0 {
            self.stats.unknown_sa += 1;
            return;
        }
        let Some(mut ex) = self.quick.remove(&key) else {
            if self.negotiating(&key.0) >= MAX_NEGOTIATING {
                // The initiator retransmits; by then an exchange may have finished.
                self.stats.dropped_in_state += 1;
            } else {
                self.quick_respond(now, key.0, msg, datagram);
            }
            return;
        };
        if ex.last_received.as_deref() == Some(datagram) {
            self.stats.duplicates += 1;
            if let (true, Some(m)) = (ex.answered, ex.last_sent.clone()) {
                if let Some(sa) = self.sas.get(&key.0) {
                    let (l, p) = (sa.local, sa.peer);
                    self.queue(l, p, &m);
                }
            }
            self.quick.insert(key, ex);
            return;
        }
        let result = match ex.stage {
            Stage::Sent1 => self.quick_reply(now, key, &mut ex, msg),
            Stage::Sent2 => self.quick_final(now, key, &mut ex, msg),
            _ => Err(IkeError::Unexpected("a Quick Mode message after the exchange finished")),
        };
        match result {
            Ok(()) => {
                ex.last_received = Some(datagram.to_vec());
                self.quick.insert(key, ex);
            }
            Err(e) if !e.is_fatal() => {
                // A message 1 whose padding differs from the one we answered (IKEv1 does not authenticate padding)
                // is still its retransmission: answer it, or the initiator never gets our message 2.
                let again = ex.stage == Stage::Sent2 && ex.last_received.as_ref().map(Vec::len) == Some(datagram.len());
                match (again, ex.last_sent.clone(), self.sas.get(&key.0).map(|sa| (sa.local, sa.peer))) {
                    (true, Some(m), Some((l, p))) => {
                        self.stats.duplicates += 1;
                        self.queue(l, p, &m);
                    }
                    _ => self.stats.dropped_in_state += 1,
                }
                self.quick.insert(key, ex);
            }
            Err(error) => {
                if let Some(n) = error.notify() {
                    let (protocol, spi) = ex.spis.first().map_or((ProtocolId::ISAKMP, 0), |(p, s)| (*p, *s));
                    self.quick_notify(&key.0, n, protocol, spi.to_be_bytes().to_vec());
                }
                self.quick_failed(key, ex, error);
            }
        }
    }

    /// Ends an exchange that did not produce SAs: its SPIs are free again and its IV chain is dropped.
    pub(super) fn quick_failed(&mut self, key: (Cookie, u32), ex: QuickExchange, error: IkeError) {
        for (_, s) in &ex.spis {
            self.inbound_spis.remove(s);
        }
        let peer = self.sas.get(&key.0).map_or(ex.peer, |sa| sa.peer);
        if let Ok(v) = self.phase1_view(&key.0) {
            v.crypto.forget_exchange(key.1);
        }
        self.events.push_back(Event::Phase2Failed { peer, initiator_cookie: key.0, message_id: key.1, error });
    }

    /// Sends a protected notification (in its own informational exchange) about a Phase 2 negotiation.
    pub(super) fn quick_notify(
        &mut self,
        icookie: &Cookie,
        notify_type: NotifyType,
        protocol: ProtocolId,
        spi: Vec<u8>,
    ) {
        let Ok(mid) = self.fresh_mid(icookie) else { return };
        let Ok(v) = self.phase1_view(icookie) else { return };
        let n =
            Payload::Notification(NotificationRepr { doi: Doi::IPSEC, protocol, notify_type, spi, data: Vec::new() });
        let mut h = exchange_header(ExchangeType::INFORMATIONAL, *icookie, v.rcookie);
        h.message_id = mid;
        let Ok(body) = emit_payloads(std::slice::from_ref(&n)) else { return };
        let hash = message_hash(v.crypto.prf, &v.crypto.skeyids.skeyid_a, mid, &body);
        let out = seal(v.crypto, h, hash, vec![n]);
        v.crypto.forget_exchange(mid);
        let (local, peer) = (v.local, v.peer);
        if let Ok(m) = out {
            self.queue(local, peer, &m);
        }
    }

    /// Initiator: message 2 in, message 3 out.
    fn quick_reply(
        &mut self,
        now: Instant,
        key: (Cookie, u32),
        ex: &mut QuickExchange,
        msg: &Message,
    ) -> Result<(), IkeError> {
        let v = self.phase1_view(&key.0)?;
        let ni = &ex.ni;
        let rest = open(v.crypto, msg, |c, b| quick_mode_hash2(c.prf, &c.skeyids.skeyid_a, key.1, ni, b))?;
        let sa = take!(rest, Sa, "SA");
        let nr = take!(rest, Nonce, "NONCE");
        check_nonce(nr)?;
        let agreed =
            ipsec::check_reply(&ex.offered, &sa.proposals).ok_or(IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN))?;
        if ids_of(&rest)? != ex.ids {
            return Err(IkeError::Notify(NotifyType::INVALID_ID_INFORMATION));
        }
        let gxy = match (&ex.dh, ke_of(&rest)) {
            (Some(d), Some(k)) => {
                Some(d.shared_secret(k).map_err(|_| IkeError::Notify(NotifyType::INVALID_KEY_INFORMATION))?)
            }
            (None, None) => None,
            _ => return Err(IkeError::Notify(NotifyType::INVALID_KEY_INFORMATION)),
        };
        for p in &rest {
            if let Payload::Notification(n) = p {
                if n.notify_type == NotifyType::RESPONDER_LIFETIME {
                    let (secs, kb) = ipsec::parse_lifetime_attributes(&n.data);
                    ex.life_secs = secs.map_or(ex.life_secs, |s| s.min(ex.life_secs));
                    ex.life_kb = match (kb, ex.life_kb) {
                        (Some(k), 0) => k,
                        (Some(k), ours) => k.min(ours),
                        (None, ours) => ours,
                    };
                }
            }
        }
        ex.peer_original = nat_oa_of(&rest).map(|(_, r)| r);
        let commit = ex.commit || msg.header.flags.contains(Flags::COMMIT);
        let h3 = quick_mode_hash3(v.crypto.prf, &v.crypto.skeyids.skeyid_a, key.1, &ex.ni, nr);
        let out = seal(v.crypto, qm_header(key.0, v.rcookie, key.1, ex.commit), h3, Vec::new())?;
        let (local, peer) = (v.local, v.peer);
        let result = self.phase2_result(key, ex, &agreed, nr, gxy.as_ref(), local, peer)?;
        self.queue(local, peer, &out);
        ex.last_sent = Some(out);
        ex.answered = true;
        if commit {
            ex.stage = Stage::AwaitConnected;
            ex.timer = self.start_timer(now);
            ex.pending = Some(result);
        } else {
            self.quick_done(now, key, ex);
            self.events.push_back(Event::Phase2Established(result));
        }
        Ok(())
    }

    /// Marks an exchange finished: no more retransmissions, its IV chain dropped, kept a while for duplicates.
    pub(super) fn quick_done(&mut self, now: Instant, key: (Cookie, u32), ex: &mut QuickExchange) {
        ex.stage = Stage::Done;
        ex.timer = None;
        ex.linger = Some(now + self.linger_time());
        if let Ok(v) = self.phase1_view(&key.0) {
            v.crypto.forget_exchange(key.1);
        }
    }

    /// Both directions' keys and everything else the engine needs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn phase2_result(
        &mut self,
        key: (Cookie, u32),
        ex: &QuickExchange,
        agreed: &[Agreed],
        nr: &[u8],
        gxy: Option<&Secret>,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Result<Box<Phase2Sa>, IkeError> {
        let v = self.phase1_view(&key.0)?;
        let udp = v.udp;
        let ks = KeySource { prf: v.crypto.prf, skeyid_d: &v.crypto.skeyids.skeyid_d, gxy, ni: &ex.ni, nr };
        let mut esp = None;
        let mut ah = None;
        for a in agreed {
            let ours = ex.spis.iter().find(|(p, _)| *p == a.protocol).map(|(_, s)| *s);
            let ours = ours.ok_or(IkeError::Unexpected("no inbound SPI for a negotiated protocol"))?;
            let pair = sa_pair(&ks, a, ours);
            if a.protocol == ProtocolId::IPSEC_ESP {
                esp = Some(pair);
            } else {
                ah = Some(pair);
            }
        }
        let t = agreed.first().ok_or(IkeError::Unexpected("empty SA bundle"))?.transform;
        Ok(Box::new(Phase2Sa {
            local,
            peer,
            initiator_cookie: key.0,
            message_id: key.1,
            initiator: ex.initiator,
            map: ex.policy.map.clone(),
            seq: ex.policy.seq,
            handle: ex.policy.handle,
            local_id: ex.local_id,
            remote_id: ex.remote_id,
            mode: t.mode,
            nat_t: udp.then_some(engine::sa::NatT { local_port: local.port(), remote_port: peer.port() }),
            lifetime_secs: ex.life_secs,
            lifetime_kilobytes: ex.life_kb,
            pfs: t.group,
            peer_original: ex.peer_original,
            esp,
            ah,
        }))
    }
}
