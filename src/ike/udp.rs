//! The UDP datagrams IKE sends and receives through the ports (the NIC belongs to DPDK: no kernel sockets).
use std::net::{IpAddr, SocketAddr};

/// (source, destination, UDP payload) of an Ethernet/IPv4-or-IPv6/UDP frame.
pub fn parse_udp(f: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let ip = f.get(14..)?;
    let (src, dst, l4) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), ip.get(ihl..total.min(ip.len()))?)
        }
        6 => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let len = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
    let payload = l4.get(8..len.min(l4.len()))?;
    Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport), payload))
}

/// An IPv4 or IPv6 UDP packet (without Ethernet header) carrying `payload`, checksums filled in.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    use engine::wire::checksum;
    let udp_len = 8 + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = checksum::pseudo_header_sum(src.ip(), dst.ip(), 17, udp_len as u32)?;
    let mut c = !checksum::combine(pseudo, checksum::sum(&udp));
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = vec![0u8; 20];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
            p[6] = 0x40; // DF: IKE handles its own sizes
            p[8] = 64;
            p[9] = 17;
            p[12..16].copy_from_slice(&s.octets());
            p[16..20].copy_from_slice(&d.octets());
            let c = checksum::checksum(&p);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p.extend_from_slice(&udp);
            Some(p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = vec![0u8; 40];
            p[0] = 0x60;
            p[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
            p[6] = 17;
            p[7] = 64;
            p[8..24].copy_from_slice(&s.octets());
            p[24..40].copy_from_slice(&d.octets());
            p.extend_from_slice(&udp);
            Some(p)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packets_round_trip_through_the_parser() {
        let s: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let d: SocketAddr = "198.51.100.2:4500".parse().unwrap();
        let p = udp_packet(s, d, b"isakmp").unwrap();
        assert_eq!(engine::wire::checksum::checksum(&p[..20]), 0);
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&p);
        assert_eq!(parse_udp(&f), Some((s, d, &b"isakmp"[..])));
        let s6: SocketAddr = "[2001:db8::1]:500".parse().unwrap();
        let d6: SocketAddr = "[2001:db8::2]:500".parse().unwrap();
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&udp_packet(s6, d6, b"x").unwrap());
        assert_eq!(parse_udp(&f), Some((s6, d6, &b"x"[..])));
        assert!(udp_packet(s, d6, b"x").is_none());
        assert_eq!(parse_udp(&[0u8; 20]), None);
    }
}
