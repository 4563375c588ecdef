//! ESP cryptography behind one burst-oriented trait.
//!
//! [`EspCrypto`] takes a burst of [`EspJob`]s, each the bytes of one ESP packet from the SPI to the end of the ICV, and
//! seals or opens them in place. The software backend ([`SoftwareEsp`]) is built once per SA at install, with the
//! algorithm and key schedules fixed then (AES round keys, HMAC inner/outer pad states, ring GCM keys), so the packet
//! path does no key setup, no dispatch on algorithm names and no allocation. A DPDK cryptodev backend implements the
//! same trait ([`CryptodevEsp`], with the `dpdk` feature), and so does intel-ipsec-mb called directly ([`IpsecMbEsp`],
//! with the `dpdk` feature: the CPU backend's choice where it has the suite); [`measure`] times a handler so the daemon can pick the faster.

mod algorithms;
mod cipher;
#[cfg(feature = "dpdk")]
mod cryptodev;
mod integrity;
#[cfg(feature = "dpdk")]
mod ipsec_mb;
pub mod measure;
mod software;

pub use algorithms::{EncryptionAlgorithm, IntegrityAlgorithm};
pub use cipher::Cipher;
#[cfg(feature = "dpdk")]
pub use cryptodev::{
    BuiltCrypto, CryptoBackend, CryptodevEsp, CryptodevEspError, CryptodevMode, EspDirection, CPU_IPSEC_MB,
};
pub use integrity::Integrity;
#[cfg(feature = "dpdk")]
pub use ipsec_mb::{IpsecMbError, IpsecMbEsp};
pub use software::SoftwareEsp;

use crate::drop::DropReason;

/// Why a crypto handler cannot be built for an SA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{algorithm} needs a {expected}-byte key, got {got} bytes")]
    KeyLength { algorithm: &'static str, expected: usize, got: usize },
    #[error("ESP needs confidentiality or integrity: NULL encryption with no integrity is not allowed")]
    NullNull,
    #[error("{0} is a combined-mode cipher and takes no separate integrity algorithm")]
    AeadWithIntegrity(&'static str),
    #[error("the system random number generator failed")]
    Random,
}

/// The checks every backend makes of an SA's suite and keys before it builds anything.
pub(crate) fn check_suite(
    encryption: EncryptionAlgorithm,
    cipher_key: &[u8],
    integrity: IntegrityAlgorithm,
    auth_key: &[u8],
) -> Result<(), CryptoError> {
    if encryption.is_aead() && integrity != IntegrityAlgorithm::None {
        return Err(CryptoError::AeadWithIntegrity(encryption.name()));
    }
    if encryption == EncryptionAlgorithm::Null && integrity == IntegrityAlgorithm::None {
        return Err(CryptoError::NullNull);
    }
    if cipher_key.len() != encryption.key_len() {
        let (algorithm, expected, got) = (encryption.name(), encryption.key_len(), cipher_key.len());
        return Err(CryptoError::KeyLength { algorithm, expected, got });
    }
    if auth_key.len() != integrity.key_len() {
        let (algorithm, expected, got) = (integrity.name(), integrity.key_len(), auth_key.len());
        return Err(CryptoError::KeyLength { algorithm, expected, got });
    }
    Ok(())
}

/// Offsets (ciphertext start, ICV start) of an ESP packet of `len` bytes, after checking that it holds at least
/// `min_payload` bytes of ciphertext padded to `align`.
pub(crate) fn esp_layout(
    len: usize,
    iv_len: usize,
    icv_len: usize,
    align: usize,
    min_payload: usize,
) -> Result<(usize, usize), DropReason> {
    let ct = crate::wire::esp::HEADER_LEN + iv_len;
    let icv = len.checked_sub(icv_len).filter(|&i| i >= ct + min_payload).ok_or(DropReason::BadLength)?;
    if (icv - ct) % align != 0 {
        return Err(DropReason::BadLength);
    }
    Ok((ct, icv))
}

/// Runs `jobs` in chunks of at most `max`, each through `small` when it holds at most `small_len` jobs, else `big`:
/// backends size their per-chunk arrays by const generics, and a burst's group for one SA is often a few packets.
#[cfg(feature = "dpdk")]
pub(crate) fn by_chunks(
    jobs: &mut [EspJob<'_>],
    (max, small_len): (usize, usize),
    mut small: impl FnMut(&mut [EspJob<'_>]),
    mut big: impl FnMut(&mut [EspJob<'_>]),
) {
    for chunk in jobs.chunks_mut(max) {
        if chunk.len() <= small_len {
            small(chunk);
        } else {
            big(chunk);
        }
    }
}

/// One ESP packet handed to the crypto layer.
#[derive(Debug)]
pub struct EspJob<'a> {
    /// SPI | Sequence | IV | ciphertext | ICV. When sealing, SPI and sequence are written and the IV, trailer and
    /// ICV space reserved; the plaintext (payload and trailer) is where the ciphertext goes.
    pub esp: &'a mut [u8],
    /// High half of the 64-bit sequence number (used for IV derivation, and in the ICV/AAD when `esn`).
    pub seq_hi: u32,
    /// Extended Sequence Numbers are on for this SA.
    pub esn: bool,
    /// Set by the backend.
    pub status: Result<(), DropReason>,
}

impl<'a> EspJob<'a> {
    pub fn new(esp: &'a mut [u8], seq_hi: u32, esn: bool) -> Self {
        Self { esp, seq_hi, esn, status: Ok(()) }
    }

    /// The packet's 64-bit sequence number: `seq_hi` with the low half from the ESP header (the IVs derive from it).
    pub(crate) fn seq(&self) -> u64 {
        let lo = u32::from_be_bytes([self.esp[4], self.esp[5], self.esp[6], self.esp[7]]);
        (u64::from(self.seq_hi) << 32) | u64::from(lo)
    }
}

/// A per-SA ESP crypto handler.
pub trait EspCrypto: Send + Sync {
    /// IV bytes after the ESP header.
    fn iv_len(&self) -> usize;
    /// ICV bytes at the end of the packet.
    fn icv_len(&self) -> usize;
    /// The plaintext (payload + trailer) must be padded to a multiple of this (at least 4, RFC 4303 §2.4).
    fn pad_align(&self) -> usize;
    /// Writes the IV, encrypts and writes the ICV for every job; sets `status`.
    fn seal_burst(&self, jobs: &mut [EspJob<'_>]);
    /// Verifies the ICV (constant time) and, only if it verifies, decrypts in place; sets `status`.
    fn open_burst(&self, jobs: &mut [EspJob<'_>]);
    /// Reads the handler and the start of its key material, so that with many SAs their cache misses can be taken
    /// for a whole burst at once ([`crate::datapath::Datapath::warm`]). The value only keeps the reads.
    fn touch_keys(&self) -> u64 {
        self.pad_align() as u64
    }
}
