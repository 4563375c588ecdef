//! The IKE responder harness: an endpoint under test, an honest initiator, an optional NAT between them, and the
//! operations a fuzz input (or a seed generator) drives them with.

use crate::Input;
use control::crypto::{IkeCipher, Secret};
use control::ike::{Config, Endpoint, Phase1Proposal, Transmit};
use control::isakmp::{AuthMethod, Cookie, GroupDescription, HashAlgorithm};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub const R_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const I_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Has a PSK on R, but runs no endpoint: only forged datagrams come from it.
pub const ATTACKER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// No PSK on R.
pub const STRANGER_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
/// The NAT's public address when I sits behind one.
pub const NAT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const PSK: &[u8] = b"fuzz-only-psk";
/// Bound on queued datagrams per direction, so a program cannot grow memory without limit.
const MAX_QUEUE: usize = 64;
const MAX_CONNECTS: u32 = 4;
const MAX_HALF_OPEN: usize = 4;

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// R's policies: cheap DH groups first so a run costs little, then a stronger MODP and an ECP group so their
/// parsers are reached too.
fn policies() -> Vec<Phase1Proposal> {
    let p = |cipher, hash, group| Phase1Proposal {
        cipher,
        hash,
        auth: AuthMethod::PRE_SHARED_KEY,
        group,
        lifetime_secs: 3600,
    };
    vec![
        p(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::MODP_768),
        p(IkeCipher::TripleDesCbc, HashAlgorithm::MD5, GroupDescription::MODP_1024),
        p(IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256, GroupDescription::ECP_256),
    ]
}

fn config(nat_traversal: bool, keys: Vec<(IpAddr, Secret)>, aggressive: bool) -> Config {
    Config {
        policies: policies(),
        keys,
        retransmit_interval: Duration::from_secs(1),
        retransmit_tries: 3,
        max_half_open: MAX_HALF_OPEN,
        aggressive_mode: aggressive,
        nat_traversal,
        nat_keepalive: Duration::from_secs(20),
        max_new_per_source_per_sec: control::ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
        rate_limit_sources: control::ike::DEFAULT_RATE_LIMIT_SOURCES,
        max_message_size: control::ike::DEFAULT_MAX_MESSAGE_SIZE,
    }
}

/// One step of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A datagram to R's `port` from source `from` (0..4: I's address, the attacker on 500 and 4500, a stranger).
    Raw {
        from: u8,
        port4500: bool,
        bytes: Vec<u8>,
    },
    /// Like `Raw`, with bytes 0..16 replaced by the cookies of the latest datagram R sent.
    WithCookies {
        from: u8,
        port4500: bool,
        bytes: Vec<u8>,
    },
    Connect {
        aggressive: bool,
    },
    /// Delivers the oldest queued datagram from I to R (or from R to I), optionally flipping one byte, or drops it.
    DeliverToR {
        tamper: Option<(u16, u8)>,
        drop: bool,
    },
    DeliverToI {
        tamper: Option<(u16, u8)>,
        drop: bool,
    },
    /// Delivers the last datagram R received again.
    Duplicate,
    /// Advances time by this many seconds and fires both endpoints' timers.
    Advance(u16),
    /// I sends a DPD probe or a Delete on its latest ISAKMP SA.
    Dpd(u32),
    Delete,
    /// The NAT gives I's flow a new public port.
    Remap(u16),
}

impl Op {
    pub fn decode(inp: &mut Input<'_>) -> Op {
        let op = inp.u8();
        let from = (op >> 4) & 3;
        let port4500 = op & 0x40 != 0;
        let tamper = |inp: &mut Input<'_>| (op & 0x80 != 0).then(|| (inp.u16(), inp.u8() | 1));
        match op & 0xf {
            0 | 1 => Op::Raw { from, port4500, bytes: inp.chunk().to_vec() },
            2 | 3 => Op::WithCookies { from, port4500, bytes: inp.chunk().to_vec() },
            4 => Op::Connect { aggressive: op & 0x10 != 0 },
            5 | 6 => Op::DeliverToR { tamper: tamper(inp), drop: op & 0x20 != 0 && op & 0x10 != 0 },
            7 | 8 => Op::DeliverToI { tamper: tamper(inp), drop: op & 0x20 != 0 && op & 0x10 != 0 },
            9 => Op::Duplicate,
            10 | 11 => Op::Advance(inp.u16()),
            12 => Op::Dpd(inp.u32()),
            13 => Op::Delete,
            14 => Op::Remap(inp.u16()),
            _ => Op::DeliverToR { tamper: None, drop: false },
        }
    }

