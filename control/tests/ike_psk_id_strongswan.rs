//! Pre-shared key by peer identity against a real peer: strongSwan (charon, IKEv1) initiates Aggressive Mode with
//! ID_FQDN from an address the gateway has no key for; the gateway (control::ike, responder) picks the key by that
//! ID and reports strongSwan's Vendor IDs by name. In the network namespaces of deploy/lab, over real UDP.
//!
//! Needs root, iproute2 and strongSwan (`deploy/lab/install-deps`), so it is ignored by default:
//! `cargo test -p control --test ike_psk_id_strongswan -- --ignored --nocapture`.
//! The test re-runs itself inside a lab namespace (`ip netns exec`) for the gateway side, as isakmp_strongswan.rs.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use control::crypto::{IkeCipher, Secret};
use control::ike::{Config, Endpoint, Event, IkeError, Phase1Proposal, NAT_T_PORT};
use control::isakmp::{AuthMethod, GroupDescription, HashAlgorithm, IdData};

const PREFIX: &str = "pskid-";
const RUN_DIR: &str = "/tmp/espgate-lab/pskid";
const PSK: &str = "example-only-identity-secret";
const RIGHT: &str = "198.51.100.2";
const ROAD: &str = "road1.lab.example";

fn lab(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/lab").join(script)
}

fn lab_cmd(script: &str) -> Command {
    let mut c = Command::new(lab(script));
    c.env("LAB_PREFIX", PREFIX).env("LAB_RUN_DIR", RUN_DIR);
    c
}

fn run(script: &str, args: &[&str]) -> Output {
    let out = lab_cmd(script).args(args).output().unwrap_or_else(|e| panic!("{script}: {e}"));
    eprintln!(
        "$ {script} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The gateway, responder, inside a lab namespace: only an identity key for `key_id`. With `expect_ok` it must
/// establish Phase 1 and have reported Vendor IDs including DPD; otherwise it must refuse for want of a key.
fn gateway(local: IpAddr, key_id: &str, expect_ok: bool) {
    let config = Config {
        policies: vec![Phase1Proposal {
            cipher: IkeCipher::Aes128Cbc,
            hash: HashAlgorithm::SHA2_256,
            auth: AuthMethod::PRE_SHARED_KEY,
            group: GroupDescription::MODP_2048,
            lifetime_secs: 86_400,
        }],
        keys: Vec::new(),
        retransmit_interval: Duration::from_secs(1),
        retransmit_tries: 4,
        max_half_open: 8,
        aggressive_mode: true,
        nat_traversal: true,
        nat_keepalive: Duration::from_secs(20),
        max_new_per_source_per_sec: control::ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
        rate_limit_sources: control::ike::DEFAULT_RATE_LIMIT_SOURCES,
        max_message_size: control::ike::DEFAULT_MAX_MESSAGE_SIZE,
    };
    let l500 = SocketAddr::new(local, 500);
    let l4500 = SocketAddr::new(local, NAT_T_PORT);
    let socks = [(UdpSocket::bind(l500).unwrap(), l500), (UdpSocket::bind(l4500).unwrap(), l4500)];
    for (s, _) in &socks {
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    }
    let mut ep = Endpoint::new(config, l500).unwrap();
    ep.set_identity_keys(vec![(IdData::Fqdn(key_id.as_bytes().to_vec()), Secret::from_slice(PSK.as_bytes()))]);
    ep.set_vendor_id_events(true);
    let start = Instant::now();
    let mut vendor_names: Option<Vec<String>> = None;
    let mut buf = [0u8; 65536];
    while start.elapsed() < Duration::from_secs(30) {
        for (s, local) in &socks {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                ep.handle(Instant::now(), *local, from, &buf[..n]);
            }
        }
        if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            ep.handle_timeout(Instant::now());
        }
        let mut done = false;
        while let Some(e) = ep.poll_event() {
            eprintln!("gateway event: {e:?}");
            match e {
                Event::VendorIds { names, .. } => vendor_names = Some(names),
                Event::Phase1Established { peer_id, .. } => {
                    assert!(expect_ok, "established without a key for the peer's identity");
                    assert_eq!(peer_id, IdData::Fqdn(ROAD.as_bytes().to_vec()));
                    let names = vendor_names.clone().expect("Vendor IDs reported before the outcome");
                    assert!(names.iter().any(|n| n == "RFC 3706 DPD"), "{names:?}");
                    eprintln!("gateway: established in {:?}; strongSwan sent {names:?}", start.elapsed());
                    done = true;
                }
                Event::Phase1Failed { error: IkeError::NoKeyForIdentity { identity, .. }, .. } if !expect_ok => {
                    assert_eq!(identity, format!("fqdn:{ROAD}"));
                    done = true;
                }
                Event::Phase1Failed { error, .. } => panic!("Phase 1 failed: {error}"),
                _ => {}
            }
        }
        while let Some(t) = ep.poll_transmit() {
            socks[usize::from(t.source.port() == NAT_T_PORT)].0.send_to(&t.contents, t.destination).unwrap();
        }
        if done {
            return;
        }
    }
    panic!("no outcome within 30 s; {:?}", ep.stats());
}

struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        run("strongswan-peer", &["stop-all"]);
        run("netns-down", &[]);
    }
}

/// strongSwan in `left` initiates Aggressive Mode as ROAD towards the gateway in `right` (keyed for `key_id`);
/// returns whether the gateway process succeeded and what strongSwan lists.
fn attempt(key_id: &str, expect_ok: bool) -> (bool, String) {
    let (left, right) = (format!("{PREFIX}left"), format!("{PREFIX}right"));
    let mut gw = Command::new("ip")
        .args(["netns", "exec", &right])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "strongswan_aggressive_identity_key", "--ignored", "--nocapture"])
        .env("ESPGATE_PSKID_GATEWAY", format!("{RIGHT},{key_id},{expect_ok}"))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let args = [
        "start",
        "left",
        "--netns",
        &left,
        "--remote",
        RIGHT,
        "--mode",
        "aggressive",
        "--ike",
        "aes128-sha256-modp2048",
        "--psk",
        PSK,
        "--local-id",
        ROAD,
    ];
    assert!(run("strongswan-peer", &args).status.success());
    let mut initiate = lab_cmd("strongswan-peer").args(["initiate", "left", "--timeout", "20"]).spawn().unwrap();
    let status = gw.wait().unwrap();
    if expect_ok {
        run("strongswan-peer", &["wait", "left", "--ike", "--timeout", "10"]);
    }
    let listed = String::from_utf8_lossy(&run("strongswan-peer", &["sas", "left"]).stdout).into_owned();
    let _ = initiate.kill();
    let _ = initiate.wait();
    run("strongswan-peer", &["stop", "left"]);
    (status.success(), listed)
}

#[test]
#[ignore]
fn strongswan_aggressive_identity_key() {
    if let Ok(spec) = std::env::var("ESPGATE_PSKID_GATEWAY") {
        let v: Vec<&str> = spec.split(',').collect();
        return gateway(v[0].parse().unwrap(), v[1], v[2] == "true");
    }
    let _lab = Lab;
    assert!(run("netns-up", &["--force", "--quiet"]).status.success(), "lab topology");
    let (ok, listed) = attempt(ROAD, true);
    assert!(ok, "gateway established with the identity key");
    assert!(listed.contains("ESTABLISHED") && listed.contains("IKEv1"), "strongSwan initiator: {listed}");
    let (refused, listed) = attempt("someone-else.lab.example", false);
    assert!(refused, "gateway refused for want of a key");
    assert!(!listed.contains("ESTABLISHED"), "strongSwan established without a shared key: {listed}");
}
