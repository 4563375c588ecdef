//! Type, spelling and unknown-key errors: the parser stops at the first, naming its line and field path.

mod config_common;

use config_common::*;

#[test]
fn bad_prefix_names_the_field_path() {
    let e = syntax_error(&base_with(r#"address = "192.0.2.1/24""#, r#"address = "192.0.2.1/33""#));
    assert!(e.contains(r#"interface[1].address: "192.0.2.1/33" is not a valid prefix"#), "{e}");
    let line = BASE.lines().position(|l| l.contains("192.0.2.1/24")).unwrap() + 1;
    assert!(e.starts_with(&format!("line {line}: ")), "{e}");
}

#[test]
fn unknown_keys_are_rejected_in_every_section() {
    let cases = [
        ("control_core = 0", "control_core = 0\nworker = [2]", "engine"),
        ("device = \"net_null1\"", "device = \"net_null1\"\nmtu_size = 1500", "interface[1]"),
        ("next_hop = \"198.51.100.2\"", "next_hop = \"198.51.100.2\"\nmetric = 5", "route[0]"),
        ("group = 14", "group = 14\nlife_time = 3600", "isakmp_policy[0]"),
        ("key = \"example-only-secret\"", "key = \"example-only-secret\"\nhostname = \"x\"", "isakmp_key[0]"),
        (
            "esp_integrity = \"esp-sha256-hmac\"",
            "esp_integrity = \"esp-sha256-hmac\"\nmod = \"tunnel\"",
            "transform_set[0]",
        ),
        ("protocol = \"ip\",", "protocol = \"ip\", port = 80,", "access_list[0].entries[0]"),
        ("seq = 10", "seq = 10\nset_peer = \"198.51.100.2\"", "crypto_map[0]"),
    ];
    for (from, to, path) in cases {
        let e = syntax_error(&base_with(from, to));
        assert!(e.contains("unknown field"), "{e}");
        assert!(e.contains(path), "{path}: {e}");
    }
    let e = syntax_error(&(BASE.to_owned() + "[isakmp]\ndpd = { interval = 10, retry = 3 }\n"));
    assert!(e.contains("isakmp.dpd") && e.contains("unknown field `retry`"), "{e}");
    let e = syntax_error(&(BASE.to_owned() + "[[crypto_maps]]\nname = \"x\"\n"));
    assert!(e.contains("unknown field `crypto_maps`"), "{e}");
    let e = syntax_error(&(BASE.to_owned() + "[metrics]\nlisten = \"127.0.0.1:9100\"\npath = \"/m\"\n"));
    assert!(e.contains("metrics") && e.contains("unknown field `path`"), "{e}");
}

#[test]
fn unknown_algorithm_lists_the_choices() {
    let e = syntax_error(&base_with("\"esp-aes-256\"", "\"esp-aes-512\""));
    assert!(e.contains(r#"transform_set[0].esp_encryption: unknown esp_encryption "esp-aes-512""#), "{e}");
    for name in ["esp-null", "esp-des", "esp-3des", "esp-aes-ctr-192", "esp-gcm-256"] {
        assert!(e.contains(name), "{e}");
    }
    let e = syntax_error(&base_with("hash = \"sha256\"", "hash = \"sha3\""));
    assert!(e.contains("isakmp_policy[0].hash: unknown hash \"sha3\""), "{e}");
    let e = syntax_error(&base_with("kind = \"ipsec-isakmp\"", "kind = \"ipsec-ikev2\""));
    assert!(e.contains("crypto_map[0].kind") && e.contains("ipsec-manual"), "{e}");
}

#[test]
fn unsupported_dh_group() {
    let e = syntax_error(&base_with("group = 14", "group = 3"));
    assert!(e.contains("isakmp_policy[0].group: unsupported DH group 3"), "{e}");
    assert!(e.contains("1, 2, 5, 14, 15, 16, 19, 20, 24"), "{e}");
}

#[test]
fn cisco_aliases_are_accepted() {
    let text = base_with("hash = \"sha256\"", "hash = \"sha\"").replace("\"esp-aes-256\"", "\"esp-aes\"");
    let c = control::config::parse(&text).unwrap();
    assert_eq!(c.isakmp_policies[0].hash, control::config::Hash::Sha1);
    assert_eq!(c.transform_sets[0].esp_encryption, Some(control::config::EspEncryption::EspAes128));
}

#[test]
fn wrong_types_and_values() {
    let e = syntax_error(&base_with("seq = 10", "seq = \"ten\""));
    assert!(e.contains("crypto_map[0].seq"), "{e}");
    let e = syntax_error(&base_with("seq = 10", "seq = -1"));
    assert!(e.contains("crypto_map[0].seq"), "{e}");
    let e = syntax_error(&base_with(
        r#"destination = "203.0.113.0/24"
next_hop"#,
        "destination = \"203.0.113.1/24\"\nnext_hop",
    ));
    assert!(
        e.contains("route[0].destination: \"203.0.113.1/24\" has host bits set; the network is 203.0.113.0/24"),
        "{e}"
    );
    let e = syntax_error(&base_with("peer = \"198.51.100.2\"\nmatch", "peer = \"198.51.100.300\"\nmatch"));
    assert!(e.contains("crypto_map[0].peer"), "{e}");
    let e = syntax_error(
        &(BASE.to_owned()
            + "[[neighbor]]\naddress = \"198.51.100.2\"\nmac = \"02:00:00:00:02\"\ninterface = \"outside\"\n"),
    );
    assert!(e.contains("neighbor[0].mac: \"02:00:00:00:02\" is not a MAC address"), "{e}");
    let e = syntax_error(&base_with("protocol = \"ip\"", "protocol = \"ipx\""));
    assert!(e.contains("access_list[0].entries[0].protocol: unknown protocol \"ipx\""), "{e}");
    let e = syntax_error(&(BASE.to_owned() + "[isakmp]\nidentity = \"hostname\"\n"));
    assert!(e.contains("isakmp.identity: unknown identity \"hostname\""), "{e}");
    let e = syntax_error("[engine\nworkers = [1]\n");
    assert!(e.starts_with("line 1: "), "{e}");
}

#[test]
fn bad_keys_are_never_echoed() {
    let secret = "0123456789abcdef0123456789abcdeZ";
    let text = manual(
        "esp_encryption = \"esp-aes-128\"",
        "esp_integrity = \"esp-sha-hmac\"",
        &format!("inbound_esp = {{ spi = 4096, cipher_key = \"{secret}\" }}"),
        "",
    );
    let e = syntax_error(&text);
    assert!(e.contains("crypto_map[0].inbound_esp.cipher_key: not a hex key"), "{e}");
    assert!(!e.contains("0123456789"), "error quotes the key: {e}");
    let c = control::config::parse(BASE).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("example-only-secret"), "Debug shows the PSK");
}

#[test]
fn every_bad_entry_is_reported_with_its_line() {
    let text = base_with(r#"address = "192.0.2.1/24""#, r#"address = "192.0.2.1/33""#)
        .replace("hash = \"sha256\"", "hash = \"sha3\"")
        .replace("\"esp-aes-256\"", "\"esp-aes-512\"")
        .replace("seq = 10", "seq = 10\nset_peer = \"198.51.100.2\"");
    let e = control::config::parse(&text).unwrap_err();
    let errs = e.syntax_errors();
    assert_eq!(errs.len(), 4, "{e}");
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let expect = [
        ("interface[1].address", line("192.0.2.1/33")),
        ("isakmp_policy[0].hash", line("sha3")),
        ("transform_set[0].esp_encryption", line("esp-aes-512")),
        ("crypto_map[0].set_peer", line("set_peer")),
    ];
    for ((path, line), err) in expect.iter().zip(errs) {
        assert_eq!((err.path.as_str(), err.line), (*path, Some(*line)), "{e}");
    }
    assert!(e.to_string().starts_with("4 errors:\n  line "), "{e}");
}

#[test]
fn unknown_section_and_bad_section_together() {
    let text = BASE.to_owned() + "[isakmp]\nnat_t = \"yes\"\n[[crypto_maps]]\nname = \"x\"\n";
    let e = control::config::parse(&text).unwrap_err();
    let paths: Vec<&str> = e.syntax_errors().iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["isakmp.nat_t", "crypto_maps"], "{e}");
}
