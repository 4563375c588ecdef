//! ICMP "too big" errors built in place: IPv4 Destination Unreachable / Fragmentation Needed with the next-hop MTU
//! (RFC 792, RFC 1191) and ICMPv6 Packet Too Big (RFC 4443 §3.2). The offending packet stays in the buffer as the
//! quoted part; the new headers go into the headroom, so nothing is allocated.
use crate::buf::PacketBuf;
use crate::wire::{checksum, ipv4, ipv6, IpProtocol};
use core::net::IpAddr;

/// RFC 1812 §4.3.2.3: an IPv4 error holds as much of the original as fits in 576 bytes.
const V4_MAX: usize = 576;
/// RFC 4443 §2.4 (c): an ICMPv6 error must not exceed the minimum IPv6 MTU.
const V6_MAX: usize = 1280;

/// Whether an error may be sent about this packet (RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e)): not about an ICMP
/// error, a non-first fragment, or a packet from an unspecified, multicast or broadcast source.
fn may_answer(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked(pkt).ok()?;
            let src = p.src_addr();
            if src.is_unspecified() || src.is_multicast() || src.is_broadcast() || p.frag_offset() != 0 {
                return None;
            }
            if p.protocol() == IpProtocol::ICMP && !matches!(p.payload().first(), Some(0 | 8 | 13 | 14)) {
                return None;
            }
            Some(IpAddr::V4(src))
        }
        6 => {
            let p = ipv6::Packet::new_checked(pkt).ok()?;
            let src = p.src_addr();
            if src.is_unspecified() || src.is_multicast() {
                return None;
            }
            if p.next_header() == IpProtocol::ICMPV6 && p.payload().first().is_some_and(|t| *t < 128) {
                return None;
            }
            Some(IpAddr::V6(src))
        }
        _ => None,
    }
}

/// The source the error must go back to, if an error may be sent about the packet in `buf`.
pub fn error_destination(pkt: &[u8]) -> Option<IpAddr> {
    may_answer(pkt)
}

