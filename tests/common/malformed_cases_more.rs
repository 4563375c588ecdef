//! More cases of tests/malformed_run.rs: IPv6 extension headers, cleartext from the inside, frames longer than an
//! mbuf. See malformed_cases.rs.
use super::*;

/// Entry 5: ESP AES-CBC-128 + HMAC-SHA256-128 over IPv6, with extension headers.
pub fn ipv6(s: &mut Suite) {
    let i = V6;
    let ext = |h: Vec<ExtHeader>| move |ip: Vec<u8>| with_ext_headers(&ip, &h);
    for seq in 1..=2 {
        let inner = s.inner(i, 500 + seq as usize, 200 * seq as usize);
        s.valid_in(&format!("IPv6 valid seq {seq}"), i, seq, inner);
    }
    let hbh = (0u8, padn(6));
    let dst = (60u8, padn(6));
    let rt253 = (43u8, vec![253, 0, 0, 0, 0, 0]);
    let cases: [(&str, Vec<ExtHeader>); 5] = [
        ("IPv6 valid, hop-by-hop options before ESP", vec![hbh.clone()]),
        ("IPv6 valid, routing header (type 253, 0 left) before ESP", vec![rt253.clone()]),
        ("IPv6 valid, destination options before ESP", vec![dst.clone()]),
        ("IPv6 valid, hop-by-hop + routing + destination options", vec![hbh.clone(), rt253.clone(), dst.clone()]),
        ("IPv6 valid, 1024-byte destination options header", vec![(60, padn(1022))]),
    ];
    for (k, (name, h)) in cases.into_iter().enumerate() {
        let inner = s.inner(i, 503 + k, 100);
        s.edited_in(name, i, 3 + k as u64, inner.clone(), ext(h), Expect::Deliver(forwarded(&inner)));
    }
    let inner = s.inner(i, 510, 100);
    s.edited_in(
        "IPv6 fragment header before ESP (first fragment)",
        i,
        10,
        inner,
        ext(vec![(44, vec![0, 1, 0, 0, 0, 7])]),
        Expect::Drop("fragment"),
    );
    let inner = s.inner(i, 511, 100);
    s.edited_in(
        "IPv6 atomic fragment (offset 0, M 0) before ESP",
        i,
        11,
        inner.clone(),
        ext(vec![(44, vec![0, 0, 0, 0, 0, 8])]),
        // RFC 6946 section 4: processed in isolation, as the whole packet it is.
        Expect::Deliver(forwarded(&inner)),
    );
    let inner = s.inner(i, 512, 100);
    let long_hbh = |ip: Vec<u8>| {
        let mut p = with_ext_headers(&ip, &[(0, padn(6))]);
        p[41] = 200;
        p
    };
    s.edited_in("IPv6 hop-by-hop length beyond the packet", i, 12, inner, long_hbh, Expect::Drop("frame-malformed"));
    let inner = s.inner(i, 513, 100);
    s.edited_in(
        "IPv6 unknown extension (253 as upper layer) before ESP",
        i,
        13,
        inner,
        ext(vec![(253, padn(6))]),
        Expect::Drop("local-unhandled"),
    );
    let inner = s.inner(i, 514, 100);
    s.edited_in(
        "IPv6 hop-by-hop after destination options",
        i,
        14,
        inner.clone(),
        ext(vec![dst.clone(), hbh.clone()]),
        // RFC 8200 section 4.1: Hop-by-Hop only first.
        Expect::Drop("frame-malformed"),
    );
    let inner = s.inner(i, 515, 100);
    let rh0 = (43u8, [vec![0, 1, 0, 0, 0, 0], vec![0x20; 16]].concat());
    s.edited_in(
        "IPv6 routing header type 0, 1 segment left",
        i,
        15,
        inner.clone(),
        ext(vec![rh0]),
        // RFC 5095 section 3: type 0 with segments left is an error for the node it is addressed to.
        Expect::Drop("frame-malformed"),
    );
    let inner = s.inner(i, 516, 100);
    s.edited_in("IPv6 ESP wrong ICV", i, 16, inner, flip(0), Expect::Drop("auth-failed"));
    let inner = s.inner(i, 517, 100);
    s.edited_in(
        "IPv6 payload length beyond the frame",
        i,
        17,
        inner,
        |mut ip: Vec<u8>| {
            let l = u16::from_be_bytes([ip[4], ip[5]]) + 8;
            ip[4..6].copy_from_slice(&l.to_be_bytes());
            ip
        },
        Expect::Drop("frame-malformed"),
    );
    let inner = s.inner(i, 518, 100);
    s.edited_in(
        "IPv6 header truncated (30 bytes)",
        i,
        18,
        inner,
        |ip: Vec<u8>| ip[..30].to_vec(),
        Expect::Drop("frame-malformed"),
    );
    let inner = s.inner(i, 519, 100);
    s.valid_in("IPv6 valid seq 19", i, 19, inner);
}

