//! Authentication Header (RFC 4302): outbound and inbound, tunnel and transport, IPv4 and IPv6, with the same
//! integrity algorithms as ESP, sequence numbers, ESN and the anti-replay window. The ICV covers the whole IP packet
//! with the fields that change in transit zeroed ([`mutable`]); AH has no NAT-T (NAT breaks it by design).
//!
//! Sequence state is owned like ESP's (see [`crate::sa`]): outbound atomics, inbound `&mut self` on one lcore.

mod mutable;

use crate::buf::PacketBuf;
use crate::crypto::{CryptoError, Integrity, IntegrityAlgorithm};
use crate::drop::DropReason;
use crate::esp::tunnel::{decap_transport, decap_tunnel, write_outer, InnerFacts};
use crate::esp::{BurstOutcome, Verdict};
use crate::replay::ReplayWindow;
use crate::sa::{tunnel_next_header, LifetimeEvent, LifetimeState, Mode, SaCounters, SaError, SaParams};
use crate::wire::{ah, ipv4, ipv6, IpProtocol};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Largest IP header plus extension headers before AH that the ICV computation saves on the stack.
const MAX_HDR: usize = 256;
/// Largest AH ICV field (SHA-512-256: 32 bytes plus IPv6 alignment).
const MAX_ICV_FIELD: usize = 40;

/// The AH ICV field length: ICV padded so the header is a multiple of 4 bytes (IPv4) or 8 bytes (IPv6).
fn icv_field_len(icv_len: usize, ipv6: bool) -> usize {
    let align = if ipv6 { 8 } else { 4 };
    (ah::FIXED_LEN + icv_len).div_ceil(align) * align - ah::FIXED_LEN
}

fn build_integrity(p: &SaParams) -> Result<Integrity, SaError> {
    if p.integrity == IntegrityAlgorithm::None {
        return Err(SaError::Crypto(CryptoError::NullNull));
    }
    if p.spi.0 < 256 {
        return Err(SaError::ReservedSpi(p.spi));
    }
    if let Mode::Tunnel { local, remote } = p.mode {
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(SaError::TunnelFamily(local, remote));
        }
    }
    Ok(Integrity::new(p.integrity, &p.auth_key)?)
}

/// Computes the full HMAC over `pkt` with mutable fields and the ICV field zeroed (restoring them afterwards).
/// `ah_off`: where AH starts (= length of the IP header and extension headers before it).
fn compute_icv(
    integ: &Integrity,
    pkt: &mut [u8],
    ah_off: usize,
    icv_field: usize,
    esn_hi: Option<u32>,
    out: &mut [u8; 64],
) -> Result<(), DropReason> {
    if ah_off > MAX_HDR || icv_field > MAX_ICV_FIELD {
        return Err(DropReason::AhMalformed);
    }
    let icv_at = ah_off + ah::FIXED_LEN;
    let (mut saved_hdr, mut saved_icv) = ([0u8; MAX_HDR], [0u8; MAX_ICV_FIELD]);
    saved_hdr[..ah_off].copy_from_slice(&pkt[..ah_off]);
    saved_icv[..icv_field].copy_from_slice(&pkt[icv_at..icv_at + icv_field]);
    pkt[icv_at..icv_at + icv_field].fill(0);
    let zeroed = if pkt[0] >> 4 == 4 { mutable::zero_v4(&mut pkt[..ah_off]) } else { mutable::zero_v6(pkt, ah_off) };
    if zeroed.is_ok() {
        let hi = esn_hi.map(u32::to_be_bytes);
        let esn: &[u8] = hi.as_ref().map_or(&[], |h| &h[..]);
        integ.full_mac(&[pkt, esn], out);
    }
    pkt[..ah_off].copy_from_slice(&saved_hdr[..ah_off]);
    pkt[icv_at..icv_at + icv_field].copy_from_slice(&saved_icv[..icv_field]);
    zeroed
}

/// An outbound AH SA (shared by lcores).
pub struct OutboundAh {
    params: SaParams,
    integ: Integrity,
    seq: AtomicU64,
    ident: AtomicU32,
    counters: SaCounters,
    lifetime: LifetimeState,
}

