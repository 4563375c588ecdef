//! Prometheus metrics: the daemon's `show ... --json` answers rendered as text exposition format 0.0.4, served over
//! HTTP by [`Exporter`] (`[metrics] listen`). The endpoint is unauthenticated: bind it to loopback or a management
//! network (check-config warns otherwise).
//!
//! Rendering reads the same JSON the CLI prints, so the metrics cannot disagree with `show`, and the daemon only has
//! to call [`render`] about once a second and hand the text to [`Exporter::publish`].
mod http;

pub use http::Exporter;

use serde_json::Value;
use std::collections::HashSet;
use std::fmt::Write;

/// The text exposition format's content type (what Prometheus expects from a 0.0.4 endpoint).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the answers of `show counters`, `show crypto ipsec sa`, `show crypto isakmp sa` and `show interfaces`
/// (their `--json` form) as Prometheus text. Missing or malformed parts give no samples, never a panic.
pub fn render(counters: &Value, ipsec: &Value, isakmp: &Value, interfaces: &Value) -> String {
    let mut m = Families::default();
    m.family("espgate_build_info", "espgate version (always 1).", Kind::Gauge)
        .sample(&[("version", env!("CARGO_PKG_VERSION").into())], 1);
    worker(&mut m, counters);
    self::interfaces(&mut m, interfaces);
    ipsec_sas(&mut m, ipsec);
    isakmp_sas(&mut m, isakmp);
    m.text()
}

/// `show counters`: worker packet counters, drops by reason, and the control thread's ARP/ND/ping counters.
fn worker(m: &mut Families, v: &Value) {
    const WORKER: &[(&str, &str, &str)] = &[
        ("rx", "espgate_worker_rx_packets_total", "Frames the worker received from all ports."),
        ("tx", "espgate_worker_tx_packets_total", "Frames the worker sent on all ports."),
        ("tx_dropped", "espgate_worker_tx_dropped_total", "Frames a full tx queue refused."),
        ("punted", "espgate_worker_punted_total", "Frames handed to the control thread (IKE, ARP/ND, ping)."),
        ("punt_dropped", "espgate_worker_punt_dropped_total", "Frames lost because the punt ring was full."),
        ("injected", "espgate_worker_injected_total", "Frames the control thread sent through the worker."),
        ("events_lost", "espgate_worker_events_lost_total", "SA events lost because the event ring was full."),
    ];
    const HOST: &[(&str, &str, &str)] = &[
        (
            "arp_nd_replies_sent",
            "espgate_host_arp_nd_replies_sent_total",
            "ARP replies and Neighbor Advertisements sent.",
        ),
        (
            "arp_nd_requests_sent",
            "espgate_host_arp_nd_requests_sent_total",
            "ARP requests and Neighbor Solicitations sent.",
        ),
        ("neighbors_learned", "espgate_host_neighbors_learned_total", "Neighbor entries learned by ARP/ND."),
        (
            "neighbors_refused",
            "espgate_host_neighbors_refused_total",
            "Neighbors not learned because the table was full of learned entries.",
        ),
        ("echo_replies_sent", "espgate_host_echo_replies_sent_total", "ICMP/ICMPv6 echo replies sent."),
        ("held", "espgate_host_held_total", "Packets held while their next hop was resolved."),
        (
            "hold_dropped",
            "espgate_host_hold_dropped_total",
            "Held packets dropped (queue full, too many next hops resolving, or never resolved).",
        ),
        ("ignored", "espgate_host_ignored_total", "Punted frames the control thread did not handle."),
    ];
    for (section, table) in [("worker", WORKER), ("host", HOST)] {
        for (key, name, help) in table {
            if let Some(n) = v[section][key].as_u64() {
                m.family(name, help, Kind::Counter).sample(&[], n);
            }
        }
    }
    let drops = m.family("espgate_drops_total", "Frames the data path dropped, by reason.", Kind::Counter);
    for (reason, n) in v["worker"]["drops"].as_object().into_iter().flatten() {
        if let Some(n) = n.as_u64() {
            drops.sample(&[("reason", reason.clone())], n);
        }
    }
}

