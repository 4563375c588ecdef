use super::http::respond;
use super::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// `show counters --json` as `Shown::counters` in run.rs builds it.
fn counters() -> Value {
    json!({
        "worker": {
            "rx": 1200, "tx": 1180, "tx_dropped": 0, "punted": 31, "punt_dropped": 0, "injected": 29,
            "events_lost": 0, "drops": { "no-route": 7, "auth-failed": 2 },
        },
        "host": {
            "arp_nd_replies_sent": 3, "arp_nd_requests_sent": 2, "neighbors_learned": 2, "echo_replies_sent": 5,
            "held": 1, "hold_dropped": 0, "ignored": 4,
        },
    })
}

/// `show interfaces --json` as `Shown::interfaces` builds it (one port with a name needing escapes).
fn interfaces() -> Value {
    json!({ "interfaces": [
        {
            "name": "outside", "device": "net_af_packet0,iface=veth-out", "driver": "net_af_packet", "port": 0,
            "mac": "02:00:00:00:01:01", "addresses": ["198.51.100.1/24"], "mtu": 1500, "crypto_map": "CM1",
            "link_up": true, "speed_mbps": 10000,
            "rx_packets": 600, "rx_bytes": 90000, "rx_missed": 1, "rx_errors": 0, "rx_nombuf": 0,
            "tx_packets": 590, "tx_bytes": 88000, "tx_errors": 0,
        },
        {
            "name": "in\"side\\x\ny", "device": "0000:03:00.1", "driver": "net_ixgbe", "port": 1,
            "mac": "02:00:00:00:02:01", "addresses": [], "mtu": 9000, "crypto_map": null,
            "link_up": false, "speed_mbps": null,
            "rx_packets": 5, "rx_bytes": 300, "rx_missed": 0, "rx_errors": 0, "rx_nombuf": 0,
            "tx_packets": 6, "tx_bytes": 360, "tx_errors": 0,
        },
    ]})
}

/// `show crypto isakmp sa --json` as `Ike::isakmp_json` builds it.
fn isakmp() -> Value {
    json!({ "isakmp_sas": [{
        "conn_id": 1001, "local": "198.51.100.1", "remote": "198.51.100.2", "local_port": 4500, "remote_port": 4500,
        "state": "QM_IDLE", "status": "ACTIVE", "encryption": "aes", "hash": "sha384", "auth": "psk",
        "dh_group": 14, "lifetime_seconds": 86000, "nat_t": true,
    }]})
}