impl OutboundAh {
    /// Uses `integrity`, `auth_key`, `mode`, `esn`, `outer` and `lifetime` of the params; encryption is ignored.
    pub fn new(params: SaParams) -> Result<Self, SaError> {
        let integ = build_integrity(&params)?;
        Ok(Self {
            params,
            integ,
            seq: AtomicU64::new(0),
            ident: AtomicU32::new(0),
            counters: SaCounters::default(),
            lifetime: LifetimeState::default(),
        })
    }
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }
    pub fn params(&self) -> &SaParams {
        &self.params
    }
    pub fn is_expired(&self) -> bool {
        self.lifetime.expired()
    }

    /// Length of the AH packet this SA makes of an IP packet of `ip_len` bytes (`ipv6`: the packet's family,
    /// which decides the ICV padding in transport mode), for MTU checks before protecting.
    pub fn encapsulated_len(&self, ip_len: usize, ipv6: bool) -> usize {
        let icv = self.integ.icv_len();
        match self.params.mode {
            Mode::Tunnel { local, .. } => {
                let outer = if local.is_ipv4() { ipv4::HEADER_LEN } else { ipv6::HEADER_LEN };
                outer + ah::FIXED_LEN + icv_field_len(icv, !local.is_ipv4()) + ip_len
            }
            Mode::Transport => ah::FIXED_LEN + icv_field_len(icv, ipv6) + ip_len,
        }
    }

    pub fn set_last_seq(&self, seq: u64) {
        self.seq.store(seq, Relaxed)
    }
    pub fn last_seq(&self) -> u64 {
        self.seq.load(Relaxed)
    }

    /// Protects a burst, one verdict per buffer.
    pub fn protect_burst<B: PacketBuf>(&self, bufs: &mut [B], verdicts: &mut [Verdict]) -> BurstOutcome {
        let mut outcome = BurstOutcome::default();
        for (b, v) in bufs.iter_mut().zip(verdicts.iter_mut()) {
            let len = b.data_len() as u64;
            *v = self.protect_one(b);
            match *v {
                Ok(()) => {
                    outcome.ok += 1;
                    let p = self.counters.packets.fetch_add(1, Relaxed) + 1;
                    let by = self.counters.bytes.fetch_add(len, Relaxed) + len;
                    if let Some(e) = self.lifetime.account(self.params.spi, &self.params.lifetime, p, by) {
                        outcome.events.push(e);
                    }
                }
                Err(r) => {
                    self.counters.drops[r.index()].fetch_add(1, Relaxed);
                    if r == DropReason::SeqOverflow && self.lifetime.expire() {
                        outcome.events.push(LifetimeEvent::SeqExhausted { spi: self.params.spi });
                    }
                }
            }
        }
        outcome
    }

    pub fn protect<B: PacketBuf>(&self, buf: &mut B) -> (Verdict, BurstOutcome) {
        let mut v = [Ok(())];
        let o = self.protect_burst(core::slice::from_mut(buf), &mut v);
        (v[0], o)
    }

    fn next_seq(&self) -> Result<u64, DropReason> {
        let seq = self.seq.fetch_add(1, Relaxed).wrapping_add(1);
        let max = if self.params.esn { u64::MAX } else { u64::from(u32::MAX) };
        if seq > max || seq == 0 {
            self.seq.store(max, Relaxed);
            return Err(DropReason::SeqOverflow);
        }
        Ok(seq)
    }

    fn protect_one<B: PacketBuf>(&self, buf: &mut B) -> Result<(), DropReason> {
        if self.lifetime.expired() {
            return Err(DropReason::SaExpired);
        }
        let data = buf.data();
        let version = data.first().ok_or(DropReason::Malformed)? >> 4;
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
        let icv_len = self.integ.icv_len();
        let (ah_off, ah_len, seq) = match self.params.mode {
            Mode::Tunnel { local, remote } => {
                let outer_len = if local.is_ipv4() { ipv4::HEADER_LEN } else { ipv6::HEADER_LEN };
                let ah_len = ah::FIXED_LEN + icv_field_len(icv_len, !local.is_ipv4());
                if ip_len + outer_len + ah_len > usize::from(u16::MAX) {
                    return Err(DropReason::Mtu);
                }
                if buf.headroom() < outer_len + ah_len {
                    return Err(DropReason::NoRoom);
                }
                let seq = self.next_seq()?;
                buf.prepend(outer_len + ah_len)?;
                let d = buf.data_mut();
                let total = d.len();
                let ident = self.ident.fetch_add(1, Relaxed) as u16;
                let facts = InnerFacts { tos, df };
                write_outer(d, local, remote, IpProtocol::AH, total - outer_len, &self.params.outer, facts, ident);
                self.emit_ah(&mut d[outer_len..], tunnel_next_header(version), ah_len, seq);
                (outer_len, ah_len, seq)
            }
            Mode::Transport => {
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
                let ah_len = ah::FIXED_LEN + icv_field_len(icv_len, version == 6);
                if ip_len + ah_len > usize::from(u16::MAX) {
                    return Err(DropReason::Mtu);
                }
                if buf.headroom() < ah_len {
                    return Err(DropReason::NoRoom);
                }
                let seq = self.next_seq()?;
                buf.prepend(ah_len)?;
                let d = buf.data_mut();
                let total = d.len();
                d.copy_within(ah_len..ah_len + hdr_len, 0);
                d[nh_at] = IpProtocol::AH.0;
                self.emit_ah(&mut d[hdr_len..], proto, ah_len, seq);
                if version == 4 {
                    let mut p = ipv4::Packet::new_unchecked(&mut d[..]);
                    p.set_total_len(total as u16);
                    p.fill_checksum();
                } else {
                    ipv6::Packet::new_unchecked(&mut d[..]).set_payload_len((total - ipv6::HEADER_LEN) as u16);
                }
                (hdr_len, ah_len, seq)
            }
        };
        let mut full = [0u8; 64];
        let esn = self.params.esn.then_some((seq >> 32) as u32);
        let d = buf.data_mut();
        compute_icv(&self.integ, d, ah_off, ah_len - ah::FIXED_LEN, esn, &mut full)?;
        let icv_at = ah_off + ah::FIXED_LEN;
        d[icv_at..icv_at + icv_len].copy_from_slice(&full[..icv_len]);
        Ok(())
    }

    fn emit_ah(&self, d: &mut [u8], next_header: IpProtocol, ah_len: usize, seq: u64) {
        let r = ah::Repr { next_header, spi: self.params.spi, seq: seq as u32, icv_len: ah_len - ah::FIXED_LEN };
        r.emit(&mut ah::Packet::new_unchecked(d));
    }
}

