//! Notification (RFC 2408 §3.14, RFC 3706), Delete (§3.15), Certificate (§3.9) and Certificate Request (§3.10)
//! payloads.

use super::error::{need, Error};
use super::types::{CertEncoding, Doi, NotifyType, ProtocolId};

/// A Notification payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRepr {
    pub doi: Doi,
    pub protocol: ProtocolId,
    pub notify_type: NotifyType,
    /// The SPI the notification is about; for Phase 1 notifies often empty, or the two cookies (16 bytes, as DPD
    /// R-U-THERE does).
    pub spi: Vec<u8>,
    pub data: Vec<u8>,
}

impl NotificationRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("Notification payload", body, 8)?;
        let spi_size = body[5] as usize;
        need("Notification SPI", body, 8 + spi_size)?;
        Ok(NotificationRepr {
            doi: Doi(u32::from_be_bytes([body[0], body[1], body[2], body[3]])),
            protocol: ProtocolId(body[4]),
            notify_type: NotifyType(u16::from_be_bytes([body[6], body[7]])),
            spi: body[8..8 + spi_size].to_vec(),
            data: body[8 + spi_size..].to_vec(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        8 + self.spi.len() + self.data.len()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&self.doi.0.to_be_bytes());
        buf[4] = self.protocol.0;
        buf[5] = self.spi.len() as u8;
        buf[6..8].copy_from_slice(&self.notify_type.0.to_be_bytes());
        let s = 8 + self.spi.len();
        buf[8..s].copy_from_slice(&self.spi);
        buf[s..s + self.data.len()].copy_from_slice(&self.data);
    }

    pub(crate) fn check_emit(&self) -> Result<(), Error> {
        if self.spi.len() > 255 {
            return Err(Error::Malformed { what: "Notification payload", detail: "SPI longer than 255 bytes" });
        }
        Ok(())
    }
}

/// A Delete payload: SPIs of one protocol that the sender removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRepr {
    pub doi: Doi,
    pub protocol: ProtocolId,
    /// Every SPI has this many bytes (16 for ISAKMP: the cookie pair; 4 for ESP/AH).
    pub spi_size: u8,
    pub spis: Vec<Vec<u8>>,
}

impl DeleteRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("Delete payload", body, 8)?;
        let spi_size = body[5];
        let count = u16::from_be_bytes([body[6], body[7]]) as usize;
        let expected = 8 + spi_size as usize * count;
        if body.len() != expected {
            return Err(Error::Malformed {
                what: "Delete payload",
                detail: "length differs from SPI size times number of SPIs",
            });
        }
        let spis = if spi_size == 0 {
            vec![Vec::new(); count]
        } else {
            body[8..].chunks_exact(spi_size as usize).map(<[u8]>::to_vec).collect()
        };
        Ok(DeleteRepr {
            doi: Doi(u32::from_be_bytes([body[0], body[1], body[2], body[3]])),
            protocol: ProtocolId(body[4]),
            spi_size,
            spis,
        })
    }

    pub fn buffer_len(&self) -> usize {
        8 + self.spi_size as usize * self.spis.len()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&self.doi.0.to_be_bytes());
        buf[4] = self.protocol.0;
        buf[5] = self.spi_size;
        buf[6..8].copy_from_slice(&(self.spis.len() as u16).to_be_bytes());
        let size = self.spi_size as usize;
        for (i, spi) in self.spis.iter().enumerate() {
            buf[8 + i * size..8 + (i + 1) * size].copy_from_slice(&spi[..size]);
        }
    }

    pub(crate) fn check_emit(&self) -> Result<(), Error> {
        if self.spis.len() > usize::from(u16::MAX) || self.spis.iter().any(|s| s.len() != self.spi_size as usize) {
            return Err(Error::Malformed {
                what: "Delete payload",
                detail: "an SPI differs from the SPI size, or too many SPIs",
            });
        }
        Ok(())
    }
}

/// A Certificate payload, or (with the same layout) a Certificate Request naming an acceptable CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRepr {
    pub encoding: CertEncoding,
    /// The certificate (CERT) or the certificate authority's DER Distinguished Name, possibly empty (CR).
    pub data: Vec<u8>,
}

impl CertRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("Certificate payload", body, 1)?;
        Ok(CertRepr { encoding: CertEncoding(body[0]), data: body[1..].to_vec() })
    }

    pub fn buffer_len(&self) -> usize {
        1 + self.data.len()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = self.encoding.0;
        buf[1..1 + self.data.len()].copy_from_slice(&self.data);
    }
}
