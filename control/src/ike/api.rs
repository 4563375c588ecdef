//! The endpoint's public types: configuration, errors, datagrams out, events, counters.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use engine::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};

use crate::crypto::{CryptoError, Secret};
use crate::isakmp::{Cookie, GroupDescription, IdData, NotifyType, ProtocolId};

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
    /// Aggressive Mode responder: neither the peer's address nor the identity it sent has a pre-shared key.
    #[error("no pre-shared key for peer {address} or its identity {identity}")]
    NoKeyForIdentity { address: IpAddr, identity: String },
    #[error("no local ISAKMP policy this implementation supports")]
    NoPolicy,
    #[error("certificate: {0}")]
    Certificate(crate::pki::PkiError),
    #[error("signature authentication without certificate credentials")]
    NoCredentials,
}

impl IkeError {
    /// The notify type this error answers with, if any.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            IkeError::Notify(n) => Some(*n),
            IkeError::AuthenticationFailed(_) => Some(NotifyType::AUTHENTICATION_FAILED),
            IkeError::Certificate(_) => Some(NotifyType::INVALID_CERTIFICATE),
            IkeError::Wire(e) => Some(e.notify()),
            // What the responder answered before identity keys existed: no proposal it could authenticate.
            IkeError::NoKeyForIdentity { .. } => Some(NotifyType::NO_PROPOSAL_CHOSEN),
            _ => None,
        }
    }

    /// Errors that end the exchange. Others (malformed, misplaced or undecryptable messages, which anyone can
    /// forge) drop the message and keep the state, so the retransmission timer still runs.
    pub(super) fn is_fatal(&self) -> bool {
        matches!(self, IkeError::Notify(_) | IkeError::AuthenticationFailed(_) | IkeError::Certificate(_))
    }
}

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// ISAKMP policies in priority order (the initiator offers them in this order).
    pub policies: Vec<Phase1Proposal>,
    /// Pre-shared keys by peer address. Keys by peer identity (Aggressive Mode responder only) are set with
    /// `Endpoint::set_identity_keys`.
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
    /// New responder exchanges (Phase 1 message 1) accepted per second from one source address, with bursts of up
    /// to twice as many; more are dropped and counted in [`Stats::rate_limited`]. 0 turns the limit off.
    /// Default [`DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC`].
    pub max_new_per_source_per_sec: u32,
    /// Source addresses the rate limiter remembers at once (the oldest is forgotten first), so a flood from many
    /// forged addresses cannot grow the table. Default [`DEFAULT_RATE_LIMIT_SOURCES`].
    pub rate_limit_sources: usize,
    /// Largest IKE message accepted, in bytes (the UDP payload); larger ones are dropped before parsing and counted
    /// in [`Stats::oversized`]. Default [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub max_message_size: usize,
}

/// Default of [`Config::max_new_per_source_per_sec`]: a peer opens one ISAKMP SA at a time, and a few dozen
/// remote-access clients behind one NAT rarely start more than this together.
pub const DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC: u32 = 10;
/// Default of [`Config::rate_limit_sources`].
pub const DEFAULT_RATE_LIMIT_SOURCES: usize = 4096;
/// Default of [`Config::max_message_size`]: 64 KiB, more than any IKEv1 message with a certificate chain needs.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

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
        /// The identity the peer authenticated as (its IDii / IDir), e.g. the FQDN whose key was used.
        peer_id: IdData,
    },
    Phase1Failed {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        error: IkeError,
    },
    /// The Vendor IDs of the peer's first Phase 1 message (message 1 when we respond, message 2 when we
    /// initiate), raised once per exchange before its outcome, for the logs. `names` are those the codec knows
    /// (`isakmp::vendor::KNOWN_VENDOR_IDS`: "RFC 3947 NAT-T", "RFC 3706 DPD", "Cisco Unity", "strongSwan", ...),
    /// in the order sent; `unknown` the others' bytes (to log in hex). Not raised when the message had none, nor
    /// unless turned on with `Endpoint::set_vendor_id_events(true)`.
    VendorIds {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        names: Vec<String>,
        unknown: Vec<Vec<u8>>,
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
    /// A Quick Mode exchange finished: one SA bundle (ESP and/or AH, both directions) to install.
    Phase2Established(Box<Phase2Sa>),
    /// The Quick Mode responder sent message 2: the same SAs [`Event::Phase2Established`] will report when message
    /// 3 arrives, for installing the inbound ones now (only with `Endpoint::set_early_inbound(true)`). If the
    /// exchange fails instead, [`Event::Phase2Failed`] follows with the same message ID.
    Phase2InboundReady(Box<Phase2Sa>),
    /// A Quick Mode exchange failed (refused by either side, or no answer).
    Phase2Failed {
        peer: SocketAddr,
        initiator_cookie: Cookie,
        message_id: u32,
        error: IkeError,
    },
    /// The peer said INITIAL-CONTACT (RFC 2407 §4.6.3.3) on the newly authenticated ISAKMP SA `initiator_cookie`:
    /// it has no other SA with us (it restarted). Every other ISAKMP SA with that peer (same address and
    /// authenticated identity) has been removed here (each reported as [`Event::Phase1Deleted`] with `by_peer`);
    /// the SA manager should delete the peer's IPsec SAs that were not negotiated on `initiator_cookie`.
    InitialContact {
        peer: SocketAddr,
        initiator_cookie: Cookie,
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
    /// Phase 1 message 1s dropped by the per-source rate limit ([`Config::max_new_per_source_per_sec`]).
    pub rate_limited: u64,
    /// Datagrams larger than [`Config::max_message_size`].
    pub oversized: u64,
    /// INITIAL-CONTACT notifies received on an authenticated exchange, and ISAKMP SAs they removed.
    pub initial_contacts: u64,
    pub initial_contact_removed: u64,
}

/// The addresses of a Quick Mode proxy identity (IDci/IDcr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyAddress {
    /// An address and prefix length (a host is /32 or /128).
    Prefix(IpAddr, u8),
    /// First and last address, inclusive.
    Range(IpAddr, IpAddr),
}

