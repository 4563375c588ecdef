//! Egress SPD decisions for IPv4 fragments (RFC 4301 §7). A non-initial fragment carries no transport header, so
//! its ports are unknown. espgate does stateful fragment checking (§7.3) in a small fixed table: the decision made
//! for an initial fragment (ports known) is remembered under (source, destination, identification, protocol) and
//! applied to the later fragments of the same packet; this covers the fragments the gateway makes itself before
//! encryption, which are sent first fragment first. A non-initial fragment with no remembered decision is matched
//! with its ports OPAQUE: the first SPD entry whose addresses and protocol match decides if that entry does not
//! look at ports; if it does, the fragment could belong to that entry or not, and it is dropped
//! ([`super::Drop::FragmentPolicy`]) rather than risk sending protected traffic in clear.
//!
//! IPv6 fragments (the gateway never fragments IPv6 itself: it answers Packet Too Big) are all matched with OPAQUE
//! ports, first fragments included, and with the protocol the Fragment header names.
//!
//! OPAQUE matching goes through the SPD's index like whole packets do ([`Spd::lookup_opaque`]), so a flood of
//! fragments costs no more per packet than other traffic however long the SPD.
use crate::selector::{FlowKey, TrafficSelector};
use crate::spd::{PolicyAction, Spd};
use crate::wire::{ipv6, IpProtocol};

const SLOTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    src: u32,
    dst: u32,
    ident: u16,
    protocol: u8,
    spd: u16,
    action: PolicyAction,
}

/// What the SPD says about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Action(PolicyAction),
    /// A non-initial fragment whose policy depends on the ports it does not carry.
    UnknownFragment,
}

/// The IPv4 fragment facts of a packet: (src, dst, ident, protocol, offset, more fragments).
fn v4_fragment(p: &[u8]) -> Option<(u32, u32, u16, u8, u16, bool)> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let frag = u16::from_be_bytes([p[6], p[7]]);
    let (offset, mf) = (frag & 0x1fff, frag & 0x2000 != 0);
    if offset == 0 && !mf {
        return None;
    }
    let word = |o: usize| u32::from_be_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
    Some((word(12), word(16), u16::from_be_bytes([p[4], p[5]]), p[9], offset, mf))
}

/// For an IPv6 fragment: the protocol its Fragment header names.
pub fn v6_fragment_protocol(p: &[u8]) -> Option<IpProtocol> {
    if p.first()? >> 4 != 6 {
        return None;
    }
    let v = ipv6::Packet::new_checked(p).ok()?;
    match v.find_upper_layer() {
        Ok((off, IpProtocol::IPV6_FRAGMENT, _)) => p.get(off).map(|nh| IpProtocol(*nh)),
        _ => None,
    }
}

fn ports_any(s: &TrafficSelector) -> bool {
    s.src_ports == (0..=u16::MAX) && s.dst_ports == (0..=u16::MAX)
}

/// Remembered decisions for fragmented packets, per worker.
#[derive(Debug, Clone)]
pub struct FragmentPolicies {
    slots: [Option<Slot>; SLOTS],
}

impl Default for FragmentPolicies {
    fn default() -> Self {
        Self { slots: [None; SLOTS] }
    }
}

impl FragmentPolicies {
    fn index(src: u32, dst: u32, ident: u16, protocol: u8) -> usize {
        let h = src.rotate_left(7) ^ dst ^ u32::from(ident).wrapping_mul(0x9e37_79b1) ^ u32::from(protocol);
        (h ^ (h >> 16)) as usize % SLOTS
    }

    /// Forgets every remembered decision (the SPDs they came from were replaced).
    pub fn clear(&mut self) {
        self.slots = [None; SLOTS];
    }

