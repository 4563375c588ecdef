//! Informational exchanges on an established ISAKMP SA (RFC 2409 §5.7): HDR*, HASH(1), N/D with
//! HASH(1) = prf(SKEYID_a, M-ID | N/D), encrypted with a fresh Message ID's IV. Carries DPD (RFC 3706 R-U-THERE /
//! R-U-THERE-ACK, answered here), Delete and other notifications (reported as events).

use std::net::SocketAddr;
use std::time::Instant;

use crate::crypto::kdf::message_hash;
use crate::crypto::{ct_eq, dh::random_bytes};
use crate::isakmp::{
    emit_payloads, Cookie, DeleteRepr, Doi, ExchangeType, Message, NotificationRepr, NotifyType, Payload, ProtocolId,
};

use super::keys::Phase1Crypto;
use super::main_mode::{exchange_header, State};
use super::{Endpoint, Event, IkeError};

/// The ISAKMP SA's SPI in notifications and deletes: the two cookies.
fn isakmp_spi(icookie: &Cookie, rcookie: &Cookie) -> Vec<u8> {
    [&icookie[..], &rcookie[..]].concat()
}

/// Builds a protected informational message carrying `payload`.
fn seal(crypto: &mut Phase1Crypto, icookie: Cookie, rcookie: Cookie, payload: Payload) -> Result<Vec<u8>, IkeError> {
    let mut mid = [0u8; 4];
    while mid == [0; 4] {
        random_bytes(&mut mid)?;
    }
    let mut header = exchange_header(ExchangeType::INFORMATIONAL, icookie, rcookie);
    header.message_id = u32::from_be_bytes(mid);
    let body = emit_payloads(std::slice::from_ref(&payload))?;
    let hash = message_hash(crypto.prf, &crypto.skeyids.skeyid_a, header.message_id, &body);
    let out = crypto.encrypt(header.clone(), &[Payload::Hash(hash), payload])?;
    crypto.forget_exchange(header.message_id);
    Ok(out)
}

/// Decrypts and authenticates a protected informational message; returns the payloads after HASH(1).
fn open(crypto: &mut Phase1Crypto, msg: &Message) -> Result<Vec<Payload>, IkeError> {
    let mid = msg.header.message_id;
    let payloads = crypto.decrypt(msg);
    crypto.forget_exchange(mid);
    let payloads = payloads?;
    let Some((Payload::Hash(received), rest)) = payloads.split_first() else {
        return Err(IkeError::MissingPayload("HASH(1)"));
    };
    let expected = message_hash(crypto.prf, &crypto.skeyids.skeyid_a, mid, &emit_payloads(rest)?);
    if !ct_eq(&expected, received) {
        return Err(IkeError::AuthenticationFailed("HASH(1) of an informational message does not match"));
    }
    Ok(rest.to_vec())
}

impl Endpoint {
    #[allow(clippy::type_complexity)]
    fn established_crypto(
        &mut self,
        icookie: &Cookie,
    ) -> Result<(SocketAddr, SocketAddr, Cookie, &mut Phase1Crypto), IkeError> {
        let sa = self.sas.get_mut(icookie).ok_or(IkeError::Unexpected("no such ISAKMP SA"))?;
        match &mut sa.state {
            State::Established(e) => Ok((sa.local, sa.peer, sa.rcookie, &mut e.crypto)),
            _ => Err(IkeError::Unexpected("the ISAKMP SA is not established")),
        }
    }

    pub(super) fn send_protected(&mut self, icookie: &Cookie, payload: Payload) -> Result<(), IkeError> {
        let (local, peer, rcookie, crypto) = self.established_crypto(icookie)?;
        let m = seal(crypto, *icookie, rcookie, payload)?;
        self.queue(local, peer, &m);
        Ok(())
    }

