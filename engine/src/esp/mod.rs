//! ESP transforms (RFC 4303): outbound (protect) and inbound (unprotect), tunnel and transport mode, IPv4 and IPv6,
//! optional UDP encapsulation (RFC 3948), in place on a [`PacketBuf`](crate::buf::PacketBuf).
//!
//! Both directions work on bursts like DPDK's lib/ipsec: a prepare pass (headers, sequence numbers, replay check),
//! one call into the SA's crypto handler for the whole burst, then a finish pass (window update only for packets
//! whose ICV verified, decapsulation, counters). Every packet gets a verdict; a bad packet is a counted
//! [`DropReason`](crate::DropReason), never a panic. See [`crate::sa`] for how sequence state is shared by lcores.

mod inbound;
mod outbound;
pub(crate) mod tunnel;

pub(crate) use inbound::check_selectors;
pub use inbound::InboundSa;
pub use outbound::OutboundSa;
pub use tunnel::{ecn_decapsulate, EcnOutcome};

use crate::drop::DropReason;
use crate::sa::Events;

/// Largest burst handled in one crypto call; longer bursts are processed in chunks of this size.
pub const MAX_BURST: usize = 64;

/// The crypto handler's fixed lengths, read once at install: the packet path would otherwise make three dynamic
/// calls per packet for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lengths {
    pub iv: usize,
    pub icv: usize,
    pub align: usize,
}

impl Lengths {
    pub(crate) fn of(c: &dyn crate::crypto::EspCrypto) -> Self {
        Self { iv: c.iv_len(), icv: c.icv_len(), align: c.pad_align().max(1) }
    }

    /// Padding bytes after `len` bytes (payload and trailer) to reach the alignment. Every cipher's alignment is a
    /// power of two (4, 8 or 16): a mask, where a remainder would cost a division per packet.
    #[inline]
    pub(crate) fn pad(&self, len: usize) -> usize {
        if self.align.is_power_of_two() {
            len.wrapping_neg() & (self.align - 1)
        } else {
            (self.align - len % self.align) % self.align
        }
    }
}

/// Per-packet result of a burst.
pub type Verdict = Result<(), DropReason>;

/// What a burst produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BurstOutcome {
    /// Packets that passed.
    pub ok: usize,
    /// Lifetime events raised by this burst.
    pub events: Events,
}

/// Moves the packets whose verdict is `Ok` to the front (stable), returning how many there are; the dropped ones
/// follow with their verdicts moved along, as DPDK's lib/ipsec leaves bad mbufs behind the good ones.
pub fn partition_burst<B>(bufs: &mut [B], verdicts: &mut [Verdict]) -> usize {
    let n = bufs.len().min(verdicts.len());
    let mut good = 0;
    for i in 0..n {
        if verdicts[i].is_ok() {
            bufs.swap(good, i);
            verdicts.swap(good, i);
            good += 1;
        }
    }
    good
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keeps_good_packets_in_order() {
        let mut bufs = [1, 2, 3, 4, 5];
        let mut v = [Err(DropReason::Replay), Ok(()), Err(DropReason::AuthFailed), Ok(()), Ok(())];
        assert_eq!(partition_burst(&mut bufs, &mut v), 3);
        assert_eq!(&bufs[..3], &[2, 4, 5]);
        assert!(v[..3].iter().all(|r| r.is_ok()));
        let mut bad: Vec<_> = bufs[3..].iter().zip(&v[3..]).map(|(b, r)| (*b, *r)).collect();
        bad.sort_by_key(|(b, _)| *b);
        assert_eq!(bad, vec![(1, Err(DropReason::Replay)), (3, Err(DropReason::AuthFailed))]);
    }
}
