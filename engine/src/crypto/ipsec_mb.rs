//! ESP crypto on intel-ipsec-mb called directly ([`IpsecMbEsp`]): the CPU backend for the suites the library has.
//!
//! AES-GCM goes through the library's single-buffer VAES functions, one call per packet. AES-CBC, AES-CTR and NULL
//! with HMAC go through its job API, so the packets of a burst are interleaved: CBC encryption of one packet is
//! serial, but the library runs one chain per lane (up to 16 with AVX-512).
//!
//! ESP formats are the software backend's: GCM nonce salt | IV with AAD SPI | seq (or SPI | seq_hi | seq_lo with
//! ESN, RFC 4106 §5); CTR counter block nonce | IV | 1 (RFC 3686); CBC IVs from AES over the 64-bit sequence number.
//! With ESN the HMAC covers SPI .. ciphertext | seq_hi (RFC 4303 §2.2.1): seq_hi is written where the ICV goes and
//! the hashed region extended over it; the received ICV is saved first and put back. Inbound, the HMAC is checked
//! (constant time) before anything is decrypted, and only packets that verify are decrypted.
use super::cipher::IvGen;
use super::software::gcm_aad;
use super::{CryptoError, EncryptionAlgorithm, EspCrypto, EspJob, IntegrityAlgorithm};
use crate::dpdk::ipsec_mb::{ChainCipher, ChainHash, ChainKeys, ChainOp, ChainStep, GcmKey, ImbError};
use crate::drop::DropReason;
use crate::wire::esp::HEADER_LEN;
use subtle::ConstantTimeEq;

