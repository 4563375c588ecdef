//! The cases of tests/malformed_run.rs, in the order they reach the gateway (per port). Sequence numbers are chosen
//! per inbound SA so that replays and window moves are deliberate. Expected reasons follow the code's contract
//! (engine/src/datapath/drops.rs, engine/src/drop.rs) and the RFCs; where they part, the case says so.
use crate::malformed::*;
use crate::suite::*;
use serde_json::json;

/// Edits of a Scapy-made IPv4 packet (20-byte header, no options).
pub(super) fn cut(n: usize) -> impl Fn(Vec<u8>) -> Vec<u8> {
    move |mut ip| {
        ip.truncate(ip.len() - n);
        let t = ip.len() as u16;
        ip[2..4].copy_from_slice(&t.to_be_bytes());
        fix4(&mut ip);
        ip
    }
}
pub(super) fn flip(at_from_end: usize) -> impl Fn(Vec<u8>) -> Vec<u8> {
    move |mut ip| {
        let n = ip.len();
        ip[n - 1 - at_from_end] ^= 0x01;
        ip
    }
}
pub(super) fn flip_at(at: usize) -> impl Fn(Vec<u8>) -> Vec<u8> {
    move |mut ip| {
        ip[at] ^= 0x01;
        ip
    }
}
pub(super) fn header4(edit: impl Fn(&mut Vec<u8>) + 'static, fix: bool) -> impl Fn(Vec<u8>) -> Vec<u8> {
    move |mut ip| {
        edit(&mut ip);
        if fix {
            fix4(&mut ip);
        }
        ip
    }
}
pub(super) fn pad_to(min: usize) -> impl Fn(Vec<u8>) -> Vec<u8> {
    move |mut ip| {
        ip.resize(ip.len().max(min), 0);
        ip
    }
}

/// An ESP packet from a peer (SPI, sequence number, some bytes) in IPv4 to us: for headers too short to verify.
pub(super) fn esp4(peer: [u8; 4], esp: &[u8]) -> Vec<u8> {
    ip4(peer, US4, 50, 64, &[], esp)
}
pub(super) fn udp4500(peer: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut u = udp(payload);
    u[0..4].copy_from_slice(&[0x11, 0x94, 0x11, 0x94]);
    ip4(peer, US4, 17, 64, &[], &u)
}
pub(super) fn peer4(i: usize) -> [u8; 4] {
    [198, 51, 100, 10 + i as u8]
}
pub(super) fn be(spi: usize, seq: u32) -> Vec<u8> {
    [(spi as u32).to_be_bytes(), seq.to_be_bytes()].concat()
}
/// An IPv6 extension header for [`with_ext_headers`]: type and body.
pub(super) type ExtHeader = (u8, Vec<u8>);

/// PadN options filling `len` bytes of an options header body (after next header and length).
pub(super) fn padn(mut len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    while len > 0 {
        let n = (len - 2).min(255);
        v.push(1);
        v.push(n as u8);
        v.extend(std::iter::repeat_n(0, n));
        len -= n + 2;
    }
    v
}

#[path = "malformed_cases_more.rs"]
mod more;
pub use more::jumbo;

pub fn build(s: &mut Suite) {
    outside_generic(s);
    gcm(s);
    cbc(s);
    nat_t(s);
    esn(s);
    ah(s);
    more::ipv6(s);
    more::inside(s);
}

