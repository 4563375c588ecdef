//! What Quick Mode negotiates runs in the engine: each side's `Phase2Sa::sa_params` builds engine SAs, and a packet
//! protected by one gateway's outbound SA is accepted by the other's inbound SA (and the reverse), for ESP suites,
//! with NAT-T, and for AH.

mod ike_qm_support;

use std::net::Ipv4Addr;

use control::ike::{EncapsulationMode, IpsecTransformSet, Phase2Sa};
use control::isakmp::GroupDescription as G;
use engine::ah::{InboundAh, OutboundAh};
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};
use engine::esp::{InboundSa, OutboundSa};
use ike_qm_support::*;

/// An IPv4/UDP packet with a valid header checksum.
fn udp4(src: Ipv4Addr, dst: Ipv4Addr, payload: usize) -> Vec<u8> {
    let total = 20 + 8 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum: u32 = p[..20].chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    p[10..12].copy_from_slice(&(!((sum & 0xffff) + (sum >> 16)) as u16).to_be_bytes());
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5000u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    for (n, b) in p[28..].iter_mut().enumerate() {
        *b = n as u8;
    }
    p
}

const HOST_I: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 130);
const HOST_R: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// ESP from `a` to `b` with `a`'s outbound and `b`'s inbound SA.
fn esp_flows(a: &Phase2Sa, b: &Phase2Sa, src: Ipv4Addr, dst: Ipv4Addr) {
    let out = OutboundSa::new(a.sa_params(a.esp.as_ref().unwrap(), 1024).1).unwrap();
    let inb = InboundSa::new(b.sa_params(b.esp.as_ref().unwrap(), 1024).0).unwrap();
    for len in [1, 100, 1000] {
        let pkt = udp4(src, dst, len);
        let mut buf = VecBuf::new(&pkt);
        assert_eq!(out.protect(&mut buf).0, Ok(()));
        assert_ne!(buf.data(), &pkt[..]);
        assert_eq!(inb.unprotect(&mut buf).0, Ok(()), "{:?}", a.esp.as_ref().unwrap().outbound.encryption);
        assert_eq!(buf.data(), &pkt[..]);
    }
}

#[test]
fn negotiated_esp_sas_carry_traffic_both_ways() {
    let (mut net, c) = phase1();
    let suites = [
        (Enc::AesCbc128, Integ::HmacSha256_128),
        (Enc::AesCbc256, Integ::HmacSha512_256),
        (Enc::AesGcm128, Integ::None),
        (Enc::AesGcm256, Integ::None),
        (Enc::AesCtr192, Integ::HmacSha1_96),
        (Enc::TripleDesCbc, Integ::HmacMd5_96),
        (Enc::Null, Integ::HmacSha384_192),
    ];
    for (e, i) in suites {
        let (si, sr) = quick(&mut net, &c, &policy(vec![esp(e, i)], Some(G::ECP_256)));
        esp_flows(&si, &sr, HOST_I, HOST_R);
        esp_flows(&sr, &si, HOST_R, HOST_I);
    }
}

#[test]
fn inbound_sa_enforces_the_proxy_identities() {
    let (mut net, c) = phase1();
    let (si, sr) = quick(&mut net, &c, &policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None));
    let out = OutboundSa::new(si.sa_params(si.esp.as_ref().unwrap(), 1024).1).unwrap();
    let inb = InboundSa::new(sr.sa_params(sr.esp.as_ref().unwrap(), 1024).0).unwrap();
    // From outside the initiator's 192.0.2.128/25: authentic, but not what this SA may carry.
    let pkt = udp4(Ipv4Addr::new(192, 0, 2, 5), HOST_R, 10);
    let mut buf = VecBuf::new(&pkt);
    assert_eq!(out.protect(&mut buf).0, Ok(()));
    assert!(inb.unprotect(&mut buf).0.is_err());
}

#[test]
fn transport_mode_and_nat_t_parameters() {
    let (mut net, c) = phase1();
    let ts = IpsecTransformSet { mode: EncapsulationMode::Transport, ..esp(Enc::AesGcm256, Integ::None) };
    let (si, _) = quick(&mut net, &c, &policy(vec![ts], None));
    let (inb, out) = si.sa_params(si.esp.as_ref().unwrap(), 512);
    assert_eq!(inb.mode, engine::sa::Mode::Transport);
    assert_eq!((inb.replay_window, inb.nat_t, out.nat_t), (512, None, None));
    assert_eq!(inb.lifetime.hard_seconds, 3600);
    assert_eq!(inb.lifetime.soft_seconds, 3240);
    assert_eq!(inb.lifetime.hard_bytes, 4_608_000 * 1024);
    // Transport mode between the gateways themselves: the packet goes from one IKE address to the other.
    let host_i = Ipv4Addr::new(192, 0, 2, 1);
    let host_r = Ipv4Addr::new(198, 51, 100, 1);
    let mut p = policy(vec![ts], None);
    p.local = prefix("192.0.2.1/32");
    p.remote = prefix("198.51.100.1/32");
    let (si, sr2) = quick(&mut net, &c, &p);
    esp_flows(&si, &sr2, host_i, host_r);
}

#[test]
fn negotiated_ah_sas_carry_traffic() {
    let (mut net, c) = phase1();
    let ah = IpsecTransformSet { esp: None, ah: Some(Integ::HmacSha256_128), mode: EncapsulationMode::Tunnel };
    let (si, sr) = quick(&mut net, &c, &policy(vec![ah], None));
    let out = OutboundAh::new(si.sa_params(si.ah.as_ref().unwrap(), 1024).1).unwrap();
    let mut inb = InboundAh::new(sr.sa_params(sr.ah.as_ref().unwrap(), 1024).0).unwrap();
    let pkt = udp4(HOST_I, HOST_R, 64);
    let mut buf = VecBuf::new(&pkt);
    assert_eq!(out.protect(&mut buf).0, Ok(()));
    assert_eq!(inb.unprotect(&mut buf).0, Ok(()));
    assert_eq!(buf.data(), &pkt[..]);
}

#[test]
fn negotiated_esp_plus_ah_bundle_carries_traffic() {
    let (mut net, c) = phase1();
    let both = IpsecTransformSet { ah: Some(Integ::HmacSha1_96), ..esp(Enc::AesCbc256, Integ::HmacSha256_128) };
    let (si, sr) = quick(&mut net, &c, &policy(vec![both], Some(G::MODP_1024)));
    let (Some((_, eo)), Some((_, ao))) = si.engine_sas(1024) else { panic!("ESP and AH") };
    let (Some((en, _)), Some((an, _))) = sr.engine_sas(1024) else { panic!("ESP and AH") };
    assert_eq!((en.bundle_ah, an.bundle_esp), (Some(an.spi), Some(en.spi)));
    assert_eq!(an.mode, engine::sa::Mode::Transport, "AH authenticates ESP's tunnel packet");
    let (eo, ao) = (OutboundSa::new(eo).unwrap(), OutboundAh::new(ao).unwrap());
    let (en, mut an) = (InboundSa::new(en).unwrap(), InboundAh::new(an).unwrap());
    let pkt = udp4(HOST_I, HOST_R, 200);
    let mut buf = VecBuf::new(&pkt);
    assert_eq!(eo.protect(&mut buf).0, Ok(()));
    assert_eq!(ao.protect(&mut buf).0, Ok(()));
    assert_eq!(an.unprotect(&mut buf).0, Ok(()));
    assert_eq!(en.unprotect(&mut buf).0, Ok(()));
    assert_eq!(buf.data(), &pkt[..]);
}
