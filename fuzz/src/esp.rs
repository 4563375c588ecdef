//! Fixed ESP and AH SAs for the fuzz targets, chosen by one configuration byte, and a builder of "authentic" ESP
//! packets: any body the fuzzer wants, with the correct ICV appended, so the checks after the ICV (trailer,
//! padding, decapsulation, inner selectors) see attacker-chosen plaintext, as from a peer that holds the keys.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use engine::crypto::{EncryptionAlgorithm as E, Integrity, IntegrityAlgorithm as I};
use engine::sa::{Mode, NatT, SaParams};
use engine::wire::{ipv4, ipv6, udp, IpProtocol, Spi};

pub const SPI: u32 = 0x1001;
pub const GW4_LOCAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const GW4_PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const GW6_LOCAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
pub const GW6_PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2);

/// The algorithm families: AEAD, CBC + HMAC (two block sizes), NULL + HMAC.
pub const SUITES: [(E, I); 4] = [
    (E::AesGcm128, I::None),
    (E::AesCbc128, I::HmacSha256_128),
    (E::Null, I::HmacSha384_192),
    (E::TripleDesCbc, I::HmacSha1_96),
];

/// Which SA a fuzz input runs against, decoded from its first byte.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub encryption: E,
    pub integrity: I,
    /// 0: transport, 1: tunnel over IPv4, 2: tunnel over IPv6.
    pub mode: u8,
    /// Outer family for transport mode (tunnel mode fixes it).
    pub transport_v6: bool,
    pub nat_t: bool,
    pub esn: bool,
}

fn key(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

impl Setup {
    /// Bits 0-1: suite; bits 2-3: mode (3 is transport over IPv6); bit 4: NAT-T; bit 5: ESN.
    pub fn from_byte(b: u8) -> Self {
        let (encryption, integrity) = SUITES[usize::from(b & 3)];
        let m = (b >> 2) & 3;
        Setup {
            encryption,
            integrity,
            mode: if m == 3 { 0 } else { m },
            transport_v6: m == 3,
            nat_t: b & 0x10 != 0,
            esn: b & 0x20 != 0,
        }
    }

    pub fn to_byte(&self) -> u8 {
        let suite = SUITES.iter().position(|s| *s == (self.encryption, self.integrity)).unwrap_or(0) as u8;
        let m = if self.mode == 0 && self.transport_v6 { 3 } else { self.mode };
        suite | (m << 2) | (u8::from(self.nat_t) << 4) | (u8::from(self.esn) << 5)
    }

    pub fn outer_v6(&self) -> bool {
        self.mode == 2 || (self.mode == 0 && self.transport_v6)
    }

    fn gateways(&self) -> (IpAddr, IpAddr) {
        if self.outer_v6() {
            (GW6_LOCAL.into(), GW6_PEER.into())
        } else {
            (GW4_LOCAL.into(), GW4_PEER.into())
        }
    }

    /// Parameters of the SA at `local` (inbound = true: the one under test; false: the peer's outbound one).
    pub fn params(&self, inbound: bool) -> SaParams {
        let (me, peer) = self.gateways();
        let (local, remote) = if inbound { (me, peer) } else { (peer, me) };
        let mode = if self.mode == 0 { Mode::Transport } else { Mode::Tunnel { local, remote } };
        let mut p = SaParams::new(
            Spi(SPI),
            mode,
            self.encryption,
            &key(self.encryption.key_len(), 1),
            self.integrity,
            &key(self.integrity.key_len(), 2),
        );
        p.esn = self.esn;
        p.nat_t = self.nat_t.then(NatT::default);
        p
    }

    /// AH parameters (same integrity key; AH has no NAT-T). NULL-integrity suites use HMAC-SHA-256-128.
    pub fn ah_params(&self, inbound: bool) -> SaParams {
        let mut p = self.params(inbound);
        p.encryption = E::Null;
        p.cipher_key = Default::default();
        if p.integrity == I::None {
            p.integrity = I::HmacSha256_128;
        }
        p.auth_key = zeroize::Zeroizing::new(key(p.integrity.key_len(), 2));
        p.nat_t = None;
        p
    }

    /// An outer packet from the peer carrying ESP with this SA's SPI, sequence number `seq`, `body` (IV,
    /// ciphertext and trailer, as the fuzzer wants them) and a correct ICV (high sequence bits taken as 0 for ESN).
    /// `None` for AEAD suites, whose tag the fuzzer cannot forge this way (the targets protect real packets instead).
    pub fn authentic(&self, seq: u32, body: &[u8]) -> Option<Vec<u8>> {
        if self.integrity == I::None {
            return None;
        }
        let integ = Integrity::new(self.integrity, &key(self.integrity.key_len(), 2)).ok()?;
        let mut esp = Vec::with_capacity(8 + body.len() + integ.icv_len());
        esp.extend_from_slice(&SPI.to_be_bytes());
        esp.extend_from_slice(&seq.to_be_bytes());
        esp.extend_from_slice(body);
        let mut icv = vec![0u8; integ.icv_len()];
        let hi = [0u8; 4];
        let esn: &[u8] = if self.esn { &hi } else { &[] };
        integ.compute(&[&esp, esn], &mut icv);
        esp.extend_from_slice(&icv);
        let (me, peer) = self.gateways();
        Some(ip_packet(peer, me, self.nat_t, &esp))
    }
}

/// An IP packet from `src` to `dst` carrying `esp` directly (protocol 50) or in UDP 4500 (RFC 3948).
pub fn ip_packet(src: IpAddr, dst: IpAddr, nat_t: bool, esp: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(8 + esp.len());
    if nat_t {
        l4.resize(udp::HEADER_LEN, 0);
        let len = u16::try_from(esp.len()).unwrap_or(u16::MAX - 8);
        udp::Repr { src_port: 4500, dst_port: 4500, payload_len: len }.emit(&mut udp::Packet::new_unchecked(&mut l4));
    }
    l4.extend_from_slice(esp);
    let proto = if nat_t { IpProtocol::UDP } else { IpProtocol::ESP };
    let plen = u16::try_from(l4.len()).unwrap_or(u16::MAX - 40);
    let mut out = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0u8; ipv4::HEADER_LEN];
            ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: proto,
                payload_len: plen,
                tos: 0,
                ident: 1,
                dont_frag: true,
                ttl: 64,
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut h));
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0u8; ipv6::HEADER_LEN];
            ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len: plen,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: 64,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut h));
            h
        }
        _ => Vec::new(),
    };
    out.extend_from_slice(&l4);
    out
}

