use super::{Burst, DpdkError, Eal, Mempool};
use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How a port is set up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Spread received packets over the rx queues by a hash of IP addresses and UDP/TCP ports (when the device can).
    pub rss: bool,
    pub mtu: Option<u16>,
    pub mac: Option<[u8; 6]>,
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            mtu: None,
            mac: None,
            promiscuous: false,
        }
    }
}

/// Link state as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// The basic counters of a port (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the device because no rx descriptor was free (the poll loop fell behind).
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

/// A configured ethdev. Cheap to clone; the device is stopped and closed when the last handle (ports and queue
/// handles) is dropped.
#[derive(Debug, Clone)]
pub struct Port {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: u16,
    name: String,
    driver: String,
    rx_queues: u16,
    tx_queues: u16,
    rss_hf: u64,
    // Bit q set: rx (low word) / tx (high word) queue q was handed out, so each is polled by one lcore only.
    taken_rx: AtomicU64,
    taken_tx: AtomicU64,
    _pool: Mempool,
    _eal: Eal,
}

fn check(call: &'static str, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_ret(call, ret))
    } else {
        Ok(())
    }
}

impl Port {
    /// The port id of a device by its name (`net_null0`, `net_af_packet0`, `0000:03:00.0`, ...).
    pub fn id_by_name(_eal: &Eal, name: &str) -> Result<u16, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError {
            call: "rte_eth_dev_get_port_by_name",
            errno: libc::EINVAL,
            message: format!("device name {name:?} contains NUL"),
        })?;
        let mut id = 0u16;
        // SAFETY: valid C string and out pointer.
        check("rte_eth_dev_get_port_by_name", unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) })?;
        Ok(id)
    }

    /// Configures port `id` with `cfg`, its rx queues filled from `pool`. The port is not started.
    pub fn configure(eal: &Eal, id: u16, cfg: &PortConfig, pool: &Mempool) -> Result<Self, DpdkError> {
        // SAFETY: plain query.
        if unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(DpdkError {
                call: "rte_eth_dev_is_valid_port",
                errno: libc::ENODEV,
                message: format!("no port {id}"),
            });
        }
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 || cfg.rx_queues > 64 || cfg.tx_queues > 64 {
            return Err(DpdkError {
                call: "rte_eth_dev_configure",
                errno: libc::EINVAL,
                message: format!("queue counts must be 1..=64 (rx {}, tx {})", cfg.rx_queues, cfg.tx_queues),
            });
        }
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_dev_info_get", unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) })?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static NUL-terminated string owned by the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };

        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: reading exported constants.
        let wanted = unsafe { dpdk_sys::espgate_rss_ip | dpdk_sys::espgate_rss_udp | dpdk_sys::espgate_rss_tcp };
        let rss_hf = if cfg.rss && cfg.rx_queues > 1 { wanted & info.flow_type_rss_offloads } else { 0 };
        if rss_hf != 0 {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: valid port and a fully initialised config.
        check("rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf)
        })?;
        let (mut nrx, mut ntx) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid port and out pointers.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx)
        })?;
        // SAFETY: plain query; -1 (unknown) maps to any socket.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { dpdk_sys::SOCKET_ID_ANY } else { socket } as u32;
        for q in 0..cfg.rx_queues {
            // SAFETY: valid port/queue; NULL rx_conf means the driver's defaults; the pool outlives the port
            // (Inner holds a clone).
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(id, q, nrx, socket, std::ptr::null(), pool.as_ptr())
            })?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: valid port/queue; NULL tx_conf means the driver's defaults.
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, ntx, socket, std::ptr::null())
            })?;
        }
        if let Some(mtu) = cfg.mtu {
            // SAFETY: valid port.
            check("rte_eth_dev_set_mtu", unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) })?;
        }
        if let Some(mac) = cfg.mac {
            set_mac(id, mac)?;
        }
        if cfg.promiscuous {
            // SAFETY: valid port. Some vdevs cannot; that is not fatal for them.
            let _ = unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        }
        let mut name = [0 as c_char; 64];
        // SAFETY: the buffer holds RTE_ETH_NAME_MAX_LEN (64) bytes.
        check("rte_eth_dev_get_name_by_port", unsafe {
            dpdk_sys::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr())
        })?;
        // SAFETY: DPDK wrote a NUL-terminated name into the buffer.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                name,
                driver,
                rx_queues: cfg.rx_queues,
                tx_queues: cfg.tx_queues,
                rss_hf,
                taken_rx: AtomicU64::new(0),
                taken_tx: AtomicU64::new(0),
                _pool: pool.clone(),
                _eal: eal.clone(),
            }),
        })
    }

    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The device name EAL gave the port.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn driver(&self) -> &str {
        &self.inner.driver
    }

    pub fn rx_queues(&self) -> u16 {
        self.inner.rx_queues
    }

    pub fn tx_queues(&self) -> u16 {
        self.inner.tx_queues
    }

    /// The RSS hash types in use (0 when RSS is off).
    pub fn rss_hash_types(&self) -> u64 {
        self.inner.rss_hf
    }

    pub fn start(&self) -> Result<(), DpdkError> {
        // SAFETY: valid, configured port.
        check("rte_eth_dev_start", unsafe { dpdk_sys::rte_eth_dev_start(self.inner.id) })
    }

    /// Stops the port. Lcores must not poll it afterwards (stop them first).
    pub fn stop(&self) -> Result<(), DpdkError> {
        // SAFETY: valid port.
        check("rte_eth_dev_stop", unsafe { dpdk_sys::rte_eth_dev_stop(self.inner.id) })
    }

    /// Sets the port's MAC address. Some vdevs (net_pcap) cannot: the error says so (`ENOTSUP`).
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<(), DpdkError> {
        set_mac(self.inner.id, mac)
    }

    /// Sets the device's MTU (the largest IP packet it receives and sends). Some vdevs cannot.
    pub fn set_mtu(&self, mtu: u16) -> Result<(), DpdkError> {
        // SAFETY: valid port.
        check("rte_eth_dev_set_mtu", unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.inner.id, mtu) })
    }

    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_macaddr_get", unsafe { dpdk_sys::rte_eth_macaddr_get(self.inner.id, &mut a) })?;
        Ok(a.addr_bytes)
    }

    pub fn link(&self) -> Result<LinkStatus, DpdkError> {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_link_get_nowait", unsafe { dpdk_sys::rte_eth_link_get_nowait(self.inner.id, &mut l) })?;
        Ok(LinkStatus {
            up: u32::from(l.link_status()) == dpdk_sys::RTE_ETH_LINK_UP,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        })
    }

    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_stats_get", unsafe { dpdk_sys::rte_eth_stats_get(self.inner.id, &mut s) })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    pub fn reset_stats(&self) -> Result<(), DpdkError> {
        // SAFETY: valid port.
        check("rte_eth_stats_reset", unsafe { dpdk_sys::rte_eth_stats_reset(self.inner.id) })
    }

    /// The driver's extended statistics, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        let id = self.inner.id;
        // SAFETY: a NULL array with size 0 asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        check("rte_eth_xstats_get_names", n)?;
        let n = n as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name { name: [0; 64] }; n];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: arrays of n elements.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
        check("rte_eth_xstats_get_names", got)?;
        // SAFETY: arrays of n elements.
        let got2 = unsafe { dpdk_sys::rte_eth_xstats_get(id, vals.as_mut_ptr(), n as u32) };
        check("rte_eth_xstats_get", got2)?;
        let count = (got as usize).min(got2 as usize).min(n);
        Ok(vals[..count]
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates each name within its 64 bytes.
                let s = unsafe { CStr::from_ptr(name.name.as_ptr()) }.to_string_lossy().into_owned();
                Some((s, v.value))
            })
            .collect())
    }

    /// The handle for rx queue `q`. Each queue is handed out once, so exactly one lcore polls it.
    pub fn rx_queue(&self, q: u16) -> Result<RxQueue, DpdkError> {
        self.take(&self.inner.taken_rx, q, self.inner.rx_queues, "rx")?;
        Ok(RxQueue { port: self.inner.id, queue: q, _owner: self.clone() })
    }

    /// The handle for tx queue `q`, handed out once like [`Port::rx_queue`].
    pub fn tx_queue(&self, q: u16) -> Result<TxQueue, DpdkError> {
        self.take(&self.inner.taken_tx, q, self.inner.tx_queues, "tx")?;
        Ok(TxQueue { port: self.inner.id, queue: q, _owner: self.clone() })
    }

    fn take(&self, taken: &AtomicU64, q: u16, count: u16, what: &str) -> Result<(), DpdkError> {
        if q >= count {
            return Err(DpdkError {
                call: "queue handle",
                errno: libc::EINVAL,
                message: format!("port {} has {count} {what} queues, not {}", self.inner.name, q + 1),
            });
        }
        let bit = 1u64 << q;
        if taken.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(DpdkError {
                call: "queue handle",
                errno: libc::EBUSY,
                message: format!("{what} queue {q} of port {} is already in use", self.inner.name),
            });
        }
        Ok(())
    }
}

