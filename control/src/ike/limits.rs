//! What unauthenticated senders may make the endpoint do: a token bucket per source address for new responder
//! exchanges (Phase 1 message 1), in a table of bounded size. The half-open limit (`Config::max_half_open`) bounds
//! the state a flood from many forged addresses can create; this bounds what one address can take of it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use super::{Endpoint, Phase1Sa};

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by source address; the oldest address is forgotten first when the table is full (a forgotten
/// address starts again with a full bucket, which costs nothing the half-open limit does not already bound).
#[derive(Default)]
pub(super) struct RateLimiter {
    buckets: HashMap<IpAddr, Bucket>,
    /// Addresses in the order they were added, for eviction.
    order: VecDeque<IpAddr>,
}

impl RateLimiter {
    /// Takes a token for `source` if it has one: `per_sec` tokens a second, at most `2 * per_sec` saved up.
    /// `per_sec == 0` means no limit. The table holds at most `capacity` addresses.
    pub(super) fn allow(&mut self, now: Instant, source: IpAddr, per_sec: u32, capacity: usize) -> bool {
        if per_sec == 0 {
            return true;
        }
        let rate = f64::from(per_sec);
        let burst = 2.0 * rate;
        if let Some(b) = self.buckets.get_mut(&source) {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(burst);
            b.at = b.at.max(now);
            if b.tokens < 1.0 {
                return false;
            }
            b.tokens -= 1.0;
            return true;
        }
        while self.buckets.len() >= capacity.max(1) {
            let Some(oldest) = self.order.pop_front() else { break };
            self.buckets.remove(&oldest);
        }
        self.buckets.insert(source, Bucket { tokens: burst - 1.0, at: now });
        self.order.push_back(source);
        true
    }

    /// Addresses remembered.
    pub(super) fn len(&self) -> usize {
        self.buckets.len()
    }
}

impl Phase1Sa {
    /// A responder exchange not yet established (what `Config::max_half_open` bounds).
    pub(super) fn half_open(&self) -> bool {
        !self.initiator && self.state.awaits_reply()
    }
}

impl Endpoint {
    /// Responder exchanges in negotiation (bounded by `Config::max_half_open`).
    pub fn half_open(&self) -> usize {
        debug_assert_eq!(self.half_open, self.sas.values().filter(|s| s.half_open()).count());
        self.half_open
    }

    /// Source addresses the per-source rate limiter remembers (bounded by `Config::rate_limit_sources`).
    pub fn rate_limit_sources(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, last])
    }

    #[test]
    fn burst_then_rate() {
        let mut r = RateLimiter::default();
        let t = Instant::now();
        let allowed = (0..30).filter(|_| r.allow(t, ip(7), 10, 16)).count();
        assert_eq!(allowed, 20, "a burst of twice the rate");
        assert!(!r.allow(t + Duration::from_millis(50), ip(7), 10, 16));
        assert!(r.allow(t + Duration::from_millis(100), ip(7), 10, 16), "one token after 1/rate s");
        assert!(!r.allow(t + Duration::from_millis(100), ip(7), 10, 16));
        // Another address has its own bucket; time going backwards takes nothing away.
        assert!(r.allow(t, ip(8), 10, 16));
        assert!(!r.allow(t, ip(7), 10, 16));
        // No limit at 0.
        assert!((0..100).all(|_| r.allow(t, ip(9), 0, 16)));
    }

    #[test]
    fn table_is_bounded_oldest_forgotten_first() {
        let mut r = RateLimiter::default();
        let t = Instant::now();
        for n in 0..=255u8 {
            assert!(r.allow(t, ip(n), 1, 100));
            assert!(r.len() <= 100);
        }
        assert_eq!(r.len(), 100);
        // ip(255) is remembered (its bucket is now empty at rate 1: 2 - 1 - 1 = 0), ip(0) was forgotten.
        assert!(r.allow(t, ip(255), 1, 100));
        assert!(!r.allow(t, ip(255), 1, 100));
        assert!(r.allow(t, ip(0), 1, 100) && r.allow(t, ip(0), 1, 100));
    }
}
