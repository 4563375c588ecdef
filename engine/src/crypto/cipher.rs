//! Per-SA ciphers with their key schedules built once.
//!
//! CBC and CTR are written over the block cipher primitives so the key schedule is used by reference (no per-packet
//! clone or key expansion) and several blocks go through AES at once (CBC decryption and CTR keystream are parallel).
//! AES-GCM-128/256 uses `ring`; AES-GCM-192, which `ring` lacks, uses RustCrypto's `aes-gcm`.

use super::{CryptoError, EncryptionAlgorithm};
use aes::cipher::{generic_array::GenericArray, Block, BlockDecrypt, BlockEncrypt, BlockSizeUser, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::AeadInPlace;
use des::{Des, TdesEde3};
use ring::aead;

/// How many blocks go through the block cipher per call in the parallel modes.
const PAR_BLOCKS: usize = 8;

type Gcm192 = aes_gcm::AesGcm<Aes192, aes_gcm::aead::consts::U12>;

/// A keyed ESP cipher.
pub enum Cipher {
    Null,
    DesCbc(Des, IvGen),
    TdesCbc(TdesEde3, IvGen),
    Aes128Cbc(Aes128, IvGen),
    Aes192Cbc(Aes192, IvGen),
    Aes256Cbc(Aes256, IvGen),
    Aes128Ctr(Aes128, [u8; 4]),
    Aes192Ctr(Aes192, [u8; 4]),
    Aes256Ctr(Aes256, [u8; 4]),
    /// AES-GCM-128/256 via ring, with the 4-byte salt.
    GcmRing(aead::LessSafeKey, [u8; 4]),
    Gcm192(Box<Gcm192>, [u8; 4]),
}

impl core::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.write_str("Cipher(..)")
    }
}

/// CBC IVs must be unpredictable (RFC 3602 §3): IV = AES-128 under a random per-SA key of the 64-bit sequence number,
/// which is unique per packet, so IVs are pseudo-random and never repeat without per-packet randomness calls.
pub struct IvGen(Aes128);

impl core::fmt::Debug for IvGen {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IvGen(..)")
    }
}

impl IvGen {
    pub(crate) fn random() -> Result<Self, CryptoError> {
        use ring::rand::SecureRandom;
        let mut k = zeroize::Zeroizing::new([0u8; 16]);
        ring::rand::SystemRandom::new().fill(&mut k[..]).map_err(|_| CryptoError::Random)?;
        Ok(Self(Aes128::new(GenericArray::from_slice(&k[..]))))
    }

    pub(crate) fn iv(&self, seq: u64, out: &mut [u8]) {
        let mut b = Block::<Aes128>::default();
        b[8..].copy_from_slice(&seq.to_be_bytes());
        self.0.encrypt_block(&mut b);
        out.copy_from_slice(&b[..out.len()]);
    }

    /// [`IvGen::iv`] of several sequence numbers in one call: AES-NI pipelines independent blocks, where one block
    /// at a time waits for each round's latency.
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // the intel-ipsec-mb backend's
    pub(crate) fn ivs(&self, seqs: &[u64], out: &mut [[u8; 16]]) {
        let n = seqs.len().min(out.len());
        for (o, s) in out[..n].iter_mut().zip(seqs) {
            *o = [0; 16];
            o[8..].copy_from_slice(&s.to_be_bytes());
        }
        for chunk in out[..n].chunks_mut(8) {
            let mut blocks = [Block::<Aes128>::default(); 8];
            for (b, o) in blocks.iter_mut().zip(chunk.iter()) {
                b.copy_from_slice(o);
            }
            self.0.encrypt_blocks(&mut blocks[..chunk.len()]);
            for (o, b) in chunk.iter_mut().zip(&blocks) {
                o.copy_from_slice(b);
            }
        }
    }
}

fn check_key(alg: EncryptionAlgorithm, key: &[u8]) -> Result<(), CryptoError> {
    if key.len() != alg.key_len() {
        return Err(CryptoError::KeyLength { algorithm: alg.name(), expected: alg.key_len(), got: key.len() });
    }
    Ok(())
}

