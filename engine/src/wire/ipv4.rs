//! IPv4 header (RFC 791).

use super::{checksum, read_u16, write_u16, IpProtocol, WireError};
use core::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Validates version, header length and total length against the buffer.
    /// The buffer may be longer than the total length (link padding).
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
        if self.version() != 4 {
            return Err(WireError::Malformed);
        }
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        if hl < HEADER_LEN || total < hl {
            return Err(WireError::Malformed);
        }
        if b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x1fff) << 3
    }
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// True if the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }
    /// The header including options.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    /// The payload, bounded by the total length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, v)
    }
    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, v)
    }
    /// Sets flags and fragment offset (`offset` in bytes, a multiple of 8).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (u16::from(dont_frag) * FLAG_DF) | (u16::from(more_frags) * FLAG_MF) | ((offset >> 3) & 0x1fff);
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, v)
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.0;
    }
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, v)
    }
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets())
    }
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets())
    }
    /// Recomputes the header checksum over the whole header, options included.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }
    /// Changes the 16-bit word holding `TOS` (and version/IHL) and updates the checksum incrementally.
    pub fn set_tos_incremental(&mut self, tos: u8) {
        let b = self.buffer.as_mut();
        let old = read_u16(b, 0);
        b[field::TOS] = tos;
        let new = read_u16(b, 0);
        let c = checksum::update16(read_u16(b, field::CHECKSUM.start), old, new);
        write_u16(b, field::CHECKSUM.start, c);
    }
    /// Decrements TTL with an incremental checksum update; returns the new TTL.
    pub fn decrement_ttl(&mut self) -> u8 {
        let b = self.buffer.as_mut();
        let old = read_u16(b, field::TTL);
        b[field::TTL] = b[field::TTL].saturating_sub(1);
        let new = read_u16(b, field::TTL);
        let c = checksum::update16(read_u16(b, field::CHECKSUM.start), old, new);
        write_u16(b, field::CHECKSUM.start, c);
        b[field::TTL]
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..total]
    }
}

/// An IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    pub payload_len: u16,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub ttl: u8,
}

impl Repr {
    /// Parses a checked packet. Fragments and packets with options are accepted; the options are not represented.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(WireError::Malformed);
        }
        Ok(Self {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.total_len() - p.header_len() as u16,
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            ttl: p.ttl(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (checksum filled) into the first 20 bytes of the packet's buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        // Built and summed on the stack, then stored once: summing the header where it was just written (often a
        // cold mbuf headroom line) stalled on store forwarding and cost a quarter of a 64-byte packet's time.
        let mut h = Packet::new_unchecked([0u8; HEADER_LEN]);
        h.set_version_and_header_len(HEADER_LEN);
        h.set_tos(self.tos);
        h.set_total_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        h.set_ident(self.ident);
        h.set_frag(self.dont_frag, false, 0);
        h.set_ttl(self.ttl);
        h.set_protocol(self.protocol);
        h.set_src_addr(self.src_addr);
        h.set_dst_addr(self.dst_addr);
        h.fill_checksum();
        p.buffer.as_mut()[..HEADER_LEN].copy_from_slice(&h.buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 3602 case 5: the outer header of the ESP packet.
    const ESP_HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x7c, 0x08, 0xf2, 0x00, 0x00, 0x40, 0x32, 0xf9, 0xa5, 0xc0, 0xa8, 0x7b, 0x03, 0xc0, 0xa8,
        0x7b, 0x64,
    ];

    #[test]
    fn parses_rfc3602_header() {
        let mut b = ESP_HDR.to_vec();
        b.resize(0x7c, 0);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.protocol, IpProtocol::ESP);
        assert_eq!(r.src_addr, Ipv4Addr::new(192, 168, 123, 3));
        assert_eq!(r.payload_len, 0x7c - 20);
        assert_eq!(r.ttl, 64);
        let mut out = [0u8; 20];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, ESP_HDR);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Packet::new_checked(&ESP_HDR[..10]).unwrap_err(), WireError::Truncated);
        assert_eq!(Packet::new_checked(&ESP_HDR[..]).unwrap_err(), WireError::Truncated);
        let mut b = ESP_HDR;
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Malformed);
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn ttl_and_tos_updates_keep_checksum_valid() {
        let mut b = ESP_HDR;
        let mut p = Packet::new_unchecked(&mut b[..]);
        assert_eq!(p.decrement_ttl(), 63);
        p.set_tos_incremental(0xb9);
        assert!(p.verify_checksum());
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (any::<u32>(), any::<u32>(), any::<u8>(), 0u16..1400, any::<u8>(), any::<u16>(), any::<bool>(), any::<u8>())
            .prop_map(|(s, d, proto, len, tos, ident, df, ttl)| Repr {
                src_addr: Ipv4Addr::from(s),
                dst_addr: Ipv4Addr::from(d),
                protocol: IpProtocol(proto),
                payload_len: len,
                tos,
                ident,
                dont_frag: df,
                ttl,
            })
    }

    proptest! {
        #[test]
        fn repr_round_trip(r in arb_repr()) {
            let mut buf = vec![0u8; r.buffer_len() + usize::from(r.payload_len)];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p).unwrap(), r);
        }

        #[test]
        fn never_panics_on_garbage(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (p.payload().len(), p.header().len(), Repr::parse(&p));
            }
        }
    }
}
