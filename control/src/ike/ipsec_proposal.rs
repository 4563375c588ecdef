//! Phase 2 proposals as data (RFC 2407 §4.4-4.5, RFC 3947 §5.2, RFC 4106 §8.4): transform sets ⇄ ESP and AH
//! Proposal/Transform payloads, the responder's choice among the bundles a peer offers, and the initiator's check of
//! the one the responder chose.

use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};

use crate::isakmp::{
    Attribute, GroupDescription, IpsecAttributeType as A, LifeType, ProposalRepr, ProtocolId, TransformRepr,
};

use super::api::{CryptoMapPolicy, EncapsulationMode, IpsecTransformSet};

/// RFC 2407 §4.5: without a lifetime attribute an IPsec SA lives 8 hours.
pub const DEFAULT_IPSEC_LIFETIME_SECS: u32 = 28_800;

/// ESP transform identifiers (RFC 2407 §4.4.4, RFC 3686, RFC 4106).
mod esp_id {
    pub const DES: u8 = 2;
    pub const TRIPLE_DES: u8 = 3;
    pub const NULL: u8 = 11;
    pub const AES_CBC: u8 = 12;
    pub const AES_CTR: u8 = 13;
    /// AES-GCM with a 16-byte ICV; 18 and 19 (8- and 12-byte ICVs) are not offered nor accepted: the engine
    /// implements the 16-byte ICV only.
    pub const AES_GCM_16: u8 = 20;
}

/// The Authentication Algorithm attribute (RFC 2407 §4.5, RFC 4868) and the AH transform IDs, which share values
/// for the algorithms here except MD5/SHA1 (AH_MD5 = 2, AH_SHA = 3).
fn auth_value(i: Integ) -> Option<u16> {
    Some(match i {
        Integ::None => return None,
        Integ::HmacMd5_96 => 1,
        Integ::HmacSha1_96 => 2,
        Integ::HmacSha256_128 => 5,
        Integ::HmacSha384_192 => 6,
        Integ::HmacSha512_256 => 7,
    })
}

fn integ_of_auth(v: u64) -> Option<Integ> {
    Some(match v {
        1 => Integ::HmacMd5_96,
        2 => Integ::HmacSha1_96,
        5 => Integ::HmacSha256_128,
        6 => Integ::HmacSha384_192,
        7 => Integ::HmacSha512_256,
        _ => return None,
    })
}

fn ah_id(i: Integ) -> Option<u8> {
    Some(match i {
        Integ::None => return None,
        Integ::HmacMd5_96 => 2,
        Integ::HmacSha1_96 => 3,
        other => auth_value(other)? as u8,
    })
}

fn integ_of_ah_id(id: u8) -> Option<Integ> {
    match id {
        2 => Some(Integ::HmacMd5_96),
        3 => Some(Integ::HmacSha1_96),
        5..=7 => integ_of_auth(u64::from(id)),
        _ => None,
    }
}

/// ESP transform ID and key length attribute of an encryption algorithm.
fn esp_cipher(e: Enc) -> (u8, Option<u16>) {
    match e {
        Enc::Null => (esp_id::NULL, None),
        Enc::DesCbc => (esp_id::DES, None),
        Enc::TripleDesCbc => (esp_id::TRIPLE_DES, None),
        Enc::AesCbc128 => (esp_id::AES_CBC, Some(128)),
        Enc::AesCbc192 => (esp_id::AES_CBC, Some(192)),
        Enc::AesCbc256 => (esp_id::AES_CBC, Some(256)),
        Enc::AesCtr128 => (esp_id::AES_CTR, Some(128)),
        Enc::AesCtr192 => (esp_id::AES_CTR, Some(192)),
        Enc::AesCtr256 => (esp_id::AES_CTR, Some(256)),
        Enc::AesGcm128 => (esp_id::AES_GCM_16, Some(128)),
        Enc::AesGcm192 => (esp_id::AES_GCM_16, Some(192)),
        Enc::AesGcm256 => (esp_id::AES_GCM_16, Some(256)),
    }
}

