//! SA, Proposal and Transform payloads and data attributes (RFC 2408 §3.3-3.6, RFC 2407 §4.6.1).

use super::error::{len16, need, Error};
use super::generic::{emit_generic_header, walk_chain, GENERIC_HEADER_LEN};
use super::types::{Doi, PayloadType, ProtocolId};

/// IPsec DOI situation bits (RFC 2407 §4.2).
pub const SIT_IDENTITY_ONLY: u32 = 0x01;
const SIT_SECRECY: u32 = 0x02;
const SIT_INTEGRITY: u32 = 0x04;

/// The value of a data attribute: basic (TV, 16 bits in the header) or variable (TLV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    Basic(u16),
    Variable(Vec<u8>),
}

/// One SA data attribute (RFC 2408 §3.3). `kind` is the attribute class without the AF bit, so 0..=0x7fff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub kind: u16,
    pub value: AttributeValue,
}

impl Attribute {
    pub fn basic(kind: impl Into<u16>, value: impl Into<u16>) -> Self {
        Attribute { kind: kind.into(), value: AttributeValue::Basic(value.into()) }
    }

    pub fn variable(kind: impl Into<u16>, value: Vec<u8>) -> Self {
        Attribute { kind: kind.into(), value: AttributeValue::Variable(value) }
    }

    /// The value as an unsigned integer, for a basic attribute or a variable one of at most 8 bytes (life durations
    /// are sent either way).
    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            AttributeValue::Basic(v) => Some(u64::from(*v)),
            AttributeValue::Variable(b) if !b.is_empty() && b.len() <= 8 => {
                Some(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
            }
            AttributeValue::Variable(_) => None,
        }
    }

    /// Parses one attribute at the start of `buf`, returning it and the bytes it used.
    pub fn parse(buf: &[u8]) -> Result<(Self, usize), Error> {
        need("data attribute", buf, 4)?;
        let af_type = u16::from_be_bytes([buf[0], buf[1]]);
        let kind = af_type & 0x7fff;
        let word = u16::from_be_bytes([buf[2], buf[3]]);
        if af_type & 0x8000 != 0 {
            return Ok((Attribute::basic(kind, word), 4));
        }
        let len = word as usize;
        need("variable data attribute", buf, 4 + len)?;
        Ok((Attribute::variable(kind, buf[4..4 + len].to_vec()), 4 + len))
    }

    pub fn buffer_len(&self) -> usize {
        match &self.value {
            AttributeValue::Basic(_) => 4,
            AttributeValue::Variable(v) => 4 + v.len(),
        }
    }

    /// Writes the attribute; panics if `buf` is shorter than `buffer_len()`. A class above 0x7fff is rejected by
    /// the message's emit checks; here its top bit is masked.
    pub fn emit(&self, buf: &mut [u8]) {
        let kind = self.kind & 0x7fff;
        match &self.value {
            AttributeValue::Basic(v) => {
                buf[0..2].copy_from_slice(&(kind | 0x8000).to_be_bytes());
                buf[2..4].copy_from_slice(&v.to_be_bytes());
            }
            AttributeValue::Variable(v) => {
                buf[0..2].copy_from_slice(&kind.to_be_bytes());
                buf[2..4].copy_from_slice(&(v.len() as u16).to_be_bytes());
                buf[4..4 + v.len()].copy_from_slice(v);
            }
        }
    }

    fn check_emit(&self) -> Result<(), Error> {
        if self.kind & 0x8000 != 0 {
            return Err(Error::Malformed { what: "data attribute", detail: "attribute class above 0x7fff" });
        }
        if let AttributeValue::Variable(v) = &self.value {
            len16("variable attribute value", v.len())?;
        }
        Ok(())
    }
}

/// A Transform payload (RFC 2408 §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformRepr {
    pub number: u8,
    /// Transform ID; its namespace depends on the proposal's protocol (KEY_IKE, ESP_AES, AH_SHA, ...).
    pub transform_id: u8,
    pub attributes: Vec<Attribute>,
}

impl TransformRepr {
    /// Parses a transform body (after the generic header).
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("transform payload", body, 4)?;
        if body[2] != 0 || body[3] != 0 {
            return Err(Error::ReservedNotZero("transform payload"));
        }
        let mut attributes = Vec::new();
        let mut rest = &body[4..];
        while !rest.is_empty() {
            let (a, used) = Attribute::parse(rest)?;
            attributes.push(a);
            rest = &rest[used..];
        }
        Ok(TransformRepr { number: body[0], transform_id: body[1], attributes })
    }

    /// Body length (without the generic header).
    pub fn buffer_len(&self) -> usize {
        4 + self.attributes.iter().map(Attribute::buffer_len).sum::<usize>()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = self.number;
        buf[1] = self.transform_id;
        buf[2] = 0;
        buf[3] = 0;
        let mut off = 4;
        for a in &self.attributes {
            a.emit(&mut buf[off..]);
            off += a.buffer_len();
        }
    }

    /// Looks up the first attribute of a class.
    pub fn attribute(&self, kind: impl Into<u16>) -> Option<&Attribute> {
        let kind = kind.into();
        self.attributes.iter().find(|a| a.kind == kind)
    }

    fn check_emit(&self) -> Result<(), Error> {
        self.attributes.iter().try_for_each(Attribute::check_emit)?;
        len16("transform payload", self.buffer_len() + GENERIC_HEADER_LEN).map(|_| ())
    }
}

