//! Vendor IDs that IKEv1 peers commonly send (RFC 3947, RFC 3706, the NAT-T drafts, Cisco, strongSwan, Juniper),
//! recognized so they can be logged by name and mapped to the capabilities they announce.

/// A capability a Vendor ID announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// NAT traversal, RFC 3947 (NAT-D/NAT-OA payloads 20/21).
    NatT,
    /// NAT traversal as in the drafts (payloads 130/131).
    NatTDraft,
    /// Dead Peer Detection, RFC 3706.
    Dpd,
    /// Extended authentication (draft-beaulieu-ike-xauth).
    Xauth,
    /// Cisco Unity client extensions (Mode Config attributes).
    CiscoUnity,
    /// Cisco IKE fragmentation.
    Fragmentation,
    /// Only identifies the implementation.
    None,
}

/// A known Vendor ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownVendorId {
    pub name: &'static str,
    /// The bytes sent (or, for a prefix entry, their fixed start).
    pub bytes: &'static [u8],
    /// Whether trailing bytes (version numbers, flags) may follow `bytes`.
    pub prefix: bool,
    pub capability: Capability,
}

macro_rules! vid {
    ($name:expr, $bytes:expr, $prefix:expr, $cap:ident) => {
        KnownVendorId { name: $name, bytes: $bytes, prefix: $prefix, capability: Capability::$cap }
    };
}

/// The table. The NAT-T draft and RFC IDs are MD5 of the document names (checked against Wireshark's decoding of
/// the captures in tests/data).
pub const KNOWN_VENDOR_IDS: &[KnownVendorId] = &[
    vid!("RFC 3947 NAT-T", b"\x4a\x13\x1c\x81\x07\x03\x58\x45\x5c\x57\x28\xf2\x0e\x95\x45\x2f", false, NatT),
    vid!(
        "draft-ietf-ipsec-nat-t-ike-00",
        b"\x44\x85\x15\x2d\x18\xb6\xbb\xcd\x0b\xe8\xa8\x46\x95\x79\xdd\xcc",
        false,
        NatTDraft
    ),
    vid!(
        "draft-ietf-ipsec-nat-t-ike-01",
        b"\x16\xf6\xca\x16\xe4\xa4\x06\x6d\x83\x82\x1a\x0f\x0a\xea\xa8\x62",
        false,
        NatTDraft
    ),
    vid!(
        "draft-ietf-ipsec-nat-t-ike-02",
        b"\xcd\x60\x46\x43\x35\xdf\x21\xf8\x7c\xfd\xb2\xfc\x68\xb6\xa4\x48",
        false,
        NatTDraft
    ),
    vid!(
        "draft-ietf-ipsec-nat-t-ike-02\\n",
        b"\x90\xcb\x80\x91\x3e\xbb\x69\x6e\x08\x63\x81\xb5\xec\x42\x7b\x1f",
        false,
        NatTDraft
    ),
    vid!(
        "draft-ietf-ipsec-nat-t-ike-03",
        b"\x7d\x94\x19\xa6\x53\x10\xca\x6f\x2c\x17\x9d\x92\x15\x52\x9d\x56",
        false,
        NatTDraft
    ),
    vid!(
        "draft-stenberg-ipsec-nat-traversal-01",
        b"\x27\xba\xb5\xdc\x01\xea\x07\x60\xea\x4e\x31\x90\xac\x27\xc0\xd0",
        false,
        NatTDraft
    ),
    vid!(
        "draft-stenberg-ipsec-nat-traversal-02",
        b"\x61\x05\xc4\x22\xe7\x68\x47\xe4\x3f\x96\x84\x80\x12\x92\xae\xcd",
        false,
        NatTDraft
    ),
    vid!("RFC 3706 DPD", b"\xaf\xca\xd7\x13\x68\xa1\xf1\xc9\x6b\x86\x96\xfc\x77\x57", true, Dpd),
    vid!("XAUTH", b"\x09\x00\x26\x89\xdf\xd6\xb7\x12", false, Xauth),
    vid!("Cisco Unity", b"\x12\xf5\xf2\x8c\x45\x71\x68\xa9\x70\x2d\x9f\xe2\x74\xcc", true, CiscoUnity),
    vid!(
        "Cisco Fragmentation",
        b"\x40\x48\xb7\xd5\x6e\xbc\xe8\x85\x25\xe7\xde\x7f\x00\xd6\xc2\xd3",
        true,
        Fragmentation
    ),
    vid!("strongSwan", b"\x88\x2f\xe5\x6d\x6f\xd2\x0d\xbc\x22\x51\x61\x3b\x2e\xbe\x5b\xeb", false, None),
    vid!(
        "Juniper NetScreen",
        b"\x69\x93\x69\x22\x87\x41\xc6\xd4\xca\x09\x4c\x93\xe2\x42\xc9\xde\x19\xe7\xb7\xc6",
        true,
        None
    ),
];

/// Recognizes a received Vendor ID.
pub fn recognize(vendor_id: &[u8]) -> Option<&'static KnownVendorId> {
    KNOWN_VENDOR_IDS.iter().find(|k| if k.prefix { vendor_id.starts_with(k.bytes) } else { vendor_id == k.bytes })
}

/// The Vendor ID this gateway sends to announce a capability (the RFC one where there is one).
pub fn vendor_id_for(capability: Capability) -> Option<&'static [u8]> {
    match capability {
        Capability::NatT => Some(KNOWN_VENDOR_IDS[0].bytes),
        // RFC 3706 §7: the DPD Vendor ID ends with major version 1, minor 0.
        Capability::Dpd => Some(b"\xaf\xca\xd7\x13\x68\xa1\xf1\xc9\x6b\x86\x96\xfc\x77\x57\x01\x00"),
        _ => None,
    }
}