/// Rewrites the IP packet in `buf` into a "too big" error from `from` to the packet's source, announcing `mtu`.
/// Returns false (buffer unchanged) when no error may be sent, the families differ, or there is no headroom.
pub fn too_big_in_place<B: PacketBuf>(buf: &mut B, from: IpAddr, mtu: u16) -> bool {
    let Some(to) = may_answer(buf.data()) else { return false };
    let len = match buf.data()[0] >> 4 {
        4 => usize::from(u16::from_be_bytes([buf.data()[2], buf.data()[3]])),
        _ => ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([buf.data()[4], buf.data()[5]])),
    }
    .min(buf.data_len());
    match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(t)) => {
            let quote = len.min(V4_MAX - ipv4::HEADER_LEN - 8);
            if buf.headroom() < 28 || buf.trim(buf.data_len() - quote).is_err() || buf.prepend(28).is_err() {
                return false;
            }
            let d = buf.data_mut();
            {
                let mut ip = ipv4::Packet::new_unchecked(&mut d[..ipv4::HEADER_LEN]);
                ip.set_version_and_header_len(ipv4::HEADER_LEN);
                ip.set_tos(0xc0); // internetwork control, as routers send their errors
                ip.set_total_len((28 + quote) as u16);
                ip.set_ident(0);
                ip.set_frag(false, false, 0);
                ip.set_ttl(64);
                ip.set_protocol(IpProtocol::ICMP);
                ip.set_src_addr(f);
                ip.set_dst_addr(t);
                ip.fill_checksum();
            }
            let icmp = &mut d[ipv4::HEADER_LEN..];
            icmp[..8].copy_from_slice(&[3, 4, 0, 0, 0, 0, (mtu >> 8) as u8, mtu as u8]);
            let c = checksum::checksum(icmp);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            true
        }
        (IpAddr::V6(f), IpAddr::V6(t)) => {
            let quote = len.min(V6_MAX - ipv6::HEADER_LEN - 8);
            if buf.headroom() < 48 || buf.trim(buf.data_len() - quote).is_err() || buf.prepend(48).is_err() {
                return false;
            }
            let d = buf.data_mut();
            let plen = (8 + quote) as u16;
            d[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
            d[4..6].copy_from_slice(&plen.to_be_bytes());
            d[6] = IpProtocol::ICMPV6.0;
            d[7] = 64;
            d[8..24].copy_from_slice(&f.octets());
            d[24..40].copy_from_slice(&t.octets());
            let icmp = &mut d[ipv6::HEADER_LEN..];
            icmp[..4].copy_from_slice(&[2, 0, 0, 0]);
            icmp[4..8].copy_from_slice(&u32::from(mtu).to_be_bytes());
            let pseudo = checksum::pseudo_header_sum_v6(f, t, IpProtocol::ICMPV6.0, u32::from(plen));
            let c = !checksum::combine(pseudo, checksum::sum(icmp));
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::VecBuf;

    fn v4(len: usize, proto: u8, first_payload_byte: u8) -> Vec<u8> {
        let mut p = vec![0u8; len];
        {
            let mut v = ipv4::Packet::new_unchecked(&mut p[..]);
            v.set_version_and_header_len(20);
            v.set_total_len(len as u16);
            v.set_frag(true, false, 0);
            v.set_ttl(60);
            v.set_protocol(IpProtocol(proto));
            v.set_src_addr("192.0.2.10".parse().unwrap());
            v.set_dst_addr("203.0.113.10".parse().unwrap());
            v.fill_checksum();
        }
        p[20] = first_payload_byte;
        p
    }

    #[test]
    fn v4_fragmentation_needed() {
        let orig = v4(1500, 17, 0);
        let mut b = VecBuf::new(&orig);
        assert!(too_big_in_place(&mut b, "192.0.2.1".parse().unwrap(), 1438));
        let d = b.data();
        assert_eq!(d.len(), 576);
        let ip = ipv4::Packet::new_checked(d).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.protocol(), ip.dst_addr().to_string()), (IpProtocol::ICMP, "192.0.2.10".to_string()));
        assert_eq!(&d[20..22], &[3, 4]);
        assert_eq!(u16::from_be_bytes([d[26], d[27]]), 1438);
        assert_eq!(checksum::checksum(&d[20..]), 0);
        assert_eq!(&d[28..48], &orig[..20], "quotes the original header");
    }

    #[test]
    fn no_error_about_errors_or_from_nowhere() {
        let mut err = VecBuf::new(&v4(1500, 1, 3));
        assert!(!too_big_in_place(&mut err, "192.0.2.1".parse().unwrap(), 1400));
        let mut echo = VecBuf::new(&v4(1500, 1, 8));
        assert!(too_big_in_place(&mut echo, "192.0.2.1".parse().unwrap(), 1400));
        let mut p = v4(1500, 17, 0);
        p[12..16].copy_from_slice(&[0, 0, 0, 0]);
        assert!(!too_big_in_place(&mut VecBuf::new(&p), "192.0.2.1".parse().unwrap(), 1400));
        assert!(!too_big_in_place(&mut VecBuf::new(&v4(1500, 17, 0)), "2001:db8::1".parse().unwrap(), 1400));
    }

    #[test]
    fn v6_packet_too_big() {
        let mut p = vec![0u8; 1500];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&1460u16.to_be_bytes());
        p[6] = 17;
        p[7] = 64;
        p[8..24].copy_from_slice(&"2001:db8:1::10".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"2001:db8:2::10".parse::<std::net::Ipv6Addr>().unwrap().octets());
        let mut b = VecBuf::new(&p);
        let from: std::net::Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        assert!(too_big_in_place(&mut b, IpAddr::V6(from), 1400));
        let d = b.data();
        assert_eq!(d.len(), 1280);
        assert_eq!((d[6], d[40]), (58, 2));
        assert_eq!(u32::from_be_bytes([d[44], d[45], d[46], d[47]]), 1400);
        let to: std::net::Ipv6Addr = "2001:db8:1::10".parse().unwrap();
        let pseudo = checksum::pseudo_header_sum_v6(from, to, 58, (d.len() - 40) as u32);
        assert_eq!(checksum::combine(pseudo, checksum::sum(&d[40..])), 0xffff, "ICMPv6 checksum verifies");
    }
}
