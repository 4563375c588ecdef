//! Identification (RFC 2408 §3.8, RFC 2407 §4.6.2) and NAT Original Address (RFC 3947 §5.2) payloads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{need, Error};
use super::types::IdType;

/// The identification data, typed by ID type. Types this code does not interpret keep their raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdData {
    Ipv4Addr(Ipv4Addr),
    Ipv6Addr(Ipv6Addr),
    /// Address and mask.
    Ipv4Subnet(Ipv4Addr, Ipv4Addr),
    Ipv6Subnet(Ipv6Addr, Ipv6Addr),
    /// First and last address.
    Ipv4Range(Ipv4Addr, Ipv4Addr),
    Ipv6Range(Ipv6Addr, Ipv6Addr),
    /// A fully-qualified domain name, as sent (not necessarily UTF-8).
    Fqdn(Vec<u8>),
    /// user@fqdn, as sent.
    UserFqdn(Vec<u8>),
    /// A DER-encoded ASN.1 X.500 Distinguished Name.
    DerAsn1Dn(Vec<u8>),
    /// Any other type (KEY_ID, DER_ASN1_GN, unassigned), with its bytes. `id_type` must not be one of the types
    /// above.
    Other {
        id_type: IdType,
        data: Vec<u8>,
    },
}

impl IdData {
    pub fn id_type(&self) -> IdType {
        match self {
            IdData::Ipv4Addr(_) => IdType::IPV4_ADDR,
            IdData::Ipv6Addr(_) => IdType::IPV6_ADDR,
            IdData::Ipv4Subnet(..) => IdType::IPV4_ADDR_SUBNET,
            IdData::Ipv6Subnet(..) => IdType::IPV6_ADDR_SUBNET,
            IdData::Ipv4Range(..) => IdType::IPV4_ADDR_RANGE,
            IdData::Ipv6Range(..) => IdType::IPV6_ADDR_RANGE,
            IdData::Fqdn(_) => IdType::FQDN,
            IdData::UserFqdn(_) => IdType::USER_FQDN,
            IdData::DerAsn1Dn(_) => IdType::DER_ASN1_DN,
            IdData::Other { id_type, .. } => *id_type,
        }
    }

    /// Interprets `data` according to `id_type`; addresses must have exactly their size.
    pub fn parse(id_type: IdType, data: &[u8]) -> Result<Self, Error> {
        fn exact(data: &[u8], n: usize, what: &'static str) -> Result<(), Error> {
            if data.len() == n {
                Ok(())
            } else {
                Err(Error::InvalidId(what))
            }
        }
        let v4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        let v6 = |b: &[u8]| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16]);
            Ipv6Addr::from(a)
        };
        Ok(match id_type {
            IdType::IPV4_ADDR => {
                exact(data, 4, "ID_IPV4_ADDR is not 4 bytes")?;
                IdData::Ipv4Addr(v4(data))
            }
            IdType::IPV6_ADDR => {
                exact(data, 16, "ID_IPV6_ADDR is not 16 bytes")?;
                IdData::Ipv6Addr(v6(data))
            }
            IdType::IPV4_ADDR_SUBNET => {
                exact(data, 8, "ID_IPV4_ADDR_SUBNET is not 8 bytes")?;
                IdData::Ipv4Subnet(v4(data), v4(&data[4..]))
            }
            IdType::IPV6_ADDR_SUBNET => {
                exact(data, 32, "ID_IPV6_ADDR_SUBNET is not 32 bytes")?;
                IdData::Ipv6Subnet(v6(data), v6(&data[16..]))
            }
            IdType::IPV4_ADDR_RANGE => {
                exact(data, 8, "ID_IPV4_ADDR_RANGE is not 8 bytes")?;
                IdData::Ipv4Range(v4(data), v4(&data[4..]))
            }
            IdType::IPV6_ADDR_RANGE => {
                exact(data, 32, "ID_IPV6_ADDR_RANGE is not 32 bytes")?;
                IdData::Ipv6Range(v6(data), v6(&data[16..]))
            }
            IdType::FQDN => IdData::Fqdn(data.to_vec()),
            IdType::USER_FQDN => IdData::UserFqdn(data.to_vec()),
            IdType::DER_ASN1_DN => IdData::DerAsn1Dn(data.to_vec()),
            other => IdData::Other { id_type: other, data: data.to_vec() },
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            IdData::Ipv4Addr(_) => 4,
            IdData::Ipv6Addr(_) => 16,
            IdData::Ipv4Subnet(..) | IdData::Ipv4Range(..) => 8,
            IdData::Ipv6Subnet(..) | IdData::Ipv6Range(..) => 32,
            IdData::Fqdn(d) | IdData::UserFqdn(d) | IdData::DerAsn1Dn(d) | IdData::Other { data: d, .. } => d.len(),
        }
    }

    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            IdData::Ipv4Addr(a) => buf[..4].copy_from_slice(&a.octets()),
            IdData::Ipv6Addr(a) => buf[..16].copy_from_slice(&a.octets()),
            IdData::Ipv4Subnet(a, b) | IdData::Ipv4Range(a, b) => {
                buf[..4].copy_from_slice(&a.octets());
                buf[4..8].copy_from_slice(&b.octets());
            }
            IdData::Ipv6Subnet(a, b) | IdData::Ipv6Range(a, b) => {
                buf[..16].copy_from_slice(&a.octets());
                buf[16..32].copy_from_slice(&b.octets());
            }
            IdData::Fqdn(d) | IdData::UserFqdn(d) | IdData::DerAsn1Dn(d) | IdData::Other { data: d, .. } => {
                buf[..d.len()].copy_from_slice(d)
            }
        }
    }
}

