//! The index finds what walking the entries finds, for random SPDs of mixed shapes and random keys.
use super::*;
use crate::selector::IpPrefix;
use crate::wire::IpProtocol;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::RangeInclusive;
use proptest::prelude::*;

/// Addresses from a pool (16 hosts in each documentation range, and in three IPv6 2001:db8 networks), small
/// enough that selectors and keys collide.
fn address(v6: bool, pick: u16) -> IpAddr {
    let (net, low) = (usize::from(pick / 16 % 3), (pick % 16) as u8);
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, net as u16, 0, 0, 0, 0, u16::from(low)))
    } else {
        let n = [[192, 0, 2], [198, 51, 100], [203, 0, 113]][net];
        IpAddr::V4(Ipv4Addr::new(n[0], n[1], n[2], low))
    }
}

fn prefix_len(v6: bool, pick: u8) -> u8 {
    // Mostly long (so that catch-alls are rare and late entries are reached), some short, some longer than the
    // family (taken as a host).
    let lens: [u8; 16] = if v6 {
        [0, 16, 32, 48, 64, 64, 120, 122, 124, 126, 127, 128, 128, 128, 128, 200]
    } else {
        [0, 8, 16, 24, 24, 26, 28, 29, 30, 31, 32, 32, 32, 32, 32, 40]
    };
    lens[usize::from(pick % 16)]
}

fn ports(pick: u8, a: u16, b: u16) -> RangeInclusive<u16> {
    match pick % 5 {
        0 | 1 => 0..=u16::MAX,
        2 => a % 4..=a % 4,
        3 => (a % 4).min(b % 4)..=(a % 4).max(b % 4),
        // Sometimes empty.
        _ => a % 4..=b % 4,
    }
}

fn protocol(pick: u8) -> Option<IpProtocol> {
    [None, None, Some(IpProtocol::UDP), Some(IpProtocol::TCP), Some(IpProtocol::ICMP)][usize::from(pick % 5)]
}

/// An entry of shape `p` (family, prefix lengths, protocol, port kinds) with addresses `h` and ports from `a..d`.
fn entry(p: [u8; 8], h: [u16; 2], (a, b, c, d): (u16, u16, u16, u16), act: u8) -> SpdEntry {
    // Now and then source and destination of different families.
    let (v6s, v6d) = (p[0] % 2 == 0, if p[7] % 16 == 0 { p[0] % 2 == 1 } else { p[0] % 2 == 0 });
    let selector = TrafficSelector {
        src: IpPrefix::new(address(v6s, h[0]), prefix_len(v6s, p[2])),
        dst: IpPrefix::new(address(v6d, h[1]), prefix_len(v6d, p[4])),
        protocol: protocol(p[5]),
        src_ports: ports(p[6], a, b),
        dst_ports: ports(p[6] / 5, c, d),
    };
    let action = match act {
        0..=5 => PolicyAction::Protect(u32::from(act)),
        6..=7 => PolicyAction::Bypass,
        _ => PolicyAction::Discard,
    };
    SpdEntry { selector, action }
}

/// An SPD whose entries take a few shapes (so that shapes hold many entries and keys match in several), and now
/// and then one of a shape of its own.
fn entries() -> impl Strategy<Value = Vec<SpdEntry>> {
    let one = (any::<(u8, [u8; 8])>(), any::<[u16; 2]>(), any::<(u16, u16, u16, u16)>(), 0u8..10);
    (prop::collection::vec(any::<[u8; 8]>(), 1..8), prop::collection::vec(one, 0..3000)).prop_map(|(shapes, v)| {
        v.into_iter()
            .map(|((t, own), h, ports, act)| {
                let shape = if t % 32 == 0 { own } else { shapes[usize::from(t) % shapes.len()] };
                entry(shape, h, ports, act)
            })
            .collect()
    })
}

fn key() -> impl Strategy<Value = FlowKey> {
    (any::<[u8; 5]>(), any::<[u16; 2]>(), any::<(u16, u16)>()).prop_map(|(p, h, (a, b))| {
        let v6s = p[0] % 2 == 0;
        let v6d = if p[4] % 32 == 0 { !v6s } else { v6s };
        FlowKey {
            src: address(v6s, h[0]),
            dst: address(v6d, h[1]),
            protocol: protocol(p[3]).unwrap_or(IpProtocol(p[3])),
            src_port: a % 5,
            dst_port: b % 5,
        }
    })
}

