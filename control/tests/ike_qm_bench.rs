//! Quick Mode exchanges per second, both endpoints on one thread (so one core does the initiator's and the
//! responder's work), on an established ISAKMP SA (AES-128/SHA-256). Ignored by default; run in release:
//! `cargo test --release -p control --test ike_qm_bench -- --ignored --nocapture`.

mod ike_qm_support;

use std::time::Instant;

use control::ike::Event;
use control::isakmp::GroupDescription as G;
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};
use ike_qm_support::net::{addr, I};
use ike_qm_support::*;

fn rate(pfs: Option<G>, n: usize) -> f64 {
    let (mut net, c) = phase1();
    let p = policy(vec![esp(Enc::AesGcm128, Integ::None)], pfs);
    net.r.set_crypto_maps(vec![mirror(&p, addr(I).ip())]);
    let start = Instant::now();
    for _ in 0..n {
        net.i.quick_mode(net.now, &c, &p).unwrap();
        net.pump();
        assert!(matches!(net.i.poll_event(), Some(Event::Phase2Established(_))));
        assert!(matches!(net.r.poll_event(), Some(Event::Phase2Established(_))));
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore]
fn quick_mode_exchanges_per_second() {
    for (name, pfs, n) in
        [("no PFS", None, 5000), ("PFS ECP-256", Some(G::ECP_256), 500), ("PFS MODP-2048", Some(G::MODP_2048), 100)]
    {
        println!("Quick Mode, {name}: {:.0} exchanges/s (both sides on one thread)", rate(pfs, n));
    }
}
