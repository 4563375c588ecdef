//! Errors of the crypto suite.

use crate::isakmp::GroupDescription;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("Diffie-Hellman group {0} is not supported")]
    UnsupportedGroup(GroupDescription),
    #[error("key exchange value for {group} is {got} bytes, expected {expected}")]
    BadPublicLength { group: GroupDescription, got: usize, expected: usize },
    #[error("key exchange value for {group} is invalid: {reason}")]
    InvalidPublicValue { group: GroupDescription, reason: &'static str },
    #[error("private key for {0} is invalid")]
    InvalidPrivateKey(GroupDescription),
    #[error("the system random number generator failed")]
    Random,
    #[error("{cipher} needs a {expected}-byte key, got {got}")]
    BadKeyLength { cipher: &'static str, expected: usize, got: usize },
    #[error("{cipher} needs a {expected}-byte IV, got {got}")]
    BadIvLength { cipher: &'static str, expected: usize, got: usize },
    #[error("ciphertext of {len} bytes is not a multiple of the {block}-byte block")]
    NotBlockAligned { len: usize, block: usize },
    #[error("{0} is not supported")]
    Unsupported(&'static str),
}
