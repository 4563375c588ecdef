//! intel-ipsec-mb (libIPSec_MB), called directly: the library under DPDK's `crypto_aesni_mb` PMD, without the
//! cryptodev layer (sessions, op structs, per-op checks) in between. Measured here: AES-128-GCM on 64 / 1420 bytes
//! costs about 116 / 385 cycles through these calls against 164-177 / 425-464 for the PMD through crypto-perf, and
//! multi-buffer AES-128-CBC + HMAC-SHA1 on 1420 bytes about 1040-1090 cycles against 1336.
//!
//! - [`GcmKey`]: AES-GCM through the library's direct (single-buffer, VAES) functions: stateless calls with the
//!   per-message context on the stack, safe from any thread at once.
//! - [`ChainKeys`]: cipher (AES-CBC, AES-CTR, NULL) and HMAC through the job API, whose multi-buffer managers
//!   interleave the packets of a burst. A job manager holds queued jobs, so each thread has its own (made at the
//!   thread's first burst); every call submits its burst and flushes it before returning, so no job outlives the
//!   borrow of its buffer and order and per-SA state stay the caller's.
//!
//! One manager per process (never freed) provides the function table; it is only read after init.
use dpdk_sys::ipsec_mb as imb;
use std::sync::OnceLock;

/// Why the library cannot serve a key or a suite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImbError {
    #[error("intel-ipsec-mb: could not allocate its manager")]
    NoManager,
    #[error("intel-ipsec-mb: the manager lacks {0}")]
    Missing(&'static str),
    #[error("intel-ipsec-mb: a {0}-byte AES key is not supported")]
    KeyLength(usize),
    #[error("intel-ipsec-mb: a {0}-byte HMAC key is longer than the hash's block")]
    AuthKeyLength(usize),
    #[error("intel-ipsec-mb: the library refused the SA's parameters ({0:?} test job)")]
    Refused(ChainStep),
}

/// The process's function table: a manager initialised for the best instruction set this CPU has.
struct Lib(*mut imb::IMB_MGR);

// SAFETY: after `init_mb_mgr_auto` the manager is only read (function pointers, never job queues), and never freed.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

fn lib() -> Result<&'static imb::IMB_MGR, ImbError> {
    static LIB: OnceLock<Result<Lib, ImbError>> = OnceLock::new();
    match LIB.get_or_init(|| new_manager().map(Lib)) {
        // SAFETY: a manager from `new_manager`, alive for the process.
        Ok(l) => Ok(unsafe { &*l.0 }),
        Err(e) => Err(e.clone()),
    }
}

fn new_manager() -> Result<*mut imb::IMB_MGR, ImbError> {
    // SAFETY: plain library calls; alloc returns NULL on failure, which is checked before init.
    unsafe {
        let m = imb::alloc_mb_mgr(0);
        if m.is_null() {
            return Err(ImbError::NoManager);
        }
        let mut arch: imb::IMB_ARCH = 0;
        imb::init_mb_mgr_auto(m, &mut arch);
        if (*m).get_next_job.is_none() || (*m).gcm128_enc.is_none() {
            imb::free_mb_mgr(m);
            return Err(ImbError::Missing("its job and GCM functions"));
        }
        Ok(m)
    }
}

/// Whether the library is usable here (a manager could be made).
pub fn available() -> bool {
    lib().is_ok()
}

/// The library's version, for logs.
pub fn version() -> &'static str {
    std::str::from_utf8(imb::IMB_VERSION_STR).map(|v| v.trim_end_matches('\0')).unwrap_or("?")
}

/// Key material the library reads with aligned loads.
#[repr(C, align(64))]
struct Aligned<T>(T);