/// `show crypto ipsec sa --json` from the real producer (`show::ipsec_sa_json`), with traffic and a drop on the
/// inbound SA and a remaining lifetime as IKE's SAs have.
fn ipsec() -> Value {
    use engine::crypto::{EncryptionAlgorithm as E, IntegrityAlgorithm as I};
    use engine::sa::{Mode, SaCounters, SaParams};
    let p = SaParams::new(
        engine::wire::Spi(0xc0ffee01),
        Mode::Transport,
        E::AesCbc128,
        &[7; 16],
        I::HmacSha256_128,
        &[1; 32],
    );
    let out = Arc::new(engine::esp::OutboundSa::new(p).unwrap());
    let inb = Arc::new(SaCounters::default());
    inb.packets.store(3, Relaxed);
    inb.bytes.store(300, Relaxed);
    inb.drops[engine::DropReason::Replay.index()].store(1, Relaxed);
    let ident = crate::show::Ident { addr: "192.0.2.0".parse().unwrap(), len: 24, protocol: 0, port: 0 };
    let view = crate::show::MapView {
        map: "CM1".into(),
        seq: 10,
        interface: "outside".into(),
        local_addr: "198.51.100.1".parse().unwrap(),
        peer: "198.51.100.2".parse().unwrap(),
        local_ident: ident,
        remote_ident: ident,
        transform: crate::show::ios_transform("esp-aes-128", Some("esp-sha256-hmac")),
        mode: "tunnel",
        iv_size: 16,
        path_mtu: 1500,
        plaintext_mtu: 1438,
        replay_window: 1024,
        inbound: Some((0x1000, inb)),
        outbound: Some((0xc0ffee01, out)),
        esp_backends: crate::show::EspBackends::default(),
        remaining: Some((Some(4000), 3500)),
        ah: None,
        pfs: None,
        peer_port: 500,
    };
    crate::show::ipsec_sa_json(&[view], None, 0, 0)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn renders_counters_with_help_type_and_labels() {
    let t = render(&counters(), &ipsec(), &isakmp(), &interfaces());
    let l = lines(&t);
    for want in [
        "# HELP espgate_worker_rx_packets_total Frames the worker received from all ports.",
        "# TYPE espgate_worker_rx_packets_total counter",
        "espgate_worker_rx_packets_total 1200",
        "espgate_worker_punted_total 31",
        "espgate_host_echo_replies_sent_total 5",
        "# TYPE espgate_drops_total counter",
        "espgate_drops_total{reason=\"no-route\"} 7",
        "espgate_drops_total{reason=\"auth-failed\"} 2",
        "espgate_interface_rx_packets_total{interface=\"outside\",port=\"0\"} 600",
        "espgate_interface_rx_missed_total{interface=\"outside\",port=\"0\"} 1",
        "espgate_interface_up{interface=\"outside\",port=\"0\"} 1",
        "espgate_interface_speed_mbps{interface=\"outside\",port=\"0\"} 10000",
        "espgate_interface_info{interface=\"outside\",port=\"0\",device=\"net_af_packet0,iface=veth-out\",driver=\"net_af_packet\",mac=\"02:00:00:00:01:01\",crypto_map=\"CM1\"} 1",
        "espgate_ipsec_sas 2",
        "espgate_ipsec_sa_packets_total{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0x00001000\",direction=\"inbound\"} 3",
        "espgate_ipsec_sa_bytes_total{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0x00001000\",direction=\"inbound\"} 300",
        "espgate_ipsec_sa_packets_total{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0xc0ffee01\",direction=\"outbound\"} 0",
        "espgate_ipsec_sa_drops_total{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0x00001000\",direction=\"inbound\",reason=\"replay\"} 1",
        "espgate_ipsec_sa_remaining_seconds{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0xc0ffee01\",direction=\"outbound\"} 3500",
        "espgate_ipsec_sa_remaining_kilobytes{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0x00001000\",direction=\"inbound\"} 4000",
        "espgate_ipsec_sa_info{crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\",spi=\"0xc0ffee01\",direction=\"outbound\",interface=\"outside\",transform=\"esp-aes esp-sha256-hmac\",mode=\"tunnel\",keying=\"isakmp\",weak=\"false\"} 1",
        "espgate_isakmp_sas 1",
        "espgate_isakmp_sa_remaining_seconds{conn_id=\"1001\",peer=\"198.51.100.2\"} 86000",
        "espgate_isakmp_sa_info{conn_id=\"1001\",peer=\"198.51.100.2\",local=\"198.51.100.1\",peer_port=\"4500\",state=\"QM_IDLE\",status=\"ACTIVE\",encryption=\"aes\",hash=\"sha384\",auth=\"psk\",dh_group=\"14\",nat_t=\"true\"} 1",
    ] {
        assert!(l.contains(&want), "missing line {want:?} in:\n{t}");
    }
    // The link-down port: up is 0, and no speed sample for its null speed.
    assert!(t.contains("espgate_interface_up{interface=\"in\\\"side\\\\x\\ny\",port=\"1\"} 0"), "{t}");
    assert!(!t.contains("espgate_interface_speed_mbps{interface=\"in"), "{t}");
    // No drop reason reported by the SA's outbound direction: no outbound drop series.
    assert!(!t.contains("direction=\"outbound\",reason="), "{t}");
}

#[test]
fn exposition_format_is_well_formed() {
    let t = render(&counters(), &ipsec(), &isakmp(), &interfaces());
    assert!(t.ends_with('\n'));
    let mut families = Vec::new();
    let mut current = String::new();
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(!families.contains(&name), "family {name} appears twice");
            families.push(name.clone());
            current = name;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(name, current);
            assert!(kind == "counter" || kind == "gauge");
            assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
            continue;
        }
        // Samples belong to the family announced last (grouping is required by the format).
        let name = line.split(['{', ' ']).next().unwrap();
        assert_eq!(name, current, "sample outside its family: {line}");
        assert!(name.starts_with("espgate_"));
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        let value = line.rsplit(' ').next().unwrap();
        value.parse::<u64>().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(!line.contains('\n'));
    }
    assert!(families.len() > 20, "{families:?}");
}

