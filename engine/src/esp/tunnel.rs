//! Tunnel-mode outer header construction and RFC 6040 ECN handling.

use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::sa::{DfPolicy, OuterHeader};
use crate::wire::{ecn, ipv4, ipv6, IpProtocol};
use core::net::IpAddr;

/// Facts about the inner packet the outer header copies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InnerFacts {
    pub tos: u8,
    pub df: bool,
}

/// The outer TOS / traffic class: DSCP copied or set per the SA, ECN copied (RFC 6040 §4.1 normal mode).
#[inline(always)]
fn outer_tos(cfg: &OuterHeader, inner: InnerFacts) -> u8 {
    let dscp = cfg.dscp.unwrap_or(inner.tos >> 2) & 0x3f;
    (dscp << 2) | (inner.tos & 0x03)
}

/// The outer IPv4 DF bit per the SA's policy.
#[inline(always)]
fn outer_df(cfg: &OuterHeader, inner: InnerFacts) -> bool {
    match cfg.df {
        DfPolicy::Copy => inner.df,
        DfPolicy::Set => true,
        DfPolicy::Clear => false,
    }
}

/// Writes the outer IPv4 or IPv6 header into `out` (20 or 40 bytes) for a payload of `payload_len` bytes.
/// ECN is copied (RFC 6040 §4.1 normal mode); DSCP copied or set per the SA; IPv4 checksum filled.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_outer(
    out: &mut [u8],
    local: IpAddr,
    remote: IpAddr,
    protocol: IpProtocol,
    payload_len: usize,
    cfg: &OuterHeader,
    inner: InnerFacts,
    ident: u16,
) {
    let tos = outer_tos(cfg, inner);
    match (local, remote) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let df = outer_df(cfg, inner);
            let r = ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol,
                payload_len: payload_len as u16,
                tos,
                ident,
                dont_frag: df,
                ttl: cfg.ttl,
            };
            r.emit(&mut ipv4::Packet::new_unchecked(out));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let r = ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: protocol,
                payload_len: payload_len as u16,
                traffic_class: tos,
                flow_label: 0,
                hop_limit: cfg.ttl,
            };
            r.emit(&mut ipv6::Packet::new_unchecked(out));
        }
        // Mixed tunnel endpoints are refused at SA install.
        _ => {}
    }
}

/// An SA's outer IPv4 header with everything that does not vary per packet filled in, and the one's-complement
/// sum of those fixed words: per packet only TOS, length, ID and DF are set and the checksum finished from the
/// sum (the same bytes [`write_outer`] produces, for about half its cost on a 64-byte packet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OuterV4 {
    header: [u8; ipv4::HEADER_LEN],
    fixed_sum: u32,
    cfg: OuterHeader,
}

impl OuterV4 {
    pub fn new(
        local: core::net::Ipv4Addr,
        remote: core::net::Ipv4Addr,
        protocol: IpProtocol,
        cfg: OuterHeader,
    ) -> Self {
        let mut header = [0u8; ipv4::HEADER_LEN];
        header[0] = 0x45;
        header[8] = cfg.ttl;
        header[9] = protocol.0;
        header[12..16].copy_from_slice(&local.octets());
        header[16..20].copy_from_slice(&remote.octets());
        let fixed_sum = header.chunks_exact(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
        Self { header, fixed_sum, cfg }
    }

    /// A value read from the prepared header (for warming caches ahead of a burst).
    pub fn touch(&self) -> u64 {
        u64::from(self.fixed_sum)
    }

    /// Writes the header into `out[..20]` for a payload of `payload_len` bytes.
    #[inline(always)]
    pub fn write(&self, out: &mut [u8], payload_len: usize, inner: InnerFacts, ident: u16) {
        let (tos, df) = (outer_tos(&self.cfg, inner), outer_df(&self.cfg, inner));
        let total = (payload_len as u16).saturating_add(ipv4::HEADER_LEN as u16);
        let frag: u16 = if df { 0x4000 } else { 0 };
        // Built on the stack and stored once (see ipv4::Repr::emit on store forwarding).
        let mut h = self.header;
        h[1] = tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        let sum = self.fixed_sum + u32::from(tos) + u32::from(total) + u32::from(ident) + u32::from(frag);
        h[10..12].copy_from_slice(&(!crate::wire::checksum::fold(u64::from(sum))).to_be_bytes());
        out[..ipv4::HEADER_LEN].copy_from_slice(&h);
    }
}

/// What to do with the inner ECN field at decapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnOutcome {
    /// Set the inner ECN field to this codepoint.
    Set(u8),
    /// Outer CE on a Not-ECT inner packet: drop (RFC 6040 §4.2).
    Drop,
}

/// RFC 6040 §4.2 decapsulation table.
pub fn ecn_decapsulate(inner: u8, outer: u8) -> EcnOutcome {
    match (inner & 3, outer & 3) {
        (ecn::NOT_ECT, ecn::CE) => EcnOutcome::Drop,
        (ecn::NOT_ECT, _) => EcnOutcome::Set(ecn::NOT_ECT),
        (_, ecn::CE) => EcnOutcome::Set(ecn::CE),
        (ecn::ECT0, ecn::ECT1) => EcnOutcome::Set(ecn::ECT1),
        (i, _) => EcnOutcome::Set(i),
    }
}

