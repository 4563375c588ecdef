//! The forwarding state a worker reads: interfaces, routes, neighbors and the egress policies (SPDs). The control
//! side builds a `Tables` value and publishes it whole; workers never see one half-updated.
use super::ether::MacAddr;
use crate::selector::IpPrefix;
use crate::spd::Spd;
use core::net::IpAddr;
use std::collections::HashMap;

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

/// Routes kept longest prefix first, so the first match is the longest. A linear scan suits the tens of routes of
/// a VPN gateway; a DIR-24-8 table belongs here if route counts grow into the thousands.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| core::cmp::Reverse(r.prefix.len));
        Self { routes }
    }

    /// The longest-prefix route to `dst` and the next hop to resolve (the destination itself when connected).
    pub fn lookup(&self, dst: IpAddr) -> Option<(&Route, IpAddr)> {
        self.routes.iter().find(|r| r.prefix.contains(dst)).map(|r| (r, r.next_hop.unwrap_or(dst)))
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
    pub neighbors: HashMap<IpAddr, MacAddr>,
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
        let nh = |d: &str| t.routes.lookup(d.parse().unwrap()).map(|(_, n)| n.to_string());
        assert_eq!(nh("203.0.113.9").as_deref(), Some("198.51.100.2"));
        assert_eq!(nh("198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(nh("192.0.2.1").as_deref(), Some("198.51.100.254"));
        assert_eq!(nh("2001:db8::1"), None);
        assert!(t.is_local("198.51.100.1".parse().unwrap()));
        assert!(!t.is_local("198.51.100.2".parse().unwrap()));
        assert_eq!(network_of(p("2001:db8:1::5", 64)), p("2001:db8:1::", 64));
    }
}
