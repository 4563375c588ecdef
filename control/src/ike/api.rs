//! The endpoint's public types: configuration, errors, datagrams out, events, counters.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::crypto::{CryptoError, Secret};
use crate::isakmp::{Cookie, NotifyType, ProtocolId};

use super::nat::NatStatus;
use super::proposal::Phase1Proposal;

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
    pub(super) fn is_fatal(&self) -> bool {
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
    /// RFC 3947 NAT traversal: announce it, send NAT-D, float to port 4500 when a NAT is found.
    pub nat_traversal: bool,
    /// Interval of NAT keepalives sent by a side behind a NAT (`[isakmp] nat_keepalive`).
    pub nat_keepalive: Duration,
}

/// A UDP datagram to send. `contents` is the whole UDP payload (with the non-ESP marker on port 4500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// What happened, for the SA manager and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Phase1Established {
        /// Our address and port for this SA (port 4500 after a NAT was found).
        local: SocketAddr,
        peer: SocketAddr,
        initiator_cookie: Cookie,
        responder_cookie: Cookie,
        initiator: bool,
        proposal: Phase1Proposal,
        nat: NatStatus,
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
    /// Datagrams on port 4500 that were not IKE (ESP belongs to the data path) and NAT keepalives received.
    pub not_ike: u64,
    pub keepalives_received: u64,
    pub keepalives_sent: u64,
}
