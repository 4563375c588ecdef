//! Value types of the config: prefixes, interface addresses, MAC addresses, selectors, ports, identities.
//! Each parses from the string an operator writes and prints back the same way, so a config round-trips.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Serde through `Display` / `FromStr`, so the parse error text (which names the bad value) reaches the operator.
macro_rules! serde_via_str {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(de::Error::custom)
            }
        }
    };
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// The address bits as a u128 (IPv4 in the low 32 bits) and the mask of the first `len` bits, for either family.
fn bits_and_mask(addr: IpAddr, len: u8) -> (u128, u128) {
    let (bits, width) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let len = u32::from(len).min(width);
    let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    // checked_shr: a shift by the full 128 bits (an IPv6 /128) would overflow.
    let mask = all & !all.checked_shr(len).unwrap_or(0);
    (bits, mask)
}

fn from_bits(family_of: IpAddr, bits: u128) -> IpAddr {
    match family_of {
        // Truncation is the point: IPv4 bits live in the low 32.
        IpAddr::V4(_) => IpAddr::V4((bits as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(bits.into()),
    }
}

/// Splits `addr[/len]`; the error text names the input and what is wrong with it.
fn split_prefix(s: &str) -> Result<(IpAddr, Option<u8>), String> {
    let bad = |why: &str| format!("\"{s}\" is not a valid prefix: {why}");
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad("not an IPv4 or IPv6 address"))?;
    let len = match len {
        None => None,
        Some(l) => {
            if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                return Err(bad("the length after '/' must be a number"));
            }
            let n: u16 = l.parse().map_err(|_| bad("the length after '/' must be a number"))?;
            if n > u16::from(max_len(addr)) {
                return Err(bad(&format!("length {n} is longer than {}", max_len(addr))));
            }
            Some(n as u8)
        }
    };
    Ok((addr, len))
}

/// A network prefix with its host bits zero: a route destination, an ACL selector, a key's peer range.
/// A bare address means a host prefix (/32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// `None` when `len` is too long for the family or host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Option<IpPrefix> {
        if len > max_len(addr) {
            return None;
        }
        let (bits, mask) = bits_and_mask(addr, len);
        (bits & !mask == 0).then_some(IpPrefix { addr, len })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for 0.0.0.0/0 and ::/0.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (net, mask) = bits_and_mask(self.addr, self.len);
        let (bits, _) = bits_and_mask(ip, self.len);
        bits & mask == net
    }

    /// Whether the two prefixes share any address (one contains the other).
    pub fn overlaps(&self, other: &IpPrefix) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for IpPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = split_prefix(s)?;
        let len = len.unwrap_or(max_len(addr));
        let (bits, mask) = bits_and_mask(addr, len);
        if bits & !mask != 0 {
            let net = from_bits(addr, bits & mask);
            return Err(format!("\"{s}\" has host bits set; the network is {net}/{len}"));
        }
        Ok(IpPrefix { addr, len })
    }
}

serde_via_str!(IpPrefix);

/// An interface's own address with the length of its connected prefix, such as `198.51.100.1/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    addr: IpAddr,
    len: u8,
}

impl InterfaceAddress {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The connected prefix.
    pub fn network(&self) -> IpPrefix {
        let (bits, mask) = bits_and_mask(self.addr, self.len);
        IpPrefix { addr: from_bits(self.addr, bits & mask), len: self.len }
    }
}

impl fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for InterfaceAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = split_prefix(s)?;
        let Some(len) = len else {
            return Err(format!("\"{s}\" is not a valid prefix: give the prefix length, as in {addr}/24"));
        };
        if len == 0 {
            return Err(format!("\"{s}\" is not a valid prefix: an interface prefix cannot have length 0"));
        }
        let (bits, mask) = bits_and_mask(addr, len);
        let host = bits & !mask;
        // /31 and /32 (RFC 3021) and IPv6 /127 and /128 have no network or broadcast address to avoid.
        let edge = if addr.is_ipv4() { 30 } else { 126 };
        if len <= edge && (host == 0 || (addr.is_ipv4() && host == !mask & 0xffff_ffff)) {
            return Err(format!("\"{s}\" is a network or broadcast address, not a host address"));
        }
        Ok(InterfaceAddress { addr, len })
    }
}

serde_via_str!(InterfaceAddress);

/// An Ethernet MAC address, written `02:00:00:00:01:01` (or with `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not a MAC address (expected six hex octets such as 02:00:00:00:00:01)");
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            // from_str_radix alone would take "+1".
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(MacAddr(out))
    }
}

serde_via_str!(MacAddr);

/// One side of an access-list entry: `any` or a prefix (a bare address is a host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    Any,
    Prefix(IpPrefix),
}

impl Selector {
    /// The address family, if the selector has one (`any` matches both).
    pub fn is_ipv4(&self) -> Option<bool> {
        match self {
            Selector::Any => None,
            Selector::Prefix(p) => Some(p.is_ipv4()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Any => f.write_str("any"),
            Selector::Prefix(p) => p.fmt(f),
        }
    }
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "any" {
            Ok(Selector::Any)
        } else {
            s.parse().map(Selector::Prefix)
        }
    }
}

serde_via_str!(Selector);

