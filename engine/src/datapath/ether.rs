//! Ethernet II and ARP (RFC 826) views: just what a gateway port needs.
use core::net::Ipv4Addr;

pub const HEADER_LEN: usize = 14;
pub const ARP_LEN: usize = 28;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: Self = Self([0xff; 6]);
    pub const ZERO: Self = Self([0; 6]);

    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl core::fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// EtherType codepoints (unknown values kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: Self = Self(0x0800);
    pub const ARP: Self = Self(0x0806);
    pub const VLAN: Self = Self(0x8100);
    pub const IPV6: Self = Self(0x86dd);
}

/// The fields of an Ethernet header; `None` from [`parse`] if the frame is shorter than one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetHeader {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: EtherType,
}

pub fn parse(frame: &[u8]) -> Option<EthernetHeader> {
    let h: &[u8; HEADER_LEN] = frame.get(..HEADER_LEN)?.try_into().ok()?;
    Some(EthernetHeader {
        dst: MacAddr([h[0], h[1], h[2], h[3], h[4], h[5]]),
        src: MacAddr([h[6], h[7], h[8], h[9], h[10], h[11]]),
        ethertype: EtherType(u16::from_be_bytes([h[12], h[13]])),
    })
}

/// Writes an Ethernet header into the first 14 bytes of `out` (which the caller sized).
pub fn emit(out: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: EtherType) {
    out[0..6].copy_from_slice(&dst.0);
    out[6..12].copy_from_slice(&src.0);
    out[12..14].copy_from_slice(&ethertype.0.to_be_bytes());
}

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// Parses the ARP body (after the Ethernet header); only Ethernet/IPv4 requests and replies are accepted.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; ARP_LEN] = b.get(..ARP_LEN)?.try_into().ok()?;
        if b[0..2] != [0, 1] || b[2..4] != [0x08, 0x00] || b[4] != 6 || b[5] != 4 {
            return None;
        }
        let op = match u16::from_be_bytes([b[6], b[7]]) {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            _ => return None,
        };
        let mac = |o: usize| MacAddr([b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5]]);
        let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
        Some(Self { op, sender_mac: mac(8), sender_ip: ip(14), target_mac: mac(18), target_ip: ip(24) })
    }

    /// Writes the ARP body into `out[..28]`.
    pub fn emit(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, if self.op == ArpOp::Request { 1 } else { 2 }]);
        out[8..14].copy_from_slice(&self.sender_mac.0);
        out[14..18].copy_from_slice(&self.sender_ip.octets());
        out[18..24].copy_from_slice(&self.target_mac.0);
        out[24..28].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_round_trip_and_rejects() {
        let a = Arp {
            op: ArpOp::Request,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(198, 51, 100, 2),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(198, 51, 100, 1),
        };
        let mut b = [0u8; ARP_LEN];
        a.emit(&mut b);
        assert_eq!(Arp::parse(&b), Some(a));
        assert_eq!(Arp::parse(&b[..27]), None);
        let mut bad = b;
        bad[7] = 3;
        assert_eq!(Arp::parse(&bad), None);
        bad = b;
        bad[4] = 8;
        assert_eq!(Arp::parse(&bad), None);
    }

    #[test]
    fn ethernet_header() {
        let mut f = [0u8; 20];
        emit(&mut f, MacAddr::BROADCAST, MacAddr([2, 0, 0, 0, 0, 9]), EtherType::ARP);
        let h = parse(&f).unwrap();
        assert!(h.dst.is_multicast());
        assert_eq!(h.ethertype, EtherType::ARP);
        assert_eq!(h.src.to_string(), "02:00:00:00:00:09");
        assert_eq!(parse(&f[..13]), None);
    }
}
