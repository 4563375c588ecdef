//! The gateway's own presence on its ports, sans-IO: it answers ARP and ping for its addresses, learns neighbors
//! from ARP, and resolves next hops for packets the workers could not send (holding a few per next hop meanwhile).
//! Frames come in as bytes with the port they arrived on; frames to send go out the same way. The master copy of the
//! forwarding [`Tables`] lives here, and [`Host::take_changed_tables`] hands a new snapshot to publish.
use engine::datapath::ether::{self, Arp, ArpOp, EtherType, MacAddr};
use engine::datapath::{PuntKind, Tables};
use engine::wire::checksum;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

mod nd;
pub use nd::solicited_node;

/// Packets held per unresolved next hop; older ones are dropped first.
const HOLD_PER_NEXT_HOP: usize = 8;
/// Learned neighbors are forgotten after this many seconds without being refreshed (static ones never).
pub const NEIGHBOR_TIMEOUT_SECS: u64 = 300;
/// An unanswered resolution is retried after this many seconds.
const RESOLVE_RETRY_SECS: u64 = 1;
/// Requests sent for a next hop before it is given up and its held packets dropped (Linux's `mcast_solicit`).
const RESOLVE_TRIES: u8 = 3;
/// Next hops being resolved at once. A flood towards many unresolvable on-link hosts must not grow the table, the
/// held packets and the ARP requests without bound (Linux's `gc_thresh3` default is 1024 too).
pub const MAX_PENDING: usize = 1024;
/// Learned neighbors. On-link hosts choose their source addresses: without a bound, one host cycling through a
/// large connected prefix would grow the table the workers copy on every change.
pub const MAX_LEARNED: usize = 16384;

/// A frame to transmit on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub port: u16,
    pub bytes: Vec<u8>,
}

/// Counters of what the host did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// ARP replies and IPv6 Neighbor Advertisements.
    pub arp_replies_sent: u64,
    /// ARP requests and IPv6 Neighbor Solicitations.
    pub arp_requests_sent: u64,
    pub neighbors_learned: u64,
    pub echo_replies_sent: u64,
    pub held: u64,
    /// Held packets dropped: the hold queue of a next hop was full, too many next hops were being resolved, or a
    /// next hop did not answer.
    pub hold_dropped: u64,
    /// Neighbors not learned because the table was full of learned entries.
    pub neighbors_refused: u64,
    /// Punted frames nothing here handles (malformed ARP, ICMP that is not an echo request, ...).
    pub ignored: u64,
}

struct Pending {
    port: u16,
    packets: VecDeque<Vec<u8>>,
    last_request: u64,
    /// Requests sent so far.
    tries: u8,
}

impl Pending {
    /// A next hop whose first request goes out now.
    fn new(port: u16, now: u64) -> Self {
        Self { port, packets: VecDeque::new(), last_request: now, tries: 1 }
    }
}

pub struct Host {
    tables: Tables,
    /// Learned entries with the time they were last confirmed; static entries are in `tables` but not here.
    learned: HashMap<IpAddr, u64>,
    pending: HashMap<IpAddr, Pending>,
    changed: bool,
    /// `(learned, pending)` bounds: [`MAX_LEARNED`], [`MAX_PENDING`] unless set by [`Host::with_limits`].
    limits: (usize, usize),
    pub stats: HostStats,
}

impl Host {
    pub fn new(tables: Tables) -> Self {
        Self::with_limits(tables, MAX_LEARNED, MAX_PENDING)
    }

