//! `show` commands: the daemon builds JSON from its state; the CLI prints it as is (`--json`) or in the layout of
//! Cisco IOS's own commands, so operators and IOS output parsers read it without learning anything new.
use engine::sa::SaCounters;
use engine::DropReason;
use serde_json::{json, Value};
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

/// What `show crypto ipsec sa` needs of one crypto map entry.
#[derive(Clone)]
pub struct MapView {
    pub map: String,
    pub seq: u32,
    pub interface: String,
    pub local_addr: IpAddr,
    pub peer: IpAddr,
    pub local_ident: Ident,
    pub remote_ident: Ident,
    pub transform: String,
    pub mode: &'static str,
    pub iv_size: usize,
    pub path_mtu: u16,
    pub plaintext_mtu: usize,
    pub replay_window: u32,
    pub inbound: Option<(u32, Arc<SaCounters>)>,
    pub outbound: Option<(u32, Arc<engine::esp::OutboundSa>)>,
    /// The crypto backend each ESP SA got when it was built.
    pub esp_backends: EspBackends,
    /// Remaining lifetime of a negotiated SA: (kilobytes if limited, seconds). `None` for manual keys.
    pub remaining: Option<(Option<u64>, u64)>,
    /// AH of the pair (alone, or over ESP in a bundle).
    pub ah: Option<AhView>,
    /// The PFS group of the crypto map entry, if any.
    pub pfs: Option<u16>,
    /// The peer's UDP port for IKE and ESP: 4500 with NAT-T.
    pub peer_port: u16,
}

/// Which backend runs each ESP SA's crypto, as it was built: `cpu`, `cryptodev crypto_aesni_mb0 (cpu-crypto)`,
/// `cpu (auto)`, ... (see `run::crypto`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EspBackends {
    pub inbound: String,
    pub outbound: String,
}

/// The AH SAs of a pair.
#[derive(Clone)]
pub struct AhView {
    pub inbound: (u32, Arc<SaCounters>),
    pub outbound: (u32, Arc<engine::ah::OutboundAh>),
    pub transform: String,
}

/// A proxy identity as IOS prints it: (addr/mask/prot/port).
#[derive(Clone, Copy)]
pub struct Ident {
    pub addr: IpAddr,
    pub len: u8,
    pub protocol: u8,
    pub port: u16,
}

impl Ident {
    fn ios(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.len.min(32))) };
                format!("{a}/{}/{}/{}", std::net::Ipv4Addr::from(mask), self.protocol, self.port)
            }
            IpAddr::V6(a) => format!("{}/{}/{}/{}", a.to_string().to_uppercase(), self.len, self.protocol, self.port),
        }
    }
}

/// IOS's names for ESP transforms (`esp-256-aes`, `esp-gcm 256`); names IOS lacks stay as espgate spells them.
pub fn ios_transform(enc: &str, integ: Option<&str>) -> String {
    let e = match enc {
        "esp-aes-128" => "esp-aes".to_string(),
        "esp-aes-192" => "esp-192-aes".to_string(),
        "esp-aes-256" => "esp-256-aes".to_string(),
        "esp-gcm-128" => "esp-gcm".to_string(),
        "esp-gcm-192" => "esp-gcm 192".to_string(),
        "esp-gcm-256" => "esp-gcm 256".to_string(),
        other => other.to_string(),
    };
    match integ {
        Some(i) => format!("{e} {i} "),
        None => format!("{e} "),
    }
}

fn drops(c: &SaCounters, reasons: &[DropReason]) -> u64 {
    let s = c.snapshot();
    reasons.iter().map(|r| s.drop_count(*r)).sum()
}

