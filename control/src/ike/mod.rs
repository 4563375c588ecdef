//! The IKEv1 protocol core, sans-IO (quinn-proto style): it consumes datagrams and time and produces datagrams,
//! events and its next deadline; it never reads a clock or touches a socket. So far: Phase 1 Main Mode and
//! Aggressive Mode with pre-shared keys or RSA / ECDSA (P-256, P-384) certificates ([`SignatureAuth`]), as
//! initiator and responder, with retransmission (exponential backoff) and
//! duplicate detection (a retransmitted request gets the stored reply); protected informational exchanges on the
//! established ISAKMP SA (DPD, Delete, notifications); expiry at the negotiated lifetime; RFC 3947 NAT traversal
//! (NAT-D, float to port 4500, keepalives). Interoperates with strongSwan 5.9 (tests/isakmp_strongswan.rs).
//! Quick Mode (RFC 2409 §5.5) as initiator and responder: ESP/AH proposals, proxy identities, PFS, lifetimes,
//! commit bit, KEYMAT for the engine ([`Event::Phase2Established`]). Pre-shared keys by peer identity for the
//! Aggressive Mode responder ([`Endpoint::set_identity_keys`]); the peer's Vendor IDs by name
//! ([`Event::VendorIds`]). INITIAL-CONTACT (RFC 2407 §4.6.3.3) in Main Mode messages 5/6 ([`Event::InitialContact`]).
//! Limits on what unauthenticated senders can cost: a per-source rate of new responder exchanges, a half-open
//! table bounded in size and drained by the retransmission timer, a maximum message size (see [`Config`] and the
//! drop counters in [`Stats`]). Not yet: rekeying, certificate revocation.

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
mod api;
mod delete_ipsec;
mod export;
mod informational;
mod initial_contact;
mod ipsec_proposal;
mod keys;
mod limits;
mod main_mode;
mod nat;
mod phase1_auth;
mod proposal;
mod proxy;
mod psk_id;
mod qm_keys;
#[cfg(test)]
mod qm_refusals;
mod qm_responder;
mod quick_mode;
mod reconfigure;
mod timers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::crypto::Secret;
use crate::isakmp::{
    Body, Cookie, Doi, ExchangeType, Flags, HeaderRepr, IdData, IdRepr, Message, NotificationRepr, NotifyType, Payload,
    ProtocolId,
};
pub use api::{
    Config, CryptoMapPolicy, EncapsulationMode, Event, IkeError, IpsecTransformSet, Phase2Sa, ProxyAddress,
    ProxyIdentity, SaKeys, SaPair, Stats, Transmit, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
    DEFAULT_RATE_LIMIT_SOURCES,
};
pub use ipsec_proposal::DEFAULT_IPSEC_LIFETIME_SECS;
pub use nat::{NatStatus, NAT_T_PORT};
pub use phase1_auth::SignatureAuth;
pub use proposal::{choose, offer, Phase1Proposal, ProposalError, DEFAULT_LIFETIME_SECS};
pub use proxy::{phase2_policies, PolicyError};
pub use psk_id::{identity_data, identity_keys};

use main_mode::{Context, State};
use nat::Framed;

struct Timer {
    at: Instant,
    interval: Duration,
    tries: u32,
}

struct Phase1Sa {
    /// Our address for this SA: port 500, or 4500 after floating.
    local: SocketAddr,
    peer: SocketAddr,
    /// Main Mode or Aggressive Mode: messages of the other exchange are not for this SA.
    exchange: ExchangeType,
    /// Whether `last_sent` answered `last_received` (so a duplicate of it must get `last_sent` again).
    answered: bool,
    initiator: bool,
    rcookie: Cookie,
    state: State,
    /// ISAKMP bytes (without the port-4500 marker, added when sent).
    last_sent: Option<Vec<u8>>,
    last_received: Option<Vec<u8>>,
    timer: Option<Timer>,
    /// When an established SA's lifetime ends.
    expires: Option<Instant>,
    /// When the next NAT keepalive is due (established, behind a NAT).
    keepalive: Option<Instant>,
    /// An error notify the peer sent in the clear while we negotiate: the exchange ends with it when the
    /// retransmission timer next fires, unless an authentic message arrives first (a notify without keys may be
    /// forged, so it must not end the exchange at once).
    refused: Option<NotifyType>,
}

