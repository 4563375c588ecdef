//! ISAKMP wire format (RFC 2408, with the IPsec DOI of RFC 2407, RFC 2409, NAT-T payloads of RFC 3947 and DPD
//! notifies of RFC 3706): zero-copy views of the header and the generic payload header for untrusted input, owned
//! representations (`*Repr`) of every payload with `parse`, `buffer_len` and `emit`, and [`Message`], whose
//! [`Message::parse`] is the single entry point for a datagram (and the one a fuzz target calls).
//!
//! Encrypted bodies (flag E) stay opaque here; after decryption, [`parse_payloads`] with [`Trailing::Padding`]
//! parses the plaintext chain.

mod codepoint;
mod error;
mod generic;
mod header;
mod id;
mod message;
mod notify;
mod payload;
mod sa;
mod types;
pub mod vendor;

pub use error::Error;
pub use generic::{GenericPayload, GENERIC_HEADER_LEN};
pub use header::{Cookie, Flags, Header, HeaderRepr, HEADER_LEN};
pub use id::{IdData, IdRepr, NatOaRepr};
pub use message::{Body, Message};
pub use notify::{CertRepr, DeleteRepr, NotificationRepr};
pub use payload::{emit_payloads, first_payload_type, parse_payloads, payloads_len, Payload, Trailing};
pub use sa::{Attribute, AttributeValue, ProposalRepr, SaRepr, TransformRepr, SIT_IDENTITY_ONLY};
pub use types::*;
