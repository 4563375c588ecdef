//! SA-to-lcore affinity for inbound AH SAs: which worker owns an SPI, a cheap classifier that finds the AH SPI of a
//! received frame, and the bounded inboxes over which a worker hands a frame to the owner of its SA.
//!
//! Inbound ESP SAs are shared by every worker (their replay window is locked per burst, see
//! [`crate::esp::InboundSa`]). AH is rare, so an AH SA keeps a single owner whose window is plain memory: the worker
//! that received an AH frame looks at the SPI before anything else and, if the SA is another worker's, pushes the
//! mbuf onto that worker's inbox. The owner processes its inbox in its poll loop like received frames. A full inbox
//! is a counted drop, never a wait.
//!
//! The owner is `spi % workers`: SPIs are chosen by this gateway, so the control side can spread them evenly (and
//! sequential SPIs already go round-robin). An ESP+AH bundle's packets are opened on the AH SA's owner, which goes
//! on into the (shared) ESP SA.
use crate::datapath::ether;
use crate::dpdk::Mbuf;
use crate::sa::SaParams;
use crate::wire::{ipv4, ipv6, IpProtocol, Spi};
use crossbeam_queue::ArrayQueue;

/// The worker that owns inbound SA `spi` among `workers` workers.
#[inline]
pub fn owner(spi: Spi, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    (spi.0 as usize) % workers
}

/// The worker an inbound AH SA must be installed on.
pub fn ah_owner(params: &SaParams, workers: usize) -> usize {
    owner(params.spi, workers)
}

/// The SPI that decides which worker processes a received Ethernet frame: that of AH directly over IPv4 or IPv6
/// (after the extension headers the datapath also skips). `None` for everything else (ESP included: any worker
/// opens it), fragments included (they are never unprotected on the fast path), and for frames too short to hold
/// the SPI: those are processed where they arrived.
pub fn ah_spi(frame: &[u8]) -> Option<Spi> {
    let eth = ether::parse(frame)?;
    let ip = &frame[ether::HEADER_LEN..];
    let (protocol, l4) = match eth.ethertype {
        ether::EtherType::IPV4 => {
            let v = ipv4::Packet::new_checked(ip).ok()?;
            if v.is_fragment() {
                return None;
            }
            (v.protocol(), ip.get(v.header_len()..)?)
        }
        ether::EtherType::IPV6 => {
            let v = ipv6::Packet::new_checked(ip).ok()?;
            let (off, protocol, _) = v.find_upper_layer().ok()?;
            (protocol, ip.get(off..)?)
        }
        _ => return None,
    };
    if protocol != IpProtocol::AH {
        return None;
    }
    // The SPI follows AH's next header, payload length and reserved fields.
    let s = l4.get(4..8)?;
    let spi = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
    (spi != 0).then_some(Spi(spi))
}

/// A frame handed from the worker that received it to the owner of its SA.
pub struct Handed {
    /// The port it arrived on.
    pub port: u16,
    pub mbuf: Mbuf,
}

/// One bounded inbox per worker, shared by all of them: any worker pushes, only the owner pops.
pub struct Handoff {
    inboxes: Box<[ArrayQueue<Handed>]>,
}

impl core::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Handoff").field("workers", &self.inboxes.len()).finish_non_exhaustive()
    }
}

