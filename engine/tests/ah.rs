//! AH (RFC 4302): round trips for every integrity algorithm x mode x family (and ESN), tamper and replay drops,
//! mutable fields excluded from the ICV, and Scapy as the independent oracle in both directions.

mod common;

use common::*;
use engine::ah::{InboundAh, OutboundAh};
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
use engine::sa::Mode;
use engine::wire::{ipv4, ipv6, IpProtocol};
use engine::DropReason;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const INTEG: [I; 5] = [I::HmacMd5_96, I::HmacSha1_96, I::HmacSha256_128, I::HmacSha384_192, I::HmacSha512_256];

fn pair(i: I, mode: Mode, esn: bool) -> (OutboundAh, InboundAh) {
    let out = OutboundAh::new(params(E::Null, i, mode, false, esn, 0x5001)).unwrap();
    let inb = InboundAh::new(params(E::Null, i, swap(mode), false, esn, 0x5001)).unwrap();
    (out, inb)
}

fn inners() -> [Vec<u8>; 3] {
    [
        udp4(V4_A, V4_B, 33, 0x88),
        udp6(v6("2001:db8:1::1"), v6("2001:db8:2::2"), 70, 0x21),
        udp6_ext(v6("2001:db8:1::1"), v6("2001:db8:2::2"), 9),
    ]
}

fn modes() -> [Mode; 3] {
    [Mode::Transport, tunnel4(), tunnel6()]
}

#[test]
fn round_trips_and_drops() {
    for i in INTEG {
        for mode in modes() {
            for esn in [false, true] {
                let (out, mut inb) = pair(i, mode, esn);
                for inner in inners() {
                    let mut b = VecBuf::new(&inner);
                    assert_eq!(out.protect(&mut b).0, Ok(()), "{i:?} {mode:?}");
                    let sent = b.data().to_vec();
                    let proto = if sent[0] >> 4 == 4 {
                        ipv4::Packet::new_checked(&sent[..]).unwrap().protocol()
                    } else {
                        ipv6::Packet::new_checked(&sent[..]).unwrap().find_upper_layer().unwrap().1
                    };
                    assert_eq!(proto, IpProtocol::AH);
                    // Mutable fields may change on path without breaking the ICV.
                    let mut routed = sent.clone();
                    if routed[0] >> 4 == 4 {
                        let mut p = ipv4::Packet::new_unchecked(&mut routed[..]);
                        p.decrement_ttl();
                        p.set_tos_incremental(0x02);
                    } else {
                        routed[7] -= 1;
                        routed[1] |= 0x0f; // flow label bits
                    }
                    // Tampering with immutable bytes is caught.
                    for pos in [12usize, routed.len() - 1] {
                        let mut t = routed.clone();
                        t[pos] ^= 1;
                        let v = inb.unprotect(&mut VecBuf::new(&t)).0;
                        assert!(matches!(v, Err(DropReason::AuthFailed) | Err(DropReason::Malformed)), "{v:?}");
                    }
                    if matches!(mode, Mode::Tunnel { .. })
                        && routed[0] >> 4 == 4
                        && inner[0] >> 4 == 4
                        && inner[1] & 3 == 0
                    {
                        // RFC 6040: congestion marked on the way (CE) but the inner packet is Not-ECT: drop.
                        // (The packet is authentic, so its sequence number is used up: send a fresh one.)
                        let mut ce = VecBuf::new(&inner);
                        assert_eq!(out.protect(&mut ce).0, Ok(()));
                        ipv4::Packet::new_unchecked(ce.data_mut()).set_tos_incremental(0x03);
                        assert_eq!(inb.unprotect(&mut ce).0, Err(DropReason::EcnDrop));
                    }
                    let mut b = VecBuf::new(&routed);
                    assert_eq!(inb.unprotect(&mut b).0, Ok(()), "{i:?} {mode:?} esn={esn}");
                    if let Mode::Tunnel { .. } = mode {
                        assert_eq!(b.data(), &inner[..]);
                    } else if inner[0] >> 4 == 4 {
                        // Transport keeps the (changed) outer fields: compare from the addresses on.
                        assert_eq!(&b.data()[12..], &inner[12..]);
                    } else {
                        assert_eq!(&b.data()[8..], &inner[8..]);
                    }
                    assert_eq!(inb.unprotect(&mut VecBuf::new(&routed)).0, Err(DropReason::Replay));
                }
                let c = inb.counters().snapshot();
                assert_eq!((c.packets, c.drop_count(DropReason::Replay)), (3, 3));
            }
        }
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ESPGATE_PYTHON") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python3");
    assert!(p.exists(), "no Python for the Scapy oracle at {}: run `bash deploy/setup.sh --tests`", p.display());
    p
}

fn scapy(cases: &[Value]) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/scapy_esp.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python (run `bash deploy/setup.sh --tests`)");
    let input = json!({ "cases": cases }).to_string();
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert!(out.status.success(), "scapy_esp.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["results"].as_array().unwrap().clone()
}

fn auth_name(i: I) -> &'static str {
    match i {
        I::HmacMd5_96 => "HMAC-MD5-96",
        I::HmacSha1_96 => "HMAC-SHA1-96",
        I::HmacSha256_128 => "SHA2-256-128",
        I::HmacSha384_192 => "SHA2-384-192",
        _ => "SHA2-512-256",
    }
}

