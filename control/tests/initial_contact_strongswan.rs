//! INITIAL-CONTACT against strongSwan 5.9 (charon, IKEv1) in the network namespaces of deploy/lab, over real UDP:
//!
//! 1. strongSwan initiates Main Mode and, holding no other SA with us, puts INITIAL-CONTACT in message 5; after it is
//!    killed (no Delete sent) and starts again, the new Main Mode's INITIAL-CONTACT makes the gateway delete the
//!    first ISAKMP SA and raise `Event::InitialContact`.
//! 2. The gateway initiates with INITIAL-CONTACT on (`Endpoint::set_initial_contact`); strongSwan, configured with
//!    `unique = no` (so it would keep duplicates), drops the SA of the gateway's previous run when the next run says
//!    INITIAL-CONTACT, and keeps both when it does not.
//!
//! Needs root, iproute2 and strongSwan (`deploy/lab/install-deps`), so it is ignored by default:
//! `cargo test -p control --test initial_contact_strongswan -- --ignored --nocapture`. The gateway side re-runs this
//! test inside a lab namespace (`ip netns exec`).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use control::crypto::{IkeCipher, Secret};
use control::ike::{Config, Endpoint, Event, Phase1Proposal, NAT_T_PORT};
use control::isakmp::{AuthMethod, Cookie, GroupDescription, HashAlgorithm};

const PREFIX: &str = "ikeic-";
const RUN_DIR: &str = "/tmp/espgate-lab/ikeic";
const PSK: &str = "example-only-secret";
const LEFT: &str = "198.51.100.1";
const RIGHT: &str = "198.51.100.2";

fn lab(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/lab").join(script)
}

fn run(script: &str, args: &[&str]) -> Output {
    let out = Command::new(lab(script))
        .args(args)
        .env("LAB_PREFIX", PREFIX)
        .env("LAB_RUN_DIR", RUN_DIR)
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    eprintln!(
        "$ {script} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// strongSwan's default IKE proposal, aes128-sha256-modp2048.
fn config(peer: IpAddr) -> Config {
    let p = Phase1Proposal {
        cipher: IkeCipher::Aes128Cbc,
        hash: HashAlgorithm::SHA2_256,
        auth: AuthMethod::PRE_SHARED_KEY,
        group: GroupDescription::MODP_2048,
        lifetime_secs: 86_400,
    };
    Config {
        policies: vec![p],
        keys: vec![(peer, Secret::from_slice(PSK.as_bytes()))],
        retransmit_interval: Duration::from_secs(1),
        retransmit_tries: 4,
        max_half_open: 8,
        aggressive_mode: false,
        nat_traversal: true,
        nat_keepalive: Duration::from_secs(20),
        max_new_per_source_per_sec: control::ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
        rate_limit_sources: control::ike::DEFAULT_RATE_LIMIT_SOURCES,
        max_message_size: control::ike::DEFAULT_MAX_MESSAGE_SIZE,
    }
}

/// The gateway side, inside a lab namespace. `responder`: answer strongSwan's Main Modes until the second
/// INITIAL-CONTACT, which must follow the deletion of the first SA. `initiator-ic` / `initiator`: one Main Mode
/// with / without INITIAL-CONTACT, then exit without a Delete (as a crash would).
fn gateway(role: &str, local: IpAddr, peer: IpAddr) {
    let l500 = SocketAddr::new(local, 500);
    let l4500 = SocketAddr::new(local, NAT_T_PORT);
    let socks = [(UdpSocket::bind(l500).unwrap(), l500), (UdpSocket::bind(l4500).unwrap(), l4500)];
    for (s, _) in &socks {
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    }
    let mut ep = Endpoint::new(config(peer), l500).unwrap();
    ep.set_initial_contact(role == "initiator-ic");
    if role != "responder" {
        ep.connect(Instant::now(), SocketAddr::new(peer, 500)).unwrap();
    }
    let start = Instant::now();
    let mut buf = [0u8; 65536];
    let mut established: Vec<Cookie> = Vec::new();
    let mut deleted: Vec<Cookie> = Vec::new();
    let mut contacts = 0;
    let flush = |ep: &mut Endpoint| {
        while let Some(t) = ep.poll_transmit() {
            socks[usize::from(t.source.port() == NAT_T_PORT)].0.send_to(&t.contents, t.destination).unwrap();
        }
    };
    while start.elapsed() < Duration::from_secs(90) {
        flush(&mut ep);
        for (s, local) in &socks {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                ep.handle(Instant::now(), *local, from, &buf[..n]);
            }
        }
        if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            ep.handle_timeout(Instant::now());
        }
        while let Some(e) = ep.poll_event() {
            eprintln!("gateway event: {e:?}");
            match e {
                Event::Phase1Established { initiator_cookie, .. } => {
                    established.push(initiator_cookie);
                    if role != "responder" {
                        flush(&mut ep);
                        return;
                    }
                }
                Event::Phase1Deleted { initiator_cookie, .. } => deleted.push(initiator_cookie),
                Event::InitialContact { initiator_cookie, peer: from } => {
                    contacts += 1;
                    assert_eq!(from.ip(), peer);
                    assert_eq!(Some(&initiator_cookie), established.last(), "on the SA just established");
                    if contacts == 2 {
                        assert_eq!(established.len(), 2);
                        assert_eq!(deleted, [established[0]], "the first run's SA is gone");
                        assert_eq!((ep.sa_count(), ep.stats().initial_contact_removed), (1, 1));
                        flush(&mut ep);
                        return;
                    }
                }
                Event::Phase1Failed { error, .. } => panic!("Phase 1 failed: {error}"),
                _ => {}
            }
        }
    }
    panic!("{role}: established {established:?}, deleted {deleted:?}, {contacts} INITIAL-CONTACTs; {:?}", ep.stats());
}