pub fn ipsec_sa_json(maps: &[MapView], peer: Option<IpAddr>, no_sa_send: u64, invalid_sa_rcv: u64) -> Value {
    let entries: Vec<Value> = maps
        .iter()
        .filter(|m| peer.is_none_or(|p| p == m.peer))
        .map(|m| {
            // The outermost protocol counts the pair's packets: ESP, or AH alone.
            let ah_out = m.ah.as_ref().map(|a| a.outbound.1.counters());
            let ah_in = m.ah.as_ref().map(|a| a.inbound.1.as_ref());
            let out_c = m.outbound.as_ref().map(|(_, sa)| sa.counters()).or(ah_out);
            let in_c = m.inbound.as_ref().map(|(_, c)| c.as_ref()).or(ah_in);
            let out = out_c.map(|c| c.snapshot()).unwrap_or_default();
            let inb = in_c.map(|c| c.snapshot()).unwrap_or_default();
            let od = |r: &[DropReason]| out_c.map_or(0, |c| drops(c, r));
            let id = |r: &[DropReason]| in_c.map_or(0, |c| drops(c, r));
            use DropReason as D;
            json!({
                "interface": m.interface, "crypto_map": m.map, "seq": m.seq,
                "local_addr": m.local_addr.to_string(), "current_peer": m.peer.to_string(), "peer_port": m.peer_port,
                "local_ident": m.local_ident.ios(), "remote_ident": m.remote_ident.ios(),
                "pkts_encaps": out.packets, "pkts_encrypt": out.packets, "pkts_digest": out.packets,
                "pkts_decaps": inb.packets, "pkts_decrypt": inb.packets, "pkts_verify": inb.packets,
                "bytes_encaps": out.bytes, "bytes_decaps": inb.bytes,
                "send_errors": out.total_drops(), "recv_errors": inb.total_drops(),
                "errors": {
                    "no_sa_send": no_sa_send, "invalid_sa_rcv": invalid_sa_rcv,
                    "encaps_failed_send": out.total_drops(),
                    "decaps_failed_rcv": inb.total_drops(),
                    "invalid_prot_rcv": id(&[D::BadNextHeader, D::NotEsp]),
                    "verify_failed": id(&[D::AuthFailed]),
                    "invalid_identity_rcv": id(&[D::PolicyMismatch]),
                    "invalid_len_rcv": id(&[D::BadLength, D::Malformed, D::BadPadding]),
                    "replay_rollover_send": od(&[D::SeqOverflow]),
                    "replay_failed_rcv": id(&[D::Replay, D::TooOld]),
                    "internal_err_send": od(&[D::NoRoom, D::Mtu]),
                    "internal_err_rcv": id(&[D::NoRoom]),
                    "by_reason_rcv": DropReason::ALL.iter().filter(|r| inb.drop_count(**r) > 0)
                        .map(|r| (r.name().to_string(), json!(inb.drop_count(*r)))).collect::<serde_json::Map<_, _>>(),
                    "by_reason_send": DropReason::ALL.iter().filter(|r| out.drop_count(**r) > 0)
                        .map(|r| (r.name().to_string(), json!(out.drop_count(*r)))).collect::<serde_json::Map<_, _>>(),
                },
                "local_crypto_endpt": m.local_addr.to_string(), "remote_crypto_endpt": m.peer.to_string(),
                "plaintext_mtu": m.plaintext_mtu, "path_mtu": m.path_mtu,
                "current_outbound_spi": m.outbound.as_ref().map(|(s, _)| *s).or(m.ah.as_ref().map(|a| a.outbound.0)),
                "pfs": m.pfs.is_some(), "dh_group": m.pfs,
                "inbound_esp_sas": m.inbound.as_ref()
                    .map(|(spi, _)| vec![sa_json(*spi, m, &m.esp_backends.inbound)]).unwrap_or_default(),
                "outbound_esp_sas": m.outbound.as_ref()
                    .map(|(spi, _)| vec![sa_json(*spi, m, &m.esp_backends.outbound)]).unwrap_or_default(),
                "inbound_ah_sas": m.ah.as_ref().map(|a| vec![ah_json(a.inbound.0, a, m)]).unwrap_or_default(),
                "outbound_ah_sas": m.ah.as_ref().map(|a| vec![ah_json(a.outbound.0, a, m)]).unwrap_or_default(),
                "keying": if m.remaining.is_some() { "isakmp" } else { "manual" },
            })
        })
        .collect();
    json!({ "sas": entries })
}

fn sa_json(spi: u32, m: &MapView, backend: &str) -> Value {
    let weak = m.outbound.as_ref().is_some_and(|(_, sa)| {
        let p = sa.params();
        p.encryption.is_weak() || p.integrity == engine::crypto::IntegrityAlgorithm::HmacMd5_96
    });
    let mut e = sa_entry(spi, weak, &m.transform, m.iv_size, m);
    // Which backend runs this SA's crypto: `cpu`, or e.g. `cryptodev crypto_aesni_mb0 (cpu-crypto)`.
    e["crypto_backend"] = json!(backend);
    e
}

