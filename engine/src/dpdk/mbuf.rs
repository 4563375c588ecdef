use dpdk_sys::rte_mbuf;
use std::ptr::NonNull;

/// Most packets one rx or tx burst moves. 64 leaves room for DPDK's usual 32 plus packets carried over.
pub const MAX_BURST: usize = 64;

/// An owned packet buffer. Dropping it returns it to its pool.
///
/// Byte access covers the first segment; every PMD espgate uses delivers single-segment packets, and
/// [`Mbuf::linearize`] makes any other one so.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    // repr(transparent) over a non-null pointer: a Burst's pointer array can be viewed as a slice of Mbuf.
    raw: NonNull<rte_mbuf>,
}

// SAFETY: an Mbuf is the sole owner of its buffer; mbufs move between lcores (rings) by design.
unsafe impl Send for Mbuf {}

impl Mbuf {
    pub(crate) fn from_nonnull(raw: NonNull<rte_mbuf>) -> Self {
        Self { raw }
    }

    /// Gives up ownership (for handing the buffer to DPDK, e.g. a ring). Pair with [`Mbuf::from_raw`].
    pub(crate) fn into_raw(self) -> *mut rte_mbuf {
        let p = self.raw.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline]
    fn m(&self) -> &rte_mbuf {
        // SAFETY: we own a live mbuf.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn m_mut(&mut self) -> &mut rte_mbuf {
        // SAFETY: we own a live mbuf exclusively.
        unsafe { self.raw.as_mut() }
    }

    /// Total packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.m().pkt_len
    }

    /// Length of the first segment's data, the bytes [`Mbuf::data`] covers.
    #[inline]
    pub fn data_len(&self) -> u16 {
        self.m().data_len
    }

    pub fn segments(&self) -> u16 {
        self.m().nb_segs
    }

    /// The port the packet arrived on.
    pub fn port(&self) -> u16 {
        self.m().port
    }

    pub fn set_port(&mut self, port: u16) {
        self.m_mut().port = port;
    }

    /// The RSS hash the NIC computed (valid when the rx offload flag says so).
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reading a plain u32 out of a union of plain integers.
        unsafe { self.m().__bindgen_anon_2.hash.rss }
    }

    pub fn ol_flags(&self) -> u64 {
        self.m().ol_flags
    }

    /// The first segment's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's buffer, owned by us.
        unsafe {
            std::slice::from_raw_parts((m.buf_addr as *const u8).add(usize::from(m.data_off)), usize::from(m.data_len))
        }
    }

    /// The first segment's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in data(), and we hold the mbuf exclusively.
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    pub fn headroom(&self) -> u16 {
        // SAFETY: we own a live mbuf.
        unsafe { dpdk_sys::espgate_pktmbuf_headroom(self.raw.as_ptr()) }
    }

    pub fn tailroom(&self) -> u16 {
        // SAFETY: we own a live mbuf.
        unsafe { dpdk_sys::espgate_pktmbuf_tailroom(self.raw.as_ptr()) }
    }

    /// Grows the packet at the front by `len` bytes of headroom and returns the new front bytes (uninitialised
    /// contents). `None`, and the mbuf unchanged, when the headroom is too small.
    pub fn prepend(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: we own the mbuf; DPDK checks the headroom and returns NULL without changes if it is short.
        let p = unsafe { dpdk_sys::espgate_pktmbuf_prepend(self.raw.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p points at len bytes now inside the packet's first segment.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, usize::from(len)) })
    }

    /// Grows the packet at the end by `len` bytes of tailroom and returns them. `None`, unchanged, when short.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        if self.segments() != 1 {
            return None;
        }
        // SAFETY: we own the mbuf; DPDK checks the tailroom and returns NULL without changes if it is short.
        let p = unsafe { dpdk_sys::espgate_pktmbuf_append(self.raw.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p points at the len new bytes at the end of the (single) segment.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, usize::from(len)) })
    }

    /// Appends `bytes` at the end; false (unchanged) when the tailroom is short.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> bool {
        let Ok(len) = u16::try_from(bytes.len()) else {
            return false;
        };
        match self.append(len) {
            Some(tail) => {
                tail.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Removes `len` bytes from the front; false (unchanged) when the first segment is shorter.
    pub fn adj(&mut self, len: u16) -> bool {
        // SAFETY: we own the mbuf; DPDK returns NULL without changes if len > data_len.
        !unsafe { dpdk_sys::espgate_pktmbuf_adj(self.raw.as_ptr(), len) }.is_null()
    }

    /// Removes `len` bytes from the end; false (unchanged) when the last segment is shorter.
    pub fn trim(&mut self, len: u16) -> bool {
        // SAFETY: we own the mbuf; DPDK returns -1 without changes if len > the last segment's data_len.
        unsafe { dpdk_sys::espgate_pktmbuf_trim(self.raw.as_ptr(), len) == 0 }
    }

    /// Makes the packet one contiguous segment; false if it does not fit in the first buffer.
    pub fn linearize(&mut self) -> bool {
        // SAFETY: we own the mbuf.
        unsafe { dpdk_sys::espgate_pktmbuf_linearize(self.raw.as_ptr()) == 0 }
    }

    /// A fresh mbuf from the pool this one came from (for packets made on the packet path, such as fragments).
    #[inline]
    pub fn alloc_like(&self) -> Option<Mbuf> {
        // SAFETY: an mbuf's pool outlives it (Mempool never frees a pool with mbufs out); alloc returns an owned mbuf.
        let m = unsafe { dpdk_sys::espgate_pktmbuf_alloc(self.m().pool) };
        NonNull::new(m).map(Mbuf::from_nonnull)
    }

    /// Empties the packet (length 0, default headroom), keeping the buffer: for reuse by generators.
    pub fn reset(&mut self) {
        // SAFETY: we own the mbuf; reset only rewrites its metadata.
        unsafe { dpdk_sys::espgate_pktmbuf_reset(self.raw.as_ptr()) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf, and it is freed once (into_raw forgets self).
        unsafe { dpdk_sys::espgate_pktmbuf_free(self.raw.as_ptr()) }
    }
}

/// A fixed-capacity array of owned mbufs: what one rx/tx burst moves, with no allocation.
///
/// Only entries `[0, len)` are meaningful; stale pointers past `len` are never read, so nothing clears them (this is
/// the per-burst hot path).
pub struct Burst {
    ptrs: [*mut rte_mbuf; MAX_BURST],
    len: usize,
}

// SAFETY: a Burst owns its mbufs exactly as a Vec<Mbuf> would.
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst").field("len", &self.len).finish()
    }
}

