//! The software ESP crypto backend: one [`Cipher`] and one [`Integrity`], fixed at SA install.

use super::cipher::LANES;
use super::{Cipher, CryptoError, EncryptionAlgorithm, EspCrypto, EspJob, Integrity, IntegrityAlgorithm};
use crate::drop::DropReason;
use crate::wire::esp::HEADER_LEN;

const GCM_ICV_LEN: usize = 16;

/// ESP crypto in software (ring for AES-GCM-128/256, RustCrypto for the rest).
#[derive(Debug)]
pub struct SoftwareEsp {
    encryption: EncryptionAlgorithm,
    cipher: Cipher,
    integrity: Integrity,
    iv_len: usize,
    icv_len: usize,
}

impl SoftwareEsp {
    /// Validates the combination and key lengths and builds the key schedules.
    pub fn new(
        encryption: EncryptionAlgorithm,
        cipher_key: &[u8],
        integrity: IntegrityAlgorithm,
        auth_key: &[u8],
    ) -> Result<Self, CryptoError> {
        super::check_suite(encryption, cipher_key, integrity, auth_key)?;
        let cipher = Cipher::new(encryption, cipher_key)?;
        let integrity = Integrity::new(integrity, auth_key)?;
        let icv_len = if encryption.is_aead() { GCM_ICV_LEN } else { integrity.icv_len() };
        Ok(Self { encryption, cipher, integrity, iv_len: encryption.iv_len(), icv_len })
    }

    pub fn encryption(&self) -> EncryptionAlgorithm {
        self.encryption
    }

    /// Offsets (ciphertext start, ICV start) after validating the packet length.
    fn layout(&self, len: usize, min_payload: usize) -> Result<(usize, usize), DropReason> {
        super::esp_layout(len, self.iv_len, self.icv_len, self.encryption.pad_align(), min_payload)
    }

    /// Seals one job with the given IV (instead of the derived one); for known-answer tests with fixed IVs.
    pub fn seal_with_iv(&self, job: &mut EspJob<'_>, iv: &[u8]) {
        job.status = self.seal_inner(job, Some(iv));
    }

    fn seal_inner(&self, job: &mut EspJob<'_>, iv_override: Option<&[u8]>) -> Result<(), DropReason> {
        let (ct, icv) = self.layout(job.esp.len(), 0)?;
        let seq = job.seq();
        match iv_override {
            Some(iv) if iv.len() == self.iv_len => job.esp[HEADER_LEN..ct].copy_from_slice(iv),
            Some(_) => return Err(DropReason::BadLength),
            None => self.cipher.derive_iv(seq, &mut job.esp[HEADER_LEN..ct]),
        }
        let hi = job.seq_hi.to_be_bytes();
        let (head, tail) = job.esp.split_at_mut(ct);
        let (data, icv_out) = tail.split_at_mut(icv - ct);
        let iv = &head[HEADER_LEN..];
        if self.encryption.is_aead() {
            let mut aad = [0u8; 12];
            let aad = gcm_aad(&mut aad, &head[..HEADER_LEN], job.seq_hi, job.esn);
            if !self.cipher.seal(iv, aad, data, icv_out) {
                return Err(DropReason::BadLength);
            }
        } else {
            self.cipher.encrypt(iv, data);
            if self.icv_len > 0 {
                let esn: &[u8] = if job.esn { &hi } else { &[] };
                let (covered, icv_out) = job.esp.split_at_mut(icv);
                self.integrity.compute(&[covered, esn], icv_out);
            }
        }
        Ok(())
    }

