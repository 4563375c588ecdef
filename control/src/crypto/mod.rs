//! IKEv1 crypto suite: Diffie-Hellman groups, PRFs, key derivation (RFC 2409 §5, Appendix B) and Phase 1 ciphers.

mod cipher;
pub mod dh;
mod error;
mod iv;
pub mod kdf;
mod prf;
mod secret;

pub use cipher::{pad, IkeCipher};
pub use error::CryptoError;
pub use iv::IvManager;
pub use prf::Prf;
pub use secret::{ct_eq, Secret};