/// An inbound AH SA, owned by one lcore.
pub struct InboundAh {
    params: SaParams,
    integ: Integrity,
    replay: ReplayWindow,
    counters: Arc<SaCounters>,
    lifetime: LifetimeState,
}

impl InboundAh {
    pub fn new(params: SaParams) -> Result<Self, SaError> {
        let integ = build_integrity(&params)?;
        let replay =
            ReplayWindow::new(params.replay_window, params.esn).ok_or(SaError::ReplayWindow(params.replay_window))?;
        Ok(Self { params, integ, replay, counters: Arc::default(), lifetime: LifetimeState::default() })
    }
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }
    /// A handle on the counters that outlives the SA's move to its lcore (for `show`).
    pub fn shared_counters(&self) -> Arc<SaCounters> {
        self.counters.clone()
    }
    pub fn params(&self) -> &SaParams {
        &self.params
    }
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }
    pub fn is_expired(&self) -> bool {
        self.lifetime.expired()
    }

    pub fn unprotect_burst<B: PacketBuf>(&mut self, bufs: &mut [B], verdicts: &mut [Verdict]) -> BurstOutcome {
        let mut outcome = BurstOutcome::default();
        for (b, v) in bufs.iter_mut().zip(verdicts.iter_mut()) {
            let len = b.data_len() as u64;
            *v = self.unprotect_one(b);
            let c = &self.counters;
            match *v {
                Ok(()) => {
                    outcome.ok += 1;
                    c.packets.store(c.packets.load(Relaxed) + 1, Relaxed);
                    c.bytes.store(c.bytes.load(Relaxed) + len, Relaxed);
                    let (p, by) = (c.packets.load(Relaxed), c.bytes.load(Relaxed));
                    if let Some(e) = self.lifetime.account(self.params.spi, &self.params.lifetime, p, by) {
                        outcome.events.push(e);
                    }
                }
                Err(r) => c.drops[r.index()].store(c.drops[r.index()].load(Relaxed) + 1, Relaxed),
            }
        }
        outcome
    }

    pub fn unprotect<B: PacketBuf>(&mut self, buf: &mut B) -> (Verdict, BurstOutcome) {
        let mut v = [Ok(())];
        let o = self.unprotect_burst(core::slice::from_mut(buf), &mut v);
        (v[0], o)
    }

    fn unprotect_one<B: PacketBuf>(&mut self, buf: &mut B) -> Result<(), DropReason> {
        if self.lifetime.expired() {
            return Err(DropReason::SaExpired);
        }
        let data = buf.data();
        let (ip_len, ah_off, proto, nh_at, outer_ecn, v6) = match data.first().map(|b| b >> 4) {
            Some(4) => {
                let p = ipv4::Packet::new_checked(data)?;
                if !p.verify_checksum() {
                    return Err(DropReason::Malformed);
                }
                if p.is_fragment() {
                    return Err(DropReason::Fragment);
                }
                (usize::from(p.total_len()), p.header_len(), p.protocol(), 9, p.ecn(), false)
            }
            Some(6) => {
                let p = ipv6::Packet::new_checked(data)?;
                let (off, nh, nh_at) = p.find_upper_layer()?;
                (ipv6::HEADER_LEN + usize::from(p.payload_len()), off, nh, nh_at, p.ecn(), true)
            }
            _ => return Err(DropReason::Malformed),
        };
        if proto != IpProtocol::AH {
            return Err(DropReason::NotEsp);
        }
        let a = ah::Packet::new_checked(&data[ah_off..ip_len]).map_err(|_| DropReason::AhMalformed)?;
        if a.spi() != self.params.spi {
            return Err(DropReason::SpiMismatch);
        }
        let icv_len = self.integ.icv_len();
        let icv_field = icv_field_len(icv_len, v6);
        if a.header_len() != ah::FIXED_LEN + icv_field {
            return Err(DropReason::AhMalformed);
        }
        let (next_header, ah_len) = (a.next_header(), a.header_len());
        let seq = self.replay.check(a.seq())?;
        let excess = buf.data_len() - ip_len;
        buf.trim(excess)?;
        let mut full = [0u8; 64];
        let esn = self.params.esn.then_some((seq >> 32) as u32);
        let d = buf.data_mut();
        compute_icv(&self.integ, d, ah_off, icv_field, esn, &mut full)?;
        let icv_at = ah_off + ah::FIXED_LEN;
        if !bool::from(full[..icv_len].ct_eq(&d[icv_at..icv_at + icv_len])) {
            return Err(DropReason::AuthFailed);
        }
        self.replay.update(seq)?;
        match self.params.mode {
            Mode::Tunnel { .. } => {
                buf.adj(ah_off + ah_len)?;
                let len = buf.data_len();
                decap_tunnel(buf, next_header, outer_ecn, len)
            }
            Mode::Transport => decap_transport(buf, ah_off, nh_at, next_header, ah_len),
        }?;
        match self.params.bundle_esp {
            // The ESP SA checks the inner packet; here only that AH protected the bundle's ESP.
            Some(spi) => {
                let esp_spi = buf.data().get(ah_off..ah_off + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if next_header != IpProtocol::ESP || esp_spi != Some(spi.0) {
                    return Err(DropReason::PolicyMismatch);
                }
                Ok(())
            }
            None => crate::esp::check_selectors(&self.params, buf.data()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icv_field_alignment() {
        // RFC 4302 §2.2 / RFC 4868 §2.4: SHA-256-128 over IPv6 needs 4 bytes of padding.
        assert_eq!(icv_field_len(12, false), 12);
        assert_eq!(icv_field_len(12, true), 12);
        assert_eq!(icv_field_len(16, false), 16);
        assert_eq!(icv_field_len(16, true), 20);
        assert_eq!(icv_field_len(24, true), 28);
        assert_eq!(icv_field_len(32, true), 36);
    }
}
