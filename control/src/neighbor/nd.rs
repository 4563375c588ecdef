//! IPv6 Neighbor Discovery (RFC 4861) and ICMPv6 echo (RFC 4443) for the gateway's own addresses.
use super::{Frame, Host};
use engine::datapath::ether::{self, EtherType, MacAddr};
use engine::wire::checksum;
use std::net::{IpAddr, Ipv6Addr};

const NS: u8 = 135;
const NA: u8 = 136;
const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `a` (RFC 4291 §2.7.1) and its Ethernet group address (RFC 2464 §7).
pub fn solicited_node(a: Ipv6Addr) -> (Ipv6Addr, MacAddr) {
    let o = a.octets();
    let ip = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(o[13]), u16::from_be_bytes([o[14], o[15]]));
    let g = ip.octets();
    (ip, MacAddr([0x33, 0x33, g[12], g[13], g[14], g[15]]))
}

fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> u16 {
    let pseudo = checksum::pseudo_header_sum_v6(src, dst, 58, icmp.len() as u32);
    !checksum::combine(pseudo, checksum::sum(icmp))
}

/// An Ethernet frame with an IPv6 header and the given ICMPv6 message (checksum filled in).
fn frame(port: u16, eth_dst: MacAddr, eth_src: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, hop: u8, icmp: &[u8]) -> Frame {
    let mut f = vec![0u8; ether::HEADER_LEN + 40 + icmp.len()];
    ether::emit(&mut f, eth_dst, eth_src, EtherType::IPV6);
    let ip = &mut f[ether::HEADER_LEN..];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip[6] = 58;
    ip[7] = hop;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    ip[40..].copy_from_slice(icmp);
    let c = icmpv6_checksum(src, dst, &ip[40..]);
    ip[42..44].copy_from_slice(&c.to_be_bytes());
    Frame { port, bytes: f }
}

/// The link-layer address option of type `kind` among the options, if any.
fn lla_option(mut opts: &[u8], kind: u8) -> Option<MacAddr> {
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return None;
        }
        if opts[0] == kind && len >= 8 {
            return Some(MacAddr([opts[2], opts[3], opts[4], opts[5], opts[6], opts[7]]));
        }
        opts = &opts[len..];
    }
    None
}

impl Host {
    fn our_v6_on(&self, port: u16, near: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        let i = self.tables.interface(port)?;
        let v6 = |p: &engine::selector::IpPrefix| match p.addr {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        };
        near.and_then(|n| i.addresses.iter().find(|p| p.contains(IpAddr::V6(n))).and_then(v6))
            .or_else(|| i.addresses.iter().find_map(v6))
    }

