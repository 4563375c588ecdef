//! INITIAL-CONTACT (RFC 2407 §4.6.3.3): a peer that holds no other ISAKMP SA with us (it just started, or lost its
//! state) says so on its new, authenticated SA, so we drop what we still hold with it instead of sending traffic
//! into SAs it no longer knows.
//!
//! Like strongSwan and Cisco, Main Mode carries the notify inside the encrypted message 5 (initiator) or 6
//! (responder), after the ID and HASH; strongSwan 5.9 sends it in message 5 unless `uniqueids` is `never` or
//! `keep`, and acts on it in message 5. We send it only there: Aggressive Mode has no encrypted message of ours to
//! carry it (its messages go in the clear), and an extra informational exchange after it is not what peers expect.
//! It is believed only when encrypted (message 5 or 6, an encrypted Aggressive Mode message 3, or a protected
//! informational exchange): in the clear anyone could send it.

use std::net::{IpAddr, SocketAddr};

use crate::isakmp::{Cookie, Doi, NotificationRepr, NotifyType, Payload, ProtocolId};

use super::main_mode::State;
use super::{Endpoint, Event};

/// The INITIAL-CONTACT notify for the ISAKMP SA of these cookies (its SPI is the two cookies).
pub(super) fn notify(icookie: &Cookie, rcookie: &Cookie) -> Payload {
    Payload::Notification(NotificationRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::ISAKMP,
        notify_type: NotifyType::INITIAL_CONTACT,
        spi: [&icookie[..], &rcookie[..]].concat(),
        data: Vec::new(),
    })
}

/// Whether decrypted payloads carry INITIAL-CONTACT.
pub(super) fn carried(payloads: &[Payload]) -> bool {
    payloads.iter().any(|p| matches!(p, Payload::Notification(n) if n.notify_type == NotifyType::INITIAL_CONTACT))
}

impl Endpoint {
    /// Whether an established ISAKMP SA with this peer address exists.
    pub(super) fn has_established_with(&self, peer: IpAddr) -> bool {
        self.sas.values().any(|s| s.peer.ip() == peer && matches!(s.state, State::Established(_)))
    }

    /// Just after the ISAKMP SA `icookie` was established: act on an INITIAL-CONTACT it carried.
    pub(super) fn initial_contact_on_established(&mut self, icookie: Cookie) {
        let Some(sa) = self.sas.get(&icookie) else { return };
        if let State::Established(e) = &sa.state {
            if e.initial_contact {
                self.initial_contact_received(sa.peer, icookie);
            }
        }
    }

    /// The peer said INITIAL-CONTACT on the established SA `icookie`: every other established ISAKMP SA with the
    /// same address and authenticated identity is deleted (with a Delete to the peer, in case it did not restart
    /// after all but only started a second exchange at the same moment), and the SA manager hears of it.
    pub(super) fn initial_contact_received(&mut self, peer: SocketAddr, icookie: Cookie) {
        let Some(State::Established(e)) = self.sas.get(&icookie).map(|s| &s.state) else { return };
        let id = e.peer_id.clone();
        let others: Vec<Cookie> = self
            .sas
            .iter()
            .filter(|(c, s)| {
                **c != icookie
                    && s.peer.ip() == peer.ip()
                    && matches!(&s.state, State::Established(o) if o.peer_id == id)
            })
            .map(|(c, _)| *c)
            .collect();
        self.stats.initial_contacts += 1;
        for c in others {
            if self.delete(&c).is_ok() {
                self.stats.initial_contact_removed += 1;
            }
        }
        self.events.push_back(Event::InitialContact { peer, initiator_cookie: icookie });
    }
}
