use super::{DpdkError, Eal};
use std::ffi::CString;

/// Two ring-backed ethdevs wired back to back: what port `a` transmits on queue q, port `b` receives on queue q,
/// and the other way round. For tests and benchmarks that need a "cable" without a NIC.
#[derive(Debug, Clone, Copy)]
pub struct RingPair {
    pub a: u16,
    pub b: u16,
}

impl RingPair {
    /// Creates the rings (`queues` per direction, `size` slots each, a power of two) and the two ports
    /// `{name}_a` / `{name}_b`. Configure and start the ports with [`super::Port::configure`] as usual.
    ///
    /// The rings live until EAL cleanup: a port may outlive this value and still use them.
    pub fn new(_eal: &Eal, name: &str, queues: u16, size: u32) -> Result<Self, DpdkError> {
        let mut a_to_b = Vec::new();
        let mut b_to_a = Vec::new();
        for q in 0..queues {
            a_to_b.push(ring(&format!("{name}_ab{q}"), size)?);
            b_to_a.push(ring(&format!("{name}_ba{q}"), size)?);
        }
        let a = from_rings(&format!("{name}_a"), &b_to_a, &a_to_b)?;
        let b = from_rings(&format!("{name}_b"), &a_to_b, &b_to_a)?;
        Ok(Self { a, b })
    }
}

fn ring(name: &str, size: u32) -> Result<*mut dpdk_sys::rte_ring, DpdkError> {
    let c = CString::new(name).map_err(|_| DpdkError::from_ret("rte_ring_create", -libc::EINVAL))?;
    // Single producer and consumer: one lcore transmits on a queue and one receives from it.
    let flags = dpdk_sys::RING_F_SP_ENQ | dpdk_sys::RING_F_SC_DEQ;
    // SAFETY: valid name; DPDK copies it.
    let r = unsafe { dpdk_sys::rte_ring_create(c.as_ptr(), size, dpdk_sys::SOCKET_ID_ANY, flags) };
    if r.is_null() {
        return Err(DpdkError::last("rte_ring_create"));
    }
    Ok(r)
}

fn from_rings(name: &str, rx: &[*mut dpdk_sys::rte_ring], tx: &[*mut dpdk_sys::rte_ring]) -> Result<u16, DpdkError> {
    let c = CString::new(name).map_err(|_| DpdkError::from_ret("rte_eth_from_rings", -libc::EINVAL))?;
    // SAFETY: valid name and ring arrays of the given lengths; the rings are never freed (see RingPair::new).
    let id = unsafe {
        dpdk_sys::rte_eth_from_rings(
            c.as_ptr(),
            rx.as_ptr(),
            rx.len() as u32,
            tx.as_ptr(),
            tx.len() as u32,
            dpdk_sys::SOCKET_ID_ANY as u32,
        )
    };
    if id < 0 {
        return Err(DpdkError::last("rte_eth_from_rings"));
    }
    Ok(id as u16)
}
