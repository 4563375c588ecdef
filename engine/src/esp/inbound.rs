//! Inbound ESP: check, verify, decrypt and decapsulate.

use super::{BurstOutcome, Verdict, MAX_BURST};
use crate::buf::PacketBuf;
use crate::crypto::{EspCrypto, EspJob, SoftwareEsp};
use crate::drop::DropReason;
use crate::replay::ReplayWindow;
use crate::sa::{LifetimeState, Mode, SaCounters, SaError, SaParams};
use crate::selector::FlowKey;
use crate::wire::{esp, ipv4, ipv6, udp, IpProtocol};
use core::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An inbound SA. Every worker may open packets of it at once (`&self`), so one tunnel's decryption spreads over
/// lcores as its encryption does: only the replay window is serialised, behind a lock taken twice per burst (to
/// check the burst's sequence numbers before crypto, and to record the authenticated ones after), never per packet
/// and never around crypto. DPDK's lib/ipsec does the same for SAs shared between lcores (`SQN_ATOM`).
pub struct InboundSa {
    params: SaParams,
    crypto: Box<dyn EspCrypto>,
    lengths: super::Lengths,
    replay: Mutex<ReplayWindow>,
    /// Shared so the control thread can read them while the owning lcore counts (see `shared_counters`).
    counters: Arc<SaCounters>,
    lifetime: LifetimeState,
}

impl core::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundSa").field("params", &self.params).field("replay", &self.replay).finish_non_exhaustive()
    }
}

/// Per-packet state between the passes.
#[derive(Clone, Copy, Default)]
struct Prep {
    /// Length of the outer IP header including IPv6 extension headers before ESP (transport mode keeps them).
    ip_hdr_len: usize,
    /// Offset of the SPI.
    esp_off: usize,
    /// Where the protocol of the payload is stored in the outer header (IPv4: 9).
    nh_at: usize,
    seq: u64,
    outer_ecn: u8,
    /// Read after decryption, before the window moves.
    trailer: Trailer,
}

/// The decrypted ESP trailer of one packet, between the window update and decapsulation.
#[derive(Clone, Copy)]
struct Trailer {
    next_header: IpProtocol,
    inner_len: usize,
    pad_total: usize,
}

impl Default for Trailer {
    fn default() -> Self {
        Self { next_header: IpProtocol::IPV6_NO_NEXT, inner_len: 0, pad_total: 0 }
    }
}

impl InboundSa {
    pub fn new(params: SaParams) -> Result<Self, SaError> {
        let crypto = SoftwareEsp::new(params.encryption, &params.cipher_key, params.integrity, &params.auth_key)?;
        Self::with_crypto(params, Box::new(crypto))
    }

    pub fn with_crypto(params: SaParams, crypto: Box<dyn EspCrypto>) -> Result<Self, SaError> {
        if params.spi.0 < 256 {
            return Err(SaError::ReservedSpi(params.spi));
        }
        if let Mode::Tunnel { local, remote } = params.mode {
            if local.is_ipv4() != remote.is_ipv4() {
                return Err(SaError::TunnelFamily(local, remote));
            }
        }
        let replay =
            ReplayWindow::new(params.replay_window, params.esn).ok_or(SaError::ReplayWindow(params.replay_window))?;
        let lengths = super::Lengths::of(&*crypto);
        Ok(Self {
            params,
            crypto,
            lengths,
            replay: Mutex::new(replay),
            counters: Arc::default(),
            lifetime: LifetimeState::default(),
        })
    }

