//! Security Association parameters, counters and lifetimes.
//!
//! # Who owns an SA's sequence state when several lcores forward
//!
//! - **Outbound**: any lcore may protect traffic for any outbound SA (the SPD lookup happens wherever the cleartext
//!   arrives, and RSS spreads one flow set over queues). The sequence number is therefore an `AtomicU64` taken with
//!   `fetch_add`: one uncontended atomic per packet gives every packet a unique number without a lock or handoff,
//!   and uniqueness is all the sender needs (receivers tolerate reordering up to the window). Outbound counters are
//!   relaxed atomics for the same reason.
//! - **Inbound ESP**: also shared, so one tunnel's decryption spreads over lcores like its encryption. The replay
//!   window is a check-decrypt-update sequence over a bitmap; [`crate::esp::InboundSa`] checks a whole burst's
//!   sequence numbers under the SA's lock before crypto, and records the authenticated ones under it after: two
//!   short critical sections per burst and SA, none around crypto (the rwlock'd window of DPDK lib/ipsec's
//!   `SQN_ATOM` mode is the same idea). A duplicate opened on two lcores at once passes the first check on both and
//!   is caught by the second. Counters are relaxed atomic adds, once per burst.
//! - **Inbound AH**: owned by one lcore, worker `spi % workers` (AH is rare; its window stays plain memory behind
//!   `&mut self`); an AH packet that RSS delivers elsewhere is handed to the owner's bounded inbox before any other
//!   processing, see `crate::worker` and `worker::handoff`, feature `dpdk`.

use crate::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
use crate::drop::DropReason;
use crate::wire::{IpProtocol, Spi};
use core::net::IpAddr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use zeroize::Zeroizing;

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Transport,
    /// Tunnel between two gateway addresses of the same family (the inner family may differ).
    Tunnel {
        local: IpAddr,
        remote: IpAddr,
    },
}

/// UDP encapsulation of ESP (RFC 3948): the outer UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatT {
    pub local_port: u16,
    pub remote_port: u16,
}

impl Default for NatT {
    fn default() -> Self {
        Self { local_port: 4500, remote_port: 4500 }
    }
}

/// The outer IPv4 DF bit in tunnel mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DfPolicy {
    /// Copy from an inner IPv4 header; set for an inner IPv6 packet (IPv6 is never fragmented on path).
    #[default]
    Copy,
    Set,
    Clear,
}

/// How the tunnel-mode outer header is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterHeader {
    pub ttl: u8,
    pub df: DfPolicy,
    /// `None`: copy the inner DSCP (RFC 4301 §5.1.2.1); `Some(d)`: set it.
    pub dscp: Option<u8>,
}

impl Default for OuterHeader {
    fn default() -> Self {
        Self { ttl: 64, df: DfPolicy::Copy, dscp: None }
    }
}

/// Soft and hard limits; `u64::MAX` means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub soft_bytes: u64,
    pub hard_bytes: u64,
    pub soft_packets: u64,
    pub hard_packets: u64,
    /// Age limits in seconds. The engine has no clock: the control side, which knows when it installed the SA,
    /// calls `check_age` with the age, and gets the same events as for the byte and packet limits.
    pub soft_seconds: u64,
    pub hard_seconds: u64,
}

impl Default for Lifetime {
    fn default() -> Self {
        Self {
            soft_bytes: u64::MAX,
            hard_bytes: u64::MAX,
            soft_packets: u64::MAX,
            hard_packets: u64::MAX,
            soft_seconds: u64::MAX,
            hard_seconds: u64::MAX,
        }
    }
}

/// Everything needed to install one SA (one direction).
#[derive(Clone)]
pub struct SaParams {
    pub spi: Spi,
    pub encryption: EncryptionAlgorithm,
    /// For CTR and GCM, the AES key followed by the 4-byte nonce/salt.
    pub cipher_key: Zeroizing<Vec<u8>>,
    pub integrity: IntegrityAlgorithm,
    pub auth_key: Zeroizing<Vec<u8>>,
    pub mode: Mode,
    pub esn: bool,
    /// Inbound only: 64..=65536 packets ([`crate::replay::MAX_WINDOW`]).
    pub replay_window: u32,
    pub nat_t: Option<NatT>,
    pub outer: OuterHeader,
    pub lifetime: Lifetime,
    /// Inbound only: the inner packet must match (RFC 4301 §5.2) this selector or one of `extra_selectors` (a crypto
    /// map whose access list has several permit entries protects all of them with one SA pair). `None` and no
    /// extra selectors: no check.
    pub selector: Option<crate::selector::TrafficSelector>,
    pub extra_selectors: Vec<crate::selector::TrafficSelector>,
    /// Inbound AH of an ESP+AH bundle: what AH protects must be ESP of this SA (RFC 4301 §4.5: the bundle is
    /// applied as a whole; an AH packet whose payload is not the bundle's ESP is dropped).
    pub bundle_esp: Option<Spi>,
    /// Inbound ESP of an ESP+AH bundle: ESP is accepted only from inside this AH SA, so stripping AH does not get a
    /// packet past the bundle's integrity check.
    pub bundle_ah: Option<Spi>,
}

