//! UDP header (RFC 768), as used for NAT-T encapsulation (RFC 3948).

use super::{checksum, read_u16, write_u16, WireError};
use core::net::IpAddr;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Validates that the length field is at least 8 and fits the buffer.
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
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if b.len() < len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN as u16
    }
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
    /// Verifies the checksum against the pseudo-header; a zero checksum (IPv4: not computed) passes.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4();
        }
        let Some(ph) = checksum::pseudo_header_sum(src, dst, 17, u32::from(self.len())) else {
            return false;
        };
        let s = checksum::sum(&self.buffer.as_ref()[..usize::from(self.len())]);
        checksum::combine(ph, s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, v)
    }
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, v)
    }
    pub fn set_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, v)
    }
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, v)
    }
    /// Computes the checksum over the datagram (header + `len()` bytes) and the pseudo-header.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let len = self.len();
        let ph = checksum::pseudo_header_sum(src, dst, 17, u32::from(len)).unwrap_or(0);
        let s = checksum::sum(&self.buffer.as_ref()[..usize::from(len)]);
        let c = !checksum::combine(ph, s);
        // A computed zero is sent as all ones (RFC 768).
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        Ok(Self { src_port: p.src_port(), dst_port: p.dst_port(), payload_len: p.len() - HEADER_LEN as u16 })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emits the header with a zero checksum (RFC 3948 §2.1 lets NAT-T senders leave it zero over IPv4;
    /// call `fill_checksum` afterwards when one is needed).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        p.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn checksum_round_trip_v4_and_v6() {
        for (s, d) in [
            ("192.0.2.1".parse::<IpAddr>().unwrap(), "198.51.100.7".parse::<IpAddr>().unwrap()),
            ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap()),
        ] {
            let mut b = [0u8; 8 + 5];
            b[8..].copy_from_slice(b"hello");
            let mut p = Packet::new_unchecked(&mut b[..]);
            Repr { src_port: 4500, dst_port: 4500, payload_len: 5 }.emit(&mut p);
            p.fill_checksum(s, d);
            assert!(p.verify_checksum(s, d));
            b[9] ^= 1;
            assert!(!Packet::new_checked(&b[..]).unwrap().verify_checksum(s, d));
        }
    }

    #[test]
    fn rejects_bad_length() {
        assert_eq!(Packet::new_checked(&[0u8; 7][..]).unwrap_err(), WireError::Truncated);
        assert_eq!(Packet::new_checked(&[0, 1, 0, 2, 0, 4, 0, 0][..]).unwrap_err(), WireError::Malformed);
        assert_eq!(Packet::new_checked(&[0, 1, 0, 2, 0, 9, 0, 0][..]).unwrap_err(), WireError::Truncated);
    }

    proptest! {
        #[test]
        fn repr_round_trip(s in any::<u16>(), d in any::<u16>(), len in 0u16..1400) {
            let r = Repr { src_port: s, dst_port: d, payload_len: len };
            let mut buf = vec![0u8; r.buffer_len() + usize::from(len)];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }
    }
}