/// Frames every port refuses before any SA is involved.
fn outside_generic(s: &mut Suite) {
    let p = peer4(GCM);
    s.add(
        "runt Ethernet frame (10 bytes)",
        OUTSIDE,
        Make::Frame(vec![2, 0, 0, 0, 0xa, 1, 2, 0, 0, 0]),
        Expect::Drop("frame-malformed"),
    );
    s.add(
        "Ethernet header only (IPv4 type)",
        OUTSIDE,
        Make::Frame(eth(OUR_OUT, peer_mac(0), 0x0800, &[])),
        Expect::Drop("frame-malformed"),
    );
    let good = esp4(p, &[be(spi(GCM, false, true), 77), vec![0; 40]].concat());
    s.raw_out("IPv4 header truncated (12 bytes)", GCM, good[..12].to_vec(), Expect::Drop("frame-malformed"));
    let mut v = good.clone();
    v[0] = 0x44;
    fix4(&mut v);
    s.raw_out("IPv4 IHL 4 (16-byte header)", GCM, v, Expect::Drop("frame-malformed"));
    let mut v = good.clone();
    v[0] = 0x4f;
    v[2..4].copy_from_slice(&40u16.to_be_bytes());
    fix4(&mut v);
    s.raw_out("IPv4 IHL 15 beyond total length 40", GCM, v[..40].to_vec(), Expect::Drop("frame-malformed"));
    let mut v = good.clone();
    v[2..4].copy_from_slice(&16u16.to_be_bytes());
    fix4(&mut v);
    s.raw_out("IPv4 total length 16 < header", GCM, v, Expect::Drop("frame-malformed"));
    let mut v = good.clone();
    v[0] = 0x55;
    s.raw_out("IP version 5 with EtherType IPv4", GCM, v, Expect::Drop("frame-malformed"));
    s.raw_out("ESP of 3 bytes (no SPI)", GCM, esp4(p, &[1, 0, 0]), Expect::Drop("malformed"));
    s.raw_out(
        "ESP of 6 bytes, known SPI",
        GCM,
        esp4(p, &be(spi(GCM, false, true), 1)[..6]),
        Expect::Drop("bad-length"),
    );
    s.raw_out(
        "ESP header only (SPI, seq), known SPI",
        GCM,
        esp4(p, &be(spi(GCM, false, true), 1)),
        Expect::Drop("bad-length"),
    );
    s.raw_out("ESP, unknown SPI", GCM, esp4(p, &[be(0x7777_7777, 1), vec![9; 60]].concat()), Expect::Drop("no-sa"));
    s.raw_out("ESP, reserved SPI 0", GCM, esp4(p, &[be(0, 1), vec![9; 60]].concat()), Expect::Drop("no-sa"));
    let clear = udp4(remote4(GCM), HOST4, 64, &payload(1, 30));
    s.raw_out(
        "cleartext for a protected flow (RFC 4301 5.2)",
        GCM,
        clear.clone(),
        Expect::Drop("cleartext-on-protected"),
    );
    let mut vlan = eth(OUR_OUT, peer_mac(0), 0x8100, &[0, 5, 8, 0]);
    vlan.extend_from_slice(&clear);
    s.add("802.1Q tagged frame", OUTSIDE, Make::Frame(vlan), Expect::Drop("unsupported-ethertype"));
    s.add(
        "frame to another MAC",
        OUTSIDE,
        Make::Frame(eth([2, 0, 0, 0, 9, 9], peer_mac(0), 0x0800, &clear)),
        Expect::Drop("not-for-us"),
    );
    s.raw_out("UDP to us, port 5000", GCM, udp4(p, US4, 64, b"hello"), Expect::Drop("local-unhandled"));
    s.raw_out("TCP to us", GCM, ip4(p, US4, 6, 64, &[], &[0; 20]), Expect::Drop("local-unhandled"));
}