impl core::fmt::Debug for SaParams {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &self.spi)
            .field("encryption", &self.encryption)
            .field("integrity", &self.integrity)
            .field("mode", &self.mode)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("nat_t", &self.nat_t)
            .finish_non_exhaustive()
    }
}

impl SaParams {
    /// Parameters with defaults: tunnel or transport per `mode`, no NAT-T, no ESN, window 1024, TTL 64.
    pub fn new(
        spi: Spi,
        mode: Mode,
        encryption: EncryptionAlgorithm,
        cipher_key: &[u8],
        integrity: IntegrityAlgorithm,
        auth_key: &[u8],
    ) -> Self {
        Self {
            spi,
            encryption,
            cipher_key: Zeroizing::new(cipher_key.to_vec()),
            integrity,
            auth_key: Zeroizing::new(auth_key.to_vec()),
            mode,
            esn: false,
            replay_window: crate::replay::DEFAULT_WINDOW,
            nat_t: None,
            outer: OuterHeader::default(),
            lifetime: Lifetime::default(),
            selector: None,
            extra_selectors: Vec::new(),
            bundle_esp: None,
            bundle_ah: None,
        }
    }

    /// Whether an inner packet with `key` may arrive on this inbound SA: it matches one of the selectors (or
    /// there are none). For a non-initial IPv4 fragment (`ports_known` false) the ports are OPAQUE (RFC 4301
    /// §4.4.1.1): only addresses and protocol are checked, since the ports travel in the first fragment only.
    pub fn selector_accepts(&self, key: &crate::selector::FlowKey, ports_known: bool) -> bool {
        if self.selector.is_none() && self.extra_selectors.is_empty() {
            return true;
        }
        self.selector.iter().chain(self.extra_selectors.iter()).any(|s| matches_key(s, key, ports_known))
    }
}

/// `s.matches(key)`, ignoring ports when they are not known (see [`SaParams::selector_accepts`]).
pub fn matches_key(s: &crate::selector::TrafficSelector, key: &crate::selector::FlowKey, ports_known: bool) -> bool {
    if ports_known {
        return s.matches(key);
    }
    s.src.contains(key.src) && s.dst.contains(key.dst) && s.protocol.is_none_or(|p| p == key.protocol)
}

/// True unless `packet` is a non-initial IPv4 fragment (whose transport header, and so ports, is elsewhere).
/// IPv6 fragments are not looked into: `FlowKey` stops at the Fragment header and reports protocol 44.
pub fn ports_known(packet: &[u8]) -> bool {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 8 => u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff == 0,
        _ => true,
    }
}

/// Why an SA could not be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaError {
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("replay window {0} is outside {min}..={max}", min = crate::replay::MIN_WINDOW, max = crate::replay::MAX_WINDOW)]
    ReplayWindow(u32),
    #[error("tunnel endpoints {0} and {1} are of different address families")]
    TunnelFamily(IpAddr, IpAddr),
    #[error("SPI {0} is reserved (0..=255)")]
    ReservedSpi(Spi),
}

/// Which limit fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Bytes,
    Packets,
    Time,
}

/// A lifetime event for the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeEvent {
    /// Time to rekey; the SA keeps working.
    Soft { spi: Spi, limit: LimitKind },
    /// The SA stopped: every further packet is a `SaExpired` drop.
    Hard { spi: Spi, limit: LimitKind },
    /// The outbound sequence number is exhausted; the SA stopped.
    SeqExhausted { spi: Spi },
}

/// Per-SA counters, readable from any thread.
#[derive(Debug, Default)]
pub struct SaCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub drops: [AtomicU64; DropReason::COUNT],
}

/// A plain copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    pub packets: u64,
    pub bytes: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl CounterSnapshot {
    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops[r.index()]
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}

impl SaCounters {
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            drops: core::array::from_fn(|i| self.drops[i].load(Relaxed)),
        }
    }
}