pub(crate) fn split_salt(key: &[u8]) -> (&[u8], [u8; 4]) {
    let (k, s) = key.split_at(key.len() - 4);
    (k, [s[0], s[1], s[2], s[3]])
}

impl Cipher {
    /// Builds the cipher. For CTR and GCM `key` ends with the 4-byte nonce/salt (RFC 3686 §5.1, RFC 4106 §8.1).
    pub fn new(alg: EncryptionAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        use EncryptionAlgorithm as E;
        check_key(alg, key)?;
        let bad = |_| CryptoError::KeyLength { algorithm: alg.name(), expected: alg.key_len(), got: key.len() };
        Ok(match alg {
            E::Null => Self::Null,
            E::DesCbc => Self::DesCbc(Des::new_from_slice(key).map_err(bad)?, IvGen::random()?),
            E::TripleDesCbc => Self::TdesCbc(TdesEde3::new_from_slice(key).map_err(bad)?, IvGen::random()?),
            E::AesCbc128 => Self::Aes128Cbc(Aes128::new_from_slice(key).map_err(bad)?, IvGen::random()?),
            E::AesCbc192 => Self::Aes192Cbc(Aes192::new_from_slice(key).map_err(bad)?, IvGen::random()?),
            E::AesCbc256 => Self::Aes256Cbc(Aes256::new_from_slice(key).map_err(bad)?, IvGen::random()?),
            E::AesCtr128 | E::AesCtr192 | E::AesCtr256 => {
                let (k, nonce) = split_salt(key);
                match alg {
                    E::AesCtr128 => Self::Aes128Ctr(Aes128::new_from_slice(k).map_err(bad)?, nonce),
                    E::AesCtr192 => Self::Aes192Ctr(Aes192::new_from_slice(k).map_err(bad)?, nonce),
                    _ => Self::Aes256Ctr(Aes256::new_from_slice(k).map_err(bad)?, nonce),
                }
            }
            E::AesGcm192 => {
                let (k, salt) = split_salt(key);
                Self::Gcm192(Box::new(Gcm192::new_from_slice(k).map_err(bad)?), salt)
            }
            E::AesGcm128 | E::AesGcm256 => {
                let (k, salt) = split_salt(key);
                let ring_alg = if alg == E::AesGcm128 { &aead::AES_128_GCM } else { &aead::AES_256_GCM };
                let unbound = aead::UnboundKey::new(ring_alg, k).map_err(|_| CryptoError::KeyLength {
                    algorithm: alg.name(),
                    expected: alg.key_len(),
                    got: key.len(),
                })?;
                Self::GcmRing(aead::LessSafeKey::new(unbound), salt)
            }
        })
    }

    /// The IV for the packet with 64-bit sequence number `seq`: derived for CBC, the sequence number itself for
    /// CTR and GCM (unique per key because the sequence never wraps, which is all RFC 3686/4106 require).
    pub fn derive_iv(&self, seq: u64, out: &mut [u8]) {
        match self {
            Self::Null => {}
            Self::DesCbc(_, g) | Self::TdesCbc(_, g) => g.iv(seq, out),
            Self::Aes128Cbc(_, g) | Self::Aes192Cbc(_, g) | Self::Aes256Cbc(_, g) => g.iv(seq, out),
            _ => out.copy_from_slice(&seq.to_be_bytes()),
        }
    }

    /// Encrypts a non-AEAD payload in place. `data` is aligned to the block size for CBC.
    pub fn encrypt(&self, iv: &[u8], data: &mut [u8]) {
        match self {
            Self::Null | Self::GcmRing(..) | Self::Gcm192(..) => {}
            Self::DesCbc(c, _) => cbc_encrypt(c, iv, data),
            Self::TdesCbc(c, _) => cbc_encrypt(c, iv, data),
            Self::Aes128Cbc(c, _) => cbc_encrypt(c, iv, data),
            Self::Aes192Cbc(c, _) => cbc_encrypt(c, iv, data),
            Self::Aes256Cbc(c, _) => cbc_encrypt(c, iv, data),
            Self::Aes128Ctr(c, n) => ctr_apply(c, n, iv, data),
            Self::Aes192Ctr(c, n) => ctr_apply(c, n, iv, data),
            Self::Aes256Ctr(c, n) => ctr_apply(c, n, iv, data),
        }
    }