/// `show interfaces`: per-port counters, link state, and an info series with the descriptive labels.
fn interfaces(m: &mut Families, v: &Value) {
    const COUNTERS: &[(&str, &str, &str)] = &[
        ("rx_packets", "espgate_interface_rx_packets_total", "Packets received by the port."),
        ("rx_bytes", "espgate_interface_rx_bytes_total", "Bytes received by the port."),
        ("rx_missed", "espgate_interface_rx_missed_total", "Packets the NIC dropped because its rx queues were full."),
        ("rx_errors", "espgate_interface_rx_errors_total", "Erroneous packets received."),
        ("rx_nombuf", "espgate_interface_rx_nombuf_total", "Receive failures for lack of mbufs."),
        ("tx_packets", "espgate_interface_tx_packets_total", "Packets sent by the port."),
        ("tx_bytes", "espgate_interface_tx_bytes_total", "Bytes sent by the port."),
        ("tx_errors", "espgate_interface_tx_errors_total", "Failed transmissions."),
    ];
    for i in v["interfaces"].as_array().into_iter().flatten() {
        let id = vec![("interface", label(&i["name"])), ("port", label(&i["port"]))];
        let mut info = id.clone();
        info.extend([
            ("device", label(&i["device"])),
            ("driver", label(&i["driver"])),
            ("mac", label(&i["mac"])),
            ("crypto_map", label(&i["crypto_map"])),
        ]);
        m.family("espgate_interface_info", "Interface facts as labels (always 1).", Kind::Gauge).sample(&info, 1);
        if let Some(up) = i["link_up"].as_bool() {
            m.family("espgate_interface_up", "Link state: 1 up, 0 down.", Kind::Gauge).sample(&id, u64::from(up));
        }
        if let Some(s) = i["speed_mbps"].as_u64() {
            m.family("espgate_interface_speed_mbps", "Link speed in Mb/s.", Kind::Gauge).sample(&id, s);
        }
        if let Some(mtu) = i["mtu"].as_u64() {
            m.family("espgate_interface_mtu_bytes", "Configured IP MTU.", Kind::Gauge).sample(&id, mtu);
        }
        for (key, name, help) in COUNTERS {
            if let Some(n) = i[*key].as_u64() {
                m.family(name, help, Kind::Counter).sample(&id, n);
            }
        }
    }
}

/// `show crypto ipsec sa`: one series per SA (crypto map entry, peer, SPI, direction). A rekey starts new series
/// under the new SPI; `sum by (crypto_map, seq)` gives the entry's totals.
fn ipsec_sas(m: &mut Families, v: &Value) {
    let entries = v["sas"].as_array().map_or(&[][..], Vec::as_slice);
    let mut count = 0;
    for e in entries {
        let entry =
            [("crypto_map", label(&e["crypto_map"])), ("seq", label(&e["seq"])), ("peer", label(&e["current_peer"]))];
        for (dir, list, packets, bytes, reasons) in [
            ("inbound", "inbound_esp_sas", "pkts_decaps", "bytes_decaps", "by_reason_rcv"),
            ("outbound", "outbound_esp_sas", "pkts_encaps", "bytes_encaps", "by_reason_send"),
        ] {
            for sa in e[list].as_array().into_iter().flatten() {
                count += 1;
                let mut id = entry.to_vec();
                id.extend([("spi", spi_label(&sa["spi"])), ("direction", dir.to_string())]);
                let mut info = id.clone();
                info.extend([
                    ("interface", label(&e["interface"])),
                    ("transform", label(&sa["transform"]).trim().to_string()),
                    ("mode", label(&sa["mode"])),
                    ("keying", label(&e["keying"])),
                    ("weak", label(&sa["weak"])),
                ]);
                m.family("espgate_ipsec_sa_info", "IPsec SA facts as labels (always 1).", Kind::Gauge).sample(&info, 1);
                if let Some(n) = e[packets].as_u64() {
                    let help = "Packets through the SA (encapsulated outbound, decapsulated inbound).";
                    m.family("espgate_ipsec_sa_packets_total", help, Kind::Counter).sample(&id, n);
                }
                if let Some(n) = e[bytes].as_u64() {
                    m.family("espgate_ipsec_sa_bytes_total", "Bytes through the SA.", Kind::Counter).sample(&id, n);
                }
                let drops =
                    m.family("espgate_ipsec_sa_drops_total", "Packets the SA dropped, by reason.", Kind::Counter);
                for (reason, n) in e["errors"][reasons].as_object().into_iter().flatten() {
                    if let Some(n) = n.as_u64() {
                        let mut l = id.clone();
                        l.push(("reason", reason.clone()));
                        drops.sample(&l, n);
                    }
                }
                // Manual SAs have no lifetime: no samples rather than a made-up value.
                if let Some(s) = sa["remaining_seconds"].as_u64() {
                    let help = "Seconds left of the SA's lifetime.";
                    m.family("espgate_ipsec_sa_remaining_seconds", help, Kind::Gauge).sample(&id, s);
                }
                if let Some(kb) = sa["remaining_kilobytes"].as_u64() {
                    let help = "Kilobytes left of the SA's volume lifetime.";
                    m.family("espgate_ipsec_sa_remaining_kilobytes", help, Kind::Gauge).sample(&id, kb);
                }
            }
        }
    }
    m.family("espgate_ipsec_sas", "IPsec SAs installed (inbound and outbound).", Kind::Gauge).sample(&[], count);
}

