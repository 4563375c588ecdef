//! Zero-copy wire views, in the style of smoltcp.
//!
//! Each protocol has a `Packet<T: AsRef<[u8]>>` view over a byte buffer with a private `field` module of byte ranges,
//! and an owned `Repr` with `parse`, `buffer_len` and `emit`.
//!
//! Panic contract: `Packet::new_unchecked` performs no check, and its accessors may panic on a short buffer.
//! `Packet::new_checked` (or `check_len`) validates the lengths the accessors rely on; after it succeeds no accessor
//! of that view panics, whatever the bytes say. Untrusted input must go through `new_checked`.
//!
//! Codepoints (IP protocol numbers, SPIs) are newtypes over the raw integer, so unknown values survive a round trip.

pub mod ah;
pub mod checksum;
pub mod esp;
pub mod ipv4;
pub mod ipv6;
pub mod udp;

pub use ah::{Packet as AhPacket, Repr as AhRepr};
pub use esp::{Packet as EspPacket, Repr as EspRepr, Trailer as EspTrailer};
pub use ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use ipv6::{Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use udp::{Packet as UdpPacket, Repr as UdpRepr};

use core::fmt;

/// Why a buffer is not a valid view of a protocol header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header or than the length the header claims.
    #[error("truncated packet")]
    Truncated,
    /// A field holds a value that cannot be parsed (wrong version, header length below minimum, ...).
    #[error("malformed packet")]
    Malformed,
}

/// An IP protocol number / IPv6 next header value. Unknown values are kept as is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const HOP_BY_HOP: Self = Self(0);
    pub const ICMP: Self = Self(1);
    pub const IPV4: Self = Self(4);
    pub const TCP: Self = Self(6);
    pub const UDP: Self = Self(17);
    pub const IPV6: Self = Self(41);
    pub const IPV6_ROUTING: Self = Self(43);
    pub const IPV6_FRAGMENT: Self = Self(44);
    pub const ESP: Self = Self(50);
    pub const AH: Self = Self(51);
    pub const ICMPV6: Self = Self(58);
    pub const IPV6_NO_NEXT: Self = Self(59);
    pub const IPV6_DEST_OPTS: Self = Self(60);
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::HOP_BY_HOP => "HopByHop",
            Self::ICMP => "Icmp",
            Self::IPV4 => "Ipv4",
            Self::TCP => "Tcp",
            Self::UDP => "Udp",
            Self::IPV6 => "Ipv6",
            Self::IPV6_ROUTING => "Ipv6Routing",
            Self::IPV6_FRAGMENT => "Ipv6Fragment",
            Self::ESP => "Esp",
            Self::AH => "Ah",
            Self::ICMPV6 => "Icmpv6",
            Self::IPV6_NO_NEXT => "NoNextHeader",
            Self::IPV6_DEST_OPTS => "Ipv6DestOpts",
            _ => return write!(f, "IpProtocol({})", self.0),
        };
        f.write_str(name)
    }
}

/// Security Parameters Index (RFC 4303 §2.1). Values 1..=255 are reserved by IANA; 0 is never sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spi({:#010x})", self.0)
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// ECN codepoints (RFC 3168), the low two bits of the IPv4 TOS / IPv6 traffic class.
pub mod ecn {
    pub const NOT_ECT: u8 = 0b00;
    pub const ECT1: u8 = 0b01;
    pub const ECT0: u8 = 0b10;
    pub const CE: u8 = 0b11;
}

#[inline]
pub(crate) fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn write_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