/// Overwrites key material on drop: the compiler must not elide the writes.
fn wipe<T>(v: &mut T) {
    let p = (v as *mut T).cast::<u8>();
    for i in 0..std::mem::size_of::<T>() {
        // SAFETY: `i` is within `v`, which is plain bytes (integers and byte arrays) for every caller.
        unsafe { std::ptr::write_volatile(p.add(i), 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

type GcmFn = unsafe extern "C" fn(
    *const imb::gcm_key_data,
    *mut imb::gcm_context_data,
    *mut u8,
    *const u8,
    u64,
    *const u8,
    *const u8,
    u64,
    *mut u8,
    u64,
);

/// An AES-GCM key (16, 24 or 32 bytes) with its precomputed GHASH powers.
pub struct GcmKey {
    data: Box<Aligned<imb::gcm_key_data>>,
    enc: GcmFn,
    dec: GcmFn,
}

impl GcmKey {
    /// Reads one byte of each cache line a short packet's sealing or opening reads first: the round keys and the
    /// lowest hash key powers (the library keeps H^1 at the end of the table). For
    /// [`crate::datapath::Datapath::warm`]: those lines then arrive together for a burst of SAs.
    pub fn touch(&self) -> u64 {
        let k = &self.data.0;
        // SAFETY: every variant of the union is a byte array (any bits are valid), and the whole of it was
        // initialised (default-constructed, then filled by the library's precompute).
        let h = unsafe { &k.ghash_keys.vaes_avx512.shifted_hkey };
        let mut t = 0u64;
        for off in (0..k.expanded_keys.len()).step_by(64) {
            t ^= u64::from(k.expanded_keys[off]);
        }
        t ^ u64::from(h[h.len() - 1]) ^ u64::from(h[h.len() - 65])
    }
}

impl std::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmKey(..)")
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        wipe(&mut self.data.0);
    }
}

impl GcmKey {
    pub fn new(key: &[u8]) -> Result<Self, ImbError> {
        let m = lib()?;
        let (pre, enc, dec) = match key.len() {
            16 => (m.gcm128_pre, m.gcm128_enc, m.gcm128_dec),
            24 => (m.gcm192_pre, m.gcm192_enc, m.gcm192_dec),
            32 => (m.gcm256_pre, m.gcm256_enc, m.gcm256_dec),
            n => return Err(ImbError::KeyLength(n)),
        };
        let (Some(pre), Some(enc), Some(dec)) = (pre, enc, dec) else { return Err(ImbError::Missing("GCM")) };
        let mut data = Box::new(Aligned(imb::gcm_key_data::default()));
        // SAFETY: `key` holds the key length the chosen function reads; `data` is a writable, aligned key struct.
        unsafe { pre(key.as_ptr().cast(), &mut data.0) };
        Ok(Self { data, enc, dec })
    }

    /// Encrypts `data` in place and writes the tag (`tag.len()` bytes: 16, 12 or 8).
    pub fn seal(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &mut [u8]) {
        self.run(self.enc, iv, aad, data, tag);
    }

    /// Decrypts `data` in place and writes the tag it computes into `tag`: the caller compares it with the received
    /// one (in constant time) and drops the packet when they differ.
    pub fn open(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &mut [u8; 16]) {
        self.run(self.dec, iv, aad, data, tag);
    }

    fn run(&self, f: GcmFn, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &mut [u8]) {
        let mut ctx = Aligned(imb::gcm_context_data::default());
        let p = data.as_mut_ptr();
        // SAFETY: every pointer is valid for the length passed with it; in-place operation (out == in) is
        // supported by the library; the context is this call's own.
        unsafe {
            f(
                &self.data.0,
                &mut ctx.0,
                p,
                p,
                data.len() as u64,
                iv.as_ptr(),
                aad.as_ptr(),
                aad.len() as u64,
                tag.as_mut_ptr(),
                tag.len() as u64,
            )
        };
    }
}

/// The cipher of a [`ChainKeys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainCipher {
    Null,
    AesCbc,
    /// AES-CTR; the IV is the whole 16-byte counter block.
    AesCtr,
}

/// The HMAC of a [`ChainKeys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainHash {
    None,
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl ChainHash {
    fn alg(self) -> imb::IMB_HASH_ALG {
        match self {
            Self::None => imb::IMB_AUTH_NULL,
            Self::Md5 => imb::IMB_AUTH_MD5,
            Self::Sha1 => imb::IMB_AUTH_HMAC_SHA_1,
            Self::Sha256 => imb::IMB_AUTH_HMAC_SHA_256,
            Self::Sha384 => imb::IMB_AUTH_HMAC_SHA_384,
            Self::Sha512 => imb::IMB_AUTH_HMAC_SHA_512,
        }
    }

    fn block(self) -> usize {
        match self {
            Self::Sha384 | Self::Sha512 => 128,
            _ => 64,
        }
    }
}

/// Keys of a cipher + HMAC chain: AES round keys both ways, and the HMAC's inner and outer states after one block
/// of key ^ ipad / key ^ opad (RFC 2104), as the library's job API takes them.
pub struct ChainKeys {
    cipher: ChainCipher,
    key_len: u64,
    enc: Box<Aligned<[u32; 60]>>,
    dec: Box<Aligned<[u32; 60]>>,
    hash: ChainHash,
    ipad: Box<Aligned<[u8; 64]>>,
    opad: Box<Aligned<[u8; 64]>>,
    tag_len: u64,
}

impl ChainKeys {
    /// Reads one byte of each key block a packet's sealing or opening starts with (round keys, HMAC pads): see
    /// [`GcmKey::touch`].
    pub fn touch(&self) -> u64 {
        let (e, d) = (&self.enc.0, &self.dec.0);
        u64::from(e[0] ^ e[16] ^ e[32] ^ e[48] ^ d[0] ^ d[16] ^ d[32] ^ d[48])
            ^ u64::from(self.ipad.0[0])
            ^ u64::from(self.opad.0[0])
    }
}

impl std::fmt::Debug for ChainKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainKeys({:?}, {:?})", self.cipher, self.hash)
    }
}

