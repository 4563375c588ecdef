//! The payloads of an ISAKMP message as one enum, and the payload chain (RFC 2408 §3.2: each payload names the type
//! of the next one).

use super::error::{len16, Error};
use super::generic::{emit_generic_header, walk_chain, GENERIC_HEADER_LEN};
use super::id::{IdRepr, NatOaRepr};
use super::notify::{CertRepr, DeleteRepr, NotificationRepr};
use super::sa::SaRepr;
use super::types::PayloadType;

/// One payload of a message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Sa(SaRepr),
    /// Key Exchange data: g^x for MODP, x|y for ECP.
    Ke(Vec<u8>),
    Id(IdRepr),
    Cert(CertRepr),
    /// Certificate Request (same layout as CERT: encoding, then the CA's DN or nothing).
    Cr(CertRepr),
    Hash(Vec<u8>),
    Sig(Vec<u8>),
    Nonce(Vec<u8>),
    Notification(NotificationRepr),
    Delete(DeleteRepr),
    VendorId(Vec<u8>),
    /// NAT-D hash (RFC 3947 §3.2); `draft` when numbered 130 as by the NAT-T drafts.
    NatD {
        draft: bool,
        hash: Vec<u8>,
    },
    /// NAT-OA (RFC 3947 §5.2); `draft` when numbered 131.
    NatOa {
        draft: bool,
        oa: NatOaRepr,
    },
    /// A payload type that is assigned (or private use) but not interpreted here, with its body as sent.
    Other {
        kind: PayloadType,
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type this payload is announced as.
    pub fn kind(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::Id(_) => PayloadType::ID,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::Cr(_) => PayloadType::CR,
            Payload::Hash(_) => PayloadType::HASH,
            Payload::Sig(_) => PayloadType::SIG,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notification(_) => PayloadType::NOTIFICATION,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::NatD { draft: false, .. } => PayloadType::NAT_D,
            Payload::NatD { draft: true, .. } => PayloadType::NAT_D_DRAFT,
            Payload::NatOa { draft: false, .. } => PayloadType::NAT_OA,
            Payload::NatOa { draft: true, .. } => PayloadType::NAT_OA_DRAFT,
            Payload::Other { kind, .. } => *kind,
        }
    }

    /// Parses the body of a payload announced as `kind`.
    pub fn parse(kind: PayloadType, body: &[u8]) -> Result<Self, Error> {
        Ok(match kind {
            PayloadType::SA => Payload::Sa(SaRepr::parse(body)?),
            PayloadType::KE => Payload::Ke(body.to_vec()),
            PayloadType::ID => Payload::Id(IdRepr::parse(body)?),
            PayloadType::CERT => Payload::Cert(CertRepr::parse(body)?),
            PayloadType::CR => Payload::Cr(CertRepr::parse(body)?),
            PayloadType::HASH => Payload::Hash(body.to_vec()),
            PayloadType::SIG => Payload::Sig(body.to_vec()),
            PayloadType::NONCE => Payload::Nonce(body.to_vec()),
            PayloadType::NOTIFICATION => Payload::Notification(NotificationRepr::parse(body)?),
            PayloadType::DELETE => Payload::Delete(DeleteRepr::parse(body)?),
            PayloadType::VENDOR_ID => Payload::VendorId(body.to_vec()),
            PayloadType::NAT_D | PayloadType::NAT_D_DRAFT => {
                Payload::NatD { draft: kind == PayloadType::NAT_D_DRAFT, hash: body.to_vec() }
            }
            PayloadType::NAT_OA | PayloadType::NAT_OA_DRAFT => {
                Payload::NatOa { draft: kind == PayloadType::NAT_OA_DRAFT, oa: NatOaRepr::parse(body)? }
            }
            k if k.allowed_at_top_level() => Payload::Other { kind: k, body: body.to_vec() },
            k => return Err(Error::InvalidPayloadType(k)),
        })
    }

    /// Length of the body (without the generic header).
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Sa(r) => r.buffer_len(),
            Payload::Id(r) => r.buffer_len(),
            Payload::Cert(r) | Payload::Cr(r) => r.buffer_len(),
            Payload::Notification(r) => r.buffer_len(),
            Payload::Delete(r) => r.buffer_len(),
            Payload::NatOa { oa, .. } => oa.buffer_len(),
            Payload::Ke(b)
            | Payload::Hash(b)
            | Payload::Sig(b)
            | Payload::Nonce(b)
            | Payload::VendorId(b)
            | Payload::NatD { hash: b, .. }
            | Payload::Other { body: b, .. } => b.len(),
        }
    }

    /// Length including the generic header.
    pub fn buffer_len(&self) -> usize {
        GENERIC_HEADER_LEN + self.body_len()
    }

    /// Checks that this payload can be emitted: lengths fit their fields, counts match, the type may appear.
    pub fn check_emit(&self) -> Result<(), Error> {
        match self {
            Payload::Sa(r) => r.check_emit()?,
            Payload::Notification(r) => r.check_emit()?,
            Payload::Delete(r) => r.check_emit()?,
            Payload::Id(r) => {
                // A raw-typed ID must not claim a type whose layout is fixed, or it would not parse back.
                if let super::id::IdData::Other { id_type, data } = &r.data {
                    super::id::IdData::parse(*id_type, data)?;
                }
            }
            Payload::Other { kind, .. } if !kind.allowed_at_top_level() || Payload::is_interpreted(*kind) => {
                return Err(Error::InvalidPayloadType(*kind))
            }
            _ => {}
        }
        len16("payload", self.buffer_len()).map(|_| ())
    }

    fn is_interpreted(kind: PayloadType) -> bool {
        matches!(kind.0, 1 | 4..=13 | 20 | 21 | 130 | 131)
    }

    /// Writes generic header and body. Panics if `buf` is shorter than `buffer_len()`; call `check_emit` first.
    pub fn emit(&self, buf: &mut [u8], next: PayloadType) {
        let body_len = self.body_len();
        emit_generic_header(buf, next, body_len);
        let body = &mut buf[GENERIC_HEADER_LEN..GENERIC_HEADER_LEN + body_len];
        match self {
            Payload::Sa(r) => r.emit(body),
            Payload::Id(r) => r.emit(body),
            Payload::Cert(r) | Payload::Cr(r) => r.emit(body),
            Payload::Notification(r) => r.emit(body),
            Payload::Delete(r) => r.emit(body),
            Payload::NatOa { oa, .. } => oa.emit(body),
            Payload::Ke(b)
            | Payload::Hash(b)
            | Payload::Sig(b)
            | Payload::Nonce(b)
            | Payload::VendorId(b)
            | Payload::NatD { hash: b, .. }
            | Payload::Other { body: b, .. } => body.copy_from_slice(b),
        }
    }
}

