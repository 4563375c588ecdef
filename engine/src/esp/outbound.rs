//! Outbound ESP: encapsulate and encrypt.

use super::tunnel::{write_outer, InnerFacts, OuterV4};
use super::{BurstOutcome, Verdict, MAX_BURST};
use crate::buf::PacketBuf;
use crate::crypto::{EspCrypto, EspJob, SoftwareEsp};
use crate::drop::DropReason;
use crate::sa::{tunnel_next_header, LifetimeEvent, LifetimeState, Mode, SaCounters, SaError, SaParams};
use crate::wire::{esp, ipv4, ipv6, udp, IpProtocol};
use core::net::IpAddr;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// An address's last bytes, for [`OutboundSa::touch`].
fn addr_bits(a: IpAddr) -> u64 {
    match a {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a) as u64,
    }
}

/// The result must fit the 16-bit IPv4 total length (and IPv6 payload length) field.
const MAX_IP_LEN: usize = u16::MAX as usize;

/// An outbound SA: shared by every lcore that protects traffic for it (`&self` methods, atomics inside).
pub struct OutboundSa {
    params: SaParams,
    crypto: Box<dyn EspCrypto>,
    lengths: super::Lengths,
    /// Last sequence number handed out; the next packet gets `seq + 1`.
    seq: AtomicU64,
    counters: SaCounters,
    lifetime: LifetimeState,
    /// The outer header of an IPv4 tunnel, prepared once.
    outer_v4: Option<OuterV4>,
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboundSa").field("params", &self.params).field("seq", &self.seq).finish_non_exhaustive()
    }
}

/// Where the ESP header goes and what the trailer's next header is, per packet.
#[derive(Clone, Copy, Default)]
struct Prep {
    /// Offset of the SPI in the data window.
    esp_off: usize,
    seq: u64,
    /// Bytes of the original packet, for counters.
    in_len: usize,
}

impl OutboundSa {
    /// Installs the SA with the software crypto backend.
    pub fn new(params: SaParams) -> Result<Self, SaError> {
        let crypto = SoftwareEsp::new(params.encryption, &params.cipher_key, params.integrity, &params.auth_key)?;
        Self::with_crypto(params, Box::new(crypto))
    }

    /// Installs the SA with a given crypto handler (e.g. a cryptodev backend).
    pub fn with_crypto(params: SaParams, crypto: Box<dyn EspCrypto>) -> Result<Self, SaError> {
        if params.spi.0 < 256 {
            return Err(SaError::ReservedSpi(params.spi));
        }
        if let Mode::Tunnel { local, remote } = params.mode {
            if local.is_ipv4() != remote.is_ipv4() {
                return Err(SaError::TunnelFamily(local, remote));
            }
        }
        let outer_v4 = match params.mode {
            Mode::Tunnel { local: IpAddr::V4(l), remote: IpAddr::V4(r) } => {
                let proto = if params.nat_t.is_some() { IpProtocol::UDP } else { IpProtocol::ESP };
                Some(OuterV4::new(l, r, proto, params.outer))
            }
            _ => None,
        };
        Ok(Self {
            outer_v4,
            params,
            lengths: super::Lengths::of(&*crypto),
            crypto,
            seq: AtomicU64::new(0),
            counters: SaCounters::default(),
            lifetime: LifetimeState::default(),
        })
    }