/// Cleartext from the inside host.
pub fn inside(s: &mut Suite) {
    for i in [GCM, CBC, NATT, ESN, AH] {
        let ip = udp4(HOST4, remote4(i), 64, &payload(600 + i, 80 + 200 * i));
        s.clear_in(&format!("cleartext to entry {i}'s network"), ip.clone(), Expect::Protect(i, forwarded(&ip)));
    }
    let ip = udp6(host6(), remote6(), 64, &payload(606, 300));
    s.clear_in("IPv6 cleartext to entry 5's network", ip.clone(), Expect::Protect(V6, forwarded(&ip)));
    // Stream ID (obsolete: routers ignore it, RFC 6814) and NOP padding.
    let rr = [136, 4, 0x12, 0x34, 1, 1, 1, 0];
    let ip = ip4(HOST4, remote4(CBC), 17, 64, &rr, &udp(&payload(607, 90)));
    s.clear_in("cleartext with IPv4 options to protect", ip.clone(), Expect::Protect(CBC, forwarded(&ip)));
    let ip = ip4(HOST4, BYPASS4, 17, 64, &rr, &udp(&payload(608, 90)));
    s.clear_in("transit cleartext with IPv4 options (bypass)", ip.clone(), Expect::Bypass(forwarded(&ip)));
    let small = udp4(HOST4, remote4(GCM), 64, &[]);
    let f = pad_to(46)(small.clone());
    s.clear_in("cleartext padded to the 60-byte Ethernet minimum", f, Expect::Protect(GCM, forwarded(&small)));
    s.add(
        "inside runt frame (13 bytes)",
        INSIDE,
        Make::Frame(vec![2, 0, 0, 0, 0xa, 0, 2, 0, 0, 0, 0xc, 1, 8]),
        Expect::Drop("frame-malformed"),
    );
    let mut long = udp4(HOST4, remote4(GCM), 64, &payload(609, 40));
    long[2..4].copy_from_slice(&200u16.to_be_bytes());
    fix4(&mut long);
    s.clear_in("inside IPv4 total length beyond the frame", long, Expect::Drop("frame-malformed"));
    let mut ihl = udp4(HOST4, BYPASS4, 64, &payload(610, 40));
    ihl[0] = 0x43;
    fix4(&mut ihl);
    s.clear_in("inside IPv4 IHL 3", ihl, Expect::Drop("frame-malformed"));
    s.clear_in("inside TTL 1", udp4(HOST4, remote4(GCM), 1, &payload(611, 40)), Expect::Drop("ttl-exceeded"));
    // RFC 1812 section 5.2.2: a router discards IPv4 with a wrong header checksum.
    let mut bad = udp4(HOST4, BYPASS4, 64, &payload(612, 40));
    bad[10] ^= 0x5a;
    s.clear_in("transit cleartext with a wrong IPv4 header checksum", bad, Expect::Drop("frame-malformed"));
    let mut bad = udp4(HOST4, remote4(GCM), 64, &payload(614, 40));
    bad[10] ^= 0x5a;
    s.clear_in("cleartext to protect with a wrong IPv4 header checksum", bad, Expect::Drop("frame-malformed"));
    let ip = udp4(HOST4, remote4(CBC), 64, &payload(613, 1000));
    s.clear_in("cleartext to entry 1 after the invalid ones", ip.clone(), Expect::Protect(CBC, forwarded(&ip)));
}

/// Frames longer than an mbuf's 2048-byte data room, between valid packets (tests/malformed_run.rs
/// `frames_larger_than_an_mbuf`): they arrive as chained mbufs, which the worker drops (counted as
/// chained-frame) before the pipeline, which works on one contiguous buffer. Before that check the first segment
/// alone went through the pipeline: the Ethernet header was read as IP, and one crafted frame left in clear.
pub fn jumbo(s: &mut Suite) {
    let chained = Expect::Drop("chained-frame");
    let inner = s.inner(GCM, 1, 100);
    s.valid_in("GCM valid seq 1", GCM, 1, inner);
    let inner = s.inner(GCM, 2, 2900);
    s.valid_in("GCM ESP in a 2992-byte frame (IP beyond segment 1)", GCM, 2, inner);
    s.cases.last_mut().unwrap().expect = chained.clone();
    let inner = s.inner(GCM, 3, 100);
    let pad = |mut ip: Vec<u8>| {
        ip.extend([0xee; 2900]);
        ip
    };
    s.edited_in("GCM valid ESP + 2900 bytes of link padding", GCM, 3, inner, pad, chained.clone());
    let inner = s.inner(GCM, 4, 100);
    s.valid_in("GCM valid seq 4", GCM, 4, inner);
    let ip = udp4(HOST4, remote4(GCM), 64, &payload(1, 2500));
    s.clear_in("cleartext in a 2542-byte frame", ip, chained.clone());
    let ip = udp4(HOST4, remote4(GCM), 64, &payload(3, 100));
    s.clear_in("cleartext to protect + 2900 bytes of link padding", pad(ip), chained.clone());
    let ip = udp4(HOST4, BYPASS4, 64, &payload(4, 100));
    s.clear_in("cleartext to bypass + 2900 bytes of link padding", pad(ip), chained.clone());
    // A multicast destination MAC whose first byte is 0x45: with the Ethernet header read as IPv4 this frame used
    // to be routed, fragmented and sent in clear.
    let ip = udp4(HOST4, BYPASS4, 64, &payload(5, 100));
    let f = eth([0x45, 0, 0, 0x3c, 0, 0], [0, 0, 0x40, 0x11, 0, 0], 0x0800, &pad(ip));
    s.add("chained frame to MAC 45:00:00:3c:00:00 (Ethernet read as IP)", INSIDE, Make::Frame(f), chained);
    let ip = udp4(HOST4, remote4(GCM), 64, &payload(2, 100));
    s.clear_in("cleartext after them", ip.clone(), Expect::Protect(GCM, forwarded(&ip)));
}