    pub fn params(&self) -> &SaParams {
        &self.params
    }
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }
    /// A handle on the counters that outlives the SA's move to its lcore: `show` reads it from the control thread.
    pub fn shared_counters(&self) -> Arc<SaCounters> {
        self.counters.clone()
    }
    /// A copy of the replay window as it is now.
    pub fn replay_window(&self) -> ReplayWindow {
        self.window().clone()
    }

    /// Reads the SA's own fields that opening reads (parameters, limits, lengths, lifetime, the window's lock), for
    /// [`crate::datapath::Datapath::warm`]; what they point to is read by [`Self::touch_window`] and
    /// [`Self::touch_crypto`], one level later, so a burst's SAs are all read before any of those.
    pub(crate) fn touch(&self) -> u64 {
        let p = &self.params;
        let limits = p.lifetime.soft_bytes ^ p.lifetime.hard_packets ^ p.lifetime.hard_bytes;
        let fields = u64::from(p.spi.0)
            ^ u64::from(p.esn)
            ^ u64::from(p.nat_t.is_some())
            ^ u64::from(p.selector.is_some())
            ^ p.extra_selectors.len() as u64
            ^ u64::from(p.bundle_ah.is_some());
        limits
            ^ fields
            ^ self.lengths.icv as u64
            ^ u64::from(self.lifetime.expired())
            ^ u64::from(self.replay.is_poisoned())
    }

    /// Reads the replay window's top bucket (taking its lock only if it is free) and the counters.
    pub(crate) fn touch_window(&self) -> u64 {
        let w = self.replay.try_lock().map_or(0, |w| w.touch());
        w ^ self.counters.packets.load(Relaxed)
    }

    /// Reads the crypto handler and the start of its keys ([`EspCrypto::touch_keys`]).
    pub(crate) fn touch_crypto(&self) -> u64 {
        self.crypto.touch_keys()
    }

    /// The window, held only for a pass over a burst's sequence numbers. A worker that panicked while holding it
    /// left a consistent bitmap (each update is one store), so poisoning is ignored.
    fn window(&self) -> MutexGuard<'_, ReplayWindow> {
        self.replay.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn is_expired(&self) -> bool {
        self.lifetime.expired()
    }

    /// Applies the time limits: `age_secs` is how long ago the control side installed the SA. A hard limit stops
    /// the SA (further packets are `SaExpired` drops).
    pub fn check_age(&self, age_secs: u64) -> Option<crate::sa::LifetimeEvent> {
        self.lifetime.account_age(self.params.spi, &self.params.lifetime, age_secs)
    }

    /// Unprotects one packet (the data window holds the outer IP packet, whose IPv4 header checksum the caller
    /// has verified).
    pub fn unprotect<B: PacketBuf>(&self, buf: &mut B) -> (Verdict, BurstOutcome) {
        let mut v = [Ok(())];
        let out = self.unprotect_burst(core::slice::from_mut(buf), &mut v);
        (v[0], out)
    }

    /// Unprotects a burst; on success a buffer holds the inner packet (tunnel) or the restored packet (transport).
    pub fn unprotect_burst<B: PacketBuf>(&self, bufs: &mut [B], verdicts: &mut [Verdict]) -> BurstOutcome {
        let mut outcome = BurstOutcome::default();
        let n = bufs.len().min(verdicts.len());
        for (bch, vch) in bufs[..n].chunks_mut(MAX_BURST).zip(verdicts[..n].chunks_mut(MAX_BURST)) {
            self.unprotect_chunk(bch, vch, &mut outcome);
        }
        outcome
    }

    fn unprotect_chunk<B: PacketBuf>(&self, bufs: &mut [B], verdicts: &mut [Verdict], outcome: &mut BurstOutcome) {
        // Sized to the chunk: a full array of MAX_BURST entries cost a 2.5 KB memset per chunk.
        let mut prep: smallvec::SmallVec<[Prep; MAX_BURST]> = smallvec::SmallVec::new();
        for (i, b) in bufs.iter_mut().enumerate() {
            let p = self.prepare(b);
            verdicts[i] = p.map(|_| ());
            prep.push(p.unwrap_or_default());
        }
        {
            // Replays are rejected before any crypto is spent on them.
            let w = self.window();
            for (v, p) in verdicts.iter_mut().zip(prep.iter_mut()) {
                if v.is_ok() {
                    match w.check(p.seq as u32) {
                        Ok(seq) => p.seq = seq,
                        Err(r) => *v = Err(r),
                    }
                }
            }
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
            self.crypto.open_burst(&mut jobs);
            for (job, &i) in jobs.iter().zip(&map) {
                verdicts[usize::from(i)] = job.status;
            }
        }
        for (i, b) in bufs.iter_mut().enumerate() {
            if verdicts[i].is_ok() {
                match self.trailer(b, &prep[i]) {
                    Ok(t) => prep[i].trailer = t,
                    Err(r) => verdicts[i] = Err(r),
                }
            }
        }
        {
            // The packets are authentic: only now may the window move. A sequence number another worker recorded
            // since the check (a duplicate opened on two lcores at once) fails here.
            let mut w = self.window();
            for (v, p) in verdicts.iter_mut().zip(prep.iter()) {
                if v.is_ok() {
                    *v = w.update(p.seq);
                }
            }
        }
        let (mut packets, mut bytes) = (0u64, 0u64);
        for (i, b) in bufs.iter_mut().enumerate() {
            if verdicts[i].is_ok() {
                let len = b.data_len() as u64;
                verdicts[i] = self.finish(b, &prep[i]);
                if verdicts[i].is_ok() {
                    packets += 1;
                    bytes += len;
                }
            }
            if let Err(r) = verdicts[i] {
                self.counters.drops[r.index()].fetch_add(1, Relaxed);
            }
        }
        outcome.ok += packets as usize;
        if packets > 0 {
            // Several workers may count at once: one locked add per burst each.
            let p = self.counters.packets.fetch_add(packets, Relaxed) + packets;
            let by = self.counters.bytes.fetch_add(bytes, Relaxed) + bytes;
            if let Some(e) = self.lifetime.account(self.params.spi, &self.params.lifetime, p, by) {
                outcome.events.push(e);
            }
        }
    }

    /// Locates ESP in the outer packet, checks SPI, lengths and the replay window (before any crypto).
    fn prepare<B: PacketBuf>(&self, buf: &mut B) -> Result<Prep, DropReason> {
        if self.lifetime.expired() {
            return Err(DropReason::SaExpired);
        }
        let data = buf.data();
        let (ip_len, ip_hdr_len, proto, nh_at, outer_ecn) = match data.first().map(|b| b >> 4) {
            Some(4) => {
                // The outer header checksum is the caller's to check (the datapath does it once at ingress, as
                // for every IPv4 packet it receives): the ICV does not cover the outer header either way.
                let p = ipv4::Packet::new_checked(data)?;
                if p.is_fragment() {
                    return Err(DropReason::Fragment);
                }
                (usize::from(p.total_len()), p.header_len(), p.protocol(), 9, p.ecn())
            }
            Some(6) => {
                let p = ipv6::Packet::new_checked(data)?;
                let (off, nh, nh_at) = p.find_upper_layer()?;
                if nh == IpProtocol::IPV6_FRAGMENT {
                    return Err(DropReason::Fragment);
                }
                (ipv6::HEADER_LEN + usize::from(p.payload_len()), off, nh, nh_at, p.ecn())
            }
            _ => return Err(DropReason::Malformed),
        };
        let esp_off = match (proto, self.params.nat_t) {
            (IpProtocol::ESP, _) => ip_hdr_len,
            (IpProtocol::UDP, Some(_)) => {
                let u = udp::Packet::new_checked(&data[ip_hdr_len..ip_len])?;
                // RFC 3948 §2.2: a zero in the SPI position is the non-ESP marker (IKE); a 1-byte 0xff is a
                // NAT keepalive. Neither is ESP.
                if u.payload().len() < esp::HEADER_LEN || u.payload()[..4] == [0, 0, 0, 0] {
                    return Err(DropReason::NotEsp);
                }
                ip_hdr_len + udp::HEADER_LEN
            }
            _ => return Err(DropReason::NotEsp),
        };
        let e = esp::Packet::new_checked(&data[esp_off..ip_len]).map_err(|_| DropReason::BadLength)?;
        if e.spi() != self.params.spi {
            return Err(DropReason::SpiMismatch);
        }
        // The low 32 bits from the wire; the burst's window check makes it the full sequence number.
        let seq = u64::from(e.seq());
        // Link-layer padding after the IP packet is not part of ESP.
        let excess = buf.data_len() - ip_len;
        buf.trim(excess)?;
        Ok(Prep { ip_hdr_len, esp_off, nh_at, seq, outer_ecn, trailer: Trailer::default() })
    }

    /// After the ICV verified and the payload is decrypted: the trailer, checked before the window moves.
    fn trailer<B: PacketBuf>(&self, buf: &B, p: &Prep) -> Result<Trailer, DropReason> {
        let d = buf.data();
        let pt_start = p.esp_off + esp::HEADER_LEN + self.lengths.iv;
        let pt_end = d.len() - self.lengths.icv;
        let t = esp::Trailer::new_checked(&d[pt_start..pt_end]).map_err(|_| DropReason::BadPadding)?;
        if !t.padding_is_default() {
            return Err(DropReason::BadPadding);
        }
        Ok(Trailer {
            next_header: t.next_header(),
            inner_len: t.data_len(),
            pad_total: pt_end - pt_start - t.data_len(),
        })
    }

    /// After the window recorded the packet: decapsulation and the inner selector check.
    fn finish<B: PacketBuf>(&self, buf: &mut B, p: &Prep) -> Result<(), DropReason> {
        let (iv_len, icv_len) = (self.lengths.iv, self.lengths.icv);
        let pt_start = p.esp_off + esp::HEADER_LEN + iv_len;
        let Trailer { next_header, inner_len, pad_total } = p.trailer;
        if next_header == IpProtocol::IPV6_NO_NEXT {
            return Err(DropReason::Dummy);
        }
        buf.trim(pad_total + icv_len)?;
        match self.params.mode {
            Mode::Tunnel { .. } => {
                buf.adj(pt_start)?;
                super::tunnel::decap_tunnel(buf, next_header, p.outer_ecn, inner_len)
            }
            Mode::Transport => {
                super::tunnel::decap_transport(buf, p.ip_hdr_len, p.nh_at, next_header, pt_start - p.ip_hdr_len)
            }
        }?;
        check_selectors(&self.params, buf.data())
    }
}

/// RFC 4301 §5.2 step 4: the decapsulated packet must match one of the SA's selectors.
pub(crate) fn check_selectors(params: &SaParams, packet: &[u8]) -> Result<(), DropReason> {
    if params.selector.is_none() && params.extra_selectors.is_empty() {
        return Ok(());
    }
    let key = FlowKey::from_ip(packet).ok_or(DropReason::Malformed)?;
    // Fragments carry their ports in the first fragment only: those are OPAQUE (see `datapath::policy`).
    let (key, ports_known) = match crate::datapath::policy::v6_fragment_protocol(packet) {
        Some(protocol) => (FlowKey { protocol, ..key }, false),
        None => (key, crate::sa::ports_known(packet)),
    };
    if params.selector_accepts(&key, ports_known) {
        Ok(())
    } else {
        Err(DropReason::PolicyMismatch)
    }
}