/// An Identification payload. In Phase 1 `protocol`/`port` are 0/0 or UDP/500; in Quick Mode they are the proxy
/// identity's protocol and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRepr {
    pub protocol: u8,
    pub port: u16,
    pub data: IdData,
}

impl IdRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("ID payload", body, 4)?;
        Ok(IdRepr {
            protocol: body[1],
            port: u16::from_be_bytes([body[2], body[3]]),
            data: IdData::parse(IdType(body[0]), &body[4..])?,
        })
    }

    pub fn buffer_len(&self) -> usize {
        4 + self.data.buffer_len()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = self.data.id_type().0;
        buf[1] = self.protocol;
        buf[2..4].copy_from_slice(&self.port.to_be_bytes());
        self.data.emit(&mut buf[4..]);
    }
}

/// A NAT-OA payload: the original address of a peer behind a NAT (RFC 3947 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatOaRepr {
    pub address: IpAddr,
}

impl NatOaRepr {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        need("NAT-OA payload", body, 4)?;
        if body[1..4] != [0, 0, 0] {
            return Err(Error::ReservedNotZero("NAT-OA payload"));
        }
        let address = match (IdType(body[0]), body.len() - 4) {
            (IdType::IPV4_ADDR, 4) => IpAddr::V4(Ipv4Addr::new(body[4], body[5], body[6], body[7])),
            (IdType::IPV6_ADDR, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[4..20]);
                IpAddr::V6(Ipv6Addr::from(a))
            }
            _ => {
                return Err(Error::Malformed {
                    what: "NAT-OA payload",
                    detail: "not an ID_IPV4_ADDR of 4 bytes or an ID_IPV6_ADDR of 16 bytes",
                })
            }
        };
        Ok(NatOaRepr { address })
    }

    pub fn buffer_len(&self) -> usize {
        match self.address {
            IpAddr::V4(_) => 8,
            IpAddr::V6(_) => 20,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[1..4].fill(0);
        match self.address {
            IpAddr::V4(a) => {
                buf[0] = IdType::IPV4_ADDR.0;
                buf[4..8].copy_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                buf[0] = IdType::IPV6_ADDR.0;
                buf[4..20].copy_from_slice(&a.octets());
            }
        }
    }
}
