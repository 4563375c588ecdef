//! The malformed-traffic suite's gateway (crypto map entries, config) and its cases' vocabulary: what a case
//! sends ([`Make`]), what must become of it ([`Expect`]), and the [`Suite`] builder (tests/malformed_run.rs).
use crate::common::*;
use crate::malformed::*;
use serde_json::{json, Value};
use std::net::Ipv6Addr;
use std::path::Path;

pub const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0xa, 0];
pub const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
pub const HOST: [u8; 6] = [2, 0, 0, 0, 0xc, 1];
pub const BYPASS_MAC: [u8; 6] = [2, 0, 0, 0, 0xd, 1];
pub const HOST4: [u8; 4] = [192, 0, 2, 10];
pub const US4: [u8; 4] = [198, 51, 100, 1];
/// A host on the outside network no crypto map entry covers: traffic to it bypasses in clear.
pub const BYPASS4: [u8; 4] = [198, 51, 100, 50];
pub const INSIDE: u16 = 0;
pub const OUTSIDE: u16 = 1;

pub struct Esp {
    pub enc: &'static str,
    pub integ: Option<&'static str>,
    pub scapy_enc: &'static str,
    pub scapy_auth: Option<&'static str>,
    pub enc_key: usize,
    pub auth_key: usize,
}

pub struct Entry {
    pub esp: Option<Esp>,
    /// AH with HMAC-SHA256-128 (tunnel mode).
    pub ah: bool,
    pub nat_t: bool,
    pub esn: bool,
    pub v6: bool,
}

pub const GCM128: Esp =
    Esp { enc: "esp-gcm-128", integ: None, scapy_enc: "AES-GCM", scapy_auth: None, enc_key: 20, auth_key: 0 };
pub const GCM256: Esp =
    Esp { enc: "esp-gcm-256", integ: None, scapy_enc: "AES-GCM", scapy_auth: None, enc_key: 36, auth_key: 0 };
pub const CBC256: Esp = Esp {
    enc: "esp-aes-256",
    integ: Some("esp-sha256-hmac"),
    scapy_enc: "AES-CBC",
    scapy_auth: Some("SHA2-256-128"),
    enc_key: 32,
    auth_key: 32,
};
pub const CBC128: Esp = Esp { enc: "esp-aes-128", enc_key: 16, ..CBC256 };

/// The entries, by index: 0 GCM, 1 CBC, 2 NAT-T, 3 ESN, 4 AH, 5 IPv6.
pub fn entries() -> Vec<Entry> {
    let e = |esp, ah, nat_t, esn, v6| Entry { esp, ah, nat_t, esn, v6 };
    vec![
        e(Some(GCM128), false, false, false, false),
        e(Some(CBC256), false, false, false, false),
        e(Some(GCM256), false, true, false, false),
        e(Some(CBC128), false, false, true, false),
        e(None, true, false, false, false),
        e(Some(CBC128), false, false, false, true),
    ]
}
pub const GCM: usize = 0;
pub const CBC: usize = 1;
pub const NATT: usize = 2;
pub const ESN: usize = 3;
pub const AH: usize = 4;
pub const V6: usize = 5;

pub fn peer(e: &Entry, i: usize) -> String {
    if e.v6 {
        format!("2001:db8:100::{}", 0x10 + i)
    } else {
        format!("198.51.100.{}", 10 + i)
    }
}
pub fn our_outer(e: &Entry) -> &'static str {
    if e.v6 {
        "2001:db8:100::1"
    } else {
        "198.51.100.1"
    }
}
pub fn peer_mac(i: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0xe, i as u8]
}
pub fn remote4(i: usize) -> [u8; 4] {
    [203, 0, 113, 16 * i as u8 + 1]
}
pub fn remote6() -> Ipv6Addr {
    "2001:db8:2:5::1".parse().unwrap()
}
pub fn host6() -> Ipv6Addr {
    "2001:db8:1::10".parse().unwrap()
}
/// ESP in/out 0x10000/0x20000 + i, AH in/out 0x30000/0x40000 + i.
pub fn spi(i: usize, ah: bool, inbound: bool) -> usize {
    0x10000 * (1 + usize::from(!inbound) + 2 * usize::from(ah)) + i
}
pub fn seed(i: usize, ah: bool, inbound: bool) -> usize {
    4 * i + 2 * usize::from(ah) + usize::from(!inbound)
}