fn opaque_linear(spd: &Spd, key: &FlowKey, protect_only: bool) -> Option<usize> {
    spd.entries().iter().position(|e| {
        (!protect_only || matches!(e.action, PolicyAction::Protect(_))) && e.selector.matches_ignoring_ports(key)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn index_agrees_with_the_walk(
        entries in entries(),
        keys in prop::collection::vec(key(), 200),
    ) {
        let spd = Spd::new(entries);
        prop_assert_eq!(spd.inner.index.is_some(), spd.entries().len() >= LINEAR_MAX);
        for k in &keys {
            prop_assert_eq!(spd.lookup(k).map(|(i, _)| i), spd.lookup_linear(k).map(|(i, _)| i), "{:?}", k);
            prop_assert_eq!(spd.lookup_action(k), spd.lookup_linear(k).map(|(i, e)| (i, e.action)), "{:?}", k);
            prop_assert_eq!(spd.lookup_opaque(k).map(|(i, _)| i), opaque_linear(&spd, k, false), "{:?}", k);
            prop_assert_eq!(spd.first_protect_opaque(k).map(|(i, _)| i), opaque_linear(&spd, k, true), "{:?}", k);
        }
        // Keys made from entries' own addresses, so that late entries are reached too.
        for e in spd.entries().iter().step_by(7) {
            let k = FlowKey {
                src: e.selector.src.addr,
                dst: e.selector.dst.addr,
                protocol: e.selector.protocol.unwrap_or(IpProtocol::UDP),
                src_port: *e.selector.src_ports.start(),
                dst_port: *e.selector.dst_ports.end(),
            };
            prop_assert_eq!(spd.lookup(&k).map(|(i, _)| i), spd.lookup_linear(&k).map(|(i, _)| i), "{:?}", k);
            prop_assert_eq!(spd.lookup_opaque(&k).map(|(i, _)| i), opaque_linear(&spd, &k, false), "{:?}", k);
        }
    }
}

/// The perf harness's shape: a million host entries, one per SA, then catch-alls; every flow finds its own entry
/// and anything else the bypass.
#[test]
fn one_entry_per_sa() {
    let n = 20_000u32;
    let host = |i: u32| (Ipv4Addr::new(203, 0, 113, 1 + (i % 254) as u8), 1024 + (i / 254) as u16);
    let mut v: Vec<SpdEntry> = (0..n)
        .map(|i| SpdEntry {
            selector: TrafficSelector {
                src: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24),
                dst: IpPrefix::new(IpAddr::V4(host(i).0), 32),
                protocol: Some(IpProtocol::UDP),
                src_ports: 0..=u16::MAX,
                dst_ports: host(i).1..=host(i).1,
            },
            action: PolicyAction::Protect(i),
        })
        .collect();
    let any = IpPrefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    v.push(SpdEntry { selector: TrafficSelector::prefixes(any, any), action: PolicyAction::Bypass });
    let spd = Spd::new(v);
    let key = |i: u32, dport: u16| FlowKey {
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        dst: IpAddr::V4(host(i).0),
        protocol: IpProtocol::UDP,
        src_port: 4000,
        dst_port: dport,
    };
    for i in (0..n).step_by(97).chain([n - 1]) {
        assert_eq!(spd.lookup(&key(i, host(i).1)).map(|(p, _)| p), Some(i as usize));
        // Linear probing leaves no hole between a key's first slot and the key: warming reads an occupied slot.
        assert_eq!(spd.touch(&key(i, host(i).1)) & 1, 1);
    }
    assert_eq!(spd.lookup(&key(0, 80)).map(|(_, e)| e.action), Some(PolicyAction::Bypass));
    // A fragment to a protected host could be any of its entries: the first protect entry is found.
    assert_eq!(spd.lookup_opaque(&key(5, 0)).map(|(p, _)| p), Some(5));
    let mut tcp = key(5, host(5).1);
    tcp.protocol = IpProtocol::TCP;
    assert_eq!(spd.first_protect_opaque(&tcp), None);
}