impl Drop for ChainKeys {
    fn drop(&mut self) {
        wipe(&mut self.enc.0);
        wipe(&mut self.dec.0);
        wipe(&mut self.ipad.0);
        wipe(&mut self.opad.0);
    }
}

/// One packet of a [`ChainKeys::run`] burst: the regions are offsets into `buf`, in place.
#[derive(Debug)]
pub struct ChainOp<'a> {
    pub buf: &'a mut [u8],
    /// Cipher region (start, length); ignored for [`ChainCipher::Null`].
    pub cipher_at: (usize, usize),
    /// IV (CBC) or counter block (CTR); the first `iv_len` bytes are used.
    pub iv: [u8; 16],
    /// HMAC region (start, length); ignored without a hash.
    pub hash_at: (usize, usize),
    /// The HMAC, truncated to the ICV length, written by `run`.
    pub tag: [u8; 32],
    /// Set by `run`: the library completed the job.
    pub done: bool,
}

impl<'a> ChainOp<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, cipher_at: (0, 0), iv: [0; 16], hash_at: (0, 0), tag: [0; 32], done: false }
    }
}

/// What a [`ChainKeys::run`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStep {
    /// Encrypt, then HMAC the result (outbound ESP).
    Seal,
    /// HMAC only (inbound ESP, before deciding to decrypt).
    Hash,
    /// Decrypt only.
    Decrypt,
}

thread_local! {
    /// This thread's job manager (job queues are per manager).
    static JOBS: Jobs = Jobs(new_manager().unwrap_or(std::ptr::null_mut()));
}

struct Jobs(*mut imb::IMB_MGR);

/// Makes this thread's job manager now (a worker calls it before polling), so the first burst does not pay for it.
pub fn prepare_thread() {
    let _ = JOBS.try_with(|_| ());
}

impl Drop for Jobs {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: this thread's manager, with no job in it (every run flushes).
            unsafe { imb::free_mb_mgr(self.0) };
        }
    }
}

