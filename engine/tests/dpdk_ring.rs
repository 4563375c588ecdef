//! N packets sent across a net_ring pair arrive intact, in order and counted, in both directions and on every queue.
#![cfg(feature = "dpdk")]

use engine::dpdk::{Burst, Eal, Mempool, Port, PortConfig, RingPair};

fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    f
}

#[test]
fn ring_pair_carries_packets_intact() {
    let prefix = format!("--file-prefix=espgate-t-ring-{}", std::process::id());
    let eal = Eal::init(&["--no-huge", "-m", "256", "--no-pci", "--no-telemetry", "--log-level=*:warning", &prefix])
        .expect("EAL init");
    let pool = Mempool::new(&eal, "ring_pool", 8191, 256, 2176, None).unwrap();
    let pair = RingPair::new(&eal, "cable", 2, 1024).unwrap();
    let cfg = PortConfig { rx_queues: 2, tx_queues: 2, ..PortConfig::default() };
    let a = Port::configure(&eal, pair.a, &cfg, &pool).unwrap();
    let b = Port::configure(&eal, pair.b, &cfg, &pool).unwrap();
    a.start().unwrap();
    b.start().unwrap();

    const N: u32 = 5000;
    for (from, to, q) in [(&a, &b, 0u16), (&b, &a, 1u16)] {
        let mut tx = from.tx_queue(q).unwrap();
        let mut rx = to.rx_queue(q).unwrap();
        let mut next_rx = 0u32;
        let mut seq = 0u32;
        let mut out = Burst::new();
        let mut inb = Burst::new();
        while next_rx < N {
            while seq < N && !out.is_full() {
                let mut m = pool.alloc().expect("pool has room");
                assert!(m.extend_from_slice(&frame(seq, 60 + (seq as usize % 1400))));
                out.push(m).unwrap();
                seq += 1;
            }
            tx.tx_burst(&mut out);
            rx.rx_burst(&mut inb);
            for m in inb.as_slice() {
                assert_eq!(m.data(), frame(next_rx, 60 + (next_rx as usize % 1400)).as_slice(), "packet {next_rx}");
                next_rx += 1;
            }
            inb.clear();
        }
        assert!(out.is_empty());
        assert_eq!(from.stats().unwrap().tx_packets, u64::from(N));
        assert_eq!(to.stats().unwrap().rx_packets, u64::from(N));
    }
    assert_eq!(pool.in_use(), 0);
}
