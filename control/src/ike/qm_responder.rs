//! Quick Mode, the responder's side (message 1 in, message 2 out, message 3 in, CONNECTED out when asked), the
//! initiator's wait for CONNECTED, error notifications that end our exchanges, and the exchanges' timers.

use std::time::Instant;

use crate::crypto::dh;
use crate::crypto::kdf::{message_hash, quick_mode_hash2, quick_mode_hash3};
use crate::crypto::Secret;
use crate::isakmp::{
    emit_payloads, Cookie, Doi, ExchangeType, Flags, Message, NotificationRepr, NotifyType, Payload, ProtocolId, SaRepr,
};

use super::api::{EncapsulationMode, ProxyIdentity};
use super::ipsec_proposal::{self as ipsec, Agreed};
use super::main_mode::{check_nonce, exchange_header, nonce};
use super::quick_mode::{ids_of, ke_of, nat_oa, nat_oa_of, open, qm_header, seal, QuickExchange, Stage};
use super::{Endpoint, Event, IkeError};

/// A refused message 1: the error, and the protocol and SPI of the first proposal (for the notify).
type Refusal = (IkeError, Option<(ProtocolId, Vec<u8>)>);

impl Endpoint {
    /// Responder: message 1 of a new exchange.
    pub(super) fn quick_respond(&mut self, now: Instant, icookie: Cookie, msg: &Message, datagram: &[u8]) {
        let key = (icookie, msg.header.message_id);
        match self.quick_respond_inner(now, key, msg, datagram) {
            Ok(ex) => {
                if self.early_inbound {
                    let sides = self.phase1_view(&icookie).map(|v| (v.local, v.peer));
                    if let Ok((local, peer)) = sides {
                        let (agreed, nr) = (ex.agreed.clone(), ex.nr.clone());
                        if let Ok(r) = self.phase2_result(key, &ex, &agreed, &nr, ex.gxy.as_ref(), local, peer) {
                            self.events.push_back(Event::Phase2InboundReady(r));
                        }
                    }
                }
                self.quick.insert(key, ex);
            }
            Err((error, about)) => {
                if let Ok(v) = self.phase1_view(&icookie) {
                    v.crypto.forget_exchange(key.1);
                }
                if !error.is_fatal() {
                    self.stats.dropped_in_state += 1;
                    return;
                }
                if let Some(n) = error.notify() {
                    let (protocol, spi) = about.unwrap_or((ProtocolId::ISAKMP, Vec::new()));
                    self.quick_notify(&icookie, n, protocol, spi);
                }
                if let Some(peer) = self.sas.get(&icookie).map(|sa| sa.peer) {
                    self.events.push_back(Event::Phase2Failed {
                        peer,
                        initiator_cookie: icookie,
                        message_id: key.1,
                        error,
                    });
                }
            }
        }
    }

