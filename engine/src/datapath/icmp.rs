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

/// Turns an ICMP or ICMPv6 echo request addressed to the gateway into its echo reply, in place: addresses swapped,
/// a fresh TTL, type 0 / 129, checksums updated. Returns false (buffer unchanged) for anything else, fragments and
/// IPv6 with extension headers included. Used for requests that came out of an SA, whose reply must go back
/// through the SPD (and so the tunnel) rather than straight out of a port.
pub fn echo_reply_in_place<B: PacketBuf>(buf: &mut B) -> bool {
    const TTL: u8 = 64;
    let d = buf.data_mut();
    match d.first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(p) = ipv4::Packet::new_checked(&mut *d) else { return false };
            let hl = p.header_len();
            let total = usize::from(p.total_len());
            if p.protocol() != IpProtocol::ICMP || p.is_fragment() || total < hl + 8 || d[hl] != 8 || d[hl + 1] != 0 {
                return false;
            }
            let mut p = ipv4::Packet::new_unchecked(&mut *d);
            let (src, dst) = (p.src_addr(), p.dst_addr());
            p.set_src_addr(dst);
            p.set_dst_addr(src);
            p.set_ttl(TTL);
            p.fill_checksum();
            let old = u16::from_be_bytes([d[hl], d[hl + 1]]);
            d[hl] = 0;
            let c = checksum::update16(u16::from_be_bytes([d[hl + 2], d[hl + 3]]), old, 0);
            d[hl + 2..hl + 4].copy_from_slice(&c.to_be_bytes());
            true
        }
        Some(6) => {
            let Ok(p) = ipv6::Packet::new_checked(&*d) else { return false };
            let h = ipv6::HEADER_LEN;
            let total = h + usize::from(p.payload_len());
            if p.next_header() != IpProtocol::ICMPV6 || total < h + 8 || d[h] != 128 || d[h + 1] != 0 {
                return false;
            }
            let (src, dst) = (p.src_addr(), p.dst_addr());
            let mut p = ipv6::Packet::new_unchecked(&mut *d);
            p.set_src_addr(dst);
            p.set_dst_addr(src);
            p.set_hop_limit(TTL);
            // The pseudo-header sums the same two addresses in the other order: only the type word changes.
            let old = u16::from_be_bytes([d[h], d[h + 1]]);
            d[h] = 129;
            let new = u16::from_be_bytes([d[h], d[h + 1]]);
            let c = checksum::update16(u16::from_be_bytes([d[h + 2], d[h + 3]]), old, new);
            d[h + 2..h + 4].copy_from_slice(&c.to_be_bytes());
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::VecBuf;

    fn icmpv6_sum_ok(p: &[u8]) -> bool {
        let v = ipv6::Packet::new_checked(p).unwrap();
        let l = p.len() - ipv6::HEADER_LEN;
        let ph = checksum::pseudo_header_sum_v6(v.src_addr(), v.dst_addr(), 58, l as u32);
        checksum::combine(ph, checksum::sum(&p[ipv6::HEADER_LEN..])) == 0xffff
    }

    #[test]
    fn icmpv6_echo_request_becomes_its_reply() {
        let (a, b): (core::net::Ipv6Addr, core::net::Ipv6Addr) =
            ("2001:db8::10".parse().unwrap(), "2001:db8:1::1".parse().unwrap());
        let mut p = vec![0u8; 40 + 16];
        ipv6::Repr {
            src_addr: a,
            dst_addr: b,
            next_header: IpProtocol::ICMPV6,
            payload_len: 16,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 3,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut p[..]));
        p[40..48].copy_from_slice(&[128, 0, 0, 0, 0xbe, 0xef, 0, 7]);
        p[48..].fill(0x5a);
        let ph = checksum::pseudo_header_sum_v6(a, b, 58, 16);
        let c = !checksum::combine(ph, checksum::sum(&p[40..]));
        p[42..44].copy_from_slice(&c.to_be_bytes());
        assert!(icmpv6_sum_ok(&p));
        let mut buf = VecBuf::new(&p);
        assert!(echo_reply_in_place(&mut buf));
        let r = buf.data();
        let v = ipv6::Packet::new_checked(r).unwrap();
        assert_eq!((v.src_addr(), v.dst_addr(), v.hop_limit()), (b, a, 64));
        assert_eq!(r[40], 129);
        assert!(icmpv6_sum_ok(r), "checksum of the reply");
        assert_eq!(&r[44..], &p[44..], "identifier, sequence and data echoed");
        // A reply is not answered again, nor is anything that is not an echo request.
        let mut again = VecBuf::new(r);
        assert!(!echo_reply_in_place(&mut again));
    }

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