    /// The action of SPD number `spd_index` for the IP packet `packet`.
    pub fn decide(&mut self, spd_index: usize, spd: &Spd, packet: &[u8]) -> Decision {
        let Some(key) = FlowKey::from_ip(packet) else { return Decision::Action(PolicyAction::Discard) };
        let first_match = |key: &FlowKey| spd.lookup_action(key).map_or(PolicyAction::Discard, |(_, a)| a);
        if let Some(protocol) = v6_fragment_protocol(packet) {
            return opaque(spd, &FlowKey { protocol, ..key });
        }
        let Some((src, dst, ident, protocol, offset, _)) = v4_fragment(packet) else {
            return Decision::Action(first_match(&key));
        };
        let spd_id = spd_index as u16;
        let i = Self::index(src, dst, ident, protocol);
        if offset == 0 {
            // RFC 1858: a first fragment too short to hold the ports cannot be matched on them.
            let hl = usize::from(packet[0] & 0x0f) * 4;
            let has_ports = matches!(IpProtocol(protocol), IpProtocol::TCP | IpProtocol::UDP) || protocol == 132;
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).min(packet.len());
            if has_ports && total < hl + 4 {
                return Decision::UnknownFragment;
            }
            let action = first_match(&key);
            self.slots[i] = Some(Slot { src, dst, ident, protocol, spd: spd_id, action });
            return Decision::Action(action);
        }
        if let Some(s) = self.slots[i] {
            if (s.src, s.dst, s.ident, s.protocol, s.spd) == (src, dst, ident, protocol, spd_id) {
                return Decision::Action(s.action);
            }
        }
        opaque(spd, &key)
    }
}

/// The decision for a non-initial fragment with nothing remembered (see the module documentation).
pub fn opaque(spd: &Spd, key: &FlowKey) -> Decision {
    match spd.lookup_opaque(key).map(|(_, e)| e) {
        Some(e) if ports_any(&e.selector) => Decision::Action(e.action),
        Some(_) => Decision::UnknownFragment,
        None => Decision::Action(PolicyAction::Discard),
    }
}