    pub fn params(&self) -> &SaParams {
        &self.params
    }
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }
    /// The last sequence number used.
    pub fn last_seq(&self) -> u64 {
        self.seq.load(Relaxed)
    }
    /// Sets the last used sequence number (tests of ESN and overflow; restoring state).
    pub fn set_last_seq(&self, seq: u64) {
        self.seq.store(seq, Relaxed)
    }
    pub fn is_expired(&self) -> bool {
        self.lifetime.expired()
    }

    /// Applies the time limits: `age_secs` is how long ago the control side installed the SA. A hard limit stops
    /// the SA (further packets are `SaExpired` drops).
    pub fn check_age(&self, age_secs: u64) -> Option<crate::sa::LifetimeEvent> {
        self.lifetime.account_age(self.params.spi, &self.params.lifetime, age_secs)
    }

    /// Bytes the encapsulation adds at most in front of the packet (for headroom planning).
    pub fn max_prepend(&self) -> usize {
        let outer = match self.params.mode {
            Mode::Tunnel { local: IpAddr::V4(_), .. } => ipv4::HEADER_LEN,
            Mode::Tunnel { .. } => ipv6::HEADER_LEN,
            Mode::Transport => 0,
        };
        outer + self.nat_len() + esp::HEADER_LEN + self.lengths.iv
    }

    /// Reads the fields a frame's protection touches (parameters, lengths, sequence number, counters, lifetime,
    /// outer header), for [`crate::datapath::Datapath::warm`]: a value to keep the loads from being optimised away.
    /// The crypto handler is a separate step, [`Self::touch_crypto`], so a burst's SAs are all read before any of
    /// the handlers they point to.
    // Each field read here is one protect_burst reads; together they cover every cache line of the SA it touches
    // (a field left out was a miss per packet at a million SAs: the lifetime limits, the SPI, the remote address).
    pub(crate) fn touch(&self) -> u64 {
        let p = &self.params;
        let mode = match p.mode {
            Mode::Tunnel { local, remote } => addr_bits(local) ^ addr_bits(remote),
            Mode::Transport => 1,
        };
        let limits = p.lifetime.soft_bytes ^ p.lifetime.hard_packets ^ p.lifetime.hard_bytes;
        let fields = u64::from(p.spi.0) ^ u64::from(p.esn) ^ u64::from(p.nat_t.is_some()) ^ u64::from(p.outer.ttl);
        let seq = self.seq.load(Relaxed);
        let counters = self.counters.packets.load(Relaxed) ^ self.counters.bytes.load(Relaxed);
        let outer = self.outer_v4.as_ref().map_or(0, |o| o.touch());
        mode ^ limits ^ fields ^ seq ^ counters ^ outer ^ self.lengths.iv as u64 ^ self.lifetime.expired() as u64
    }

    /// Reads the crypto handler and the start of its keys ([`EspCrypto::touch_keys`]).
    pub(crate) fn touch_crypto(&self) -> u64 {
        self.crypto.touch_keys()
    }

    /// Length of the ESP packet this SA makes of an IP packet of `ip_len` bytes (for MTU checks before
    /// protecting: a packet whose result exceeds the egress MTU gets ICMP Fragmentation Needed / Packet Too Big
    /// or is fragmented first, by the caller).
    pub fn encapsulated_len(&self, ip_len: usize, ip_header_len: usize) -> usize {
        let payload = match self.params.mode {
            Mode::Tunnel { .. } => ip_len,
            Mode::Transport => ip_len - ip_header_len.min(ip_len),
        };
        let padded = payload + esp::TRAILER_LEN + self.lengths.pad(payload + esp::TRAILER_LEN);
        let front = match self.params.mode {
            Mode::Tunnel { .. } => self.max_prepend(),
            Mode::Transport => ip_header_len + self.max_prepend(),
        };
        front + padded + self.lengths.icv
    }

    fn nat_len(&self) -> usize {
        if self.params.nat_t.is_some() {
            udp::HEADER_LEN
        } else {
            0
        }
    }

    /// Reserves `n` sequence numbers with one atomic add (as DPDK lib/ipsec does per burst) and returns the
    /// first. Numbers of packets dropped before sealing are skipped, which receivers tolerate.
    fn reserve_seq(&self, n: usize) -> u64 {
        self.seq.fetch_add(n as u64, Relaxed).wrapping_add(1)
    }

    /// The `k`-th reserved number, or `SeqOverflow`: RFC 4303 §3.3.3 forbids wrapping, the SA must be rekeyed.
    fn seq_at(&self, first: u64, k: usize) -> Result<u64, DropReason> {
        let max = if self.params.esn { u64::MAX } else { u64::from(u32::MAX) };
        match first.checked_add(k as u64) {
            Some(seq) if first != 0 && seq <= max => Ok(seq),
            _ => {
                self.seq.store(max, Relaxed);
                Err(DropReason::SeqOverflow)
            }
        }
    }

    /// Protects one packet (the data window holds an IP packet); on success it holds the ESP packet.
    pub fn protect<B: PacketBuf>(&self, buf: &mut B) -> (Verdict, BurstOutcome) {
        let mut v = [Ok(())];
        let out = self.protect_burst(core::slice::from_mut(buf), &mut v);
        (v[0], out)
    }

    /// Protects a burst. `verdicts[i]` receives the result for `bufs[i]`; a dropped packet's buffer is left in an
    /// unspecified state for the caller to free.
    pub fn protect_burst<B: PacketBuf>(&self, bufs: &mut [B], verdicts: &mut [Verdict]) -> BurstOutcome {
        let mut outcome = BurstOutcome::default();
        let n = bufs.len().min(verdicts.len());
        for (bch, vch) in bufs[..n].chunks_mut(MAX_BURST).zip(verdicts[..n].chunks_mut(MAX_BURST)) {
            self.protect_chunk(bch, vch, &mut outcome);
        }
        outcome
    }

    fn protect_chunk<B: PacketBuf>(&self, bufs: &mut [B], verdicts: &mut [Verdict], outcome: &mut BurstOutcome) {
        let mut prep = [Prep::default(); MAX_BURST];
        let first = self.reserve_seq(bufs.len());
        for (i, b) in bufs.iter_mut().enumerate() {
            verdicts[i] = self.encapsulate(b, first, i).map(|p| prep[i] = p);
        }
        {
            // Only the jobs there are get written (a full array of empty jobs cost ~3 ns a packet to build).
            let mut jobs: smallvec::SmallVec<[EspJob<'_>; MAX_BURST]> = smallvec::SmallVec::new();
            let mut map = [0u8; MAX_BURST];
            for (i, b) in bufs.iter_mut().enumerate() {
                if verdicts[i].is_ok() {
                    let off = prep[i].esp_off;
                    map[jobs.len()] = i as u8;
                    jobs.push(EspJob::new(&mut b.data_mut()[off..], (prep[i].seq >> 32) as u32, self.params.esn));
                }
            }
            self.crypto.seal_burst(&mut jobs);
            for (job, &i) in jobs.iter().zip(&map) {
                verdicts[usize::from(i)] = job.status;
            }
        }
        let (mut packets, mut bytes) = (0u64, 0u64);
        for (i, b) in bufs.iter_mut().enumerate() {
            match verdicts[i] {
                Ok(()) => {
                    self.finish(b, prep[i].esp_off);
                    packets += 1;
                    bytes += prep[i].in_len as u64;
                }
                Err(r) => {
                    self.counters.drops[r.index()].fetch_add(1, Relaxed);
                    if r == DropReason::SeqOverflow && self.lifetime.expire() {
                        outcome.events.push(LifetimeEvent::SeqExhausted { spi: self.params.spi });
                    }
                }
            }
        }
        outcome.ok += packets as usize;
        if packets > 0 {
            let p = self.counters.packets.fetch_add(packets, Relaxed) + packets;
            let by = self.counters.bytes.fetch_add(bytes, Relaxed) + bytes;
            if let Some(e) = self.lifetime.account(self.params.spi, &self.params.lifetime, p, by) {
                outcome.events.push(e);
            }
        }
    }

    /// Builds headers, padding and trailer around the packet; returns where the ESP header is.
    fn encapsulate<B: PacketBuf>(&self, buf: &mut B, first_seq: u64, k: usize) -> Result<Prep, DropReason> {
        if self.lifetime.expired() {
            return Err(DropReason::SaExpired);
        }
        let data = buf.data();
        let version = data.first().ok_or(DropReason::Malformed)? >> 4;
        // Inner length from the IP header; bytes beyond it (link padding) are not protected.
        let (ip_len, tos, df) = match version {
            4 => {
                let p = ipv4::Packet::new_checked(data)?;
                (usize::from(p.total_len()), p.tos(), p.dont_frag())
            }
            6 => {
                let p = ipv6::Packet::new_checked(data)?;
                (ipv6::HEADER_LEN + usize::from(p.payload_len()), p.traffic_class(), true)
            }
            _ => return Err(DropReason::Malformed),
        };
        let excess = buf.data_len() - ip_len;
        buf.trim(excess)?;
        let super::Lengths { iv: iv_len, icv: icv_len, .. } = self.lengths;
        let nat = self.nat_len();
        match self.params.mode {
            Mode::Tunnel { local, remote } => {
                let payload = ip_len;
                let pad = self.lengths.pad(payload + esp::TRAILER_LEN);
                let outer_len = if local.is_ipv4() { ipv4::HEADER_LEN } else { ipv6::HEADER_LEN };
                let front = outer_len + nat + esp::HEADER_LEN + iv_len;
                let back = pad + esp::TRAILER_LEN + icv_len;
                if front + payload + back > MAX_IP_LEN {
                    return Err(DropReason::Mtu);
                }
                if buf.headroom() < front || buf.tailroom() < back {
                    return Err(DropReason::NoRoom);
                }
                let seq = self.seq_at(first_seq, k)?;
                buf.prepend(front)?;
                buf.append(back)?;
                let d = buf.data_mut();
                let total = d.len();
                let esp_off = outer_len + nat;
                esp::emit_trailer(&mut d[front + payload..total - icv_len], tunnel_next_header(version));
                self.write_esp_header(&mut d[esp_off..], seq);
                let proto = if nat > 0 { IpProtocol::UDP } else { IpProtocol::ESP };
                // The outer IPv4 ID only has to differ between packets in flight (RFC 6864): the low bits of the
                // sequence number do, without a second atomic per packet.
                let ident = seq as u16;
                let facts = InnerFacts { tos, df };
                match &self.outer_v4 {
                    Some(o) => o.write(d, total - outer_len, facts, ident),
                    None => write_outer(d, local, remote, proto, total - outer_len, &self.params.outer, facts, ident),
                }
                if let Some(n) = self.params.nat_t {
                    udp::Repr {
                        src_port: n.local_port,
                        dst_port: n.remote_port,
                        payload_len: (total - esp_off) as u16,
                    }
                    .emit(&mut udp::Packet::new_unchecked(&mut d[outer_len..]));
                }
                Ok(Prep { esp_off, seq, in_len: ip_len })
            }
            Mode::Transport => {
                // nh_at: the byte holding the protocol of what follows the headers ESP goes after.
                let (hdr_len, proto, nh_at) = match version {
                    4 => {
                        let p = ipv4::Packet::new_unchecked(buf.data());
                        if p.is_fragment() {
                            return Err(DropReason::Fragment);
                        }
                        (p.header_len(), p.protocol(), 9)
                    }
                    _ => {
                        let p = ipv6::Packet::new_unchecked(buf.data());
                        if p.find_upper_layer()?.1 == IpProtocol::IPV6_FRAGMENT {
                            return Err(DropReason::Fragment);
                        }
                        p.ipsec_insert_point()?
                    }
                };
                let payload = ip_len - hdr_len;
                let pad = self.lengths.pad(payload + esp::TRAILER_LEN);
                let ins = nat + esp::HEADER_LEN + iv_len;
                let back = pad + esp::TRAILER_LEN + icv_len;
                if ip_len + ins + back > MAX_IP_LEN {
                    return Err(DropReason::Mtu);
                }
                if buf.headroom() < ins || buf.tailroom() < back {
                    return Err(DropReason::NoRoom);
                }
                let seq = self.seq_at(first_seq, k)?;
                buf.prepend(ins)?;
                buf.append(back)?;
                let d = buf.data_mut();
                let total = d.len();
                // Move the IP header (and IPv6 extension headers before ESP) to the new front.
                d.copy_within(ins..ins + hdr_len, 0);
                esp::emit_trailer(&mut d[hdr_len + ins + payload..total - icv_len], proto);
                self.write_esp_header(&mut d[hdr_len + nat..], seq);
                let new_proto = if nat > 0 { IpProtocol::UDP } else { IpProtocol::ESP };
                if version == 4 {
                    let mut p = ipv4::Packet::new_unchecked(&mut d[..]);
                    p.set_total_len(total as u16);
                    p.set_protocol(new_proto);
                    p.fill_checksum();
                } else {
                    d[nh_at] = new_proto.0;
                    ipv6::Packet::new_unchecked(&mut d[..]).set_payload_len((total - ipv6::HEADER_LEN) as u16);
                }
                if let Some(n) = self.params.nat_t {
                    udp::Repr {
                        src_port: n.local_port,
                        dst_port: n.remote_port,
                        payload_len: (total - hdr_len - nat) as u16,
                    }
                    .emit(&mut udp::Packet::new_unchecked(&mut d[hdr_len..]));
                }
                Ok(Prep { esp_off: hdr_len + nat, seq, in_len: ip_len })
            }
        }
    }

    fn write_esp_header(&self, d: &mut [u8], seq: u64) {
        esp::Repr { spi: self.params.spi, seq: seq as u32 }.emit(&mut esp::Packet::new_unchecked(d));
    }

    /// After sealing: the UDP checksum over IPv6 (mandatory there; over IPv4 NAT-T sends zero, RFC 3948 §2.1).
    fn finish<B: PacketBuf>(&self, buf: &mut B, esp_off: usize) {
        if self.params.nat_t.is_none() {
            return;
        }
        let d = buf.data_mut();
        if d[0] >> 4 == 6 {
            let p = ipv6::Packet::new_unchecked(&d[..]);
            let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
            let udp_off = esp_off - udp::HEADER_LEN;
            udp::Packet::new_unchecked(&mut d[udp_off..]).fill_checksum(src, dst);
        }
    }
}
