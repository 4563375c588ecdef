//! One test per validation rule: a config breaking it fails with a message that names the field.

mod config_common;

use config_common::*;

#[test]
fn base_configs_are_valid() {
    assert_valid(BASE);
    let k = hex(32);
    let a = hex(32);
    assert_valid(&manual(
        r#"esp_encryption = "esp-aes-256""#,
        r#"esp_integrity = "esp-sha256-hmac""#,
        &format!(r#"inbound_esp = {{ spi = 4096, cipher_key = "{k}", auth_key = "{a}" }}"#),
        &format!(r#"outbound_esp = {{ spi = 8192, cipher_key = "{k}", auth_key = "{a}" }}"#),
    ));
}

// ---- references ----

#[test]
fn unknown_transform_set() {
    let errs = errors(&base_with(r#"transform_sets = ["TS1"]"#, r#"transform_sets = ["TS9"]"#));
    assert_eq!(errs, vec![r#"crypto_map "CM1" seq 10: transform_sets: unknown transform set "TS9""#]);
}

#[test]
fn unknown_access_list() {
    assert_one_error(
        &base_with(r#"match_address = "VPN""#, r#"match_address = "VNP""#),
        &[r#"crypto_map "CM1" seq 10: match_address"#, r#"unknown access list "VNP""#],
    );
}

#[test]
fn unknown_crypto_map_on_interface() {
    assert_one_error(
        &base_with(r#"crypto_map = "CM1""#, r#"crypto_map = "CM2""#),
        &[r#"interface "outside": crypto_map"#, r#"unknown crypto map "CM2""#],
    );
}

#[test]
fn unknown_interface_in_route_and_neighbor() {
    let text = base_with(r#"interface = "outside""#, r#"interface = "outsde""#)
        + "[[neighbor]]\naddress = \"192.0.2.9\"\nmac = \"02:00:00:00:00:09\"\ninterface = \"lan\"\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("route[0].interface: unknown interface \"outsde\"")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("neighbor[0].interface: unknown interface \"lan\"")), "{errs:#?}");
}

// ---- uniqueness ----

#[test]
fn duplicate_interface_name_and_device() {
    let text = base_with(r#"name = "inside""#, r#"name = "outside""#).replacen("net_null1", "net_null0", 1);
    let errs = errors(&text);
    assert!(errs.iter().any(|e| e.contains("interface[1].name: duplicate interface name \"outside\"")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("device: \"net_null0\" is already used")), "{errs:#?}");
}

#[test]
fn duplicate_transform_set_and_access_list_names() {
    let text = BASE.to_owned()
        + "[[transform_set]]\nname = \"TS1\"\nesp_encryption = \"esp-gcm-128\"\n"
        + "[[access_list]]\nname = \"VPN\"\nentries = [{ action = \"deny\", source = \"any\", destination = \"any\" }]\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("transform_set[1].name: duplicate transform set name \"TS1\"")));
    assert!(errs.iter().any(|e| e.contains("access_list[1].name: duplicate access list name \"VPN\"")));
}

#[test]
fn duplicate_crypto_map_seq() {
    let second = BASE.split("[[crypto_map]]").nth(1).unwrap();
    let text = BASE.to_owned() + "[[crypto_map]]" + second;
    assert_one_error(&text, &[r#"crypto_map "CM1" seq 10: seq"#, "already has an entry with seq 10"]);
    // Another seq in the same map set is fine.
    assert_valid(&(BASE.to_owned() + "[[crypto_map]]" + &second.replace("seq = 10", "seq = 20")));
}

#[test]
fn duplicate_isakmp_policy_priority() {
    let policy = "[[isakmp_policy]]\npriority = 10\nencryption = \"aes-128\"\nhash = \"sha1\"\n\
                  authentication = \"pre-share\"\ngroup = 19\n";
    assert_one_error(&(BASE.to_owned() + policy), &["isakmp_policy[1].priority", "duplicate priority 10"]);
}

#[test]
fn duplicate_isakmp_key_peer() {
    let key = "[[isakmp_key]]\npeer = \"198.51.100.2\"\nkey = \"another\"\n";
    assert_one_error(&(BASE.to_owned() + key), &["isakmp_key[1].peer", "already has a key"]);
}

// ---- transform sets ----

#[test]
fn integrity_required_for_non_gcm_esp_unless_ah() {
    let text = base_with("esp_integrity = \"esp-sha256-hmac\"\n", "");
    assert_one_error(&text, &[r#"transform_set "TS1": esp_integrity"#, "required with esp-aes-256"]);
    assert_valid(&base_with("esp_integrity = \"esp-sha256-hmac\"\n", "ah = \"ah-sha256-hmac\"\n"));
    assert_valid(&base_with(
        "esp_encryption = \"esp-aes-256\"\nesp_integrity = \"esp-sha256-hmac\"\n",
        "esp_encryption = \"esp-gcm-256\"\n",
    ));
}

#[test]
fn gcm_takes_no_integrity() {
    let text = base_with("esp_encryption = \"esp-aes-256\"", "esp_encryption = \"esp-gcm-128\"");
    assert_one_error(&text, &[r#"transform_set "TS1": esp_integrity"#, "esp-gcm-128"]);
}

#[test]
fn esp_null_needs_integrity_even_with_ah() {
    let text = base_with(
        "esp_encryption = \"esp-aes-256\"\nesp_integrity = \"esp-sha256-hmac\"\n",
        "esp_encryption = \"esp-null\"\nah = \"ah-sha-hmac\"\n",
    );
    assert_one_error(&text, &[r#"transform_set "TS1": esp_integrity"#, "esp-null"]);
}

#[test]
fn transform_set_needs_esp_or_ah() {
    let text = base_with("esp_encryption = \"esp-aes-256\"\nesp_integrity = \"esp-sha256-hmac\"\n", "");
    assert_one_error(&text, &[r#"transform_set "TS1""#, "needs esp_encryption, ah, or both"]);
    let text = base_with("esp_encryption = \"esp-aes-256\"\n", "");
    assert_one_error(&text, &[r#"transform_set "TS1": esp_integrity"#, "needs esp_encryption"]);
}

// ---- manual keys ----

fn manual_esp(enc: &str, integ: Option<&str>, cipher: Option<usize>, auth: Option<usize>) -> String {
    let keys = |spi: u32| {
        let mut s = format!("{{ spi = {spi}");
        if let Some(n) = cipher {
            s += &format!(", cipher_key = \"{}\"", hex(n));
        }
        if let Some(n) = auth {
            s += &format!(", auth_key = \"{}\"", hex(n));
        }
        s + " }"
    };
    manual(
        &format!("esp_encryption = \"{enc}\""),
        &integ.map(|i| format!("esp_integrity = \"{i}\"")).unwrap_or_default(),
        &format!("inbound_esp = {}", keys(4096)),
        &format!("outbound_esp = {}", keys(8192)),
    )
}

#[test]
fn cipher_key_lengths_per_algorithm() {
    let sha = Some("esp-sha-hmac");
    for (enc, len) in [
        ("esp-des", 8),
        ("esp-3des", 24),
        ("esp-aes-128", 16),
        ("esp-aes-192", 24),
        ("esp-aes-256", 32),
        ("esp-aes-ctr-128", 20),
        ("esp-aes-ctr-192", 28),
        ("esp-aes-ctr-256", 36),
    ] {
        assert_valid(&manual_esp(enc, sha, Some(len), Some(20)));
        let errs = errors(&manual_esp(enc, sha, Some(len - 1), Some(20)));
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].starts_with(r#"crypto_map "CM1" seq 10: inbound_esp.cipher_key: "#), "{errs:#?}");
        assert!(errs[0].contains(&format!("{enc} needs a {len}-byte key")), "{errs:#?}");
        assert!(errs[1].starts_with(r#"crypto_map "CM1" seq 10: outbound_esp.cipher_key: "#), "{errs:#?}");
    }
}

#[test]
fn gcm_and_ctr_keys_include_the_salt() {
    for (enc, len) in [("esp-gcm-128", 20), ("esp-gcm-192", 28), ("esp-gcm-256", 36)] {
        assert_valid(&manual_esp(enc, None, Some(len), None));
        let errs = errors(&manual_esp(enc, None, Some(len - 4), None));
        assert!(errs[0].contains("inbound_esp.cipher_key") && errs[0].contains("4-byte salt"), "{errs:#?}");
    }
    let errs = errors(&manual_esp("esp-aes-ctr-128", Some("esp-sha-hmac"), Some(16), Some(20)));
    assert!(errs[0].contains("4-byte nonce"), "{errs:#?}");
}

#[test]
fn no_auth_key_with_gcm() {
    let errs = errors(&manual_esp("esp-gcm-256", None, Some(36), Some(32)));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("inbound_esp.auth_key: must not be set with esp-gcm-256"), "{errs:#?}");
}

#[test]
fn hmac_key_lengths_per_rfc() {
    for (integ, len) in [
        ("esp-md5-hmac", 16),
        ("esp-sha-hmac", 20),
        ("esp-sha256-hmac", 32),
        ("esp-sha384-hmac", 48),
        ("esp-sha512-hmac", 64),
    ] {
        assert_valid(&manual_esp("esp-aes-128", Some(integ), Some(16), Some(len)));
        let errs = errors(&manual_esp("esp-aes-128", Some(integ), Some(16), Some(len + 1)));
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("inbound_esp.auth_key") && errs[0].contains(&format!("{integ} needs a {len}-byte")));
    }
    let errs = errors(&manual_esp("esp-aes-128", Some("esp-sha-hmac"), Some(16), None));
    assert!(errs[0].contains("inbound_esp.auth_key: required for esp-sha-hmac (20 bytes)"), "{errs:#?}");
}

#[test]
fn esp_null_takes_no_cipher_key() {
    assert_valid(&manual_esp("esp-null", Some("esp-sha-hmac"), None, Some(20)));
    let errs = errors(&manual_esp("esp-null", Some("esp-sha-hmac"), Some(16), Some(20)));
    assert!(errs[0].contains("inbound_esp.cipher_key: esp-null takes no cipher key"), "{errs:#?}");
    let errs = errors(&manual_esp("esp-aes-128", Some("esp-sha-hmac"), None, Some(20)));
    assert!(errs[0].contains("inbound_esp.cipher_key: required for esp-aes-128 (16 bytes)"), "{errs:#?}");
}

#[test]
fn ah_keys() {
    let k = hex(32);
    let ok = manual(
        "ah = \"ah-sha256-hmac\"",
        "",
        &format!("inbound_ah = {{ spi = 300, auth_key = \"{k}\" }}"),
        &format!("outbound_ah = {{ spi = 301, auth_key = \"{k}\" }}"),
    );
    assert_valid(&ok);
    let bad = ok.replacen(&k, &hex(20), 1);
    assert_one_error(&bad, &["inbound_ah.auth_key", "ah-sha256-hmac needs a 32-byte key"]);
    let missing = ok.replacen("outbound_ah", "# outbound_ah", 1);
    assert_one_error(&missing, &["outbound_ah: required", "uses AH"]);
}

#[test]
fn spi_must_be_at_least_256() {
    let text = manual_esp("esp-gcm-128", None, Some(20), None).replace("spi = 4096", "spi = 255");
    assert_one_error(&text, &["inbound_esp.spi", "255 is reserved"]);
}

#[test]
fn inbound_spis_unique_outbound_per_peer() {
    let one = manual_esp("esp-gcm-128", None, Some(20), None);
    let entry = one.split("[[crypto_map]]").nth(1).unwrap();
    // A second map entry to another peer reusing both SPIs: inbound clashes, outbound does not.
    let other_peer = entry.replace("seq = 10", "seq = 20").replace("198.51.100.2", "198.51.100.3");
    let errs = errors(&(one.clone() + "[[crypto_map]]" + &other_peer));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            r#"crypto_map "CM1" seq 20: inbound_esp.spi: inbound_esp SPI 4096 is also used by crypto_map "CM1" seq 10"#
        ),
        "{errs:#?}"
    );
    // Same peer, same outbound SPI: clashes too.
    let same_peer = entry.replace("seq = 10", "seq = 20").replace("spi = 4096", "spi = 4097");
    let errs = errors(&(one + "[[crypto_map]]" + &same_peer));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("outbound_esp.spi: outbound_esp SPI 8192 is also used"), "{errs:#?}");
}

#[test]
fn manual_map_needs_keys() {
    let text = manual("esp_encryption = \"esp-gcm-128\"", "", "", "");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains(r#"crypto_map "CM1" seq 10: inbound_esp: required"#), "{errs:#?}");
    assert!(errs[1].contains(r#"crypto_map "CM1" seq 10: outbound_esp: required"#), "{errs:#?}");
}

#[test]
fn isakmp_map_takes_no_keys() {
    let text = base_with(
        r#"transform_sets = ["TS1"]"#,
        &format!("transform_sets = [\"TS1\"]\ninbound_esp = {{ spi = 4096, cipher_key = \"{}\" }}", hex(32)),
    );
    assert_one_error(&text, &[r#"crypto_map "CM1" seq 10: inbound_esp"#, "ipsec-manual"]);
}

#[test]
fn manual_map_rejects_negotiation_settings_and_several_sets() {
    let text = manual_esp("esp-gcm-128", None, Some(20), None)
        .replace("kind = \"ipsec-manual\"", "kind = \"ipsec-manual\"\npfs = 14\nlifetime_seconds = 3600");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("seq 10: pfs: only for kind = \"ipsec-isakmp\""), "{errs:#?}");
    assert!(errs[1].contains("seq 10: lifetime_seconds: only for"), "{errs:#?}");
    let text = manual_esp("esp-gcm-128", None, Some(20), None)
        .replace(r#"transform_sets = ["TSM"]"#, r#"transform_sets = ["TSM", "TSM2"]"#)
        + "[[transform_set]]\nname = \"TSM2\"\nesp_encryption = \"esp-gcm-256\"\n";
    assert_one_error(&text, &["seq 10: transform_sets", "exactly one transform set"]);
}

#[test]
fn manual_map_acl_needs_a_permit() {
    // Several permit entries share the one SA pair (the inbound SA accepts any of them, mirrored).
    let several = manual_esp("esp-gcm-128", None, Some(20), None).replace(
        "entries = [{",
        "entries = [{ action = \"permit\", source = \"192.0.2.0/25\", destination = \"any\" }, {",
    );
    assert_valid(&several);
    let deny_only = manual_esp("esp-gcm-128", None, Some(20), None).replace("action = \"permit\"", "action = \"deny\"");
    assert_one_error(&deny_only, &["seq 10: match_address", "has no permit entry"]);
}

// ---- routes, neighbors, interfaces ----

#[test]
fn route_next_hop_must_be_connected() {
    let text = base_with(r#"next_hop = "198.51.100.2""#, r#"next_hop = "203.0.113.1""#);
    assert_one_error(&text, &["route[0].next_hop", "203.0.113.1 is not inside a connected prefix", "198.51.100.0/24"]);
    let text = base_with(r#"next_hop = "198.51.100.2""#, r#"next_hop = "198.51.100.1""#);
    assert_one_error(&text, &["route[0].next_hop", "is the address of interface \"outside\" itself"]);
    let text = base_with(r#"next_hop = "198.51.100.2""#, r#"next_hop = "2001:db8::1""#);
    assert_one_error(&text, &["route[0].next_hop", "same address family"]);
}

#[test]
fn neighbor_must_be_connected_and_unicast() {
    let text = BASE.to_owned()
        + "[[neighbor]]\naddress = \"192.0.2.9\"\nmac = \"01:00:5e:00:00:09\"\ninterface = \"outside\"\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].starts_with("neighbor[0].mac: 01:00:5e:00:00:09 is not a unicast address"), "{errs:#?}");
    assert!(errs[1].starts_with("neighbor[0].address: neighbor 192.0.2.9 is not inside"), "{errs:#?}");
}

#[test]
fn interface_prefixes_must_not_overlap() {
    let text = base_with(r#"address = "192.0.2.1/24""#, r#"address = "198.51.100.129/25""#);
    assert_one_error(&text, &[r#"interface "inside": address"#, "overlaps 198.51.100.1/24 of interface \"outside\""]);
}

#[test]
fn interface_mtu_range_and_ipv6_minimum() {
    let text = base_with(r#"address = "192.0.2.1/24""#, "address = \"192.0.2.1/24\"\nmtu = 9500");
    assert_one_error(&text, &[r#"interface "inside": mtu"#, "9500 is out of range 576..=9216"]);
    let text =
        base_with(r#"address = "192.0.2.1/24""#, "address = [\"192.0.2.1/24\", \"2001:db8:1::1/64\"]\nmtu = 1000");
    assert_one_error(&text, &[r#"interface "inside": mtu"#, "1000 is out of range 1280..=9216"]);
}

#[test]
fn interface_mac_must_be_unicast() {
    let text = base_with(r#"address = "192.0.2.1/24""#, "address = \"192.0.2.1/24\"\nmac = \"00:00:00:00:00:00\"");
    assert_one_error(&text, &[r#"interface "inside": mac"#, "not a unicast address"]);
}

#[test]
fn at_least_one_interface() {
    assert!(errors("").iter().any(|e| e.starts_with("interface: at least one [[interface]] is required")));
}

#[test]
fn crypto_map_peer_family_matches_interface() {
    let text = BASE.replace(
        r#"peer = "198.51.100.2"
match_address"#,
        "peer = \"2001:db8::2\"\nmatch_address",
    ) + "[[isakmp_key]]\npeer = \"2001:db8::/32\"\nkey = \"v6-secret\"\n";
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(r#"crypto_map "CM1" seq 10: peer: 2001:db8::2 is IPv6"#)
                && e.contains("no IPv6 address")),
        "{errs:#?}"
    );
}

// ---- engine ----

#[test]
fn workers_non_empty_unique_and_not_the_control_core() {
    assert_one_error(&base_with("workers = [1]", "workers = []"), &["engine.workers", "at least one worker"]);
    assert_one_error(
        &base_with("workers = [1]", "workers = [0, 1]"),
        &["engine.workers", "core 0 is the control_core"],
    );
    assert_one_error(&base_with("workers = [1]", "workers = [1, 2, 1]"), &["engine.workers", "core 1 is listed twice"]);
}

#[test]
fn replay_window_range() {
    for ok in [64, 1024, 4096, 65536] {
        assert_valid(&base_with("control_core = 0", &format!("control_core = 0\nreplay_window = {ok}")));
    }
    for bad in [0, 32, 65537, 1 << 20] {
        let text = base_with("control_core = 0", &format!("control_core = 0\nreplay_window = {bad}"));
        assert_one_error(&text, &["engine.replay_window", &format!("{bad} is out of range 64..=65536")]);
    }
}

#[test]
fn cryptodev_devargs_only_with_cryptodev() {
    let text =
        base_with("control_core = 0", "control_core = 0\ncrypto = \"cpu\"\ncrypto_devargs = \"crypto_aesni_mb0\"");
    assert_one_error(&text, &["engine.crypto_devargs", "only used with crypto = \"cryptodev\" or \"auto\""]);
    // crypto omitted is "auto", which opens the device devargs names.
    assert_valid(&base_with("control_core = 0", "control_core = 0\ncrypto_devargs = \"crypto_aesni_mb0\""));
    assert_valid(&base_with(
        "control_core = 0",
        "control_core = 0\ncrypto = \"cryptodev\"\ncrypto_devargs = \"crypto_aesni_mb0\"",
    ));
    assert_valid(&base_with("control_core = 0", "control_core = 0\ncrypto = \"auto\""));
    assert_valid(&base_with(
        "control_core = 0",
        "control_core = 0\ncrypto = \"auto\"\ncrypto_devargs = \"0000:3d:01.0\"",
    ));
}

#[test]
fn eal_core_list_conflicts() {
    let text = base_with("control_core = 0", "control_core = 0\neal = [\"--no-huge\", \"-l\", \"0-3\"]");
    assert_one_error(&text, &["engine.eal", "\"-l\" conflicts with engine.workers"]);
}

#[test]
fn control_socket_must_be_absolute() {
    let text = BASE.to_owned() + "[control]\nsocket = \"espgate.sock\"\n";
    assert_one_error(&text, &["control.socket", "must be an absolute path"]);
}

// ---- phase 1 ----

#[test]
fn isakmp_map_peer_needs_a_key_or_certificates() {
    let text = base_with(
        r#"peer = "198.51.100.2"
key"#,
        "peer = \"198.51.100.9\"\nkey",
    );
    assert_one_error(&text, &[r#"crypto_map "CM1" seq 10: peer"#, "no isakmp_key matches 198.51.100.2"]);
    // A wildcard key covers it.
    assert_valid(&base_with(
        r#"peer = "198.51.100.2"
key"#,
        "peer = \"0.0.0.0/0\"\nkey",
    ));
}

#[test]
fn isakmp_map_needs_a_policy() {
    let start = BASE.find("[[isakmp_policy]]").unwrap();
    let end = BASE.find("[[isakmp_key]]").unwrap();
    let text = format!("{}{}", &BASE[..start], &BASE[end..]);
    assert_one_error(&text, &[r#"crypto_map "CM1" seq 10: kind"#, "at least one [[isakmp_policy]]"]);
}

#[test]
fn certificates_need_pki() {
    let text = base_with(r#"authentication = "pre-share""#, r#"authentication = "rsa-sig""#);
    assert_one_error(&text, &["isakmp_policy 10: authentication", "rsa-sig needs a certificate", "[pki]"]);
    let text = BASE.to_owned() + "[isakmp]\nidentity = \"dn\"\n";
    assert_one_error(&text, &["isakmp.identity", "[pki]"]);
}

#[test]
fn timers_in_range() {
    let text = BASE.to_owned() + "[isakmp]\nnat_keepalive = 2\ndpd = { interval = 0, retries = 50 }\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].starts_with("isakmp.nat_keepalive: 2 is out of range 5..=3600"));
    assert!(errs[1].starts_with("isakmp.dpd.interval: 0 is out of range"));
    assert!(errs[2].starts_with("isakmp.dpd.retries: 50 is out of range"));
    assert_valid(&(BASE.to_owned() + "[isakmp]\nnat_keepalive = 0\n"));
}

#[test]
fn lifetimes_in_range() {
    let text = base_with("group = 14", "group = 14\nlifetime = 30");
    assert_one_error(&text, &["isakmp_policy 10: lifetime", "30 is out of range 60..=86400"]);
    let text = base_with(
        r#"transform_sets = ["TS1"]"#,
        "transform_sets = [\"TS1\"]\nlifetime_seconds = 60\nlifetime_kilobytes = 100",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("seq 10: lifetime_seconds: 60 is out of range 120..=86400"), "{errs:#?}");
    assert!(errs[1].contains("seq 10: lifetime_kilobytes: 100 is out of range"), "{errs:#?}");
}

// ---- access lists ----

#[test]
fn acl_ports_need_tcp_or_udp_and_families_match() {
    let text =
        base_with(r#"destination = "203.0.113.0/24" }"#, r#"destination = "2001:db8::/32", destination_port = 443 }"#);
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].starts_with(r#"access_list "VPN": entries[0].destination_port: ports need protocol tcp"#));
    assert!(errs[1].starts_with(r#"access_list "VPN": entries[0].destination: 2001:db8::/32 is not of the same"#));
    assert_valid(&base_with(
        r#"protocol = "ip", source = "192.0.2.0/24", destination = "203.0.113.0/24" }"#,
        r#"protocol = "tcp", source = "192.0.2.0/24", destination = "203.0.113.0/24", destination_port = "1024-65535" }"#,
    ));
}

#[test]
fn empty_access_list() {
    let text = base_with(
        r#"entries = [{ action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "203.0.113.0/24" }]"#,
        "entries = []",
    );
    assert_one_error(&text, &[r#"access_list "VPN": entries"#, "at least one entry"]);
}

// ---- reporting ----

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let text = base_with("workers = [1]", "workers = []")
        .replace(r#"transform_sets = ["TS1"]"#, r#"transform_sets = ["TS9"]"#)
        .replace(r#"next_hop = "198.51.100.2""#, r#"next_hop = "203.0.113.1""#);
    let e = control::config::parse(&text).unwrap_err();
    assert_eq!(e.validation_errors().len(), 3, "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with("3 errors:\n  engine.workers:"), "{shown}");
    assert!(shown.contains("route[0].next_hop") && shown.contains("transform_sets: unknown transform set"), "{shown}");
}

#[test]
fn crypto_map_peer_reachable_and_not_ourselves() {
    let text = BASE.replace("peer = \"198.51.100.2\"\nmatch_address", "peer = \"198.51.100.1\"\nmatch_address")
        + "[[isakmp_key]]\npeer = \"198.51.100.1\"\nkey = \"k\"\n";
    assert_one_error(&text, &[r#"crypto_map "CM1" seq 10: peer"#, "198.51.100.1 is an address of this gateway"]);
    let text = BASE.replace("peer = \"198.51.100.2\"\nmatch_address", "peer = \"192.0.2.200\"\nmatch_address").replace(
        "key = \"example-only-secret\"",
        "key = \"example-only-secret\"\n[[isakmp_key]]\npeer = \"192.0.2.200\"\nkey = \"k\"",
    );
    assert_valid(&text); // on the inside's connected prefix: reachable
    let text = BASE.replace("peer = \"198.51.100.2\"\nmatch_address", "peer = \"203.0.114.1\"\nmatch_address")
        + "[[isakmp_key]]\npeer = \"0.0.0.0/0\"\nkey = \"k\"\n";
    assert_one_error(&text, &[r#"crypto_map "CM1" seq 10: peer"#, "203.0.114.1 is not reachable"]);
}

#[test]
fn crypto_backend_defaults_to_auto_and_entries_may_override_it() {
    use control::config::{parse, CryptoBackend as B};
    let c = parse(BASE).unwrap();
    assert_eq!(c.engine.crypto, B::Auto, "no crypto key: auto");
    assert_eq!(c.crypto_maps[0].crypto, None);
    assert_eq!(c.crypto_maps[0].crypto_backend(&c.engine), B::Auto);
    for (engine, entry, want) in [
        ("auto", "cpu", B::Cpu),
        ("auto", "cryptodev", B::Cryptodev),
        ("cryptodev", "cpu", B::Cpu),
        ("cryptodev", "auto", B::Auto),
        ("cpu", "cpu", B::Cpu),
    ] {
        let text = base_with("control_core = 0", &format!("control_core = 0\ncrypto = \"{engine}\"")).replacen(
            "seq = 10\n",
            &format!("seq = 10\ncrypto = \"{entry}\"\n"),
            1,
        );
        let c = parse(&text).unwrap_or_else(|e| panic!("engine {engine}, entry {entry}: {e}"));
        assert_eq!(c.crypto_maps[0].crypto_backend(&c.engine), want, "engine {engine}, entry {entry}");
        // The key survives a round trip through TOML.
        assert_eq!(parse(&c.to_toml().unwrap()).unwrap(), c);
    }
    let text = base_with("control_core = 0", "control_core = 0\ncrypto = \"auto\"").replacen(
        "seq = 10\n",
        "seq = 10\ncrypto = \"quantum\"\n",
        1,
    );
    assert!(syntax_error(&text).contains("quantum"), "{}", syntax_error(&text));
}

#[test]
fn entry_asking_for_a_device_needs_one_in_the_engine() {
    for entry in ["cryptodev", "auto"] {
        let text = base_with("control_core = 0", "control_core = 0\ncrypto = \"cpu\"").replacen(
            "seq = 10\n",
            &format!("seq = 10\ncrypto = \"{entry}\"\n"),
            1,
        );
        assert_one_error(
            &text,
            &[r#"crypto_map "CM1" seq 10: crypto"#, &format!("\"{entry}\" needs a crypto device"), "opens none"],
        );
    }
    // The same entry on a manual map, with the engine on cryptodev: fine.
    let k = hex(32);
    let a = hex(32);
    let text = manual(
        r#"esp_encryption = "esp-aes-256""#,
        r#"esp_integrity = "esp-sha256-hmac""#,
        &format!(r#"inbound_esp = {{ spi = 4096, cipher_key = "{k}", auth_key = "{a}" }}"#),
        &format!(r#"outbound_esp = {{ spi = 8192, cipher_key = "{k}", auth_key = "{a}" }}"#),
    );
    let text = format!("[engine]\ncrypto = \"cryptodev\"\n{text}").replacen(
        "seq = 10\n",
        "seq = 10\ncrypto = \"cryptodev\"\n",
        1,
    );
    assert_valid(&text);
}