    /// Sends a DPD R-U-THERE (RFC 3706 §5) with this sequence number on an established ISAKMP SA; the answer
    /// arrives as [`Event::DpdAck`].
    pub fn dpd_probe(&mut self, icookie: &Cookie, sequence: u32) -> Result<(), IkeError> {
        let rcookie = self.established_crypto(icookie)?.2;
        let n = NotificationRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type: NotifyType::R_U_THERE,
            spi: isakmp_spi(icookie, &rcookie),
            data: sequence.to_be_bytes().to_vec(),
        };
        self.send_protected(icookie, Payload::Notification(n))
    }

    /// Deletes an established ISAKMP SA, telling the peer with a protected Delete payload.
    pub fn delete(&mut self, icookie: &Cookie) -> Result<(), IkeError> {
        let (_, peer, rcookie, _) = self.established_crypto(icookie)?;
        let d = DeleteRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            spi_size: 16,
            spis: vec![isakmp_spi(icookie, &rcookie)],
        };
        self.send_protected(icookie, Payload::Delete(d))?;
        self.sas.remove(icookie);
        self.events.push_back(Event::Phase1Deleted { peer, initiator_cookie: *icookie, by_peer: false });
        Ok(())
    }

    /// An Informational exchange message from `remote`.
    pub(super) fn informational(&mut self, _now: Instant, remote: SocketAddr, msg: &Message) {
        let icookie = msg.header.initiator_cookie;
        // The peer's IP must match; its port may differ (a NAT may remap it between messages).
        let known = self.sas.get(&icookie).is_some_and(|sa| sa.peer.ip() == remote.ip());
        if !known || !msg.header.flags.encrypted() {
            // Unprotected notifies (e.g. NO-PROPOSAL-CHOSEN before keys exist) cannot be trusted to end an SA;
            // they are reported for the logs only.
            if let (true, [Payload::Notification(n)]) = (known, msg.payloads()) {
                // An error while we negotiate ends the exchange at its next retransmission, unless an authentic
                // message arrives first.
                if let Some(sa) = self.sas.get_mut(&icookie).filter(|sa| sa.state.awaits_reply()) {
                    if n.notify_type.is_error() {
                        sa.refused = Some(n.notify_type);
                    }
                }
                self.events.push_back(Event::Notification {
                    peer: remote,
                    initiator_cookie: icookie,
                    notify_type: n.notify_type,
                    protected: false,
                });
            } else {
                self.stats.unknown_sa += 1;
            }
            return;
        }
        let payloads = match self.established_crypto(&icookie) {
            Ok((_, _, rcookie, crypto)) if rcookie == msg.header.responder_cookie => open(crypto, msg),
            Ok(_) => Err(IkeError::Unexpected("responder cookie does not match")),
            Err(e) => Err(e),
        };
        let Ok(payloads) = payloads else {
            self.stats.dropped_in_state += 1;
            return;
        };
        for p in payloads {
            self.informational_payload(remote, icookie, p);
        }
    }

    fn informational_payload(&mut self, peer: SocketAddr, icookie: Cookie, p: Payload) {
        match p {
            Payload::Notification(n) if n.notify_type == NotifyType::R_U_THERE => {
                let ack = NotificationRepr { notify_type: NotifyType::R_U_THERE_ACK, ..n };
                if self.send_protected(&icookie, Payload::Notification(ack)).is_err() {
                    self.stats.dropped_in_state += 1;
                }
            }
            Payload::Notification(n) if n.notify_type == NotifyType::R_U_THERE_ACK => match <[u8; 4]>::try_from(n.data)
            {
                Ok(seq) => self.events.push_back(Event::DpdAck {
                    peer,
                    initiator_cookie: icookie,
                    sequence: u32::from_be_bytes(seq),
                }),
                Err(_) => self.stats.malformed += 1,
            },
            Payload::Notification(n) if n.notify_type == NotifyType::INITIAL_CONTACT => {
                self.initial_contact_received(peer, icookie)
            }
            Payload::Notification(n) => self.events.push_back(Event::Notification {
                peer,
                initiator_cookie: icookie,
                notify_type: n.notify_type,
                protected: true,
            }),
            Payload::Delete(d) if d.protocol == ProtocolId::ISAKMP => {
                let rcookie = self.sas.get(&icookie).map_or([0; 8], |sa| sa.rcookie);
                if d.spis.contains(&isakmp_spi(&icookie, &rcookie)) {
                    self.sas.remove(&icookie);
                    self.events.push_back(Event::Phase1Deleted { peer, initiator_cookie: icookie, by_peer: true });
                }
            }
            Payload::Delete(d) => self.events.push_back(Event::Phase2Deleted {
                peer,
                initiator_cookie: icookie,
                protocol: d.protocol,
                spis: d.spis,
            }),
            _ => self.stats.dropped_in_state += 1,
        }
    }
}
