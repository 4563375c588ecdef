//! `espgate show crypto keys --wireshark DIR`: the keys of the SAs in Wireshark's own files, so a capture opens
//! decrypted. `esp_sa` (one line per SA, one SA per direction) and `ikev1_decryption_table` (one line per ISAKMP SA)
//! are Wireshark's user access tables, as packet-ipsec.c and packet-isakmp.c of Wireshark 3.6/4.0 read them:
//!
//! ```text
//! esp_sa:                 "IPv4","198.51.100.2","198.51.100.1","0x00001000","AES-CBC [RFC3602]","0x…","HMAC-SHA-256-128 [RFC4868]","0x…"
//! ikev1_decryption_table: 0123456789abcdef,00112233…      (hex fields are written bare, without quotes)
//! ```
//!
//! The daemon formats the lines from the SAs it holds (answer to `show crypto keys`, over the root-only control
//! socket); the CLI writes them, mode 0600.
use crate::ike::Ike;
use anyhow::{Context, Result};
use control::crypto::Secret;
use control::plan::MapPlan;
use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
use engine::sa::{Mode, SaParams};
use serde_json::{json, Value};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The file names Wireshark looks for in its configuration (profile) directory.
pub const ESP_SA_FILE: &str = "esp_sa";
pub const IKEV1_FILE: &str = "ikev1_decryption_table";

/// Wireshark's name for an ESP cipher (`esp_encryption_type_vals`). GCM keys carry their salt, as ours do.
pub fn encryption_name(e: E) -> &'static str {
    match e {
        E::Null => "NULL",
        E::DesCbc => "DES-CBC [RFC2405]",
        E::TripleDesCbc => "TripleDES-CBC [RFC2451]",
        E::AesCbc128 | E::AesCbc192 | E::AesCbc256 => "AES-CBC [RFC3602]",
        E::AesCtr128 | E::AesCtr192 | E::AesCtr256 => "AES-CTR [RFC3686]",
        E::AesGcm128 | E::AesGcm192 | E::AesGcm256 => "AES-GCM with 16 octet ICV [RFC4106]",
    }
}

