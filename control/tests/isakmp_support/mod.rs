//! Test support: a minimal pcap / pcapng reader that yields the UDP payloads (ISAKMP messages) of Ethernet/IPv4
//! captures, so capture-based tests need no extra tool.
#![allow(dead_code)]

use std::io::Read;

pub mod net;

/// One ISAKMP datagram from a capture.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// 1-based frame number, as Wireshark counts.
    pub frame: usize,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    /// The ISAKMP message (the RFC 3948 non-ESP marker removed on port 4500).
    pub isakmp: Vec<u8>,
}

pub fn data_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Reads a capture (pcap or pcapng, optionally gzip-compressed) and returns its ISAKMP datagrams.
pub fn isakmp_datagrams(name: &str) -> Vec<Datagram> {
    let raw = std::fs::read(data_path(name)).expect("capture file");
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gzip");
        out
    } else {
        raw
    };
    let frames = frames(&bytes);
    frames.iter().enumerate().filter_map(|(i, f)| udp_isakmp(i + 1, f)).collect()
}

fn u32_at(b: &[u8], off: usize, le: bool) -> u32 {
    let a = [b[off], b[off + 1], b[off + 2], b[off + 3]];
    if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

/// The link-layer frames of a capture (Ethernet link type is assumed and checked).
fn frames(b: &[u8]) -> Vec<Vec<u8>> {
    let magic = u32_at(b, 0, true);
    let mut out = Vec::new();
    if magic == 0xa1b2_c3d4 || magic == 0xd4c3_b2a1 {
        let le = magic == 0xa1b2_c3d4;
        assert_eq!(u32_at(b, 20, le), 1, "Ethernet link type");
        let mut off = 24;
        while off + 16 <= b.len() {
            let incl = u32_at(b, off + 8, le) as usize;
            out.push(b[off + 16..off + 16 + incl].to_vec());
            off += 16 + incl;
        }
    } else if magic == 0x0a0d_0d0a {
        let le = u32_at(b, 8, true) == 0x1a2b_3c4d;
        let mut off = 0;
        while off + 12 <= b.len() {
            let btype = u32_at(b, off, le);
            let blen = u32_at(b, off + 4, le) as usize;
            match btype {
                1 => assert_eq!(u16::from_le_bytes([b[off + 8], b[off + 9]]), 1, "Ethernet link type"),
                6 => {
                    let cap = u32_at(b, off + 20, le) as usize;
                    out.push(b[off + 28..off + 28 + cap].to_vec());
                }
                _ => {}
            }
            off += blen;
        }
    } else {
        panic!("not a pcap or pcapng file");
    }
    out
}

fn udp_isakmp(frame: usize, f: &[u8]) -> Option<Datagram> {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([f[off], f[off + 1]]);
    if ethertype == 0x8100 {
        off += 4;
        ethertype = u16::from_be_bytes([f[off], f[off + 1]]);
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = &f[off + 2..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[9] != 17 {
        return None;
    }
    let udp = &ip[ihl..total];
    let src_port = u16::from_be_bytes([udp[0], udp[1]]);
    let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let mut payload = &udp[8..ulen];
    if src_port == 4500 || dst_port == 4500 {
        if payload == [0xff] || payload.len() < 4 || payload[..4] != [0, 0, 0, 0] {
            return None; // NAT keepalive or ESP
        }
        payload = &payload[4..];
    } else if src_port != 500 && dst_port != 500 {
        return None;
    }
    Some(Datagram {
        frame,
        src: [ip[12], ip[13], ip[14], ip[15]],
        dst: [ip[16], ip[17], ip[18], ip[19]],
        src_port,
        dst_port,
        isakmp: payload.to_vec(),
    })
}
