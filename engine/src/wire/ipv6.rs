//! IPv6 fixed header (RFC 8200 §3) and the walk over the extension headers that precede ESP/AH.

use super::{read_u16, read_u32, write_u16, write_u32, IpProtocol, WireError};
use core::net::Ipv6Addr;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

pub const HEADER_LEN: usize = 40;

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Validates version and that the payload length fits the buffer (jumbograms are not supported).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::Malformed);
        }
        if b.len() < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word0(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Ipv6Addr::from(a)
    }
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Ipv6Addr::from(a)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Where a sender inserts ESP/AH in transport mode (RFC 4303 §3.1.1, placed as Linux and Scapy do): after
    /// Hop-by-Hop, Routing and Fragment headers, and after Destination Options unless they follow a Routing header
    /// (those are for the final destination and stay inside the protection). Returns (offset of the first header
    /// that stays after ESP/AH, its protocol, offset of the byte holding that protocol number).
    pub fn ipsec_insert_point(&self) -> Result<(usize, IpProtocol, usize), WireError> {
        self.walk(|nh, seen_routing, _| match nh {
            IpProtocol::HOP_BY_HOP | IpProtocol::IPV6_ROUTING | IpProtocol::IPV6_FRAGMENT => true,
            IpProtocol::IPV6_DEST_OPTS => !seen_routing,
            _ => false,
        })
    }

    /// Where a receiver finds the ESP/AH header (or the upper-layer header): skips Hop-by-Hop, Routing and
    /// Destination Options headers and atomic fragments, and stops at anything else, a real Fragment header
    /// included (a fragment must be reassembled before IPsec or port-based policy applies). An atomic fragment
    /// (offset 0, no more fragments) is a whole packet and is processed as one (RFC 6946 §4). Same return shape
    /// as `ipsec_insert_point`.
    pub fn find_upper_layer(&self) -> Result<(usize, IpProtocol, usize), WireError> {
        self.walk(|nh, _, hdr| match nh {
            IpProtocol::HOP_BY_HOP | IpProtocol::IPV6_ROUTING | IpProtocol::IPV6_DEST_OPTS => true,
            IpProtocol::IPV6_FRAGMENT => is_atomic_fragment(hdr),
            _ => false,
        })
    }

    /// `skip(next header, a Routing header was seen, the bytes from that header on)`: whether to walk past it.
    fn walk(&self, skip: impl Fn(IpProtocol, bool, &[u8]) -> bool) -> Result<(usize, IpProtocol, usize), WireError> {
        let b = self.buffer.as_ref();
        let end = HEADER_LEN + usize::from(self.payload_len());
        let (mut off, mut nh, mut nh_at, mut seen_routing) = (HEADER_LEN, self.next_header(), field::NXT_HDR, false);
        while skip(nh, seen_routing, b.get(off..end.min(b.len())).unwrap_or(&[])) {
            if off + 8 > end {
                return Err(WireError::Truncated);
            }
            // RFC 8200 §4.1: Hop-by-Hop Options only right after the IPv6 header. RFC 5095 §3: a Type 0 Routing
            // header with segments left is not processed (an error for the node it is addressed to).
            if (nh == IpProtocol::HOP_BY_HOP && off != HEADER_LEN)
                || (nh == IpProtocol::IPV6_ROUTING && b[off + 2] == 0 && b[off + 3] > 0)
            {
                return Err(WireError::Malformed);
            }
            let len = if nh == IpProtocol::IPV6_FRAGMENT { 8 } else { (usize::from(b[off + 1]) + 1) * 8 };
            seen_routing |= nh == IpProtocol::IPV6_ROUTING;
            nh_at = off;
            nh = IpProtocol(b[off]);
            off += len;
            if off > end {
                return Err(WireError::Truncated);
            }
        }
        Ok((off, nh, nh_at))
    }
}

/// A Fragment header (its 8 bytes at the start of `h`) with offset 0 and the M flag clear: the whole packet in
/// one "fragment" (RFC 6946).
fn is_atomic_fragment(h: &[u8]) -> bool {
    h.len() >= 8 && h[2] == 0 && h[3] & 0xf9 == 0
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, w)
    }
    pub fn set_traffic_class(&mut self, tc: u8) {
        let fl = self.flow_label();
        self.set_version_tc_flow(tc, fl)
    }
    pub fn set_payload_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, v)
    }
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.0
    }
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v
    }
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets())
    }
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets())
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// An IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: IpProtocol,
    pub payload_len: u16,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        Ok(Self {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            hop_limit: p.hop_limit(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(nh: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x60, 0x00, 0x00, 0x00, 0, 0, nh, 64];
        b[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn checked_rejects_short_and_wrong_version() {
        let b = header(17, &[0; 8]);
        assert!(Packet::new_checked(&b[..]).is_ok());
        assert_eq!(Packet::new_checked(&b[..45]).unwrap_err(), WireError::Truncated);
        let mut v = b.clone();
        v[0] = 0x40;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn insert_point_skips_hop_by_hop_and_fragment() {
        // HBH (next: fragment) of 8 bytes, fragment (next: UDP) of 8 bytes, then 8 bytes UDP.
        let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0];
        ext.extend_from_slice(&[0; 8]);
        let b = header(0, &ext);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.ipsec_insert_point().unwrap(), (56, IpProtocol::UDP, 48));
        // Destination options before any routing header go before ESP; after a routing header they stay inside.
        let b = header(60, &[17, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.ipsec_insert_point().unwrap(), (48, IpProtocol::UDP, 40));
        let b = header(43, &[60, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.ipsec_insert_point().unwrap(), (48, IpProtocol::IPV6_DEST_OPTS, 40));
        assert_eq!(p.find_upper_layer().unwrap(), (56, IpProtocol::UDP, 48));
        // A receiver stops at the Fragment header of a first fragment (M set) and of a later one (offset 8)...
        for frag_field in [[0, 1], [0, 8 << 3]] {
            let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0, 17, 0, frag_field[0], frag_field[1], 0, 0, 0, 7];
            ext.extend_from_slice(&[0; 8]);
            let b = header(0, &ext);
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(p.find_upper_layer().unwrap(), (48, IpProtocol::IPV6_FRAGMENT, 40));
        }
        // ...but walks past an atomic fragment (offset 0, M clear; reserved bits ignored), a whole packet.
        let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0b110, 0, 0, 0, 7];
        ext.extend_from_slice(&[0; 8]);
        let b = header(0, &ext);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.find_upper_layer().unwrap(), (56, IpProtocol::UDP, 48));
        // An atomic fragment header cut short is truncated, as any other.
        let b = header(44, &[17, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.find_upper_layer().map_or(true, |(_, nh, _)| nh == IpProtocol::IPV6_FRAGMENT));
        // A truncated extension chain is an error, not a panic.
        let b = header(0, &[17, 4, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.ipsec_insert_point().unwrap_err(), WireError::Truncated);
    }

    proptest! {
        #[test]
        fn repr_round_trip(s in any::<u128>(), d in any::<u128>(), nh in any::<u8>(), len in 0u16..1400,
                           tc in any::<u8>(), fl in 0u32..0x10_0000, hl in any::<u8>()) {
            let r = Repr { src_addr: s.into(), dst_addr: d.into(), next_header: IpProtocol(nh), payload_len: len,
                           traffic_class: tc, flow_label: fl, hop_limit: hl };
            let mut buf = vec![0u8; r.buffer_len() + usize::from(len)];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn never_panics_on_garbage(b in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (p.payload().len(), p.ipsec_insert_point(), p.find_upper_layer());
            }
        }
    }
}