#[allow(clippy::too_many_arguments)]
fn case(id: String, op: &str, i: I, mode: Mode, esn: bool, seq: u64, pkt: &[u8], peer_sends: bool) -> Value {
    let (src, dst) = match mode {
        Mode::Tunnel { local, remote } if peer_sends => (remote.to_string(), local.to_string()),
        Mode::Tunnel { local, remote } => (local.to_string(), remote.to_string()),
        Mode::Transport => (String::new(), String::new()),
    };
    json!({"id": id, "op": op, "proto": "AH", "enc": "NULL", "enc_key": "", "auth": auth_name(i),
           "auth_key": to_hex(&key(i.key_len(), 2)), "spi": 0x5001,
           "mode": if matches!(mode, Mode::Transport) { "transport" } else { "tunnel" },
           "tunnel_src": src, "tunnel_dst": dst, "nat_t": false, "esn": esn, "seq": seq, "packet": to_hex(pkt)})
}

#[test]
fn espgate_and_scapy_agree_on_ah() {
    let mut cases = Vec::new();
    let mut combos = Vec::new();
    for i in INTEG {
        for mode in modes() {
            for inner in inners() {
                for esn in [false, true] {
                    let out = OutboundAh::new(params(E::Null, i, mode, false, esn, 0x5001)).unwrap();
                    out.set_last_seq(if esn { 0x1_0000_0002 } else { 2 });
                    let mut b = VecBuf::new(&inner);
                    assert_eq!(out.protect(&mut b).0, Ok(()));
                    let n = combos.len();
                    cases.push(case(format!("{n}d"), "decrypt", i, mode, esn, out.last_seq(), b.data(), false));
                    let seqs: Vec<u64> = if esn { vec![0x7fff_0000, 0xffff_fff0, 0x1_0000_0005] } else { vec![9] };
                    for (k, s) in seqs.iter().enumerate() {
                        cases.push(case(format!("{n}e{k}"), "encrypt", i, mode, esn, *s, &inner, true));
                    }
                    combos.push((i, mode, inner.clone(), esn, seqs.len()));
                }
            }
        }
    }
    let res = scapy(&cases);
    let mut it = res.iter();
    for (i, mode, inner, esn, n_enc) in &combos {
        let name = format!("{i:?} {mode:?} esn={esn} v{}", inner[0] >> 4);
        let r = it.next().unwrap();
        assert!(r["ok"].as_bool().unwrap(), "{name}: Scapy rejected espgate's AH: {}", r["error"]);
        assert_eq!(r["packet"].as_str().unwrap(), to_hex(inner), "{name}");
        let mut inb = InboundAh::new(params(E::Null, *i, swap(*mode), false, *esn, 0x5001)).unwrap();
        for _ in 0..*n_enc {
            let r = it.next().unwrap();
            assert!(r["ok"].as_bool().unwrap(), "{name}: {}", r["error"]);
            let pkt = hex(r["packet"].as_str().unwrap());
            let mut b = VecBuf::new(&pkt);
            assert_eq!(inb.unprotect(&mut b).0, Ok(()), "{name}: espgate rejected Scapy's AH");
            assert_eq!(to_hex(b.data()), to_hex(inner), "{name}");
        }
    }
    assert_eq!(combos.len(), 5 * 3 * 3 * 2);
}

#[test]
fn esp_tunnel_inside_ah_transport_bundle() {
    // A transform set with both ESP and AH: ESP tunnel first, then AH in transport mode over the ESP packet;
    // the receiver removes AH, then ESP (RFC 4301 §4.5 bundle order).
    let esp_out =
        engine::esp::OutboundSa::new(params(E::AesCbc256, I::HmacSha256_128, tunnel4(), false, false, 0x6001)).unwrap();
    let esp_in =
        engine::esp::InboundSa::new(params(E::AesCbc256, I::HmacSha256_128, swap(tunnel4()), false, false, 0x6001))
            .unwrap();
    let (ah_out, mut ah_in) = pair(I::HmacSha1_96, Mode::Transport, false);
    let inner = udp4(V4_A, V4_B, 120, 0);
    let mut b = VecBuf::new(&inner);
    assert_eq!(esp_out.protect(&mut b).0, Ok(()));
    assert_eq!(ah_out.protect(&mut b).0, Ok(()));
    assert_eq!(ipv4::Packet::new_checked(b.data()).unwrap().protocol(), IpProtocol::AH);
    assert_eq!(ah_in.unprotect(&mut b).0, Ok(()));
    assert_eq!(ipv4::Packet::new_checked(b.data()).unwrap().protocol(), IpProtocol::ESP);
    assert_eq!(esp_in.unprotect(&mut b).0, Ok(()));
    assert_eq!(b.data(), &inner[..]);
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Arbitrary bytes and mutated or cut AH packets are drops, never panics.
        #[test]
        fn unprotect_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                  edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
                                  cut in any::<usize>(), which in 0usize..3) {
            let mode = modes()[which];
            let (out, mut inb) = pair(I::HmacSha256_128, mode, which == 1);
            let _ = inb.unprotect(&mut VecBuf::new(&bytes));
            let inner = &inners()[bytes.len() % 3];
            let mut b = VecBuf::new(inner);
            prop_assert_eq!(out.protect(&mut b).0, Ok(()));
            let mut pkt = b.data().to_vec();
            for (pos, v) in edits {
                let l = pkt.len();
                pkt[pos % l] = v;
            }
            let l = pkt.len();
            pkt.truncate(l - cut % (l / 2));
            let _ = inb.unprotect(&mut VecBuf::new(&pkt));
        }
    }
}
