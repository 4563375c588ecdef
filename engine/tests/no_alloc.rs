//! The packet path allocates nothing: a counting global allocator watches protect and unprotect bursts for every
//! suite, mode and family, including drops (tampered, replayed, truncated packets), and SAD lookups at 1,000,000 SAs.
//! This file holds a single test so no other test thread allocates while it measures.

mod common;

use common::*;
use engine::buf::{PacketBuf, VecBuf};
use engine::esp::{InboundSa, OutboundSa, Verdict};
use engine::sa::Mode;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn protect_and_unprotect_allocate_nothing() {
    let inner4 = udp4(V4_A, V4_B, 1000, 0);
    let inner6 = udp6(v6("2001:db8:1::1"), v6("2001:db8:2::2"), 64, 0);
    let mut measured = 0;
    for (e, i) in suites() {
        for mode in [Mode::Transport, tunnel4(), tunnel6()] {
            for nat in [false, true] {
                // A one-time lazy initialisation somewhere in the process (or another thread of the test harness)
                // can allocate during the first measurement: a configuration passes if one of two runs allocates
                // nothing; an allocation per packet shows in both.
                let first = measure(e, i, mode, nat, &inner4, &inner6);
                let second = if first == (0, 0) { first } else { measure(e, i, mode, nat, &inner4, &inner6) };
                assert_eq!(second, (0, 0), "{e:?} {i:?} {mode:?} nat={nat}: allocations on the packet path");
                measured += 1;
            }
        }
    }
    assert_eq!(measured, suites().len() * 6);

    // SAD sized for 1,000,000 SAs: lookups (hits and misses) allocate nothing.
    const N: u32 = 1_000_000;
    let spi = |k: u32| engine::wire::Spi(k.wrapping_mul(2_654_435_761) | 0x100);
    let mut sad = engine::sad::Sad::with_capacity(N as usize);
    for k in 0..N {
        sad.insert(spi(k), k).unwrap();
    }
    let region = Region::new(GLOBAL);
    let mut found = 0u64;
    for k in 0..N {
        found += u64::from(sad.get(spi(k)) == Some(&k));
        found += u64::from(sad.get(engine::wire::Spi(spi(k).0 & !0x100)).is_some());
    }
    let stats = region.change();
    assert_eq!(found, u64::from(N));
    assert_eq!((stats.allocations, stats.reallocations), (0, 0), "SAD lookups allocated");
}

/// One protect and unprotect burst of a configuration, with drops; returns (allocations, reallocations) in between.
fn measure(
    e: engine::crypto::EncryptionAlgorithm,
    i: engine::crypto::IntegrityAlgorithm,
    mode: Mode,
    nat: bool,
    inner4: &[u8],
    inner6: &[u8],
) -> (usize, usize) {
    let esn = nat; // cover both without doubling the run time
    let out = OutboundSa::new(params(e, i, mode, nat, esn, 0x3000)).unwrap();
    let inb = InboundSa::new(params(e, i, swap(mode), nat, esn, 0x3000)).unwrap();
    // All buffers and verdict arrays exist before the measured region.
    let mut burst: Vec<VecBuf> = (0..32).map(|k| VecBuf::new(if k % 2 == 0 { inner4 } else { inner6 })).collect();
    let mut verdicts: Vec<Verdict> = vec![Ok(()); 32];
    let mut spare = VecBuf::new(inner4);

    let region = Region::new(GLOBAL);
    let o = out.protect_burst(&mut burst, &mut verdicts);
    // Tamper with one packet, duplicate another, truncate a third: all drops on the same path.
    let last = burst[3].data_len() - 1;
    burst[3].data_mut()[last] ^= 1;
    let dup_len = burst[4].data_len();
    spare.reset(&[], VecBuf::HEADROOM).unwrap();
    spare.append(dup_len).unwrap();
    spare.data_mut().copy_from_slice(burst[4].data());
    let half = burst[5].data_len() / 2;
    burst[5].trim(half).unwrap();
    let u = inb.unprotect_burst(&mut burst, &mut verdicts);
    let (v, _) = inb.unprotect(&mut spare);
    let stats = region.change();

    assert_eq!(o.ok, 32);
    let has_icv = i != engine::crypto::IntegrityAlgorithm::None || e.is_aead();
    assert!(u.ok >= 30 && u.ok <= 30 + usize::from(!has_icv), "{e:?} {i:?} {mode:?}: {verdicts:?}");
    assert!(v.is_err(), "the duplicate is a replay");
    (stats.allocations, stats.reallocations)
}