    fn quick_respond_inner(
        &mut self,
        now: Instant,
        key: (Cookie, u32),
        msg: &Message,
        datagram: &[u8],
    ) -> Result<QuickExchange, Refusal> {
        let plain = |e: IkeError| (e, None);
        let v = self.phase1_view(&key.0).map_err(plain)?;
        let (local, peer, udp) = (v.local, v.peer, v.udp);
        // A message that does not authenticate is not fatal: no state kept, nothing sent.
        let rest = open(v.crypto, msg, |c, b| message_hash(c.prf, &c.skeyids.skeyid_a, key.1, b)).map_err(plain)?;
        let sa = rest.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
        // Authentic (HASH(1) matched) yet without its SA: malformed, and the peer is told (RFC 2408 §5).
        let sa = sa.ok_or((IkeError::Notify(NotifyType::PAYLOAD_MALFORMED), None))?;
        let about = sa.proposals.first().map(|p| (p.protocol, p.spi.clone()));
        let refuse = |n: NotifyType| (IkeError::Notify(n), about.clone());
        let ni = rest.iter().find_map(|p| if let Payload::Nonce(n) = p { Some(n.clone()) } else { None });
        let ni = ni.ok_or_else(|| refuse(NotifyType::PAYLOAD_MALFORMED))?;
        check_nonce(&ni).map_err(|e| (e, about.clone()))?;
        let ids = ids_of(&rest).map_err(|e| (e, about.clone()))?;
        let (remote_id, local_id) = match &ids {
            Some((ci, cr)) => (
                ProxyIdentity::from_id(ci).ok_or_else(|| refuse(NotifyType::INVALID_ID_INFORMATION))?,
                ProxyIdentity::from_id(cr).ok_or_else(|| refuse(NotifyType::INVALID_ID_INFORMATION))?,
            ),
            // RFC 2409 §5.5: without IDs, the proxies are the ISAKMP peers themselves.
            None => (ProxyIdentity::host(peer.ip()), ProxyIdentity::host(local.ip())),
        };
        // The proposed identities must lie within one of our entries for this peer (mirror images).
        let candidates: Vec<_> = self
            .crypto_maps
            .iter()
            .filter(|p| p.peer == peer.ip() && p.remote.contains(&remote_id) && p.local.contains(&local_id))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return Err(refuse(NotifyType::INVALID_ID_INFORMATION));
        }
        let (policy, choice) = candidates
            .into_iter()
            .find_map(|p| ipsec::choose(&p, &sa.proposals, udp).map(|c| (p, c)))
            .ok_or_else(|| refuse(NotifyType::NO_PROPOSAL_CHOSEN))?;
        let group = choice.agreed[0].transform.group;
        let (kex, gxy) = match (group, ke_of(&rest)) {
            (Some(g), Some(k)) => {
                let d = dh::generate(g).map_err(|e| (e.into(), None))?;
                let s = d.shared_secret(k).map_err(|_| refuse(NotifyType::INVALID_KEY_INFORMATION))?;
                (Some(d), Some(s))
            }
            (None, None) => (None, None),
            _ => return Err(refuse(NotifyType::INVALID_KEY_INFORMATION)),
        };
        let mut spis = Vec::new();
        let mut reply = choice.reply.clone();
        for (a, r) in choice.agreed.iter().zip(reply.iter_mut()) {
            let s = self.allocate_spi().map_err(plain)?;
            spis.push((a.protocol, s));
            r.spi = s.to_be_bytes().to_vec();
        }
        let built = (|| {
            let nr = nonce()?;
            let mut out = vec![
                Payload::Sa(SaRepr { doi: sa.doi, situation: sa.situation, proposals: reply }),
                Payload::Nonce(nr.clone()),
            ];
            if let Some(d) = &kex {
                out.push(Payload::Ke(d.public_value().to_vec()));
            }
            if let Some((ci, cr)) = &ids {
                out.push(Payload::Id(ci.clone()));
                out.push(Payload::Id(cr.clone()));
            }
            if udp && choice.agreed[0].transform.mode == EncapsulationMode::Transport {
                out.extend(nat_oa(peer.ip(), local.ip()));
            }
            if choice.shortened {
                for (protocol, spi) in &spis {
                    out.push(Payload::Notification(NotificationRepr {
                        doi: Doi::IPSEC,
                        protocol: *protocol,
                        notify_type: NotifyType::RESPONDER_LIFETIME,
                        spi: spi.to_be_bytes().to_vec(),
                        data: ipsec::lifetime_attributes(choice.life_secs, choice.life_kb),
                    }));
                }
            }
            let v = self.phase1_view(&key.0)?;
            let h2 = quick_mode_hash2(v.crypto.prf, &v.crypto.skeyids.skeyid_a, key.1, &ni, &emit_payloads(&out)?);
            let m = seal(v.crypto, qm_header(key.0, v.rcookie, key.1, false), h2, out)?;
            Ok::<_, IkeError>((m, nr))
        })();
        let (out, nr) = match built {
            Ok(b) => b,
            Err(e) => {
                for (_, s) in &spis {
                    self.inbound_spis.remove(s);
                }
                return Err((e, None));
            }
        };
        self.queue(local, peer, &out);
        Ok(QuickExchange {
            stage: Stage::Sent2,
            initiator: false,
            policy,
            local_id,
            remote_id,
            ids,
            offered: Vec::new(),
            spis,
            ni,
            dh: None,
            commit: msg.header.flags.contains(Flags::COMMIT),
            life_secs: choice.life_secs,
            life_kb: choice.life_kb,
            last_sent: Some(out),
            last_received: Some(datagram.to_vec()),
            answered: true,
            timer: self.start_timer(now),
            linger: None,
            pending: None,
            agreed: choice.agreed,
            nr,
            gxy,
            peer_original: nat_oa_of(&rest).map(|(i, _)| i),
            peer,
        })
    }

    /// Responder: message 3 completes the exchange (and CONNECTED goes out if either side set the commit bit).
    pub(super) fn quick_final(
        &mut self,
        now: Instant,
        key: (Cookie, u32),
        ex: &mut QuickExchange,
        msg: &Message,
    ) -> Result<(), IkeError> {
        let v = self.phase1_view(&key.0)?;
        let (ni, nr) = (&ex.ni, &ex.nr);
        open(v.crypto, msg, |c, _| quick_mode_hash3(c.prf, &c.skeyids.skeyid_a, key.1, ni, nr))?;
        let (local, peer) = (v.local, v.peer);
        let agreed: Vec<Agreed> = ex.agreed.clone();
        let nr = ex.nr.clone();
        let gxy: Option<Secret> = ex.gxy.take();
        let result = self.phase2_result(key, ex, &agreed, &nr, gxy.as_ref(), local, peer)?;
        ex.answered = false;
        if ex.commit || msg.header.flags.contains(Flags::COMMIT) {
            let (protocol, spi) = ex.spis.first().map_or((ProtocolId::IPSEC_ESP, 0), |(p, s)| (*p, *s));
            let n = Payload::Notification(NotificationRepr {
                doi: Doi::IPSEC,
                protocol,
                notify_type: NotifyType::CONNECTED,
                spi: spi.to_be_bytes().to_vec(),
                data: Vec::new(),
            });
            let v = self.phase1_view(&key.0)?;
            let mut h = exchange_header(ExchangeType::INFORMATIONAL, key.0, v.rcookie);
            h.message_id = key.1;
            let hash = message_hash(
                v.crypto.prf,
                &v.crypto.skeyids.skeyid_a,
                key.1,
                &emit_payloads(std::slice::from_ref(&n))?,
            );
            let out = seal(v.crypto, h, hash, vec![n])?;
            self.queue(local, peer, &out);
            ex.last_sent = Some(out);
            ex.answered = true;
        }
        self.quick_done(now, key, ex);
        self.events.push_back(Event::Phase2Established(result));
        Ok(())
    }

    /// An informational message on the Quick Mode exchange's own message ID: CONNECTED for an initiator that waits.
    pub(super) fn quick_connected(&mut self, now: Instant, key: (Cookie, u32), msg: &Message, datagram: &[u8]) {
        let Some(mut ex) = self.quick.remove(&key) else { return };
        if ex.stage != Stage::AwaitConnected || ex.last_received.as_deref() == Some(datagram) {
            self.stats.duplicates += 1;
            self.quick.insert(key, ex);
            return;
        }
        let connected = self.phase1_view(&key.0).and_then(|v| {
            let rest = open(v.crypto, msg, |c, b| message_hash(c.prf, &c.skeyids.skeyid_a, key.1, b))?;
            Ok(rest.iter().any(|p| matches!(p, Payload::Notification(n) if n.notify_type == NotifyType::CONNECTED)))
        });
        match (connected, ex.pending.take()) {
            (Ok(true), Some(result)) => {
                ex.last_received = Some(datagram.to_vec());
                ex.answered = false;
                self.quick_done(now, key, &mut ex);
                self.events.push_back(Event::Phase2Established(result));
            }
            (_, pending) => {
                ex.pending = pending;
                self.stats.dropped_in_state += 1;
            }
        }
        self.quick.insert(key, ex);
    }

    /// A protected notification in an informational exchange of its own that names one of our Quick Modes (by one
    /// of its SPIs, or as the only candidate on that ISAKMP SA): an error ends a pending one; CONNECTED completes one
    /// that waits for it (for peers that send CONNECTED under a fresh message ID).
    pub(super) fn quick_notify_received(&mut self, now: Instant, msg: &Message) {
        let icookie = msg.header.initiator_cookie;
        let pending: Vec<(Cookie, u32)> = self
            .quick
            .iter()
            .filter(|(k, e)| k.0 == icookie && e.initiator && matches!(e.stage, Stage::Sent1 | Stage::AwaitConnected))
            .map(|(k, _)| *k)
            .collect();
        let mid = msg.header.message_id;
        if pending.is_empty() || self.quick.contains_key(&(icookie, mid)) {
            return;
        }
        let Ok(v) = self.phase1_view(&icookie) else { return };
        if v.rcookie != msg.header.responder_cookie || !msg.header.flags.encrypted() {
            return;
        }
        let opened = open(v.crypto, msg, |c, b| message_hash(c.prf, &c.skeyids.skeyid_a, mid, b));
        v.crypto.forget_exchange(mid);
        let Ok(rest) = opened else { return };
        for p in rest {
            let Payload::Notification(n) = p else { continue };
            let connected = n.notify_type == NotifyType::CONNECTED;
            let stage = match (connected, n.notify_type.is_error()) {
                (true, _) => Stage::AwaitConnected,
                (false, true) => Stage::Sent1,
                (false, false) => continue,
            };
            let names = |e: &QuickExchange| {
                let ours = e.spis.iter().any(|(_, s)| s.to_be_bytes()[..] == n.spi[..]);
                let theirs = e.pending.as_ref().is_some_and(|r| {
                    [r.esp.as_ref(), r.ah.as_ref()]
                        .into_iter()
                        .flatten()
                        .any(|p| p.outbound.spi.to_be_bytes()[..] == n.spi[..])
                });
                ours || theirs
            };
            let candidates: Vec<(Cookie, u32)> =
                pending.iter().filter(|k| self.quick.get(k).is_some_and(|e| e.stage == stage)).copied().collect();
            let by_spi = candidates.iter().find(|k| self.quick.get(k).is_some_and(names));
            let Some(k) = by_spi.or(if candidates.len() == 1 { candidates.first() } else { None }).copied() else {
                continue;
            };
            let Some(mut ex) = self.quick.remove(&k) else { continue };
            if !connected {
                self.quick_failed(k, ex, IkeError::Notify(n.notify_type));
                continue;
            }
            if let Some(result) = ex.pending.take() {
                self.quick_done(now, k, &mut ex);
                self.events.push_back(Event::Phase2Established(result));
            }
            self.quick.insert(k, ex);
        }
    }

    /// The earliest Quick Mode deadline (retransmission or end of lingering).
    pub(super) fn quick_deadline(&self) -> Option<Instant> {
        self.quick.values().flat_map(|e| [e.timer.as_ref().map(|t| t.at), e.linger]).flatten().min()
    }

    /// Retransmits, gives up, and forgets lingering exchanges, as due.
    pub(super) fn quick_timeout(&mut self, now: Instant) {
        let keys: Vec<(Cookie, u32)> = self.quick.keys().copied().collect();
        for key in keys {
            let Some(mut ex) = self.quick.remove(&key) else { continue };
            if ex.linger.is_some_and(|t| t <= now) {
                continue;
            }
            let Some(t) = ex.timer.as_mut().filter(|t| t.at <= now) else {
                self.quick.insert(key, ex);
                continue;
            };
            let addrs = self.sas.get(&key.0).map(|sa| (sa.local, sa.peer));
            let Some((local, peer)) = addrs.filter(|_| t.tries < self.config.retransmit_tries) else {
                let tries = t.tries;
                self.quick_failed(key, ex, IkeError::Timeout(tries));
                continue;
            };
            t.tries += 1;
            t.interval *= 2;
            t.at = now + t.interval;
            if let Some(m) = ex.last_sent.clone() {
                self.stats.retransmits += 1;
                self.queue(local, peer, &m);
            }
            self.quick.insert(key, ex);
        }
    }
}