fn ah_json(spi: u32, a: &AhView, m: &MapView) -> Value {
    let weak = a.outbound.1.params().integrity == engine::crypto::IntegrityAlgorithm::HmacMd5_96;
    sa_entry(spi, weak, &a.transform, 0, m)
}

/// One SA of a `show crypto ipsec sa` entry, ESP or AH.
fn sa_entry(spi: u32, weak: bool, transform: &str, iv_size: usize, m: &MapView) -> Value {
    json!({
        "weak": weak,
        "spi": spi, "transform": transform, "mode": m.mode, "crypto_map": m.map,
        // Manually keyed SAs have no lifetime (null).
        "remaining_kilobytes": m.remaining.and_then(|r| r.0), "remaining_seconds": m.remaining.map(|r| r.1),
        "iv_size": iv_size, "replay_detection": true, "replay_window": m.replay_window, "status": "ACTIVE",
    })
}

/// `show crypto ipsec sa [detail]` in IOS's layout.
pub fn render_ipsec_sa(v: &Value, detail: bool) -> String {
    let mut o = String::new();
    let n = |x: &Value| x.as_u64().unwrap_or(0);
    let s = |x: &Value| x.as_str().unwrap_or("").to_string();
    let mut last_if = String::new();
    for e in v["sas"].as_array().into_iter().flatten() {
        if s(&e["interface"]) != last_if {
            last_if = s(&e["interface"]);
            let _ = writeln!(o, "\ninterface: {last_if}");
        }
        let _ = writeln!(o, "    Crypto map tag: {}, local addr {}\n", s(&e["crypto_map"]), s(&e["local_addr"]));
        let _ = writeln!(o, "   protected vrf: (none)");
        let _ = writeln!(o, "   local  ident (addr/mask/prot/port): ({})", s(&e["local_ident"]));
        let _ = writeln!(o, "   remote ident (addr/mask/prot/port): ({})", s(&e["remote_ident"]));
        let _ = writeln!(o, "   current_peer {} port {}", s(&e["current_peer"]), n(&e["peer_port"]));
        let _ = writeln!(o, "     PERMIT, flags={{origin_is_acl,}}");
        let _ = writeln!(
            o,
            "    #pkts encaps: {}, #pkts encrypt: {}, #pkts digest: {}",
            n(&e["pkts_encaps"]),
            n(&e["pkts_encrypt"]),
            n(&e["pkts_digest"])
        );
        let _ = writeln!(
            o,
            "    #pkts decaps: {}, #pkts decrypt: {}, #pkts verify: {}",
            n(&e["pkts_decaps"]),
            n(&e["pkts_decrypt"]),
            n(&e["pkts_verify"])
        );
        let _ = writeln!(o, "    #pkts compressed: 0, #pkts decompressed: 0");
        let _ = writeln!(o, "    #pkts not compressed: 0, #pkts compr. failed: 0");
        let _ = writeln!(o, "    #pkts not decompressed: 0, #pkts decompress failed: 0");
        if detail {
            let x = &e["errors"];
            let _ = writeln!(
                o,
                "    #pkts no sa (send) {}, #pkts invalid sa (rcv) {}",
                n(&x["no_sa_send"]),
                n(&x["invalid_sa_rcv"])
            );
            let _ = writeln!(
                o,
                "    #pkts encaps failed (send) {}, #pkts decaps failed (rcv) {}",
                n(&x["encaps_failed_send"]),
                n(&x["decaps_failed_rcv"])
            );
            let _ = writeln!(
                o,
                "    #pkts invalid prot (recv) {}, #pkts verify failed: {}",
                n(&x["invalid_prot_rcv"]),
                n(&x["verify_failed"])
            );
            let _ = writeln!(
                o,
                "    #pkts invalid identity (recv) {}, #pkts invalid len (rcv) {}",
                n(&x["invalid_identity_rcv"]),
                n(&x["invalid_len_rcv"])
            );
            let _ = writeln!(
                o,
                "    #pkts replay rollover (send): {}, #pkts replay rollover (rcv) 0",
                n(&x["replay_rollover_send"])
            );
            let _ = writeln!(o, "    ##pkts replay failed (rcv): {}", n(&x["replay_failed_rcv"]));
            let _ = writeln!(o, "    #pkts tagged (send): 0, #pkts untagged (rcv): 0");
            let _ = writeln!(o, "    #pkts not tagged (send): 0, #pkts not untagged (rcv): 0");
            let _ = writeln!(
                o,
                "    #pkts internal err (send): {}, #pkts internal err (recv) {}",
                n(&x["internal_err_send"]),
                n(&x["internal_err_rcv"])
            );
        } else {
            let _ = writeln!(o, "    #send errors {}, #recv errors {}", n(&e["send_errors"]), n(&e["recv_errors"]));
        }
        let _ = writeln!(
            o,
            "\n     local crypto endpt.: {}, remote crypto endpt.: {}",
            s(&e["local_crypto_endpt"]),
            s(&e["remote_crypto_endpt"])
        );
        let _ = writeln!(
            o,
            "     plaintext mtu {}, path mtu {}, ip mtu {}, ip mtu idb {}",
            n(&e["plaintext_mtu"]),
            n(&e["path_mtu"]),
            n(&e["path_mtu"]),
            last_if
        );
        let spi = |x: &Value| x.as_u64().map_or("0x0(0)".to_string(), |v| format!("0x{v:X}({v})"));
        let _ = writeln!(o, "     current outbound spi: {}", spi(&e["current_outbound_spi"]));
        match e["dh_group"].as_u64() {
            Some(g) => writeln!(o, "     PFS (Y/N): Y, DH group: group{g}"),
            None => writeln!(o, "     PFS (Y/N): N, DH group: none"),
        }
        .ok();
        for (title, proto) in [("inbound", "esp"), ("inbound", "ah"), ("outbound", "esp"), ("outbound", "ah")] {
            let _ = writeln!(o, "\n     {title} {proto} sas:");
            for sa in e[format!("{title}_{proto}_sas")].as_array().into_iter().flatten() {
                let _ = writeln!(o, "      spi: {}", spi(&sa["spi"]));
                // Legacy algorithms (DES, 3DES, MD5) are allowed but flagged, here and in the logs at start.
                let weak = if sa["weak"].as_bool() == Some(true) { " (weak)" } else { "" };
                let _ = writeln!(o, "        transform: {},{weak}", s(&sa["transform"]));
                let mode = if s(&sa["mode"]) == "tunnel" { "Tunnel" } else { "Transport" };
                let _ = writeln!(o, "        in use settings ={{{mode}, }}");
                let _ = writeln!(o, "        crypto map: {}", s(&sa["crypto_map"]));
                match (sa["remaining_kilobytes"].as_u64(), sa["remaining_seconds"].as_u64()) {
                    (kb, Some(secs)) => {
                        let kb = kb.map_or("-".to_string(), |k| k.to_string());
                        let _ = writeln!(o, "        sa timing: remaining key lifetime (k/sec): ({kb}/{secs})");
                    }
                    _ => {
                        let _ = writeln!(o, "        sa timing: remaining key lifetime (k/sec): (manual keys: none)");
                    }
                }
                if proto == "esp" {
                    let _ = writeln!(o, "        IV size: {} bytes", n(&sa["iv_size"]));
                    let _ = writeln!(o, "        crypto backend: {}", s(&sa["crypto_backend"]));
                }
                let _ = writeln!(o, "        replay detection support: Y");
                let _ = writeln!(o, "        Status: {}({})", s(&sa["status"]), s(&sa["status"]));
            }
            if proto == "ah" {
                let _ = writeln!(o, "\n     {title} pcp sas:");
            }
        }
    }
    o
}

