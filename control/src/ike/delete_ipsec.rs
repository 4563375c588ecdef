//! Delete payloads for IPsec SAs (RFC 2408 §3.15, RFC 2409 §5.7): sent when the SA manager removes SAs (`clear
//! crypto sa`, shutdown, a dead peer), so the peer stops using them instead of waiting for their lifetime.

use crate::isakmp::{Cookie, DeleteRepr, Doi, Payload, ProtocolId};

use super::{Endpoint, IkeError};

impl Endpoint {
    /// Tells the peer of ISAKMP SA `icookie` that our inbound SAs `spis` of `protocol` (ESP or AH) are gone: one
    /// protected informational message with one Delete payload. The SPIs are ours (the ones the peer sends to).
    pub fn delete_ipsec(&mut self, icookie: &Cookie, protocol: ProtocolId, spis: &[u32]) -> Result<(), IkeError> {
        if spis.is_empty() {
            return Ok(());
        }
        if protocol != ProtocolId::IPSEC_ESP && protocol != ProtocolId::IPSEC_AH {
            return Err(IkeError::Unexpected("IPsec Delete for a protocol other than ESP or AH"));
        }
        let d = DeleteRepr {
            doi: Doi::IPSEC,
            protocol,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        };
        self.send_protected(icookie, Payload::Delete(d))
    }
}
