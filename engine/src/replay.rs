//! Anti-replay window with Extended Sequence Numbers (RFC 4303 §3.4.3 and Appendix A).
//!
//! The window is a ring of 64-bit buckets indexed by `seq / 64` (as in DPDK lib/ipsec): sliding forward clears whole
//! buckets instead of shifting bits, so an update costs O(1) amortised whatever the window size. One spare bucket keeps
//! the last `size` sequence numbers addressable while the top bucket is partly filled.
//!
//! Use: [`ReplayWindow::check`] before decrypting (cheap rejection of replays without spending crypto), then
//! [`ReplayWindow::update`] only after the ICV verified, so forged packets cannot move the window.

use crate::drop::DropReason;

pub const MIN_WINDOW: u32 = 64;
/// Large windows are for one SA spread over several workers: their frames reach the peer interleaved out of order
/// by up to a worker's pause (a 2 ms pause at 5 Mpps is 10,000 packets). Memory: the buckets of `new`, 16 KB at
/// 65536 (the spare bucket rounds a power-of-two size up to twice its bits).
pub const MAX_WINDOW: u32 = 65536;
pub const DEFAULT_WINDOW: u32 = 1024;

/// The receiver's replay state for one SA.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Highest sequence number authenticated so far (0: none yet).
    top: u64,
    size: u64,
    esn: bool,
    buckets: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets ([`MIN_WINDOW`]..=[`MAX_WINDOW`]). Allocates its buckets here, once.
    pub fn new(size: u32, esn: bool) -> Option<Self> {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&size) {
            return None;
        }
        let n = ((size as usize).div_ceil(64) + 1).next_power_of_two();
        Some(Self { top: 0, size: u64::from(size), esn, buckets: vec![0; n].into_boxed_slice() })
    }

    pub fn size(&self) -> u32 {
        self.size as u32
    }

    /// Highest authenticated sequence number.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Reconstructs the full sequence number from the 32 bits on the wire (RFC 4303 A2.2); without ESN the
    /// sequence number is those 32 bits.
    pub fn infer_seq(&self, seq_lo: u32) -> Result<u64, DropReason> {
        if !self.esn {
            return Ok(u64::from(seq_lo));
        }
        let w = self.size as u32;
        let (th, tl) = ((self.top >> 32) as u32, self.top as u32);
        let bottom = tl.wrapping_sub(w - 1);
        let seq_hi = if tl >= w - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_lo >= bottom {
                th
            } else {
                th.checked_add(1).ok_or(DropReason::SeqOverflow)?
            }
        } else if seq_lo >= bottom {
            // Case B: the window spans two subspaces; a high seq_lo belongs to the previous one.
            th.checked_sub(1).ok_or(DropReason::TooOld)?
        } else {
            th
        };
        Ok((u64::from(seq_hi) << 32) | u64::from(seq_lo))
    }

    fn bit(&self, seq: u64) -> (usize, u64) {
        let idx = (seq >> 6) as usize & (self.buckets.len() - 1);
        (idx, 1u64 << (seq & 63))
    }

    /// Reconstructs the sequence number and checks it against the window without changing it.
    pub fn check(&self, seq_lo: u32) -> Result<u64, DropReason> {
        let seq = self.infer_seq(seq_lo)?;
        if seq == 0 {
            // The first packet is 1 (RFC 4303 §3.3.3); 0 is never sent.
            return Err(DropReason::TooOld);
        }
        if seq > self.top {
            return Ok(seq);
        }
        if seq + self.size <= self.top {
            return Err(DropReason::TooOld);
        }
        let (i, m) = self.bit(seq);
        if self.buckets[i] & m != 0 {
            return Err(DropReason::Replay);
        }
        Ok(seq)
    }

    /// Reads the top and the bucket around it, the words the next packets' check and update read (for warming
    /// caches ahead of a burst).
    pub(crate) fn touch(&self) -> u64 {
        let (i, _) = self.bit(self.top);
        self.top ^ self.buckets.get(i).copied().unwrap_or(0)
    }

    /// Marks `seq` received, sliding the window if it is new. Fails (and changes nothing) for a sequence number
    /// that became a replay or too old since [`check`](Self::check), e.g. a duplicate within one burst.
    pub fn update(&mut self, seq: u64) -> Result<(), DropReason> {
        if seq == 0 {
            return Err(DropReason::TooOld);
        }
        if seq > self.top {
            let (old_b, new_b) = (self.top >> 6, seq >> 6);
            let n = self.buckets.len() as u64;
            // Clear the buckets the window slides into (all of them if it jumps further than the ring).
            let clear = (new_b - old_b).min(n);
            for k in 1..=clear {
                let idx = ((old_b + k) & (n - 1)) as usize;
                self.buckets[idx] = 0;
            }
            self.top = seq;
        } else if seq + self.size <= self.top {
            return Err(DropReason::TooOld);
        }
        let (i, m) = self.bit(seq);
        if self.buckets[i] & m != 0 {
            return Err(DropReason::Replay);
        }
        self.buckets[i] |= m;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn size_limits() {
        assert!(ReplayWindow::new(63, false).is_none());
        assert!(ReplayWindow::new(MAX_WINDOW + 1, false).is_none());
        assert!(ReplayWindow::new(64, false).is_some());
        assert!(ReplayWindow::new(4097, false).is_some());
        assert!(ReplayWindow::new(MAX_WINDOW, false).is_some());
    }

    #[test]
    fn basic_window() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert_eq!(w.check(0), Err(DropReason::TooOld));
        for s in [1u32, 3, 2, 60] {
            let full = w.check(s).unwrap();
            w.update(full).unwrap();
        }
        assert_eq!(w.check(3), Err(DropReason::Replay));
        assert_eq!(w.check(4), Ok(4));
        w.update(100).unwrap();
        assert_eq!(w.check(60), Err(DropReason::Replay));
        assert_eq!(w.check(36), Err(DropReason::TooOld)); // 36 + 64 <= 100
        assert_eq!(w.check(37), Ok(37));
        assert_eq!(w.update(100), Err(DropReason::Replay));
    }

    #[test]
    fn largest_window_keeps_every_number_of_the_last_65536() {
        let mut w = ReplayWindow::new(MAX_WINDOW, false).unwrap();
        w.update(100_000).unwrap();
        // The oldest number still inside, and the first outside.
        assert_eq!(w.check(100_000 - 65_535), Ok(100_000 - 65_535));
        assert_eq!(w.check(100_000 - 65_536), Err(DropReason::TooOld));
        for s in (40_000..100_000).step_by(7) {
            w.update(s).unwrap();
        }
        assert_eq!(w.check(40_007), Err(DropReason::Replay));
        assert_eq!(w.check(40_008), Ok(40_008));
        // A jump of more than a window clears every bucket: the ring's reused slots hold nothing stale.
        w.update(300_000).unwrap();
        for s in (300_000 - 65_535..300_000).step_by(61) {
            assert_eq!(w.check(s as u32), Ok(s));
        }
        assert_eq!(w.check(300_000), Err(DropReason::Replay));
    }

    #[test]
    fn esn_crosses_the_32_bit_boundary() {
        let mut w = ReplayWindow::new(128, true).unwrap();
        w.update(0xffff_fff0).unwrap();
        // A small low half right of the window belongs to the next subspace.
        assert_eq!(w.check(5), Ok(0x1_0000_0005));
        w.update(0x1_0000_0005).unwrap();
        // Case B: now top low half is 5 < W-1, a high low half is from the previous subspace.
        assert_eq!(w.check(0xffff_fff8), Ok(0xffff_fff8));
        assert_eq!(w.check(0xffff_fff0), Err(DropReason::Replay));
        assert_eq!(w.check(6), Ok(0x1_0000_0006));
    }

    // Reference model: a set of received numbers and the top.
    proptest! {
        #[test]
        fn matches_reference_model(size in prop::sample::select(vec![64u32, 100, 1024, 4096, 65536]),
                                   steps in proptest::collection::vec(0u64..6000, 1..300)) {
            let mut w = ReplayWindow::new(size, false).unwrap();
            // Numbers spread in proportion to the window, so large windows also see too-old and slides.
            let scale = u64::from(size.max(1024)) / 1024;
            let mut seen = std::collections::HashSet::new();
            let mut top = 0u64;
            for s in steps.into_iter().map(|s| s * scale) {
                let expect = if s == 0 || (s <= top && s + u64::from(size) <= top) {
                    Err(DropReason::TooOld)
                } else if seen.contains(&s) {
                    Err(DropReason::Replay)
                } else {
                    Ok(s)
                };
                prop_assert_eq!(w.check(s as u32), expect);
                if expect.is_ok() {
                    w.update(s).unwrap();
                    seen.insert(s);
                    top = top.max(s);
                }
            }
        }
    }
}
