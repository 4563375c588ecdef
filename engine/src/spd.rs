//! Security Policy Database: ordered selectors with protect / bypass / discard (RFC 4301 §4.4.1), in the order of
//! the crypto map's entries. The first matching entry decides; a packet no entry matches is discarded, as RFC 4301
//! requires of an SPD without a final catch-all. A short SPD is walked in order; a longer one (one protect entry
//! per SA makes a million) is searched through an index built with it ([`index`]), which finds the same entry.
//! Lookup allocates nothing.

mod index;
#[cfg(test)]
mod tests_index;

use crate::selector::{FlowKey, TrafficSelector};
use std::sync::Arc;

/// What to do with matching traffic. `Protect` carries the caller's handle of the outbound SA (or SA bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyAction {
    Protect(u32),
    Bypass,
    Discard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdEntry {
    pub selector: TrafficSelector,
    pub action: PolicyAction,
}

/// Below this many entries a walk is as fast as the index, so none is built (engine/benches/spd.rs: 3 entries
/// walked ~6 ns, 8 ~12 ns, 16 ~24 ns; through the index ~7 ns). Not lower: the index probes once per shape, and a
/// short SPD can have as many shapes as entries.
const LINEAR_MAX: usize = 8;

/// An ordered SPD, built by the control side and published to the lcores as a whole. Shared, not copied, when
/// the tables around it are cloned (the control side clones them on every neighbor change, and a million-entry
/// SPD with its index is over 100 MB).
#[derive(Debug, Clone, Default)]
pub struct Spd {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<SpdEntry>,
    index: Option<index::Index>,
}

/// Two SPDs are equal when their entries are (the index follows from them).
impl PartialEq for Spd {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner.entries == other.inner.entries
    }
}

impl Eq for Spd {}

impl Spd {
    /// Builds the SPD and, for a longer one, its index (about 0.25 s for a million entries).
    pub fn new(entries: Vec<SpdEntry>) -> Self {
        let index = (entries.len() >= LINEAR_MAX).then(|| index::Index::new(&entries));
        Self { inner: Arc::new(Inner { entries, index }) }
    }

    pub fn entries(&self) -> &[SpdEntry] {
        &self.inner.entries
    }

    /// The first entry matching `key`, with its position.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(usize, &SpdEntry)> {
        match &self.inner.index {
            Some(ix) => ix.first_match(&self.inner.entries, key).map(|(i, _)| (i, &self.inner.entries[i])),
            None => self.lookup_linear(key),
        }
    }

    /// The position and action of the first entry matching `key`: [`Spd::lookup`] without reading the entry
    /// (the packet path's question).
    #[inline]
    pub fn lookup_action(&self, key: &FlowKey) -> Option<(usize, PolicyAction)> {
        match &self.inner.index {
            Some(ix) => ix.first_match(&self.inner.entries, key),
            None => self.lookup_linear(key).map(|(i, e)| (i, e.action)),
        }
    }

    /// Reads the index slots a lookup of `key` probes first (bit 0: the first is occupied; 0 without an index): see
    /// [`crate::datapath::Datapath::warm`].
    pub fn touch(&self, key: &FlowKey) -> u64 {
        self.inner.index.as_ref().map_or(0, |ix| ix.touch(key))
    }

    /// [`Spd::lookup`] by walking the entries: the definition the index must agree with.
    #[inline]
    pub fn lookup_linear(&self, key: &FlowKey) -> Option<(usize, &SpdEntry)> {
        self.inner.entries.iter().enumerate().find(|(_, e)| e.selector.matches(key))
    }

    /// With the ports OPAQUE (RFC 4301 §7, non-initial fragments): the first entry whose addresses and protocol
    /// match `key`.
    pub fn lookup_opaque(&self, key: &FlowKey) -> Option<(usize, &SpdEntry)> {
        self.opaque(key, false)
    }

    /// With the ports OPAQUE: the first protect entry whose addresses and protocol match `key`.
    pub fn first_protect_opaque(&self, key: &FlowKey) -> Option<(usize, &SpdEntry)> {
        self.opaque(key, true)
    }

    fn opaque(&self, key: &FlowKey, protect_only: bool) -> Option<(usize, &SpdEntry)> {
        match &self.inner.index {
            Some(ix) => {
                ix.first_match_opaque(&self.inner.entries, key, protect_only).map(|i| (i, &self.inner.entries[i]))
            }
            None => self.inner.entries.iter().enumerate().find(|(_, e)| {
                (!protect_only || matches!(e.action, PolicyAction::Protect(_)))
                    && e.selector.matches_ignoring_ports(key)
            }),
        }
    }

    /// The action for an IP packet; malformed or unmatched packets are discarded.
    pub fn decide(&self, packet: &[u8]) -> PolicyAction {
        FlowKey::from_ip(packet).and_then(|k| self.lookup_action(&k)).map_or(PolicyAction::Discard, |(_, a)| a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::IpPrefix;
    use crate::wire::IpProtocol;

    fn prefix(s: &str, len: u8) -> IpPrefix {
        IpPrefix::new(s.parse().unwrap(), len)
    }

    fn udp_packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut b = vec![0u8; 28];
        crate::wire::ipv4::Repr {
            src_addr: src.into(),
            dst_addr: dst.into(),
            protocol: IpProtocol::UDP,
            payload_len: 8,
            tos: 0,
            ident: 0,
            dont_frag: false,
            ttl: 64,
        }
        .emit(&mut crate::wire::ipv4::Packet::new_unchecked(&mut b[..]));
        b[20..22].copy_from_slice(&sport.to_be_bytes());
        b[22..24].copy_from_slice(&dport.to_be_bytes());
        b[24..26].copy_from_slice(&8u16.to_be_bytes());
        b
    }

    #[test]
    fn first_match_in_order() {
        let ike = TrafficSelector {
            protocol: Some(IpProtocol::UDP),
            src_ports: 500..=500,
            dst_ports: 500..=500,
            ..TrafficSelector::prefixes(prefix("0.0.0.0", 0), prefix("0.0.0.0", 0))
        };
        let spd = Spd::new(vec![
            SpdEntry { selector: ike, action: PolicyAction::Bypass },
            SpdEntry {
                selector: TrafficSelector::prefixes(prefix("192.0.2.0", 24), prefix("203.0.113.0", 24)),
                action: PolicyAction::Protect(7),
            },
            SpdEntry {
                selector: TrafficSelector::prefixes(prefix("192.0.2.0", 24), prefix("0.0.0.0", 0)),
                action: PolicyAction::Bypass,
            },
        ]);
        assert_eq!(spd.decide(&udp_packet([192, 0, 2, 5], [203, 0, 113, 9], 1000, 2000)), PolicyAction::Protect(7));
        assert_eq!(spd.decide(&udp_packet([192, 0, 2, 5], [203, 0, 113, 9], 500, 500)), PolicyAction::Bypass);
        assert_eq!(spd.decide(&udp_packet([192, 0, 2, 5], [198, 51, 100, 9], 1, 2)), PolicyAction::Bypass);
        assert_eq!(spd.decide(&udp_packet([198, 51, 100, 1], [203, 0, 113, 9], 1, 2)), PolicyAction::Discard);
        assert_eq!(spd.decide(&[0x45, 0, 0]), PolicyAction::Discard);
    }
}
