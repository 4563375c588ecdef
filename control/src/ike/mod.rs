//! The IKEv1 protocol core, sans-IO (quinn-proto style): it consumes datagrams and time and produces datagrams,
//! events and its next deadline; it never reads a clock or touches a socket. So far: Phase 1 Main Mode and
//! Aggressive Mode with pre-shared keys, as initiator and responder, with retransmission (exponential backoff) and
//! duplicate detection (a retransmitted request gets the stored reply); protected informational exchanges on the
//! established ISAKMP SA (DPD, Delete, notifications); expiry at the negotiated lifetime.

/// Finds the one payload of a kind a message must carry.
macro_rules! take {
    ($payloads:expr, $variant:ident, $what:expr) => {
        $payloads
            .iter()
            .find_map(|p| if let Payload::$variant(x) = p { Some(x) } else { None })
            .ok_or(IkeError::MissingPayload($what))?
    };
}

mod aggressive;
mod informational;
mod keys;
mod main_mode;
mod proposal;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::crypto::{CryptoError, Secret};
use crate::isakmp::{
    Body, Cookie, Doi, ExchangeType, Flags, HeaderRepr, IdData, IdRepr, Message, NotificationRepr, NotifyType, Payload,
    ProtocolId,
};
pub use proposal::{choose, offer, Phase1Proposal, ProposalError, DEFAULT_LIFETIME_SECS};

use main_mode::{Context, State};

/// Why a message was refused or an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IkeError {
    #[error("malformed message: {0}")]
    Wire(#[from] crate::isakmp::Error),
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    #[error("{0} payload missing")]
    MissingPayload(&'static str),
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    #[error("negotiation failed: {0}")]
    Notify(NotifyType),
    #[error("authentication failed: {0}")]
    AuthenticationFailed(&'static str),
    #[error("no answer after {0} retransmissions")]
    Timeout(u32),
    #[error("no pre-shared key for peer {0}")]
    NoKey(IpAddr),
    #[error("no local ISAKMP policy this implementation supports")]
    NoPolicy,
}

impl IkeError {
    /// The notify type this error answers with, if any.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            IkeError::Notify(n) => Some(*n),
            IkeError::AuthenticationFailed(_) => Some(NotifyType::AUTHENTICATION_FAILED),
            IkeError::Wire(e) => Some(e.notify()),
            _ => None,
        }
    }

    /// Errors that end the exchange. Others (malformed, misplaced or undecryptable messages, which anyone can
    /// forge) drop the message and keep the state, so the retransmission timer still runs.
    fn is_fatal(&self) -> bool {
        matches!(self, IkeError::Notify(_) | IkeError::AuthenticationFailed(_))
    }
}

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// ISAKMP policies in priority order (the initiator offers them in this order).
    pub policies: Vec<Phase1Proposal>,
    /// Pre-shared keys by peer address.
    pub keys: Vec<(IpAddr, Secret)>,
    /// First retransmission interval; doubled after each retransmission.
    pub retransmit_interval: Duration,
    /// Retransmissions before an exchange is given up.
    pub retransmit_tries: u32,
    /// Responder exchanges in negotiation at once; message 1 beyond this is dropped (each costs a DH computation
    /// later, so a flood of forged message 1s must not grow the table without bound).
    pub max_half_open: usize,
    /// Whether to answer Aggressive Mode as responder (Cisco's `crypto isakmp aggressive-mode disable` turns it off).
    pub aggressive_mode: bool,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// What happened, for the SA manager and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Phase1Established {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        responder_cookie: Cookie,
        initiator: bool,
        proposal: Phase1Proposal,
    },
    Phase1Failed {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        error: IkeError,
    },
    /// The ISAKMP SA reached its negotiated lifetime and was removed.
    Phase1Expired {
        peer: SocketAddr,
        initiator_cookie: Cookie,
    },
    /// The ISAKMP SA was deleted, by us (`Endpoint::delete`) or by the peer's authenticated Delete.
    Phase1Deleted {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        by_peer: bool,
    },
    /// The answer to a DPD probe.
    DpdAck {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        sequence: u32,
    },
    /// A notification other than DPD; `protected` says whether it came authenticated in an informational
    /// exchange on the ISAKMP SA.
    Notification {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        notify_type: NotifyType,
        protected: bool,
    },
    /// The peer deleted Phase 2 SAs (for the SA manager).
    Phase2Deleted {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        protocol: ProtocolId,
        spis: Vec<Vec<u8>>,
    },
}

/// Counters of what the endpoint dropped or repeated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub malformed: u64,
    pub unsupported_exchange: u64,
    pub unknown_sa: u64,
    pub dropped_in_state: u64,
    pub duplicates: u64,
    pub retransmits: u64,
    pub half_open_limit: u64,
    pub aggressive_refused: u64,
}

struct Timer {
    at: Instant,
    interval: Duration,
    tries: u32,
}

