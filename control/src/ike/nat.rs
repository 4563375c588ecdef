//! NAT traversal for IKEv1 (RFC 3947): the Vendor ID that announces it, NAT-D payloads that detect a NAT between
//! the peers, the float to UDP port 4500, and its framing (RFC 3948 §2.2: a 4-byte zero non-ESP marker before IKE
//! messages; a single 0xFF byte is a NAT keepalive).

use std::net::SocketAddr;

use crate::crypto::kdf::nat_d;
use crate::crypto::{ct_eq, Prf};
use crate::isakmp::vendor::{recognize, vendor_id_for, Capability};
use crate::isakmp::{Cookie, Payload};

/// The IKE port after a NAT was detected.
pub const NAT_T_PORT: u16 = 4500;

/// What NAT-D found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatStatus {
    /// Our address as the peer sees it is not our own: we are behind a NAT (and send keepalives).
    pub local_behind_nat: bool,
    /// The peer's address as we see it is none it announced: the peer is behind a NAT.
    pub peer_behind_nat: bool,
}

impl NatStatus {
    pub fn detected(&self) -> bool {
        self.local_behind_nat || self.peer_behind_nat
    }
}

/// Whether the peer's message announces RFC 3947 NAT traversal.
pub(super) fn peer_supports(payloads: &[Payload]) -> bool {
    payloads
        .iter()
        .any(|p| matches!(p, Payload::VendorId(v) if recognize(v).is_some_and(|k| k.capability == Capability::NatT)))
}

/// The Vendor IDs this gateway sends in the first messages: RFC 3947 (when enabled) and DPD.
pub(super) fn vendor_ids(nat_traversal: bool) -> Vec<Payload> {
    let mut v = Vec::new();
    if nat_traversal {
        v.extend(vendor_id_for(Capability::NatT).map(|b| Payload::VendorId(b.to_vec())));
    }
    v.extend(vendor_id_for(Capability::Dpd).map(|b| Payload::VendorId(b.to_vec())));
    v
}

/// NAT-D payloads to send: first the hash of the peer's address as we send to it, then of our own.
pub(super) fn nat_d_payloads(
    prf: Prf,
    icookie: &Cookie,
    rcookie: &Cookie,
    local: SocketAddr,
    remote: SocketAddr,
) -> [Payload; 2] {
    [
        Payload::NatD { draft: false, hash: nat_d(prf, icookie, rcookie, remote) },
        Payload::NatD { draft: false, hash: nat_d(prf, icookie, rcookie, local) },
    ]
}

/// Compares received NAT-D payloads with the addresses of the datagram that carried them. `None` when the peer
/// sent none (it then does not do NAT traversal after all).
pub(super) fn detect(
    prf: Prf,
    icookie: &Cookie,
    rcookie: &Cookie,
    local: SocketAddr,
    remote: SocketAddr,
    payloads: &[Payload],
) -> Option<NatStatus> {
    let hashes: Vec<&Vec<u8>> =
        payloads.iter().filter_map(|p| if let Payload::NatD { hash, .. } = p { Some(hash) } else { None }).collect();
    let (first, others) = hashes.split_first()?;
    let ours = nat_d(prf, icookie, rcookie, local);
    let theirs = nat_d(prf, icookie, rcookie, remote);
    Some(NatStatus {
        local_behind_nat: !ct_eq(first, &ours),
        peer_behind_nat: !others.iter().any(|h| ct_eq(h, &theirs)),
    })
}

/// What a datagram received on port 4500 holds.
pub(super) enum Framed<'a> {
    Ike(&'a [u8]),
    Keepalive,
    /// ESP (a non-zero SPI in the first four bytes): the data path's, not ours.
    NotIke,
}

pub(super) fn unframe(payload: &[u8]) -> Framed<'_> {
    match payload {
        [0xff] => Framed::Keepalive,
        [0, 0, 0, 0, rest @ ..] => Framed::Ike(rest),
        _ => Framed::NotIke,
    }
}

pub(super) fn frame(isakmp: &[u8]) -> Vec<u8> {
    [&[0u8; 4][..], isakmp].concat()
}
