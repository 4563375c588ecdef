//! Quick Mode against a real peer: control::ike and strongSwan 5.9 (IKEv1, kernel-libipsec) in the network
//! namespaces of deploy/lab, over real UDP sockets and real time. strongSwan's CHILD_SA must reach INSTALLED with
//! the gateway as Quick Mode initiator and as responder, and the keys in our `Phase2Established` event must be the
//! ones strongSwan derived: charon logs them with `chd = 4` ("encryption initiator key", ...), which this test reads.
//!
//! Needs root, iproute2 and strongSwan (`deploy/lab/install-deps`), so it is ignored by default:
//! `cargo test -p control --test ike_qm_strongswan -- --ignored --nocapture`.
//! The test re-runs itself inside a lab namespace (`ip netns exec`) for the gateway side.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use control::crypto::{IkeCipher, Secret};
use control::ike::{
    Config, CryptoMapPolicy, EncapsulationMode, Endpoint, Event, IpsecTransformSet, Phase1Proposal, Phase2Sa,
    ProxyAddress, ProxyIdentity, SaPair, NAT_T_PORT,
};
use control::isakmp::{AuthMethod, GroupDescription, HashAlgorithm};
use engine::crypto::{EncryptionAlgorithm as Enc, IntegrityAlgorithm as Integ};

const PREFIX: &str = "ikeqm-";
const RUN_DIR: &str = "/tmp/espgate-lab/ikeqm";
const PSK: &str = "example-only-secret";
const LEFT: &str = "198.51.100.1";
const RIGHT: &str = "198.51.100.2";
const LEFT_NET: &str = "192.0.2.0/24";
const RIGHT_NET: &str = "203.0.113.0/24";

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

fn prefix(s: &str) -> ProxyIdentity {
    let (a, l) = s.split_once('/').unwrap();
    ProxyIdentity { address: ProxyAddress::Prefix(a.parse().unwrap(), l.parse().unwrap()), protocol: 0, port: 0 }
}

/// The transform set of a strongSwan ESP proposal such as `aes128-sha256` or `aes256gcm16`.
fn transform_set(esp: &str) -> IpsecTransformSet {
    let (enc, integ) = esp.split_once('-').map_or((esp, None), |(e, i)| (e, Some(i)));
    let enc = match enc {
        "3des" => Enc::TripleDesCbc,
        "aes128" => Enc::AesCbc128,
        "aes192" => Enc::AesCbc192,
        "aes256" => Enc::AesCbc256,
        "aes128ctr" => Enc::AesCtr128,
        "aes256ctr" => Enc::AesCtr256,
        "aes128gcm16" => Enc::AesGcm128,
        "aes256gcm16" => Enc::AesGcm256,
        other => panic!("cipher {other}"),
    };
    let integ = match integ {
        None => Integ::None,
        Some("md5") => Integ::HmacMd5_96,
        Some("sha1") => Integ::HmacSha1_96,
        Some("sha256") => Integ::HmacSha256_128,
        Some("sha384") => Integ::HmacSha384_192,
        Some("sha512") => Integ::HmacSha512_256,
        Some(other) => panic!("integrity {other}"),
    };
    IpsecTransformSet { esp: Some((enc, integ)), ah: None, mode: EncapsulationMode::Tunnel }
}