/// IOS's short names in `show crypto isakmp sa detail`.
pub fn ios_isakmp_cipher(c: control::crypto::IkeCipher) -> &'static str {
    use control::crypto::IkeCipher as C;
    match c {
        C::DesCbc => "des",
        C::TripleDesCbc => "3des",
        C::Aes128Cbc | C::Aes192Cbc | C::Aes256Cbc => "aes",
    }
}

pub fn ios_isakmp_hash(h: control::isakmp::HashAlgorithm) -> &'static str {
    use control::isakmp::HashAlgorithm as H;
    match h {
        H::MD5 => "md5",
        H::SHA1 => "sha",
        H::SHA2_256 => "sha256",
        H::SHA2_384 => "sha384",
        H::SHA2_512 => "sha512",
        _ => "?",
    }
}

/// `show crypto isakmp sa [detail]` in IOS's layout.
pub fn render_isakmp_sa(v: &Value, detail: bool) -> String {
    let mut o = String::new();
    let sas = v["isakmp_sas"].as_array().cloned().unwrap_or_default();
    let s = |x: &Value| x.as_str().unwrap_or("").to_string();
    if detail {
        o += "Codes: C - IKE configuration mode, D - Dead Peer Detection\n";
        o += "       K - Keepalives, N - NAT-traversal\n";
        o += "       T - cTCP encapsulation, X - IKE Extended Authentication\n";
        o += "       psk - Preshared key, rsig - RSA signature\n";
        o += "       renc - RSA encryption\n";
        o += "IPv4 Crypto ISAKMP SA\n\n";
        o += "C-id  Local           Remote          I-VRF  Status Encr Hash   Auth DH Lifetime Cap.\n\n";
        for e in &sas {
            let secs = e["lifetime_seconds"].as_u64().unwrap_or(0);
            let _ = writeln!(
                o,
                "{:<5} {:<15} {:<15}        {:<6} {:<4} {:<6} {:<4} {:<2} {:02}:{:02}:{:02} {}",
                e["conn_id"],
                s(&e["local"]),
                s(&e["remote"]),
                s(&e["status"]),
                s(&e["encryption"]),
                s(&e["hash"]),
                s(&e["auth"]),
                e["dh_group"],
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                if e["nat_t"].as_bool() == Some(true) { "N" } else { "" }
            );
            let _ = writeln!(o, "       Engine-id:Conn-id =  SW:{}\n", e["conn_id"]);
        }
    } else {
        o += "IPv4 Crypto ISAKMP SA\n";
        o += "dst             src             state          conn-id status\n";
        for e in &sas {
            let _ = writeln!(
                o,
                "{:<15} {:<15} {:<14} {:>7} {}",
                s(&e["remote"]),
                s(&e["local"]),
                s(&e["state"]),
                e["conn_id"],
                s(&e["status"])
            );
        }
    }
    o
}

