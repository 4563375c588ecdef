//! EAL starts with --no-huge on net_null vdevs; ports configure with several queues, start, report link and
//! stats, and move packets. One EAL per process: this file is one test binary with one test.
#![cfg(feature = "dpdk")]

use engine::dpdk::{lcore, Burst, Eal, Mempool, Port, PortConfig};

#[test]
fn eal_null_ports_forward() {
    let prefix = format!("--file-prefix=espgate-t-null-{}", std::process::id());
    let eal = Eal::init(&[
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=*:warning",
        &prefix,
        "--vdev=net_null0",
        "--vdev=net_null1",
    ])
    .expect("EAL init");
    assert!(matches!(Eal::init(&["--no-huge"]), Err(engine::dpdk::EalError::AlreadyInitialised)));
    assert_eq!(eal.port_count(), 2);

    let pool = Mempool::new(&eal, "null_pool", 4095, 256, 2176, None).expect("mempool");
    let cfg = PortConfig { rx_queues: 2, tx_queues: 2, ..PortConfig::default() };
    let p0 = Port::configure(&eal, Port::id_by_name(&eal, "net_null0").unwrap(), &cfg, &pool).expect("port 0");
    let p1 = Port::configure(&eal, Port::id_by_name(&eal, "net_null1").unwrap(), &cfg, &pool).expect("port 1");
    assert_eq!(p0.name(), "net_null0");
    assert_eq!(p0.driver(), "net_null");
    p0.start().unwrap();
    p1.start().unwrap();
    assert!(p0.link().unwrap().up);

    // A queue is handed out once.
    let mut rx = p0.rx_queue(0).unwrap();
    assert!(p0.rx_queue(0).is_err());
    assert!(p0.rx_queue(2).is_err());
    let mut tx = p1.tx_queue(1).unwrap();

    // net_null rx produces packets from the pool; tx frees them. Run on the calling (main) lcore.
    let mut burst = Burst::new();
    let mut received = 0;
    let mut sent = 0;
    for _ in 0..100 {
        received += rx.rx_burst(&mut burst);
        let (s, d) = tx.tx_burst_or_drop(&mut burst);
        sent += s;
        assert_eq!(d, 0, "net_null accepts every packet");
    }
    assert!(received >= 100 * 32, "net_null fills a burst each call (got {received})");
    assert_eq!(sent, received);
    let s1 = p1.stats().unwrap();
    assert_eq!(s1.tx_packets, sent as u64);
    assert!(!p1.xstats().unwrap().is_empty());
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");

    // The same from a worker lcore, if EAL has one (it has one per CPU by default).
    if let Some(&w) = eal.worker_lcores().first() {
        let mut rx1 = p0.rx_queue(1).unwrap();
        let mut tx0 = p1.tx_queue(0).unwrap();
        let h = lcore::launch(w, move || {
            let mut b = Burst::new();
            let mut n = 0;
            for _ in 0..10 {
                rx1.rx_burst(&mut b);
                n += tx0.tx_burst_or_drop(&mut b).0;
            }
            (lcore::current(), n)
        })
        .unwrap();
        let (on, n) = h.join().expect("worker ran");
        assert_eq!(on, Some(w));
        assert!(n > 0);
        // A panicking job is reported, not an abort.
        let h = lcore::launch(w, || -> u32 { panic!("deliberate") }).unwrap();
        assert!(h.join().is_err());
    }

    // Bursts own their mbufs: dropping one returns them.
    let mut b = Burst::new();
    assert_eq!(pool.alloc_bulk(&mut b, 10), 10);
    let mut m = b.pop().unwrap();
    assert!(m.extend_from_slice(&[1, 2, 3]));
    assert!(m.prepend(4).is_some());
    assert_eq!(m.data_len(), 7);
    assert!(m.adj(4) && m.data() == [1, 2, 3]);
    assert!(m.prepend(m.headroom() + 1).is_none());
    assert_eq!(b.retain(|_| false), 9);

    // The transforms' buffer view of an mbuf: prepend/append through PacketBuf move DPDK's own fields.
    {
        use engine::buf::PacketBuf;
        let room = m.headroom();
        PacketBuf::prepend(&mut m, 2).unwrap();
        assert_eq!(usize::from(m.headroom()), usize::from(room) - 2);
        assert_eq!(m.pkt_len(), 5);
        PacketBuf::append(&mut m, 3).unwrap();
        assert_eq!(m.pkt_len(), 8);
        assert_eq!(&PacketBuf::data(&m)[2..5], &[1, 2, 3]);
        PacketBuf::adj(&mut m, 2).unwrap();
        PacketBuf::trim(&mut m, 3).unwrap();
        assert_eq!(m.data(), [1, 2, 3]);
        let too_much = usize::from(m.headroom()) + 1;
        assert!(PacketBuf::prepend(&mut m, too_much).is_err());
    }
    drop(m);
    assert_eq!(pool.in_use(), 0);
}
