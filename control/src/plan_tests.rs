//! Plans built from config text and installed into in-memory datapaths: two gateways back to back with manual keys
//! (an ESP+AH bundle, AH alone, NAT-T and ESN), and an access list with several permit entries that the inbound SA
//! enforces all of.
use super::*;
use engine::ah::{InboundAh, OutboundAh};
use engine::buf::{PacketBuf, VecBuf};
use engine::datapath::{Action, Datapath, Drop};
use engine::esp::{InboundSa, OutboundSa};
use engine::DropReason;
use std::sync::Arc;

struct Gw {
    in_mac: &'static str,
    out_mac: &'static str,
    inside: &'static str,
    outside: &'static str,
    peer: &'static str,
    peer_mac: &'static str,
    remote: &'static str,
}

const A: Gw = Gw {
    in_mac: "02:00:00:00:0a:00",
    out_mac: "02:00:00:00:0a:01",
    inside: "192.0.2.1/24",
    outside: "198.51.100.1/24",
    peer: "198.51.100.2",
    peer_mac: "02:00:00:00:0b:01",
    remote: "203.0.113.0/24",
};
const B: Gw = Gw {
    in_mac: "02:00:00:00:0b:00",
    out_mac: "02:00:00:00:0b:01",
    inside: "203.0.113.1/24",
    outside: "198.51.100.2/24",
    peer: "198.51.100.1",
    peer_mac: "02:00:00:00:0a:01",
    remote: "192.0.2.0/24",
};

/// `ts`: transform set lines; `sas(inbound_first)`: the crypto map's key lines; `acl`: the entries array.
fn config(g: &Gw, ts: &str, acl: &str, sas: &str) -> Config {
    let text = format!(
        r#"
[[interface]]
name = "inside"
device = "net_null0"
address = "{}"
mac = "{}"

[[interface]]
name = "outside"
device = "net_null1"
address = "{}"
mac = "{}"
crypto_map = "CM1"

[[neighbor]]
address = "{}"
mac = "{}"
interface = "outside"

[[route]]
destination = "{}"
next_hop = "{}"
interface = "outside"

[[transform_set]]
name = "TS1"
{ts}

[[access_list]]
name = "VPN"
entries = {acl}

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-manual"
peer = "{}"
match_address = "VPN"
transform_sets = ["TS1"]
{sas}
"#,
        g.inside, g.in_mac, g.outside, g.out_mac, g.peer, g.peer_mac, g.remote, g.peer, g.peer
    );
    crate::config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn datapath(cfg: &Config) -> (Datapath, Plan) {
    let plan =
        build(cfg, |d| ["net_null0", "net_null1"].iter().position(|n| *n == d).map(|p| p as u16), |_| None).unwrap();
    let mut dp = Datapath::new(Arc::new(plan.tables.clone()), 64);
    for m in &plan.maps {
        if let Some((i, o)) = &m.manual {
            dp.install_inbound(InboundSa::new(i.clone()).unwrap()).unwrap();
            dp.install_outbound(m.handle, Arc::new(OutboundSa::new(o.clone()).unwrap()));
        }
        if let Some((i, o)) = &m.manual_ah {
            dp.install_inbound_ah(InboundAh::new(i.clone()).unwrap()).unwrap();
            dp.install_outbound_ah(m.handle, Arc::new(OutboundAh::new(o.clone()).unwrap()));
        }
    }
    (dp, plan)
}

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    v.try_into().unwrap()
}

/// Ethernet + IPv4 + UDP from `src:sport` to `dst`, to the gateway's MAC `to`.
fn frame(to: &str, src: [u8; 4], dst: [u8; 4], sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 28 + 16];
    f[0..6].copy_from_slice(&mac(to));
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0xc, 9]);
    f[12..14].copy_from_slice(&[8, 0]);
    engine::wire::ipv4::Repr {
        src_addr: src.into(),
        dst_addr: dst.into(),
        protocol: engine::wire::IpProtocol::UDP,
        payload_len: 24,
        tos: 0,
        ident: 1,
        dont_frag: false,
        ttl: 64,
    }
    .emit(&mut engine::wire::ipv4::Packet::new_unchecked(&mut f[14..34]));
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&24u16.to_be_bytes());
    f
}

fn key(n: usize, seed: u8) -> String {
    (0..n).map(|i| format!("{:02x}", (i as u8).wrapping_mul(13).wrapping_add(seed))).collect()
}

const ACL: &str =
    r#"[{ action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "203.0.113.0/24" }]"#;
const ACL_B: &str =
    r#"[{ action = "permit", protocol = "ip", source = "203.0.113.0/24", destination = "192.0.2.0/24" }]"#;

/// Sends one packet from A's inside (`src`, UDP source port `sport`) to B's inside host 203.0.113.10; returns what
/// A put on the wire and what B did with it. A's neighbor toward B is static, so A transmits on its outside port.
/// B decrypted the packet and forwards it to its inside host (whose MAC it has yet to resolve).
fn delivered() -> Action {
    Action::Punt(engine::datapath::PuntKind::Resolve { port: 0, next_hop: "203.0.113.10".parse().unwrap() })
}

fn a_to_b(a: &mut Datapath, b: &mut Datapath, src: [u8; 4], sport: u16) -> (Vec<u8>, Action) {
    let mut f = VecBuf::new(&frame(A.in_mac, src, [203, 0, 113, 10], sport));
    assert_eq!(a.process(0, &mut f), Action::Transmit { port: 1 });
    (f.data().to_vec(), b.process(1, &mut f))
}