/// `show interfaces`.
pub fn render_interfaces(v: &Value) -> String {
    let mut o = String::new();
    for i in v["interfaces"].as_array().into_iter().flatten() {
        let st = |k: &str| i[k].as_u64().unwrap_or(0);
        let _ = writeln!(
            o,
            "{} is {}, line protocol is {}\n  Hardware is DPDK {} ({}), address is {}\n  Internet address is {}\n  MTU {} bytes, crypto map {}\n     {} packets input, {} bytes, {} no buffer\n     {} input errors, {} missed\n     {} packets output, {} bytes, {} output errors",
            i["name"].as_str().unwrap_or(""),
            if i["link_up"].as_bool() == Some(true) { "up" } else { "down" },
            if i["link_up"].as_bool() == Some(true) { "up" } else { "down" },
            i["driver"].as_str().unwrap_or(""),
            i["device"].as_str().unwrap_or(""),
            i["mac"].as_str().unwrap_or(""),
            i["addresses"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
            st("mtu"),
            i["crypto_map"].as_str().unwrap_or("(none)"),
            st("rx_packets"),
            st("rx_bytes"),
            st("rx_nombuf"),
            st("rx_errors"),
            st("rx_missed"),
            st("tx_packets"),
            st("tx_bytes"),
            st("tx_errors"),
        );
    }
    o
}

/// `show counters`: the worker's packet counters and drops by reason.
pub fn render_counters(v: &Value) -> String {
    let mut o = String::new();
    for (k, val) in v["worker"].as_object().into_iter().flatten() {
        if k != "drops" {
            let _ = writeln!(o, "{k:<24} {}", val);
        }
    }
    let _ = writeln!(o, "drops:");
    for (k, val) in v["worker"]["drops"].as_object().into_iter().flatten() {
        let _ = writeln!(o, "  {k:<30} {}", val);
    }
    for (k, val) in v["host"].as_object().into_iter().flatten() {
        let _ = writeln!(o, "{k:<24} {}", val);
    }
    let workers = v["workers"].as_array().map_or(&[][..], |w| w.as_slice());
    if workers.len() > 1 {
        let _ = writeln!(o, "per worker:        rx           tx   handed-off      dropped");
        for (i, w) in workers.iter().enumerate() {
            let dropped: u64 = w["drops"].as_object().into_iter().flatten().filter_map(|(_, n)| n.as_u64()).sum();
            let n = |k: &str| w[k].as_u64().unwrap_or(0);
            let _ = writeln!(o, "  {i:<4} {:>12} {:>12} {:>12} {:>12}", n("rx"), n("tx"), n("handed_off"), dropped);
        }
    }
    for (section, val) in [("ike sa manager", &v["ike"]["sa_manager"]), ("ike endpoint", &v["ike"]["endpoint"])] {
        if let Some(m) = val.as_object() {
            let _ = writeln!(o, "{section}:");
            for (k, n) in m {
                let _ = writeln!(o, "  {k:<30} {n}");
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_and_transforms_as_ios_prints_them() {
        let i = Ident { addr: "192.0.2.0".parse().unwrap(), len: 24, protocol: 0, port: 0 };
        assert_eq!(i.ios(), "192.0.2.0/255.255.255.0/0/0");
        let h = Ident { addr: "203.0.113.9".parse().unwrap(), len: 32, protocol: 17, port: 500 };
        assert_eq!(h.ios(), "203.0.113.9/255.255.255.255/17/500");
        let v6 = Ident { addr: "2001:db8::".parse().unwrap(), len: 32, protocol: 0, port: 0 };
        assert_eq!(v6.ios(), "2001:DB8::/32/0/0");
        assert_eq!(ios_transform("esp-aes-256", Some("esp-sha256-hmac")), "esp-256-aes esp-sha256-hmac ");
        assert_eq!(ios_transform("esp-gcm-256", None), "esp-gcm 256 ");
    }

    #[test]
    fn weak_algorithms_are_flagged() {
        use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
        use engine::sa::{Mode, SaParams};
        let view = |e: E, ek: &[u8], i: I, ik: &[u8]| {
            let p = SaParams::new(engine::wire::Spi(4096), Mode::Transport, e, ek, i, ik);
            let sa = Arc::new(engine::esp::OutboundSa::new(p).unwrap());
            let ident = Ident { addr: "192.0.2.0".parse().unwrap(), len: 24, protocol: 0, port: 0 };
            MapView {
                map: "CM1".into(),
                seq: 10,
                interface: "outside".into(),
                local_addr: "198.51.100.1".parse().unwrap(),
                peer: "198.51.100.2".parse().unwrap(),
                local_ident: ident,
                remote_ident: ident,
                transform: "t".into(),
                mode: "transport",
                iv_size: 8,
                path_mtu: 1500,
                plaintext_mtu: 1400,
                replay_window: 1024,
                inbound: Some((8192, Arc::default())),
                outbound: Some((4096, sa)),
                esp_backends: EspBackends {
                    inbound: "cpu".into(),
                    outbound: "cryptodev crypto_aesni_mb0 (cpu-crypto) (auto)".into(),
                },
                remaining: None,
                ah: None,
                pfs: None,
                peer_port: 500,
            }
        };
        let des = view(E::DesCbc, &[7; 8], I::HmacSha1_96, &[1; 20]);
        let aes = view(E::AesCbc128, &[7; 16], I::HmacSha256_128, &[1; 32]);
        let v = ipsec_sa_json(&[des, aes], None, 0, 0);
        assert_eq!(v["sas"][0]["outbound_esp_sas"][0]["weak"], true);
        assert_eq!(v["sas"][1]["outbound_esp_sas"][0]["weak"], false);
        let text = render_ipsec_sa(&v, false);
        assert_eq!(text.matches(" (weak)").count(), 2, "inbound and outbound of the DES entry:\n{text}");
        // Each SA says the backend it was built on (the two directions of a pair may differ).
        assert_eq!(v["sas"][0]["inbound_esp_sas"][0]["crypto_backend"], "cpu");
        assert_eq!(
            v["sas"][0]["outbound_esp_sas"][0]["crypto_backend"],
            "cryptodev crypto_aesni_mb0 (cpu-crypto) (auto)"
        );
        assert_eq!(text.matches("crypto backend: cpu\n").count(), 2, "{text}");
        assert_eq!(
            text.matches("crypto backend: cryptodev crypto_aesni_mb0 (cpu-crypto) (auto)\n").count(),
            2,
            "{text}"
        );
    }

    #[test]
    fn ah_sas_pfs_and_nat_t_port_are_shown() {
        use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
        use engine::sa::{Mode, SaParams};
        let tunnel = Mode::Tunnel { local: "198.51.100.1".parse().unwrap(), remote: "198.51.100.2".parse().unwrap() };
        let p = SaParams::new(engine::wire::Spi(0x3000), tunnel, E::Null, &[], I::HmacSha256_128, &[2; 32]);
        let ah = Arc::new(engine::ah::OutboundAh::new(p).unwrap());
        let ident = Ident { addr: "192.0.2.0".parse().unwrap(), len: 24, protocol: 0, port: 0 };
        let view = MapView {
            map: "CM1".into(),
            seq: 10,
            interface: "outside".into(),
            local_addr: "198.51.100.1".parse().unwrap(),
            peer: "198.51.100.2".parse().unwrap(),
            local_ident: ident,
            remote_ident: ident,
            transform: String::new(),
            mode: "tunnel",
            iv_size: 0,
            path_mtu: 1500,
            plaintext_mtu: 1400,
            replay_window: 1024,
            inbound: None,
            outbound: None,
            esp_backends: EspBackends::default(),
            remaining: Some((None, 3000)),
            ah: Some(AhView {
                inbound: (0x4000, Arc::default()),
                outbound: (0x3000, ah),
                transform: "ah-sha256-hmac ".into(),
            }),
            pfs: Some(14),
            peer_port: 4500,
        };
        let v = ipsec_sa_json(&[view], None, 0, 0);
        let e = &v["sas"][0];
        assert_eq!(e["inbound_ah_sas"][0]["spi"], 0x4000);
        assert_eq!(e["outbound_ah_sas"][0]["spi"], 0x3000);
        assert_eq!(e["current_outbound_spi"], 0x3000);
        assert_eq!(
            (e["pfs"].clone(), e["dh_group"].clone(), e["peer_port"].clone()),
            (json!(true), json!(14), json!(4500))
        );
        let text = render_ipsec_sa(&v, false);
        assert!(text.contains("current_peer 198.51.100.2 port 4500"), "{text}");
        assert!(text.contains("PFS (Y/N): Y, DH group: group14"), "{text}");
        let inbound_ah = text.split("inbound ah sas:").nth(1).unwrap();
        assert!(inbound_ah.trim_start().starts_with("spi: 0x4000(16384)"), "{text}");
        assert!(text.contains("transform: ah-sha256-hmac ,"), "{text}");
        assert!(text.split("outbound ah sas:").nth(1).unwrap().trim_start().starts_with("spi: 0x3000(12288)"));
        // The IOS section order: esp, ah, pcp, inbound then outbound.
        let order: Vec<usize> = [
            "inbound esp sas:",
            "inbound ah sas:",
            "inbound pcp sas:",
            "outbound esp sas:",
            "outbound ah sas:",
            "outbound pcp sas:",
        ]
        .iter()
        .map(|h| text.find(h).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn counters_show_each_worker_and_ike() {
        let v = json!({
            "worker": { "rx": 10, "tx": 9, "drops": { "replay": 1 } },
            "workers": [
                { "rx": 6, "tx": 5, "handed_off": 2, "drops": { "replay": 1 } },
                { "rx": 4, "tx": 4, "handed_off": 0, "drops": {} },
            ],
            "host": { "held": 0 },
            "ike": { "sa_manager": { "acquires": 3 }, "endpoint": { "rate_limited": 7 } },
        });
        let t = render_counters(&v);
        assert!(t.contains("  replay"), "{t}");
        let rows: Vec<&str> = t.lines().skip_while(|l| !l.starts_with("per worker")).skip(1).take(2).collect();
        assert_eq!(rows[0].split_whitespace().collect::<Vec<_>>(), ["0", "6", "5", "2", "1"], "{t}");
        assert_eq!(rows[1].split_whitespace().collect::<Vec<_>>(), ["1", "4", "4", "0", "0"], "{t}");
        assert!(t.contains("acquires") && t.contains("rate_limited"), "{t}");
        // One worker: no per-worker table.
        let one = json!({ "worker": { "rx": 1 }, "workers": [{ "rx": 1 }], "host": {} });
        assert!(!render_counters(&one).contains("per worker"));
    }
}
