//! The intel-ipsec-mb backend allocates nothing per burst. Alone in its test binary: the allocation counter is
//! process-wide, and another test's allocations (proptest's, between cases) would count.
#![cfg(feature = "dpdk")]

mod common;

use common::bursts::{key, packets};
use engine::crypto::{EncryptionAlgorithm as E, EspCrypto, EspJob, IntegrityAlgorithm as I, IpsecMbEsp};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Sealing and opening bursts (after a first burst, which makes the thread's job manager) allocate nothing.
#[test]
fn no_allocation_per_burst() {
    for (enc, int, esn) in [(E::AesGcm128, I::None, true), (E::AesCbc128, I::HmacSha1_96, true)] {
        let mb = IpsecMbEsp::new(enc, &key(enc.key_len(), 1), int, &key(int.key_len(), 2)).unwrap();
        let (mut pkts, _) = packets(&mb, 40, 1);
        let mut jobs: Vec<EspJob> = pkts.iter_mut().map(|p| EspJob::new(p, 0, esn)).collect();
        mb.seal_burst(&mut jobs[..3]);
        mb.open_burst(&mut jobs[..3]);
        let region = Region::new(GLOBAL);
        mb.seal_burst(&mut jobs);
        mb.open_burst(&mut jobs);
        let stats = region.change();
        assert!(jobs.iter().all(|j| j.status.is_ok()), "{enc:?}");
        assert_eq!((stats.allocations, stats.reallocations), (0, 0), "{enc:?} allocated");
    }
}
