//! DPDK symmetric crypto devices (`crypto_aesni_mb`, QAT, ...): the device with one queue pair per worker lcore,
//! sessions, and the two ways to run a burst of operations on it.
//!
//! - [`CryptoDevice::cpu_process`]: `rte_cryptodev_sym_cpu_crypto_process`, synchronous and in place on the caller's
//!   bytes (software devices that advertise `RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO`, such as aesni_mb).
//! - [`CryptoDevice::enqueue_process`]: crypto ops on the calling lcore's queue pair, each carrying a carrier mbuf
//!   with the caller's bytes attached as an external buffer; the call waits until the device returned every op of
//!   the burst, so the caller sees a synchronous burst (per-SA order unchanged).
//!
//! Both take [`OpDesc`]s: the bytes to process (one flat buffer), the IV, the AAD and where the digest goes. Head and
//! tail offsets ([`CryptoOfs`]) are common to a burst, as one SA's layout is.
mod queue_pair;

use super::{DpdkError, Eal};
use queue_pair::QueuePair;
use std::ffi::{c_void, CStr, CString};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// Most operations per device call (an engine burst).
pub const MAX_OPS: usize = dpdk_sys::ESPGATE_CPU_CRYPTO_MAX as usize;
const PRIV_AAD: usize = dpdk_sys::ESPGATE_OP_PRIV_AAD as usize;
const PRIV_DIGEST: usize = dpdk_sys::ESPGATE_OP_PRIV_DIGEST as usize;
const PRIV_TAG: usize = dpdk_sys::ESPGATE_OP_PRIV_TAG as usize;
/// Descriptors per queue pair: a few bursts in flight at most (each call waits for its own).
const QP_DESCRIPTORS: u32 = 512;

#[derive(Debug, thiserror::Error)]
pub enum CryptodevError {
    #[error(
        "no crypto device {0:?} (is it in the EAL arguments, e.g. --vdev crypto_aesni_mb0, or bound to vfio-pci?)"
    )]
    NotFound(String),
    #[error("cannot create crypto vdev {name:?}: {why}")]
    VdevInit { name: String, why: String },
    #[error("crypto device {device} does not support {what}")]
    Unsupported { device: String, what: String },
    #[error("a key or length does not fit the device API: {0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
}

/// Block ciphers the engine maps to cryptodev algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevCipher {
    AesCbc,
    AesCtr,
    DesCbc,
    TdesCbc,
    Null,
}

/// HMACs the engine maps to cryptodev algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevAuth {
    Md5Hmac,
    Sha1Hmac,
    Sha256Hmac,
    Sha384Hmac,
    Sha512Hmac,
}

impl DevCipher {
    fn raw(self) -> i32 {
        (match self {
            Self::AesCbc => dpdk_sys::RTE_CRYPTO_CIPHER_AES_CBC,
            Self::AesCtr => dpdk_sys::RTE_CRYPTO_CIPHER_AES_CTR,
            Self::DesCbc => dpdk_sys::RTE_CRYPTO_CIPHER_DES_CBC,
            Self::TdesCbc => dpdk_sys::RTE_CRYPTO_CIPHER_3DES_CBC,
            Self::Null => dpdk_sys::RTE_CRYPTO_CIPHER_NULL,
        }) as i32
    }
}

impl DevAuth {
    fn raw(self) -> i32 {
        (match self {
            Self::Md5Hmac => dpdk_sys::RTE_CRYPTO_AUTH_MD5_HMAC,
            Self::Sha1Hmac => dpdk_sys::RTE_CRYPTO_AUTH_SHA1_HMAC,
            Self::Sha256Hmac => dpdk_sys::RTE_CRYPTO_AUTH_SHA256_HMAC,
            Self::Sha384Hmac => dpdk_sys::RTE_CRYPTO_AUTH_SHA384_HMAC,
            Self::Sha512Hmac => dpdk_sys::RTE_CRYPTO_AUTH_SHA512_HMAC,
        }) as i32
    }
}

