use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// EAL may be initialised once per process, and never again after cleanup.
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum EalError {
    #[error("EAL was already initialised in this process (DPDK allows one EAL per process)")]
    AlreadyInitialised,
    #[error("EAL argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    #[error(transparent)]
    Dpdk(#[from] super::DpdkError),
}

/// The DPDK environment. A cheap handle: mempools and ports keep a clone, and `rte_eal_cleanup` runs when the last
/// one is dropped, so no DPDK object can outlive the environment it lives in.
#[derive(Debug, Clone)]
pub struct Eal {
    main_lcore: u32,
    _guard: Arc<Cleanup>,
}

#[derive(Debug)]
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        // SAFETY: runs once, after every Eal clone (and so every mempool and port) is gone.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}

impl Eal {
    /// Initialises EAL from `args` (without the program name, e.g. `["--no-huge", "-m", "1024", "--vdev", "net_null0"]`).
    ///
    /// On return the calling thread is pinned to the main lcore's CPU, and threads it spawns inherit that CPU:
    /// pin them with [`super::lcore::pin_current_thread`].
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Self, EalError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(EalError::AlreadyInitialised);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("espgate").expect("literal has no NUL"));
        for a in args {
            let a = a.as_ref();
            owned.push(CString::new(a).map_err(|_| EalError::NulInArgument(a.to_string()))?);
        }
        // EAL keeps pointers into argv for the life of the process (and may reorder it): leak both on purpose.
        let strings: &'static mut [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] =
            Box::leak(strings.iter_mut().map(|s| s.as_ptr() as *mut c_char).collect::<Vec<_>>().into_boxed_slice());
        // SAFETY: argv holds argc valid NUL-terminated strings that live forever (leaked above).
        let ret = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(super::DpdkError::last("rte_eal_init").into());
        }
        // SAFETY: plain getter, valid after init.
        let main_lcore = unsafe { dpdk_sys::rte_get_main_lcore() };
        Ok(Self { main_lcore, _guard: Arc::new(Cleanup) })
    }

    /// The lcore id of the thread that called [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        self.main_lcore
    }

    /// Worker lcore ids (every enabled lcore but the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX;
        loop {
            // SAFETY: plain iteration over EAL's lcore table; skip_main = 1, wrap = 0.
            i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
            if i >= dpdk_sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(i);
        }
    }

    /// Number of ethdev ports EAL found (vdevs and probed PCI devices).
    pub fn port_count(&self) -> u16 {
        // SAFETY: plain getter, valid after init.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// Port ids in order.
    pub fn port_ids(&self) -> Vec<u16> {
        let mut out = Vec::new();
        // SAFETY: rte_eth_find_next returns the next valid port id >= its argument, or RTE_MAX_ETHPORTS.
        let mut p = unsafe { dpdk_sys::rte_eth_find_next(0) };
        while u32::from(p) < dpdk_sys::RTE_MAX_ETHPORTS {
            out.push(p);
            // SAFETY: as above.
            p = unsafe { dpdk_sys::rte_eth_find_next(p + 1) };
        }
        out
    }

    /// Registers the calling non-EAL thread (e.g. the control thread) so it gets an lcore id and a mempool cache.
    pub fn register_thread(&self) -> Result<(), super::DpdkError> {
        // SAFETY: registers the calling thread with EAL; valid after init.
        let ret = unsafe { dpdk_sys::rte_thread_register() };
        if ret < 0 {
            return Err(super::DpdkError::last("rte_thread_register"));
        }
        Ok(())
    }

    /// Undoes [`Eal::register_thread`] for the calling thread.
    pub fn unregister_thread(&self) {
        // SAFETY: unregistering a thread that was not registered is a no-op in EAL.
        unsafe { dpdk_sys::rte_thread_unregister() }
    }
}
