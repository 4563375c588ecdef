//! Writes the seed corpora under `fuzz/corpus/<target>/` from real material: the ISAKMP messages extracted from
//! captures (control/fuzz-seeds/isakmp), the messages of honest in-memory handshakes, packets protected by the
//! engine itself, and the example configs in deploy/examples. Deterministic except for the IKE cookies, nonces and
//! DH values, which come from the OS RNG. Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`.

use engine::ah::OutboundAh;
use engine::buf::{PacketBuf, VecBuf};
use engine::datapath::ether::{self, EtherType, MacAddr};
use engine::esp::OutboundSa;
use espgate_fuzz::esp::{ip_packet, udp_packet, Setup};
use espgate_fuzz::ike::{Harness, Op};
use espgate_fuzz::net::{SIDE_A, SIDE_B};
use espgate_fuzz::push_chunk;
use std::fs;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("seed file");
}

fn ike_programs() -> Vec<(String, u8, Vec<Op>)> {
    use Op::*;
    let to_r = || DeliverToR { tamper: None, drop: false };
    let to_i = || DeliverToI { tamper: None, drop: false };
    let handshake = |aggressive: bool| {
        let mut v = vec![Connect { aggressive }];
        for _ in 0..if aggressive { 2 } else { 3 } {
            v.push(to_r());
            v.push(to_i());
        }
        v.push(to_r());
        v
    };
    let mut out = Vec::new();
    for cfg in [0u8, 1, 3] {
        let mut mm = handshake(false);
        mm.extend([Dpd(7), to_r(), to_i(), Duplicate, Advance(30), to_r(), Delete, to_r()]);
        out.push((format!("main-mode-cfg{cfg}"), cfg, mm));
        let mut am = handshake(true);
        am.extend([Dpd(1), to_r(), to_i(), Advance(4000), to_r()]);
        out.push((format!("aggressive-cfg{cfg}"), cfg, am));
    }
    out.push((
        "lost-and-retransmitted".into(),
        1,
        vec![
            Connect { aggressive: false },
            to_r(),
            DeliverToI { tamper: None, drop: true },
            Advance(1),
            to_r(),
            to_i(),
            to_r(),
            to_i(),
            DeliverToR { tamper: Some((40, 1)), drop: false },
            Advance(2),
            to_r(),
            to_i(),
        ],
    ));
    out.push((
        "nat-remap".into(),
        3,
        vec![Connect { aggressive: false }, to_r(), to_i(), to_r(), to_i(), Remap(50000), to_r(), to_i(), to_r()],
    ));
    out
}

fn gen_ike(root: &Path, messages: &mut Vec<Vec<u8>>) {
    let dir = root.join("ike_responder");
    for (name, cfg, prog) in ike_programs() {
        let mut h = Harness::new(cfg);
        h.record = Some(Vec::new());
        let mut bytes = vec![cfg];
        for op in prog {
            op.encode(&mut bytes);
            h.run(op);
        }
        messages.extend(h.record.take().unwrap_or_default());
        write(&dir, &name, &bytes);
    }
    // A capture's first message from the attacker (with a PSK) and from a stranger, then with R's cookies.
    let seeds = Path::new("control/fuzz-seeds/isakmp");
    if let Ok(rd) = fs::read_dir(seeds) {
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for (n, f) in files.iter().take(6).enumerate() {
            let msg = fs::read(f).expect("seed");
            let mut bytes = vec![0u8];
            Op::Raw { from: (n % 4) as u8, port4500: false, bytes: msg.clone() }.encode(&mut bytes);
            Op::WithCookies { from: 1, port4500: false, bytes: msg }.encode(&mut bytes);
            write(&dir, &format!("capture-{n}"), &bytes);
        }
    }
}

fn gen_isakmp(root: &Path, messages: &[Vec<u8>]) {
    let dir = root.join("isakmp_message");
    let seeds = Path::new("control/fuzz-seeds/isakmp");
    if let Ok(rd) = fs::read_dir(seeds) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            write(&dir, &name, &fs::read(e.path()).expect("seed"));
        }
    }
    for (n, m) in messages.iter().enumerate() {
        write(&dir, &format!("handshake-{n:02}"), m);
    }
}

fn inners() -> Vec<Vec<u8>> {
    vec![udp_packet(false, b"espgate fuzz seed"), udp_packet(true, &[0x5a; 40]), udp_packet(false, &[])]
}