/// One IKE endpoint (one local address).
pub struct Endpoint {
    config: Config,
    /// Certificate credentials for RSA/ECDSA signature authentication ([`Endpoint::with_signature_auth`]).
    signature: Option<SignatureAuth>,
    /// Our address on the IKE port (500).
    local: SocketAddr,
    local_id: IdRepr,
    sas: HashMap<Cookie, Phase1Sa>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Quick Mode exchanges by (initiator cookie, message ID).
    quick: HashMap<(Cookie, u32), quick_mode::QuickExchange>,
    /// Quick Mode policies (crypto map entries) the responder matches against.
    crypto_maps: Vec<CryptoMapPolicy>,
    /// Inbound SPIs in use (negotiating or installed), never handed out twice.
    inbound_spis: HashSet<u32>,
    /// Whether our Quick Mode initiator sets the commit bit.
    qm_commit: bool,
    /// Pre-shared keys by peer identity, for the Aggressive Mode responder ([`Endpoint::set_identity_keys`]).
    identity_keys: Vec<(IdData, Secret)>,
    /// Whether [`Event::VendorIds`] is raised ([`Endpoint::set_vendor_id_events`]).
    vendor_id_events: bool,
    /// New responder exchanges per source address.
    limiter: limits::RateLimiter,
    /// Whether Main Mode sends INITIAL-CONTACT ([`Endpoint::set_initial_contact`]).
    send_initial_contact: bool,
    /// Whether [`Event::Phase2InboundReady`] is raised ([`Endpoint::set_early_inbound`]).
    early_inbound: bool,
    /// Responder SAs in negotiation, kept as a count so a flood of message 1s costs no scan of the table.
    half_open: usize,
}

fn random_cookie() -> Result<Cookie, IkeError> {
    let mut c = [0u8; 8];
    crate::crypto::dh::random_bytes(&mut c)?;
    Ok(c)
}

impl Endpoint {
    /// An endpoint at `local` (the IKE port, normally 500), identifying itself by that address (ID_IPV4_ADDR /
    /// ID_IPV6_ADDR, UDP port 500). Pre-shared key policies only.
    pub fn new(config: Config, local: SocketAddr) -> Result<Self, IkeError> {
        Self::build(config, local, None)
    }

    /// An endpoint that may also authenticate with certificates (policies with RSA or ECDSA signatures).
    pub fn with_signature_auth(config: Config, local: SocketAddr, auth: SignatureAuth) -> Result<Self, IkeError> {
        Self::build(config, local, Some(auth))
    }

    fn build(config: Config, local: SocketAddr, signature: Option<SignatureAuth>) -> Result<Self, IkeError> {
        let unusable =
            |p: &Phase1Proposal| !p.is_supported() || (phase1_auth::is_signature(p.auth) && signature.is_none());
        if config.policies.is_empty() || config.policies.iter().any(unusable) {
            return Err(IkeError::NoPolicy);
        }
        let data = match local.ip() {
            IpAddr::V4(a) => IdData::Ipv4Addr(a),
            IpAddr::V6(a) => IdData::Ipv6Addr(a),
        };
        Ok(Endpoint {
            config,
            signature,
            local,
            local_id: IdRepr { protocol: 17, port: 500, data },
            sas: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            quick: HashMap::new(),
            crypto_maps: Vec::new(),
            inbound_spis: HashSet::new(),
            qm_commit: false,
            identity_keys: Vec::new(),
            vendor_id_events: false,
            limiter: limits::RateLimiter::default(),
            send_initial_contact: false,
            early_inbound: false,
            half_open: 0,
        })
    }

    fn psk(&self, peer: IpAddr) -> Result<&Secret, IkeError> {
        self.config.keys.iter().find(|(a, _)| *a == peer).map(|(_, k)| k).ok_or(IkeError::NoKey(peer))
    }

    /// Pre-shared keys by the peer's identity (ID_FQDN / ID_USER_FQDN, e.g. from [`identity_keys`]), replacing
    /// any set before. Only the Aggressive Mode responder uses them, when no key matches the peer's address: the
    /// initiator's ID arrives in the clear in message 1. Main Mode cannot: its ID comes in message 5, encrypted
    /// with a key derived from the pre-shared key itself (RFC 2409 §5.4), so there the address picks the key.
    pub fn set_identity_keys(&mut self, keys: Vec<(IdData, Secret)>) {
        self.identity_keys = keys;
    }

    /// The ID this endpoint sends with pre-shared keys (by default its address: ID_IPV4_ADDR / ID_IPV6_ADDR), e.g.
    /// ID_FQDN for a responder that picks our key by identity. Signature authentication sends
    /// [`SignatureAuth::identity`] instead.
    pub fn set_local_identity(&mut self, data: IdData) {
        self.local_id.data = data;
    }

