//! IKEv1 CBC IV state for one ISAKMP SA (RFC 2409 Appendix B): Phase 1 messages chain from hash(g^xi | g^xr);
//! each later exchange (one Message ID) starts from hash(last Phase 1 CBC block | M-ID) and then chains on its own.
//! Several exchanges may run at once on one ISAKMP SA, so IVs are kept per Message ID.

use std::collections::VecDeque;

use super::kdf::phase2_iv;
use super::prf::Prf;

/// How many concurrent non-Phase-1 exchanges keep their IV (older ones are forgotten first).
const MAX_EXCHANGES: usize = 8;

#[derive(Debug, Clone)]
pub struct IvManager {
    prf: Prf,
    block_len: usize,
    /// The IV of the next Phase 1 message (the last CBC block of the previous one).
    phase1: Vec<u8>,
    exchanges: VecDeque<(u32, Vec<u8>)>,
}

impl IvManager {
    /// Starts with the Phase 1 IV, `hash(g^xi | g^xr)` truncated to the block size.
    pub fn new(prf: Prf, block_len: usize, gxi: &[u8], gxr: &[u8]) -> Self {
        IvManager {
            prf,
            block_len,
            phase1: super::kdf::phase1_iv(prf, gxi, gxr, block_len),
            exchanges: VecDeque::new(),
        }
    }

    /// The IV to encrypt or decrypt the next message of exchange `message_id` (0 is Phase 1).
    pub fn iv(&mut self, message_id: u32) -> Vec<u8> {
        if message_id == 0 {
            return self.phase1.clone();
        }
        if let Some((_, iv)) = self.exchanges.iter().find(|(id, _)| *id == message_id) {
            return iv.clone();
        }
        let iv = phase2_iv(self.prf, &self.phase1, message_id, self.block_len);
        if self.exchanges.len() == MAX_EXCHANGES {
            self.exchanges.pop_front();
        }
        self.exchanges.push_back((message_id, iv.clone()));
        iv
    }

    /// Records the ciphertext of a message just sent or accepted: its last block is the next IV of the exchange.
    /// Call only for messages actually processed (not for retransmissions dropped as duplicates).
    pub fn update(&mut self, message_id: u32, ciphertext: &[u8]) {
        if ciphertext.len() < self.block_len {
            return;
        }
        let last = ciphertext[ciphertext.len() - self.block_len..].to_vec();
        if message_id == 0 {
            self.phase1 = last;
        } else if let Some(e) = self.exchanges.iter_mut().find(|(id, _)| *id == message_id) {
            e.1 = last;
        } else {
            if self.exchanges.len() == MAX_EXCHANGES {
                self.exchanges.pop_front();
            }
            self.exchanges.push_back((message_id, last));
        }
    }

    /// Forgets a finished exchange.
    pub fn forget(&mut self, message_id: u32) {
        self.exchanges.retain(|(id, _)| *id != message_id);
    }
}