    /// The inverse of [`Op::decode`], for seed programs.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let fp = |from: u8, p: bool| (from & 3) << 4 | if p { 0x40 } else { 0 };
        let t = |out: &mut Vec<u8>, base: u8, tamper: &Option<(u16, u8)>, drop: bool| {
            out.push(base | if tamper.is_some() { 0x80 } else { 0 } | if drop { 0x30 } else { 0 });
            if let Some((at, x)) = tamper {
                out.extend_from_slice(&at.to_be_bytes());
                out.push(*x);
            }
        };
        match self {
            Op::Raw { from, port4500, bytes } => {
                out.push(fp(*from, *port4500));
                crate::push_chunk(out, bytes);
            }
            Op::WithCookies { from, port4500, bytes } => {
                out.push(2 | fp(*from, *port4500));
                crate::push_chunk(out, bytes);
            }
            Op::Connect { aggressive } => out.push(4 | if *aggressive { 0x10 } else { 0 }),
            Op::DeliverToR { tamper, drop } => t(out, 5, tamper, *drop),
            Op::DeliverToI { tamper, drop } => t(out, 7, tamper, *drop),
            Op::Duplicate => out.push(9),
            Op::Advance(s) => {
                out.push(10);
                out.extend_from_slice(&s.to_be_bytes());
            }
            Op::Dpd(seq) => {
                out.push(12);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Op::Delete => out.push(13),
            Op::Remap(p) => {
                out.push(14);
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
}

/// R, I, the datagrams in flight and simulated time.
pub struct Harness {
    pub r: Endpoint,
    pub i: Endpoint,
    start: Instant,
    now: Instant,
    behind_nat: bool,
    nat_port: u16,
    to_r: VecDeque<Transmit>,
    to_i: VecDeque<Transmit>,
    /// The latest datagram R received: (local, remote, bytes).
    last_to_r: Option<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Cookies of the latest datagram R sent.
    r_cookies: [u8; 16],
    i_cookie: Option<Cookie>,
    connects: u32,
    /// Every ISAKMP datagram delivered to either endpoint, when recording (the seed generator's corpus source).
    pub record: Option<Vec<Vec<u8>>>,
}

impl Harness {
    /// Bit 0: NAT traversal on both sides; bit 1: I behind a NAT; bit 2: R refuses Aggressive Mode.
    pub fn new(cfg: u8) -> Self {
        let nat_t = cfg & 1 != 0;
        let r_keys = vec![
            (IpAddr::V4(I_IP), Secret::from_slice(PSK)),
            (IpAddr::V4(ATTACKER_IP), Secret::from_slice(PSK)),
            (IpAddr::V4(NAT_IP), Secret::from_slice(PSK)),
        ];
        let r = Endpoint::new(config(nat_t, r_keys, cfg & 4 == 0), sa(R_IP, 500)).expect("fixed responder");
        let i_keys = vec![(IpAddr::V4(R_IP), Secret::from_slice(PSK))];
        let i = Endpoint::new(config(nat_t, i_keys, true), sa(I_IP, 500)).expect("fixed initiator");
        let now = Instant::now();
        Harness {
            r,
            i,
            start: now,
            now,
            behind_nat: cfg & 2 != 0,
            nat_port: 40500,
            to_r: VecDeque::new(),
            to_i: VecDeque::new(),
            last_to_r: None,
            r_cookies: [0; 16],
            i_cookie: None,
            connects: 0,
            record: None,
        }
    }

    /// Simulated seconds since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// I's public address as R sees it.
    fn public(&self, from: SocketAddr) -> SocketAddr {
        if self.behind_nat {
            sa(NAT_IP, self.nat_port.wrapping_add(u16::from(from.port() == 4500)))
        } else {
            from
        }
    }

    /// I's own address for a datagram R sent to `to`, if it reaches I.
    fn private(&self, to: SocketAddr) -> Option<SocketAddr> {
        if !self.behind_nat {
            return (to.ip() == IpAddr::V4(I_IP)).then_some(to);
        }
        if to.ip() != IpAddr::V4(NAT_IP) {
            return None;
        }
        match to.port().wrapping_sub(self.nat_port) {
            0 => Some(sa(I_IP, 500)),
            1 => Some(sa(I_IP, 4500)),
            _ => None,
        }
    }

    fn source(from: u8) -> SocketAddr {
        match from {
            0 => sa(I_IP, 500),
            1 => sa(ATTACKER_IP, 500),
            2 => sa(ATTACKER_IP, 4500),
            _ => sa(STRANGER_IP, 500),
        }
    }

    fn keep(&mut self, local: SocketAddr, bytes: &[u8]) {
        if let Some(r) = self.record.as_mut() {
            let at = if local.port() == 4500 { 4.min(bytes.len()) } else { 0 };
            r.push(bytes[at..].to_vec());
        }
    }

    fn deliver_to_r(&mut self, local: SocketAddr, remote: SocketAddr, bytes: Vec<u8>) {
        self.keep(local, &bytes);
        self.r.handle(self.now, local, remote, &bytes);
        self.last_to_r = Some((local, remote, bytes));
    }

    /// Moves what both endpoints want to send into the queues (dropping beyond the bound) and discards events.
    fn collect(&mut self) {
        while let Some(t) = self.r.poll_transmit() {
            if t.contents.len() >= 16 {
                // Behind the non-ESP marker on 4500.
                let at = if t.source.port() == 4500 && t.contents.len() >= 20 { 4 } else { 0 };
                self.r_cookies.copy_from_slice(&t.contents[at..at + 16]);
            }
            if self.to_i.len() < MAX_QUEUE {
                self.to_i.push_back(t);
            }
        }
        while let Some(t) = self.i.poll_transmit() {
            if self.to_r.len() < MAX_QUEUE {
                self.to_r.push_back(t);
            }
        }
        while self.r.poll_event().is_some() {}
        while self.i.poll_event().is_some() {}
    }

    fn tampered(mut bytes: Vec<u8>, tamper: Option<(u16, u8)>) -> Vec<u8> {
        if let (Some((at, x)), false) = (tamper, bytes.is_empty()) {
            let n = bytes.len();
            bytes[usize::from(at) % n] ^= x;
        }
        bytes
    }

    pub fn run(&mut self, op: Op) {
        match op {
            Op::Raw { from, port4500, bytes } => {
                let local = sa(R_IP, if port4500 { 4500 } else { 500 });
                self.deliver_to_r(local, Self::source(from), bytes);
            }
            Op::WithCookies { from, port4500, mut bytes } => {
                let at = if port4500 && bytes.len() >= 20 { 4 } else { 0 };
                if bytes.len() >= at + 16 {
                    bytes[at..at + 16].copy_from_slice(&self.r_cookies);
                }
                let local = sa(R_IP, if port4500 { 4500 } else { 500 });
                self.deliver_to_r(local, Self::source(from), bytes);
            }
            Op::Connect { aggressive } => {
                if self.connects < MAX_CONNECTS {
                    self.connects += 1;
                    let peer = sa(R_IP, 500);
                    let c = if aggressive {
                        self.i.connect_aggressive(self.now, peer)
                    } else {
                        self.i.connect(self.now, peer)
                    };
                    if let Ok(c) = c {
                        self.i_cookie = Some(c);
                    }
                }
            }
            Op::DeliverToR { tamper, drop } => {
                if let Some(t) = self.to_r.pop_front() {
                    if !drop {
                        let remote = self.public(t.source);
                        self.deliver_to_r(t.destination, remote, Self::tampered(t.contents, tamper));
                    }
                }
            }
            Op::DeliverToI { tamper, drop } => {
                if let Some(t) = self.to_i.pop_front() {
                    if let (false, Some(local)) = (drop, self.private(t.destination)) {
                        let bytes = Self::tampered(t.contents, tamper);
                        self.keep(local, &bytes);
                        self.i.handle(self.now, local, t.source, &bytes);
                    }
                }
            }
            Op::Duplicate => {
                if let Some((local, remote, bytes)) = self.last_to_r.clone() {
                    self.r.handle(self.now, local, remote, &bytes);
                }
            }
            Op::Advance(secs) => {
                self.now += Duration::from_secs(u64::from(secs));
                self.r.handle_timeout(self.now);
                self.i.handle_timeout(self.now);
            }
            Op::Dpd(seq) => {
                if let Some(c) = self.i_cookie {
                    let _ = self.i.dpd_probe(&c, seq);
                }
            }
            Op::Delete => {
                if let Some(c) = self.i_cookie {
                    let _ = self.i.delete(&c);
                }
            }
            Op::Remap(port) => self.nat_port = port.max(1024),
        }
        self.collect();
        // Half-open exchanges are bounded; established ones need the PSK, which only I and the attacker's
        // address have, and I connects at most MAX_CONNECTS times.
        let bound = MAX_HALF_OPEN + MAX_CONNECTS as usize + 8;
        assert!(self.r.sa_count() <= bound, "R holds {} ISAKMP SAs", self.r.sa_count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_the_inverse_of_decode() {
        let ops = vec![
            Op::Raw { from: 2, port4500: true, bytes: vec![1, 2, 3] },
            Op::WithCookies { from: 1, port4500: false, bytes: vec![0; 20] },
            Op::Connect { aggressive: true },
            Op::DeliverToR { tamper: Some((300, 5)), drop: false },
            Op::DeliverToI { tamper: None, drop: true },
            Op::Duplicate,
            Op::Advance(4000),
            Op::Dpd(0x0102_0304),
            Op::Delete,
            Op::Remap(50000),
        ];
        let mut bytes = Vec::new();
        for op in &ops {
            op.encode(&mut bytes);
        }
        let mut inp = Input::new(&bytes);
        let decoded: Vec<Op> = ops.iter().map(|_| Op::decode(&mut inp)).collect();
        assert_eq!(decoded, ops);
        assert!(inp.is_empty());
    }

    #[test]
    fn honest_main_mode_establishes_on_the_responder() {
        let mut h = Harness::new(1);
        h.run(Op::Connect { aggressive: false });
        for _ in 0..3 {
            h.run(Op::DeliverToR { tamper: None, drop: false });
            h.run(Op::DeliverToI { tamper: None, drop: false });
        }
        let c = h.i_cookie.expect("connected");
        assert!(h.i.skeyid_d(&c).is_some(), "initiator established");
        assert!(h.r.skeyid_d(&c).is_some(), "responder established");
    }
}
