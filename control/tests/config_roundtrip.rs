//! parse -> serialize -> parse gives the same config, for generated configs covering every value type; and no
//! input, however broken, makes the parser or the validator panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::config::*;
use proptest::prelude::*;

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    // Documentation ranges only, as everywhere in the tests.
    (prop::sample::select(vec![[192u8, 0, 2], [198, 51, 100], [203, 0, 113]]), any::<u8>())
        .prop_map(|(n, h)| Ipv4Addr::new(n[0], n[1], n[2], h))
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u16; 6]>().prop_map(|s| Ipv6Addr::new(0x2001, 0xdb8, s[0], s[1], s[2], s[3], s[4], s[5]))
}

/// A prefix: the address masked to a random length.
fn prefix() -> impl Strategy<Value = IpPrefix> {
    prop_oneof![
        (ipv4(), 0u8..=32).prop_map(|(a, l)| (IpAddr::V4(a), l)),
        (ipv6(), 0u8..=128).prop_map(|(a, l)| (IpAddr::V6(a), l)),
    ]
    .prop_map(|(a, l)| {
        let masked = match a {
            IpAddr::V4(v) => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v) & u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0)))
            }
            IpAddr::V6(v) => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v) & u128::MAX.checked_shl(128 - u32::from(l)).unwrap_or(0)))
            }
        };
        IpPrefix::new(masked, l).unwrap()
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    prop_oneof![Just(Selector::Any), prefix().prop_map(Selector::Prefix)]
}

fn ports() -> impl Strategy<Value = Option<PortRange>> {
    prop::option::of((any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange { low: a.min(b), high: a.max(b) }))
}

fn entry() -> impl Strategy<Value = AclEntry> {
    let protocol = prop_oneof![Just(Protocol::Ip), (1u8..=255).prop_map(Protocol::Number)];
    (any::<bool>(), protocol, selector(), selector(), ports(), ports()).prop_map(|(p, protocol, s, d, sp, dp)| {
        AclEntry {
            action: if p { Action::Permit } else { Action::Deny },
            protocol,
            source: s,
            destination: d,
            source_port: sp,
            destination_port: dp,
        }
    })
}

fn key() -> impl Strategy<Value = Option<HexKey>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..64).prop_map(HexKey::new))
}

fn transform_set() -> impl Strategy<Value = TransformSet> {
    (
        prop::option::of(prop::sample::select(EspEncryption::ALL.to_vec())),
        prop::option::of(prop::sample::select(EspIntegrity::ALL.to_vec())),
        prop::option::of(prop::sample::select(AhIntegrity::ALL.to_vec())),
        any::<bool>(),
        "[A-Za-z0-9_-]{1,12}",
    )
        .prop_map(|(e, i, ah, t, name)| TransformSet {
            name,
            esp_encryption: e,
            esp_integrity: i,
            ah,
            mode: if t { Mode::Tunnel } else { Mode::Transport },
        })
}

