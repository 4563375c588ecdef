//! Read-only access to an ISAKMP SA's keys for export to a protocol analyzer (`espgate show crypto keys
//! --wireshark`): Wireshark decrypts IKEv1 messages with the initiator cookie and the encryption key, and derives the
//! IVs itself from the KE payloads it saw.
use super::main_mode::State;
use super::Endpoint;
use crate::crypto::{kdf, Secret};
use crate::isakmp::Cookie;

impl Endpoint {
    /// The encryption key of the established ISAKMP SA with initiator cookie `icookie` (RFC 2409 Appendix B: SKEYID_e,
    /// or Ka for ciphers whose key is longer). None while the SA negotiates or when there is none.
    pub fn phase1_encryption_key(&self, icookie: &Cookie) -> Option<Secret> {
        match &self.sas.get(icookie)?.state {
            // Derived again rather than read from the SA's cipher state, which stays private to it.
            State::Established(e) => {
                Some(kdf::encryption_key(e.crypto.prf, &e.crypto.skeyids.skeyid_e, e.proposal.cipher.key_len()))
            }
            _ => None,
        }
    }

    /// The initiator cookies of the established ISAKMP SAs.
    pub fn established_cookies(&self) -> Vec<Cookie> {
        self.sas.iter().filter(|(_, s)| matches!(s.state, State::Established(_))).map(|(c, _)| *c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::IkeCipher;
    use crate::ike::{Config, Phase1Proposal};
    use crate::isakmp::{AuthMethod, GroupDescription, HashAlgorithm};
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    fn endpoint(local: &str, peer: &str, p: Phase1Proposal) -> Endpoint {
        let peer: SocketAddr = peer.parse().unwrap();
        let cfg = Config {
            policies: vec![p],
            keys: vec![(peer.ip(), Secret::from_slice(b"export-test-key"))],
            retransmit_interval: Duration::from_secs(1),
            retransmit_tries: 3,
            max_half_open: 4,
            aggressive_mode: false,
            nat_traversal: false,
            nat_keepalive: Duration::from_secs(20),
            max_new_per_source_per_sec: crate::ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
            rate_limit_sources: crate::ike::DEFAULT_RATE_LIMIT_SOURCES,
            max_message_size: crate::ike::DEFAULT_MAX_MESSAGE_SIZE,
        };
        Endpoint::new(cfg, local.parse().unwrap()).unwrap()
    }

    /// Main Mode between two endpoints in memory; returns them and the initiator cookie.
    fn handshake(cipher: IkeCipher, hash: HashAlgorithm) -> (Endpoint, Endpoint, Cookie) {
        let p = Phase1Proposal {
            cipher,
            hash,
            auth: AuthMethod::PRE_SHARED_KEY,
            group: GroupDescription::from(14),
            lifetime_secs: 3600,
        };
        let (ia, ra) = ("192.0.2.1:500", "198.51.100.1:500");
        let mut i = endpoint(ia, ra, p);
        let mut r = endpoint(ra, ia, p);
        let now = Instant::now();
        let icookie = i.connect(now, ra.parse().unwrap()).unwrap();
        assert!(i.phase1_encryption_key(&icookie).is_none(), "no key before the exchange is done");
        for _ in 0..10 {
            while let Some(t) = i.poll_transmit() {
                r.handle(now, t.destination, t.source, &t.contents);
            }
            while let Some(t) = r.poll_transmit() {
                i.handle(now, t.destination, t.source, &t.contents);
            }
        }
        (i, r, icookie)
    }

    #[test]
    fn both_sides_export_the_same_key_of_the_cipher_length() {
        // SHA-256 gives a 32-byte SKEYID_e; SHA-1's 20 bytes need the Ka expansion for AES-256.
        for (cipher, hash) in [
            (IkeCipher::Aes256Cbc, HashAlgorithm::SHA2_256),
            (IkeCipher::Aes256Cbc, HashAlgorithm::SHA1),
            (IkeCipher::Aes128Cbc, HashAlgorithm::SHA1),
        ] {
            let (i, r, icookie) = handshake(cipher, hash);
            assert_eq!(i.established_cookies(), vec![icookie]);
            assert_eq!(r.established_cookies(), vec![icookie]);
            let ki = i.phase1_encryption_key(&icookie).expect("initiator key");
            let kr = r.phase1_encryption_key(&icookie).expect("responder key");
            assert_eq!(ki.expose(), kr.expose());
            assert_eq!(ki.len(), cipher.key_len());
            assert!(i.phase1_encryption_key(&[1; 8]).is_none());
        }
    }
}
