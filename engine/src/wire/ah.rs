//! Authentication Header (RFC 4302 §2).
//!
//! Next Header (1) | Payload Len (1, in 32-bit words minus 2) | Reserved (2) | SPI (4) | Sequence (4) | ICV (variable,
//! padded to a multiple of 4 bytes for IPv4 and 8 bytes for IPv6).

use super::{read_u16, read_u32, write_u16, write_u32, IpProtocol, Spi, WireError};

mod field {
    use core::ops::Range;
    pub const NXT_HDR: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: Range<usize> = 2..4;
    pub const SPI: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const ICV: usize = 12;
}

/// Fixed part before the ICV.
pub const FIXED_LEN: usize = 12;

/// A view of an AH header.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Validates the fixed part and that the header length the Payload Len announces fits the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        if self.header_len() < FIXED_LEN {
            return Err(WireError::Malformed);
        }
        if b.len() < self.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }
    pub fn payload_len(&self) -> u8 {
        self.buffer.as_ref()[field::PAYLOAD_LEN]
    }
    /// Length of the whole AH header in bytes: (Payload Len + 2) * 4.
    pub fn header_len(&self) -> usize {
        (usize::from(self.payload_len()) + 2) * 4
    }
    pub fn reserved(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::RESERVED.start)
    }
    pub fn spi(&self) -> Spi {
        Spi(read_u32(self.buffer.as_ref(), field::SPI.start))
    }
    pub fn seq(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ.start)
    }
    /// The ICV field including any alignment padding.
    pub fn icv(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ICV..self.header_len()]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.0
    }
    /// Sets Payload Len from a header length in bytes (a multiple of 4, at least 12).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::PAYLOAD_LEN] = (len / 4 - 2) as u8
    }
    pub fn set_reserved(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::RESERVED.start, v)
    }
    pub fn set_spi(&mut self, v: Spi) {
        write_u32(self.buffer.as_mut(), field::SPI.start, v.0)
    }
    pub fn set_seq(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ.start, v)
    }
    pub fn icv_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::ICV..end]
    }
}

/// An AH header; `icv_len` is the length of the ICV field including alignment padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub next_header: IpProtocol,
    pub spi: Spi,
    pub seq: u32,
    pub icv_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        Ok(Self { next_header: p.next_header(), spi: p.spi(), seq: p.seq(), icv_len: p.header_len() - FIXED_LEN })
    }
    pub const fn buffer_len(&self) -> usize {
        FIXED_LEN + self.icv_len
    }
    /// Emits the header with a zeroed ICV field.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_next_header(self.next_header);
        p.set_header_len(self.buffer_len());
        p.set_reserved(0);
        p.set_spi(self.spi);
        p.set_seq(self.seq);
        p.icv_mut().fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sha1_96_header_is_24_bytes() {
        let r = Repr { next_header: IpProtocol::TCP, spi: Spi(0x1000), seq: 7, icv_len: 12 };
        let mut b = [0xffu8; 24];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b[1], 4); // RFC 4302 §2.2: 96-bit ICV gives Payload Len 4.
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        assert_eq!(Packet::new_checked(&b[..20]).unwrap_err(), WireError::Truncated);
        b[1] = 0;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Malformed);
    }

    proptest! {
        #[test]
        fn repr_round_trip(nh in any::<u8>(), spi in any::<u32>(), seq in any::<u32>(), words in 0usize..16) {
            let r = Repr { next_header: IpProtocol(nh), spi: Spi(spi), seq, icv_len: words * 4 };
            let mut b = vec![0u8; r.buffer_len() + 3];
            r.emit(&mut Packet::new_unchecked(&mut b[..]));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn never_panics_on_garbage(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (p.icv().len(), p.payload().len());
            }
        }
    }
}
