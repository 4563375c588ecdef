//! Two gateways back to back for the datapath target (the shape of engine/src/datapath/tests.rs): A protects
//! 192.0.2.0/24 and 2001:db8:1::/64 towards B's 203.0.113.0/24 and 2001:db8:2::/64 over a tunnel between
//! 198.51.100.1 and .2; port 0 is inside, port 1 outside on each.

use crate::esp::SUITES;
use core::net::IpAddr;
use engine::datapath::ether::MacAddr;
use engine::datapath::{Datapath, Interface, Route, Tables};
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::{Mode, NatT, SaParams};
use engine::selector::{IpPrefix, TrafficSelector};
use engine::spd::{PolicyAction, Spd, SpdEntry};
use engine::wire::Spi;
use std::collections::HashMap;
use std::sync::Arc;

/// One gateway's addresses.
pub struct Side {
    pub in_mac: MacAddr,
    pub out_mac: MacAddr,
    pub in_addr: &'static str,
    pub in_addr6: &'static str,
    pub out_addr: &'static str,
    pub out_addr6: &'static str,
    pub host: &'static str,
    pub host_mac: MacAddr,
    pub net: &'static str,
    pub net6: &'static str,
}

pub const SIDE_A: Side = Side {
    in_mac: MacAddr([2, 0, 0, 0, 0xa, 0]),
    out_mac: MacAddr([2, 0, 0, 0, 0xa, 1]),
    in_addr: "192.0.2.1",
    in_addr6: "2001:db8:1::1",
    out_addr: "198.51.100.1",
    out_addr6: "2001:db8:100::1",
    host: "192.0.2.10",
    host_mac: MacAddr([2, 0, 0, 0, 0xc, 1]),
    net: "192.0.2.0",
    net6: "2001:db8:1::",
};

pub const SIDE_B: Side = Side {
    in_mac: MacAddr([2, 0, 0, 0, 0xb, 0]),
    out_mac: MacAddr([2, 0, 0, 0, 0xb, 1]),
    in_addr: "203.0.113.1",
    in_addr6: "2001:db8:2::1",
    out_addr: "198.51.100.2",
    out_addr6: "2001:db8:100::2",
    host: "203.0.113.10",
    host_mac: MacAddr([2, 0, 0, 0, 0xc, 2]),
    net: "203.0.113.0",
    net6: "2001:db8:2::",
};

pub const SPI_A_TO_B: u32 = 0x1000;
pub const SPI_B_TO_A: u32 = 0x2000;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

fn pfx(s: &str, len: u8) -> IpPrefix {
    IpPrefix::new(ip(s), len)
}

/// Gateway `me` facing `peer`, its SAs of suite `suite` (index into [`SUITES`]), optionally NAT-T.
pub fn gateway(me: &Side, peer: &Side, spi_out: u32, spi_in: u32, suite: usize, nat_t: bool) -> Datapath {
    let protect = |src, dst, len| SpdEntry {
        selector: TrafficSelector::prefixes(pfx(src, len), pfx(dst, len)),
        action: PolicyAction::Protect(0),
    };
    let policy = Spd::new(vec![
        protect(me.net, peer.net, 24),
        protect(me.net6, peer.net6, 64),
        SpdEntry {
            selector: TrafficSelector::prefixes(pfx("0.0.0.0", 0), pfx("0.0.0.0", 0)),
            action: PolicyAction::Bypass,
        },
        SpdEntry { selector: TrafficSelector::prefixes(pfx("::", 0), pfx("::", 0)), action: PolicyAction::Discard },
    ]);
    let iface = |name: &str, port, mac, a4, a6, policy| Interface {
        name: name.into(),
        port,
        mac,
        addresses: vec![pfx(a4, 24), pfx(a6, 64)],
        mtu: 1500,
        policy,
    };
    let interfaces = vec![
        iface("inside", 0, me.in_mac, me.in_addr, me.in_addr6, None),
        iface("outside", 1, me.out_mac, me.out_addr, me.out_addr6, Some(0)),
    ];
    let routes = vec![
        Route { prefix: pfx(peer.net, 24), next_hop: Some(ip(peer.out_addr)), port: 1 },
        Route { prefix: pfx(peer.net6, 64), next_hop: Some(ip(peer.out_addr6)), port: 1 },
    ];
    let neighbors = HashMap::from([(ip(peer.out_addr), peer.out_mac), (ip(me.host), me.host_mac)]);
    let tables = Arc::new(Tables::new(interfaces, routes, neighbors, vec![policy]));
    let mut dp = Datapath::new(tables, 16);
    let (e, i) = SUITES[suite % SUITES.len()];
    let ck: Vec<u8> = (0..e.key_len()).map(|n| n as u8 ^ 0x11).collect();
    let ak: Vec<u8> = (0..i.key_len()).map(|n| n as u8 ^ 0x22).collect();
    let tunnel = Mode::Tunnel { local: ip(me.out_addr), remote: ip(peer.out_addr) };
    let mut out = SaParams::new(Spi(spi_out), tunnel, e, &ck, i, &ak);
    let mut inb = SaParams::new(Spi(spi_in), tunnel, e, &ck, i, &ak);
    out.nat_t = nat_t.then(NatT::default);
    inb.nat_t = out.nat_t;
    inb.selector = Some(TrafficSelector::prefixes(pfx(peer.net, 24), pfx(me.net, 24)));
    dp.install_outbound(0, Arc::new(OutboundSa::new(out).expect("fixed outbound SA")));
    dp.install_inbound(InboundSa::new(inb).expect("fixed inbound SA")).expect("room for one SA");
    dp
}

/// A and B.
pub fn pair(suite: usize, nat_t: bool) -> (Datapath, Datapath) {
    (
        gateway(&SIDE_A, &SIDE_B, SPI_A_TO_B, SPI_B_TO_A, suite, nat_t),
        gateway(&SIDE_B, &SIDE_A, SPI_B_TO_A, SPI_A_TO_B, suite, nat_t),
    )
}