/// What a session does.
#[derive(Debug)]
pub enum SessionSpec<'a> {
    /// AES-GCM with a 12-byte IV (salt | explicit IV).
    AesGcm { encrypt: bool, key: &'a [u8], digest_len: u16, aad_len: u16 },
    /// Cipher then HMAC (encrypt), or HMAC then cipher (decrypt). The HMAC is always generated: inbound ICVs are
    /// compared by the caller, in constant time.
    Chain { encrypt: bool, cipher: Option<(DevCipher, &'a [u8], u16)>, auth: Option<(DevAuth, &'a [u8], u16)> },
}

/// Head and tail offsets of the cipher and auth regions within each [`OpDesc::data`] (common to a burst).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CryptoOfs {
    pub cipher_head: u16,
    pub cipher_tail: u16,
    pub auth_head: u16,
    pub auth_tail: u16,
}

/// Where the digest (ICV) is read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAt {
    /// At this offset in [`OpDesc::data`].
    InData(usize),
    /// In [`OpDesc::digest_out`] (generated digests the caller compares itself).
    Scratch,
}

/// The outcome of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    Success,
    /// The device's own digest check failed (AEAD decrypt).
    AuthFailed,
    /// Any other device status, or the operation could not be submitted.
    DeviceError,
}

/// One operation on a flat buffer.
#[derive(Debug)]
pub struct OpDesc<'a> {
    pub data: &'a mut [u8],
    /// The IV (16 bytes of room; the session fixes how many are used).
    pub iv: [u8; 16],
    pub aad: [u8; 16],
    pub digest: DigestAt,
    pub digest_out: [u8; 64],
    pub status: OpStatus,
}

impl<'a> OpDesc<'a> {
    pub fn new(data: &'a mut [u8], digest: DigestAt) -> Self {
        Self { data, iv: [0; 16], aad: [0; 16], digest, digest_out: [0; 64], status: OpStatus::DeviceError }
    }
}

/// A crypto device, configured and started. Cheap to clone; the device stops when the last clone (and session) goes.
#[derive(Debug, Clone)]
pub struct CryptoDevice {
    inner: Arc<Device>,
}

#[derive(Debug)]
struct Device {
    dev_id: u8,
    name: String,
    driver: String,
    cpu_crypto: bool,
    session_pool: NonNull<dpdk_sys::rte_mempool>,
    op_pool: NonNull<dpdk_sys::rte_mempool>,
    carrier_pool: NonNull<dpdk_sys::rte_mempool>,
    /// Queue pair index per lcore id (`u16::MAX`: none, use the shared one).
    lcore_qp: Vec<u16>,
    /// One per mapped lcore, then the shared queue pair for every other thread.
    qps: Vec<Mutex<QueuePair>>,
    _eal: Eal,
}

// SAFETY: the raw pointers are DPDK mempools (multi-producer/consumer) and a device id; queue pairs are behind
// mutexes, and the device's control calls are made only at open and drop.
unsafe impl Send for Device {}
// SAFETY: as above.
unsafe impl Sync for Device {}

fn cstring(call: &'static str, s: &str) -> Result<CString, DpdkError> {
    CString::new(s).map_err(|_| DpdkError { call, errno: libc::EINVAL, message: format!("{s:?} contains NUL") })
}

fn check(call: &'static str, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_ret(call, ret))
    } else {
        Ok(())
    }
}