/// Entry 0: ESP AES-GCM-128, IPv4 tunnel.
fn gcm(s: &mut Suite) {
    let i = GCM;
    for seq in 1..=3 {
        let inner = s.inner(i, seq as usize, 100 * seq as usize);
        s.valid_in(&format!("GCM valid seq {seq}"), i, seq, inner);
    }
    let first_two = s.cases.len() - 2;
    let inner = s.inner(i, 4, 50);
    let nops = [1, 1, 1, 0];
    s.edited_in(
        "GCM valid, outer IPv4 options (NOP NOP NOP EOL)",
        i,
        4,
        inner.clone(),
        move |ip| with_options(&ip, &nops),
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 5, 60);
    let long = [[1u8; 39].as_slice(), &[0]].concat();
    s.edited_in(
        "GCM valid, 60-byte outer IPv4 header (IHL 15)",
        i,
        5,
        inner.clone(),
        move |ip| with_options(&ip, &long),
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 6, 3);
    s.edited_in(
        "GCM valid, 18 bytes of link padding after IP",
        i,
        6,
        inner.clone(),
        |mut ip| {
            ip.extend([0xee; 18]);
            ip
        },
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 7, 70);
    s.custom_in(
        "GCM valid, 40 bytes of TFC padding (RFC 4303 2.7)",
        i,
        7,
        &inner,
        json!({"tfc": 40}),
        Expect::Deliver(forwarded(&inner)),
    );
    s.add("GCM replay of seq 2", OUTSIDE, Make::Copy(first_two), Expect::Drop("replay"));
    let inner = s.inner(i, 8, 80);
    s.edited_in("GCM wrong ICV (seq 8)", i, 8, inner.clone(), flip(0), Expect::Drop("auth-failed"));
    s.valid_in("GCM valid seq 8 after its forgery", i, 8, inner);
    let inner = s.inner(i, 9, 90);
    s.edited_in(
        "GCM sequence number rewritten (AAD)",
        i,
        9,
        inner,
        header4(|ip| ip[27] = 50, false),
        Expect::Drop("auth-failed"),
    );
    let inner = s.inner(i, 10, 90);
    s.edited_in("GCM IPv4 total length 3 short (not 4-aligned)", i, 10, inner, cut(3), Expect::Drop("bad-length"));
    let inner = s.inner(i, 11, 90);
    s.edited_in("GCM IPv4 total length 4 short (ICV misplaced)", i, 11, inner, cut(4), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 12, 90);
    s.edited_in(
        "GCM IPv4 total length 10 beyond the frame",
        i,
        12,
        inner,
        header4(
            |ip| {
                let t = ip.len() as u16 + 10;
                ip[2..4].copy_from_slice(&t.to_be_bytes())
            },
            true,
        ),
        Expect::Drop("frame-malformed"),
    );
    let inner = s.inner(i, 13, 90);
    s.edited_in(
        "GCM outer IPv4 header checksum wrong",
        i,
        13,
        inner,
        header4(|ip| ip[10] ^= 0xff, false),
        Expect::Drop("frame-malformed"),
    );
    let inner = s.inner(i, 14, 90);
    s.edited_in(
        "GCM outer IPv4 first fragment (MF)",
        i,
        14,
        inner,
        header4(|ip| ip[6] |= 0x20, true),
        Expect::Drop("fragment"),
    );
    let inner = s.inner(i, 15, 90);
    s.edited_in(
        "GCM outer IPv4 last fragment (offset 1480)",
        i,
        15,
        inner,
        header4(|ip| ip[6..8].copy_from_slice(&185u16.to_be_bytes()), true),
        Expect::Drop("fragment"),
    );
    let inner = s.inner(i, 16, 90);
    s.custom_in("GCM pad bytes not 1, 2, 3, ...", i, 16, &inner, json!({"bad_pad": true}), Expect::Drop("bad-padding"));
    let inner = s.inner(i, 17, 4);
    s.custom_in("GCM pad length 255 > plaintext", i, 17, &inner, json!({"padlen": 255}), Expect::Drop("bad-padding"));
    let inner = s.inner(i, 18, 30);
    s.custom_in("GCM next header TCP in tunnel mode", i, 18, &inner, json!({"nh": 6}), Expect::Drop("bad-next-header"));
    s.custom_in("GCM next header 59 (dummy packet)", i, 19, &inner, json!({"nh": 59}), Expect::Drop("dummy"));
    let v6 = udp6(remote6(), host6(), 64, &payload(20, 20));
    s.custom_in("GCM next header IPv4 over an IPv6 packet", i, 20, &v6, json!({"nh": 4}), Expect::Drop("malformed"));
    let mut bad = s.inner(i, 21, 30);
    bad[10] ^= 0xff;
    s.custom_in("GCM inner IPv4 header checksum wrong", i, 21, &bad, json!({}), Expect::Drop("malformed"));
    s.custom_in(
        "GCM inner packet 10 bytes of garbage",
        i,
        22,
        &[0x17; 10],
        json!({"nh": 4}),
        Expect::Drop("malformed"),
    );
    let stranger = udp4([203, 0, 113, 200], HOST4, 64, &payload(23, 30));
    s.custom_in(
        "GCM inner source outside the SA's selectors",
        i,
        23,
        &stranger,
        json!({}),
        Expect::Drop("policy-mismatch"),
    );
    let other = udp4(remote4(CBC), HOST4, 64, &payload(24, 30));
    s.custom_in("GCM inner from another SA's network", i, 24, &other, json!({}), Expect::Drop("policy-mismatch"));
    let ttl1 = udp4(remote4(i), HOST4, 1, &payload(25, 30));
    s.custom_in("GCM inner TTL 1", i, 25, &ttl1, json!({}), Expect::Drop("ttl-exceeded"));
    let inner = s.inner(i, 26, 40);
    s.edited_in(
        "GCM outer ECN CE over a Not-ECT inner packet (RFC 6040)",
        i,
        26,
        inner,
        header4(|ip| ip[1] |= 3, true),
        Expect::Drop("ecn"),
    );
    let inner = s.inner(i, 27, 40);
    let spoof = header4(|ip| ip[12..16].copy_from_slice(&[203, 0, 113, 250]), true);
    s.edited_in(
        "GCM valid from another source address (SA by SPI, RFC 4301 4.1)",
        i,
        27,
        inner.clone(),
        spoof,
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 1000, 40);
    s.valid_in("GCM valid seq 1000 (window jumps)", i, 1000, inner);
    let inner = s.inner(i, 900, 40);
    s.valid_in("GCM seq 900, left of the 64-packet window", i, 900, inner);
    s.cases.last_mut().unwrap().expect = Expect::Drop("too-old");
    let inner = s.inner(i, 0, 40);
    s.valid_in("GCM seq 0", i, 0, inner);
    s.cases.last_mut().unwrap().expect = Expect::Drop("too-old");
    let inner = s.inner(i, 1001, 1400);
    s.valid_in("GCM valid seq 1001 (1400-byte payload)", i, 1001, inner);
}