/// `show crypto isakmp sa`: the count, facts and remaining lifetime of each ISAKMP (Phase 1) SA.
fn isakmp_sas(m: &mut Families, v: &Value) {
    let sas = v["isakmp_sas"].as_array().map_or(&[][..], Vec::as_slice);
    m.family("espgate_isakmp_sas", "ISAKMP (Phase 1) SAs established.", Kind::Gauge).sample(&[], sas.len() as u64);
    for s in sas {
        let id = vec![("conn_id", label(&s["conn_id"])), ("peer", label(&s["remote"]))];
        let mut info = id.clone();
        info.extend([
            ("local", label(&s["local"])),
            ("peer_port", label(&s["remote_port"])),
            ("state", label(&s["state"])),
            ("status", label(&s["status"])),
            ("encryption", label(&s["encryption"])),
            ("hash", label(&s["hash"])),
            ("auth", label(&s["auth"])),
            ("dh_group", label(&s["dh_group"])),
            ("nat_t", label(&s["nat_t"])),
        ]);
        m.family("espgate_isakmp_sa_info", "ISAKMP SA facts as labels (always 1).", Kind::Gauge).sample(&info, 1);
        if let Some(secs) = s["lifetime_seconds"].as_u64() {
            let help = "Seconds left of the ISAKMP SA's lifetime.";
            m.family("espgate_isakmp_sa_remaining_seconds", help, Kind::Gauge).sample(&id, secs);
        }
    }
}

/// A JSON value as a label value: strings as they are, null as empty, anything else in its JSON spelling.
fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// SPIs as operators and Wireshark write them: 0x-prefixed hex, eight digits.
fn spi_label(v: &Value) -> String {
    v.as_u64().map_or_else(|| label(v), |s| format!("0x{s:08x}"))
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: String,
    seen: HashSet<String>,
}

impl Family {
    /// Adds one sample. A second sample with the same labels is left out: Prometheus rejects a scrape with
    /// duplicate series, and one lost series is better than losing them all.
    fn sample(&mut self, labels: &[(&str, String)], value: u64) {
        let mut l = String::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(l, "{sep}{k}=\"{}\"", escape_label(v));
        }
        if !self.seen.insert(l.clone()) {
            return;
        }
        let braces = if l.is_empty() { String::new() } else { format!("{{{l}}}") };
        let _ = writeln!(self.samples, "{}{braces} {value}", self.name);
    }
}

/// Metric families in first-use order; each family's samples stay together, as the format requires.
#[derive(Default)]
struct Families(Vec<Family>);

impl Families {
    fn family(&mut self, name: &'static str, help: &'static str, kind: Kind) -> &mut Family {
        let i = match self.0.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.0.push(Family { name, help, kind, samples: String::new(), seen: HashSet::new() });
                self.0.len() - 1
            }
        };
        &mut self.0[i]
    }

    fn text(&self) -> String {
        let mut o = String::new();
        for f in &self.0 {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(o, "# HELP {} {}", f.name, escape_help(f.help));
            let _ = writeln!(o, "# TYPE {} {kind}", f.name);
            o += &f.samples;
        }
        o
    }
}

/// Label values: backslash, double quote and line feed are escaped (exposition format 0.0.4).
fn escape_label(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o += "\\\\",
            '"' => o += "\\\"",
            '\n' => o += "\\n",
            c => o.push(c),
        }
    }
    o
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