fn enc_of(id: u8, bits: Option<u64>) -> Option<Enc> {
    let aes = |cbc, ctr, gcm| match id {
        esp_id::AES_CBC => Some(cbc),
        esp_id::AES_CTR => Some(ctr),
        _ => Some(gcm),
    };
    match (id, bits) {
        (esp_id::NULL, None) => Some(Enc::Null),
        (esp_id::DES, None) => Some(Enc::DesCbc),
        (esp_id::TRIPLE_DES, None) => Some(Enc::TripleDesCbc),
        // RFC 3602 §5: AES without a key length attribute is AES-128.
        (esp_id::AES_CBC | esp_id::AES_CTR | esp_id::AES_GCM_16, None | Some(128)) => {
            aes(Enc::AesCbc128, Enc::AesCtr128, Enc::AesGcm128)
        }
        (esp_id::AES_CBC | esp_id::AES_CTR | esp_id::AES_GCM_16, Some(192)) => {
            aes(Enc::AesCbc192, Enc::AesCtr192, Enc::AesGcm192)
        }
        (esp_id::AES_CBC | esp_id::AES_CTR | esp_id::AES_GCM_16, Some(256)) => {
            aes(Enc::AesCbc256, Enc::AesCtr256, Enc::AesGcm256)
        }
        _ => None,
    }
}

fn is_aead(e: Enc) -> bool {
    matches!(e, Enc::AesGcm128 | Enc::AesGcm192 | Enc::AesGcm256)
}

/// The Encapsulation Mode attribute value: RFC 3947 §5.2's UDP-encapsulated values when NAT was detected.
pub(super) fn mode_value(mode: EncapsulationMode, udp: bool) -> u16 {
    match (mode, udp) {
        (EncapsulationMode::Tunnel, false) => 1,
        (EncapsulationMode::Transport, false) => 2,
        (EncapsulationMode::Tunnel, true) => 3,
        (EncapsulationMode::Transport, true) => 4,
    }
}

/// Reads a mode value: (mode, UDP-encapsulated). The NAT-T drafts' values 61443/61444 are accepted too.
fn mode_of(v: u16) -> Option<(EncapsulationMode, bool)> {
    Some(match v {
        1 => (EncapsulationMode::Tunnel, false),
        2 => (EncapsulationMode::Transport, false),
        3 | 61443 => (EncapsulationMode::Tunnel, true),
        4 | 61444 => (EncapsulationMode::Transport, true),
        _ => return None,
    })
}

/// The algorithm of one transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alg {
    Esp(Enc, Integ),
    Ah(Integ),
}

/// One IPsec transform, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Transform {
    pub alg: Alg,
    pub mode: EncapsulationMode,
    pub udp: bool,
    pub life_secs: Option<u32>,
    pub life_kb: Option<u64>,
    pub group: Option<GroupDescription>,
}

impl Transform {
    pub fn to_repr(self, number: u8) -> TransformRepr {
        let (id, mut attributes) = match self.alg {
            Alg::Esp(e, i) => {
                let (id, bits) = esp_cipher(e);
                let mut a = Vec::new();
                if let Some(v) = auth_value(i) {
                    a.push(Attribute::basic(A::AUTHENTICATION_ALGORITHM, v));
                }
                if let Some(b) = bits {
                    a.push(Attribute::basic(A::KEY_LENGTH, b));
                }
                (id, a)
            }
            Alg::Ah(i) => {
                let a = auth_value(i).map(|v| Attribute::basic(A::AUTHENTICATION_ALGORITHM, v));
                (ah_id(i).unwrap_or(0), a.into_iter().collect())
            }
        };
        attributes.push(Attribute::basic(A::ENCAPSULATION_MODE, mode_value(self.mode, self.udp)));
        if let Some(g) = self.group {
            attributes.push(Attribute::basic(A::GROUP_DESCRIPTION, g));
        }
        if let Some(s) = self.life_secs {
            attributes.push(Attribute::basic(A::SA_LIFE_TYPE, LifeType::SECONDS));
            attributes.push(duration(u64::from(s)));
        }
        if let Some(kb) = self.life_kb {
            attributes.push(Attribute::basic(A::SA_LIFE_TYPE, LifeType::KILOBYTES));
            attributes.push(duration(kb));
        }
        TransformRepr { number, transform_id: id, attributes }
    }

