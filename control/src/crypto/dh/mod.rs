//! Diffie-Hellman for IKEv1: MODP groups 1, 2, 5, 14, 15, 16 (RFC 2409, RFC 3526), 24 (RFC 5114, prime-order
//! subgroup) and ECP groups 19, 20 (RFC 5903), behind one trait. Peer public values are validated before use; shared
//! secrets are left-padded to the group's length; private keys are zeroized on drop.

mod ecp;
mod modp;
mod modp_params;

use crate::isakmp::GroupDescription;

use super::error::CryptoError;
use super::secret::Secret;

/// One side's ephemeral Diffie-Hellman state: its private key (hidden) and public value.
pub trait KeyExchange: Send + Sync {
    /// The group this key belongs to.
    fn group(&self) -> GroupDescription;

    /// The public value as carried in a KE payload: g^x left-padded to the prime's length for MODP, x|y for ECP.
    fn public_value(&self) -> &[u8];

    /// Validates the peer's KE data and computes the shared secret g^xy (for ECP, the x coordinate), left-padded to
    /// the group's length.
    fn shared_secret(&self, peer_public: &[u8]) -> Result<Secret, CryptoError>;
}

/// Groups this suite implements.
pub const SUPPORTED_GROUPS: &[GroupDescription] = &[
    GroupDescription::MODP_768,
    GroupDescription::MODP_1024,
    GroupDescription::MODP_1536,
    GroupDescription::MODP_2048,
    GroupDescription::MODP_3072,
    GroupDescription::MODP_4096,
    GroupDescription::MODP_2048_256,
    GroupDescription::ECP_256,
    GroupDescription::ECP_384,
];

/// Length in bytes of the KE payload data for a group, or `None` if unsupported.
pub fn public_len(group: GroupDescription) -> Option<usize> {
    Some(match group {
        GroupDescription::MODP_768 => 96,
        GroupDescription::MODP_1024 => 128,
        GroupDescription::MODP_1536 => 192,
        GroupDescription::MODP_2048 | GroupDescription::MODP_2048_256 => 256,
        GroupDescription::MODP_3072 => 384,
        GroupDescription::MODP_4096 => 512,
        GroupDescription::ECP_256 => 64,
        GroupDescription::ECP_384 => 96,
        _ => return None,
    })
}

/// Generates a fresh key pair from the operating system's random number generator.
pub fn generate(group: GroupDescription) -> Result<Box<dyn KeyExchange>, CryptoError> {
    match group {
        GroupDescription::ECP_256 => Ok(Box::new(ecp::Ecp::<p256::NistP256>::generate(group)?)),
        GroupDescription::ECP_384 => Ok(Box::new(ecp::Ecp::<p384::NistP384>::generate(group)?)),
        _ => modp::generate(group),
    }
}

/// Builds a key pair from a known private value (big-endian): the MODP exponent or the ECP scalar. For known-answer
/// tests and for reusing a key across retransmissions.
pub fn from_private(group: GroupDescription, private: &[u8]) -> Result<Box<dyn KeyExchange>, CryptoError> {
    match group {
        GroupDescription::ECP_256 => Ok(Box::new(ecp::Ecp::<p256::NistP256>::from_private(group, private)?)),
        GroupDescription::ECP_384 => Ok(Box::new(ecp::Ecp::<p384::NistP384>::from_private(group, private)?)),
        _ => modp::from_private(group, private),
    }
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    use rand_core::RngCore;
    rand_core::OsRng.try_fill_bytes(buf).map_err(|_| CryptoError::Random)
}