fn gen_esp(root: &Path) {
    let dir = root.join("esp_inbound");
    for cfg in 0u8..64 {
        let setup = Setup::from_byte(cfg);
        if setup.to_byte() != cfg {
            continue;
        }
        let mut p = vec![cfg];
        // Round trips through the peer's outbound SA.
        for inner in inners() {
            p.push(2);
            push_chunk(&mut p, &inner);
        }
        // The same packet off the wire (fresh sequence numbers 100, 101), then once more (a replay), then tampered.
        let out = OutboundSa::new(setup.params(false)).expect("outbound");
        out.set_last_seq(99);
        let mut b = VecBuf::new(&inners()[0]);
        if out.protect(&mut b).0.is_ok() {
            p.push(0);
            push_chunk(&mut p, b.data());
            p.push(0);
            push_chunk(&mut p, b.data());
        }
        p.extend_from_slice(&[0xc2, 0, 0, 0, 200, 0, 30, 0x10]);
        push_chunk(&mut p, &inners()[1]);
        // An authentic NULL/CBC body: payload, default padding, pad length, next header (4 = IPv4 in tunnel mode).
        let mut body = vec![0u8; setup.encryption.iv_len()];
        body.extend_from_slice(&inners()[0]);
        let align = setup.encryption.pad_align();
        let mut pad = 1u8;
        while !(body.len() - setup.encryption.iv_len() + 2).is_multiple_of(align) {
            body.push(pad);
            pad += 1;
        }
        body.push(pad - 1);
        body.push(if setup.mode == 0 { 17 } else { 4 });
        p.push(1);
        p.extend_from_slice(&300u32.to_be_bytes());
        push_chunk(&mut p, &body);
        write(&dir, &format!("sa-{cfg:02x}"), &p);
    }
    // One raw packet with a bad SPI and one NAT-T keepalive-sized datagram.
    let esp = [0, 0, 0x77, 0x77, 0, 0, 0, 1, 9, 9, 9, 9];
    let mut p = vec![0x10u8, 0];
    push_chunk(&mut p, &ip_packet("198.51.100.2".parse().unwrap(), "198.51.100.1".parse().unwrap(), true, &esp));
    write(&dir, "unknown-spi", &p);
}

fn gen_ah(root: &Path) {
    let dir = root.join("ah_inbound");
    for cfg in 0u8..16 {
        let setup = Setup::from_byte(cfg);
        let mut p = vec![cfg];
        for inner in inners() {
            p.push(1);
            push_chunk(&mut p, &inner);
        }
        let out = OutboundAh::new(setup.ah_params(false)).expect("outbound AH");
        out.set_last_seq(99);
        let mut b = VecBuf::new(&inners()[1]);
        if out.protect(&mut b).0.is_ok() {
            p.push(0);
            push_chunk(&mut p, b.data());
        }
        write(&dir, &format!("sa-{cfg:02x}"), &p);
    }
}

fn frame(dst: MacAddr, src: MacAddr, ethertype: EtherType, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ether::HEADER_LEN];
    ether::emit(&mut f, dst, src, ethertype);
    f.extend_from_slice(ip);
    f
}

fn gen_datapath(root: &Path) {
    let dir = root.join("datapath_frame");
    let host4 = udp_packet(false, b"host a to host b");
    let host6 = udp_packet(true, b"host a to host b over v6");
    let ike = {
        let mut p = udp_packet(false, &[0u8; 28]);
        // Re-address to B's outside, port 500.
        p[12..16].copy_from_slice(&[198, 51, 100, 1]);
        p[16..20].copy_from_slice(&[198, 51, 100, 2]);
        p[22..24].copy_from_slice(&500u16.to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = engine::wire::checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    };
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&SIDE_A.out_mac.0);
    arp.extend_from_slice(&[198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 198, 51, 100, 2]);
    for cfg in 0u8..8 {
        let mut p = vec![cfg];
        // Host A's packets through A (op 1 = via A, port 0) and on to B.
        p.push(1);
        push_chunk(&mut p, &frame(SIDE_A.in_mac, SIDE_A.host_mac, EtherType::IPV4, &host4));
        p.push(1);
        push_chunk(&mut p, &frame(SIDE_A.in_mac, SIDE_A.host_mac, EtherType::IPV6, &host6));
        // Straight into B's outside (op 2 = B, port 1): IKE, ARP; cleartext on the protected path.
        p.push(2);
        push_chunk(&mut p, &frame(SIDE_B.out_mac, SIDE_A.out_mac, EtherType::IPV4, &ike));
        p.push(2);
        push_chunk(&mut p, &frame(MacAddr([0xff; 6]), SIDE_A.out_mac, EtherType::ARP, &arp));
        p.push(2);
        push_chunk(&mut p, &frame(SIDE_B.out_mac, SIDE_A.out_mac, EtherType::IPV4, &host4));
        write(&dir, &format!("tables-{cfg}"), &p);
    }
}

fn gen_config(root: &Path) {
    let dir = root.join("config_toml");
    if let Ok(rd) = fs::read_dir("deploy/examples") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") {
                write(&dir, &name, &fs::read(e.path()).expect("example"));
            }
        }
    }
}

fn main() {
    let root = PathBuf::from("fuzz/corpus");
    let mut messages = Vec::new();
    gen_ike(&root, &mut messages);
    gen_isakmp(&root, &messages);
    gen_esp(&root);
    gen_ah(&root);
    gen_datapath(&root);
    gen_config(&root);
}
