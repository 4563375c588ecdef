//! A whole ISAKMP message: header and either a parsed payload chain or an encrypted body kept as opaque bytes.

use super::error::Error;
use super::header::{Header, HeaderRepr, HEADER_LEN};
use super::payload::{emit_payloads, first_payload_type, parse_payloads, Payload, Trailing};
use super::types::PayloadType;

/// The part of a message after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A plaintext payload chain.
    Payloads(Vec<Payload>),
    /// Flag E is set: the payloads are encrypted. `first_payload` is the header's next-payload field, needed to
    /// parse the chain once decrypted.
    Encrypted { first_payload: PayloadType, data: Vec<u8> },
}

/// An ISAKMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: HeaderRepr,
    pub body: Body,
}

impl Message {
    /// Parses a datagram (the UDP payload, after any RFC 3948 non-ESP marker). This is the entry point for untrusted
    /// input: every malformation is an [`Error`], none panics.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let view = Header::new_checked(datagram)?;
        let header = HeaderRepr::parse(&view)?;
        let length = view.length() as usize;
        if length != datagram.len() {
            return Err(Error::LengthMismatch { header: length, datagram: datagram.len() });
        }
        let body_bytes = &datagram[HEADER_LEN..];
        let body = if header.flags.encrypted() {
            Body::Encrypted { first_payload: view.next_payload(), data: body_bytes.to_vec() }
        } else {
            Body::Payloads(parse_payloads(view.next_payload(), body_bytes, Trailing::Reject)?)
        };
        Ok(Message { header, body })
    }

    /// Emits the message. Fails if a length does not fit its field or a payload is inconsistent.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let (first, body) = match &self.body {
            Body::Payloads(p) => (first_payload_type(p), emit_payloads(p)?),
            Body::Encrypted { first_payload, data } => (*first_payload, data.clone()),
        };
        let total = HEADER_LEN + body.len();
        let length = u32::try_from(total).ok().ok_or(Error::TooLong { what: "ISAKMP message", length: total })?;
        let mut out = vec![0u8; total];
        self.header.emit(&mut out, first, length);
        out[HEADER_LEN..].copy_from_slice(&body);
        Ok(out)
    }

    /// The payloads of a plaintext message (empty for an encrypted one).
    pub fn payloads(&self) -> &[Payload] {
        match &self.body {
            Body::Payloads(p) => p,
            Body::Encrypted { .. } => &[],
        }
    }
}