    /// Whether to raise [`Event::VendorIds`] (off by default, so callers that do not log them see no new events).
    pub fn set_vendor_id_events(&mut self, on: bool) {
        self.vendor_id_events = on;
    }

    /// Whether Main Mode sends INITIAL-CONTACT (RFC 2407 §4.6.3.3) in message 5 or 6 when no other ISAKMP SA with
    /// the peer exists, so a peer that still holds SAs from before we started drops them. Off by default, for
    /// callers that do not act on [`Event::InitialContact`]; one received is acted on either way.
    pub fn set_initial_contact(&mut self, on: bool) {
        self.send_initial_contact = on;
    }

    /// Whether the Quick Mode responder raises [`Event::Phase2InboundReady`] when it sends message 2, so its inbound
    /// SAs can be installed before message 3 arrives (the initiator may send on them right after message 3, and
    /// such packets can overtake message 3's handling). Off by default.
    pub fn set_early_inbound(&mut self, on: bool) {
        self.early_inbound = on;
    }

    fn context(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Result<Context<'_>, IkeError> {
        self.context_for(now, local, remote, None)
    }

    /// The context for a peer that sent the identity `peer_id` (Aggressive Mode message 1): its address key, or
    /// failing that its identity key.
    fn context_for(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        peer_id: Option<&IdData>,
    ) -> Result<Context<'_>, IkeError> {
        let by_id = || peer_id.and_then(|id| psk_id::find(&self.identity_keys, id));
        Ok(Context {
            policies: &self.config.policies,
            psk: self.psk(remote.ip()).ok().or_else(by_id),
            signature: self.signature.as_ref(),
            now,
            local_id: &self.local_id,
            nat_traversal: self.config.nat_traversal,
            local,
            remote,
            // Main Mode sends INITIAL-CONTACT with its authentication when no other SA with the peer exists.
            initial_contact: self.send_initial_contact && !self.has_established_with(remote.ip()),
        })
    }

    /// Queues an ISAKMP message from `local` to `peer`, with the non-ESP marker on the NAT-T port.
    fn queue(&mut self, local: SocketAddr, peer: SocketAddr, isakmp: &[u8]) {
        let contents = if local.port() == NAT_T_PORT { nat::frame(isakmp) } else { isakmp.to_vec() };
        self.transmits.push_back(Transmit { source: local, destination: peer, contents });
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
        let ctx = self.context(now, self.local, peer)?;
        let (state, msg) = if exchange == ExchangeType::AGGRESSIVE {
            aggressive::initiate(&ctx, icookie)?
        } else {
            main_mode::initiate(&ctx, icookie)?
        };
        let mut sa = Phase1Sa {
            local: self.local,
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
            keepalive: None,
            refused: None,
        };
        self.send(now, &mut sa, msg);
        self.sas.insert(icookie, sa);
        Ok(icookie)
    }

    fn send(&mut self, now: Instant, sa: &mut Phase1Sa, msg: Option<Vec<u8>>) {
        if let Some(m) = msg {
            self.queue(sa.local, sa.peer, &m);
            sa.last_sent = Some(m);
        }
        sa.timer = sa.state.awaits_reply().then(|| Timer {
            at: now + self.config.retransmit_interval,
            interval: self.config.retransmit_interval,
            tries: 0,
        });
    }

    /// Processes one received UDP datagram: `local` is the address and port it arrived at (500, or 4500 where the
    /// payload starts with the non-ESP marker), `remote` where it came from.
    pub fn handle(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, udp_payload: &[u8]) {
        let datagram = if local.port() == NAT_T_PORT {
            match nat::unframe(udp_payload) {
                Framed::Ike(d) => d,
                Framed::Keepalive => {
                    self.stats.keepalives_received += 1;
                    return;
                }
                Framed::NotIke => {
                    self.stats.not_ike += 1;
                    return;
                }
            }
        } else {
            udp_payload
        };
        // Before parsing: the codec allocates per payload.
        if datagram.len() > self.config.max_message_size {
            self.stats.oversized += 1;
            return;
        }
        let msg = match Message::parse(datagram) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let exchange = msg.header.exchange_type;
        let qm_key = (msg.header.initiator_cookie, msg.header.message_id);
        if exchange == ExchangeType::INFORMATIONAL && self.quick.contains_key(&qm_key) {
            self.quick_connected(now, qm_key, &msg, datagram);
            return;
        }
        if exchange == ExchangeType::INFORMATIONAL {
            self.quick_notify_received(now, &msg);
            self.informational(now, remote, &msg);
            return;
        }
        if exchange == ExchangeType::QUICK_MODE {
            self.quick_message(now, remote, &msg, datagram);
            return;
        }
        if exchange != ExchangeType::MAIN_MODE && exchange != ExchangeType::AGGRESSIVE {
            self.stats.unsupported_exchange += 1;
            return;
        }
        let icookie = msg.header.initiator_cookie;
        let Some(mut sa) = self.sas.remove(&icookie) else {
            if msg.header.responder_cookie == [0; 8] && !msg.header.flags.encrypted() {
                self.accept(now, local, remote, &msg, datagram);
            } else {
                self.stats.unknown_sa += 1;
            }
            return;
        };
        let was_half_open = sa.half_open();
        let (keep, established) = self.step(now, local, remote, &mut sa, &msg, datagram);
        if was_half_open && !(keep && sa.half_open()) {
            self.half_open = self.half_open.saturating_sub(1);
        }
        if keep {
            self.sas.insert(icookie, sa);
        }
        if established {
            self.initial_contact_on_established(icookie);
        }
    }

    /// Advances an existing SA; returns whether it is kept, and whether it was established just now.
    fn step(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        sa: &mut Phase1Sa,
        msg: &Message,
        datagram: &[u8],
    ) -> (bool, bool) {
        // After NAT-D found a NAT, the peer moves to port 4500, possibly through a new NAT mapping: follow it
        // (RFC 3947 §4). The message must still authenticate for the exchange to advance.
        let floats = local.port() == NAT_T_PORT && remote.ip() == sa.peer.ip() && sa.state.may_float();
        if (remote != sa.peer && !floats) || msg.header.exchange_type != sa.exchange {
            self.stats.unknown_sa += 1;
            return (true, false);
        }
        // Before the cookie check: a retransmitted message 1 still has a zero responder cookie.
        if sa.last_received.as_deref() == Some(datagram) {
            // A retransmitted request: answer with the stored reply, state unchanged.
            self.stats.duplicates += 1;
            if let (true, Some(m)) = (sa.answered, sa.last_sent.clone()) {
                self.queue(sa.local, sa.peer, &m);
            }
            return (true, false);
        }
        if sa.rcookie != [0; 8] && msg.header.responder_cookie != sa.rcookie {
            self.stats.unknown_sa += 1;
            return (true, false);
        }
        // The peer's first message of an exchange we started (message 2) is where its Vendor IDs are.
        let first_reply = sa.initiator && sa.last_received.is_none();
        let result = self.context(now, local, remote).and_then(|ctx| sa.state.clone().handle(&ctx, msg));
        match result {
            Ok((next, reply)) => {
                if first_reply {
                    self.report_vendor_ids(sa.peer, msg.header.initiator_cookie, msg.payloads());
                }
                if sa.initiator && sa.rcookie == [0; 8] {
                    sa.rcookie = msg.header.responder_cookie;
                }
                if floats {
                    (sa.local, sa.peer) = (local, remote);
                } else if sa.initiator && next.nat().detected() && sa.local.port() != NAT_T_PORT {
                    // RFC 3947 §4: the initiator switches to port 4500 for message 5 on.
                    sa.local.set_port(NAT_T_PORT);
                    sa.peer.set_port(NAT_T_PORT);
                }
                sa.state = next;
                sa.refused = None;
                sa.last_received = Some(datagram.to_vec());
                sa.answered = reply.is_some();
                self.send(now, sa, reply);
                if let State::Established(e) = &sa.state {
                    sa.expires = Some(now + Duration::from_secs(u64::from(e.proposal.lifetime_secs)));
                    if e.nat.local_behind_nat {
                        sa.keepalive = Some(now + self.config.nat_keepalive);
                    }
                    self.events.push_back(Event::Phase1Established {
                        local: sa.local,
                        peer: sa.peer,
                        initiator_cookie: msg.header.initiator_cookie,
                        responder_cookie: sa.rcookie,
                        initiator: sa.initiator,
                        proposal: e.proposal,
                        nat: e.nat,
                        peer_id: e.peer_id.clone(),
                    });
                    return (true, true);
                }
                (true, false)
            }
            Err(e) if !e.is_fatal() => {
                self.stats.dropped_in_state += 1;
                (true, false)
            }
            Err(error) => {
                if first_reply {
                    self.report_vendor_ids(sa.peer, msg.header.initiator_cookie, msg.payloads());
                }
                // RFC 2408 §5: tell the peer why (PAYLOAD-MALFORMED, NO-PROPOSAL-CHOSEN, ...), in the clear since
                // no keys are agreed. Not a failed authentication (HASH, SIG or certificate): someone guessing the
                // pre-shared key or trying certificates then learns of each miss only from the timeout.
                match error.notify() {
                    Some(n) if n != NotifyType::AUTHENTICATION_FAILED && n != NotifyType::INVALID_CERTIFICATE => {
                        let rcookie = if sa.initiator { msg.header.responder_cookie } else { sa.rcookie };
                        self.notify_unprotected(sa.local, sa.peer, (msg.header.initiator_cookie, rcookie), n);
                    }
                    _ => {}
                }
                self.events.push_back(Event::Phase1Failed {
                    peer: sa.peer,
                    initiator_cookie: msg.header.initiator_cookie,
                    error,
                });
                (false, false)
            }
        }
    }

    /// Message 1 from a new peer: answer as responder.
    fn accept(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, msg: &Message, datagram: &[u8]) {
        let icookie = msg.header.initiator_cookie;
        let exchange = msg.header.exchange_type;
        if exchange == ExchangeType::AGGRESSIVE && !self.config.aggressive_mode {
            self.stats.aggressive_refused += 1;
            return;
        }
        let (rate, sources) = (self.config.max_new_per_source_per_sec, self.config.rate_limit_sources);
        if !self.limiter.allow(now, remote.ip(), rate, sources) {
            self.stats.rate_limited += 1;
            return;
        }
        if self.half_open() >= self.config.max_half_open {
            self.stats.half_open_limit += 1;
            return;
        }
        self.report_vendor_ids(remote, icookie, msg.payloads());
        let result = random_cookie().and_then(|rcookie| {
            let step = if exchange == ExchangeType::AGGRESSIVE {
                let idii =
                    msg.payloads().iter().find_map(|p| if let Payload::Id(id) = p { Some(&id.data) } else { None });
                aggressive::respond(&self.context_for(now, local, remote, idii)?, msg, rcookie)?
            } else {
                main_mode::respond(&self.context(now, local, remote)?, msg, rcookie)?
            };
            Ok((rcookie, step))
        });
        match result {
            Ok((rcookie, (state, reply))) => {
                let mut sa = Phase1Sa {
                    local,
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
                    keepalive: None,
                    refused: None,
                };
                self.send(now, &mut sa, reply);
                self.half_open += usize::from(sa.half_open());
                self.sas.insert(icookie, sa);
            }
            Err(error) => {
                // (A responder that failed keeps no state, so a retransmitted message 1 is judged afresh.)
                if let Some(n) = error.notify() {
                    self.notify_unprotected(local, remote, (icookie, [0; 8]), n);
                }
                self.events.push_back(Event::Phase1Failed { peer: remote, initiator_cookie: icookie, error });
            }
        }
    }

    /// Raises [`Event::VendorIds`] for the Vendor ID payloads of the peer's first Phase 1 message, if it has any.
    fn report_vendor_ids(&mut self, peer: SocketAddr, initiator_cookie: Cookie, payloads: &[Payload]) {
        let vids: Vec<&Vec<u8>> =
            payloads.iter().filter_map(|p| if let Payload::VendorId(v) = p { Some(v) } else { None }).collect();
        if !self.vendor_id_events || vids.is_empty() {
            return;
        }
        let mut names = Vec::new();
        let mut unknown = Vec::new();
        for v in vids {
            match crate::isakmp::vendor::recognize(v) {
                Some(k) => names.push(k.name.to_owned()),
                None => unknown.push(v.clone()),
            }
        }
        self.events.push_back(Event::VendorIds { peer, initiator_cookie, names, unknown });
    }

    /// An unencrypted Informational notify, for failures before keys exist (RFC 2408 §4.8 allows it).
    fn notify_unprotected(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        (icookie, rcookie): (Cookie, Cookie),
        notify_type: NotifyType,
    ) {
        let mut mid = [0u8; 4];
        if crate::crypto::dh::random_bytes(&mut mid).is_err() {
            return;
        }
        let header = HeaderRepr {
            initiator_cookie: icookie,
            responder_cookie: rcookie,
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
        if let Ok(m) = (Message { header, body: Body::Payloads(vec![Payload::Notification(n)]) }).to_bytes() {
            self.queue(local, peer, &m);
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
