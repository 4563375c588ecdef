//! Time-driven work of the endpoint: retransmissions with exponential backoff (bounded by
//! `Config::retransmit_tries`; a half-open responder exchange is gone after them, so the table drains after a
//! flood), SA expiry, NAT keepalives.

use std::time::Instant;

use super::nat::NAT_T_PORT;
use super::{Endpoint, Event, IkeError, Transmit};
use crate::isakmp::Cookie;

impl Endpoint {
    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase1 = self.sas.values().flat_map(|s| [s.timer.as_ref().map(|t| t.at), s.expires, s.keepalive]).flatten();
        phase1.chain(self.quick_deadline()).min()
    }

    /// Retransmits what is due, gives up exchanges that ran out of retransmissions, removes expired SAs and sends
    /// NAT keepalives.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.quick_timeout(now);
        let expired: Vec<Cookie> =
            self.sas.iter().filter(|(_, s)| s.expires.is_some_and(|at| at <= now)).map(|(c, _)| *c).collect();
        for c in expired {
            if let Some(sa) = self.sas.remove(&c) {
                self.events.push_back(Event::Phase1Expired { peer: sa.peer, initiator_cookie: c });
            }
        }
        let due: Vec<Cookie> =
            self.sas.iter().filter(|(_, s)| s.timer.as_ref().is_some_and(|t| t.at <= now)).map(|(c, _)| *c).collect();
        for c in due {
            let Some(sa) = self.sas.get_mut(&c) else { continue };
            let Some(t) = sa.timer.as_mut() else { continue };
            if let Some(n) = sa.refused {
                let peer = sa.peer;
                self.half_open = self.half_open.saturating_sub(usize::from(sa.half_open()));
                self.sas.remove(&c);
                self.events.push_back(Event::Phase1Failed { peer, initiator_cookie: c, error: IkeError::Notify(n) });
                continue;
            }
            if t.tries >= self.config.retransmit_tries {
                let (peer, tries) = (sa.peer, t.tries);
                self.half_open = self.half_open.saturating_sub(usize::from(sa.half_open()));
                self.sas.remove(&c);
                self.events.push_back(Event::Phase1Failed {
                    peer,
                    initiator_cookie: c,
                    error: IkeError::Timeout(tries),
                });
                continue;
            }
            t.tries += 1;
            t.interval *= 2;
            t.at = now + t.interval;
            let (local, peer, last) = (sa.local, sa.peer, sa.last_sent.clone());
            if let Some(m) = last {
                self.stats.retransmits += 1;
                self.queue(local, peer, &m);
            }
        }
        let interval = self.config.nat_keepalive;
        for sa in self.sas.values_mut() {
            if sa.keepalive.is_some_and(|at| at <= now) && sa.local.port() == NAT_T_PORT {
                sa.keepalive = Some(now + interval);
                self.stats.keepalives_sent += 1;
                // RFC 3948 §2.3: a single 0xFF byte keeps the NAT mapping open.
                self.transmits.push_back(Transmit { source: sa.local, destination: sa.peer, contents: vec![0xff] });
            }
        }
    }
}
