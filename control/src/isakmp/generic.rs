//! The generic payload header (RFC 2408 §3.2) shared by every payload, and by proposals and transforms inside an SA.
//!
//! Panic contract: after [`GenericPayload::new_checked`] succeeds, no accessor panics.

use super::error::{need, Error};
use super::types::PayloadType;

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

mod field {
    pub const NEXT_PAYLOAD: usize = 0;
    pub const RESERVED: usize = 1;
    pub const LENGTH: core::ops::Range<usize> = 2..4;
}

/// A view of one payload (generic header and body) at the start of a buffer, which may hold more payloads after it.
#[derive(Debug, Clone)]
pub struct GenericPayload<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenericPayload<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        GenericPayload { buffer }
    }

    /// Wraps a buffer after checking that the header is there, that the length covers at least the header, and that
    /// the buffer holds `length` bytes. `kind` (the type announced by the previous payload) is used in errors only.
    pub fn new_checked(buffer: T, kind: PayloadType) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len(kind)?;
        Ok(p)
    }

    pub fn check_len(&self, kind: PayloadType) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        need("generic payload header", buf, GENERIC_HEADER_LEN)?;
        let length = self.payload_length() as usize;
        if length < GENERIC_HEADER_LEN || length > buf.len() {
            return Err(Error::BadPayloadLength { kind, length, min: GENERIC_HEADER_LEN, available: buf.len() });
        }
        Ok(())
    }

    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }
    pub fn payload_length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }
    /// The payload body: the bytes after the generic header up to the payload length.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[GENERIC_HEADER_LEN..self.payload_length() as usize]
    }
    /// What follows this payload in the buffer.
    pub fn rest(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_length() as usize..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenericPayload<T> {
    pub fn set_next_payload(&mut self, p: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = p.0;
    }
    pub fn set_reserved(&mut self, r: u8) {
        self.buffer.as_mut()[field::RESERVED] = r;
    }
    pub fn set_payload_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }
    pub fn body_mut(&mut self) -> &mut [u8] {
        let end = self.payload_length() as usize;
        &mut self.buffer.as_mut()[GENERIC_HEADER_LEN..end]
    }
}

/// Writes a generic header for a payload whose body is `body_len` bytes. Panics if `buf` is shorter than 4 bytes;
/// the caller has checked that the total fits in 16 bits.
pub(crate) fn emit_generic_header(buf: &mut [u8], next: PayloadType, body_len: usize) {
    let mut p = GenericPayload::new_unchecked(&mut buf[..GENERIC_HEADER_LEN]);
    p.set_next_payload(next);
    p.set_reserved(0);
    p.set_payload_length((body_len + GENERIC_HEADER_LEN) as u16);
}

/// Walks a chain of payloads linked by their next-payload fields, starting with `first`, and calls `f(kind, body)`
/// for each. Returns how many bytes the chain used; what follows it is the caller's to judge.
pub(crate) fn walk_chain<'a>(
    first: PayloadType,
    mut data: &'a [u8],
    mut f: impl FnMut(PayloadType, &'a [u8]) -> Result<(), Error>,
) -> Result<usize, Error> {
    let total = data.len();
    let mut kind = first;
    while kind != PayloadType::NONE {
        let p = GenericPayload::new_checked(data, kind)?;
        if p.reserved() != 0 {
            return Err(Error::ReservedNotZero("generic payload header"));
        }
        let len = p.payload_length() as usize;
        let (this, rest) = data.split_at(len);
        f(kind, &this[GENERIC_HEADER_LEN..])?;
        kind = p.next_payload();
        data = rest;
    }
    Ok(total - data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_and_chain() {
        // A Vendor ID payload (8 bytes of XAUTH VID) followed by an empty NONCE, then 2 bytes of padding.
        let bytes = [10, 0, 0, 12, 0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12, 0, 0, 0, 4, 0xaa, 0xbb];
        let p = GenericPayload::new_checked(&bytes[..], PayloadType::VENDOR_ID).unwrap();
        assert_eq!(p.next_payload(), PayloadType::NONCE);
        assert_eq!(p.payload_length(), 12);
        assert_eq!(p.body(), &bytes[4..12]);
        assert_eq!(p.rest().len(), 6);
        let mut kinds = Vec::new();
        let used = walk_chain(PayloadType::VENDOR_ID, &bytes, |k, b| {
            kinds.push((k, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(used, 16);
        assert_eq!(kinds, vec![(PayloadType::VENDOR_ID, 8), (PayloadType::NONCE, 0)]);
    }

    #[test]
    fn lengths_are_checked() {
        assert!(GenericPayload::new_checked(&[0u8, 0, 0][..], PayloadType::HASH).is_err());
        assert!(GenericPayload::new_checked(&[0u8, 0, 0, 3][..], PayloadType::HASH).is_err());
        assert!(GenericPayload::new_checked(&[0u8, 0, 0, 5][..], PayloadType::HASH).is_err());
        let e = walk_chain(PayloadType::HASH, &[0, 1, 0, 4], |_, _| Ok(())).unwrap_err();
        assert_eq!(e, Error::ReservedNotZero("generic payload header"));
    }

    #[test]
    fn emit_header() {
        let mut b = [0xffu8; 4];
        emit_generic_header(&mut b, PayloadType::KE, 128);
        assert_eq!(b, [4, 0, 0, 132]);
    }
}
