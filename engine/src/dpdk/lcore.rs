//! Worker lcores that run Rust closures, and pinning of the threads that are not lcores.
use super::DpdkError;
use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

type Job = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

struct Slot {
    job: Option<Job>,
    result: Option<std::thread::Result<Box<dyn Any + Send>>>,
}

/// A closure running on a worker lcore. [`LcoreHandle::join`] waits for it; dropping the handle waits too, because
/// the lcore reads the closure's state until it returns.
pub struct LcoreHandle<T> {
    lcore: u32,
    slot: Option<Box<Slot>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for LcoreHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcoreHandle").field("lcore", &self.lcore).finish()
    }
}

extern "C" fn trampoline(arg: *mut c_void) -> i32 {
    // SAFETY: arg is the Slot boxed by launch(), kept alive by the handle until rte_eal_wait_lcore returns.
    let slot = unsafe { &mut *(arg as *mut Slot) };
    let Some(job) = slot.job.take() else {
        return -1;
    };
    // A panic must not unwind into C (that aborts the process): catch it and hand it to join().
    let r = catch_unwind(AssertUnwindSafe(job));
    let code = if r.is_ok() { 0 } else { -1 };
    slot.result = Some(r);
    code
}

/// Runs `f` on worker lcore `lcore` (which must be idle). Returns a handle to wait for its result.
pub fn launch<T, F>(lcore: u32, f: F) -> Result<LcoreHandle<T>, DpdkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let job: Job = Box::new(move || Box::new(f()) as Box<dyn Any + Send>);
    let mut slot = Box::new(Slot { job: Some(job), result: None });
    let arg = std::ptr::addr_of_mut!(*slot) as *mut c_void;
    // SAFETY: trampoline has the lcore_function_t signature; arg stays valid until join/drop waits for the lcore.
    let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if ret < 0 {
        return Err(DpdkError::from_ret("rte_eal_remote_launch", ret));
    }
    Ok(LcoreHandle { lcore, slot: Some(slot), _t: std::marker::PhantomData })
}

impl<T: 'static> LcoreHandle<T> {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the closure to return; `Err` carries its panic payload.
    pub fn join(mut self) -> std::thread::Result<T> {
        self.wait();
        let slot = self.slot.take().expect("slot is present until join");
        match slot.result {
            Some(Ok(v)) => Ok(*v.downcast::<T>().expect("the job returns T")),
            Some(Err(p)) => Err(p),
            None => Err(Box::new("lcore job did not run")),
        }
    }

    fn wait(&mut self) {
        if self.slot.is_some() {
            // SAFETY: waits for this lcore's job; afterwards nothing reads the slot from the lcore side.
            unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
        }
    }
}

impl<T> Drop for LcoreHandle<T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            // SAFETY: as in wait(): the slot must outlive the lcore's use of it.
            unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
        }
    }
}

/// The calling thread's lcore id, or `None` on a thread EAL does not know (e.g. an unregistered control thread).
pub fn current() -> Option<u32> {
    // SAFETY: reads the thread-local lcore id through the shim.
    let id = unsafe { dpdk_sys::espgate_lcore_id() };
    (id != dpdk_sys::LCORE_ID_ANY).then_some(id)
}

/// The CPU an lcore runs on.
pub fn cpu_of(lcore: u32) -> Option<usize> {
    // SAFETY: plain lookup in EAL's lcore table; -1 for unknown lcores.
    let cpu = unsafe { dpdk_sys::rte_lcore_to_cpu_id(lcore as i32) };
    usize::try_from(cpu).ok()
}

/// Pins the calling thread to `cpu`. EAL pins the main thread to the main lcore's CPU and every thread spawned
/// afterwards inherits it, so a control thread calls this first.
pub fn pin_current_thread(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}