fn gateway_in(ns: &str, role: &str, local: &str, peer: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "strongswan_initial_contact", "--ignored", "--nocapture"])
        .env("ESPGATE_IC_GATEWAY", format!("{role},{local},{peer}"))
        .spawn()
        .unwrap()
}

struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        run("strongswan-peer", &["kill-all"]);
        run("netns-down", &[]);
    }
}

/// strongSwan initiates (Quick Mode is refused: the gateway has no crypto map, which leaves the ISAKMP SA up). It
/// sends INITIAL-CONTACT only towards a peer ID without wildcards, so the gateway's ID is configured.
fn strongswan_main_mode(left: &str) {
    let args = ["start", "left", "--netns", left, "--remote", RIGHT, "--remote-id", RIGHT, "--psk", PSK];
    assert!(run("strongswan-peer", &args).status.success());
    let mut initiate = Command::new(lab("strongswan-peer"))
        .args(["initiate", "left", "--timeout", "20"])
        .env("LAB_PREFIX", PREFIX)
        .env("LAB_RUN_DIR", RUN_DIR)
        .spawn()
        .unwrap();
    let waited = run("strongswan-peer", &["wait", "left", "--ike", "--timeout", "15"]);
    let _ = initiate.kill();
    let _ = initiate.wait();
    assert!(waited.status.success(), "strongSwan's ISAKMP SA is established");
}

fn established_count(name: &str) -> usize {
    String::from_utf8_lossy(&run("strongswan-peer", &["sas", name]).stdout).matches("ESTABLISHED").count()
}

#[test]
#[ignore]
fn strongswan_initial_contact() {
    if let Ok(spec) = std::env::var("ESPGATE_IC_GATEWAY") {
        let v: Vec<&str> = spec.split(',').collect();
        return gateway(v[0], v[1].parse().unwrap(), v[2].parse().unwrap());
    }
    let _lab = Lab;
    assert!(run("netns-up", &["--force", "--quiet"]).status.success(), "lab topology");
    let (left, right) = (format!("{PREFIX}left"), format!("{PREFIX}right"));

    // 1. strongSwan restarts: its new Main Mode says INITIAL-CONTACT and the gateway drops the old SA.
    let mut gw = gateway_in(&right, "responder", RIGHT, LEFT);
    std::thread::sleep(Duration::from_millis(500));
    strongswan_main_mode(&left);
    run("strongswan-peer", &["kill", "left"]);
    strongswan_main_mode(&left);
    let status = gw.wait().unwrap();
    run("strongswan-peer", &["kill", "left"]);
    assert!(status.success(), "gateway saw INITIAL-CONTACT twice and removed the first SA");

    // 2. The gateway restarts with INITIAL-CONTACT: strongSwan (unique = no) drops the SA of the earlier run.
    let args = ["start", "right", "--netns", &right, "--psk", PSK, "--conn-opt", "unique=no"];
    assert!(run("strongswan-peer", &args).status.success());
    assert!(gateway_in(&left, "initiator-ic", LEFT, RIGHT).wait().unwrap().success());
    assert_eq!(established_count("right"), 1);
    assert!(gateway_in(&left, "initiator-ic", LEFT, RIGHT).wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(established_count("right"), 1, "INITIAL-CONTACT replaced the first run's SA");
    // Without it, strongSwan keeps both (so the test above is not just its uniqueness policy at work).
    assert!(gateway_in(&left, "initiator", LEFT, RIGHT).wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(established_count("right"), 2);
}
