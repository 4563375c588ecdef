use super::{DpdkError, Eal};
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). Shared by the ports whose rx queues fill from it.
#[derive(Debug, Clone)]
pub struct Mempool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    _eal: Eal,
}

// SAFETY: rte_mempool is multi-producer/multi-consumer (ring_mp_mc ops) and safe to use from any thread.
unsafe impl Send for Inner {}
// SAFETY: as above; the Rust side never mutates the struct itself.
unsafe impl Sync for Inner {}

impl Mempool {
    /// Creates a pool of `n` mbufs with `data_room` bytes each (headroom included; DPDK's default is 2176) and a
    /// per-lcore cache of `cache` mbufs. `socket` is a NUMA node, or `None` for any.
    pub fn new(
        eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: Option<i32>,
    ) -> Result<Self, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError {
            call: "rte_pktmbuf_pool_create",
            errno: libc::EINVAL,
            message: format!("pool name {name:?} contains NUL"),
        })?;
        let socket = socket.unwrap_or(dpdk_sys::SOCKET_ID_ANY);
        // SAFETY: name is a valid C string copied by DPDK; the other arguments are plain values.
        let raw = unsafe { dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket) };
        let raw = NonNull::new(raw).ok_or_else(|| DpdkError::last("rte_pktmbuf_pool_create"))?;
        Ok(Self { inner: Arc::new(Inner { raw, name: name.to_string(), _eal: eal.clone() }) })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.inner.raw.as_ptr()
    }

    /// Mbufs available in the pool (not counting per-lcore caches precisely; DPDK's own estimate).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive (we hold it).
        unsafe { dpdk_sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs currently taken from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive (we hold it).
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// Allocates one mbuf, or `None` if the pool is empty.
    pub fn alloc(&self) -> Option<super::Mbuf> {
        // SAFETY: the pool is alive; the returned mbuf (if any) is owned by the caller.
        let m = unsafe { dpdk_sys::espgate_pktmbuf_alloc(self.as_ptr()) };
        NonNull::new(m).map(super::Mbuf::from_nonnull)
    }

    /// Fills `burst` up to its capacity with fresh mbufs, all or none. Returns how many were added.
    pub fn alloc_bulk(&self, burst: &mut super::Burst, n: usize) -> usize {
        burst.fill_from(self, n)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Mbufs do not keep their pool alive (a refcount per packet would cost too much): if any is still out, leak
        // the pool rather than free memory they point into.
        // SAFETY: the pool is alive until the free below.
        if unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) } != 0 {
            return;
        }
        // SAFETY: the last handle is gone and no mbuf is out; ports hold a clone, so none is still using it.
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}
