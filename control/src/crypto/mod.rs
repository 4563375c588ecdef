//! IKEv1 crypto suite: Diffie-Hellman groups, PRFs, key derivation (RFC 2409 §5, Appendix B) and Phase 1 ciphers.