#[test]
fn escapes_label_values() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), "x\\ny");
    assert_eq!(escape_label("plain-ÿ"), "plain-ÿ");
    assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
}

#[test]
fn empty_or_malformed_json_gives_counts_of_zero_and_no_panic() {
    let t = render(&Value::Null, &json!({ "sas": "nonsense" }), &json!({ "error": "x" }), &json!([1, 2]));
    assert!(t.lines().any(|l| l == "espgate_ipsec_sas 0"), "{t}");
    assert!(t.lines().any(|l| l == "espgate_isakmp_sas 0"), "{t}");
    assert!(!t.contains("espgate_worker_rx_packets_total "), "{t}");
}

#[test]
fn duplicate_series_are_left_out() {
    let mut ifs = interfaces();
    let first = ifs["interfaces"][0].clone();
    ifs["interfaces"].as_array_mut().unwrap().push(first);
    let t = render(&Value::Null, &Value::Null, &Value::Null, &ifs);
    assert_eq!(t.matches("espgate_interface_rx_packets_total{interface=\"outside\",port=\"0\"}").count(), 1);
}

fn get(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_the_published_text_over_http() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let text = render(&counters(), &ipsec(), &isakmp(), &interfaces());
    e.publish(text.clone());
    let r = get(e.local_addr(), b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", text.len())), "{head}");
    assert_eq!(body, text);
    // A new publish is what the next scrape sees; the query string is ignored.
    e.publish("espgate_isakmp_sas 0\n".into());
    let r = get(e.local_addr(), b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(r.ends_with("\r\n\r\nespgate_isakmp_sas 0\n"), "{r}");
}

#[test]
fn other_paths_methods_and_garbage() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap()).unwrap();
    e.publish("x 1\n".into());
    let a = e.local_addr();
    assert!(get(a, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(get(a, b"GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    let post = get(a, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"), "{post}");
    assert!(get(a, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").starts_with("HTTP/1.1 400 "));
    assert!(get(a, b"GET /metrics\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let head = get(a, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 ") && head.ends_with("\r\n\r\n"), "{head}");
    // An endless header is cut off at the size bound: 431, or a reset if the server closed while we still wrote.
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX: ");
    let _ = s.write_all(&[b'a'; 20_000]);
    let mut out = Vec::new();
    if s.read_to_end(&mut out).is_ok() && !out.is_empty() {
        assert!(out.starts_with(b"HTTP/1.1 431 "), "{}", String::from_utf8_lossy(&out));
    }
    // A client that connects and says nothing, or half a request, is closed; the server still answers others.
    let idle = TcpStream::connect(a).unwrap();
    let mut half = TcpStream::connect(a).unwrap();
    half.write_all(b"GET /met").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    half.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    half.read_to_end(&mut out).unwrap();
    assert!(out.is_empty());
    assert!(get(a, b"GET /metrics HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nx 1\n"));
    drop(idle);
}

#[test]
fn responses_for_request_heads() {
    let ok = String::from_utf8(respond(b"GET /metrics HTTP/1.1\r\n\r\n", "a 1\n")).unwrap();
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("Connection: close\r\n\r\na 1\n"), "{ok}");
    for bad in [
        &b""[..],
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET  /metrics HTTP/1.1\r\n",
        b"get /metrics HTTP/1.1\r\n",
        b"GET metrics HTTP/1.1\r\n",
        b"GET /metrics HTTP/2\r\n",
        b"GET /metrics HTTP/1.1 x\r\n",
        b"\xff\xfe /metrics HTTP/1.1\r\n",
    ] {
        let r = respond(bad, "a 1\n");
        assert!(
            r.starts_with(b"HTTP/1.1 400 "),
            "{:?} -> {}",
            String::from_utf8_lossy(bad),
            String::from_utf8_lossy(&r)
        );
    }
}

#[test]
fn a_taken_port_is_an_error() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let err = Exporter::start(e.local_addr()).err().expect("the port is taken");
    assert!(format!("{err:#}").contains("metrics: bind"), "{err:#}");
}

/// The four answers of a real daemon (gateway A of `deploy/demo-gateways.sh --ike`; tests/data/metrics/README.md).
#[test]
fn renders_what_a_running_daemon_answered() {
    let v: Value = serde_json::from_str(include_str!("../../tests/data/metrics/demo-ike-gwa.json")).unwrap();
    let t = render(&v["counters"], &v["ipsec"], &v["isakmp"], &v["interfaces"]);
    let sa = "crypto_map=\"CM1\",seq=\"10\",peer=\"198.51.100.2\"";
    for want in [
        "espgate_worker_rx_packets_total 20".to_string(),
        "espgate_host_neighbors_learned_total 2".into(),
        "espgate_interface_tx_packets_total{interface=\"outside\",port=\"1\"} 11".into(),
        "espgate_interface_up{interface=\"inside\",port=\"0\"} 1".into(),
        format!("espgate_ipsec_sa_packets_total{{{sa},spi=\"0xa32bf729\",direction=\"inbound\"}} 5"),
        format!("espgate_ipsec_sa_bytes_total{{{sa},spi=\"0xa32bf729\",direction=\"inbound\"}} 780"),
        format!("espgate_ipsec_sa_packets_total{{{sa},spi=\"0xfaa9f83b\",direction=\"outbound\"}} 5"),
        format!("espgate_ipsec_sa_remaining_kilobytes{{{sa},spi=\"0xfaa9f83b\",direction=\"outbound\"}} 4607999"),
        "espgate_ipsec_sas 2".into(),
        "espgate_isakmp_sas 1".into(),
        "espgate_isakmp_sa_remaining_seconds{conn_id=\"1001\",peer=\"198.51.100.2\"} 86397".into(),
    ] {
        assert!(t.lines().any(|l| l == want), "missing line {want:?} in:\n{t}");
    }
    // No drops happened: the drop families are announced but have no samples.
    assert!(t.contains("# TYPE espgate_drops_total counter\n# HELP "), "{t}");
}

#[test]
fn a_silent_client_is_cut_off_and_connections_are_bounded() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap()).unwrap();
    e.publish("x 1\n".into());
    let a = e.local_addr();
    // Eight clients that send half a request head and then nothing hold every connection slot...
    let started = std::time::Instant::now();
    let mut slow: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(a).unwrap()).collect();
    for s in &mut slow {
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    }
    // ...so a ninth is closed unanswered at once.
    std::thread::sleep(Duration::from_millis(300));
    let mut ninth = TcpStream::connect(a).unwrap();
    ninth.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = ninth.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
    let mut out = Vec::new();
    let _ = ninth.read_to_end(&mut out);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    // The slow ones are closed, unanswered, when their time for the request head is up.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.is_empty());
    }
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(8), "{waited:?}");
    // Their slots are free again.
    std::thread::sleep(Duration::from_millis(200));
    assert!(get(a, b"GET /metrics HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nx 1\n"));
}