    /// Reads a transform of an ESP or AH proposal; `None` if it names anything this gateway does not implement.
    pub fn parse(protocol: ProtocolId, t: &TransformRepr) -> Option<Transform> {
        let (mut auth, mut bits, mut mode, mut group) = (None, None, 1u16, None);
        let (mut life_type, mut life_secs, mut life_kb) = (None, None, None);
        for a in &t.attributes {
            let v = a.as_u64()?;
            match A(a.kind) {
                A::AUTHENTICATION_ALGORITHM => auth = Some(v),
                A::KEY_LENGTH => bits = Some(v),
                A::ENCAPSULATION_MODE => mode = u16::try_from(v).ok()?,
                A::GROUP_DESCRIPTION => group = Some(GroupDescription(u16::try_from(v).ok()?)),
                A::SA_LIFE_TYPE => life_type = Some(LifeType(u16::try_from(v).ok()?)),
                A::SA_LIFE_DURATION => match life_type? {
                    LifeType::SECONDS => life_secs = Some(u32::try_from(v).unwrap_or(u32::MAX)),
                    LifeType::KILOBYTES => life_kb = Some(v),
                    _ => return None,
                },
                _ => return None,
            }
        }
        let alg = if protocol == ProtocolId::IPSEC_ESP {
            let enc = enc_of(t.transform_id, bits)?;
            let integ = match auth {
                None => Integ::None,
                Some(v) => integ_of_auth(v)?,
            };
            // RFC 4106 §8.4: no Authentication Algorithm with GCM; CBC/CTR without one would be unauthenticated.
            if is_aead(enc) != (integ == Integ::None) {
                return None;
            }
            Alg::Esp(enc, integ)
        } else if protocol == ProtocolId::IPSEC_AH {
            let integ = integ_of_ah_id(t.transform_id)?;
            if auth.is_some_and(|v| integ_of_auth(v) != Some(integ)) || bits.is_some() {
                return None;
            }
            Alg::Ah(integ)
        } else {
            return None;
        };
        if group.is_some_and(|g| crate::crypto::dh::public_len(g).is_none()) {
            return None;
        }
        let (mode, udp) = mode_of(mode)?;
        Some(Transform { alg, mode, udp, life_secs, life_kb, group })
    }
}

fn duration(v: u64) -> Attribute {
    match u16::try_from(v) {
        Ok(s) => Attribute::basic(A::SA_LIFE_DURATION, s),
        Err(_) => match u32::try_from(v) {
            Ok(s) => Attribute::variable(A::SA_LIFE_DURATION, s.to_be_bytes().to_vec()),
            Err(_) => Attribute::variable(A::SA_LIFE_DURATION, v.to_be_bytes().to_vec()),
        },
    }
}

/// The transforms of one transform set as this policy offers them: (protocol, transform).
pub(super) fn transforms_of(p: &CryptoMapPolicy, ts: &IpsecTransformSet, udp: bool) -> Vec<(ProtocolId, Transform)> {
    let common = |alg| Transform {
        alg,
        mode: ts.mode,
        udp,
        life_secs: Some(p.lifetime_secs),
        life_kb: (p.lifetime_kilobytes > 0).then_some(p.lifetime_kilobytes),
        group: p.pfs,
    };
    let mut v = Vec::new();
    if let Some(i) = ts.ah {
        v.push((ProtocolId::IPSEC_AH, common(Alg::Ah(i))));
    }
    if let Some((e, i)) = ts.esp {
        v.push((ProtocolId::IPSEC_ESP, common(Alg::Esp(e, i))));
    }
    v
}

/// The initiator's proposals: one proposal number per transform set (AH and ESP of a set share it, RFC 2408
/// §4.2), with our inbound SPI of that protocol.
pub(super) fn offer(p: &CryptoMapPolicy, udp: bool, esp_spi: u32, ah_spi: u32) -> Vec<ProposalRepr> {
    let mut out = Vec::new();
    for (n, ts) in p.transform_sets.iter().enumerate() {
        for (protocol, t) in transforms_of(p, ts, udp) {
            let spi = if protocol == ProtocolId::IPSEC_ESP { esp_spi } else { ah_spi };
            out.push(ProposalRepr {
                number: n as u8 + 1,
                protocol,
                spi: spi.to_be_bytes().to_vec(),
                transforms: vec![t.to_repr(1)],
            });
        }
    }
    out
}

/// What both sides agreed on for one protocol of the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Agreed {
    pub protocol: ProtocolId,
    pub transform: Transform,
    /// The peer's SPI for this protocol (the SPI of our outbound SA).
    pub peer_spi: u32,
}

/// The responder's choice: the bundle it takes, the reply proposals (our SPIs filled in by the caller), and the
/// lifetimes to use.
pub(super) struct Choice {
    pub agreed: Vec<Agreed>,
    pub reply: Vec<ProposalRepr>,
    pub life_secs: u32,
    pub life_kb: u64,
    /// Whether our lifetimes are shorter than offered, so RESPONDER-LIFETIME must say so.
    pub shortened: bool,
}