/// Wireshark's name for an ESP integrity algorithm (`esp_authentication_type_vals`).
pub fn authentication_name(i: I) -> &'static str {
    match i {
        I::None => "NULL",
        I::HmacMd5_96 => "HMAC-MD5-96 [RFC2403]",
        I::HmacSha1_96 => "HMAC-SHA-1-96 [RFC2404]",
        I::HmacSha256_128 => "HMAC-SHA-256-128 [RFC4868]",
        I::HmacSha384_192 => "HMAC-SHA-384-192 [RFC4868]",
        I::HmacSha512_256 => "HMAC-SHA-512-256 [RFC4868]",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The (source, destination) of an SA's packets on the wire: the tunnel's ends, or for transport mode the
/// addresses the caller knows (`None` becomes Wireshark's wildcard).
fn ends(p: &SaParams, inbound: bool, local: Option<IpAddr>, peer: Option<IpAddr>) -> (Option<IpAddr>, Option<IpAddr>) {
    let (l, r) = match p.mode {
        Mode::Tunnel { local, remote } => (Some(local), Some(remote)),
        Mode::Transport => (local, peer),
    };
    if inbound {
        (r, l)
    } else {
        (l, r)
    }
}

/// One `esp_sa` line. NAT-T SAs are keyed by addresses too: Wireshark finds ESP inside UDP 4500 itself.
pub fn esp_line(p: &SaParams, src: Option<IpAddr>, dst: Option<IpAddr>) -> Secret {
    let v6 = src.or(dst).is_some_and(|a| a.is_ipv6());
    let addr = |a: Option<IpAddr>| a.map_or_else(|| "*".to_string(), |a| a.to_string());
    let auth_key = if p.integrity == I::None { String::new() } else { format!("0x{}", hex(&p.auth_key)) };
    let line = format!(
        "\"{}\",\"{}\",\"{}\",\"0x{:08x}\",\"{}\",\"0x{}\",\"{}\",\"{}\"",
        if v6 { "IPv6" } else { "IPv4" },
        addr(src),
        addr(dst),
        p.spi.0,
        encryption_name(p.encryption),
        hex(&p.cipher_key),
        authentication_name(p.integrity),
        auth_key
    );
    Secret::new(line.into_bytes())
}

/// One `ikev1_decryption_table` line: initiator cookie and encryption key, bare hex.
pub fn ikev1_line(icookie: &[u8; 8], key: &Secret) -> Secret {
    Secret::new(format!("{},{}", hex(icookie), hex(key.expose())).into_bytes())
}

fn text(s: &Secret) -> Value {
    Value::from(String::from_utf8_lossy(s.expose()).into_owned())
}

/// The daemon's answer to `show crypto keys`: the lines of both files, for every ESP SA (manual and negotiated,
/// both directions) and every established ISAKMP SA.
pub fn keys_json(ike: Option<&Ike>, manual: &[MapPlan]) -> Value {
    let mut esp = Vec::new();
    for m in manual {
        if let Some((inb, outb)) = &m.manual {
            let (s, d) = ends(inb, true, None, Some(m.peer));
            esp.push(text(&esp_line(inb, s, d)));
            let (s, d) = ends(outb, false, None, Some(m.peer));
            esp.push(text(&esp_line(outb, s, d)));
        }
    }
    let mut isakmp = Vec::new();
    if let Some(ike) = ike {
        for a in &ike.active {
            let Some(pair) = &a.esp else { continue };
            let local = ike.phase1.iter().find(|p| p.icookie == a.icookie).map(|p| p.local.ip());
            let (s, d) = ends(&pair.inbound_params, true, local, Some(a.peer));
            esp.push(text(&esp_line(&pair.inbound_params, s, d)));
            let out = pair.outbound.params();
            let (s, d) = ends(out, false, local, Some(a.peer));
            esp.push(text(&esp_line(out, s, d)));
        }
        let ep = ike.endpoint();
        for c in ep.established_cookies() {
            if let Some(k) = ep.phase1_encryption_key(&c) {
                isakmp.push(text(&ikev1_line(&c, &k)));
            }
        }
    }
    json!({ "esp_sa": esp, "ikev1_decryption_table": isakmp })
}

/// The file contents from the daemon's answer: (esp_sa, ikev1_decryption_table).
pub fn files(v: &Value) -> (Secret, Secret) {
    let join = |k: &str| {
        let mut out = Vec::new();
        for l in v.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        Secret::new(out)
    };
    (join(ESP_SA_FILE), join(IKEV1_FILE))
}

/// Writes `contents` to `path`, readable by the owner only (it holds keys). An existing file is replaced.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    // Removed first: an existing file would keep its old, possibly wider, mode.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(contents).with_context(|| format!("write {}", path.display()))
}

/// Writes both files into `dir` (created if missing, mode 0700). Returns (ESP lines, ISAKMP lines).
pub fn write_dir(dir: &Path, v: &Value) -> Result<(usize, usize)> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    let (esp, ike) = files(v);
    write_private(&dir.join(ESP_SA_FILE), esp.expose())?;
    write_private(&dir.join(IKEV1_FILE), ike.expose())?;
    let lines = |s: &Secret| s.expose().iter().filter(|&&b| b == b'\n').count();
    Ok((lines(&esp), lines(&ike)))
}