impl CryptoDevice {
    /// Finds the device `devargs` names (its name is the part before the first comma: `crypto_aesni_mb0`, or a PCI
    /// address whose cryptodev is named `<address>_qat_sym` and the like), configures a queue pair for each of
    /// `lcores` plus one shared by every other thread, a session pool for `max_sessions`, and starts it. Empty
    /// `devargs`: the first crypto device EAL probed.
    pub fn open(eal: &Eal, devargs: &str, lcores: &[u32], max_sessions: u32) -> Result<Self, CryptodevError> {
        let want = devargs.split(',').next().unwrap_or_default().trim();
        let dev_id = find_device(want).ok_or_else(|| CryptodevError::NotFound(want.to_string()))?;
        let mut info = dpdk_sys::rte_cryptodev_info::default();
        // SAFETY: dev_id is valid (found above); info is a valid out-parameter.
        unsafe { dpdk_sys::rte_cryptodev_info_get(dev_id, &mut info) };
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: driver_name is a static NUL-terminated string of the driver.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        // SAFETY: dev_id is valid.
        let name_ptr = unsafe { dpdk_sys::rte_cryptodev_name_get(dev_id) };
        let name = if name_ptr.is_null() {
            want.to_string()
        } else {
            // SAFETY: non-null NUL-terminated name owned by the device.
            unsafe { CStr::from_ptr(name_ptr) }.to_string_lossy().into_owned()
        };
        // SAFETY: reads a constant the shim defines.
        let cpu_crypto = info.feature_flags & unsafe { dpdk_sys::espgate_cryptodev_ff_cpu_crypto } != 0;
        let max_qp = (info.max_nb_queue_pairs as usize).max(1);
        // SAFETY: dev_id is valid.
        let socket = unsafe { dpdk_sys::rte_cryptodev_socket_id(dev_id) };
        let mut mapped: Vec<u32> = Vec::new();
        for &l in lcores {
            if !mapped.contains(&l) && mapped.len() + 1 < max_qp && l < dpdk_sys::RTE_MAX_LCORE {
                mapped.push(l);
            }
        }
        let nb_qp = mapped.len() + 1;
        let mut conf =
            dpdk_sys::rte_cryptodev_config { socket_id: socket, nb_queue_pairs: nb_qp as u16, ff_disable: 0 };
        // SAFETY: valid device and config.
        check("rte_cryptodev_configure", unsafe { dpdk_sys::rte_cryptodev_configure(dev_id, &mut conf) })?;

        // SAFETY: valid device.
        let sess_size = unsafe { dpdk_sys::rte_cryptodev_sym_get_private_session_size(dev_id) };
        let pname = cstring("rte_cryptodev_sym_session_pool_create", &format!("egcs{dev_id}"))?;
        // SAFETY: valid name; sizes from the device.
        let sp = unsafe {
            dpdk_sys::rte_cryptodev_sym_session_pool_create(
                pname.as_ptr(),
                max_sessions.max(2),
                sess_size,
                0,
                0,
                socket,
            )
        };
        let session_pool = NonNull::new(sp).ok_or_else(|| DpdkError::last("rte_cryptodev_sym_session_pool_create"))?;
        let n_ops = (nb_qp * MAX_OPS) as u32;
        let oname = cstring("rte_crypto_op_pool_create", &format!("egco{dev_id}"))?;
        // SAFETY: valid name.
        let op = unsafe { dpdk_sys::espgate_crypto_op_pool_create(oname.as_ptr(), n_ops, socket) };
        let op_pool = NonNull::new(op).ok_or_else(|| DpdkError::last("rte_crypto_op_pool_create"))?;
        let cname = cstring("rte_pktmbuf_pool_create", &format!("egcm{dev_id}"))?;
        // SAFETY: valid name.
        let cp = unsafe { dpdk_sys::espgate_crypto_carrier_pool_create(cname.as_ptr(), n_ops, socket) };
        let carrier_pool = NonNull::new(cp).ok_or_else(|| DpdkError::last("rte_pktmbuf_pool_create"))?;

        let mut qps = Vec::with_capacity(nb_qp);
        for q in 0..nb_qp as u16 {
            let qc =
                dpdk_sys::rte_cryptodev_qp_conf { nb_descriptors: QP_DESCRIPTORS, mp_session: session_pool.as_ptr() };
            // SAFETY: valid device, queue index below the configured count, config with a live session pool.
            check("rte_cryptodev_queue_pair_setup", unsafe {
                dpdk_sys::rte_cryptodev_queue_pair_setup(dev_id, q, &qc, socket)
            })?;
            let mut ops = vec![std::ptr::null_mut(); MAX_OPS];
            // SAFETY: ops has MAX_OPS slots.
            check("rte_crypto_op_bulk_alloc", unsafe {
                dpdk_sys::espgate_crypto_op_alloc_bulk(op_pool.as_ptr(), ops.as_mut_ptr(), MAX_OPS as u16)
            })?;
            let mut carriers = vec![std::ptr::null_mut(); MAX_OPS];
            // SAFETY: carriers has MAX_OPS slots.
            check("rte_pktmbuf_alloc_bulk", unsafe {
                dpdk_sys::espgate_pktmbuf_alloc_bulk(carrier_pool.as_ptr(), carriers.as_mut_ptr(), MAX_OPS as u32)
            })?;
            qps.push(Mutex::new(QueuePair { id: q, ops, carriers, broken: false }));
        }
        // SAFETY: configured with every queue pair set up.
        check("rte_cryptodev_start", unsafe { dpdk_sys::rte_cryptodev_start(dev_id) })?;
        let mut lcore_qp = vec![u16::MAX; dpdk_sys::RTE_MAX_LCORE as usize];
        for (q, &l) in mapped.iter().enumerate() {
            lcore_qp[l as usize] = q as u16;
        }
        let inner = Device {
            dev_id,
            name,
            driver,
            cpu_crypto,
            session_pool,
            op_pool,
            carrier_pool,
            lcore_qp,
            qps,
            _eal: eal.clone(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// As [`CryptoDevice::open`] for a virtual device (`crypto_aesni_mb0[,args]`) that need not be on the EAL command
    /// line: unless a device of that name exists already (given with `--vdev`), it is created now with
    /// `rte_vdev_init`. EAL refuses to start when a `--vdev` names a driver that is not installed; this is an error
    /// the caller may survive ([`CryptodevError::VdevInit`]).
    pub fn open_vdev(eal: &Eal, devargs: &str, lcores: &[u32], max_sessions: u32) -> Result<Self, CryptodevError> {
        let (name, args) = devargs.split_once(',').unwrap_or((devargs, ""));
        let name = name.trim();
        if find_device(name).is_none() {
            let c_name = cstring("rte_vdev_init", name)?;
            let c_args = cstring("rte_vdev_init", args)?;
            // SAFETY: EAL is initialised (we hold it); both strings are NUL-terminated and live through the call,
            // which copies them.
            let ret = unsafe { dpdk_sys::rte_vdev_init(c_name.as_ptr(), c_args.as_ptr()) };
            if ret != 0 {
                // DPDK 22.11 returns -1 when no loaded driver matches the name (a plain -1, not -errno); other
                // negative values are the driver's own -errno.
                let why = if ret == -1 || ret > 0 {
                    "no driver of that name is installed (or it refused the device)".to_string()
                } else {
                    DpdkError::from_ret("rte_vdev_init", ret).to_string()
                };
                return Err(CryptodevError::VdevInit { name: name.to_string(), why });
            }
        }
        Self::open(eal, devargs, lcores, max_sessions)
    }

    /// The device's name (e.g. `crypto_aesni_mb0`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The driver's name (e.g. `crypto_aesni_mb`).
    pub fn driver(&self) -> &str {
        &self.inner.driver
    }

    /// The device processes synchronously on the calling CPU (`RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO`).
    pub fn supports_cpu_crypto(&self) -> bool {
        self.inner.cpu_crypto
    }

    /// Queue pairs configured (one per mapped lcore, plus the shared one).
    pub fn queue_pairs(&self) -> usize {
        self.inner.qps.len()
    }

    /// Creates a session, after checking the device's capabilities. Keys are read, not kept: the device copies (and
    /// on free clears) what it needs.
    pub fn session(&self, spec: &SessionSpec<'_>) -> Result<Session, CryptodevError> {
        let dev = &self.inner;
        let len16 = |k: &[u8]| u16::try_from(k.len()).map_err(|_| CryptodevError::Invalid("key longer than 65535"));
        let raw = match *spec {
            SessionSpec::AesGcm { encrypt, key, digest_len, aad_len } => {
                // SAFETY: key is valid for its length during the call; the device copies it.
                unsafe {
                    dpdk_sys::espgate_cryptodev_session_aead(
                        dev.dev_id,
                        dev.session_pool.as_ptr(),
                        i32::from(encrypt),
                        dpdk_sys::RTE_CRYPTO_AEAD_AES_GCM as i32,
                        key.as_ptr(),
                        len16(key)?,
                        12,
                        digest_len,
                        aad_len,
                    )
                }
            }
            SessionSpec::Chain { encrypt, cipher, auth } => {
                let (calg, ckey, iv_len) = match cipher {
                    Some((c, k, iv)) => (c.raw(), k, iv),
                    None => (-1, &[][..], 0),
                };
                let (aalg, akey, dlen) = match auth {
                    Some((a, k, d)) => (a.raw(), k, d),
                    None => (-1, &[][..], 0),
                };
                // SAFETY: keys are valid for their lengths during the call; the device copies them.
                unsafe {
                    dpdk_sys::espgate_cryptodev_session_chain(
                        dev.dev_id,
                        dev.session_pool.as_ptr(),
                        i32::from(encrypt),
                        calg,
                        ckey.as_ptr(),
                        len16(ckey)?,
                        iv_len,
                        aalg,
                        akey.as_ptr(),
                        len16(akey)?,
                        dlen,
                    )
                }
            }
        };
        match NonNull::new(raw) {
            Some(ptr) => Ok(Session { ptr, device: self.clone(), aead: matches!(spec, SessionSpec::AesGcm { .. }) }),
            None if super::rte_errno() == libc::ENOTSUP => {
                Err(CryptodevError::Unsupported { device: dev.name.clone(), what: format!("{spec:?}") })
            }
            None => Err(DpdkError::last("rte_cryptodev_sym_session_create").into()),
        }
    }

    /// Runs `descs` (at most [`MAX_OPS`]) through `rte_cryptodev_sym_cpu_crypto_process`, in place, on this CPU.
    pub fn cpu_process(&self, session: &Session, ofs: CryptoOfs, descs: &mut [OpDesc<'_>]) {
        let n = descs.len().min(MAX_OPS);
        let mut bufs = [std::ptr::null_mut::<c_void>(); MAX_OPS];
        let mut lens = [0u32; MAX_OPS];
        let mut ivs = [std::ptr::null_mut::<c_void>(); MAX_OPS];
        let mut aads = [std::ptr::null_mut::<c_void>(); MAX_OPS];
        let mut digests = [std::ptr::null_mut::<c_void>(); MAX_OPS];
        let mut status = [0i32; MAX_OPS];
        for (i, d) in descs[..n].iter_mut().enumerate() {
            lens[i] = d.data.len() as u32;
            digests[i] = match d.digest {
                DigestAt::InData(off) if off < d.data.len() => d.data[off..].as_mut_ptr().cast(),
                _ => d.digest_out.as_mut_ptr().cast(),
            };
            bufs[i] = d.data.as_mut_ptr().cast();
            ivs[i] = d.iv.as_mut_ptr().cast();
            aads[i] = d.aad.as_mut_ptr().cast();
        }
        // SAFETY: every pointer is into a live buffer of `descs` (data, iv, aad, digest room of 64 bytes or inside
        // data, which the caller sized for the session's digest); n <= ESPGATE_CPU_CRYPTO_MAX.
        unsafe {
            dpdk_sys::espgate_cpu_crypto_process(
                self.inner.dev_id,
                session.ptr.as_ptr(),
                ofs.cipher_head,
                ofs.cipher_tail,
                ofs.auth_head,
                ofs.auth_tail,
                n as u32,
                bufs.as_ptr(),
                lens.as_ptr(),
                ivs.as_ptr(),
                aads.as_ptr(),
                digests.as_ptr(),
                status.as_mut_ptr(),
            )
        };
        for (i, d) in descs.iter_mut().enumerate() {
            d.status = match status.get(i) {
                Some(0) if i < n => OpStatus::Success,
                Some(&e) if e == libc::EBADMSG => OpStatus::AuthFailed,
                _ => OpStatus::DeviceError,
            };
        }
    }

    /// Runs `descs` as crypto ops on the calling lcore's queue pair (or the shared one from other threads) and waits
    /// until the device returned all of them. A busy or broken queue pair fails every op with `DeviceError`.
    pub fn enqueue_process(&self, session: &Session, ofs: CryptoOfs, descs: &mut [OpDesc<'_>]) {
        let dev = &self.inner;
        // SAFETY: reads the calling thread's lcore id.
        let lcore = unsafe { dpdk_sys::espgate_lcore_id() } as usize;
        let q = dev.lcore_qp.get(lcore).copied().unwrap_or(u16::MAX);
        let slot = if q == u16::MAX { dev.qps.len() - 1 } else { usize::from(q) };
        let guard = if slot == dev.qps.len() - 1 { dev.qps[slot].lock().ok() } else { dev.qps[slot].try_lock().ok() };
        let Some(mut qp) = guard else {
            descs.iter_mut().for_each(|d| d.status = OpStatus::DeviceError);
            return;
        };
        for chunk in descs.chunks_mut(MAX_OPS) {
            if qp.broken {
                chunk.iter_mut().for_each(|d| d.status = OpStatus::DeviceError);
                continue;
            }
            qp.run(dev.dev_id, session, ofs, chunk);
        }
    }
}

fn find_device(want: &str) -> Option<u8> {
    // SAFETY: plain getter.
    let count = unsafe { dpdk_sys::rte_cryptodev_count() };
    if want.is_empty() {
        // No name: the first device EAL probed (its devargs came with the operator's EAL arguments).
        return (count > 0).then_some(0);
    }
    let c = CString::new(want).ok()?;
    // SAFETY: valid NUL-terminated name.
    let id = unsafe { dpdk_sys::rte_cryptodev_get_dev_id(c.as_ptr()) };
    if let Ok(id) = u8::try_from(id) {
        return Some(id);
    }
    // A PCI device's cryptodev is named after its address with a suffix (QAT: `<bdf>_qat_sym`).
    (0..count).find(|&id| {
        // SAFETY: id < count.
        let p = unsafe { dpdk_sys::rte_cryptodev_name_get(id) };
        // SAFETY: non-null NUL-terminated name owned by the device.
        !p.is_null() && unsafe { CStr::from_ptr(p) }.to_string_lossy().starts_with(want)
    })
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: no session or queue-pair user is left (they hold the Arc). Ops of a broken queue pair may still
        // be in the device: stop it before returning anything to the pools.
        unsafe {
            dpdk_sys::rte_cryptodev_stop(self.dev_id);
            for qp in &mut self.qps {
                let qp = qp.get_mut().unwrap_or_else(|e| e.into_inner());
                if qp.broken {
                    continue;
                }
                for &op in &qp.ops {
                    dpdk_sys::espgate_crypto_op_free(op);
                }
                for &m in &qp.carriers {
                    dpdk_sys::espgate_crypto_carrier_detach(m);
                    dpdk_sys::espgate_pktmbuf_free(m);
                }
            }
            dpdk_sys::rte_cryptodev_close(self.dev_id);
            dpdk_sys::rte_mempool_free(self.carrier_pool.as_ptr());
            dpdk_sys::rte_mempool_free(self.op_pool.as_ptr());
            dpdk_sys::rte_mempool_free(self.session_pool.as_ptr());
        }
    }
}

/// A symmetric session on a device; freed (and its key material cleared by the driver) on drop.
#[derive(Debug)]
pub struct Session {
    ptr: NonNull<c_void>,
    device: CryptoDevice,
    aead: bool,
}

// SAFETY: a session is immutable after creation and DPDK allows using it from several lcores at once.
unsafe impl Send for Session {}
// SAFETY: as above.
unsafe impl Sync for Session {}

impl Session {
    pub fn device(&self) -> &CryptoDevice {
        &self.device
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the session was created on this device and is not in use (the owner is being dropped, and
        // every burst waits for its ops).
        unsafe { dpdk_sys::rte_cryptodev_sym_session_free(self.device.inner.dev_id, self.ptr.as_ptr()) };
    }
}
