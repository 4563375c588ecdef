//! The forwarding state a worker reads: interfaces, routes, neighbors and the egress policies (SPDs). The control
//! side builds a `Tables` value and publishes it whole; workers never see one half-updated.
use super::ether::MacAddr;
use crate::selector::IpPrefix;
use crate::spd::Spd;
use core::net::IpAddr;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// The neighbor table: looked up for every packet sent, so hashed with FxHash rather than SipHash (SipHash was about
/// 1% of a worker's time at 64 B). FxHash is not keyed: the table relies on the control side bounding what on-link
/// senders can make it learn.
pub type Neighbors = FxHashMap<IpAddr, MacAddr>;

/// One gateway port.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub port: u16,
    pub mac: MacAddr,
    /// The gateway's addresses on this port, with their prefix lengths (which also make connected routes).
    pub addresses: Vec<IpPrefix>,
    pub mtu: u16,
    /// Index into [`Tables::policies`] of the crypto map applied to traffic routed out of this port.
    pub policy: Option<usize>,
}

/// A route: traffic to `prefix` leaves through `port`, to `next_hop` (or straight to the destination when the
/// prefix is connected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: IpPrefix,
    pub next_hop: Option<IpAddr>,
    pub port: u16,
}

/// Below this many routes a walk is as fast as the per-length tables, so none are built.
const LINEAR_ROUTES: usize = 8;

/// Routes kept longest prefix first, so the first match is the longest. A gateway has a route per peer, so past a
/// few routes lookup goes through one hash table per prefix length present (in practice a handful: connected
/// networks, peers' hosts, a default), probed longest first: it costs the same with ten routes or a million.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
    v4: Lpm,
    v6: Lpm,
}

/// Per prefix length present, longest first: the mask, and network → index of its first route.
#[derive(Debug, Clone, Default)]
struct Lpm {
    levels: Vec<(u128, FxHashMap<u128, u32>)>,
}

/// An address as a u128 (IPv4 in the low 32 bits), with its family's width.
fn bits_of(a: &IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(*a)), 32),
        IpAddr::V6(a) => (u128::from(*a), 128),
    }
}

impl Lpm {
    fn add(&mut self, len: u8, bits: u8, network: u128, i: u32) {
        let len = len.min(bits);
        let full = if bits == 32 { u128::from(u32::MAX) } else { u128::MAX };
        let mask = if len == 0 { 0 } else { (full << (bits - len)) & full };
        // Routes arrive longest first, so a new length is the shortest so far.
        if self.levels.last().is_none_or(|(m, _)| *m != mask) {
            self.levels.push((mask, FxHashMap::default()));
        }
        if let Some((_, map)) = self.levels.last_mut() {
            map.entry(network & mask).or_insert(i);
        }
    }

    fn lookup(&self, a: u128) -> Option<u32> {
        self.levels.iter().find_map(|(mask, map)| map.get(&(a & mask)).copied())
    }
}

impl Routes {
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| core::cmp::Reverse(r.prefix.len));
        let (mut v4, mut v6) = (Lpm::default(), Lpm::default());
        if routes.len() >= LINEAR_ROUTES {
            // Sorted by the configured length; the tables use it capped to the family's width (as
            // `IpPrefix::contains` does), which keeps the order, and the first route of a network wins.
            for (i, r) in routes.iter().enumerate() {
                let (network, bits) = bits_of(&r.prefix.addr);
                let lpm = if bits == 32 { &mut v4 } else { &mut v6 };
                lpm.add(r.prefix.len, bits, network, i as u32);
            }
        }
        Self { routes, v4, v6 }
    }

    /// The longest-prefix route to `dst` and the next hop to resolve (the destination itself when connected).
    #[inline]
    /// By reference: callers hold the address in a just-parsed header struct, and a by-value copy read it back 8
    /// bytes at a time over its narrower stores (a store-forwarding stall per forwarded packet).
    pub fn lookup(&self, dst: &IpAddr) -> Option<(&Route, IpAddr)> {
        let r = if self.routes.len() < LINEAR_ROUTES {
            self.lookup_linear(dst)?
        } else {
            let (a, bits) = bits_of(dst);
            let i = if bits == 32 { self.v4.lookup(a) } else { self.v6.lookup(a) }?;
            &self.routes[i as usize]
        };
        Some((r, r.next_hop.unwrap_or(*dst)))
    }

    /// The first route whose prefix holds `dst`, by walking them: the definition the tables agree with.
    fn lookup_linear(&self, dst: &IpAddr) -> Option<&Route> {
        self.routes.iter().find(|r| r.prefix.contains_ref(dst))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

/// How many ICMP errors (Fragmentation Needed, Packet Too Big) a worker may generate: a token bucket refilled at
/// `per_second`, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for IcmpLimit {
    fn default() -> Self {
        Self { per_second: super::ICMP_RATE, burst: super::ICMP_BURST }
    }
}