/// Entry 1: ESP AES-CBC-256 + HMAC-SHA256-128, IPv4 tunnel.
fn cbc(s: &mut Suite) {
    let i = CBC;
    for seq in 1..=3 {
        let inner = s.inner(i, 100 + seq as usize, 333 * seq as usize);
        s.valid_in(&format!("CBC valid seq {seq}"), i, seq, inner);
    }
    let first = s.cases.len() - 3;
    s.add("CBC replay of seq 1", OUTSIDE, Make::Copy(first), Expect::Drop("replay"));
    let inner = s.inner(i, 104, 64);
    s.edited_in("CBC wrong ICV", i, 4, inner, flip(3), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 105, 64);
    s.edited_in("CBC ciphertext byte flipped", i, 5, inner, flip_at(20 + 8 + 16 + 5), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 106, 64);
    s.edited_in("CBC IPv4 total length 16 short (block-aligned)", i, 6, inner, cut(16), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 107, 64);
    s.edited_in("CBC ciphertext not a multiple of the block", i, 7, inner, cut(4), Expect::Drop("bad-length"));
    let inner = s.inner(i, 108, 64);
    s.custom_in("CBC pad bytes not 1, 2, 3, ...", i, 8, &inner, json!({"bad_pad": true}), Expect::Drop("bad-padding"));
    let inner = s.inner(i, 109, 2);
    s.custom_in("CBC pad length 255 > plaintext", i, 9, &inner, json!({"padlen": 255}), Expect::Drop("bad-padding"));
    let inner = s.inner(i, 110, 64);
    let udp_wrap = |ip: Vec<u8>| udp4500(peer4(CBC), &ip[20..]);
    s.edited_in("CBC ESP in UDP 4500 for an SA without NAT-T", i, 10, inner, udp_wrap, Expect::Drop("not-esp"));
    let ah_hdr = [vec![4, 4, 0, 0], be(spi(i, false, true), 11), vec![0; 12]].concat();
    s.raw_out("AH header naming an ESP SA's SPI", i, ip4(peer4(i), US4, 51, 64, &[], &ah_hdr), Expect::Drop("no-sa"));
    let inner = s.inner(i, 111, 500);
    s.valid_in("CBC valid seq 11", i, 11, inner);
}