struct Phase1Sa {
    peer: SocketAddr,
    /// Main Mode or Aggressive Mode: messages of the other exchange are not for this SA.
    exchange: ExchangeType,
    /// Whether `last_sent` answered `last_received` (so a duplicate of it must get `last_sent` again).
    answered: bool,
    initiator: bool,
    rcookie: Cookie,
    state: State,
    last_sent: Option<Vec<u8>>,
    last_received: Option<Vec<u8>>,
    timer: Option<Timer>,
    /// When an established SA's lifetime ends.
    expires: Option<Instant>,
}

/// One IKE endpoint (one local address).
pub struct Endpoint {
    config: Config,
    local_id: IdRepr,
    sas: HashMap<Cookie, Phase1Sa>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

fn random_cookie() -> Result<Cookie, IkeError> {
    let mut c = [0u8; 8];
    crate::crypto::dh::random_bytes(&mut c)?;
    Ok(c)
}

impl Endpoint {
    /// An endpoint at `local`, identifying itself by that address (ID_IPV4_ADDR / ID_IPV6_ADDR, UDP port 500).
    pub fn new(config: Config, local: SocketAddr) -> Result<Self, IkeError> {
        if config.policies.is_empty() || config.policies.iter().any(|p| !p.is_supported()) {
            return Err(IkeError::NoPolicy);
        }
        let data = match local.ip() {
            IpAddr::V4(a) => IdData::Ipv4Addr(a),
            IpAddr::V6(a) => IdData::Ipv6Addr(a),
        };
        Ok(Endpoint {
            config,
            local_id: IdRepr { protocol: 17, port: 500, data },
            sas: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    fn psk(&self, peer: IpAddr) -> Result<&Secret, IkeError> {
        self.config.keys.iter().find(|(a, _)| *a == peer).map(|(_, k)| k).ok_or(IkeError::NoKey(peer))
    }

    /// Starts Main Mode towards `peer`; returns the initiator cookie naming the new ISAKMP SA.
    pub fn connect(&mut self, now: Instant, peer: SocketAddr) -> Result<Cookie, IkeError> {
        self.initiate(now, peer, ExchangeType::MAIN_MODE)
    }

    /// Starts Aggressive Mode towards `peer` (offering the policies that share the first policy's DH group).
    pub fn connect_aggressive(&mut self, now: Instant, peer: SocketAddr) -> Result<Cookie, IkeError> {
        self.initiate(now, peer, ExchangeType::AGGRESSIVE)
    }

    fn initiate(&mut self, now: Instant, peer: SocketAddr, exchange: ExchangeType) -> Result<Cookie, IkeError> {
        let icookie = random_cookie()?;
        let ctx = Context { policies: &self.config.policies, psk: self.psk(peer.ip())?, local_id: &self.local_id };
        let (state, msg) = if exchange == ExchangeType::AGGRESSIVE {
            aggressive::initiate(&ctx, icookie)?
        } else {
            main_mode::initiate(&ctx, icookie)?
        };
        let mut sa = Phase1Sa {
            peer,
            exchange,
            answered: false,
            initiator: true,
            rcookie: [0; 8],
            state,
            last_sent: None,
            last_received: None,
            timer: None,
            expires: None,
        };
        self.send(now, &mut sa, msg);
        self.sas.insert(icookie, sa);
        Ok(icookie)
    }

    fn send(&mut self, now: Instant, sa: &mut Phase1Sa, msg: Option<Vec<u8>>) {
        if let Some(m) = msg {
            self.transmits.push_back(Transmit { destination: sa.peer, contents: m.clone() });
            sa.last_sent = Some(m);
        }
        sa.timer = sa.state.awaits_reply().then(|| Timer {
            at: now + self.config.retransmit_interval,
            interval: self.config.retransmit_interval,
            tries: 0,
        });
    }

    /// Processes one received datagram (the UDP payload) from `remote`.
    pub fn handle(&mut self, now: Instant, remote: SocketAddr, datagram: &[u8]) {
        let msg = match Message::parse(datagram) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let exchange = msg.header.exchange_type;
        if exchange == ExchangeType::INFORMATIONAL {
            self.informational(now, remote, &msg);
            return;
        }
        if exchange != ExchangeType::MAIN_MODE && exchange != ExchangeType::AGGRESSIVE {
            self.stats.unsupported_exchange += 1;
            return;
        }
        let icookie = msg.header.initiator_cookie;
        let Some(mut sa) = self.sas.remove(&icookie) else {
            if msg.header.responder_cookie == [0; 8] && !msg.header.flags.encrypted() {
                self.accept(now, remote, &msg, datagram);
            } else {
                self.stats.unknown_sa += 1;
            }
            return;
        };
        let keep = self.step(now, remote, &mut sa, &msg, datagram);
        if keep {
            self.sas.insert(icookie, sa);
        }
    }

    /// Advances an existing SA; returns whether it is kept.
    fn step(&mut self, now: Instant, remote: SocketAddr, sa: &mut Phase1Sa, msg: &Message, datagram: &[u8]) -> bool {
        if remote != sa.peer
            || msg.header.exchange_type != sa.exchange
            || (sa.rcookie != [0; 8] && msg.header.responder_cookie != sa.rcookie)
        {
            self.stats.unknown_sa += 1;
            return true;
        }
        if sa.last_received.as_deref() == Some(datagram) {
            // A retransmitted request: answer with the stored reply, state unchanged.
            self.stats.duplicates += 1;
            if let (true, Some(m)) = (sa.answered, &sa.last_sent) {
                self.transmits.push_back(Transmit { destination: sa.peer, contents: m.clone() });
            }
            return true;
        }
        let result = match self.psk(sa.peer.ip()) {
            Ok(psk) => {
                let ctx = Context { policies: &self.config.policies, psk, local_id: &self.local_id };
                sa.state.clone().handle(&ctx, msg)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok((next, reply)) => {
                if sa.initiator && sa.rcookie == [0; 8] {
                    sa.rcookie = msg.header.responder_cookie;
                }
                sa.state = next;
                sa.last_received = Some(datagram.to_vec());
                sa.answered = reply.is_some();
                self.send(now, sa, reply);
                if let State::Established(e) = &sa.state {
                    sa.expires = Some(now + Duration::from_secs(u64::from(e.proposal.lifetime_secs)));
                    self.events.push_back(Event::Phase1Established {
                        peer: sa.peer,
                        initiator_cookie: msg.header.initiator_cookie,
                        responder_cookie: sa.rcookie,
                        initiator: sa.initiator,
                        proposal: e.proposal,
                    });
                }
                true
            }
            Err(e) if !e.is_fatal() => {
                self.stats.dropped_in_state += 1;
                true
            }
            Err(error) => {
                self.events.push_back(Event::Phase1Failed {
                    peer: sa.peer,
                    initiator_cookie: msg.header.initiator_cookie,
                    error,
                });
                false
            }
        }
    }

    /// A Main Mode message 1 from a new peer: answer as responder.
    fn accept(&mut self, now: Instant, remote: SocketAddr, msg: &Message, datagram: &[u8]) {
        let half_open = self.sas.values().filter(|s| !s.initiator && s.state.awaits_reply()).count();
        if half_open >= self.config.max_half_open {
            self.stats.half_open_limit += 1;
            return;
        }
        let icookie = msg.header.initiator_cookie;
        let exchange = msg.header.exchange_type;
        if exchange == ExchangeType::AGGRESSIVE && !self.config.aggressive_mode {
            self.stats.aggressive_refused += 1;
            return;
        }
        let result = random_cookie().and_then(|rcookie| {
            let ctx =
                Context { policies: &self.config.policies, psk: self.psk(remote.ip())?, local_id: &self.local_id };
            let step = if exchange == ExchangeType::AGGRESSIVE {
                aggressive::respond(&ctx, msg, rcookie)?
            } else {
                main_mode::respond(&ctx, msg, rcookie)?
            };
            Ok((rcookie, step))
        });
        match result {
            Ok((rcookie, (state, reply))) => {
                let mut sa = Phase1Sa {
                    peer: remote,
                    exchange,
                    answered: true,
                    initiator: false,
                    rcookie,
                    state,
                    last_sent: None,
                    last_received: Some(datagram.to_vec()),
                    timer: None,
                    expires: None,
                };
                self.send(now, &mut sa, reply);
                self.sas.insert(icookie, sa);
            }
            Err(error) => {
                if let Some(n) = error.notify() {
                    self.notify_unprotected(remote, icookie, n);
                }
                self.events.push_back(Event::Phase1Failed { peer: remote, initiator_cookie: icookie, error });
            }
        }
    }

    /// An unencrypted Informational notify, for failures before keys exist (RFC 2408 §4.8 allows it).
    fn notify_unprotected(&mut self, peer: SocketAddr, icookie: Cookie, notify_type: NotifyType) {
        let mut mid = [0u8; 4];
        if crate::crypto::dh::random_bytes(&mut mid).is_err() {
            return;
        }
        let header = HeaderRepr {
            initiator_cookie: icookie,
            responder_cookie: [0; 8],
            minor_version: 0,
            exchange_type: ExchangeType::INFORMATIONAL,
            flags: Flags::default(),
            message_id: u32::from_be_bytes(mid),
        };
        let n = NotificationRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type,
            spi: Vec::new(),
            data: Vec::new(),
        };
        if let Ok(contents) = (Message { header, body: Body::Payloads(vec![Payload::Notification(n)]) }).to_bytes() {
            self.transmits.push_back(Transmit { destination: peer, contents });
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas.values().flat_map(|s| [s.timer.as_ref().map(|t| t.at), s.expires]).flatten().min()
    }

    /// Retransmits what is due and gives up exchanges that ran out of retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
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
            if t.tries >= self.config.retransmit_tries {
                let (peer, tries) = (sa.peer, t.tries);
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
            if let Some(m) = &sa.last_sent {
                self.stats.retransmits += 1;
                self.transmits.push_back(Transmit { destination: sa.peer, contents: m.clone() });
            }
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// SKEYID_d of an established ISAKMP SA (the root of its Phase 2 keys).
    pub fn skeyid_d(&self, icookie: &Cookie) -> Option<&Secret> {
        match &self.sas.get(icookie)?.state {
            State::Established(e) => Some(&e.crypto.skeyids.skeyid_d),
            _ => None,
        }
    }

    /// Number of ISAKMP SAs (in negotiation or established).
    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }
}
