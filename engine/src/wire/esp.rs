//! ESP header and trailer (RFC 4303 §2).
//!
//! On the wire: SPI (4) | Sequence Number (4) | payload (IV | ciphertext) | ICV. The trailer (Padding | Pad Length |
//! Next Header) is inside the ciphertext, so [`Trailer`] views the two last plaintext bytes after decryption.

use super::{read_u32, write_u32, IpProtocol, Spi, WireError};

mod field {
    use core::ops::Range;
    pub const SPI: Range<usize> = 0..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = 8;
pub const TRAILER_LEN: usize = 2;

/// A view of an ESP packet (from the SPI to the end of the ICV).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn spi(&self) -> Spi {
        Spi(read_u32(self.buffer.as_ref(), field::SPI.start))
    }
    /// The low 32 bits of the sequence number.
    pub fn seq(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ.start)
    }
    /// IV, ciphertext and ICV.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_spi(&mut self, v: Spi) {
        write_u32(self.buffer.as_mut(), field::SPI.start, v.0)
    }
    pub fn set_seq(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ.start, v)
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The ESP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub spi: Spi,
    /// Low 32 bits of the sequence number (the high half of an ESN is never sent).
    pub seq: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        Ok(Self { spi: p.spi(), seq: p.seq() })
    }
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_spi(self.spi);
        p.set_seq(self.seq);
    }
}

/// A view of the decrypted ESP payload ending in Padding | Pad Length | Next Header.
#[derive(Debug, Clone)]
pub struct Trailer<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Trailer<T> {
    /// Checks that the plaintext holds the trailer and the padding it announces.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let t = Self { buffer };
        let len = t.buffer.as_ref().len();
        if len < TRAILER_LEN {
            return Err(WireError::Truncated);
        }
        if usize::from(t.pad_len()) + TRAILER_LEN > len {
            return Err(WireError::Malformed);
        }
        Ok(t)
    }
    pub fn pad_len(&self) -> u8 {
        let b = self.buffer.as_ref();
        b[b.len() - 2]
    }
    pub fn next_header(&self) -> IpProtocol {
        let b = self.buffer.as_ref();
        IpProtocol(b[b.len() - 1])
    }
    /// The padding bytes.
    pub fn padding(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[b.len() - TRAILER_LEN - usize::from(self.pad_len())..b.len() - TRAILER_LEN]
    }
    /// True if the padding is the default monotonic 1, 2, 3, ... (RFC 4303 §2.4).
    pub fn padding_is_default(&self) -> bool {
        self.padding().iter().enumerate().all(|(i, &b)| usize::from(b) == i + 1)
    }
    /// Length of the protected data before the padding.
    pub fn data_len(&self) -> usize {
        self.buffer.as_ref().len() - TRAILER_LEN - usize::from(self.pad_len())
    }
}

/// Writes default padding, pad length and next header into `tail` (which must be `pad_len + 2` bytes).
pub fn emit_trailer(tail: &mut [u8], next_header: IpProtocol) {
    let pad_len = tail.len() - TRAILER_LEN;
    for (i, b) in tail[..pad_len].iter_mut().enumerate() {
        *b = (i + 1) as u8;
    }
    tail[pad_len] = pad_len as u8;
    tail[pad_len + 1] = next_header.0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3602_case5_header_and_trailer() {
        // SPI 0x4321, seq 1; pre-encryption data ends in 01..0e 0e 01.
        let esp = [0, 0, 0x43, 0x21, 0, 0, 0, 1, 0xe9];
        let p = Packet::new_checked(&esp[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), Repr { spi: Spi(0x4321), seq: 1 });
        assert_eq!(p.payload(), &[0xe9]);
        let mut pt = vec![0xaa; 10];
        pt.extend((1..=14).collect::<Vec<u8>>());
        pt.extend([14, 1]);
        let t = Trailer::new_checked(&pt[..]).unwrap();
        assert_eq!((t.pad_len(), t.next_header(), t.data_len()), (14, IpProtocol::ICMP, 10));
        assert!(t.padding_is_default());
    }

    #[test]
    fn trailer_rejects_oversized_pad() {
        assert_eq!(Trailer::new_checked(&[1u8][..]).unwrap_err(), WireError::Truncated);
        assert_eq!(Trailer::new_checked(&[0, 2, 4][..]).unwrap_err(), WireError::Malformed);
        let mut t = [0u8; 5];
        emit_trailer(&mut t, IpProtocol::IPV4);
        assert_eq!(t, [1, 2, 3, 3, 4]);
    }

    proptest! {
        #[test]
        fn repr_round_trip(spi in any::<u32>(), seq in any::<u32>()) {
            let r = Repr { spi: Spi(spi), seq };
            let mut b = [0u8; 8];
            r.emit(&mut Packet::new_unchecked(&mut b[..]));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn trailer_round_trip(data in 0usize..40, pad in 0usize..255, nh in any::<u8>()) {
            let mut b = vec![0x55u8; data + pad + 2];
            emit_trailer(&mut b[data..], IpProtocol(nh));
            let t = Trailer::new_checked(&b[..]).unwrap();
            prop_assert_eq!(t.data_len(), data);
            prop_assert_eq!(t.next_header(), IpProtocol(nh));
            prop_assert!(t.padding_is_default());
        }
    }
}