const GCM_ICV_LEN: usize = 16;
/// Jobs per library run: a worker's burst.
const CHUNK: usize = 32;
/// Chunks of at most this many jobs use small on-stack arrays (a burst's group for one SA is often a few packets).
const SMALL: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum IpsecMbError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Library(#[from] ImbError),
    #[error("intel-ipsec-mb backend: {0} is not supported")]
    Unsupported(&'static str),
}

#[derive(Debug)]
enum Keys {
    Gcm(GcmKey),
    Chain(ChainKeys),
}

/// Per-SA ESP crypto on intel-ipsec-mb.
#[derive(Debug)]
pub struct IpsecMbEsp {
    keys: Keys,
    encryption: EncryptionAlgorithm,
    has_auth: bool,
    ctr: bool,
    iv_len: usize,
    icv_len: usize,
    salt: [u8; 4],
    ivgen: Option<IvGen>,
}

fn chain_hash(i: IntegrityAlgorithm) -> ChainHash {
    use IntegrityAlgorithm as I;
    match i {
        I::None => ChainHash::None,
        I::HmacMd5_96 => ChainHash::Md5,
        I::HmacSha1_96 => ChainHash::Sha1,
        I::HmacSha256_128 => ChainHash::Sha256,
        I::HmacSha384_192 => ChainHash::Sha384,
        I::HmacSha512_256 => ChainHash::Sha512,
    }
}

impl IpsecMbEsp {
    /// Validates the suite and keys (as the software backend does) and expands the keys. DES and 3DES are
    /// [`IpsecMbError::Unsupported`]: the caller builds those in software.
    pub fn new(
        encryption: EncryptionAlgorithm,
        cipher_key: &[u8],
        integrity: IntegrityAlgorithm,
        auth_key: &[u8],
    ) -> Result<Self, IpsecMbError> {
        use EncryptionAlgorithm as E;
        super::check_suite(encryption, cipher_key, integrity, auth_key)?;
        let salted = matches!(encryption, E::AesCtr128 | E::AesCtr192 | E::AesCtr256) || encryption.is_aead();
        let (key, salt) = if salted { super::cipher::split_salt(cipher_key) } else { (cipher_key, [0; 4]) };
        let (keys, icv_len) = if encryption.is_aead() {
            (Keys::Gcm(GcmKey::new(key)?), GCM_ICV_LEN)
        } else {
            let cipher = match encryption {
                E::Null => ChainCipher::Null,
                E::AesCbc128 | E::AesCbc192 | E::AesCbc256 => ChainCipher::AesCbc,
                E::AesCtr128 | E::AesCtr192 | E::AesCtr256 => ChainCipher::AesCtr,
                E::DesCbc | E::TripleDesCbc => return Err(IpsecMbError::Unsupported(encryption.name())),
                E::AesGcm128 | E::AesGcm192 | E::AesGcm256 => unreachable!("AEAD handled above"),
            };
            let icv_len = integrity.icv_len();
            (Keys::Chain(ChainKeys::new(cipher, key, chain_hash(integrity), auth_key, icv_len)?), icv_len)
        };
        let cbc = matches!(encryption, E::AesCbc128 | E::AesCbc192 | E::AesCbc256);
        Ok(Self {
            keys,
            encryption,
            has_auth: integrity != IntegrityAlgorithm::None,
            ctr: matches!(encryption, E::AesCtr128 | E::AesCtr192 | E::AesCtr256),
            iv_len: encryption.iv_len(),
            icv_len,
            salt,
            ivgen: if cbc { Some(IvGen::random()?) } else { None },
        })
    }

    fn layout(&self, len: usize, min_payload: usize) -> Result<(usize, usize), DropReason> {
        super::esp_layout(len, self.iv_len, self.icv_len, self.encryption.pad_align(), min_payload)
    }

    /// The cipher's IV block from the packet's IV: the CBC IV, or the CTR counter block nonce | IV | 1.
    fn iv_block(&self, esp: &[u8]) -> [u8; 16] {
        let mut b = [0u8; 16];
        let iv = &esp[HEADER_LEN..HEADER_LEN + self.iv_len];
        if self.ctr {
            b[..4].copy_from_slice(&self.salt);
            b[4..12].copy_from_slice(iv);
            b[12..].copy_from_slice(&1u32.to_be_bytes());
        } else {
            b[..iv.len()].copy_from_slice(iv);
        }
        b
    }

    /// RFC 4106 nonce: salt | the packet's 8-byte IV.
    fn gcm_nonce(&self, esp: &[u8]) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.salt);
        nonce[4..].copy_from_slice(&esp[HEADER_LEN..HEADER_LEN + 8]);
        nonce
    }

    fn gcm_seal(&self, key: &GcmKey, job: &mut EspJob<'_>) -> Result<(), DropReason> {
        let (ct, icv) = self.layout(job.esp.len(), 0)?;
        // GCM's IV is the 64-bit sequence number (unique per key), as in software.
        let seq = job.seq();
        job.esp[HEADER_LEN..ct].copy_from_slice(&seq.to_be_bytes());
        let mut buf = [0u8; 12];
        let aad = gcm_aad(&mut buf, &job.esp[..HEADER_LEN], job.seq_hi, job.esn);
        let nonce = self.gcm_nonce(job.esp);
        let (data, tag) = job.esp[ct..].split_at_mut(icv - ct);
        key.seal(&nonce, aad, data, tag);
        Ok(())
    }

    fn gcm_open(&self, key: &GcmKey, job: &mut EspJob<'_>) -> Result<(), DropReason> {
        // At least pad length and next header must be in the ciphertext.
        let (ct, icv) = self.layout(job.esp.len(), 2)?;
        let mut buf = [0u8; 12];
        let aad = gcm_aad(&mut buf, &job.esp[..HEADER_LEN], job.seq_hi, job.esn);
        let nonce = self.gcm_nonce(job.esp);
        let (data, received) = job.esp[ct..].split_at_mut(icv - ct);
        let mut tag = [0u8; GCM_ICV_LEN];
        key.open(&nonce, aad, data, &mut tag);
        if bool::from(tag.ct_eq(received)) {
            Ok(())
        } else {
            Err(DropReason::AuthFailed)
        }
    }

    fn chain_seal<const N: usize>(&self, keys: &ChainKeys, jobs: &mut [EspJob<'_>]) {
        let mut idx = [0usize; N];
        let mut seqs = [0u64; N];
        let mut n = 0;
        for (k, job) in jobs.iter_mut().enumerate() {
            let layout = self.layout(job.esp.len(), 0);
            job.status = layout.map(|_| ());
            let Ok((_, icv)) = layout else { continue };
            seqs[n] = job.seq();
            if job.esn && self.has_auth {
                job.esp[icv..icv + 4].copy_from_slice(&job.seq_hi.to_be_bytes());
            }
            idx[n] = k;
            n += 1;
        }
        // CBC IVs of the whole chunk in one pipelined AES call; CTR's IV is the sequence number.
        let mut ivs = [[0u8; 16]; N];
        match &self.ivgen {
            Some(g) => g.ivs(&seqs[..n], &mut ivs[..n]),
            None => ivs.iter_mut().zip(&seqs[..n]).for_each(|(iv, s)| iv[..8].copy_from_slice(&s.to_be_bytes())),
        }
        let ct = HEADER_LEN + self.iv_len;
        for (i, &k) in idx[..n].iter().enumerate() {
            jobs[k].esp[HEADER_LEN..ct].copy_from_slice(&ivs[i][..self.iv_len]);
        }
        let mut ops = ops_of::<N>(jobs, &idx[..n], |job, op| {
            let icv = job.esp.len() - self.icv_len;
            op.iv = self.iv_block(job.esp);
            op.cipher_at = (ct, icv - ct);
            op.hash_at = (0, if job.esn { icv + 4 } else { icv });
        });
        keys.run(ChainStep::Seal, &mut ops[..n]);
        for op in &mut ops[..n] {
            if op.done && self.has_auth {
                let icv = op.buf.len() - self.icv_len;
                op.buf[icv..].copy_from_slice(&op.tag[..self.icv_len]);
            }
        }
        let done: [bool; N] = core::array::from_fn(|i| i < n && ops[i].done);
        for i in 0..n {
            if !done[i] {
                jobs[idx[i]].status = Err(DropReason::CryptoDevice);
            }
        }
    }

    /// Inbound: the HMAC of every packet (one interleaved run), compared in constant time; then decryption of only
    /// the packets that verified (another run).
    fn chain_open<const N: usize>(&self, keys: &ChainKeys, jobs: &mut [EspJob<'_>]) {
        let mut idx = [0usize; N];
        let mut saved = [[0u8; 32]; N];
        let mut n = 0;
        for (k, job) in jobs.iter_mut().enumerate() {
            let layout = self.layout(job.esp.len(), 2);
            job.status = layout.map(|_| ());
            let Ok((_, icv)) = layout else { continue };
            if self.has_auth {
                saved[n][..self.icv_len].copy_from_slice(&job.esp[icv..]);
                if job.esn {
                    job.esp[icv..icv + 4].copy_from_slice(&job.seq_hi.to_be_bytes());
                }
            }
            idx[n] = k;
            n += 1;
        }
        if self.has_auth {
            let mut ops = ops_of::<N>(jobs, &idx[..n], |job, op| {
                let icv = job.esp.len() - self.icv_len;
                op.hash_at = (0, if job.esn { icv + 4 } else { icv });
            });
            keys.run(ChainStep::Hash, &mut ops[..n]);
            let mut verdict = [Err(DropReason::CryptoDevice); N];
            for (i, op) in ops[..n].iter_mut().enumerate() {
                let icv = op.buf.len() - self.icv_len;
                op.buf[icv..].copy_from_slice(&saved[i][..self.icv_len]);
                let ok: bool = op.tag[..self.icv_len].ct_eq(&saved[i][..self.icv_len]).into();
                verdict[i] = match (op.done, ok) {
                    (true, true) => Ok(()),
                    (true, false) => Err(DropReason::AuthFailed),
                    (false, _) => Err(DropReason::CryptoDevice),
                };
            }
            let mut kept = 0;
            for i in 0..n {
                jobs[idx[i]].status = verdict[i];
                if verdict[i].is_ok() {
                    idx[kept] = idx[i];
                    kept += 1;
                }
            }
            n = kept;
        }
        if self.encryption == EncryptionAlgorithm::Null || n == 0 {
            return;
        }
        let ct = HEADER_LEN + self.iv_len;
        let mut ops = ops_of::<N>(jobs, &idx[..n], |job, op| {
            let icv = job.esp.len() - self.icv_len;
            op.iv = self.iv_block(job.esp);
            op.cipher_at = (ct, icv - ct);
        });
        keys.run(ChainStep::Decrypt, &mut ops[..n]);
        let done: [bool; N] = core::array::from_fn(|i| i < n && ops[i].done);
        for i in 0..n {
            if !done[i] {
                jobs[idx[i]].status = Err(DropReason::CryptoDevice);
            }
        }
    }
}

/// The library ops of the jobs at `idx` (ascending), in that order, each on its job's bytes, filled by `fill`.
fn ops_of<'a, const N: usize>(
    jobs: &'a mut [EspJob<'_>],
    idx: &[usize],
    mut fill: impl FnMut(&EspJob<'_>, &mut ChainOp<'a>),
) -> [ChainOp<'a>; N] {
    let mut ops: [ChainOp<'a>; N] = core::array::from_fn(|_| ChainOp::new(&mut []));
    let mut m = 0;
    for (k, job) in jobs.iter_mut().enumerate() {
        if idx.get(m) != Some(&k) {
            continue;
        }
        fill(job, &mut ops[m]);
        ops[m].buf = &mut *job.esp;
        m += 1;
    }
    ops
}

impl EspCrypto for IpsecMbEsp {
    fn iv_len(&self) -> usize {
        self.iv_len
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn pad_align(&self) -> usize {
        self.encryption.pad_align()
    }
    fn touch_keys(&self) -> u64 {
        let keys = match &self.keys {
            Keys::Gcm(k) => k.touch(),
            Keys::Chain(k) => k.touch(),
        };
        keys ^ self.iv_len as u64 ^ u64::from(self.ivgen.is_some())
    }
    fn seal_burst(&self, jobs: &mut [EspJob<'_>]) {
        match &self.keys {
            Keys::Gcm(key) => jobs.iter_mut().for_each(|j| j.status = self.gcm_seal(key, j)),
            Keys::Chain(k) => super::by_chunks(
                jobs,
                (CHUNK, SMALL),
                |c| self.chain_seal::<SMALL>(k, c),
                |c| self.chain_seal::<CHUNK>(k, c),
            ),
        }
    }
    fn open_burst(&self, jobs: &mut [EspJob<'_>]) {
        match &self.keys {
            Keys::Gcm(key) => jobs.iter_mut().for_each(|j| j.status = self.gcm_open(key, j)),
            Keys::Chain(k) => super::by_chunks(
                jobs,
                (CHUNK, SMALL),
                |c| self.chain_open::<SMALL>(k, c),
                |c| self.chain_open::<CHUNK>(k, c),
            ),
        }
    }
}