impl Burst {
    pub const fn new() -> Self {
        Self { ptrs: [std::ptr::null_mut(); MAX_BURST], len: 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// Room left.
    #[inline]
    pub fn room(&self) -> usize {
        MAX_BURST - self.len
    }

    /// The mbufs, in order.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: entries [0, len) are non-null owned mbufs, and Mbuf is repr(transparent) over NonNull<rte_mbuf>,
        // which has the layout of *mut rte_mbuf.
        unsafe { std::slice::from_raw_parts(self.ptrs.as_ptr() as *const Mbuf, self.len) }
    }

    /// The mbufs, writable in place (swapping two is fine; ownership stays in the burst).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in as_slice, with exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptrs.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Adds an mbuf at the end, or gives it back when full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        NonNull::new(self.ptrs[self.len]).map(Mbuf::from_nonnull)
    }

    /// Keeps the mbufs for which `keep` returns true, in order, and frees the others. Returns how many were freed.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Mbuf) -> bool) -> usize {
        let mut kept = 0;
        for i in 0..self.len {
            let p = self.ptrs[i];
            // SAFETY: entry i < len is a non-null owned mbuf; viewed in place, not moved.
            let m = unsafe { &mut *(std::ptr::addr_of_mut!(self.ptrs[i]) as *mut Mbuf) };
            if keep(m) {
                self.ptrs[kept] = p;
                kept += 1;
            } else {
                // SAFETY: p is owned and is removed from the array below, so it is freed exactly once.
                unsafe { dpdk_sys::espgate_pktmbuf_free(p) };
            }
        }
        let freed = self.len - kept;
        self.len = kept;
        freed
    }

    /// Takes every mbuf out, in order; whatever the iterator does not yield is freed when it is dropped.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let len = self.len;
        // The burst is empty from here on; Drain owns entries [next, len).
        self.len = 0;
        Drain { burst: self, next: 0, len }
    }

    /// Frees every mbuf.
    #[inline]
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: entries [0, len) are owned and non-null; they are forgotten right after.
            unsafe { dpdk_sys::espgate_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// Appends `n` fresh mbufs from `pool` (capped by the room left), all or none. Returns how many were added.
    pub(crate) fn fill_from(&mut self, pool: &super::Mempool, n: usize) -> usize {
        let n = n.min(self.room());
        if n == 0 {
            return 0;
        }
        // SAFETY: the pool is alive; on success DPDK wrote n valid mbuf pointers into the free tail of the array.
        let ret = unsafe {
            dpdk_sys::espgate_pktmbuf_alloc_bulk(pool.as_ptr(), self.ptrs.as_mut_ptr().add(self.len), n as u32)
        };
        if ret != 0 {
            return 0;
        }
        self.len += n;
        n
    }

    /// The free tail of the pointer array, for an rx burst to fill; follow with [`Burst::commit`].
    #[inline]
    pub(crate) fn spare_ptrs(&mut self) -> (*mut *mut rte_mbuf, u16) {
        // SAFETY: len <= MAX_BURST, so the offset stays inside the array (or one past its end when full).
        (unsafe { self.ptrs.as_mut_ptr().add(self.len) }, self.room() as u16)
    }

    /// Records that `n` pointers were written into the spare tail.
    #[inline]
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.room());
        self.len += n.min(self.room());
    }

    /// Pointer to the first mbuf and the count, for a tx burst; follow with [`Burst::consume_front`].
    #[inline]
    pub(crate) fn raw_ptrs(&mut self) -> (*mut *mut rte_mbuf, u16) {
        (self.ptrs.as_mut_ptr(), self.len as u16)
    }

    /// Forgets the first `n` mbufs (the device took them) and moves the rest to the front.
    #[inline]
    pub(crate) fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        if n < self.len {
            self.ptrs.copy_within(n..self.len, 0);
        }
        self.len -= n;
    }
}