#[test]
fn bundle_plan_links_the_sas_and_carries_traffic() {
    let ts = "esp_encryption = \"esp-aes-128\"\nesp_integrity = \"esp-sha256-hmac\"\nah = \"ah-sha-hmac\"";
    let sas = |esp_in, esp_out, ah_in, ah_out, k_in: u8, k_out: u8| {
        format!(
            "inbound_esp = {{ spi = {esp_in}, cipher_key = \"{}\", auth_key = \"{}\" }}\n\
             outbound_esp = {{ spi = {esp_out}, cipher_key = \"{}\", auth_key = \"{}\" }}\n\
             inbound_ah = {{ spi = {ah_in}, auth_key = \"{}\" }}\noutbound_ah = {{ spi = {ah_out}, auth_key = \"{}\" }}",
            key(16, k_in),
            key(32, k_in + 1),
            key(16, k_out),
            key(32, k_out + 1),
            key(20, k_in + 2),
            key(20, k_out + 2)
        )
    };
    let (mut a, plan) = datapath(&config(&A, ts, ACL, &sas(4096, 8192, 4097, 8193, 10, 20)));
    let (mut b, _) = datapath(&config(&B, ts, ACL_B, &sas(8192, 4096, 8193, 4097, 20, 10)));
    let m = &plan.maps[0];
    let (esp_in, esp_out) = m.manual.as_ref().unwrap();
    let (ah_in, ah_out) = m.manual_ah.as_ref().unwrap();
    assert!(matches!(esp_out.mode, Mode::Tunnel { .. }));
    assert_eq!((ah_in.mode, ah_out.mode), (Mode::Transport, Mode::Transport), "AH over ESP's packet");
    assert_eq!((esp_in.bundle_ah, ah_in.bundle_esp), (Some(Spi(4097)), Some(Spi(4096))));
    assert!(esp_in.selector.is_some() && ah_in.selector.is_none(), "ESP checks the inner packet");
    let (wire, r) = a_to_b(&mut a, &mut b, [192, 0, 2, 10], 7);
    assert_eq!(wire[14 + 9], 51, "AH outside");
    assert_eq!(r, delivered());
}

#[test]
fn several_permit_entries_share_the_sa_pair_and_bind_the_inbound_sa() {
    let ts = "esp_encryption = \"esp-gcm-128\"";
    // A protects two subnets (any protocol); B accepts the first, and from the second only UDP from port 53.
    let acl_a = r#"[{ action = "permit", protocol = "ip", source = "192.0.2.0/25", destination = "203.0.113.0/24" },
                    { action = "permit", protocol = "ip", source = "192.0.2.128/25", destination = "203.0.113.0/24" }]"#;
    let acl_b = r#"[{ action = "permit", protocol = "ip", source = "203.0.113.0/24", destination = "192.0.2.0/25" },
                    { action = "permit", protocol = "udp", source = "203.0.113.0/24", destination = "192.0.2.128/25", destination_port = 53 }]"#;
    let sas = |i: u32, o: u32, ki: u8, ko: u8| {
        format!(
            "inbound_esp = {{ spi = {i}, cipher_key = \"{}\" }}\noutbound_esp = {{ spi = {o}, cipher_key = \"{}\" }}",
            key(20, ki),
            key(20, ko)
        )
    };
    let (mut a, _) = datapath(&config(&A, ts, acl_a, &sas(4096, 8192, 1, 2)));
    let (mut b, plan) = datapath(&config(&B, ts, acl_b, &sas(8192, 4096, 2, 1)));
    let (inb, _) = plan.maps[0].manual.as_ref().unwrap();
    assert_eq!(inb.extra_selectors.len(), 1, "the second permit entry, mirrored");
    let dropped = Action::Drop(Drop::Ipsec(DropReason::PolicyMismatch));
    assert_eq!(a_to_b(&mut a, &mut b, [192, 0, 2, 10], 7).1, delivered(), "first entry");
    assert_eq!(a_to_b(&mut a, &mut b, [192, 0, 2, 200], 53).1, delivered(), "second entry");
    assert_eq!(a_to_b(&mut a, &mut b, [192, 0, 2, 200], 54).1, dropped, "second subnet, other port");
}

#[test]
fn ah_alone_nat_t_and_esn_reach_the_sa_params() {
    let ah_sas = format!(
        "inbound_ah = {{ spi = 300, auth_key = \"{}\" }}\noutbound_ah = {{ spi = 301, auth_key = \"{}\" }}\nesn = true",
        key(32, 1),
        key(32, 2)
    );
    let (_, plan) = datapath(&config(&A, "ah = \"ah-sha256-hmac\"", ACL, &ah_sas));
    let m = &plan.maps[0];
    assert!(m.manual.is_none());
    let (i, o) = m.manual_ah.as_ref().unwrap();
    assert!(matches!(i.mode, Mode::Tunnel { .. }), "AH alone makes the tunnel");
    assert!(i.esn && o.esn && i.selector.is_some() && i.bundle_esp.is_none());
    let esp_sas = format!(
        "inbound_esp = {{ spi = 300, cipher_key = \"{}\" }}\noutbound_esp = {{ spi = 301, cipher_key = \"{}\" }}\n\
         nat_t = {{ remote_port = 40500 }}",
        key(20, 1),
        key(20, 2)
    );
    let (_, plan) = datapath(&config(&A, "esp_encryption = \"esp-gcm-128\"", ACL, &esp_sas));
    let (i, o) = plan.maps[0].manual.as_ref().unwrap();
    let want = Some(NatT { local_port: 4500, remote_port: 40500 });
    assert_eq!((i.nat_t, o.nat_t, i.esn), (want, want, false));
}