fn crypto_map() -> impl Strategy<Value = CryptoMap> {
    let manual_esp =
        || (any::<u32>(), key(), key()).prop_map(|(spi, c, a)| ManualEsp { spi, cipher_key: c, auth_key: a });
    let manual_ah =
        (any::<u32>(), key()).prop_map(|(spi, a)| ManualAh { spi, auth_key: a.unwrap_or(HexKey::new(vec![1])) });
    (
        (any::<u32>(), any::<bool>(), ipv4(), prop::option::of(prop::sample::select(DhGroup::ALL.to_vec()))),
        (prop::option::of(any::<u32>()), prop::option::of(any::<u32>().prop_map(u64::from)), any::<Option<bool>>()),
        (prop::option::of(manual_esp()), prop::option::of(manual_esp()), prop::option::of(manual_ah)),
    )
        .prop_map(|((seq, isakmp, peer, pfs), (ls, lk, init), (ie, oe, ia))| CryptoMap {
            name: "CM1".into(),
            seq,
            kind: if isakmp { CryptoMapKind::IpsecIsakmp } else { CryptoMapKind::IpsecManual },
            peer: IpAddr::V4(peer),
            match_address: "VPN".into(),
            transform_sets: vec!["TS1".into(), "TS2".into()],
            pfs,
            lifetime_seconds: ls,
            lifetime_kilobytes: lk,
            initiate: init.map(|s| if s { Initiate::OnStart } else { Initiate::OnTraffic }),
            inbound_esp: ie,
            outbound_esp: oe,
            inbound_ah: ia.clone(),
            outbound_ah: ia,
            nat_t: (seq % 2 == 0).then_some(ManualNatT { local_port: (seq >> 16) as u16, remote_port: seq as u16 }),
            esn: init,
            // Every backend, and none (the engine's), by seq.
            crypto: [None, Some(CryptoBackend::Cpu), Some(CryptoBackend::Cryptodev), Some(CryptoBackend::Auto)]
                [(seq % 4) as usize],
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop::collection::vec(transform_set(), 0..4),
        prop::collection::vec(entry(), 1..6),
        prop::collection::vec(crypto_map(), 0..3),
        (prefix(), ipv4(), 64u32..=4096, prop::collection::vec(0u32..64, 1..4)),
    )
        .prop_map(|(ts, entries, maps, (key_peer, addr, window, workers))| {
            let mut c = Config::default();
            c.engine.workers = workers;
            c.engine.replay_window = window;
            c.interfaces.push(Interface {
                name: "outside".into(),
                device: "net_null0".into(),
                address: vec![format!("{addr}/31").parse().unwrap()],
                mac: Some(MacAddr([2, 0, 0, 0, 1, addr.octets()[3]])),
                mtu: Some(1500),
                queues: None,
                crypto_map: Some("CM1".into()),
            });
            c.isakmp_keys.push(IsakmpKey {
                peer: Some(key_peer),
                identity: None,
                key: Psk::new(format!("psk-{addr}")),
            });
            c.isakmp_keys.push(IsakmpKey {
                peer: None,
                identity: Some(Identity::UserFqdn("vpn@example.net".into())),
                key: Psk::new(format!("id-psk-{addr}")),
            });
            c.isakmp.identity = Identity::Fqdn("gw1.example.net".into());
            c.isakmp.dpd =
                Some(Dpd { interval: 10, retries: 3, mode: DpdMode::Periodic, on_dead: DeadPeerAction::Restart });
            c.transform_sets = ts;
            c.access_lists.push(AccessList { name: "VPN".into(), entries });
            c.crypto_maps = maps;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_round_trip(c in config()) {
        let text = c.to_toml().unwrap();
        let back = parse_unvalidated(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(back, c);
    }

    #[test]
    fn prefixes_print_and_parse_back(p in prefix()) {
        prop_assert_eq!(p.to_string().parse::<IpPrefix>().unwrap(), p);
    }
}

/// A valid config exercising most value types, to mutate.
const SEED: &str = include_str!("../../deploy/examples/espgate.toml");

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn value_parsers_never_panic(s in "\\PC{0,40}") {
        let _ = s.parse::<IpPrefix>();
        let _ = s.parse::<InterfaceAddress>();
        let _ = s.parse::<MacAddr>();
        let _ = s.parse::<Selector>();
        let _ = s.parse::<Identity>();
        let _ = HexKey::from_hex(&s);
    }

    #[test]
    fn prefix_like_strings_never_panic(a in "[0-9a-f:.]{0,40}", l in "[0-9]{0,4}") {
        let s = format!("{a}/{l}");
        let _ = s.parse::<IpPrefix>();
        let _ = s.parse::<InterfaceAddress>();
    }

    #[test]
    fn mutated_configs_never_panic(pos in 0usize..SEED.len(), cut in 0usize..40, insert in "[ -~\n]{0,12}") {
        let mut bytes = SEED.as_bytes().to_vec();
        let end = (pos + cut).min(bytes.len());
        bytes.splice(pos..end, insert.bytes());
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = parse(&text);
        }
    }
}