    /// An ICMPv6 frame punted to the control thread (ND to our addresses or their solicited-node groups, echo).
    pub(super) fn icmpv6(&mut self, port: u16, f: &[u8], now: u64) -> Option<Vec<Frame>> {
        let eth = ether::parse(f)?;
        let ip = f.get(ether::HEADER_LEN..)?;
        if ip.len() < 48 || ip[0] >> 4 != 6 || ip[6] != 58 {
            return None;
        }
        let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        let icmp = ip.get(40..40 + plen)?;
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
        if icmpv6_checksum(src, dst, icmp) != 0 {
            return None;
        }
        let iface = self.tables.interface(port)?;
        let our_mac = iface.mac;
        let ours = |a: Ipv6Addr| iface.addresses.iter().any(|p| p.addr == IpAddr::V6(a));
        let connected = |a: Ipv6Addr| iface.addresses.iter().any(|p| p.contains(IpAddr::V6(a)));
        match icmp[0] {
            // RFC 4861 §7.1: hop limit 255 and code 0, or the message is not from the link.
            NS if ip[7] == 255 && icmp[1] == 0 && icmp.len() >= 24 => {
                let target = Ipv6Addr::from(<[u8; 16]>::try_from(&icmp[8..24]).ok()?);
                if !ours(target) {
                    return Some(Vec::new());
                }
                let lla = lla_option(&icmp[24..], OPT_SOURCE_LLA);
                let mut out = Vec::new();
                let (to, eth_to, solicited) = if src.is_unspecified() {
                    (ALL_NODES, MacAddr([0x33, 0x33, 0, 0, 0, 1]), false)
                } else {
                    if let Some(mac) = lla.filter(|_| connected(src)) {
                        out.extend(self.learn(IpAddr::V6(src), mac, now));
                    }
                    (src, lla.unwrap_or(eth.src), true)
                };
                let mut na = vec![0u8; 32];
                na[0] = NA;
                // Router, Solicited (when answering a solicitation from an address), Override.
                na[4] = 0x80 | if solicited { 0x40 } else { 0 } | 0x20;
                na[8..24].copy_from_slice(&target.octets());
                na[24..32].copy_from_slice(&[OPT_TARGET_LLA, 1, 0, 0, 0, 0, 0, 0]);
                na[26..32].copy_from_slice(&our_mac.0);
                out.push(frame(port, eth_to, our_mac, target, to, 255, &na));
                self.stats.arp_replies_sent += 1;
                Some(out)
            }
            NA if ip[7] == 255 && icmp[1] == 0 && icmp.len() >= 24 => {
                let target = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&icmp[8..24]).ok()?));
                let mac = lla_option(&icmp[24..], OPT_TARGET_LLA).unwrap_or(eth.src);
                // Only entries we have or are resolving are updated (RFC 4861 §7.2.5).
                if self.learned.contains_key(&target) || self.pending.contains_key(&target) {
                    return Some(self.learn(target, mac, now));
                }
                Some(Vec::new())
            }
            ECHO_REQUEST if ours(dst) && icmp.len() >= 8 => {
                let mut reply = icmp.to_vec();
                reply[0] = ECHO_REPLY;
                reply[2..4].fill(0);
                self.stats.echo_replies_sent += 1;
                Some(vec![frame(port, eth.src, our_mac, dst, src, 64, &reply)])
            }
            _ => None,
        }
    }

    /// A Neighbor Solicitation for `target` to its solicited-node group.
    pub(super) fn neighbor_solicitation(&mut self, port: u16, target: Ipv6Addr) -> Option<Frame> {
        let mac = self.our_mac(port)?;
        let src = self.our_v6_on(port, Some(target))?;
        let (group, group_mac) = solicited_node(target);
        let mut ns = vec![0u8; 32];
        ns[0] = NS;
        ns[8..24].copy_from_slice(&target.octets());
        ns[24..26].copy_from_slice(&[OPT_SOURCE_LLA, 1]);
        ns[26..32].copy_from_slice(&mac.0);
        self.stats.arp_requests_sent += 1;
        Some(frame(port, group_mac, mac, src, group, 255, &ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::datapath::{Interface, PuntKind, Tables};
    use engine::selector::IpPrefix;
    use std::collections::HashMap;

    const OUR: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn host() -> Host {
        let iface = Interface {
            name: "outside".into(),
            port: 0,
            mac: OUR,
            addresses: vec![IpPrefix::new("2001:db8:100::1".parse().unwrap(), 64)],
            mtu: 1500,
            policy: None,
        };
        Host::new(Tables::new(vec![iface], vec![], HashMap::new(), vec![]))
    }

    fn ns(src: &str, target: &str, hop: u8) -> Vec<u8> {
        let t: Ipv6Addr = target.parse().unwrap();
        let (group, gmac) = solicited_node(t);
        let mut m = vec![0u8; 32];
        m[0] = NS;
        m[8..24].copy_from_slice(&t.octets());
        m[24..26].copy_from_slice(&[OPT_SOURCE_LLA, 1]);
        m[26..32].copy_from_slice(&PEER.0);
        frame(0, gmac, PEER, src.parse().unwrap(), group, hop, &m).bytes
    }

    #[test]
    fn solicited_node_address() {
        let (ip, mac) = solicited_node("2001:db8::12:3456".parse().unwrap());
        assert_eq!(ip.to_string(), "ff02::1:ff12:3456");
        assert_eq!(mac, MacAddr([0x33, 0x33, 0xff, 0x12, 0x34, 0x56]));
    }

    #[test]
    fn answers_ns_for_own_address_and_learns() {
        let mut h = host();
        let out = h.handle(0, PuntKind::Icmp, &ns("2001:db8:100::2", "2001:db8:100::1", 255), 1);
        assert_eq!(out.len(), 1);
        let f = &out[0].bytes;
        assert_eq!(ether::parse(f).unwrap().dst, PEER);
        let ip = &f[14..];
        assert_eq!((ip[7], ip[40], ip[44] & 0x60), (255, NA, 0x60), "solicited, override NA with hop limit 255");
        assert_eq!(&ip[24..40], &"2001:db8:100::2".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(lla_option(&ip[64..], OPT_TARGET_LLA), Some(OUR));
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
        assert_eq!(icmpv6_checksum(src, dst, &ip[40..]), 0, "checksum verifies");
        assert_eq!(h.tables().neighbor("2001:db8:100::2".parse().unwrap()), Some(PEER));
        // Wrong hop limit (not from the link), or not our target: no answer.
        assert!(h.handle(0, PuntKind::Icmp, &ns("2001:db8:100::3", "2001:db8:100::1", 64), 1).is_empty());
        assert!(h.handle(0, PuntKind::Icmp, &ns("2001:db8:100::3", "2001:db8:100::9", 255), 1).is_empty());
    }

    #[test]
    fn resolves_v6_next_hop_with_ns_then_na() {
        let mut h = host();
        let nh: Ipv6Addr = "2001:db8:100::7".parse().unwrap();
        let pkt = vec![0x60u8; 48];
        let out = h.handle(0, PuntKind::Resolve { port: 0, next_hop: IpAddr::V6(nh) }, &pkt, 1);
        assert_eq!(out.len(), 1);
        let (group, gmac) = solicited_node(nh);
        assert_eq!(ether::parse(&out[0].bytes).unwrap().dst, gmac);
        assert_eq!(&out[0].bytes[14 + 24..14 + 40], &group.octets());
        let mut na = vec![0u8; 32];
        na[0] = NA;
        na[4] = 0x60;
        na[8..24].copy_from_slice(&nh.octets());
        na[24..26].copy_from_slice(&[OPT_TARGET_LLA, 1]);
        na[26..32].copy_from_slice(&PEER.0);
        let f = frame(0, OUR, PEER, nh, "2001:db8:100::1".parse().unwrap(), 255, &na).bytes;
        let out = h.handle(0, PuntKind::Icmp, &f, 2);
        assert_eq!(out.len(), 1, "the held packet goes out");
        assert_eq!(ether::parse(&out[0].bytes).unwrap().dst, PEER);
        assert_eq!(&out[0].bytes[14..], &pkt[..]);
    }

    #[test]
    fn echo_v6() {
        let mut h = host();
        let mut m = vec![0u8; 16];
        m[0] = ECHO_REQUEST;
        m[8..16].copy_from_slice(b"ping6dat");
        let f = frame(0, OUR, PEER, "2001:db8:100::2".parse().unwrap(), "2001:db8:100::1".parse().unwrap(), 64, &m);
        let out = h.handle(0, PuntKind::Icmp, &f.bytes, 0);
        assert_eq!(out.len(), 1);
        let ip = &out[0].bytes[14..];
        assert_eq!(ip[40], ECHO_REPLY);
        assert_eq!(&ip[48..56], b"ping6dat");
        let mut bad = f.bytes.clone();
        bad[14 + 50] ^= 1;
        assert!(h.handle(0, PuntKind::Icmp, &bad, 0).is_empty(), "bad checksum");
    }
}