fn set_mac(id: u16, mac: [u8; 6]) -> Result<(), DpdkError> {
    let mut a = dpdk_sys::rte_ether_addr { addr_bytes: mac };
    // SAFETY: valid port and address.
    check("rte_eth_dev_default_mac_addr_set", unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(id, &mut a) })
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: no handle (and so no lcore) can reach the port any more; stopping then closing frees its queues
        // (and makes net_pcap finish its tx file).
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// The receive side of one queue of one port; `Send` so it can move to the lcore that polls it.
#[derive(Debug)]
pub struct RxQueue {
    port: u16,
    queue: u16,
    _owner: Port,
}

impl RxQueue {
    pub fn port_id(&self) -> u16 {
        self.port
    }

    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Receives up to the burst's free room; returns how many arrived.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst) -> usize {
        self.rx_burst_max(burst, super::MAX_BURST)
    }

    /// Receives at most `max` packets (and at most the burst's free room); returns how many arrived.
    #[inline]
    pub fn rx_burst_max(&mut self, burst: &mut Burst, max: usize) -> usize {
        let (ptrs, room) = burst.spare_ptrs();
        let room = room.min(u16::try_from(max).unwrap_or(u16::MAX));
        if room == 0 {
            return 0;
        }
        // SAFETY: this handle is the only poller of (port, queue); ptrs has room for `room` pointers, which DPDK
        // fills with owned mbufs.
        let n = unsafe { dpdk_sys::espgate_rx_burst(self.port, self.queue, ptrs, room) };
        burst.commit(usize::from(n));
        usize::from(n)
    }
}

/// The transmit side of one queue of one port.
#[derive(Debug)]
pub struct TxQueue {
    port: u16,
    queue: u16,
    _owner: Port,
}

impl TxQueue {
    pub fn port_id(&self) -> u16 {
        self.port
    }

    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Sends from the front of the burst; the device takes ownership of what it accepts, and what it did not
    /// accept stays in the burst, in order. Returns how many were sent.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let (ptrs, n) = burst.raw_ptrs();
        if n == 0 {
            return 0;
        }
        // SAFETY: this handle is the only user of (port, queue); ptrs holds n owned mbufs, and the ones DPDK
        // accepts are forgotten by consume_front.
        let sent = unsafe { dpdk_sys::espgate_tx_burst(self.port, self.queue, ptrs, n) };
        burst.consume_front(usize::from(sent));
        usize::from(sent)
    }

    /// Sends the burst and frees what the device did not take. Returns (sent, dropped).
    #[inline]
    pub fn tx_burst_or_drop(&mut self, burst: &mut Burst) -> (usize, usize) {
        let sent = self.tx_burst(burst);
        let dropped = burst.len();
        if dropped != 0 {
            burst.clear();
        }
        (sent, dropped)
    }
}