/// The CLI side of `show crypto keys [--wireshark DIR] [--json]`.
pub fn show(socket: &Path, dir: Option<&Path>, json: bool) -> Result<()> {
    let v = crate::ctl::request(socket, &["show".into(), "crypto".into(), "keys".into()])?;
    match dir {
        Some(dir) => {
            let (esp, ike) = write_dir(dir, &v)?;
            println!(
                "{} ESP SA line(s) to {}, {} ISAKMP SA line(s) to {} (mode 0600: they hold keys)",
                esp,
                dir.join(ESP_SA_FILE).display(),
                ike,
                dir.join(IKEV1_FILE).display()
            );
        }
        None if json => println!("{v}"),
        None => {
            let (esp, ike) = files(&v);
            print!("# {ESP_SA_FILE}\n{}", String::from_utf8_lossy(esp.expose()));
            print!("# {IKEV1_FILE}\n{}", String::from_utf8_lossy(ike.expose()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::sa::{Lifetime, OuterHeader};
    use engine::wire::Spi;
    use std::os::unix::fs::PermissionsExt;

    fn params(spi: u32, encryption: E, key: Vec<u8>, integrity: I, auth_key: Vec<u8>, mode: Mode) -> SaParams {
        SaParams {
            spi: Spi(spi),
            encryption,
            cipher_key: key.into(),
            integrity,
            auth_key: auth_key.into(),
            mode,
            esn: false,
            replay_window: 64,
            nat_t: None,
            outer: OuterHeader::default(),
            lifetime: Lifetime::default(),
            selector: None,
            extra_selectors: Vec::new(),
            bundle_esp: None,
            bundle_ah: None,
        }
    }

    fn s(x: &Secret) -> &str {
        std::str::from_utf8(x.expose()).unwrap()
    }

    #[test]
    fn tunnel_sa_lines_follow_the_direction() {
        let local: IpAddr = "198.51.100.1".parse().unwrap();
        let remote: IpAddr = "198.51.100.2".parse().unwrap();
        let p = params(
            0x1000,
            E::AesCbc256,
            vec![0x11; 32],
            I::HmacSha256_128,
            vec![0x22; 32],
            Mode::Tunnel { local, remote },
        );
        let (src, dst) = ends(&p, true, None, None);
        assert_eq!((src, dst), (Some(remote), Some(local)));
        let line = esp_line(&p, src, dst);
        let want = format!(
            "\"IPv4\",\"198.51.100.2\",\"198.51.100.1\",\"0x00001000\",\"AES-CBC [RFC3602]\",\"0x{}\",\
             \"HMAC-SHA-256-128 [RFC4868]\",\"0x{}\"",
            "11".repeat(32),
            "22".repeat(32)
        );
        assert_eq!(s(&line), want);
        assert_eq!(ends(&p, false, None, None), (Some(local), Some(remote)));
    }

    #[test]
    fn gcm_keeps_its_salt_and_has_no_auth_key() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let mut key = vec![0xaa; 16];
        key.extend_from_slice(&[1, 2, 3, 4]);
        let p = params(0xdeadbeef, E::AesGcm128, key, I::None, Vec::new(), Mode::Transport);
        let (src, dst) = ends(&p, true, None, Some(a));
        assert_eq!((src, dst), (Some(a), None), "the unknown local address is a wildcard");
        let line = esp_line(&p, src, dst);
        assert_eq!(
            s(&line),
            format!(
                "\"IPv6\",\"2001:db8::1\",\"*\",\"0xdeadbeef\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}01020304\",\
                 \"NULL\",\"\"",
                "aa".repeat(16)
            )
        );
    }

    #[test]
    fn every_algorithm_has_a_wireshark_name() {
        for e in E::ALL {
            assert!(!encryption_name(e).is_empty());
        }
        for i in I::ALL {
            assert!(!authentication_name(i).is_empty());
        }
        assert_eq!(encryption_name(E::TripleDesCbc), "TripleDES-CBC [RFC2451]");
        assert_eq!(authentication_name(I::HmacSha1_96), "HMAC-SHA-1-96 [RFC2404]");
    }

    #[test]
    fn ikev1_line_is_bare_hex() {
        let k = Secret::from_slice(&[0xab; 32]);
        let line = ikev1_line(&[0, 1, 2, 3, 4, 5, 6, 0xff], &k);
        assert_eq!(s(&line), format!("00010203040506ff,{}", "ab".repeat(32)));
    }

    #[test]
    fn files_are_written_owner_only() {
        let dir = std::env::temp_dir().join(format!("espgate-ws-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let v = json!({ "esp_sa": ["\"IPv4\",\"a\"", "\"IPv4\",\"b\""], "ikev1_decryption_table": ["00,11"] });
        // A file left with a wide mode is replaced, not reused.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(ESP_SA_FILE), "old").unwrap();
        std::fs::set_permissions(dir.join(ESP_SA_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(write_dir(&dir, &v).unwrap(), (2, 1));
        for f in [ESP_SA_FILE, IKEV1_FILE] {
            let m = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600, "{f}");
        }
        assert_eq!(std::fs::read_to_string(dir.join(ESP_SA_FILE)).unwrap(), "\"IPv4\",\"a\"\n\"IPv4\",\"b\"\n");
        assert_eq!(std::fs::read_to_string(dir.join(IKEV1_FILE)).unwrap(), "00,11\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An IPv4 ICMP echo request 192.0.2.10 -> 203.0.113.10 (checksums are not checked by the dissector).
    fn echo() -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0, 192, 0, 2, 10, 203, 0, 113, 10];
        p.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
        p.extend_from_slice(b"espgate wireshark key export test");
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    /// tshark, where installed, decrypts ESP of every suite (GCM with its salt, CTR with its nonce, NAT-T in UDP
    /// 4500) with the line we write, and checks the ICV with our auth key.
    #[test]
    fn tshark_decrypts_every_suite_with_our_lines() {
        if std::process::Command::new("tshark").arg("--version").output().is_err() {
            eprintln!("tshark not installed: skipped");
            return;
        }
        use engine::buf::{PacketBuf, VecBuf};
        use engine::capture::{CapturedFrame, Direction};
        let v4: (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        // An IPv6 outer header: Wireshark must match the compressed address form we write.
        let v6: (IpAddr, IpAddr) = ("2001:db8:100::1".parse().unwrap(), "2001:db8:100::2".parse().unwrap());
        let suites = [
            (E::AesGcm128, I::None, false, v4),
            (E::AesGcm256, I::None, true, v4),
            (E::AesCtr128, I::HmacSha256_128, false, v4),
            (E::AesCbc128, I::HmacSha1_96, true, v4),
            (E::AesCbc256, I::HmacSha512_256, false, v4),
            (E::TripleDesCbc, I::HmacMd5_96, false, v4),
            (E::AesCbc192, I::HmacSha384_192, false, v4),
            (E::Null, I::HmacSha256_128, false, v4),
            (E::AesCbc256, I::HmacSha256_128, false, v6),
            (E::AesGcm128, I::None, true, v6),
        ];
        for (k, (e, i, nat, (gw_a, gw_b))) in suites.into_iter().enumerate() {
            let key: Vec<u8> = (0..e.key_len()).map(|b| b as u8 ^ 0x5a).collect();
            let auth: Vec<u8> = (0..i.key_len()).map(|b| b as u8 ^ 0xa5).collect();
            let mut p = params(0x3000 + k as u32, e, key, i, auth, Mode::Tunnel { local: gw_a, remote: gw_b });
            if nat {
                p.nat_t = Some(engine::sa::NatT::default());
            }
            let line = esp_line(&p, Some(gw_a), Some(gw_b));
            let out = engine::esp::OutboundSa::new(p).unwrap();
            let mut b = VecBuf::new(&echo());
            assert_eq!(out.protect(&mut b).0, Ok(()), "{e:?}");
            let ethertype: [u8; 2] = if gw_a.is_ipv6() { [0x86, 0xdd] } else { [0x08, 0x00] };
            let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            frame.extend_from_slice(&ethertype);
            frame.extend_from_slice(b.data());
            let f = CapturedFrame {
                timestamp_ns: 1,
                direction: Direction::Sent,
                original_len: frame.len() as u32,
                data: frame,
            };
            let path = std::env::temp_dir().join(format!("espgate-ws-suite-{}-{k}.pcapng", std::process::id()));
            let mut file = crate::capture::header("outside");
            file.extend_from_slice(&crate::capture::packet(&f));
            std::fs::write(&path, file).unwrap();
            let o = std::process::Command::new("tshark")
                .args(["-n", "-r", path.to_str().unwrap()])
                .args(["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"])
                .args(["-o", &format!("uat:esp_sa:{}", s(&line))])
                .args(["-T", "fields", "-e", "icmp.type", "-e", "ip.dst", "-e", "esp.icv_good", "-e", "udp.dstport"])
                .output()
                .unwrap();
            std::fs::remove_file(&path).unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            let fields: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
            assert_eq!(fields.first(), Some(&"8"), "{e:?} {i:?}: {o:?}");
            assert!(fields[1].contains("203.0.113.10"), "{e:?}: inner destination {text:?}");
            if i != I::None {
                assert_eq!(fields[2], "1", "{e:?} {i:?}: ICV good {text:?}");
            }
            assert_eq!(fields[3] == "4500", nat, "{e:?}: NAT-T {text:?}");
        }
    }
}