    /// True for the CBC ciphers, whose encryption is sequential within a packet and so gains from interleaving
    /// several packets ([`Cipher::cbc_encrypt_lanes`]).
    pub fn is_cbc(&self) -> bool {
        matches!(
            self,
            Self::DesCbc(..) | Self::TdesCbc(..) | Self::Aes128Cbc(..) | Self::Aes192Cbc(..) | Self::Aes256Cbc(..)
        )
    }

    /// CBC-encrypts up to [`LANES`] independent packets at once: block `b` of every packet goes through the block
    /// cipher in one call, so AES-NI pipelines across packets what it cannot within one. `ivs[k]` is lane k's IV.
    pub fn cbc_encrypt_lanes(&self, ivs: &[[u8; 16]], lanes: &mut [&mut [u8]]) {
        match self {
            Self::DesCbc(c, _) => cbc_encrypt_lanes(c, ivs, lanes),
            Self::TdesCbc(c, _) => cbc_encrypt_lanes(c, ivs, lanes),
            Self::Aes128Cbc(c, _) => cbc_encrypt_lanes(c, ivs, lanes),
            Self::Aes192Cbc(c, _) => cbc_encrypt_lanes(c, ivs, lanes),
            Self::Aes256Cbc(c, _) => cbc_encrypt_lanes(c, ivs, lanes),
            _ => {}
        }
    }

    /// Decrypts a non-AEAD payload in place.
    pub fn decrypt(&self, iv: &[u8], data: &mut [u8]) {
        match self {
            Self::Null | Self::GcmRing(..) | Self::Gcm192(..) => {}
            Self::DesCbc(c, _) => cbc_decrypt(c, iv, data),
            Self::TdesCbc(c, _) => cbc_decrypt(c, iv, data),
            Self::Aes128Cbc(c, _) => cbc_decrypt(c, iv, data),
            Self::Aes192Cbc(c, _) => cbc_decrypt(c, iv, data),
            Self::Aes256Cbc(c, _) => cbc_decrypt(c, iv, data),
            Self::Aes128Ctr(c, n) => ctr_apply(c, n, iv, data),
            Self::Aes192Ctr(c, n) => ctr_apply(c, n, iv, data),
            Self::Aes256Ctr(c, n) => ctr_apply(c, n, iv, data),
        }
    }

