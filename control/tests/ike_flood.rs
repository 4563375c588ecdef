//! A flood of forged Main Mode message 1s against a responder that holds an established ISAKMP SA: 10,240 datagrams
//! from 507 addresses of 198.51.100.0/24 and 203.0.113.0/24 (a fifth of them from one address), interleaved with DPD
//! both ways and Quick Modes both ways on the established SA. The established SA keeps working, the half-open table
//! stays within its limit and drains afterwards, and the counters account for every dropped datagram. The rate at
//! which the responder absorbs the flood is printed (not asserted); for the figure run in release:
//! `cargo test --release -p control --test ike_flood -- --nocapture`.

mod ike_qm_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use control::crypto::Secret;
use control::ike::{Endpoint, Event, IkeError};
use control::isakmp::Cookie;
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};
use ike_qm_support::net::{addr, config, established, Net, I, R};
use ike_qm_support::{check_same_keys, drain, esp, mirror, net, phase2, policy, quick};

const FLOOD: usize = 10_240;
const HALF_OPEN: usize = 128;
const HOT: [u8; 4] = [203, 0, 113, 66];

/// The forged sources: every host address of both ranges except the responder's own.
fn sources() -> Vec<SocketAddr> {
    let mut v = Vec::new();
    for host in 1..=254u8 {
        for a in [[198, 51, 100, host], [203, 0, 113, host]] {
            if SocketAddr::from((a, 500)) != addr(R) {
                v.push(SocketAddr::from((a, 500)));
            }
        }
    }
    v
}

/// Two endpoints with an established Main Mode SA and one Quick Mode done; the responder also has a key for every
/// forged source, so each accepted message 1 leaves half-open state behind (the costly case).
fn setup() -> (Net, Cookie) {
    let p = net::policy(control::crypto::IkeCipher::Aes128Cbc, control::isakmp::HashAlgorithm::SHA2_256, G19);
    let mut cr = config(vec![p], I, b"example-only-secret");
    cr.max_half_open = HALF_OPEN;
    for s in sources() {
        cr.keys.push((s.ip(), Secret::from_slice(b"example-only-secret")));
    }
    let mut net = Net::new(config(vec![p], R, b"example-only-secret"), cr);
    let c = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some() && established(&mut net.r).is_some());
    quick(&mut net, &c, &esp_policy());
    (net, c)
}

const G19: control::isakmp::GroupDescription = control::isakmp::GroupDescription::ECP_256;

fn esp_policy() -> control::ike::CryptoMapPolicy {
    policy(vec![esp(Enc::AesCbc128, Integ::HmacSha256_128)], None)
}

/// Moves the genuine traffic between the two endpoints; what the responder sends to forged sources is counted and
/// dropped (nobody is there to answer).
fn exchange(net: &mut Net, to_forged: &mut usize) {
    loop {
        let mut moved = false;
        while let Some(t) = net.i.poll_transmit() {
            moved = true;
            net.r.handle(net.now, t.destination, t.source, &t.contents);
        }
        while let Some(t) = net.r.poll_transmit() {
            moved = true;
            if t.destination == addr(I) {
                net.i.handle(net.now, t.destination, t.source, &t.contents);
            } else {
                *to_forged += 1;
            }
        }
        if !moved {
            return;
        }
    }
}

fn fire_timers(net: &mut Net) {
    if net.i.poll_timeout().is_some_and(|t| t <= net.now) {
        net.i.handle_timeout(net.now);
    }
    if net.r.poll_timeout().is_some_and(|t| t <= net.now) {
        net.r.handle_timeout(net.now);
    }
}