/// A well-formed inner IPv4 or IPv6 UDP packet with `payload`, for seeds.
pub fn udp_packet(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; udp::HEADER_LEN];
    udp::Repr { src_port: 1234, dst_port: 5678, payload_len: payload.len() as u16 }
        .emit(&mut udp::Packet::new_unchecked(&mut l4));
    l4.extend_from_slice(payload);
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        ("2001:db8:1::10".parse().unwrap(), "2001:db8:2::20".parse().unwrap())
    } else {
        (Ipv4Addr::new(192, 0, 2, 10).into(), Ipv4Addr::new(203, 0, 113, 20).into())
    };
    {
        let mut p = udp::Packet::new_unchecked(&mut l4[..]);
        p.fill_checksum(src, dst);
    }
    let plen = l4.len() as u16;
    let mut out = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0u8; ipv4::HEADER_LEN];
            ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: IpProtocol::UDP,
                payload_len: plen,
                tos: 0,
                ident: 7,
                dont_frag: false,
                ttl: 64,
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut h));
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0u8; ipv6::HEADER_LEN];
            ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::UDP,
                payload_len: plen,
                traffic_class: 0,
                flow_label: 0,
                hop_limit: 64,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut h));
            h
        }
        _ => Vec::new(),
    };
    out.extend_from_slice(&l4);
    out
}

/// Equal, except that an IPv4 header checksum the sender got wrong may come back corrected: transport mode
/// rewrites the protocol field on both sides and recomputes the checksum rather than verifying the original.
pub fn same_packet(got: &[u8], sent: &[u8]) -> bool {
    let ipv4 = sent.first().is_some_and(|b| b >> 4 == 4) && sent.len() >= 20;
    got.len() == sent.len()
        && got.iter().zip(sent).enumerate().all(|(i, (a, b))| a == b || (ipv4 && (10..12).contains(&i)))
}

/// Whether `p` is an IP packet a host could have sent: header checks and lengths agree. Only such packets must
/// survive the round trip unchanged: tunnel decapsulation rightly refuses a corrupted inner header the sender did not
/// check, and bytes after the IP length (link-layer padding) are not part of the packet, so they are not carried.
pub fn well_formed(p: &[u8]) -> bool {
    match p.first().map(|b| b >> 4) {
        Some(4) => {
            ipv4::Packet::new_checked(p).is_ok_and(|h| h.verify_checksum() && usize::from(h.total_len()) == p.len())
        }
        Some(6) => ipv6::Packet::new_checked(p).is_ok_and(|h| 40 + usize::from(h.payload_len()) == p.len()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::buf::{PacketBuf, VecBuf};
    use engine::esp::InboundSa;

    #[test]
    fn setup_byte_round_trips() {
        for b in 0u8..64 {
            let s = Setup::from_byte(b);
            assert_eq!(Setup::from_byte(s.to_byte()).to_byte(), s.to_byte());
        }
    }

    #[test]
    fn authentic_packets_pass_the_icv_check() {
        // NULL + HMAC, tunnel over IPv4: an inner UDP packet with default padding and next header 4.
        let setup = Setup::from_byte(2 | 1 << 2);
        let mut body = udp_packet(false, b"x");
        let mut pad = 1u8;
        while !(body.len() + 2).is_multiple_of(4) {
            body.push(pad);
            pad += 1;
        }
        body.extend_from_slice(&[pad - 1, 4]);
        let pkt = setup.authentic(1, &body).expect("HMAC suite");
        let mut sa = InboundSa::new(setup.params(true)).expect("SA");
        let mut buf = VecBuf::new(&pkt);
        assert_eq!(sa.unprotect(&mut buf).0, Ok(()));
        assert_eq!(buf.data(), &udp_packet(false, b"x")[..]);
        // One flipped ICV bit: refused.
        let mut bad = setup.authentic(2, &body).expect("HMAC suite");
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(sa.unprotect(&mut VecBuf::new(&bad)).0.is_err());
    }
}