/// Everything a worker needs to forward, published as one immutable value.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Indexed by DPDK port id (ports are numbered densely from 0).
    pub interfaces: Vec<Interface>,
    pub routes: Routes,
    pub neighbors: Neighbors,
    pub policies: Vec<Spd>,
    pub icmp_limit: IcmpLimit,
}

impl Tables {
    /// Builds the tables, adding a connected route for every interface address.
    pub fn new(
        interfaces: Vec<Interface>,
        mut routes: Vec<Route>,
        neighbors: HashMap<IpAddr, MacAddr>,
        policies: Vec<Spd>,
    ) -> Self {
        for i in &interfaces {
            for a in &i.addresses {
                routes.push(Route { prefix: network_of(*a), next_hop: None, port: i.port });
            }
        }
        let neighbors = neighbors.into_iter().collect();
        Self { interfaces, routes: Routes::new(routes), neighbors, policies, icmp_limit: IcmpLimit::default() }
    }

    pub fn interface(&self, port: u16) -> Option<&Interface> {
        self.interfaces.get(usize::from(port))
    }

    /// True if `a` is one of the gateway's own addresses (on any port).
    pub fn is_local(&self, a: IpAddr) -> bool {
        self.interfaces.iter().any(|i| i.addresses.iter().any(|p| p.addr == a))
    }

    pub fn neighbor(&self, a: IpAddr) -> Option<MacAddr> {
        self.neighbors.get(&a).copied()
    }
}

/// The network of an interface address (host bits cleared).
pub fn network_of(p: IpPrefix) -> IpPrefix {
    let addr = match p.addr {
        IpAddr::V4(a) => {
            let len = u32::from(p.len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let len = u32::from(p.len.min(128));
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    IpPrefix::new(addr, p.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, len: u8) -> IpPrefix {
        IpPrefix::new(s.parse().unwrap(), len)
    }

    #[test]
    fn longest_prefix_wins_and_connected_routes_exist() {
        let iface = Interface {
            name: "outside".into(),
            port: 0,
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addresses: vec![p("198.51.100.1", 24)],
            mtu: 1500,
            policy: None,
        };
        let t = Tables::new(
            vec![iface],
            vec![
                Route { prefix: p("0.0.0.0", 0), next_hop: Some("198.51.100.254".parse().unwrap()), port: 0 },
                Route { prefix: p("203.0.113.0", 24), next_hop: Some("198.51.100.2".parse().unwrap()), port: 0 },
            ],
            HashMap::new(),
            vec![],
        );
        let nh = |d: &str| t.routes.lookup(&d.parse().unwrap()).map(|(_, n)| n.to_string());
        assert_eq!(nh("203.0.113.9").as_deref(), Some("198.51.100.2"));
        assert_eq!(nh("198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(nh("192.0.2.1").as_deref(), Some("198.51.100.254"));
        assert_eq!(nh("2001:db8::1"), None);
        assert!(t.is_local("198.51.100.1".parse().unwrap()));
        assert!(!t.is_local("198.51.100.2".parse().unwrap()));
        assert_eq!(network_of(p("2001:db8:1::5", 64)), p("2001:db8:1::", 64));
    }

    fn addr(v6: bool, pick: u16) -> IpAddr {
        let (net, low) = (pick / 32 % 3, (pick % 32) as u8);
        if v6 {
            IpAddr::V6(core::net::Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, 0, u16::from(low)))
        } else {
            let n = [[192, 0, 2], [198, 51, 100], [203, 0, 113]][usize::from(net)];
            IpAddr::V4(core::net::Ipv4Addr::new(n[0], n[1], n[2], low))
        }
    }

    proptest::proptest! {
        /// The per-length tables find the route the walk finds (same route, not only the same prefix), with
        /// duplicates, host bits set, and lengths beyond the family's width.
        #[test]
        fn tables_agree_with_the_walk(
            routes in proptest::collection::vec((proptest::bool::ANY, 0u16..96, 0u8..140, 0u16..8), 0..400),
            dsts in proptest::collection::vec((proptest::bool::ANY, 0u16..96), 100),
        ) {
            let routes: Vec<Route> = routes
                .into_iter()
                .map(|(v6, a, len, port)| Route {
                    prefix: IpPrefix::new(addr(v6, a), if v6 { len } else { len % 41 }),
                    next_hop: None,
                    port,
                })
                .collect();
            let r = Routes::new(routes);
            for (v6, a) in dsts {
                let d = addr(v6, a);
                let found = r.lookup(&d).map(|(x, _)| x as *const Route);
                proptest::prop_assert_eq!(found, r.lookup_linear(&d).map(|x| x as *const Route));
            }
        }
    }
}
