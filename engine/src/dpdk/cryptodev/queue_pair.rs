//! A queue pair's ops and carrier mbufs, and one synchronous burst on it (enqueue, then poll until every op is back).
use super::{CryptoOfs, DigestAt, OpDesc, OpStatus, Session, MAX_OPS, PRIV_AAD, PRIV_DIGEST, PRIV_TAG};

/// A device has not returned a burst after this long: it is declared broken (its queue pair is not used again).
const COMPLETION_TIMEOUT_MS: u64 = 1000;

#[derive(Debug)]
pub(super) struct QueuePair {
    pub(super) id: u16,
    pub(super) ops: Vec<*mut dpdk_sys::rte_crypto_op>,
    pub(super) carriers: Vec<*mut dpdk_sys::rte_mbuf>,
    /// The device did not return a burst in time: ops may still be in it, so this queue pair is never used again.
    pub(super) broken: bool,
}

// SAFETY: the ops and carriers belong to this queue pair alone and are only touched under its mutex.
unsafe impl Send for QueuePair {}

impl QueuePair {
    pub(super) fn run(&mut self, dev_id: u8, session: &Session, ofs: CryptoOfs, descs: &mut [OpDesc<'_>]) {
        let (sess, aead) = (session.ptr.as_ptr(), session.aead);
        let mut ready = [std::ptr::null_mut::<dpdk_sys::rte_crypto_op>(); MAX_OPS];
        let mut n = 0usize;
        for (i, d) in descs.iter_mut().enumerate() {
            d.status = OpStatus::DeviceError;
            let len = d.data.len();
            let (ch, ct) = (usize::from(ofs.cipher_head), usize::from(ofs.cipher_tail));
            let (ah, at) = (usize::from(ofs.auth_head), usize::from(ofs.auth_tail));
            let Ok(len16) = u16::try_from(len) else { continue };
            if ch + ct > len || ah + at > len {
                continue;
            }
            let (op, m) = (self.ops[i], self.carriers[i]);
            let base = d.data.as_mut_ptr();
            // SAFETY: base is valid for len bytes; the EAL memseg lookup only reads EAL's tables.
            let iova = unsafe { dpdk_sys::espgate_virt2iova(base.cast()) };
            // SAFETY: m is this queue pair's carrier, not attached (detached after every use).
            if unsafe { dpdk_sys::espgate_crypto_carrier_attach(m, base.cast(), iova, len16) } < 0 {
                continue;
            }
            // SAFETY: op is this queue pair's op; its private area has ESPGATE_OP_PRIV_SIZE bytes.
            let (priv_, priv_iova) =
                unsafe { (dpdk_sys::espgate_crypto_op_priv(op), dpdk_sys::espgate_crypto_op_priv_iova(op)) };
            // SAFETY: the private area holds IV (16) | AAD (16) | digest (64) | tag (8).
            let area = unsafe { std::slice::from_raw_parts_mut(priv_, dpdk_sys::ESPGATE_OP_PRIV_SIZE as usize) };
            area[..16].copy_from_slice(&d.iv);
            area[PRIV_AAD..PRIV_AAD + 16].copy_from_slice(&d.aad);
            area[PRIV_TAG..PRIV_TAG + 4].copy_from_slice(&(i as u32).to_ne_bytes());
            let (dg, dg_iova) = match d.digest {
                // SAFETY: off < len, inside the attached buffer.
                DigestAt::InData(off) if off < len => (unsafe { base.add(off) }, iova.wrapping_add(off as u64)),
                // SAFETY: inside the op's private area.
                _ => (unsafe { priv_.add(PRIV_DIGEST) }, priv_iova + PRIV_DIGEST as u64),
            };
            // SAFETY: op, session, carrier and digest/AAD pointers are valid until the op comes back.
            unsafe {
                if aead {
                    dpdk_sys::espgate_crypto_op_prepare_aead(
                        op,
                        sess,
                        m,
                        ch as u32,
                        (len - ch - ct) as u32,
                        dg,
                        dg_iova,
                        priv_.add(PRIV_AAD),
                        priv_iova + PRIV_AAD as u64,
                    )
                } else {
                    dpdk_sys::espgate_crypto_op_prepare_chain(
                        op,
                        sess,
                        m,
                        ch as u32,
                        (len - ch - ct) as u32,
                        ah as u32,
                        (len - ah - at) as u32,
                        dg,
                        dg_iova,
                    )
                }
            };
            ready[n] = op;
            n += 1;
        }
        let deadline = crate::dpdk::rdtsc() + crate::dpdk::tsc_hz() / 1000 * COMPLETION_TIMEOUT_MS;
        let (mut sent, mut back) = (0usize, 0usize);
        let mut done = [std::ptr::null_mut::<dpdk_sys::rte_crypto_op>(); MAX_OPS];
        while back < n {
            if sent < n {
                // SAFETY: ready[sent..n] are prepared ops of this queue pair.
                sent += usize::from(unsafe {
                    dpdk_sys::espgate_cryptodev_enqueue_burst(
                        dev_id,
                        self.id,
                        ready[sent..].as_mut_ptr(),
                        (n - sent) as u16,
                    )
                });
            }
            // SAFETY: done has room for n - back ops.
            let got = usize::from(unsafe {
                dpdk_sys::espgate_cryptodev_dequeue_burst(dev_id, self.id, done[back..].as_mut_ptr(), (n - back) as u16)
            });
            for &op in &done[back..back + got] {
                self.complete(op, descs);
            }
            back += got;
            if got == 0 {
                if crate::dpdk::rdtsc() > deadline {
                    // Ops still in the device may yet write to their buffers: never reuse them (or this pair).
                    self.broken = true;
                    return;
                }
                // SAFETY: a CPU pause hint.
                unsafe { dpdk_sys::espgate_pause() };
            }
        }
    }

    fn complete(&mut self, op: *mut dpdk_sys::rte_crypto_op, descs: &mut [OpDesc<'_>]) {
        // SAFETY: op is one of this queue pair's ops, returned by the device.
        let (priv_, status) = unsafe { (dpdk_sys::espgate_crypto_op_priv(op), dpdk_sys::espgate_crypto_op_status(op)) };
        // SAFETY: the private area holds ESPGATE_OP_PRIV_SIZE bytes.
        let area = unsafe { std::slice::from_raw_parts(priv_, dpdk_sys::ESPGATE_OP_PRIV_SIZE as usize) };
        let i = u32::from_ne_bytes([area[PRIV_TAG], area[PRIV_TAG + 1], area[PRIV_TAG + 2], area[PRIV_TAG + 3]]);
        let Some(d) = descs.get_mut(i as usize) else { return };
        // SAFETY: the carrier of op i is attached to d's bytes; detaching restores its own (empty) buffer.
        unsafe { dpdk_sys::espgate_crypto_carrier_detach(self.carriers[i as usize]) };
        d.status = match u32::from(status) {
            dpdk_sys::RTE_CRYPTO_OP_STATUS_SUCCESS => OpStatus::Success,
            dpdk_sys::RTE_CRYPTO_OP_STATUS_AUTH_FAILED => OpStatus::AuthFailed,
            _ => OpStatus::DeviceError,
        };
        if d.digest == DigestAt::Scratch || matches!(d.digest, DigestAt::InData(off) if off >= d.data.len()) {
            d.digest_out.copy_from_slice(&area[PRIV_DIGEST..PRIV_DIGEST + 64]);
        }
    }
}