/// What to do with bytes after the last payload of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    /// A plaintext message: trailing bytes are an error.
    Reject,
    /// A decrypted body: what follows the last payload is CBC padding (RFC 2409 §5.3) and is ignored.
    Padding,
}

/// Parses a chain of payloads starting with a payload of type `first`.
pub fn parse_payloads(first: PayloadType, data: &[u8], trailing: Trailing) -> Result<Vec<Payload>, Error> {
    let mut out = Vec::new();
    let used = walk_chain(first, data, |kind, body| {
        out.push(Payload::parse(kind, body)?);
        Ok(())
    })?;
    if trailing == Trailing::Reject && used != data.len() {
        return Err(Error::TrailingData(data.len() - used));
    }
    Ok(out)
}

/// The type of the first payload of a chain (NONE for an empty chain).
pub fn first_payload_type(payloads: &[Payload]) -> PayloadType {
    payloads.first().map_or(PayloadType::NONE, Payload::kind)
}

/// Bytes a chain of payloads takes.
pub fn payloads_len(payloads: &[Payload]) -> usize {
    payloads.iter().map(Payload::buffer_len).sum()
}

/// Emits a chain of payloads into a new buffer (the plaintext of an encrypted body, or the body of a message).
pub fn emit_payloads(payloads: &[Payload]) -> Result<Vec<u8>, Error> {
    payloads.iter().try_for_each(Payload::check_emit)?;
    let mut buf = vec![0u8; payloads_len(payloads)];
    let mut off = 0;
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(PayloadType::NONE, Payload::kind);
        p.emit(&mut buf[off..], next);
        off += p.buffer_len();
    }
    Ok(buf)
}