pub fn config(dir: &Path, entries: &[Entry]) -> String {
    let d = dir.display();
    let mut s = format!(
        r#"
[engine]
workers = [1]
control_core = 0
replay_window = 64

[control]
socket = "{d}/gw.sock"

[[interface]]
name = "inside"
device = "net_pcap0,rx_pcap={d}/in_rx.pcap,tx_pcap={d}/in_tx.pcap"
address = ["192.0.2.1/24", "2001:db8:1::1/64"]
mac = "02:00:00:00:0a:00"

[[interface]]
name = "outside"
device = "net_pcap1,rx_pcap={d}/out_rx.pcap,tx_pcap={d}/out_tx.pcap"
address = ["198.51.100.1/24", "2001:db8:100::1/64"]
mac = "02:00:00:00:0a:01"
crypto_map = "CM1"

[[neighbor]]
address = "192.0.2.10"
mac = "02:00:00:00:0c:01"
interface = "inside"

[[neighbor]]
address = "2001:db8:1::10"
mac = "02:00:00:00:0c:01"
interface = "inside"

# A default route, as gateways have (malformed_cases_more.rs jumbo() shows why it matters).
[[route]]
destination = "0.0.0.0/0"
next_hop = "198.51.100.50"
interface = "outside"

[[neighbor]]
address = "198.51.100.50"
mac = "02:00:00:00:0d:01"
interface = "outside"
"#
    );
    for (i, e) in entries.iter().enumerate() {
        let p = peer(e, i);
        let net = if e.v6 { "2001:db8:2:5::/64".to_string() } else { format!("203.0.113.{}/28", 16 * i) };
        let src = if e.v6 { "2001:db8:1::/64" } else { "192.0.2.0/24" };
        let m = peer_mac(i);
        let (mut ts, mut sas) = (String::new(), String::new());
        if let Some(x) = &e.esp {
            ts += &format!("esp_encryption = \"{}\"\n", x.enc);
            if let Some(integ) = x.integ {
                ts += &format!("esp_integrity = \"{integ}\"\n");
            }
            for inbound in [true, false] {
                let sd = seed(i, false, inbound);
                let mut k = vec![format!("spi = {}", spi(i, false, inbound))];
                k.push(format!("cipher_key = \"{}\"", key(x.enc_key, sd)));
                if x.auth_key > 0 {
                    k.push(format!("auth_key = \"{}\"", key(x.auth_key, sd + 100)));
                }
                let dir = if inbound { "inbound" } else { "outbound" };
                sas += &format!("{dir}_esp = {{ {} }}\n", k.join(", "));
            }
        }
        if e.ah {
            ts += "ah = \"ah-sha256-hmac\"\n";
            for inbound in [true, false] {
                let dir = if inbound { "inbound" } else { "outbound" };
                let k = key(32, seed(i, true, inbound) + 100);
                sas += &format!("{dir}_ah = {{ spi = {}, auth_key = \"{k}\" }}\n", spi(i, true, inbound));
            }
        }
        if e.nat_t {
            sas += "nat_t = { local_port = 4500, remote_port = 4500 }\n";
        }
        if e.esn {
            sas += "esn = true\n";
        }
        s += &format!(
            r#"
[[neighbor]]
address = "{p}"
mac = "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}"
interface = "outside"

[[route]]
destination = "{net}"
next_hop = "{p}"
interface = "outside"

[[transform_set]]
name = "TS{i}"
{ts}mode = "tunnel"

[[access_list]]
name = "VPN{i}"
entries = [{{ action = "permit", protocol = "ip", source = "{src}", destination = "{net}" }}]

[[crypto_map]]
name = "CM1"
seq = {}
kind = "ipsec-manual"
peer = "{p}"
match_address = "VPN{i}"
transform_sets = ["TS{i}"]
{sas}"#,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            10 * (i + 1),
        );
    }
    s
}

