//! Traffic selectors: address prefixes, protocol and port ranges (RFC 4301 §4.4.1).

use crate::wire::IpProtocol;
use core::net::IpAddr;
use core::ops::RangeInclusive;

/// An address prefix such as 192.0.2.0/24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpPrefix {
    pub const fn new(addr: IpAddr, len: u8) -> Self {
        Self { addr, len }
    }

    /// True if `a` is inside the prefix (never across families).
    #[inline]
    pub fn contains(&self, a: IpAddr) -> bool {
        self.contains_ref(&a)
    }

    /// [`Self::contains`] on a borrowed address. Matching by reference reads the tag and then only the address's
    /// own bytes: a by-value `IpAddr` is copied in 8-byte pieces, and on a key whose fields were just stored one
    /// by one (the SPD's question for every packet) that copy stalled on store forwarding.
    #[inline]
    pub fn contains_ref(&self, a: &IpAddr) -> bool {
        match (&self.addr, a) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let len = u32::from(self.len.min(32));
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                (u32::from(*p) ^ u32::from(*a)) & mask == 0
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let len = u32::from(self.len.min(128));
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                (u128::from(*p) ^ u128::from(*a)) & mask == 0
            }
            _ => false,
        }
    }
}

/// The fields of a packet a selector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: IpProtocol,
    /// 0 when the protocol has no ports or they are not in the first fragment.
    pub src_port: u16,
    pub dst_port: u16,
}

impl FlowKey {
    /// Extracts the key from an IPv4 or IPv6 packet; `None` if it is not a valid IP packet.
    // Always inlined: returned through memory, its fields were stored one by one and read back 8 bytes at a time,
    // a store-forwarding stall on every packet the SPD looks at.
    #[inline(always)]
    pub fn from_ip(packet: &[u8]) -> Option<Self> {
        use crate::wire::{ipv4, ipv6};
        let (src, dst, protocol, l4) = match packet.first()? >> 4 {
            4 => {
                let p = ipv4::Packet::new_checked(packet).ok()?;
                let l4 =
                    if p.frag_offset() == 0 { &packet[p.header_len()..usize::from(p.total_len())] } else { &[][..] };
                (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()), p.protocol(), l4)
            }
            6 => {
                let p = ipv6::Packet::new_checked(packet).ok()?;
                let (off, nh, _) = p.find_upper_layer().ok()?;
                (
                    IpAddr::V6(p.src_addr()),
                    IpAddr::V6(p.dst_addr()),
                    nh,
                    &packet[off..ipv6::HEADER_LEN + usize::from(p.payload_len())],
                )
            }
            _ => return None,
        };
        let has_ports = matches!(protocol, IpProtocol::TCP | IpProtocol::UDP) || protocol.0 == 132;
        let (src_port, dst_port) = match l4 {
            [a, b, c, d, ..] if has_ports => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
            _ => (0, 0),
        };
        Some(Self { src, dst, protocol, src_port, dst_port })
    }
}

/// A selector: a packet matches when every field is within range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSelector {
    pub src: IpPrefix,
    pub dst: IpPrefix,
    /// `None`: any protocol.
    pub protocol: Option<IpProtocol>,
    pub src_ports: RangeInclusive<u16>,
    pub dst_ports: RangeInclusive<u16>,
}

impl TrafficSelector {
    /// Any protocol and port between two prefixes.
    pub fn prefixes(src: IpPrefix, dst: IpPrefix) -> Self {
        Self { src, dst, protocol: None, src_ports: 0..=u16::MAX, dst_ports: 0..=u16::MAX }
    }

    #[inline]
    pub fn matches(&self, k: &FlowKey) -> bool {
        self.src.contains_ref(&k.src)
            && self.dst.contains_ref(&k.dst)
            && self.protocol.is_none_or(|p| p == k.protocol)
            && self.src_ports.contains(&k.src_port)
            && self.dst_ports.contains(&k.dst_port)
    }

    /// Matching with the ports OPAQUE (RFC 4301 §7: a non-initial fragment does not carry them): addresses and
    /// protocol only.
    pub fn matches_ignoring_ports(&self, k: &FlowKey) -> bool {
        self.src.contains_ref(&k.src) && self.dst.contains_ref(&k.dst) && self.protocol.is_none_or(|p| p == k.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_contains() {
        let p = IpPrefix::new("192.0.2.0".parse().unwrap(), 24);
        assert!(p.contains("192.0.2.200".parse().unwrap()));
        assert!(!p.contains("192.0.3.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        assert!(IpPrefix::new("0.0.0.0".parse().unwrap(), 0).contains("203.0.113.9".parse().unwrap()));
        let p6 = IpPrefix::new("2001:db8:1::".parse().unwrap(), 48);
        assert!(p6.contains("2001:db8:1:ffff::1".parse().unwrap()));
        assert!(!p6.contains("2001:db8:2::1".parse().unwrap()));
    }
}
