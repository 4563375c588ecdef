//! Helpers shared by the integration tests: packet builders and SA pairs.
#![allow(dead_code)]

pub mod bursts;
pub mod vectors;

use engine::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
use engine::sa::{Mode, NatT, SaParams};
use engine::wire::{ipv4, ipv6, udp, IpProtocol, Spi};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const V4_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const V4_B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
pub const GW4_L: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const GW4_R: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A UDP datagram in IPv4 with `payload_len` bytes of pattern payload.
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, payload_len: usize, tos: u8) -> Vec<u8> {
    let mut b = vec![0u8; 20 + 8 + payload_len];
    for (i, x) in b[28..].iter_mut().enumerate() {
        *x = (i * 7 + 3) as u8;
    }
    udp::Repr { src_port: 1234, dst_port: 5678, payload_len: payload_len as u16 }
        .emit(&mut udp::Packet::new_unchecked(&mut b[20..]));
    udp::Packet::new_unchecked(&mut b[20..]).fill_checksum(src.into(), dst.into());
    ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::UDP,
        payload_len: (8 + payload_len) as u16,
        tos,
        ident: 0x1234,
        dont_frag: true,
        ttl: 64,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b
}

/// A UDP datagram in IPv6.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize, tc: u8) -> Vec<u8> {
    let mut b = vec![0u8; 40 + 8 + payload_len];
    for (i, x) in b[48..].iter_mut().enumerate() {
        *x = (i * 5 + 1) as u8;
    }
    udp::Repr { src_port: 1234, dst_port: 5678, payload_len: payload_len as u16 }
        .emit(&mut udp::Packet::new_unchecked(&mut b[40..]));
    udp::Packet::new_unchecked(&mut b[40..]).fill_checksum(src.into(), dst.into());
    ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::UDP,
        payload_len: (8 + payload_len) as u16,
        traffic_class: tc,
        flow_label: 0,
        hop_limit: 64,
    }
    .emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
    b
}

/// A UDP datagram in IPv6 behind a Hop-by-Hop header (router alert) and a Destination Options header holding an
/// option whose data may change en route (type 0x3e), to exercise the extension-header walks and AH zeroing.
pub fn udp6_ext(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) -> Vec<u8> {
    let plain = udp6(src, dst, payload_len, 0);
    let mut b = plain[..40].to_vec();
    b[6] = 0; // Hop-by-Hop
    b.extend_from_slice(&[60, 0, 5, 2, 0, 0, 1, 0]); // next: DestOpts; router alert; PadN(0)
    b.extend_from_slice(&[17, 0, 0x3e, 2, 0xaa, 0xbb, 1, 0]); // next: UDP; mutable option; PadN(0)
    b.extend_from_slice(&plain[40..]);
    let plen = (b.len() - 40) as u16;
    b[4..6].copy_from_slice(&plen.to_be_bytes());
    b
}

pub fn key(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Every encryption x integrity pair ESP allows (AEAD without integrity; NULL needs integrity).
pub fn suites() -> Vec<(EncryptionAlgorithm, IntegrityAlgorithm)> {
    let mut v = Vec::new();
    for e in EncryptionAlgorithm::ALL {
        for i in IntegrityAlgorithm::ALL {
            let ok = if e.is_aead() {
                i == IntegrityAlgorithm::None
            } else {
                e != EncryptionAlgorithm::Null || i != IntegrityAlgorithm::None
            };
            if ok {
                v.push((e, i));
            }
        }
    }
    v
}

/// Params for one direction; the peer uses the same keys with local/remote swapped.
pub fn params(e: EncryptionAlgorithm, i: IntegrityAlgorithm, mode: Mode, nat_t: bool, esn: bool, spi: u32) -> SaParams {
    let mut p = SaParams::new(Spi(spi), mode, e, &key(e.key_len(), 1), i, &key(i.key_len(), 2));
    p.esn = esn;
    p.nat_t = nat_t.then(NatT::default);
    p
}

pub fn swap(mode: Mode) -> Mode {
    match mode {
        Mode::Tunnel { local, remote } => Mode::Tunnel { local: remote, remote: local },
        m => m,
    }
}

pub fn tunnel4() -> Mode {
    Mode::Tunnel { local: IpAddr::V4(GW4_L), remote: IpAddr::V4(GW4_R) }
}

pub fn tunnel6() -> Mode {
    Mode::Tunnel { local: IpAddr::V6(v6("2001:db8:100::1")), remote: IpAddr::V6(v6("2001:db8:100::2")) }
}