/// The iterator of [`Burst::drain`].
pub struct Drain<'a> {
    burst: &'a mut Burst,
    next: usize,
    len: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next >= self.len {
            return None;
        }
        let p = self.burst.ptrs[self.next];
        self.next += 1;
        NonNull::new(p).map(Mbuf::from_nonnull)
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for i in self.next..self.len {
            // SAFETY: entries [next, len) are owned, non-null and no longer part of the burst (its len is 0).
            unsafe { dpdk_sys::espgate_pktmbuf_free(self.burst.ptrs[i]) };
        }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

/// A single-segment mbuf is exactly the shape the IPsec transforms work on: one buffer with headroom, data and
/// tailroom. Multi-segment packets are linearized (or dropped) before they reach the transforms.
impl crate::buf::PacketBuf for Mbuf {
    #[inline]
    fn buffer(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr..buf_addr+buf_len is the mbuf's own data buffer, which we own.
        unsafe { std::slice::from_raw_parts(m.buf_addr as *const u8, usize::from(m.buf_len)) }
    }

    #[inline]
    fn buffer_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in buffer(), with exclusive access.
        unsafe { std::slice::from_raw_parts_mut(m.buf_addr as *mut u8, usize::from(m.buf_len)) }
    }

    #[inline]
    fn data_offset(&self) -> usize {
        usize::from(self.m().data_off)
    }

    #[inline]
    fn data_len(&self) -> usize {
        usize::from(self.m().data_len)
    }

    #[inline]
    fn set_data(&mut self, offset: usize, len: usize) {
        let m = self.m_mut();
        // The window must stay inside the buffer; an out-of-range request leaves the mbuf as it was (the callers in
        // PacketBuf's provided methods check room first, so this only guards against misuse).
        if offset.checked_add(len).is_none_or(|end| end > usize::from(m.buf_len)) || m.nb_segs != 1 {
            return;
        }
        m.data_off = offset as u16;
        m.data_len = len as u16;
        m.pkt_len = len as u32;
    }
}