#[test]
fn flood_of_message_1s_leaves_the_established_sa_working() {
    let (mut net, c) = setup();
    let template = {
        let mut g = Endpoint::new(
            config(
                vec![net::policy(control::crypto::IkeCipher::Aes128Cbc, control::isakmp::HashAlgorithm::SHA2_256, G19)],
                R,
                b"x",
            ),
            addr(I),
        )
        .unwrap();
        g.connect(net.now, addr(R)).unwrap();
        g.poll_transmit().unwrap().contents
    };
    let srcs = sources();
    let p2 = esp_policy();
    let r_policy = mirror(&p2, addr(I).ip());
    // The responder of Phase 1 initiates a Quick Mode too: the initiator answers with its own entry.
    net.i.set_crypto_maps(vec![p2.clone()]);
    let (mut to_forged, mut max_half_open, mut flood_time) = (0usize, 0usize, Duration::ZERO);
    let mut mids = Vec::new();
    // 10,240 datagrams over 2.048 simulated seconds (5,000/s), genuine work every 1,000.
    for n in 0..FLOOD {
        let mut m1 = template.clone();
        m1[..8].copy_from_slice(&(0xF100_0000_0000_0000u64 | n as u64).to_be_bytes());
        let src = if n % 5 == 0 { SocketAddr::from((HOT, 500)) } else { srcs[n % srcs.len()] };
        let t = Instant::now();
        net.r.handle(net.now, addr(R), src, &m1);
        flood_time += t.elapsed();
        max_half_open = max_half_open.max(net.r.half_open());
        match n {
            1000 => net.i.dpd_probe(&c, 1).unwrap(),
            3000 => mids.push(net.i.quick_mode(net.now, &c, &p2).unwrap()),
            5000 => net.r.dpd_probe(&c, 2).unwrap(),
            7000 => mids.push(net.r.quick_mode(net.now, &c, &r_policy).unwrap()),
            9000 => net.i.dpd_probe(&c, 3).unwrap(),
            _ => {}
        }
        exchange(&mut net, &mut to_forged);
        net.now += Duration::from_micros(200);
        fire_timers(&mut net);
    }
    let rate = FLOOD as f64 / flood_time.as_secs_f64();
    println!(
        "flood: {FLOOD} message 1s absorbed in {:.3} s of responder time = {rate:.0} datagrams/s",
        flood_time.as_secs_f64()
    );
    println!("responder stats after the flood: {:?}", net.r.stats());

    // The established SA did its work throughout.
    let (ei, er) = (drain(&mut net.i), drain(&mut net.r));
    let acks = |evs: &[Event]| -> Vec<u32> {
        evs.iter().filter_map(|e| if let Event::DpdAck { sequence, .. } = e { Some(*sequence) } else { None }).collect()
    };
    assert_eq!((acks(&ei), acks(&er)), (vec![1, 3], vec![2]));
    let done = |evs: &[Event]| -> Vec<Box<control::ike::Phase2Sa>> {
        evs.iter().filter_map(|e| if let Event::Phase2Established(s) = e { Some(s.clone()) } else { None }).collect()
    };
    let (si, sr) = (done(&ei), done(&er));
    assert_eq!((si.len(), sr.len()), (2, 2), "both Quick Modes completed");
    for (a, b) in si.iter().zip(&sr) {
        assert_eq!(a.message_id, b.message_id);
        let (i_side, r_side) = if a.initiator { (a, b) } else { (b, a) };
        check_same_keys(i_side, r_side);
    }
    assert_eq!(si.iter().map(|s| s.message_id).collect::<Vec<_>>(), mids);
    assert!(!ei.iter().chain(&er).any(|e| matches!(e, Event::Phase2Failed { .. } | Event::Phase1Deleted { .. })));

    // Memory stayed bounded, and the counters account for every forged datagram.
    let s = net.r.stats();
    assert!(max_half_open <= HALF_OPEN, "{max_half_open}");
    assert_eq!(net.r.sa_count(), 1 + net.r.half_open());
    assert!(net.r.rate_limit_sources() <= control::ike::DEFAULT_RATE_LIMIT_SOURCES);
    assert!(s.half_open_limit > 0 && s.rate_limited > 0, "{s:?}");
    let accepted = FLOOD as u64 - s.half_open_limit - s.rate_limited;
    let gave_up = er.iter().filter(|e| matches!(e, Event::Phase1Failed { error: IkeError::Timeout(_), .. })).count();
    assert_eq!(accepted, (net.r.half_open() + gave_up) as u64, "every accepted one is half-open or timed out");
    // The hot source got its burst and its rate, no more: 2,048 datagrams in 2.048 s at 10/s after a burst of 20.
    assert!(s.rate_limited >= 2048 - 20 - 21, "{}", s.rate_limited);
    assert!(to_forged as u64 >= accepted, "message 2 (and retransmissions) went to the forged sources");

    // After the flood the table drains by itself (no message 3 ever comes), and the SA still negotiates.
    let mut guard = 0;
    while net.r.half_open() > 0 {
        net.now = net.r.poll_timeout().unwrap().max(net.now);
        fire_timers(&mut net);
        exchange(&mut net, &mut to_forged);
        guard += 1;
        assert!(guard < 10_000);
    }
    assert_eq!(net.r.sa_count(), 1);
    let _ = drain(&mut net.i);
    let _ = drain(&mut net.r);
    net.i.dpd_probe(&c, 4).unwrap();
    exchange(&mut net, &mut to_forged);
    assert!(matches!(drain(&mut net.i).as_slice(), [Event::DpdAck { sequence: 4, .. }]));
    net.i.quick_mode(net.now, &c, &p2).unwrap();
    exchange(&mut net, &mut to_forged);
    check_same_keys(&phase2(&mut net.i), &phase2(&mut net.r));
}

