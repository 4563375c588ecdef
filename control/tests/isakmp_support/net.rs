//! Two sans-IO IKE endpoints joined in memory, on simulated time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use control::crypto::{IkeCipher, Secret};
use control::ike::{Config, Endpoint, Event, Phase1Proposal};
use control::isakmp::{AuthMethod, GroupDescription, HashAlgorithm};

pub const I: &str = "192.0.2.1:500";
pub const R: &str = "198.51.100.1:500";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn policy(cipher: IkeCipher, hash: HashAlgorithm, group: GroupDescription) -> Phase1Proposal {
    Phase1Proposal { cipher, hash, auth: AuthMethod::PRE_SHARED_KEY, group, lifetime_secs: 86_400 }
}

pub fn config(policies: Vec<Phase1Proposal>, peer: &str, key: &[u8]) -> Config {
    Config {
        policies,
        keys: vec![(addr(peer).ip(), Secret::from_slice(key))],
        retransmit_interval: Duration::from_secs(1),
        retransmit_tries: 3,
        max_half_open: 4,
        aggressive_mode: true,
        nat_traversal: true,
        nat_keepalive: Duration::from_secs(20),
        max_new_per_source_per_sec: control::ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
        rate_limit_sources: control::ike::DEFAULT_RATE_LIMIT_SOURCES,
        max_message_size: control::ike::DEFAULT_MAX_MESSAGE_SIZE,
    }
}

/// A NAT in front of the initiator: its private address maps to `public`, each port shifted by `port_shift`.
#[derive(Clone, Copy)]
pub struct Nat {
    pub public: std::net::IpAddr,
    pub port_shift: u16,
}

/// Two endpoints and the datagrams in flight between them (`log` holds what was sent, as sent, by sender).
pub struct Net {
    pub i: Endpoint,
    pub r: Endpoint,
    pub now: Instant,
    pub delivered: usize,
    pub log: Vec<(SocketAddr, Vec<u8>)>,
    pub nat: Option<Nat>,
}

impl Net {
    pub fn new(ci: Config, cr: Config) -> Self {
        Net {
            i: Endpoint::new(ci, addr(I)).unwrap(),
            r: Endpoint::new(cr, addr(R)).unwrap(),
            now: Instant::now(),
            delivered: 0,
            log: Vec::new(),
            nat: None,
        }
    }

    /// The initiator's address as the responder sees it.
    pub fn outside(&self, private: SocketAddr) -> SocketAddr {
        match self.nat {
            Some(n) => SocketAddr::new(n.public, private.port() + n.port_shift),
            None => private,
        }
    }

    fn inside(&self, public: SocketAddr) -> SocketAddr {
        match self.nat {
            Some(n) => {
                assert_eq!(public.ip(), n.public, "sent to the NAT's public address");
                SocketAddr::new(addr(I).ip(), public.port() - n.port_shift)
            }
            None => public,
        }
    }

    /// Delivers datagrams until neither side has anything to send; `drop(n, bytes)` may lose the n-th one.
    pub fn pump_with(&mut self, mut drop: impl FnMut(usize, &[u8]) -> bool) {
        loop {
            let mut moved = false;
            while let Some(t) = self.i.poll_transmit() {
                assert_eq!(t.destination.ip(), addr(R).ip());
                assert_eq!(t.source.ip(), addr(I).ip());
                moved = true;
                self.delivered += 1;
                self.log.push((addr(I), t.contents.clone()));
                if !drop(self.delivered, &t.contents) {
                    let from = self.outside(t.source);
                    self.r.handle(self.now, t.destination, from, &t.contents);
                }
            }
            while let Some(t) = self.r.poll_transmit() {
                assert_eq!(t.source.ip(), addr(R).ip());
                moved = true;
                self.delivered += 1;
                self.log.push((addr(R), t.contents.clone()));
                if !drop(self.delivered, &t.contents) {
                    let to = self.inside(t.destination);
                    self.i.handle(self.now, to, t.source, &t.contents);
                }
            }
            if !moved {
                return;
            }
        }
    }

    pub fn pump(&mut self) {
        self.pump_with(|_, _| false);
    }

    /// Advances simulated time to the earliest deadline and fires it.
    pub fn tick(&mut self) -> bool {
        let next = [self.i.poll_timeout(), self.r.poll_timeout()].into_iter().flatten().min();
        let Some(at) = next else { return false };
        self.now = self.now.max(at);
        self.i.handle_timeout(self.now);
        self.r.handle_timeout(self.now);
        true
    }
}

pub fn established(e: &mut Endpoint) -> Option<(control::isakmp::Cookie, Phase1Proposal)> {
    match e.poll_event()? {
        Event::Phase1Established { initiator_cookie, proposal, .. } => Some((initiator_cookie, proposal)),
        other => panic!("unexpected event {other:?}"),
    }
}
