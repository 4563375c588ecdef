//! Parse and emit errors of the ISAKMP codec, each mapped to the Notify type RFC 2408 §5 says to answer with.

use super::types::{Doi, NotifyType, PayloadType};

/// A malformed or unsupported ISAKMP message. Every variant says what was wrong; [`Error::notify`] gives the
/// notification a responder sends back (RFC 2408 §5.1-5.15).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{what} truncated: needs {needed} bytes, {available} available")]
    Truncated { what: &'static str, needed: usize, available: usize },
    #[error("ISAKMP header says {header} bytes but the datagram holds {datagram}")]
    LengthMismatch { header: usize, datagram: usize },
    #[error("ISAKMP major version {0} is not 1")]
    InvalidMajorVersion(u8),
    #[error("undefined ISAKMP header flag bits {0:#04x}")]
    InvalidFlags(u8),
    #[error("payload type {0} is not allowed here")]
    InvalidPayloadType(PayloadType),
    #[error("{kind} payload length {length} is invalid (at least {min}, at most {available} available)")]
    BadPayloadLength { kind: PayloadType, length: usize, min: usize, available: usize },
    #[error("reserved field in {0} is not zero")]
    ReservedNotZero(&'static str),
    #[error("{0} bytes follow the last payload")]
    TrailingData(usize),
    #[error("DOI {0} is not supported")]
    DoiNotSupported(Doi),
    #[error("situation {0:#010x} is not supported")]
    SituationNotSupported(u32),
    #[error("bad proposal syntax: {0}")]
    BadProposalSyntax(&'static str),
    #[error("{what}: {detail}")]
    Malformed { what: &'static str, detail: &'static str },
    #[error("invalid identification: {0}")]
    InvalidId(&'static str),
    #[error("{what} is {length} bytes, more than a 16-bit length field can carry")]
    TooLong { what: &'static str, length: usize },
}

impl Error {
    /// The notify message type to send in answer to this error (RFC 2408 §5).
    pub fn notify(&self) -> NotifyType {
        match self {
            Error::LengthMismatch { .. } => NotifyType::UNEQUAL_PAYLOAD_LENGTHS,
            Error::InvalidMajorVersion(_) => NotifyType::INVALID_MAJOR_VERSION,
            Error::InvalidFlags(_) => NotifyType::INVALID_FLAGS,
            Error::InvalidPayloadType(_) => NotifyType::INVALID_PAYLOAD_TYPE,
            Error::DoiNotSupported(_) => NotifyType::DOI_NOT_SUPPORTED,
            Error::SituationNotSupported(_) => NotifyType::SITUATION_NOT_SUPPORTED,
            Error::BadProposalSyntax(_) => NotifyType::BAD_PROPOSAL_SYNTAX,
            Error::InvalidId(_) => NotifyType::INVALID_ID_INFORMATION,
            Error::Truncated { .. }
            | Error::BadPayloadLength { .. }
            | Error::ReservedNotZero(_)
            | Error::TrailingData(_)
            | Error::Malformed { .. }
            | Error::TooLong { .. } => NotifyType::PAYLOAD_MALFORMED,
        }
    }
}

/// Checks that `buf` holds at least `needed` bytes.
pub(crate) fn need(what: &'static str, buf: &[u8], needed: usize) -> Result<(), Error> {
    if buf.len() < needed {
        Err(Error::Truncated { what, needed, available: buf.len() })
    } else {
        Ok(())
    }
}

/// Converts a length to the u16 of a length field, or says which structure is too long.
pub(crate) fn len16(what: &'static str, length: usize) -> Result<u16, Error> {
    u16::try_from(length).map_err(|_| Error::TooLong { what, length })
}