fn spi_of(p: &ProposalRepr) -> Option<u32> {
    <[u8; 4]>::try_from(p.spi.as_slice()).ok().map(u32::from_be_bytes).filter(|s| *s > 255)
}

/// Groups consecutive proposals with the same number: one bundle each (RFC 2408 §4.2).
fn bundles(proposals: &[ProposalRepr]) -> Vec<&[ProposalRepr]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=proposals.len() {
        if i == proposals.len() || proposals[i].number != proposals[start].number {
            out.push(&proposals[start..i]);
            start = i;
        }
    }
    out
}

/// Picks the first offered bundle (in the peer's order) that one of the policy's transform sets matches exactly,
/// with the encapsulation mode NAT detection calls for and a PFS group the policy allows.
pub(super) fn choose(p: &CryptoMapPolicy, offered: &[ProposalRepr], udp: bool) -> Option<Choice> {
    for bundle in bundles(offered) {
        for ts in &p.transform_sets {
            let wanted = transforms_of(p, ts, udp);
            if wanted.len() != bundle.len() {
                continue;
            }
            let mut agreed = Vec::new();
            let mut reply = Vec::new();
            for (protocol, want) in &wanted {
                let Some(prop) = bundle.iter().find(|b| b.protocol == *protocol) else { break };
                let Some(peer_spi) = spi_of(prop) else { break };
                let found = prop.transforms.iter().find_map(|t| {
                    let got = Transform::parse(*protocol, t)?;
                    let group_ok = match p.pfs {
                        Some(g) => got.group == Some(g),
                        None => true,
                    };
                    (got.alg == want.alg && got.mode == want.mode && got.udp == udp && group_ok).then_some((t, got))
                });
                let Some((t, got)) = found else { break };
                reply.push(ProposalRepr {
                    number: prop.number,
                    protocol: *protocol,
                    spi: Vec::new(),
                    transforms: vec![t.clone()],
                });
                agreed.push(Agreed { protocol: *protocol, transform: got, peer_spi });
            }
            if agreed.len() != wanted.len() || agreed.iter().any(|a| a.transform.group != agreed[0].transform.group) {
                continue;
            }
            return Some(lifetimes(p, agreed, reply));
        }
    }
    None
}

/// The lifetimes of a chosen bundle: the initiator's, unless ours are shorter (RFC 2407 §4.6.3.1).
fn lifetimes(p: &CryptoMapPolicy, agreed: Vec<Agreed>, reply: Vec<ProposalRepr>) -> Choice {
    let t = agreed[0].transform;
    let offered_secs = t.life_secs.unwrap_or(DEFAULT_IPSEC_LIFETIME_SECS);
    let offered_kb = t.life_kb.unwrap_or(0);
    let life_secs = offered_secs.min(p.lifetime_secs);
    let life_kb = match (offered_kb, p.lifetime_kilobytes) {
        (0, ours) => ours,
        (theirs, 0) => theirs,
        (theirs, ours) => theirs.min(ours),
    };
    let shortened = life_secs < offered_secs || life_kb != offered_kb;
    Choice { agreed, reply, life_secs, life_kb, shortened }
}

/// The initiator's check of the responder's SA: one bundle, each proposal one transform, equal to what we offered
/// under that number.
pub(super) fn check_reply(ours: &[ProposalRepr], reply: &[ProposalRepr]) -> Option<Vec<Agreed>> {
    let number = reply.first()?.number;
    let offered: Vec<&ProposalRepr> = ours.iter().filter(|p| p.number == number).collect();
    if reply.len() != offered.len() || reply.iter().any(|r| r.number != number) {
        return None;
    }
    let mut agreed = Vec::new();
    for o in offered {
        let r = reply.iter().find(|r| r.protocol == o.protocol)?;
        let [t] = r.transforms.as_slice() else { return None };
        let got = Transform::parse(r.protocol, t)?;
        let mine = Transform::parse(o.protocol, &o.transforms[0])?;
        // The responder may not change anything but may encode lifetimes its own way.
        let same = got.alg == mine.alg && got.mode == mine.mode && got.udp == mine.udp && got.group == mine.group;
        if !same {
            return None;
        }
        agreed.push(Agreed { protocol: r.protocol, transform: mine, peer_spi: spi_of(r)? });
    }
    Some(agreed)
}