impl ChainKeys {
    /// `key` is the AES key (16, 24, 32 bytes; empty for NULL), `auth_key` the HMAC key, `tag_len` the ICV length.
    pub fn new(
        cipher: ChainCipher,
        key: &[u8],
        hash: ChainHash,
        auth_key: &[u8],
        tag_len: usize,
    ) -> Result<Self, ImbError> {
        let m = lib()?;
        let mut enc = Box::new(Aligned([0u32; 60]));
        let mut dec = Box::new(Aligned([0u32; 60]));
        if cipher != ChainCipher::Null {
            let exp = match key.len() {
                16 => m.keyexp_128,
                24 => m.keyexp_192,
                32 => m.keyexp_256,
                n => return Err(ImbError::KeyLength(n)),
            };
            let exp = exp.ok_or(ImbError::Missing("AES key expansion"))?;
            // SAFETY: `key` holds the length the function reads; both schedules have room for 15 round keys.
            unsafe { exp(key.as_ptr().cast(), enc.0.as_mut_ptr().cast(), dec.0.as_mut_ptr().cast()) };
        }
        let mut ipad = Box::new(Aligned([0u8; 64]));
        let mut opad = Box::new(Aligned([0u8; 64]));
        if hash != ChainHash::None {
            let one = match hash {
                ChainHash::Md5 => m.md5_one_block,
                ChainHash::Sha1 => m.sha1_one_block,
                ChainHash::Sha256 => m.sha256_one_block,
                ChainHash::Sha384 => m.sha384_one_block,
                ChainHash::Sha512 => m.sha512_one_block,
                ChainHash::None => None,
            };
            let one = one.ok_or(ImbError::Missing("HMAC"))?;
            // ESP's HMAC keys are the hash's output length (RFC 2404, 4868): never longer than its block.
            if auth_key.len() > hash.block() {
                return Err(ImbError::AuthKeyLength(auth_key.len()));
            }
            let mut block = Aligned([0u8; 128]);
            for (pad, out) in [(0x36u8, &mut ipad), (0x5c, &mut opad)] {
                block.0 = [pad; 128];
                block.0.iter_mut().zip(auth_key).for_each(|(b, k)| *b ^= k);
                // SAFETY: one block of the hash (64 or 128 bytes) in, its state (at most 64 bytes) out.
                unsafe { one(block.0.as_ptr().cast(), out.0.as_mut_ptr().cast()) };
            }
            wipe(&mut block.0);
        }
        let keys = Self { cipher, key_len: key.len() as u64, enc, dec, hash, ipad, opad, tag_len: tag_len as u64 };
        keys.self_test()?;
        Ok(keys)
    }

    /// Runs each step once through the library's parameter checks: bursts then skip them (`submit_job_nocheck`,
    /// 20-60 cycles a job less), since what they check is fixed per SA (keys, key and tag lengths) or checked by
    /// `run` itself (regions inside the buffer, whole blocks for CBC).
    fn self_test(&self) -> Result<(), ImbError> {
        let used = |step: &ChainStep| match step {
            ChainStep::Seal => true,
            ChainStep::Hash => self.hash != ChainHash::None,
            ChainStep::Decrypt => self.cipher != ChainCipher::Null,
        };
        for step in [ChainStep::Seal, ChainStep::Hash, ChainStep::Decrypt].into_iter().filter(used) {
            let mut buf = [0u8; 96];
            let mut ops = [ChainOp::new(&mut buf)];
            ops[0].cipher_at = (32, 32);
            ops[0].hash_at = (0, 64);
            let mut ok = false;
            let _ = JOBS.try_with(|jobs| {
                if !jobs.0.is_null() {
                    // SAFETY: this thread's manager; the op is flushed before `ops` is released.
                    unsafe { self.run_on(jobs.0, step, &mut ops, true) };
                    ok = ops[0].done;
                }
            });
            if !ok {
                return Err(ImbError::Refused(step));
            }
        }
        Ok(())
    }

