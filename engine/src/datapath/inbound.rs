//! Packets addressed to the gateway: ESP (also in UDP 4500) and AH to an inbound SA, and what the control thread
//! handles (IKE, NAT-T keepalives, ICMP). An ESP+AH bundle arrives as outer IP | AH | ESP: AH is checked first (its
//! SA names the bundle's ESP SPI), then ESP, which accepts bundled traffic only from inside its AH SA.
use super::{ether, Action, Drop, IpInfo, PuntKind, Sas, Tables, IKE_PORT, NAT_T_PORT};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::wire::{IpProtocol, Spi};

pub(super) fn spi_at(b: &[u8]) -> Option<Spi> {
    b.get(..4).map(|s| Spi(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
}

impl Sas {
    /// A packet to one of our addresses (the buffer still holds the Ethernet header).
    pub(super) fn local<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B, ip: &IpInfo) -> Action {
        if ip.fragment {
            return Action::Drop(Drop::Ipsec(DropReason::Fragment));
        }
        let l4 = &buf.data()[ether::HEADER_LEN + ip.header_len..];
        let (proto, spi) = match ip.protocol {
            IpProtocol::ESP | IpProtocol::AH => {
                (ip.protocol, spi_at(l4.get(if ip.protocol == IpProtocol::AH { 4 } else { 0 }..).unwrap_or(&[])))
            }
            IpProtocol::UDP => {
                let Some(udp) = l4.get(..8) else { return Action::Drop(Drop::Malformed) };
                let dport = u16::from_be_bytes([udp[2], udp[3]]);
                let payload = &l4[8..];
                match dport {
                    IKE_PORT => return Action::Punt(PuntKind::Ike),
                    NAT_T_PORT if payload == [0xff] => return Action::Punt(PuntKind::NatKeepalive),
                    NAT_T_PORT if payload.get(..4) == Some(&[0, 0, 0, 0]) => return Action::Punt(PuntKind::Ike),
                    NAT_T_PORT => {
                        // The UDP length must cover exactly the IP payload: with less, the bytes after the datagram
                        // would be taken as ESP (RFC 768; Linux trims them, after which the ICV fails).
                        let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
                        if ip_payload_len(&buf.data()[ether::HEADER_LEN..], ip.header_len) != Some(ulen) {
                            return Action::Drop(Drop::Ipsec(DropReason::BadLength));
                        }
                        (IpProtocol::ESP, spi_at(payload))
                    }
                    _ => return Action::Drop(Drop::LocalUnhandled),
                }
            }
            IpProtocol::ICMP | IpProtocol::ICMPV6 => return Action::Punt(PuntKind::Icmp),
            _ => return Action::Drop(Drop::LocalUnhandled),
        };
        let Some(spi) = spi else { return Action::Drop(Drop::Ipsec(DropReason::Malformed)) };
        if buf.adj(ether::HEADER_LEN).is_err() {
            return Action::Drop(Drop::Malformed);
        }
        if proto == IpProtocol::AH {
            self.inbound_ah(tables, buf, spi)
        } else {
            self.inbound_esp(tables, buf, spi, None)
        }
    }

    /// ESP for SA `spi`; `via_ah`: the AH SA the packet came through (bundles). The buffer holds the IP packet.
    fn inbound_esp<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B, spi: Spi, via_ah: Option<Spi>) -> Action {
        let Some(sa) = self.inbound.get(spi) else {
            return Action::Drop(Drop::Ipsec(DropReason::NoSa));
        };
        if sa.params().bundle_ah != via_ah {
            // Bundled ESP without its AH (stripped), or plain ESP claimed by an AH SA's bundle.
            return Action::Drop(Drop::Ipsec(DropReason::PolicyMismatch));
        }
        if self.defer && via_ah.is_none() {
            self.deferred = Some(super::Deferred::Open { spi });
            // Ignored: process_staged returns the deferred step.
            return Action::Drop(Drop::Ipsec(DropReason::NoSa));
        }
        let (verdict, outcome) = sa.unprotect(buf);
        if !outcome.events.is_empty() {
            self.log.note(&outcome);
        }
        match verdict {
            // The inner packet continues as transit traffic; its TTL is the inner one (RFC 4301 §5.2 step 4).
            Ok(()) => self.after_decap(tables, buf),
            Err(r) => Action::Drop(Drop::Ipsec(r)),
        }
    }

    fn inbound_ah<B: PacketBuf>(&mut self, tables: &Tables, buf: &mut B, spi: Spi) -> Action {
        let Some(sa) = self.inbound_ah.get_mut(spi) else {
            return Action::Drop(Drop::Ipsec(DropReason::NoSa));
        };
        let bundle = sa.params().bundle_esp;
        let (verdict, outcome) = sa.unprotect(buf);
        if !outcome.events.is_empty() {
            self.log.note(&outcome);
        }
        match (verdict, bundle) {
            (Ok(()), None) => self.after_decap(tables, buf),
            // AH verified that its payload is the bundle's ESP; now ESP.
            (Ok(()), Some(esp)) => self.inbound_esp(tables, buf, esp, Some(spi)),
            (Err(r), _) => Action::Drop(Drop::Ipsec(r)),
        }
    }
}

/// The length of the IP packet's payload after its `header_len` bytes of headers, from the header's own length
/// field (the frame may carry Ethernet padding after it).
fn ip_payload_len(ip: &[u8], header_len: usize) -> Option<usize> {
    match ip.first()? >> 4 {
        4 => usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?])).checked_sub(header_len),
        6 => (40 + usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]))).checked_sub(header_len),
        _ => None,
    }
}