    /// A host whose tables hold at most `max_learned` learned neighbors and `max_pending` next hops being resolved.
    pub fn with_limits(tables: Tables, max_learned: usize, max_pending: usize) -> Self {
        Self {
            tables,
            learned: HashMap::new(),
            pending: HashMap::new(),
            changed: false,
            limits: (max_learned, max_pending),
            stats: HostStats::default(),
        }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// New tables from a reloaded config: the neighbors learned so far stay (static ones come from the new config).
    /// Returns the tables to publish to the workers.
    pub fn replace_tables(&mut self, mut tables: Tables) -> Tables {
        for ip in self.learned.keys() {
            if let (Some(mac), false) = (self.tables.neighbors.get(ip), tables.neighbors.contains_key(ip)) {
                tables.neighbors.insert(*ip, *mac);
            }
        }
        self.tables = tables;
        self.changed = false;
        self.tables.clone()
    }

    /// The tables, if neighbors changed since the last call: the caller publishes them to the workers.
    pub fn take_changed_tables(&mut self) -> Option<Tables> {
        std::mem::take(&mut self.changed).then(|| self.tables.clone())
    }

    /// Handles one punted frame (for `Resolve`, `frame` is the IP packet without an Ethernet header).
    pub fn handle(&mut self, port: u16, kind: PuntKind, frame: &[u8], now: u64) -> Vec<Frame> {
        match kind {
            PuntKind::Arp => self.arp(port, frame, now),
            PuntKind::Icmp => self.icmp(port, frame, now),
            PuntKind::Resolve { port, next_hop } => self.resolve(port, next_hop, frame, now),
            PuntKind::Ike | PuntKind::NatKeepalive | PuntKind::Acquire { .. } => {
                self.stats.ignored += 1;
                Vec::new()
            }
        }
    }

    /// Expires learned neighbors and retries pending resolutions.
    pub fn tick(&mut self, now: u64) -> Vec<Frame> {
        let stale: Vec<IpAddr> = self
            .learned
            .iter()
            .filter(|(_, &t)| now.saturating_sub(t) > NEIGHBOR_TIMEOUT_SECS)
            .map(|(a, _)| *a)
            .collect();
        for a in stale {
            self.learned.remove(&a);
            self.tables.neighbors.remove(&a);
            self.changed = true;
        }
        let mut out = Vec::new();
        let due = |p: &Pending| now.saturating_sub(p.last_request) >= RESOLVE_RETRY_SECS;
        // Unanswered after every try: the next hop is given up, with what was held for it.
        let mut dropped = 0u64;
        self.pending.retain(|_, p| {
            let keep = !(due(p) && p.tries >= RESOLVE_TRIES);
            if !keep {
                dropped += p.packets.len() as u64;
            }
            keep
        });
        self.stats.hold_dropped += dropped;
        let retry: Vec<(IpAddr, u16)> =
            self.pending.iter().filter(|(_, p)| due(p)).map(|(a, p)| (*a, p.port)).collect();
        for (a, port) in retry {
            if let Some(f) = self.arp_request(port, a) {
                out.push(f);
            }
            if let Some(p) = self.pending.get_mut(&a) {
                p.last_request = now;
                p.tries = p.tries.saturating_add(1);
            }
        }
        out
    }

    fn our_mac(&self, port: u16) -> Option<MacAddr> {
        self.tables.interface(port).map(|i| i.mac)
    }

    fn our_v4_on(&self, port: u16, near: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let i = self.tables.interface(port)?;
        let v4 = |p: &engine::selector::IpPrefix| match p.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        };
        near.and_then(|n| i.addresses.iter().find(|p| p.contains(IpAddr::V4(n))).and_then(v4))
            .or_else(|| i.addresses.iter().find_map(v4))
    }

    fn arp(&mut self, port: u16, frame: &[u8], now: u64) -> Vec<Frame> {
        let Some(arp) = frame.get(ether::HEADER_LEN..).and_then(Arp::parse) else {
            self.stats.ignored += 1;
            return Vec::new();
        };
        let Some(iface) = self.tables.interface(port) else { return Vec::new() };
        let our_mac = iface.mac;
        let for_us = iface.addresses.iter().any(|p| p.addr == IpAddr::V4(arp.target_ip));
        let sender_connected = iface.addresses.iter().any(|p| p.contains(IpAddr::V4(arp.sender_ip)));
        let mut out = Vec::new();
        // RFC 826: update an entry we have; create one when the request is for us. Only on-link senders count.
        let sender = IpAddr::V4(arp.sender_ip);
        if sender_connected
            && !arp.sender_mac.is_multicast()
            && (for_us || self.learned.contains_key(&sender) || self.pending.contains_key(&sender))
        {
            out.extend(self.learn(sender, arp.sender_mac, now));
        }
        if arp.op == ArpOp::Request && for_us {
            let reply = Arp {
                op: ArpOp::Reply,
                sender_mac: our_mac,
                sender_ip: arp.target_ip,
                target_mac: arp.sender_mac,
                target_ip: arp.sender_ip,
            };
            out.push(arp_frame(port, arp.sender_mac, our_mac, &reply));
            self.stats.arp_replies_sent += 1;
        }
        out
    }

    /// Records a neighbor and releases the packets held for it.
    fn learn(&mut self, ip: IpAddr, mac: MacAddr, now: u64) -> Vec<Frame> {
        // A static entry is the operator's word: never overwritten by what the wire says.
        let is_static = self.tables.neighbors.contains_key(&ip) && !self.learned.contains_key(&ip);
        if !is_static && !self.learned.contains_key(&ip) && self.learned.len() >= self.limits.0 {
            if !self.pending.contains_key(&ip) {
                // Unsolicited (a request for us from a new sender): not worth an entry of a full table.
                self.stats.neighbors_refused += 1;
                return Vec::new();
            }
            // A next hop we asked for: it replaces the entry confirmed longest ago.
            if let Some(oldest) = self.learned.iter().min_by_key(|(_, &t)| t).map(|(a, _)| *a) {
                self.learned.remove(&oldest);
                self.tables.neighbors.remove(&oldest);
            }
        }
        if !is_static {
            if self.tables.neighbors.insert(ip, mac) != Some(mac) {
                self.changed = true;
                self.stats.neighbors_learned += 1;
            }
            self.learned.insert(ip, now);
        }
        let mac = self.tables.neighbors.get(&ip).copied().unwrap_or(mac);
        let Some(p) = self.pending.remove(&ip) else { return Vec::new() };
        let src = self.our_mac(p.port).unwrap_or(MacAddr::ZERO);
        p.packets
            .into_iter()
            .map(|pkt| {
                let et = if pkt.first().map(|b| b >> 4) == Some(6) { EtherType::IPV6 } else { EtherType::IPV4 };
                let mut f = vec![0u8; ether::HEADER_LEN + pkt.len()];
                ether::emit(&mut f, mac, src, et);
                f[ether::HEADER_LEN..].copy_from_slice(&pkt);
                Frame { port: p.port, bytes: f }
            })
            .collect()
    }

