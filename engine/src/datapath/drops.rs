//! Why the pipeline drops a frame: the IPsec transforms' own reasons and the pipeline's, with dense indexes for
//! counter arrays and stable names for `show`.
use crate::drop::DropReason;

/// Why the pipeline dropped a packet (beyond the IPsec transforms' own [`DropReason`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Drop {
    Ipsec(DropReason),
    /// Not an Ethernet frame, or an IP header that does not parse.
    Malformed,
    /// An EtherType the gateway does not handle (VLAN tags included).
    UnsupportedEtherType,
    /// A unicast frame for another MAC address (promiscuous ports see them).
    NotForUs,
    /// To one of the gateway's addresses, but no service handles it.
    LocalUnhandled,
    NoRoute,
    /// TTL or hop limit exhausted.
    Ttl,
    /// The egress crypto map says discard, or no SPD entry matched.
    PolicyDiscard,
    /// Cleartext arrived for traffic the ingress crypto map protects (RFC 4301 §5.2: it must come in ESP).
    CleartextOnProtected,
    /// The outbound SA handle in the SPD has no SA installed (yet): IKE has not negotiated it.
    NoOutboundSa,
    /// The packet exceeds the egress MTU.
    Mtu,
    /// A non-initial IPv4 fragment whose egress policy depends on the ports it does not carry (see [`policy`]).
    FragmentPolicy,
    /// An ICMP error was due but the per-worker rate limit held it back (the packet is dropped without one).
    IcmpRateLimited,
    /// A frame larger than one buffer (a chained mbuf: jumbo frames, scattered receive); the pipeline works on
    /// contiguous frames only.
    Chained,
}

impl Drop {
    const PIPELINE: [Drop; 13] = [
        Drop::Malformed,
        Drop::UnsupportedEtherType,
        Drop::NotForUs,
        Drop::LocalUnhandled,
        Drop::NoRoute,
        Drop::Ttl,
        Drop::PolicyDiscard,
        Drop::CleartextOnProtected,
        Drop::NoOutboundSa,
        Drop::Mtu,
        Drop::FragmentPolicy,
        Drop::IcmpRateLimited,
        Drop::Chained,
    ];

    /// Number of distinct reasons, for counter arrays: the IPsec ones, then the pipeline's own.
    pub const COUNT: usize = DropReason::COUNT + Self::PIPELINE.len();

    /// Every reason, in [`Drop::index`] order.
    pub fn all() -> impl Iterator<Item = Drop> {
        DropReason::ALL.into_iter().map(Drop::Ipsec).chain(Self::PIPELINE)
    }

    pub fn index(self) -> usize {
        let base = DropReason::COUNT;
        match self {
            Drop::Ipsec(r) => r.index(),
            Drop::Malformed => base,
            Drop::UnsupportedEtherType => base + 1,
            Drop::NotForUs => base + 2,
            Drop::LocalUnhandled => base + 3,
            Drop::NoRoute => base + 4,
            Drop::Ttl => base + 5,
            Drop::PolicyDiscard => base + 6,
            Drop::CleartextOnProtected => base + 7,
            Drop::NoOutboundSa => base + 8,
            Drop::Mtu => base + 9,
            Drop::FragmentPolicy => base + 10,
            Drop::IcmpRateLimited => base + 11,
            Drop::Chained => base + 12,
        }
    }

    /// Stable name for counters and `show` output.
    pub fn name(self) -> &'static str {
        match self {
            Drop::Ipsec(r) => r.name(),
            Drop::Malformed => "frame-malformed",
            Drop::UnsupportedEtherType => "unsupported-ethertype",
            Drop::NotForUs => "not-for-us",
            Drop::LocalUnhandled => "local-unhandled",
            Drop::NoRoute => "no-route",
            Drop::Ttl => "ttl-exceeded",
            Drop::PolicyDiscard => "policy-discard",
            Drop::CleartextOnProtected => "cleartext-on-protected",
            Drop::NoOutboundSa => "no-outbound-sa",
            Drop::Mtu => "egress-mtu",
            Drop::FragmentPolicy => "fragment-ports-unknown",
            Drop::IcmpRateLimited => "icmp-rate-limited",
            Drop::Chained => "chained-frame",
        }
    }
}
