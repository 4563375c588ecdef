//! espgate's control plane: IKEv1 as a sans-IO core, the crypto suite it needs, the config model and the SA manager.
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod ike;
pub mod isakmp;
pub mod neighbor;
pub mod pki;
pub mod plan;
