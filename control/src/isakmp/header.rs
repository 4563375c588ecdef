//! The ISAKMP header (RFC 2408 §3.1): a zero-copy view and its owned representation.
//!
//! Panic contract: after [`Header::new_checked`] (or [`Header::check_len`]) succeeds, no accessor panics.

use super::error::{need, Error};
use super::types::{ExchangeType, PayloadType};

/// An ISAKMP cookie (RFC 2408 §2.5.3).
pub type Cookie = [u8; 8];

mod field {
    use core::ops::Range;
    pub const ICOOKIE: Range<usize> = 0..8;
    pub const RCOOKIE: Range<usize> = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    pub const VERSION: usize = 17;
    pub const EXCHANGE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Range<usize> = 20..24;
    pub const LENGTH: Range<usize> = 24..28;
}

/// Length of the ISAKMP header.
pub const HEADER_LEN: usize = 28;

/// Header flags (RFC 2408 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Flags(pub u8);

impl Flags {
    /// E: everything after the header is encrypted.
    pub const ENCRYPTION: Flags = Flags(0x01);
    /// C: commit bit, the sender wants a CONNECTED notify before using the SA.
    pub const COMMIT: Flags = Flags(0x02);
    /// A: authentication only (no encryption) for informational exchanges.
    pub const AUTH_ONLY: Flags = Flags(0x04);
    const DEFINED: u8 = 0x07;

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn encrypted(self) -> bool {
        self.contains(Flags::ENCRYPTION)
    }
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// A read/write view of an ISAKMP header at the start of a buffer.
#[derive(Debug, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking its length; accessors may then panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Self {
        Header { buffer }
    }

    /// Wraps a buffer after checking it holds a whole header and the length field is not below the header size.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Checks the buffer holds the 28-byte header and that the length field is at least 28.
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        need("ISAKMP header", buf, HEADER_LEN)?;
        let length = self.length() as usize;
        if length < HEADER_LEN {
            return Err(Error::Malformed { what: "ISAKMP header", detail: "length field is smaller than the header" });
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn initiator_cookie(&self) -> Cookie {
        let mut c = [0u8; 8];
        c.copy_from_slice(&self.buffer.as_ref()[field::ICOOKIE]);
        c
    }
    pub fn responder_cookie(&self) -> Cookie {
        let mut c = [0u8; 8];
        c.copy_from_slice(&self.buffer.as_ref()[field::RCOOKIE]);
        c
    }
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.buffer.as_ref()[field::EXCHANGE])
    }
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }
    pub fn message_id(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::MESSAGE_ID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn length(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    /// The bytes after the header up to the header's length (or the end of the buffer if shorter).
    pub fn body(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = (self.length() as usize).min(buf.len());
        &buf[HEADER_LEN..end.max(HEADER_LEN)]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    pub fn set_initiator_cookie(&mut self, c: &Cookie) {
        self.buffer.as_mut()[field::ICOOKIE].copy_from_slice(c);
    }
    pub fn set_responder_cookie(&mut self, c: &Cookie) {
        self.buffer.as_mut()[field::RCOOKIE].copy_from_slice(c);
    }
    pub fn set_next_payload(&mut self, p: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = p.0;
    }
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }
    pub fn set_exchange_type(&mut self, e: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE] = e.0;
    }
    pub fn set_flags(&mut self, f: Flags) {
        self.buffer.as_mut()[field::FLAGS] = f.0;
    }
    pub fn set_message_id(&mut self, id: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&id.to_be_bytes());
    }
    pub fn set_length(&mut self, len: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }
}

/// The owned ISAKMP header, without the fields derived from the body (next payload, length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRepr {
    pub initiator_cookie: Cookie,
    pub responder_cookie: Cookie,
    /// Minor version; the major version is always 1 (IKEv1).
    pub minor_version: u8,
    pub exchange_type: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
}

impl HeaderRepr {
    /// Parses the header fields of a checked view, rejecting a major version other than 1 and undefined flag bits.
    pub fn parse<T: AsRef<[u8]>>(h: &Header<T>) -> Result<Self, Error> {
        h.check_len()?;
        if h.major_version() != 1 {
            return Err(Error::InvalidMajorVersion(h.major_version()));
        }
        if h.flags().0 & !Flags::DEFINED != 0 {
            return Err(Error::InvalidFlags(h.flags().0));
        }
        Ok(HeaderRepr {
            initiator_cookie: h.initiator_cookie(),
            responder_cookie: h.responder_cookie(),
            minor_version: h.minor_version(),
            exchange_type: h.exchange_type(),
            flags: h.flags(),
            message_id: h.message_id(),
        })
    }

    /// Writes the header; `next_payload` and `length` come from the body being emitted.
    /// Panics if `buf` is shorter than [`HEADER_LEN`].
    pub fn emit(&self, buf: &mut [u8], next_payload: PayloadType, length: u32) {
        let mut h = Header::new_unchecked(&mut buf[..HEADER_LEN]);
        h.set_initiator_cookie(&self.initiator_cookie);
        h.set_responder_cookie(&self.responder_cookie);
        h.set_next_payload(next_payload);
        h.set_version(1, self.minor_version);
        h.set_exchange_type(self.exchange_type);
        h.set_flags(self.flags);
        h.set_message_id(self.message_id);
        h.set_length(length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Main Mode message 1 header of ikev1-certs.pcap (frame 1): cookies fafaeb49382a763c / 0, next payload SA,
    /// version 1.0, exchange 2, no flags, message ID 0, length 116.
    const MM1: [u8; 28] = [
        0xfa, 0xfa, 0xeb, 0x49, 0x38, 0x2a, 0x76, 0x3c, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x10, 0x02, 0x00, 0, 0, 0, 0, 0,
        0, 0, 0x74,
    ];

    #[test]
    fn view_reads_fields() {
        let h = Header::new_checked(&MM1[..]).unwrap();
        assert_eq!(h.initiator_cookie(), [0xfa, 0xfa, 0xeb, 0x49, 0x38, 0x2a, 0x76, 0x3c]);
        assert_eq!(h.responder_cookie(), [0; 8]);
        assert_eq!(h.next_payload(), PayloadType::SA);
        assert_eq!((h.major_version(), h.minor_version()), (1, 0));
        assert_eq!(h.exchange_type(), ExchangeType::MAIN_MODE);
        assert_eq!(h.flags(), Flags::default());
        assert_eq!(h.message_id(), 0);
        assert_eq!(h.length(), 116);
        assert!(h.body().is_empty(), "the body beyond this buffer is not there");
    }

    #[test]
    fn repr_emits_the_same_bytes() {
        let h = Header::new_checked(&MM1[..]).unwrap();
        let repr = HeaderRepr::parse(&h).unwrap();
        let mut out = [0u8; HEADER_LEN];
        repr.emit(&mut out, PayloadType::SA, 116);
        assert_eq!(out, MM1);
    }

    #[test]
    fn short_or_inconsistent_buffers_are_refused() {
        assert!(matches!(Header::new_checked(&MM1[..27]), Err(Error::Truncated { needed: 28, .. })));
        let mut b = MM1;
        b[27] = 27;
        assert!(Header::new_checked(&b[..]).is_err(), "length below the header size");
    }

    #[test]
    fn flags() {
        let f = Flags::ENCRYPTION.union(Flags::COMMIT);
        assert!(f.encrypted() && f.contains(Flags::COMMIT) && !f.contains(Flags::AUTH_ONLY));
    }
}