/// Lifetimes a RESPONDER-LIFETIME notify carries (Life Type / Life Duration pairs).
pub(super) fn lifetime_attributes(secs: u32, kb: u64) -> Vec<u8> {
    let mut attrs = vec![Attribute::basic(A::SA_LIFE_TYPE, LifeType::SECONDS), duration(u64::from(secs))];
    if kb > 0 {
        attrs.push(Attribute::basic(A::SA_LIFE_TYPE, LifeType::KILOBYTES));
        attrs.push(duration(kb));
    }
    let mut out = Vec::new();
    for a in attrs {
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut b);
        out.extend_from_slice(&b);
    }
    out
}

/// Reads a RESPONDER-LIFETIME notify's data: (seconds, kilobytes) it sets.
pub(super) fn parse_lifetime_attributes(mut data: &[u8]) -> (Option<u32>, Option<u64>) {
    let (mut life_type, mut secs, mut kb) = (None, None, None);
    while let Ok((a, used)) = Attribute::parse(data) {
        data = &data[used..];
        match (A(a.kind), a.as_u64()) {
            (A::SA_LIFE_TYPE, Some(v)) => life_type = Some(v),
            (A::SA_LIFE_DURATION, Some(v)) if life_type == Some(1) => secs = Some(u32::try_from(v).unwrap_or(u32::MAX)),
            (A::SA_LIFE_DURATION, Some(v)) if life_type == Some(2) => kb = Some(v),
            _ => {}
        }
    }
    (secs, kb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isakmp::AttributeValue;

    fn policy(sets: Vec<IpsecTransformSet>, pfs: Option<GroupDescription>) -> CryptoMapPolicy {
        let any = super::super::api::ProxyIdentity::host("192.0.2.1".parse().unwrap());
        CryptoMapPolicy {
            map: "CM".into(),
            seq: 1,
            handle: 0,
            peer: "198.51.100.1".parse().unwrap(),
            local: any,
            remote: any,
            transform_sets: sets,
            pfs,
            lifetime_secs: 3600,
            lifetime_kilobytes: 4_608_000,
        }
    }

    fn set(esp: Option<(Enc, Integ)>, ah: Option<Integ>, mode: EncapsulationMode) -> IpsecTransformSet {
        IpsecTransformSet { esp, ah, mode }
    }

    fn attr(t: &TransformRepr, kind: A) -> Option<&AttributeValue> {
        t.attribute(kind).map(|a| &a.value)
    }

    #[test]
    fn gcm_offer_on_the_wire() {
        let p = policy(vec![set(Some((Enc::AesGcm256, Integ::None)), None, EncapsulationMode::Tunnel)], None);
        let props = offer(&p, true, 0x1234_5678, 0);
        let [prop] = props.as_slice() else { panic!("{props:?}") };
        assert_eq!(
            (prop.number, prop.protocol, prop.spi.as_slice()),
            (1, ProtocolId::IPSEC_ESP, &[0x12, 0x34, 0x56, 0x78][..])
        );
        let t = &prop.transforms[0];
        assert_eq!(t.transform_id, 20, "ESP_AES_GCM_16");
        assert_eq!(attr(t, A::KEY_LENGTH), Some(&AttributeValue::Basic(256)));
        assert_eq!(attr(t, A::AUTHENTICATION_ALGORITHM), None, "no integrity with GCM (RFC 4106 §8.4)");
        assert_eq!(attr(t, A::ENCAPSULATION_MODE), Some(&AttributeValue::Basic(3)), "UDP-Encapsulated-Tunnel");
        // 4608000 kB does not fit 16 bits: a variable attribute.
        assert!(t.attributes.iter().any(|a| a.value == AttributeValue::Variable(4_608_000u32.to_be_bytes().to_vec())));
    }

    #[test]
    fn esp_plus_ah_share_a_proposal_number() {
        let both =
            set(Some((Enc::AesCbc128, Integ::HmacSha1_96)), Some(Integ::HmacMd5_96), EncapsulationMode::Transport);
        let gcm = set(Some((Enc::AesGcm128, Integ::None)), None, EncapsulationMode::Transport);
        let props = offer(&policy(vec![both, gcm], Some(GroupDescription::MODP_2048)), false, 0x1000, 0x2000);
        let summary: Vec<(u8, ProtocolId, u8)> =
            props.iter().map(|p| (p.number, p.protocol, p.transforms[0].transform_id)).collect();
        assert_eq!(
            summary,
            [(1, ProtocolId::IPSEC_AH, 2), (1, ProtocolId::IPSEC_ESP, 12), (2, ProtocolId::IPSEC_ESP, 20)],
            "AH_MD5, ESP_AES, ESP_AES_GCM_16"
        );
        let ah = &props[0].transforms[0];
        assert_eq!(attr(ah, A::AUTHENTICATION_ALGORITHM), Some(&AttributeValue::Basic(1)));
        assert_eq!(attr(ah, A::ENCAPSULATION_MODE), Some(&AttributeValue::Basic(2)));
        assert_eq!(attr(ah, A::GROUP_DESCRIPTION), Some(&AttributeValue::Basic(14)));
        // Every transform reads back as offered.
        for p in &props {
            let t = Transform::parse(p.protocol, &p.transforms[0]).unwrap();
            assert_eq!(t.to_repr(1), p.transforms[0]);
        }
    }

    #[test]
    fn unsupported_transforms_are_not_read() {
        let esp = |id: u8, attrs: Vec<Attribute>| TransformRepr { number: 1, transform_id: id, attributes: attrs };
        let auth = |v: u16| Attribute::basic(A::AUTHENTICATION_ALGORITHM, v);
        let bits = |v: u16| Attribute::basic(A::KEY_LENGTH, v);
        let parse = |t: &TransformRepr| Transform::parse(ProtocolId::IPSEC_ESP, t);
        assert!(parse(&esp(20, vec![bits(128), auth(2)])).is_none(), "GCM with an integrity algorithm");
        assert!(parse(&esp(12, vec![bits(128)])).is_none(), "CBC without integrity");
        assert!(parse(&esp(18, vec![bits(128)])).is_none(), "GCM with an 8-byte ICV");
        assert!(parse(&esp(12, vec![bits(100), auth(2)])).is_none(), "odd AES key length");
        assert!(parse(&esp(12, vec![auth(2), Attribute::basic(A::ENCAPSULATION_MODE, 9u16)])).is_none());
        assert!(parse(&esp(12, vec![auth(2), Attribute::basic(A::GROUP_DESCRIPTION, 3u16)])).is_none(), "EC2N");
        assert!(parse(&esp(12, vec![auth(2), Attribute::basic(A::SA_LIFE_DURATION, 5u16)])).is_none(), "no type");
        // AES without a key length is AES-128; the drafts' UDP tunnel value is accepted.
        let t = parse(&esp(12, vec![auth(5), Attribute::basic(A::ENCAPSULATION_MODE, 61443u16)])).unwrap();
        assert_eq!(
            (t.alg, t.mode, t.udp),
            (Alg::Esp(Enc::AesCbc128, Integ::HmacSha256_128), EncapsulationMode::Tunnel, true)
        );
    }

    #[test]
    fn responder_needs_the_mode_nat_detection_calls_for() {
        let ts = set(Some((Enc::AesCbc128, Integ::HmacSha1_96)), None, EncapsulationMode::Tunnel);
        let p = policy(vec![ts], None);
        let plain = offer(&p, false, 0x1000, 0);
        assert!(choose(&p, &plain, false).is_some());
        assert!(choose(&p, &plain, true).is_none(), "behind a NAT the peer must ask for UDP encapsulation");
        assert!(choose(&p, &offer(&p, true, 0x1000, 0), true).is_some());
        let mut transport = p.clone();
        transport.transform_sets[0].mode = EncapsulationMode::Transport;
        assert!(choose(&transport, &plain, false).is_none());
        // An SPI in the reserved range is refused.
        assert!(choose(&p, &offer(&p, false, 7, 0), false).is_none());
    }

    #[test]
    fn lifetimes_and_responder_lifetime_data() {
        let ts = set(Some((Enc::AesCbc128, Integ::HmacSha1_96)), None, EncapsulationMode::Tunnel);
        let mut mine = policy(vec![ts], None);
        let mut theirs = mine.clone();
        theirs.lifetime_secs = 100_000;
        theirs.lifetime_kilobytes = 0;
        mine.lifetime_kilobytes = 1000;
        let c = choose(&mine, &offer(&theirs, false, 0x1000, 0), false).unwrap();
        assert_eq!((c.life_secs, c.life_kb, c.shortened), (3600, 1000, true));
        let data = lifetime_attributes(c.life_secs, c.life_kb);
        assert_eq!(parse_lifetime_attributes(&data), (Some(3600), Some(1000)));
        let c = choose(&mine, &offer(&mine, false, 0x1000, 0), false).unwrap();
        assert!(!c.shortened);
        assert_eq!(parse_lifetime_attributes(&[0x80, 0x01]), (None, None), "truncated data is ignored");
    }
}