    fn resolve(&mut self, port: u16, next_hop: IpAddr, packet: &[u8], now: u64) -> Vec<Frame> {
        if let Some(mac) = self.tables.neighbors.get(&next_hop).copied() {
            // Resolved since the worker looked: send it straight away.
            let p = self.pending.entry(next_hop).or_insert_with(|| Pending::new(port, now));
            p.packets.push_back(packet.to_vec());
            return self.learn(next_hop, mac, now);
        }
        let new = !self.pending.contains_key(&next_hop);
        if new && self.pending.len() >= self.limits.1 {
            self.stats.hold_dropped += 1;
            return Vec::new();
        }
        let p = self.pending.entry(next_hop).or_insert_with(|| Pending::new(port, now));
        if p.packets.len() == HOLD_PER_NEXT_HOP {
            p.packets.pop_front();
            self.stats.hold_dropped += 1;
        }
        p.packets.push_back(packet.to_vec());
        self.stats.held += 1;
        if new {
            return self.arp_request(port, next_hop).into_iter().collect();
        }
        Vec::new()
    }

    fn arp_request(&mut self, port: u16, target: IpAddr) -> Option<Frame> {
        let t = match target {
            IpAddr::V4(t) => t,
            IpAddr::V6(t) => return self.neighbor_solicitation(port, t),
        };
        let mac = self.our_mac(port)?;
        let ip = self.our_v4_on(port, Some(t))?;
        let req = Arp { op: ArpOp::Request, sender_mac: mac, sender_ip: ip, target_mac: MacAddr::ZERO, target_ip: t };
        self.stats.arp_requests_sent += 1;
        Some(arp_frame(port, MacAddr::BROADCAST, mac, &req))
    }

    /// ICMP to one of our addresses (IPv4 echo; ICMPv6 echo and Neighbor Discovery).
    fn icmp(&mut self, port: u16, frame: &[u8], now: u64) -> Vec<Frame> {
        if ether::parse(frame).is_some_and(|e| e.ethertype == EtherType::IPV6) {
            return self.icmpv6(port, frame, now).unwrap_or_else(|| {
                self.stats.ignored += 1;
                Vec::new()
            });
        }
        match echo_reply(frame, self.our_mac(port)) {
            Some(bytes) => {
                self.stats.echo_replies_sent += 1;
                vec![Frame { port, bytes }]
            }
            None => {
                self.stats.ignored += 1;
                Vec::new()
            }
        }
    }
}

fn arp_frame(port: u16, dst: MacAddr, src: MacAddr, arp: &Arp) -> Frame {
    // 60 bytes: the Ethernet minimum without FCS.
    let mut f = vec![0u8; 60];
    ether::emit(&mut f, dst, src, EtherType::ARP);
    arp.emit(&mut f[ether::HEADER_LEN..]);
    Frame { port, bytes: f }
}

/// Builds the echo reply to an IPv4 ICMP echo request frame, or `None` if it is not a valid one.
fn echo_reply(frame: &[u8], our_mac: Option<MacAddr>) -> Option<Vec<u8>> {
    let eth = ether::parse(frame)?;
    if eth.ethertype != EtherType::IPV4 {
        return None;
    }
    let ip = &frame[ether::HEADER_LEN..];
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if ip[0] >> 4 != 4 || ihl < 20 || total < ihl + 8 || total > ip.len() || checksum::checksum(&ip[..ihl]) != 0 {
        return None;
    }
    // Fragmented echo requests are not reassembled here.
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 || ip[9] != 1 {
        return None;
    }
    let icmp = &ip[ihl..total];
    if icmp[0] != 8 || icmp[1] != 0 || checksum::checksum(icmp) != 0 {
        return None;
    }
    let mut out = vec![0u8; ether::HEADER_LEN + total];
    ether::emit(&mut out, eth.src, our_mac.unwrap_or(eth.dst), EtherType::IPV4);
    let r = &mut out[ether::HEADER_LEN..];
    r[..total].copy_from_slice(&ip[..total]);
    r[8] = 64;
    // Swap addresses; the header checksum is recomputed over the new header.
    r[12..16].copy_from_slice(&ip[16..20]);
    r[16..20].copy_from_slice(&ip[12..16]);
    r[10..12].fill(0);
    let c = checksum::checksum(&r[..ihl]);
    r[10..12].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut r[ihl..total];
    icmp[0] = 0;
    icmp[2..4].fill(0);
    let c = checksum::checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests;