/// Datagrams per second the responder absorbs on each path a forged message 1 can take, one thread, no sockets.
/// Ignored by default; run in release: `cargo test --release -p control --test ike_flood -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_flood_absorption() {
    let (net, _) = setup();
    let mut template = net.log[0].1.clone();
    let now = net.now;
    let srcs = sources();
    // (what happens to each datagram, half-open limit, per-source rate, all from one address, sources have keys)
    let cases: [(&str, usize, u32, bool, bool); 4] = [
        ("dropped at the half-open limit", HALF_OPEN, 0, false, true),
        ("dropped by the per-source rate limit", 100_000, 10, true, true),
        ("accepted (message 2 built, state kept)", 100_000, 0, false, true),
        ("refused, no key for the source (NO-PROPOSAL-CHOSEN sent, no state)", 100_000, 0, false, false),
    ];
    for (name, limit, rate, one_source, keyed) in cases {
        let p = net::policy(control::crypto::IkeCipher::Aes128Cbc, control::isakmp::HashAlgorithm::SHA2_256, G19);
        let mut cr = config(vec![p], I, b"example-only-secret");
        cr.max_half_open = limit;
        cr.max_new_per_source_per_sec = rate;
        if keyed {
            for s in &srcs {
                cr.keys.push((s.ip(), Secret::from_slice(b"example-only-secret")));
            }
        }
        let mut r = Endpoint::new(cr, addr(R)).unwrap();
        let mut k = 0u64;
        let mut next = |t: &mut Vec<u8>| {
            k += 1;
            t[..8].copy_from_slice(&(0xF200_0000_0000_0000u64 | k).to_be_bytes());
        };
        // Fill the half-open table first where that is the path measured.
        if limit == HALF_OPEN {
            for s in srcs.iter().take(HALF_OPEN) {
                next(&mut template);
                r.handle(now, addr(R), *s, &template);
            }
        }
        let n = 20_000;
        let start = Instant::now();
        for i in 0..n {
            next(&mut template);
            let src = if one_source { SocketAddr::from((HOT, 500)) } else { srcs[i % srcs.len()] };
            r.handle(now, addr(R), src, &template);
            // The daemon empties both queues every loop; so does this.
            while r.poll_transmit().is_some() {}
            while r.poll_event().is_some() {}
        }
        let secs = start.elapsed().as_secs_f64();
        let s = r.stats();
        println!(
            "{name}: {:.0} datagrams/s (half-open {}, half_open_limit {}, rate_limited {})",
            n as f64 / secs,
            r.half_open(),
            s.half_open_limit,
            s.rate_limited
        );
    }
}
