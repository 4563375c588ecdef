//! Changing an endpoint's Phase 1 settings while it runs (a config reload): established ISAKMP SAs keep what they
//! negotiated; new exchanges use the new policies and keys.

use std::net::IpAddr;

use crate::crypto::Secret;

use super::{Endpoint, Phase1Proposal};

impl Endpoint {
    /// Replaces the ISAKMP policies (in priority order), the pre-shared keys by peer address, and whether
    /// Aggressive Mode is answered.
    pub fn set_phase1_config(&mut self, policies: Vec<Phase1Proposal>, keys: Vec<(IpAddr, Secret)>, aggressive: bool) {
        self.config.policies = policies;
        self.config.keys = keys;
        self.config.aggressive_mode = aggressive;
    }
}
