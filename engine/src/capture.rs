//! Packet capture on one port (`espgate capture`): the worker copies the frames it receives and sends on the armed
//! port into a bounded lock-free queue, and the control thread drains the queue into a file.
//!
//! While nothing is armed the worker pays one relaxed load per burst ([`Tap::armed_on`]). Copying allocates, but
//! only while a capture is armed; a full queue is a counted miss, never a wait.
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// No port armed (port ids are u16, so this value is never one).
const DISARMED: u32 = u32::MAX;

/// Frames longer than this are cut (the original length is kept), so one jumbo frame cannot hold a big allocation.
pub const SNAPLEN: usize = 9216;

/// Which way a frame crossed the port, seen from the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    pub direction: Direction,
    /// The frame's length on the wire; `data` holds at most [`SNAPLEN`] bytes of it.
    pub original_len: u32,
    pub data: Vec<u8>,
}

/// The capture point shared by the control thread (arms, drains) and a worker (records).
#[derive(Debug)]
pub struct Tap {
    port: AtomicU32,
    /// Frames still to take before the tap disarms itself.
    remaining: AtomicU64,
    queue: ArrayQueue<CapturedFrame>,
    /// Frames lost because the queue was full.
    missed: AtomicU64,
    /// Frames put on the queue since the last arm.
    taken: AtomicU64,
}

impl Tap {
    /// A disarmed tap whose queue holds `capacity` frames (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            port: AtomicU32::new(DISARMED),
            remaining: AtomicU64::new(0),
            queue: ArrayQueue::new(capacity.max(1)),
            missed: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        }
    }

    /// Starts taking up to `count` frames of `port` (both directions). Counters restart; frames left on the queue
    /// from an earlier capture are dropped.
    pub fn arm(&self, port: u16, count: u64) {
        self.port.store(DISARMED, Relaxed);
        while self.queue.pop().is_some() {}
        self.missed.store(0, Relaxed);
        self.taken.store(0, Relaxed);
        self.remaining.store(count, Relaxed);
        self.port.store(u32::from(port), Relaxed);
    }

    /// Stops taking frames; those already queued stay for [`Tap::pop`].
    pub fn disarm(&self) {
        self.port.store(DISARMED, Relaxed);
    }

    /// Whether frames of `port` are wanted: the worker's one check per burst.
    #[inline]
    pub fn armed_on(&self, port: u16) -> bool {
        self.port.load(Relaxed) == u32::from(port)
    }

    /// The armed port, if any.
    pub fn port(&self) -> Option<u16> {
        u16::try_from(self.port.load(Relaxed)).ok()
    }

    /// Copies `frame` onto the queue (the worker; call only when [`Tap::armed_on`] said yes). Disarms once the
    /// count is reached.
    pub fn record(&self, direction: Direction, frame: &[u8], timestamp_ns: u64) {
        // Only the worker writes `remaining` while armed, so a load and a store suffice.
        let left = self.remaining.load(Relaxed);
        if left == 0 {
            self.disarm();
            return;
        }
        let data = frame[..frame.len().min(SNAPLEN)].to_vec();
        let original_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        if self.queue.push(CapturedFrame { timestamp_ns, direction, original_len, data }).is_err() {
            self.missed.fetch_add(1, Relaxed);
            return;
        }
        self.taken.fetch_add(1, Relaxed);
        self.remaining.store(left - 1, Relaxed);
        if left == 1 {
            self.disarm();
        }
    }

    /// The next captured frame, oldest first (the control thread).
    pub fn pop(&self) -> Option<CapturedFrame> {
        self.queue.pop()
    }

    /// Frames lost to a full queue since the last arm.
    pub fn missed(&self) -> u64 {
        self.missed.load(Relaxed)
    }

    /// Frames queued since the last arm (written or still waiting).
    pub fn taken(&self) -> u64 {
        self.taken.load(Relaxed)
    }
}

/// Now, in nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disarmed_tap_wants_nothing() {
        let t = Tap::new(4);
        assert!(!t.armed_on(0));
        assert_eq!(t.port(), None);
        t.arm(1, 10);
        assert!(t.armed_on(1));
        assert!(!t.armed_on(0));
        t.disarm();
        assert!(!t.armed_on(1));
    }

    #[test]
    fn count_reached_disarms() {
        let t = Tap::new(8);
        t.arm(0, 2);
        t.record(Direction::Received, &[1, 2, 3], 5);
        assert!(t.armed_on(0));
        t.record(Direction::Sent, &[4], 6);
        assert!(!t.armed_on(0), "two frames asked, two taken");
        let a = t.pop().unwrap();
        assert_eq!(
            (a.direction, a.data.as_slice(), a.timestamp_ns, a.original_len),
            (Direction::Received, &[1, 2, 3][..], 5, 3)
        );
        assert_eq!(t.pop().unwrap().direction, Direction::Sent);
        assert!(t.pop().is_none());
        assert_eq!(t.taken(), 2);
    }

    #[test]
    fn full_queue_is_a_counted_miss() {
        let t = Tap::new(2);
        t.arm(3, 100);
        for i in 0..5u8 {
            t.record(Direction::Received, &[i], 0);
        }
        assert_eq!((t.taken(), t.missed()), (2, 3));
        assert!(t.armed_on(3), "misses do not use up the count");
        assert_eq!(t.pop().unwrap().data, vec![0]);
    }

    #[test]
    fn long_frames_are_cut_to_the_snaplen() {
        let t = Tap::new(2);
        t.arm(0, 1);
        t.record(Direction::Sent, &vec![7u8; SNAPLEN + 100], 0);
        let f = t.pop().unwrap();
        assert_eq!((f.data.len(), f.original_len as usize), (SNAPLEN, SNAPLEN + 100));
    }

    #[test]
    fn arming_again_starts_afresh() {
        let t = Tap::new(1);
        t.arm(0, 5);
        t.record(Direction::Received, &[1], 0);
        t.record(Direction::Received, &[2], 0);
        assert_eq!(t.missed(), 1);
        t.arm(1, 5);
        assert_eq!((t.missed(), t.taken()), (0, 0));
        assert!(t.pop().is_none(), "the old capture's frames are gone");
    }
}