/// What must become of a frame.
#[derive(Clone)]
pub enum Expect {
    /// Leaves the inside port to the host: this IP packet (the inner one, forwarded).
    Deliver(Vec<u8>),
    /// Leaves the outside port protected by entry `.0`; the peer recovers this IP packet.
    Protect(usize, Vec<u8>),
    /// Leaves the outside port in clear: this IP packet.
    Bypass(Vec<u8>),
    /// Dropped and counted under this reason.
    Drop(&'static str),
    /// Handed to the control thread (which, without IKE configured, ignores it): `ike` or `nat-keepalive`.
    Punt(&'static str),
}

impl Expect {
    pub fn word(&self) -> String {
        match self {
            Expect::Deliver(_) => format!("tx:{INSIDE}"),
            Expect::Protect(..) | Expect::Bypass(_) => format!("tx:{OUTSIDE}"),
            Expect::Drop(r) => r.to_string(),
            Expect::Punt(k) => format!("punt:{k}"),
        }
    }
    pub fn valid(&self) -> bool {
        matches!(self, Expect::Deliver(_) | Expect::Protect(..) | Expect::Bypass(_))
    }
}

/// How a case's frame is made.
pub enum Make {
    Frame(Vec<u8>),
    /// A Scapy request; its IP packet goes through `finish` to become the frame.
    Oracle(Value, Box<dyn Fn(Vec<u8>) -> Vec<u8>>),
    /// The same frame as case `.0` (a replay).
    Copy(usize),
}

pub struct Case {
    pub name: String,
    pub port: u16,
    pub make: Make,
    pub expect: Expect,
    /// A deviation from the RFCs found by this suite: (the outcome the RFC asks for, the reference). `expect` then
    /// holds today's behaviour, asserted so a fix is noticed: when fixed, put the RFC outcome into `expect` and
    /// remove this.
    pub deviation: Option<(&'static str, &'static str)>,
}

pub struct Suite {
    pub entries: Vec<Entry>,
    pub cases: Vec<Case>,
}

pub fn payload(k: usize, len: usize) -> Vec<u8> {
    (0..len).map(|x| (x * 7 + k) as u8).collect()
}

impl Suite {
    pub fn add(&mut self, name: impl Into<String>, port: u16, make: Make, expect: Expect) -> usize {
        self.cases.push(Case { name: name.into(), port, make, expect, deviation: None });
        self.cases.len() - 1
    }

    /// A Scapy request for entry `i`'s SA (`inbound`: the peer's side of our inbound SA).
    pub fn req(&self, i: usize, op: &str, inbound: bool, seq: u64, packet: &[u8]) -> Value {
        let e = &self.entries[i];
        let (src, dst) =
            if inbound { (peer(e, i), our_outer(e).to_string()) } else { (our_outer(e).to_string(), peer(e, i)) };
        let mut v = json!({
            "id": format!("{op}-{i}-{seq}"), "op": op, "spi": spi(i, e.ah, inbound), "mode": "tunnel",
            "tunnel_src": src, "tunnel_dst": dst, "nat_t": e.nat_t, "esn": e.esn, "seq": seq, "packet": hex(packet),
        });
        if let Some(x) = &e.esp {
            let sd = seed(i, false, inbound);
            v["enc"] = json!(x.scapy_enc);
            v["enc_key"] = json!(key(x.enc_key, sd));
            v["auth"] = json!(x.scapy_auth);
            v["auth_key"] = json!(if x.auth_key > 0 { key(x.auth_key, sd + 100) } else { String::new() });
        } else {
            v["proto"] = json!("AH");
            v["enc"] = json!("NULL");
            v["enc_key"] = json!("");
            v["auth"] = json!("SHA2-256-128");
            v["auth_key"] = json!(key(32, seed(i, true, inbound) + 100));
        }
        v
    }

    /// A cleartext packet from the peer's network of entry `i` to our host.
    pub fn inner(&self, i: usize, k: usize, len: usize) -> Vec<u8> {
        if self.entries[i].v6 {
            udp6(remote6(), host6(), 64, &payload(k, len))
        } else {
            udp4(remote4(i), HOST4, 64, &payload(k, len))
        }
    }

    /// A valid protected packet from entry `i`'s peer, delivered as `inner` forwarded.
    pub fn valid_in(&mut self, name: &str, i: usize, seq: u64, inner: Vec<u8>) -> usize {
        self.edited_in(name, i, seq, inner.clone(), |ip| ip, Expect::Deliver(forwarded(&inner)))
    }

    /// A packet from entry `i`'s peer: `inner` protected with `seq` by Scapy, then `edit`ed (IP packet to IP packet).
    pub fn edited_in(
        &mut self,
        name: &str,
        i: usize,
        seq: u64,
        inner: Vec<u8>,
        edit: impl Fn(Vec<u8>) -> Vec<u8> + 'static,
        expect: Expect,
    ) -> usize {
        let r = self.req(i, "encrypt", true, seq, &inner);
        let mac = peer_mac(i);
        let finish = move |ip: Vec<u8>| {
            let ip = edit(ip);
            eth(OUR_OUT, mac, ethertype(&ip), &ip)
        };
        self.add(name, OUTSIDE, Make::Oracle(r, Box::new(finish)), expect)
    }

    /// ESP from entry `i`'s peer around a wrong plaintext (see malformed_esp.py's "custom" op for `extra`).
    pub fn custom_in(&mut self, name: &str, i: usize, seq: u64, data: &[u8], extra: Value, expect: Expect) -> usize {
        let mut r = self.req(i, "custom", true, seq, data);
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        let mac = peer_mac(i);
        self.add(name, OUTSIDE, Make::Oracle(r, Box::new(move |ip| eth(OUR_OUT, mac, ethertype(&ip), &ip))), expect)
    }

    /// AH from the AH entry's peer with `options` in the outer IPv4 header, then `edit`ed.
    pub fn ah_with_options(
        &mut self,
        name: &str,
        seq: u64,
        inner: Vec<u8>,
        options: &[u8],
        edit: impl Fn(Vec<u8>) -> Vec<u8> + 'static,
        expect: Expect,
    ) -> usize {
        let mut r = self.req(AH, "encrypt", true, seq, &inner);
        r["outer_options"] = json!(hex(options));
        let mac = peer_mac(AH);
        let finish = move |ip: Vec<u8>| {
            let ip = edit(ip);
            eth(OUR_OUT, mac, ethertype(&ip), &ip)
        };
        self.add(name, OUTSIDE, Make::Oracle(r, Box::new(finish)), expect)
    }

    /// A raw frame on the outside port from entry `i`'s peer MAC.
    pub fn raw_out(&mut self, name: &str, i: usize, ip: Vec<u8>, expect: Expect) -> usize {
        let f = eth(OUR_OUT, peer_mac(i), ethertype(&ip), &ip);
        self.add(name, OUTSIDE, Make::Frame(f), expect)
    }

    /// Cleartext from our host on the inside port.
    pub fn clear_in(&mut self, name: &str, ip: Vec<u8>, expect: Expect) -> usize {
        let f = eth(OUR_IN, HOST, ethertype(&ip), &ip);
        self.add(name, INSIDE, Make::Frame(f), expect)
    }
}