/// Tunnel decapsulation once the outer headers are removed: `buf` holds the inner packet (`len` bytes, of which any
/// beyond the inner IP length are TFC padding). Checks the inner header against `nh`, applies RFC 6040, trims.
pub(crate) fn decap_tunnel<B: PacketBuf>(
    buf: &mut B,
    nh: IpProtocol,
    outer_ecn: u8,
    len: usize,
) -> Result<(), DropReason> {
    let d = buf.data_mut();
    // The inner header must agree with the trailer; its length may be shorter (TFC padding, RFC 4303 §2.7).
    let ip_len = match (nh, d.first().map(|b| b >> 4)) {
        (IpProtocol::IPV4, Some(4)) => {
            let mut p = ipv4::Packet::new_checked(&mut d[..])?;
            if !p.verify_checksum() {
                return Err(DropReason::Malformed);
            }
            match ecn_decapsulate(p.ecn(), outer_ecn) {
                EcnOutcome::Drop => return Err(DropReason::EcnDrop),
                EcnOutcome::Set(e) if e != p.ecn() => p.set_tos_incremental((p.tos() & !3) | e),
                EcnOutcome::Set(_) => {}
            }
            usize::from(p.total_len())
        }
        (IpProtocol::IPV6, Some(6)) => {
            let mut p = ipv6::Packet::new_checked(&mut d[..])?;
            match ecn_decapsulate(p.ecn(), outer_ecn) {
                EcnOutcome::Drop => return Err(DropReason::EcnDrop),
                EcnOutcome::Set(e) => p.set_traffic_class((p.traffic_class() & !3) | e),
            }
            ipv6::HEADER_LEN + usize::from(p.payload_len())
        }
        (IpProtocol::IPV4 | IpProtocol::IPV6, _) => return Err(DropReason::Malformed),
        _ => return Err(DropReason::BadNextHeader),
    };
    buf.trim(len - ip_len)
}

/// Transport decapsulation: removes the `removed` bytes (UDP, ESP/AH header, IV) that follow the `ip_hdr_len` bytes
/// of IP header and extension headers by moving those forward; stores `nh` at `nh_at`, fixes lengths and checksum.
pub(crate) fn decap_transport<B: PacketBuf>(
    buf: &mut B,
    ip_hdr_len: usize,
    nh_at: usize,
    nh: IpProtocol,
    removed: usize,
) -> Result<(), DropReason> {
    let d = buf.data_mut();
    d.copy_within(0..ip_hdr_len, removed);
    buf.adj(removed)?;
    let d = buf.data_mut();
    d[nh_at] = nh.0;
    let total = d.len();
    if d[0] >> 4 == 4 {
        let mut ip = ipv4::Packet::new_unchecked(&mut d[..]);
        ip.set_total_len(total as u16);
        ip.fill_checksum();
    } else {
        ipv6::Packet::new_unchecked(&mut d[..]).set_payload_len((total - ipv6::HEADER_LEN) as u16);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ecn::*;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    proptest! {
        /// The prepared header is byte for byte what the general writer makes, checksum included.
        #[test]
        fn outer_v4_template_matches_write_outer(
            l in any::<u32>(), r in any::<u32>(), nat in any::<bool>(), ttl in any::<u8>(),
            df in 0u8..3, dscp in proptest::option::of(0u8..64), tos in any::<u8>(), inner_df in any::<bool>(),
            len in 0usize..65_516, ident in any::<u16>(),
        ) {
            let (l, r) = (Ipv4Addr::from(l), Ipv4Addr::from(r));
            let proto = if nat { IpProtocol::UDP } else { IpProtocol::ESP };
            let df = [DfPolicy::Copy, DfPolicy::Set, DfPolicy::Clear][usize::from(df)];
            let cfg = OuterHeader { ttl, df, dscp };
            let inner = InnerFacts { tos, df: inner_df };
            let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
            OuterV4::new(l, r, proto, cfg).write(&mut a, len, inner, ident);
            write_outer(&mut b, IpAddr::V4(l), IpAddr::V4(r), proto, len, &cfg, inner, ident);
            prop_assert_eq!(a, b);
            prop_assert!(ipv4::Packet::new_unchecked(&a[..]).verify_checksum());
        }
    }

    #[test]
    fn rfc6040_table() {
        // Rows: inner; columns: outer Not-ECT, ECT(0), ECT(1), CE.
        let table = [
            (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
            (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
            (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
            (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
        ];
        for (inner, row) in table {
            for (outer, want) in [NOT_ECT, ECT0, ECT1, CE].into_iter().zip(row) {
                let got = ecn_decapsulate(inner, outer);
                assert_eq!(got, want.map_or(EcnOutcome::Drop, EcnOutcome::Set), "inner {inner} outer {outer}");
            }
        }
    }
}
