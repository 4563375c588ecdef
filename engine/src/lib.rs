//! espgate's data plane.
//!
//! The IPsec logic (wire views, SAs, ESP/AH transforms, anti-replay, lookups) is plain Rust over byte slices and
//! builds without DPDK. The `dpdk` feature adds [`dpdk`], the one module that wraps the raw bindings behind a safe API
//! (EAL, mempools, ports, mbufs, lcores); it is the only module where the crate's `deny(unsafe_code)` is lifted.
#![deny(unsafe_code)]

pub mod ah;
pub mod buf;
pub mod crypto;
pub mod datapath;
pub mod drop;
pub mod esp;
pub mod replay;
pub mod sa;
pub mod sad;
pub mod selector;
pub mod spd;
pub mod wire;

pub use drop::DropReason;

#[cfg(feature = "dpdk")]
pub mod capture;
#[cfg(feature = "dpdk")]
pub mod dpdk;
#[cfg(feature = "dpdk")]
pub mod worker;