impl Handoff {
    /// Inboxes for `workers` workers (at least one), each holding `capacity` frames (at least one).
    pub fn new(workers: usize, capacity: usize) -> Self {
        Self { inboxes: (0..workers.max(1)).map(|_| ArrayQueue::new(capacity.max(1))).collect() }
    }

    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }

    /// Puts `h` on worker `to`'s inbox; gives it back if the inbox is full (or there is no such worker).
    pub fn send(&self, to: usize, h: Handed) -> Result<(), Handed> {
        match self.inboxes.get(to) {
            Some(q) => q.push(h),
            None => Err(h),
        }
    }

    /// The next frame handed to worker `me`.
    pub fn recv(&self, me: usize) -> Option<Handed> {
        self.inboxes.get(me)?.pop()
    }

    /// Frames waiting for worker `me`.
    pub fn pending(&self, me: usize) -> usize {
        self.inboxes.get(me).map_or(0, ArrayQueue::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
    use crate::sa::Mode;

    fn eth(ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(ip);
        f
    }

    fn v4(protocol: u8, l4: &[u8], frag: u16) -> Vec<u8> {
        let total = (20 + l4.len()) as u16;
        let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0, 198, 51, 100, 2, 198, 51, 100, 1];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(l4);
        eth(0x0800, &h)
    }

    fn v6(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0, 0, 0, next, 64];
        h[4..6].copy_from_slice(&(rest.len() as u16).to_be_bytes());
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(rest);
        eth(0x86dd, &h)
    }

    fn esp(spi: u32) -> Vec<u8> {
        let mut b = spi.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
        b
    }

    fn ah(spi: u32) -> Vec<u8> {
        let mut b = vec![50, 4, 0, 0];
        b.extend_from_slice(&spi.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        b
    }

    fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x11, 0x94];
        b.extend_from_slice(&dport.to_be_bytes());
        b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn finds_the_spi_of_ah() {
        assert_eq!(ah_spi(&v4(51, &ah(0x0000_2001), 0)), Some(Spi(0x2001)));
        assert_eq!(ah_spi(&v6(51, &ah(8))), Some(Spi(8)));
        // AH behind a Hop-by-Hop and a Destination Options header.
        let mut ext = vec![60, 0, 5, 2, 0, 0, 1, 0, 51, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&ah(0xabc));
        assert_eq!(ah_spi(&v6(0, &ext)), Some(Spi(0xabc)));
    }

    #[test]
    fn everything_else_stays_where_it_arrived() {
        // ESP (any worker opens it), in UDP 4500 too; IKE, a NAT-T keepalive, TCP, ICMP, ARP.
        assert_eq!(ah_spi(&v4(50, &esp(0x1234_5678), 0)), None);
        assert_eq!(ah_spi(&v6(50, &esp(7))), None);
        assert_eq!(ah_spi(&v4(17, &udp(4500, &esp(0x99)), 0)), None);
        assert_eq!(ah_spi(&v4(17, &udp(500, &esp(5)), 0)), None);
        assert_eq!(ah_spi(&v4(17, &udp(4500, &[0xff]), 0)), None);
        assert_eq!(ah_spi(&v4(6, &[0; 20], 0)), None);
        assert_eq!(ah_spi(&v4(1, &[8, 0, 0, 0, 0, 0, 0, 0], 0)), None);
        assert_eq!(ah_spi(&eth(0x0806, &[0; 28])), None);
        // Fragments of AH (first and later), a v6 fragment header, SPI 0, truncated headers.
        assert_eq!(ah_spi(&v4(51, &ah(5), 0x2000)), None);
        assert_eq!(ah_spi(&v4(51, &ah(5), 0x0010)), None);
        let mut frag = vec![51, 0, 0, 1, 0, 0, 0, 9];
        frag.extend_from_slice(&ah(5));
        assert_eq!(ah_spi(&v6(44, &frag)), None);
        assert_eq!(ah_spi(&v4(51, &ah(0), 0)), None);
        assert_eq!(ah_spi(&v4(51, &[50, 4, 0, 0, 0, 0], 0)), None);
        let whole = v4(51, &ah(5), 0);
        for cut in 0..whole.len() {
            // Never a panic, and no SPI from a frame cut before the SPI ends.
            let spi = ah_spi(&whole[..cut]);
            assert!(spi.is_none() || cut >= 14 + 20 + 8, "cut {cut}");
        }
        assert_eq!(ah_spi(&[]), None);
    }

    #[test]
    fn owners_spread_spis() {
        assert_eq!(owner(Spi(0x1001), 1), 0);
        assert_eq!(owner(Spi(0x1001), 2), 1);
        assert_eq!(owner(Spi(0x1002), 2), 0);
        let counts = (1..=3000u32).fold([0usize; 3], |mut c, s| {
            c[owner(Spi(s), 3)] += 1;
            c
        });
        assert_eq!(counts, [1000, 1000, 1000]);
        let a = SaParams::new(Spi(0x2101), Mode::Transport, E::Null, &[], I::HmacSha1_96, &[3; 20]);
        assert_eq!(ah_owner(&a, 2), 1);
    }
}
