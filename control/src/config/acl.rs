//! `[[access_list]]`: the crypto ACLs whose permit entries become proxy identities (IKEv1 IDci/IDcr) and SPD entries.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::names::named_enum;
use super::types::Selector;

/// A named, ordered list of entries (`ip access-list extended NAME`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessList {
    pub name: String,
    pub entries: Vec<AclEntry>,
}

named_enum! {
    /// In a crypto ACL, `permit` means protect and `deny` means let through in clear.
    pub enum Action as "action" {
        Permit => "permit",
        Deny => "deny",
    }
}

/// One line of an access list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    pub action: Action,
    #[serde(default)]
    pub protocol: Protocol,
    pub source: Selector,
    pub destination: Selector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<PortRange>,
}

/// The IP protocol an entry matches: `ip` (any), a name, or a number 1-255.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    #[default]
    Ip,
    Number(u8),
}

const PROTOCOL_NAMES: &[(&str, u8)] =
    &[("icmp", 1), ("tcp", 6), ("udp", 17), ("gre", 47), ("esp", 50), ("ahp", 51), ("icmpv6", 58), ("sctp", 132)];

impl Protocol {
    /// The number in an IKEv1 ID payload and the IP header (0 means any).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Ip => 0,
            Protocol::Number(n) => n,
        }
    }

    /// TCP, UDP and SCTP have ports an entry may match.
    pub fn has_ports(self) -> bool {
        matches!(self.number(), 6 | 17 | 132)
    }

    fn from_number(n: i64) -> Result<Protocol, String> {
        match n {
            0 => Ok(Protocol::Ip),
            1..=255 => Ok(Protocol::Number(n as u8)),
            _ => Err(format!("protocol number {n} is out of range 0..=255")),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Ip => f.write_str("ip"),
            Protocol::Number(n) => match PROTOCOL_NAMES.iter().find(|(_, v)| v == n) {
                Some((name, _)) => f.write_str(name),
                None => write!(f, "{n}"),
            },
        }
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Protocol::Number(n) if !PROTOCOL_NAMES.iter().any(|(_, v)| v == n) => serializer.serialize_u8(*n),
            _ => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Protocol;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a protocol name (ip, icmp, tcp, udp, gre, esp, ahp, icmpv6, sctp) or number")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Protocol, E> {
                Protocol::from_number(n).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Protocol, E> {
                Protocol::from_number(i64::try_from(n).unwrap_or(i64::MAX)).map_err(E::custom)
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Protocol, E> {
                if s == "ip" {
                    return Ok(Protocol::Ip);
                }
                match PROTOCOL_NAMES.iter().find(|(name, _)| *name == s) {
                    Some((_, n)) => Ok(Protocol::Number(*n)),
                    None => Err(E::custom(format!(
                        "unknown protocol \"{s}\"; expected ip, icmp, tcp, udp, gre, esp, ahp, icmpv6, sctp or a number"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A port or an inclusive range: `443` or `"1024-65535"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn single(port: u16) -> PortRange {
        PortRange { low: port, high: port }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.low == self.high {
            serializer.serialize_u16(self.low)
        } else {
            serializer.collect_str(self)
        }
    }
}

fn port(n: i64) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("port {n} is out of range 0..=65535"))
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = PortRange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number or a range such as \"1024-65535\"")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<PortRange, E> {
                port(n).map(PortRange::single).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<PortRange, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<PortRange, E> {
                let bad = || E::custom(format!("\"{s}\" is not a port range (expected LOW-HIGH such as 1024-65535)"));
                let (lo, hi) = s.split_once('-').unwrap_or((s, s));
                let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
                let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
                let (low, high) = (port(lo).map_err(E::custom)?, port(hi).map_err(E::custom)?);
                if low > high {
                    return Err(E::custom(format!("port range \"{s}\" has its low end above its high end")));
                }
                Ok(PortRange { low, high })
            }
        }
        deserializer.deserialize_any(V)
    }
}