fn group(name: &str) -> Option<GroupDescription> {
    match name {
        "none" => None,
        "modp1024" => Some(GroupDescription::MODP_1024),
        "modp2048" => Some(GroupDescription::MODP_2048),
        "ecp256" => Some(GroupDescription::ECP_256),
        "ecp384" => Some(GroupDescription::ECP_384),
        other => panic!("group {other}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// One line per key, as the parent reads them back: `<direction> <spi> <cipher key hex> <auth key hex>`.
fn key_lines(sa: &Phase2Sa) -> String {
    let pair: &SaPair = sa.esp.as_ref().expect("ESP");
    let line = |dir: &str, k: &control::ike::SaKeys| {
        format!("{dir} {:08x} {} {}\n", k.spi, hex(k.cipher_key.expose()), hex(k.auth_key.expose()))
    };
    line("in", &pair.inbound) + &line("out", &pair.outbound)
}

/// The gateway side, inside a lab namespace: Phase 1 and Quick Mode (initiating both, or answering both); writes the
/// keys of the negotiated SA to `keyfile` and keeps answering retransmissions for a few seconds.
fn gateway(role: &str, mode: &str, esp: &str, pfs: &str, local: IpAddr, peer: IpAddr, keyfile: &str) {
    let p1 = Phase1Proposal {
        cipher: IkeCipher::Aes128Cbc,
        hash: HashAlgorithm::SHA2_256,
        auth: AuthMethod::PRE_SHARED_KEY,
        group: GroupDescription::MODP_2048,
        lifetime_secs: 86_400,
    };
    let config = Config {
        policies: vec![p1],
        keys: vec![(peer, Secret::from_slice(PSK.as_bytes()))],
        retransmit_interval: Duration::from_secs(1),
        retransmit_tries: 4,
        max_half_open: 8,
        aggressive_mode: mode == "aggressive",
        nat_traversal: true,
        nat_keepalive: Duration::from_secs(20),
        max_new_per_source_per_sec: control::ike::DEFAULT_MAX_NEW_PER_SOURCE_PER_SEC,
        rate_limit_sources: control::ike::DEFAULT_RATE_LIMIT_SOURCES,
        max_message_size: control::ike::DEFAULT_MAX_MESSAGE_SIZE,
    };
    let (mine, theirs) = if local.to_string() == LEFT { (LEFT_NET, RIGHT_NET) } else { (RIGHT_NET, LEFT_NET) };
    let policy = CryptoMapPolicy {
        map: "CM1".into(),
        seq: 10,
        handle: 0,
        peer,
        local: prefix(mine),
        remote: prefix(theirs),
        transform_sets: vec![transform_set(esp)],
        pfs: group(pfs),
        // Shorter than strongSwan's default (1 h rekey + 10%), so as responder the gateway sends RESPONDER-LIFETIME.
        lifetime_secs: 3000,
        lifetime_kilobytes: 0,
    };
    let l500 = SocketAddr::new(local, 500);
    let l4500 = SocketAddr::new(local, NAT_T_PORT);
    let socks = [(UdpSocket::bind(l500).unwrap(), l500), (UdpSocket::bind(l4500).unwrap(), l4500)];
    for (s, _) in &socks {
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    }
    let mut ep = Endpoint::new(config, l500).unwrap();
    ep.set_crypto_maps(vec![policy.clone()]);
    if role == "initiator" && mode == "aggressive" {
        ep.connect_aggressive(Instant::now(), SocketAddr::new(peer, 500)).unwrap();
    } else if role == "initiator" {
        ep.connect(Instant::now(), SocketAddr::new(peer, 500)).unwrap();
    }
    let start = Instant::now();
    let mut done: Option<Instant> = None;
    let mut buf = [0u8; 65536];
    while start.elapsed() < Duration::from_secs(40) && done.is_none_or(|d| d.elapsed() < Duration::from_secs(3)) {
        while let Some(t) = ep.poll_transmit() {
            socks[usize::from(t.source.port() == NAT_T_PORT)].0.send_to(&t.contents, t.destination).unwrap();
        }
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
                Event::Phase1Established { initiator_cookie, .. } if role == "initiator" => {
                    ep.quick_mode(Instant::now(), &initiator_cookie, &policy).unwrap();
                }
                Event::Phase2Established(sa) => {
                    eprintln!("gateway: Quick Mode done in {:?}; {:?}", start.elapsed(), ep.stats());
                    assert_eq!(sa.initiator, role == "initiator");
                    assert!(sa.nat_t.is_some(), "strongSwan with libipsec fakes NAT-D: UDP encapsulation");
                    std::fs::write(keyfile, key_lines(&sa)).unwrap();
                    done = Some(Instant::now());
                }
                Event::Phase1Failed { error, .. } => panic!("Phase 1 failed: {error}"),
                Event::Phase2Failed { error, .. } => panic!("Quick Mode failed: {error}"),
                _ => {}
            }
        }
    }
    assert!(done.is_some(), "no Quick Mode within 40 s; {:?}", ep.stats());
}

/// Runs this same test inside namespace `ns` as the gateway.
fn gateway_in(ns: &str, role: &str, mode: &str, esp: &str, pfs: &str, local: &str, peer: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "strongswan_quick_mode", "--ignored", "--nocapture"])
        .env("ESPGATE_QM_GATEWAY", format!("{role},{mode},{esp},{pfs},{local},{peer},{RUN_DIR}/gw-keys"))
        .spawn()
        .unwrap()
}

/// Tears the lab down however the test ends.
struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        run("strongswan-peer", &["stop-all"]);
        run("netns-down", &[]);
    }
}

/// The byte dumps charon logs as `<label> => N bytes @ 0x...` followed by `   0: 01 02 ...` lines.
fn logged_keys(log: &str, label: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = log.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.split_once(&format!("{label} => ")).map(|(_, r)| r) else { continue };
        let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
        let mut key = String::new();
        for d in &lines[i + 1..] {
            let Some((_, dump)) =
                d.split_once(": ").filter(|(a, _)| a.trim_end().ends_with(|c: char| c.is_ascii_digit()))
            else {
                break;
            };
            for byte in dump.split(' ').take_while(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit())) {
                if key.len() < 2 * n {
                    key.push_str(&byte.to_lowercase());
                }
            }
            if key.len() >= 2 * n {
                break;
            }
        }
        out.push(key);
    }
    out
}