/// Entry 2: ESP AES-GCM-256 in UDP 4500 (RFC 3948).
fn nat_t(s: &mut Suite) {
    let i = NATT;
    let p = peer4(i);
    for seq in 1..=2 {
        let inner = s.inner(i, 200 + seq as usize, 120 * seq as usize);
        s.valid_in(&format!("NAT-T valid seq {seq}"), i, seq, inner);
    }
    let first = s.cases.len() - 2;
    let inner = s.inner(i, 203, 77);
    let csum = |mut ip: Vec<u8>| {
        ip[26..28].copy_from_slice(&[0xbe, 0xef]);
        ip
    };
    s.edited_in(
        "NAT-T valid, non-zero UDP checksum (RFC 3948 2.1)",
        i,
        3,
        inner.clone(),
        csum,
        Expect::Deliver(forwarded(&inner)),
    );
    s.add("NAT-T replay of seq 1", OUTSIDE, Make::Copy(first), Expect::Drop("replay"));
    let inner = s.inner(i, 204, 77);
    s.edited_in("NAT-T wrong ICV", i, 4, inner, flip(0), Expect::Drop("auth-failed"));
    s.raw_out("NAT-T keepalive (one 0xff byte)", i, udp4500(p, &[0xff]), Expect::Punt("nat-keepalive"));
    s.raw_out(
        "NAT-T non-ESP marker (zero SPI) with junk",
        i,
        udp4500(p, &[vec![0; 4], vec![0x5a; 20]].concat()),
        Expect::Punt("ike"),
    );
    s.raw_out("NAT-T 3 zero bytes (marker cut short)", i, udp4500(p, &[0, 0, 0]), Expect::Drop("malformed"));
    s.raw_out("NAT-T two 0xff bytes (not a keepalive)", i, udp4500(p, &[0xff, 0xff]), Expect::Drop("malformed"));
    s.raw_out("NAT-T 6 bytes, known SPI", i, udp4500(p, &be(spi(i, false, true), 5)[..6]), Expect::Drop("not-esp"));
    s.raw_out("NAT-T unknown SPI", i, udp4500(p, &[be(0x0bad_0bad, 1), vec![3; 48]].concat()), Expect::Drop("no-sa"));
    let udp_len = |v: u16| {
        move |mut ip: Vec<u8>| {
            ip[24..26].copy_from_slice(&v.to_be_bytes());
            ip
        }
    };
    let inner = s.inner(i, 205, 77);
    s.edited_in("NAT-T UDP length beyond the IP packet", i, 5, inner, udp_len(2000), Expect::Drop("bad-length"));
    let inner = s.inner(i, 206, 77);
    s.edited_in("NAT-T UDP length 4 (< header)", i, 6, inner, udp_len(4), Expect::Drop("bad-length"));
    let mut trunc = udp4500(p, &[]);
    trunc.truncate(25);
    trunc[2..4].copy_from_slice(&25u16.to_be_bytes());
    fix4(&mut trunc);
    s.raw_out("UDP 4500 header truncated (5 bytes)", i, trunc, Expect::Drop("frame-malformed"));
    let inner = s.inner(i, 207, 77);
    s.edited_in(
        "NAT-T UDP length 4 bytes short of the IP packet",
        i,
        7,
        inner.clone(),
        |mut ip: Vec<u8>| {
            let l = u16::from_be_bytes([ip[24], ip[25]]) - 4;
            ip[24..26].copy_from_slice(&l.to_be_bytes());
            ip
        },
        // RFC 768: the bytes after the UDP datagram are not ESP.
        Expect::Drop("bad-length"),
    );
    let inner = s.inner(i, 208, 300);
    s.valid_in("NAT-T valid seq 8", i, 8, inner);
    let inner = s.inner(i, 209, 60);
    let rebound = |mut ip: Vec<u8>| {
        ip[20..22].copy_from_slice(&40000u16.to_be_bytes());
        ip
    };
    s.edited_in(
        "NAT-T valid from source port 40000 (NAT rebinding)",
        i,
        9,
        inner.clone(),
        rebound,
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 210, 60);
    let port_4501 = |mut ip: Vec<u8>| {
        ip[22..24].copy_from_slice(&4501u16.to_be_bytes());
        ip
    };
    s.edited_in("NAT-T ESP to UDP port 4501", i, 10, inner, port_4501, Expect::Drop("local-unhandled"));
}