/// A Proposal payload with its transforms (RFC 2408 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalRepr {
    pub number: u8,
    pub protocol: ProtocolId,
    pub spi: Vec<u8>,
    pub transforms: Vec<TransformRepr>,
}

impl ProposalRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("proposal payload", body, 4)?;
        let (number, protocol, spi_size, count) = (body[0], ProtocolId(body[1]), body[2] as usize, body[3]);
        need("proposal SPI", body, 4 + spi_size)?;
        let spi = body[4..4 + spi_size].to_vec();
        let chain = &body[4 + spi_size..];
        let mut transforms = Vec::with_capacity(count as usize);
        let first = if chain.is_empty() { PayloadType::NONE } else { PayloadType::TRANSFORM };
        let used = walk_chain(first, chain, |kind, tbody| {
            if kind != PayloadType::TRANSFORM {
                return Err(Error::BadProposalSyntax("a proposal holds a payload other than a transform"));
            }
            transforms.push(TransformRepr::parse(tbody)?);
            Ok(())
        })?;
        if used != chain.len() {
            return Err(Error::BadProposalSyntax("bytes after the last transform of a proposal"));
        }
        if transforms.len() != count as usize {
            return Err(Error::BadProposalSyntax("number of transforms differs from the count"));
        }
        Ok(ProposalRepr { number, protocol, spi, transforms })
    }

    pub fn buffer_len(&self) -> usize {
        4 + self.spi.len() + self.transforms.iter().map(|t| GENERIC_HEADER_LEN + t.buffer_len()).sum::<usize>()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = self.number;
        buf[1] = self.protocol.0;
        buf[2] = self.spi.len() as u8;
        buf[3] = self.transforms.len() as u8;
        buf[4..4 + self.spi.len()].copy_from_slice(&self.spi);
        let mut off = 4 + self.spi.len();
        for (i, t) in self.transforms.iter().enumerate() {
            let next = if i + 1 < self.transforms.len() { PayloadType::TRANSFORM } else { PayloadType::NONE };
            emit_generic_header(&mut buf[off..], next, t.buffer_len());
            t.emit(&mut buf[off + GENERIC_HEADER_LEN..]);
            off += GENERIC_HEADER_LEN + t.buffer_len();
        }
    }

    fn check_emit(&self) -> Result<(), Error> {
        if self.spi.len() > 255 || self.transforms.len() > 255 {
            return Err(Error::BadProposalSyntax("SPI or transform count does not fit in 8 bits"));
        }
        self.transforms.iter().try_for_each(TransformRepr::check_emit)?;
        len16("proposal payload", self.buffer_len() + GENERIC_HEADER_LEN).map(|_| ())
    }
}

/// A Security Association payload (RFC 2408 §3.4) for the ISAKMP (0) or IPsec (1) DOI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaRepr {
    pub doi: Doi,
    pub situation: u32,
    pub proposals: Vec<ProposalRepr>,
}

impl SaRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("SA payload", body, 4)?;
        let doi = Doi(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
        if doi != Doi::IPSEC && doi != Doi::ISAKMP {
            return Err(Error::DoiNotSupported(doi));
        }
        need("SA situation", body, 8)?;
        let situation = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
        // Secrecy and integrity situations carry labelled-domain data this gateway does not implement.
        if situation & (SIT_SECRECY | SIT_INTEGRITY) != 0 || situation & !0x07 != 0 {
            return Err(Error::SituationNotSupported(situation));
        }
        let chain = &body[8..];
        let mut proposals = Vec::new();
        let first = if chain.is_empty() { PayloadType::NONE } else { PayloadType::PROPOSAL };
        let used = walk_chain(first, chain, |kind, pbody| {
            if kind != PayloadType::PROPOSAL {
                return Err(Error::BadProposalSyntax("an SA holds a payload other than a proposal"));
            }
            proposals.push(ProposalRepr::parse(pbody)?);
            Ok(())
        })?;
        if used != chain.len() {
            return Err(Error::BadProposalSyntax("bytes after the last proposal of an SA"));
        }
        if proposals.is_empty() {
            return Err(Error::BadProposalSyntax("SA payload without a proposal"));
        }
        Ok(SaRepr { doi, situation, proposals })
    }

    pub fn buffer_len(&self) -> usize {
        8 + self.proposals.iter().map(|p| GENERIC_HEADER_LEN + p.buffer_len()).sum::<usize>()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&self.doi.0.to_be_bytes());
        buf[4..8].copy_from_slice(&self.situation.to_be_bytes());
        let mut off = 8;
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 < self.proposals.len() { PayloadType::PROPOSAL } else { PayloadType::NONE };
            emit_generic_header(&mut buf[off..], next, p.buffer_len());
            p.emit(&mut buf[off + GENERIC_HEADER_LEN..]);
            off += GENERIC_HEADER_LEN + p.buffer_len();
        }
    }

    pub(crate) fn check_emit(&self) -> Result<(), Error> {
        self.proposals.iter().try_for_each(ProposalRepr::check_emit)
    }
}