/// Lifetime accounting shared by both directions.
#[derive(Debug, Default)]
pub(crate) struct LifetimeState {
    soft_fired: AtomicBool,
    hard_fired: AtomicBool,
}

impl LifetimeState {
    pub(crate) fn expired(&self) -> bool {
        self.hard_fired.load(Relaxed)
    }

    pub(crate) fn expire(&self) -> bool {
        !self.hard_fired.swap(true, Relaxed)
    }

    /// Checks the counters against the limits; returns an event the first time a limit is crossed.
    pub(crate) fn account(&self, spi: Spi, l: &Lifetime, packets: u64, bytes: u64) -> Option<LifetimeEvent> {
        let which = |pk: u64, by: u64| {
            if packets >= pk {
                Some(LimitKind::Packets)
            } else if bytes >= by {
                Some(LimitKind::Bytes)
            } else {
                None
            }
        };
        if let Some(limit) = which(l.hard_packets, l.hard_bytes) {
            if self.expire() {
                return Some(LifetimeEvent::Hard { spi, limit });
            }
            return None;
        }
        if let Some(limit) = which(l.soft_packets, l.soft_bytes) {
            if !self.soft_fired.swap(true, Relaxed) {
                return Some(LifetimeEvent::Soft { spi, limit });
            }
        }
        None
    }

    /// Checks the SA's age in seconds against the time limits; returns an event the first time one is crossed.
    pub(crate) fn account_age(&self, spi: Spi, l: &Lifetime, age_secs: u64) -> Option<LifetimeEvent> {
        if age_secs >= l.hard_seconds {
            return self.expire().then_some(LifetimeEvent::Hard { spi, limit: LimitKind::Time });
        }
        if age_secs >= l.soft_seconds && !self.soft_fired.swap(true, Relaxed) {
            return Some(LifetimeEvent::Soft { spi, limit: LimitKind::Time });
        }
        None
    }
}

/// Events raised while processing a burst (at most a few per SA per burst; capacity is fixed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    buf: [Option<LifetimeEvent>; 3],
}

impl Events {
    pub(crate) fn push(&mut self, e: LifetimeEvent) {
        if let Some(slot) = self.buf.iter_mut().find(|s| s.is_none()) {
            *slot = Some(e);
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &LifetimeEvent> {
        self.buf.iter().flatten()
    }
    pub fn is_empty(&self) -> bool {
        self.buf[0].is_none()
    }
}

/// Next header values the ESP trailer carries in tunnel mode.
pub(crate) fn tunnel_next_header(version: u8) -> IpProtocol {
    if version == 6 {
        IpProtocol::IPV6
    } else {
        IpProtocol::IPV4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
    use crate::selector::{FlowKey, IpPrefix, TrafficSelector};

    fn sel(src: &str, dst: &str, dport: Option<u16>) -> TrafficSelector {
        let p = |s: &str| IpPrefix::new(s.parse().unwrap(), 24);
        let mut t = TrafficSelector::prefixes(p(src), p(dst));
        if let Some(port) = dport {
            t.protocol = Some(IpProtocol::UDP);
            t.dst_ports = port..=port;
        }
        t
    }

    #[test]
    fn any_selector_accepts_and_fragments_match_without_ports() {
        let mut p = SaParams::new(
            Spi(300),
            Mode::Transport,
            EncryptionAlgorithm::AesGcm128,
            &[1; 20],
            IntegrityAlgorithm::None,
            &[],
        );
        let key = |dst: &str, dport| FlowKey {
            src: "203.0.113.5".parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: IpProtocol::UDP,
            src_port: 1000,
            dst_port: dport,
        };
        assert!(p.selector_accepts(&key("192.0.2.9", 1), true), "no selector: no check");
        p.selector = Some(sel("203.0.113.0", "192.0.2.0", Some(53)));
        p.extra_selectors = vec![sel("203.0.113.0", "198.51.100.0", None)];
        assert!(p.selector_accepts(&key("192.0.2.9", 53), true));
        assert!(!p.selector_accepts(&key("192.0.2.9", 54), true));
        assert!(p.selector_accepts(&key("198.51.100.9", 54), true), "the second permit entry");
        assert!(!p.selector_accepts(&key("203.0.113.9", 53), true));
        assert!(p.selector_accepts(&key("192.0.2.9", 0), false), "a later fragment: ports unknown");
        let mut frag = [0u8; 20];
        frag[0] = 0x45;
        frag[6..8].copy_from_slice(&185u16.to_be_bytes());
        assert!(!ports_known(&frag));
        frag[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
        assert!(ports_known(&frag), "a first fragment has its ports");
    }
}