    /// AEAD seal in place; writes the 16-byte tag. Returns false if this is not an AEAD cipher.
    pub fn seal(&self, iv: &[u8], aad: &[u8], data: &mut [u8], tag: &mut [u8]) -> bool {
        match self {
            Self::GcmRing(k, salt) => {
                let n = aead::Nonce::assume_unique_for_key(nonce(salt, iv));
                match k.seal_in_place_separate_tag(n, aead::Aad::from(aad), data) {
                    Ok(t) => {
                        tag.copy_from_slice(t.as_ref());
                        true
                    }
                    Err(_) => false,
                }
            }
            Self::Gcm192(k, salt) => {
                let n = nonce(salt, iv);
                match k.encrypt_in_place_detached(GenericArray::from_slice(&n), aad, data) {
                    Ok(t) => {
                        tag.copy_from_slice(&t);
                        true
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        }
    }

    /// AEAD open in place: `data_and_tag` is ciphertext followed by the 16-byte tag. The tag is compared in constant
    /// time by the AEAD implementation; on failure the data is not released.
    pub fn open(&self, iv: &[u8], aad: &[u8], data_and_tag: &mut [u8]) -> bool {
        match self {
            Self::GcmRing(k, salt) => {
                let n = aead::Nonce::assume_unique_for_key(nonce(salt, iv));
                k.open_in_place(n, aead::Aad::from(aad), data_and_tag).is_ok()
            }
            Self::Gcm192(k, salt) => {
                let n = nonce(salt, iv);
                let split = data_and_tag.len() - 16;
                let (data, tag) = data_and_tag.split_at_mut(split);
                k.decrypt_in_place_detached(GenericArray::from_slice(&n), aad, data, GenericArray::from_slice(tag))
                    .is_ok()
            }
            _ => false,
        }
    }
}

fn nonce(salt: &[u8; 4], iv: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(&iv[..8]);
    n
}

fn cbc_encrypt<C: BlockEncrypt>(c: &C, iv: &[u8], data: &mut [u8]) {
    let bs = C::block_size();
    let mut chain = Block::<C>::default();
    chain.copy_from_slice(&iv[..bs]);
    for chunk in data.chunks_exact_mut(bs) {
        for (x, p) in chain.iter_mut().zip(chunk.iter()) {
            *x ^= *p;
        }
        c.encrypt_block(&mut chain);
        chunk.copy_from_slice(&chain);
    }
}

/// Packets interleaved by [`Cipher::cbc_encrypt_lanes`].
pub const LANES: usize = 8;

fn cbc_encrypt_lanes<C: BlockEncrypt>(c: &C, ivs: &[[u8; 16]], lanes: &mut [&mut [u8]]) {
    let bs = C::block_size();
    let n_lanes = lanes.len().min(LANES);
    let mut chain: [Block<C>; LANES] = Default::default();
    for (ch, iv) in chain.iter_mut().zip(ivs).take(n_lanes) {
        ch.copy_from_slice(&iv[..bs]);
    }
    let max_blocks = lanes[..n_lanes].iter().map(|l| l.len() / bs).max().unwrap_or(0);
    let mut batch: [Block<C>; LANES] = Default::default();
    let mut owner = [0usize; LANES];
    for b in 0..max_blocks {
        let range = b * bs..(b + 1) * bs;
        let mut n = 0;
        for (k, lane) in lanes[..n_lanes].iter().enumerate() {
            if range.end <= lane.len() {
                for ((x, c), p) in batch[n].iter_mut().zip(chain[k].iter()).zip(&lane[range.clone()]) {
                    *x = *c ^ *p;
                }
                owner[n] = k;
                n += 1;
            }
        }
        c.encrypt_blocks(&mut batch[..n]);
        for (blk, &k) in batch[..n].iter().zip(&owner[..n]) {
            lanes[k][range.clone()].copy_from_slice(blk);
            chain[k].copy_from_slice(blk);
        }
    }
}

fn cbc_decrypt<C: BlockDecrypt>(c: &C, iv: &[u8], data: &mut [u8]) {
    let bs = C::block_size();
    let mut prev = Block::<C>::default();
    prev.copy_from_slice(&iv[..bs]);
    let mut blocks: [Block<C>; PAR_BLOCKS] = Default::default();
    for chunk in data.chunks_mut(PAR_BLOCKS * bs) {
        let n = chunk.len() / bs;
        for (b, src) in blocks.iter_mut().zip(chunk.chunks_exact(bs)) {
            b.copy_from_slice(src);
        }
        c.decrypt_blocks(&mut blocks[..n]);
        // XOR each block with the previous ciphertext block, walking backwards so the ciphertext still in `chunk`
        // is read before it is overwritten.
        let last_ct = Block::<C>::clone_from_slice(&chunk[(n - 1) * bs..n * bs]);
        for i in (0..n).rev() {
            let (before, cur) = chunk.split_at_mut(i * bs);
            let prev_ct: &[u8] = if i == 0 { &prev } else { &before[(i - 1) * bs..] };
            for ((d, x), p) in cur[..bs].iter_mut().zip(blocks[i].iter()).zip(prev_ct) {
                *d = *x ^ *p;
            }
        }
        prev = last_ct;
    }
}

/// RFC 3686 counter mode: counter block = nonce (4) | IV (8) | 32-bit block counter from 1.
fn ctr_apply<C: BlockEncrypt + BlockSizeUser<BlockSize = aes::cipher::consts::U16>>(
    c: &C,
    nonce: &[u8; 4],
    iv: &[u8],
    data: &mut [u8],
) {
    let mut blocks: [Block<C>; PAR_BLOCKS] = Default::default();
    let mut ctr: u32 = 1;
    for chunk in data.chunks_mut(PAR_BLOCKS * 16) {
        let n = chunk.len().div_ceil(16);
        for b in blocks[..n].iter_mut() {
            b[..4].copy_from_slice(nonce);
            b[4..12].copy_from_slice(&iv[..8]);
            b[12..].copy_from_slice(&ctr.to_be_bytes());
            ctr = ctr.wrapping_add(1);
        }
        c.encrypt_blocks(&mut blocks[..n]);
        for (d, k) in chunk.chunks_mut(16).zip(blocks[..n].iter()) {
            for (x, y) in d.iter_mut().zip(k.iter()) {
                *x ^= *y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_length_is_an_error() {
        let e = Cipher::new(EncryptionAlgorithm::AesGcm256, &[0; 32]).unwrap_err();
        assert_eq!(e, CryptoError::KeyLength { algorithm: "esp-gcm-256", expected: 36, got: 32 });
    }

    #[test]
    fn cbc_and_ctr_invert_for_every_length() {
        for alg in EncryptionAlgorithm::ALL.into_iter().filter(|a| !a.is_aead()) {
            let key: Vec<u8> = (0..alg.key_len() as u8).collect();
            let c = Cipher::new(alg, &key).unwrap();
            let mut iv = vec![0u8; alg.iv_len()];
            c.derive_iv(42, &mut iv);
            for blocks in 0..20 {
                let orig: Vec<u8> = (0..blocks * alg.pad_align()).map(|i| i as u8).collect();
                let mut d = orig.clone();
                c.encrypt(&iv, &mut d);
                if alg != EncryptionAlgorithm::Null && !orig.is_empty() {
                    assert_ne!(d, orig, "{alg:?}");
                }
                c.decrypt(&iv, &mut d);
                assert_eq!(d, orig, "{alg:?} {blocks}");
            }
        }
    }

    #[test]
    fn interleaved_cbc_equals_one_packet_at_a_time() {
        for alg in [EncryptionAlgorithm::AesCbc128, EncryptionAlgorithm::AesCbc256, EncryptionAlgorithm::TripleDesCbc] {
            let c = Cipher::new(alg, &vec![9u8; alg.key_len()]).unwrap();
            let bs = alg.pad_align();
            let mut ivs = [[0u8; 16]; LANES];
            let mut lanes: Vec<Vec<u8>> =
                (0..LANES).map(|k| (0..(k * 3 % 7) * bs).map(|i| i as u8).collect()).collect();
            let mut want = lanes.clone();
            for (k, iv) in ivs.iter_mut().enumerate() {
                c.derive_iv(k as u64, &mut iv[..alg.iv_len()]);
                c.encrypt(&iv[..alg.iv_len()], &mut want[k]);
            }
            let mut refs: Vec<&mut [u8]> = lanes.iter_mut().map(|l| &mut l[..]).collect();
            c.cbc_encrypt_lanes(&ivs, &mut refs);
            assert_eq!(lanes, want, "{alg:?}");
        }
    }

    #[test]
    fn cbc_ivs_differ_per_sequence_number() {
        let c = Cipher::new(EncryptionAlgorithm::AesCbc128, &[7; 16]).unwrap();
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        c.derive_iv(1, &mut a);
        c.derive_iv(2, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn batched_ivs_equal_one_at_a_time() {
        let g = IvGen::random().unwrap();
        let seqs: Vec<u64> = (0..19).map(|i| (i * 0x1_0000_0001u64) ^ 0xfff0).collect();
        let mut batch = [[0u8; 16]; 19];
        g.ivs(&seqs, &mut batch);
        for (s, b) in seqs.iter().zip(&batch) {
            let mut one = [0u8; 16];
            g.iv(*s, &mut one);
            assert_eq!(&one, b);
        }
    }
}