/// Entry 3: ESP AES-CBC-128 + HMAC-SHA256-128 with Extended Sequence Numbers.
fn esn(s: &mut Suite) {
    let i = ESN;
    for seq in 1..=3 {
        let inner = s.inner(i, 300 + seq as usize, 90 * seq as usize);
        s.valid_in(&format!("ESN valid seq {seq}"), i, seq, inner);
    }
    let second = s.cases.len() - 2;
    let inner = s.inner(i, 304, 60);
    s.valid_in("ESN packet of the next 2^32 subspace (high half 1)", i, (1 << 32) + 4, inner);
    s.cases.last_mut().unwrap().expect = Expect::Drop("auth-failed");
    s.add("ESN replay of seq 2", OUTSIDE, Make::Copy(second), Expect::Drop("replay"));
    let inner = s.inner(i, 305, 60);
    s.edited_in("ESN wrong ICV", i, 5, inner, flip(0), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 306, 60);
    s.valid_in("ESN low half 0xfffffff0: left of the window", i, 0xffff_fff0, inner);
    s.cases.last_mut().unwrap().expect = Expect::Drop("too-old");
    let inner = s.inner(i, 307, 60);
    s.valid_in("ESN valid seq 7", i, 7, inner);
}

/// Entry 4: AH HMAC-SHA256-128, IPv4 tunnel.
fn ah(s: &mut Suite) {
    let i = AH;
    for seq in 1..=2 {
        let inner = s.inner(i, 400 + seq as usize, 150 * seq as usize);
        s.valid_in(&format!("AH valid seq {seq}"), i, seq, inner);
    }
    let first = s.cases.len() - 2;
    s.add("AH replay of seq 1", OUTSIDE, Make::Copy(first), Expect::Drop("replay"));
    let inner = s.inner(i, 403, 50);
    s.edited_in("AH wrong ICV", i, 3, inner, flip_at(20 + 12 + 2), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 404, 50);
    s.edited_in("AH payload data covered by the ICV changed", i, 4, inner, flip(0), Expect::Drop("auth-failed"));
    s.raw_out("AH of 4 bytes (no SPI)", i, ip4(peer4(i), US4, 51, 64, &[], &[4, 4, 0, 0]), Expect::Drop("malformed"));
    let inner = s.inner(i, 405, 50);
    s.edited_in("AH payload length field wrong", i, 5, inner, flip_at(21), Expect::Drop("ah-malformed"));
    let inner = s.inner(i, 406, 50);
    s.edited_in(
        "AH outer IPv4 fragment (MF)",
        i,
        6,
        inner,
        header4(|ip| ip[6] |= 0x20, true),
        Expect::Drop("fragment"),
    );
    let inner = s.inner(i, 407, 50);
    s.valid_in("AH valid seq 7", i, 7, inner);
    // Outer IPv4 options: the ICV covers the immutable ones and zeroes the mutable ones (RFC 4302 appendix A.1).
    let ra = [148, 4, 0, 0];
    let inner = s.inner(i, 408, 50);
    s.ah_with_options(
        "AH valid, outer Router Alert (immutable)",
        8,
        inner.clone(),
        &ra,
        |ip| ip,
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 409, 50);
    let rr = [7, 7, 4, 0, 0, 0, 0, 0];
    let recorded = header4(|ip| ip[20..28].copy_from_slice(&[7, 7, 8, 198, 51, 100, 99, 0]), true);
    s.ah_with_options(
        "AH valid, outer Record Route filled in transit (mutable)",
        9,
        inner.clone(),
        &rr,
        recorded,
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 410, 50);
    s.ah_with_options(
        "AH outer Router Alert changed in transit",
        10,
        inner,
        &ra,
        header4(|ip| ip[23] = 1, true),
        Expect::Drop("auth-failed"),
    );
    let inner = s.inner(i, 411, 50);
    let bad_len = header4(|ip| ip[20..24].copy_from_slice(&[7, 1, 0, 0]), true);
    s.ah_with_options("AH outer option of length 1", 11, inner, &ra, bad_len, Expect::Drop("ah-malformed"));
    let inner = s.inner(i, 412, 50);
    s.valid_in("AH valid seq 12", i, 12, inner);
}