/// Whether cleartext `key` (already reversed into the egress direction) is traffic the SPD protects; for a
/// non-initial fragment any protecting entry whose addresses and protocol match counts.
pub fn protects(spd: &Spd, key: &FlowKey, ports_known: bool) -> bool {
    if ports_known {
        return matches!(spd.lookup_action(key), Some((_, PolicyAction::Protect(_))));
    }
    spd.first_protect_opaque(key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::IpPrefix;
    use crate::spd::SpdEntry;
    use crate::wire::IpProtocol;

    fn pfx(s: &str, len: u8) -> IpPrefix {
        IpPrefix::new(s.parse().unwrap(), len)
    }

    /// IPv4/UDP, 192.0.2.10 -> 203.0.113.10, with the given fragment offset (8-byte units) and MF.
    fn frag(ident: u16, offset: u16, mf: bool, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&60u16.to_be_bytes());
        p[4..6].copy_from_slice(&ident.to_be_bytes());
        p[6..8].copy_from_slice(&(offset | if mf { 0x2000 } else { 0 }).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[192, 0, 2, 10]);
        p[16..20].copy_from_slice(&[203, 0, 113, 10]);
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        let c = crate::wire::checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn spd(ports: bool) -> Spd {
        let mut s = TrafficSelector::prefixes(pfx("192.0.2.0", 24), pfx("203.0.113.0", 24));
        if ports {
            s.protocol = Some(IpProtocol::UDP);
            s.dst_ports = 5000..=5000;
        }
        Spd::new(vec![
            SpdEntry { selector: s, action: PolicyAction::Protect(3) },
            SpdEntry {
                selector: TrafficSelector::prefixes(pfx("0.0.0.0", 0), pfx("0.0.0.0", 0)),
                action: PolicyAction::Bypass,
            },
        ])
    }

    #[test]
    fn later_fragments_follow_the_first() {
        let (s, mut f) = (spd(true), FragmentPolicies::default());
        let protect = Decision::Action(PolicyAction::Protect(3));
        assert_eq!(f.decide(0, &s, &frag(7, 0, true, 5000)), protect);
        assert_eq!(f.decide(0, &s, &frag(7, 185, true, 0)), protect);
        assert_eq!(f.decide(0, &s, &frag(7, 370, false, 0)), protect);
        // Another packet (other port) between the same hosts: bypass, and its fragments too.
        assert_eq!(f.decide(0, &s, &frag(8, 0, true, 80)), Decision::Action(PolicyAction::Bypass));
        assert_eq!(f.decide(0, &s, &frag(8, 185, false, 0)), Decision::Action(PolicyAction::Bypass));
        // A later fragment of a packet whose first fragment was not seen: the ports decide, so unknown.
        assert_eq!(f.decide(0, &s, &frag(9, 185, false, 0)), Decision::UnknownFragment);
        // ... but the same fragment through another SPD is not taken for the remembered one.
        assert_eq!(f.decide(1, &s, &frag(7, 185, false, 0)), Decision::UnknownFragment);
        // A first fragment too short to carry the ports is not taken at its word.
        let mut tiny = frag(11, 0, true, 5000);
        tiny.truncate(22);
        tiny[2..4].copy_from_slice(&22u16.to_be_bytes());
        tiny[10..12].fill(0);
        let c = crate::wire::checksum::checksum(&tiny[..20]);
        tiny[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(f.decide(0, &s, &tiny), Decision::UnknownFragment);
        // Forgotten when the tables change.
        f.clear();
        assert_eq!(f.decide(0, &s, &frag(7, 370, false, 0)), Decision::UnknownFragment);
        // Whole packets are decided as before.
        assert_eq!(f.decide(0, &s, &frag(10, 0, false, 5000)), protect);
    }

    #[test]
    fn ipv6_fragments_are_opaque() {
        let mut p = vec![0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&16u16.to_be_bytes());
        p[6] = 44;
        p[7] = 64;
        p[8..24].copy_from_slice(&"2001:db8:1::10".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"2001:db8:2::10".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p[40] = 17; // UDP follows the Fragment header
        let mut sel = TrafficSelector::prefixes(pfx("2001:db8:1::", 64), pfx("2001:db8:2::", 64));
        sel.protocol = Some(IpProtocol::UDP);
        let any = TrafficSelector::prefixes(pfx("::", 0), pfx("::", 0));
        let spd = |ports: bool| {
            let mut s = sel.clone();
            if ports {
                s.dst_ports = 53..=53;
            }
            Spd::new(vec![
                SpdEntry { selector: s, action: PolicyAction::Protect(1) },
                SpdEntry { selector: any.clone(), action: PolicyAction::Bypass },
            ])
        };
        // An atomic fragment (offset 0, M clear) is a whole packet (RFC 6946): its ports are known.
        p[50..52].copy_from_slice(&53u16.to_be_bytes());
        let mut f = FragmentPolicies::default();
        assert_eq!(f.decide(0, &spd(true), &p), Decision::Action(PolicyAction::Protect(1)), "atomic: port 53");
        p[43] = 1; // M: the first of several fragments
        assert_eq!(f.decide(0, &spd(false), &p), Decision::Action(PolicyAction::Protect(1)), "UDP from the header");
        assert_eq!(f.decide(0, &spd(true), &p), Decision::UnknownFragment, "never bypassed in clear");
        assert_eq!(v6_fragment_protocol(&p[..39]), None);
    }

    #[test]
    fn opaque_ports_when_the_entry_has_none() {
        let (s, mut f) = (spd(false), FragmentPolicies::default());
        assert_eq!(f.decide(0, &s, &frag(9, 185, false, 0)), Decision::Action(PolicyAction::Protect(3)));
        let key = FlowKey::from_ip(&frag(9, 185, false, 0)).unwrap();
        assert!(protects(&spd(true), &key, false), "a fragment could be the protected flow");
        assert!(!protects(&spd(true), &key, true), "port 0 is not port 5000");
    }
}
