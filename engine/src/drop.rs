//! Why a packet was dropped. Every drop on the packet path is one of these, counted per SA (and per lcore by the
//! caller); none is a panic.

/// A counted drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// No SA for this SPI (inbound) or selector (outbound).
    NoSa,
    /// The packet's SPI is not the SA's.
    SpiMismatch,
    /// A header is truncated or malformed.
    Malformed,
    /// Ciphertext length is not a multiple of the cipher block size, or too short for IV/ICV/trailer.
    BadLength,
    /// The ICV did not verify.
    AuthFailed,
    /// The sequence number was already received.
    Replay,
    /// The sequence number is left of the replay window.
    TooOld,
    /// Padding is not the default 1, 2, 3, ... or the pad length exceeds the payload.
    BadPadding,
    /// The decrypted next header is not what the SA's mode expects (IP in tunnel mode).
    BadNextHeader,
    /// A dummy packet (next header 59, RFC 4303 §2.6): dropped silently, counted apart from errors.
    Dummy,
    /// The inner packet does not match the SA's traffic selectors (RFC 4301 §5.2).
    PolicyMismatch,
    /// RFC 6040: outer CE on a Not-ECT inner packet.
    EcnDrop,
    /// Outbound sequence number would wrap (RFC 4303 §3.3.3): the SA must be rekeyed.
    SeqOverflow,
    /// The SA's hard lifetime is reached.
    SaExpired,
    /// Not enough headroom or tailroom in the buffer for the encapsulation.
    NoRoom,
    /// The packet would exceed the egress MTU.
    Mtu,
    /// An IPv4 fragment or IPv6 fragment carrying ESP: needs reassembly first.
    Fragment,
    /// The packet is not ESP (wrong protocol, or a NAT-T non-ESP marker).
    NotEsp,
    /// An AH header or IP mutable field could not be processed.
    AhMalformed,
    /// The crypto device (cryptodev backend) failed the operation or could not take it.
    CryptoDevice,
}

impl DropReason {
    /// Number of reasons, for counter arrays.
    pub const COUNT: usize = 20;

    pub const ALL: [DropReason; Self::COUNT] = [
        Self::NoSa,
        Self::SpiMismatch,
        Self::Malformed,
        Self::BadLength,
        Self::AuthFailed,
        Self::Replay,
        Self::TooOld,
        Self::BadPadding,
        Self::BadNextHeader,
        Self::Dummy,
        Self::PolicyMismatch,
        Self::EcnDrop,
        Self::SeqOverflow,
        Self::SaExpired,
        Self::NoRoom,
        Self::Mtu,
        Self::Fragment,
        Self::NotEsp,
        Self::AhMalformed,
        Self::CryptoDevice,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable name for counters and `show` output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoSa => "no-sa",
            Self::SpiMismatch => "spi-mismatch",
            Self::Malformed => "malformed",
            Self::BadLength => "bad-length",
            Self::AuthFailed => "auth-failed",
            Self::Replay => "replay",
            Self::TooOld => "too-old",
            Self::BadPadding => "bad-padding",
            Self::BadNextHeader => "bad-next-header",
            Self::Dummy => "dummy",
            Self::PolicyMismatch => "policy-mismatch",
            Self::EcnDrop => "ecn",
            Self::SeqOverflow => "seq-overflow",
            Self::SaExpired => "sa-expired",
            Self::NoRoom => "no-room",
            Self::Mtu => "mtu",
            Self::Fragment => "fragment",
            Self::NotEsp => "not-esp",
            Self::AhMalformed => "ah-malformed",
            Self::CryptoDevice => "crypto-device",
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<crate::wire::WireError> for DropReason {
    fn from(_: crate::wire::WireError) -> Self {
        Self::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
