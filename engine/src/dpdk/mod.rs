//! The safe layer over DPDK: the only module of espgate outside `dpdk-sys` that uses `unsafe`.
//!
//! - [`Eal`]: environment init from arguments, cleanup on drop (one per process, as DPDK allows).
//! - [`Mempool`]: packet buffer pools.
//! - [`Port`]: an ethdev with N rx/tx queues, RSS, start/stop, link, stats; [`RxQueue`]/[`TxQueue`] handles that are
//!   handed out once each, so one queue is polled by exactly one lcore.
//! - [`Mbuf`] (owned) and [`Burst`] (a fixed-capacity array of mbufs, no allocation per packet).
//! - [`cryptodev`]: symmetric crypto devices (aesni_mb, QAT): sessions, CPU crypto and queue-pair bursts.
//! - [`ipsec_mb`]: intel-ipsec-mb called directly (AES-GCM, multi-buffer AES-CBC/CTR + HMAC) for CPU crypto.
//! - [`lcore`]: worker lcores running closures, and pinning of non-EAL threads.
#![allow(unsafe_code)]

pub mod cryptodev;
mod eal;
pub mod ipsec_mb;
pub mod lcore;
mod mbuf;
mod mempool;
mod port;
mod ring;

pub use eal::{Eal, EalError};
pub use mbuf::{Burst, Drain, Mbuf, MAX_BURST};
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortConfig, PortStats, RxQueue, TxQueue};
pub use ring::RingPair;

use std::ffi::CStr;

/// An error from a DPDK call: which call, and DPDK's own errno and message.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {message} (errno {errno})")]
pub struct DpdkError {
    pub call: &'static str,
    pub errno: i32,
    pub message: String,
}

impl DpdkError {
    /// Builds the error from a negative return code (`-errno`, DPDK's usual convention) or, when the code is not
    /// negative, from `rte_errno`.
    pub(crate) fn from_ret(call: &'static str, ret: i32) -> Self {
        let errno = if ret < 0 { -ret } else { rte_errno() };
        Self { call, errno, message: strerror(errno) }
    }

    /// Builds the error from `rte_errno`, for calls that return NULL.
    pub(crate) fn last(call: &'static str) -> Self {
        Self::from_ret(call, 0)
    }
}

pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno through the shim; no arguments.
    unsafe { dpdk_sys::espgate_errno() }
}

fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    let p = unsafe { dpdk_sys::rte_strerror(errno) };
    if p.is_null() {
        return format!("error {errno}");
    }
    // SAFETY: p is non-null and NUL-terminated (above).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// True when hugepages are reserved and a hugetlbfs is mounted, so EAL can use them (else run with `--no-huge`).
pub fn hugepages_available() -> bool {
    let free = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("HugePages_Free:").map(|v| v.trim().parse::<u64>().unwrap_or(0)))
        })
        .unwrap_or(0);
    let mounted = std::fs::read_to_string("/proc/mounts").map(|m| m.contains(" hugetlbfs ")).unwrap_or(false);
    free > 0 && mounted
}

/// The time-stamp counter: cycles since an arbitrary origin, for per-packet costs and timers on the lcores.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the TSC; no memory is touched.
    unsafe { dpdk_sys::espgate_rdtsc() }
}

/// TSC ticks per second, as EAL measured it at init.
pub fn tsc_hz() -> u64 {
    // SAFETY: a plain getter, valid after EAL init (an [`Eal`] exists when callers have ports to time).
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
