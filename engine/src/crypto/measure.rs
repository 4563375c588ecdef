//! A short self-benchmark of an ESP crypto handler, so the daemon can give each suite the backend that is faster on
//! the machine it runs on (`[engine] crypto = "auto"`): software against a cryptodev differs by suite and CPU
//! (aesni_mb's multi-buffer CBC+HMAC is 3x software's; for GCM at 64 bytes the two are close).
//!
//! It seals and opens bursts of 32 packets of 64 and 1420 bytes a few times and keeps the fastest round of each
//! (the minimum is what the handler costs when nothing else runs; the control thread may share its CPU). About a
//! millisecond per handler for the fast suites; 3DES takes tens of milliseconds.
use super::{EspCrypto, EspJob};
use crate::wire::esp::HEADER_LEN;
use std::time::{Duration, Instant};

/// Packets per burst, as a worker gives them.
const BURST: usize = 32;
/// Cleartext sizes measured: the small packets where per-call cost dominates, and full-size ones.
const SIZES: [usize; 2] = [64, 1420];
const ROUNDS: usize = 5;

/// What one handler cost: nanoseconds per packet to seal and to open, summed over [`SIZES`] (fastest round each).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub seal_ns: f64,
    pub open_ns: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.seal_ns + self.open_ns
    }
}

/// Why a handler could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasureError {
    #[error("the handler failed to {0} its own test packets")]
    Failed(&'static str),
}

/// Measures `c`, which must both seal and open (an SA's handler built for both directions).
pub fn measure(c: &dyn EspCrypto) -> Result<Cost, MeasureError> {
    let mut cost = Cost { seal_ns: 0.0, open_ns: 0.0 };
    for size in SIZES {
        let align = c.pad_align().max(4);
        let plaintext = (size + 2).div_ceil(align) * align;
        let len = HEADER_LEN + c.iv_len() + plaintext + c.icv_len();
        let template: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(29)).collect();
        let mut bufs: Vec<Vec<u8>> = (0..BURST)
            .map(|k| {
                let mut b = template.clone();
                b[..4].copy_from_slice(&0x1000u32.to_be_bytes());
                b[4..8].copy_from_slice(&(k as u32 + 1).to_be_bytes());
                b
            })
            .collect();
        let (mut seal, mut open) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            for (b, k) in bufs.iter_mut().zip(1u32..) {
                b[8..].copy_from_slice(&template[8..]);
                b[4..8].copy_from_slice(&k.to_be_bytes());
            }
            let t = Instant::now();
            run(c, &mut bufs, true)?;
            seal = seal.min(t.elapsed());
            let t = Instant::now();
            run(c, &mut bufs, false)?;
            open = open.min(t.elapsed());
        }
        cost.seal_ns += seal.as_nanos() as f64 / BURST as f64;
        cost.open_ns += open.as_nanos() as f64 / BURST as f64;
    }
    Ok(cost)
}

fn run(c: &dyn EspCrypto, bufs: &mut [Vec<u8>], seal: bool) -> Result<(), MeasureError> {
    let mut jobs: Vec<EspJob<'_>> = bufs.iter_mut().map(|b| EspJob::new(b, 0, false)).collect();
    if seal {
        c.seal_burst(&mut jobs);
    } else {
        c.open_burst(&mut jobs);
    }
    if jobs.iter().all(|j| j.status.is_ok()) {
        Ok(())
    } else {
        Err(MeasureError::Failed(if seal { "seal" } else { "open" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I, SoftwareEsp};

    #[test]
    fn measures_every_software_suite_and_orders_them_plausibly() {
        let suite = |e: E, i: I| {
            let key: Vec<u8> = (0..e.key_len()).map(|k| k as u8 ^ 0x5c).collect();
            let auth: Vec<u8> = (0..i.key_len()).map(|k| k as u8 ^ 0x36).collect();
            SoftwareEsp::new(e, &key, i, &auth).unwrap()
        };
        let gcm = measure(&suite(E::AesGcm128, I::None)).unwrap();
        let des3 = measure(&suite(E::TripleDesCbc, I::HmacSha1_96)).unwrap();
        assert!(gcm.seal_ns > 0.0 && gcm.open_ns > 0.0);
        // 3DES is tens of times slower than AES-GCM on any machine with AES instructions (or without).
        assert!(des3.total() > 5.0 * gcm.total(), "{gcm:?} {des3:?}");
        for (e, i) in [(E::AesCbc128, I::HmacSha1_96), (E::AesCtr256, I::HmacSha512_256), (E::Null, I::HmacMd5_96)] {
            assert!(measure(&suite(e, i)).is_ok(), "{e:?} {i:?}");
        }
    }

    /// A handler whose open fails (as a broken device would) is not measured as fast: it is an error.
    #[test]
    fn a_failing_handler_is_an_error() {
        struct Broken;
        impl EspCrypto for Broken {
            fn iv_len(&self) -> usize {
                8
            }
            fn icv_len(&self) -> usize {
                16
            }
            fn pad_align(&self) -> usize {
                4
            }
            fn seal_burst(&self, _: &mut [EspJob<'_>]) {}
            fn open_burst(&self, jobs: &mut [EspJob<'_>]) {
                jobs.iter_mut().for_each(|j| j.status = Err(crate::drop::DropReason::AuthFailed));
            }
        }
        assert_eq!(measure(&Broken), Err(MeasureError::Failed("open")));
    }
}