/// Checks the gateway's keys against strongSwan's: the CHILD_SA is INSTALLED with our SPIs mirrored, and the keys
/// charon derived for "initiator" (traffic from the Quick Mode initiator) and "responder" are ours.
fn check_against(peer: &str, gateway_initiated: bool) {
    let keys = std::fs::read_to_string(format!("{RUN_DIR}/gw-keys")).expect("gateway keys");
    let field = |dir: &str, n: usize| {
        keys.lines().find(|l| l.starts_with(&format!("{dir} "))).unwrap().split(' ').nth(n).unwrap().to_string()
    };
    let waited = run("strongswan-peer", &["wait", peer, "--child", "--timeout", "10"]);
    assert!(waited.status.success(), "strongSwan's CHILD_SA is INSTALLED");
    let sas = String::from_utf8_lossy(&run("strongswan-peer", &["sas", peer]).stdout).into_owned();
    assert!(sas.contains("INSTALLED") && sas.contains("TUNNEL-in-UDP"), "{sas}");
    // strongSwan's inbound SPI is our outbound one and vice versa.
    assert!(sas.contains(&format!("in  {}", field("out", 1))), "{sas}");
    assert!(sas.contains(&format!("out {}", field("in", 1))), "{sas}");
    let log = String::from_utf8_lossy(&run("strongswan-peer", &["log", peer]).stdout).into_owned();
    // "initiator" keys protect what the Quick Mode initiator sends.
    let (from_initiator, from_responder) = if gateway_initiated { ("out", "in") } else { ("in", "out") };
    let last = |label: &str| logged_keys(&log, label).pop().unwrap_or_default();
    assert_eq!(last("encryption initiator key"), field(from_initiator, 2), "cipher key, initiator to responder");
    assert_eq!(last("encryption responder key"), field(from_responder, 2), "cipher key, responder to initiator");
    let auth = field(from_initiator, 3);
    if !auth.is_empty() {
        assert_eq!(last("integrity initiator key"), auth, "integrity key, initiator to responder");
        assert_eq!(last("integrity responder key"), field(from_responder, 3), "integrity key, responder to initiator");
    }
    eprintln!("keys match strongSwan's ({peer}): {}", keys.replace('\n', " | "));
}

#[test]
#[ignore]
fn strongswan_quick_mode() {
    if let Ok(spec) = std::env::var("ESPGATE_QM_GATEWAY") {
        let v: Vec<&str> = spec.split(',').collect();
        return gateway(v[0], v[1], v[2], v[3], v[4].parse().unwrap(), v[5].parse().unwrap(), v[6]);
    }
    let _lab = Lab;
    assert!(run("netns-up", &["--force", "--quiet"]).status.success(), "lab topology");
    let right = format!("{PREFIX}right");
    let left = format!("{PREFIX}left");
    let chd = ["--charon-opt", "filelog.lab.chd=4"];
    let cases = [
        ("main", "aes128-sha256", "none"),
        ("main", "aes256gcm16", "ecp256"),
        ("main", "aes192-sha384", "modp2048"),
        ("main", "aes128ctr-sha512", "none"),
        ("main", "3des-sha1", "modp1024"),
        ("aggressive", "aes256-sha256", "modp2048"),
    ];

    // 1. The gateway initiates Main Mode and Quick Mode; strongSwan responds.
    for (mode, esp, pfs) in cases {
        let mut args = vec!["start", "right", "--netns", &right, "--local-ts", RIGHT_NET, "--remote-ts", LEFT_NET];
        args.extend(["--mode", mode, "--esp", esp, "--psk", PSK]);
        if pfs != "none" {
            args.extend(["--pfs", pfs]);
        }
        args.extend(chd);
        assert!(run("strongswan-peer", &args).status.success(), "strongSwan takes {esp}");
        let status = gateway_in(&left, "initiator", mode, esp, pfs, LEFT, RIGHT).wait().unwrap();
        assert!(status.success(), "gateway as Quick Mode initiator ({mode} mode), {esp} pfs {pfs}");
        check_against("right", true);
        run("strongswan-peer", &["stop", "right"]);
    }

    // 2. strongSwan initiates; the gateway answers Main Mode and Quick Mode.
    for (mode, esp, pfs) in [cases[0], cases[1], cases[2], cases[5]] {
        let mut gw = gateway_in(&right, "responder", mode, esp, pfs, RIGHT, LEFT);
        std::thread::sleep(Duration::from_millis(500));
        let mut args = vec!["start", "left", "--netns", &left, "--remote", RIGHT, "--local-ts", LEFT_NET];
        args.extend(["--remote-ts", RIGHT_NET, "--mode", mode, "--esp", esp, "--psk", PSK]);
        if pfs != "none" {
            args.extend(["--pfs", pfs]);
        }
        args.extend(chd);
        assert!(run("strongswan-peer", &args).status.success());
        let initiated = run("strongswan-peer", &["initiate", "left", "--timeout", "30"]);
        let status = gw.wait().unwrap();
        assert!(initiated.status.success(), "strongSwan's initiate reports the CHILD_SA up ({esp})");
        assert!(status.success(), "gateway as Quick Mode responder, {esp} pfs {pfs}");
        check_against("left", false);
        run("strongswan-peer", &["stop", "left"]);
    }
}