/// Phase 1 identity this gateway sends (`crypto isakmp identity`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Identity {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR of the local address (`address`).
    #[default]
    Address,
    /// ID_FQDN (`fqdn:gw1.example.net`).
    Fqdn(String),
    /// ID_USER_FQDN (`user-fqdn:vpn@example.net`).
    UserFqdn(String),
    /// ID_DER_ASN1_DN: the subject of the local certificate (`dn`).
    Dn,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Address => f.write_str("address"),
            Identity::Fqdn(n) => write!(f, "fqdn:{n}"),
            Identity::UserFqdn(n) => write!(f, "user-fqdn:{n}"),
            Identity::Dn => f.write_str("dn"),
        }
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl FromStr for Identity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "address" {
            return Ok(Identity::Address);
        }
        if s == "dn" {
            return Ok(Identity::Dn);
        }
        if let Some(name) = s.strip_prefix("fqdn:") {
            return if is_hostname(name) {
                Ok(Identity::Fqdn(name.to_owned()))
            } else {
                Err(format!("\"{name}\" is not a valid host name for an fqdn identity"))
            };
        }
        if let Some(name) = s.strip_prefix("user-fqdn:") {
            return match name.split_once('@') {
                Some((user, host)) if !user.is_empty() && is_hostname(host) => Ok(Identity::UserFqdn(name.to_owned())),
                _ => Err(format!("\"{name}\" is not a valid user@host for a user-fqdn identity")),
            };
        }
        Err(format!("unknown identity \"{s}\"; expected \"address\", \"dn\", \"fqdn:HOST\" or \"user-fqdn:USER@HOST\""))
    }
}

serde_via_str!(Identity);

/// Serde for `address = "a/len"` or `address = ["a/len", "b/len"]`.
pub(crate) mod one_or_many {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[InterfaceAddress], serializer: S) -> Result<S::Ok, S::Error> {
        match v {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<InterfaceAddress>, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Vec<InterfaceAddress>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address with prefix length, or an array of them")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                s.parse().map(|a| vec![a]).map_err(E::custom)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(a) = seq.next_element()? {
                    out.push(a);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p: IpPrefix = "192.0.2.0/24".parse().unwrap();
        assert!(p.contains("192.0.2.77".parse().unwrap()));
        assert!(!p.contains("198.51.100.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        assert_eq!("198.51.100.2".parse::<IpPrefix>().unwrap().prefix_len(), 32);
        assert!("0.0.0.0/0".parse::<IpPrefix>().unwrap().contains("203.0.113.9".parse().unwrap()));
        assert!("::/0".parse::<IpPrefix>().unwrap().is_default());
        let host6: IpPrefix = "2001:db8::1/128".parse().unwrap();
        assert!(host6.contains("2001:db8::1".parse().unwrap()) && !host6.contains("2001:db8::2".parse().unwrap()));
        assert_eq!("2001:db8::1".parse::<IpPrefix>().unwrap(), host6);
        assert!("2001:db8::1/127".parse::<InterfaceAddress>().is_ok());
        assert!("2001:db8::1/128".parse::<InterfaceAddress>().is_ok());
        let v6: IpPrefix = "2001:db8:100::/48".parse().unwrap();
        assert!(v6.contains("2001:db8:100:5::1".parse().unwrap()));
        let e = "192.0.2.1/24".parse::<IpPrefix>().unwrap_err();
        assert!(e.contains("host bits") && e.contains("192.0.2.0/24"), "{e}");
        let e = "192.0.2.0/33".parse::<IpPrefix>().unwrap_err();
        assert!(e.contains("is not a valid prefix") && e.contains("33"), "{e}");
        assert!("192.0.2.0/x".parse::<IpPrefix>().is_err());
        assert!("192.0.2/24".parse::<IpPrefix>().is_err());
        let a: IpPrefix = "192.0.2.0/25".parse().unwrap();
        let b: IpPrefix = "192.0.2.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&"192.0.2.128/25".parse().unwrap()));
    }

    #[test]
    fn interface_addresses() {
        let a: InterfaceAddress = "198.51.100.1/24".parse().unwrap();
        assert_eq!(a.network().to_string(), "198.51.100.0/24");
        assert_eq!(a.to_string(), "198.51.100.1/24");
        let e = "192.0.2.1/33".parse::<InterfaceAddress>().unwrap_err();
        assert_eq!(e, "\"192.0.2.1/33\" is not a valid prefix: length 33 is longer than 32");
        assert!("192.0.2.1".parse::<InterfaceAddress>().is_err());
        assert!("192.0.2.0/24".parse::<InterfaceAddress>().is_err());
        assert!("192.0.2.255/24".parse::<InterfaceAddress>().is_err());
        assert!("192.0.2.0/31".parse::<InterfaceAddress>().is_ok());
        assert!("2001:db8::1/64".parse::<InterfaceAddress>().is_ok());
    }

    #[test]
    fn macs_selectors_identities() {
        let m: MacAddr = "02:00:00:00:01:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:00:00:01:01");
        assert_eq!("02-00-00-00-01-0A".parse::<MacAddr>().unwrap().0[5], 10);
        assert!("02:00:00:00:01".parse::<MacAddr>().is_err());
        assert!("02:+1:00:00:00:01".parse::<MacAddr>().is_err());
        assert!("01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_multicast());
        assert_eq!("any".parse::<Selector>().unwrap(), Selector::Any);
        assert_eq!("fqdn:gw1.example.net".parse::<Identity>().unwrap(), Identity::Fqdn("gw1.example.net".into()));
        assert!("fqdn:bad..name".parse::<Identity>().is_err());
        assert!("user-fqdn:vpn@example.net".parse::<Identity>().is_ok());
        assert!("hostname".parse::<Identity>().is_err());
    }
}