    /// Runs `step` on every op through this thread's job manager, interleaving them, and returns when all are
    /// done (`done` set on each the library completed). Ops whose regions fall outside their buffer are not
    /// submitted.
    pub fn run(&self, step: ChainStep, ops: &mut [ChainOp<'_>]) {
        // During the thread's teardown the manager is gone: nothing is done (the ops stay not done: counted drops).
        let _ = JOBS.try_with(|jobs| {
            if !jobs.0.is_null() {
                // SAFETY: this thread's manager; the burst is flushed before `ops` is released; the parameters
                // the library would check were checked by `self_test` (per SA) and are checked in `run_on`.
                unsafe { self.run_on(jobs.0, step, ops, false) }
            }
        });
    }

    unsafe fn run_on(&self, m: *mut imb::IMB_MGR, step: ChainStep, ops: &mut [ChainOp<'_>], checked: bool) {
        let submit = if checked { (*m).submit_job } else { (*m).submit_job_nocheck };
        let (Some(next), Some(submit), Some(completed), Some(flush)) =
            ((*m).get_next_job, submit, (*m).get_completed_job, (*m).flush_job)
        else {
            return;
        };
        let cipher = match (step, self.cipher) {
            (ChainStep::Hash, _) | (_, ChainCipher::Null) => imb::IMB_CIPHER_NULL,
            (_, ChainCipher::AesCbc) => imb::IMB_CIPHER_CBC,
            (_, ChainCipher::AesCtr) => imb::IMB_CIPHER_CNTR,
        };
        let hash = if step == ChainStep::Decrypt { ChainHash::None } else { self.hash };
        let iv_len = if self.cipher == ChainCipher::Null { 0 } else { 16 };
        let finish = |job: *mut imb::IMB_JOB, ops: &mut [ChainOp<'_>]| {
            let k = (*job).user_data as usize;
            if let Some(op) = ops.get_mut(k) {
                op.done = (*job).status == imb::IMB_STATUS_COMPLETED;
            }
        };
        ops.iter_mut().for_each(|op| op.done = false);
        for k in 0..ops.len() {
            let op = &mut ops[k];
            let len = op.buf.len();
            let fits = |(at, n): (usize, usize)| at.checked_add(n).is_some_and(|end| end <= len);
            let ciphered = cipher != imb::IMB_CIPHER_NULL;
            // What the library's checks would refuse: an empty or ragged (CBC) cipher region, regions outside.
            let blocks = op.cipher_at.1 > 0 && (cipher != imb::IMB_CIPHER_CBC || op.cipher_at.1 % 16 == 0);
            if (ciphered && !(fits(op.cipher_at) && blocks)) || (hash != ChainHash::None && !fits(op.hash_at)) {
                continue;
            }
            let job = next(m);
            std::ptr::write_bytes(job, 0, 1);
            let j = &mut *job;
            let base = op.buf.as_mut_ptr();
            let (c_at, c_len) = if ciphered { op.cipher_at } else { (0, 0) };
            j.enc_keys = self.enc.0.as_ptr().cast();
            j.dec_keys = self.dec.0.as_ptr().cast();
            j.key_len_in_bytes = self.key_len;
            j.__bindgen_anon_1.src = base;
            j.__bindgen_anon_2.dst = base.add(c_at);
            j.__bindgen_anon_3.cipher_start_src_offset_in_bytes = c_at as u64;
            j.__bindgen_anon_4.msg_len_to_cipher_in_bytes = c_len as u64;
            j.iv = op.iv.as_ptr();
            j.iv_len_in_bytes = if ciphered { iv_len } else { 0 };
            j.cipher_mode = cipher;
            j.cipher_direction = if step == ChainStep::Seal { imb::IMB_DIR_ENCRYPT } else { imb::IMB_DIR_DECRYPT };
            j.chain_order =
                if step == ChainStep::Seal { imb::IMB_ORDER_CIPHER_HASH } else { imb::IMB_ORDER_HASH_CIPHER };
            j.hash_alg = hash.alg();
            if hash != ChainHash::None {
                j.hash_start_src_offset_in_bytes = op.hash_at.0 as u64;
                j.__bindgen_anon_5.msg_len_to_hash_in_bytes = op.hash_at.1 as u64;
                j.auth_tag_output = op.tag.as_mut_ptr();
                j.auth_tag_output_len_in_bytes = self.tag_len;
                j.u.HMAC._hashed_auth_key_xor_ipad = self.ipad.0.as_ptr();
                j.u.HMAC._hashed_auth_key_xor_opad = self.opad.0.as_ptr();
            }
            j.user_data = k as *mut std::ffi::c_void;
            let mut done = submit(m);
            while !done.is_null() {
                finish(done, ops);
                done = completed(m);
            }
        }
        loop {
            let done = flush(m);
            if done.is_null() {
                break;
            }
            finish(done, ops);
        }
    }
}