    /// CBC sealing of up to [`LANES`] packets with their encryption interleaved, then each ICV.
    fn seal_cbc_lanes(&self, jobs: &mut [EspJob<'_>]) {
        let mut ivs = [[0u8; 16]; LANES];
        let mut layout = [(0usize, 0usize); LANES];
        for (k, job) in jobs.iter_mut().enumerate() {
            job.status = self.layout(job.esp.len(), 0).map(|(ct, icv)| {
                let seq = job.seq();
                self.cipher.derive_iv(seq, &mut ivs[k][..self.iv_len]);
                job.esp[HEADER_LEN..ct].copy_from_slice(&ivs[k][..self.iv_len]);
                layout[k] = (ct, icv);
            });
        }
        {
            let mut lanes: [&mut [u8]; LANES] = Default::default();
            let mut lane_ivs = [[0u8; 16]; LANES];
            let mut n = 0;
            for (k, job) in jobs.iter_mut().enumerate() {
                if job.status.is_ok() {
                    let (ct, icv) = layout[k];
                    lanes[n] = &mut job.esp[ct..icv];
                    lane_ivs[n] = ivs[k];
                    n += 1;
                }
            }
            self.cipher.cbc_encrypt_lanes(&lane_ivs[..n], &mut lanes[..n]);
        }
        if self.icv_len == 0 {
            return;
        }
        for (k, job) in jobs.iter_mut().enumerate() {
            if job.status.is_ok() {
                let hi = job.seq_hi.to_be_bytes();
                let esn: &[u8] = if job.esn { &hi } else { &[] };
                let (covered, icv_out) = job.esp.split_at_mut(layout[k].1);
                self.integrity.compute(&[covered, esn], icv_out);
            }
        }
    }

    fn open_inner(&self, job: &mut EspJob<'_>) -> Result<(), DropReason> {
        // At least pad length and next header must be in the ciphertext.
        let (ct, icv) = self.layout(job.esp.len(), 2)?;
        let hi = job.seq_hi.to_be_bytes();
        if self.encryption.is_aead() {
            let (head, tail) = job.esp.split_at_mut(ct);
            let mut aad = [0u8; 12];
            let aad = gcm_aad(&mut aad, &head[..HEADER_LEN], job.seq_hi, job.esn);
            if !self.cipher.open(&head[HEADER_LEN..], aad, tail) {
                return Err(DropReason::AuthFailed);
            }
        } else {
            if self.icv_len > 0 {
                let esn: &[u8] = if job.esn { &hi } else { &[] };
                if !self.integrity.verify(&[&job.esp[..icv], esn], &job.esp[icv..]) {
                    return Err(DropReason::AuthFailed);
                }
            }
            let (head, tail) = job.esp.split_at_mut(ct);
            self.cipher.decrypt(&head[HEADER_LEN..], &mut tail[..icv - ct]);
        }
        Ok(())
    }
}

/// RFC 4106 §5: AAD is SPI | seq (8 bytes), or SPI | seq high | seq low (12 bytes) with ESN.
pub(crate) fn gcm_aad<'a>(buf: &'a mut [u8; 12], header: &[u8], seq_hi: u32, esn: bool) -> &'a [u8] {
    buf[..4].copy_from_slice(&header[..4]);
    if esn {
        buf[4..8].copy_from_slice(&seq_hi.to_be_bytes());
        buf[8..12].copy_from_slice(&header[4..8]);
        &buf[..12]
    } else {
        buf[4..8].copy_from_slice(&header[4..8]);
        &buf[..8]
    }
}

impl EspCrypto for SoftwareEsp {
    fn iv_len(&self) -> usize {
        self.iv_len
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn pad_align(&self) -> usize {
        self.encryption.pad_align()
    }
    fn seal_burst(&self, jobs: &mut [EspJob<'_>]) {
        if self.cipher.is_cbc() {
            for chunk in jobs.chunks_mut(LANES) {
                self.seal_cbc_lanes(chunk);
            }
        } else {
            for job in jobs {
                job.status = self.seal_inner(job, None);
            }
        }
    }
    fn open_burst(&self, jobs: &mut [EspJob<'_>]) {
        for job in jobs {
            job.status = self.open_inner(job);
        }
    }
}