/// One side of a Quick Mode proxy identity: addresses, IP protocol (0: any) and port (0: any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyIdentity {
    pub address: ProxyAddress,
    pub protocol: u8,
    pub port: u16,
}

/// IPsec encapsulation mode of a transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncapsulationMode {
    Tunnel,
    Transport,
}

/// One IPsec transform set (Cisco's `crypto ipsec transform-set`): ESP (encryption + integrity; no integrity with
/// GCM), AH, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpsecTransformSet {
    pub esp: Option<(EncryptionAlgorithm, IntegrityAlgorithm)>,
    pub ah: Option<IntegrityAlgorithm>,
    pub mode: EncapsulationMode,
}

/// What Quick Mode needs of one crypto map entry (one permit line of its access list): the peer, the proxy
/// identities, the transform sets in preference order, PFS and lifetimes. Built from the config by
/// [`super::phase2_policies`], or by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoMapPolicy {
    /// Crypto map name and sequence number, reported back in [`Phase2Sa`].
    pub map: String,
    pub seq: u32,
    /// The SPD handle (`PolicyAction::Protect`) of this entry, as `control::plan` numbers them.
    pub handle: u32,
    pub peer: IpAddr,
    /// Our side (IDci when we initiate) and the peer's side of the protected traffic.
    pub local: ProxyIdentity,
    pub remote: ProxyIdentity,
    pub transform_sets: Vec<IpsecTransformSet>,
    /// DH group for PFS (KE in Quick Mode).
    pub pfs: Option<GroupDescription>,
    pub lifetime_secs: u32,
    /// 0: no volume limit.
    pub lifetime_kilobytes: u64,
}

/// The keys of one SA (one direction of one protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaKeys {
    pub spi: u32,
    pub encryption: EncryptionAlgorithm,
    pub integrity: IntegrityAlgorithm,
    /// For CTR and GCM the AES key followed by the 4-byte nonce/salt; empty for AH and ESP-NULL.
    pub cipher_key: Secret,
    pub auth_key: Secret,
}

/// Both directions of one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPair {
    pub inbound: SaKeys,
    pub outbound: SaKeys,
}

/// Everything the engine needs to install what one Quick Mode negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase2Sa {
    /// Our IKE address and the peer's (the tunnel endpoints; with NAT-T, also the UDP ports of ESP).
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub initiator_cookie: Cookie,
    pub message_id: u32,
    pub initiator: bool,
    /// The crypto map entry: name, sequence number and SPD handle.
    pub map: String,
    pub seq: u32,
    pub handle: u32,
    /// The negotiated proxy identities, from our point of view.
    pub local_id: ProxyIdentity,
    pub remote_id: ProxyIdentity,
    pub mode: EncapsulationMode,
    /// UDP encapsulation (RFC 3948) because NAT was detected in Phase 1.
    pub nat_t: Option<engine::sa::NatT>,
    pub lifetime_secs: u32,
    /// 0: no volume limit.
    pub lifetime_kilobytes: u64,
    pub pfs: Option<GroupDescription>,
    /// The peer's own address from its NAT-OA payload (transport mode through a NAT: for checksum fix-up).
    pub peer_original: Option<IpAddr>,
    pub esp: Option<SaPair>,
    pub ah: Option<SaPair>,
}
