//! A token bucket for the ICMP errors a worker generates (RFC 1812 §4.3.2.8, RFC 4443 §2.4 (f)): a flood of too-big
//! packets must not turn the gateway into a flood of errors. One bucket per worker, plain integers, no allocation.

/// `rate` tokens per second up to `burst`; each error takes one. Tokens are kept in thousandths so a rate below
/// 1000/s still refills between millisecond ticks.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 with a `burst` of 0 allows nothing.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = u64::from(burst);
        Self { rate: u64::from(rate_per_sec), burst, milli_tokens: burst * 1000, last_ms: 0 }
    }

    /// Whether one more error may go out at `now_ms` (a monotonic millisecond clock); takes a token if so.
    pub fn allow(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.milli_tokens = self.milli_tokens.saturating_add(elapsed.saturating_mul(self.rate)).min(self.burst * 1000);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 3);
        assert_eq!((0..5).filter(|_| b.allow(1000)).count(), 3, "the burst");
        assert!(!b.allow(1050), "half a token after 50 ms at 10/s");
        assert!(b.allow(1100), "one token after 100 ms");
        assert!(!b.allow(1100));
        assert_eq!((0..10).filter(|_| b.allow(60_000)).count(), 3, "refill caps at the burst");
        assert!(!b.allow(59_000), "a clock going backwards adds nothing");
        let mut none = TokenBucket::new(0, 0);
        assert!(!none.allow(u64::MAX));
    }
}
