//! Scapy's IPsec module against `espgate run` on net_pcap ports with `[engine] crypto = "cryptodev"` on
//! `crypto_aesni_mb0`: GCM and CBC + HMAC-SHA1 with and without ESN, and the other suites once each. Scapy encrypts
//! traffic from each peer and espgate must decrypt it to the original; espgate encrypts cleartext for each peer and
//! Scapy must decrypt it. `show crypto ipsec sa` names the device as every SA's backend.
//!
//! Then the same with `crypto = "cpu"` (intel-ipsec-mb called directly, RustCrypto for 3DES), `crypto = "auto"`, with
//! the default (no `crypto` key: auto, the device created after EAL init),
//! with crypto map entries on different backends in one daemon, and with a device whose driver is not there.
mod common;
#[path = "common/manual_maps.rs"]
mod manual_maps;

use manual_maps::{c, Combo};
use serde_json::Value;

const COMBOS: [Combo; 9] = [
    c("esp-gcm-128", None, ("AES-GCM", None), (20, 0), false),
    c("esp-gcm-128", None, ("AES-GCM", None), (20, 0), true),
    c("esp-aes-128", Some("esp-sha-hmac"), ("AES-CBC", Some("HMAC-SHA1-96")), (16, 20), false),
    c("esp-aes-128", Some("esp-sha-hmac"), ("AES-CBC", Some("HMAC-SHA1-96")), (16, 20), true),
    c("esp-gcm-256", None, ("AES-GCM", None), (36, 0), false),
    c("esp-aes-256", Some("esp-sha512-hmac"), ("AES-CBC", Some("SHA2-512-256")), (32, 64), false),
    c("esp-aes-ctr-128", Some("esp-sha256-hmac"), ("AES-CTR", Some("SHA2-256-128")), (20, 32), true),
    c("esp-3des", Some("esp-sha-hmac"), ("3DES", Some("HMAC-SHA1-96")), (24, 20), false),
    c("esp-null", Some("esp-sha384-hmac"), ("NULL", Some("SHA2-384-192")), (0, 48), false),
];

#[test]
fn scapy_and_espgate_agree_through_the_aesni_mb_cryptodev() {
    let crypto = "crypto = \"cryptodev\"\ncrypto_devargs = \"crypto_aesni_mb0\"";
    let (log, v) = agree_with_scapy(crypto, "scapy-run-cryptodev");
    assert!(log.contains("crypto: device crypto_aesni_mb0 (driver crypto_aesni_mb)"), "{log}");
    for e in v["sas"].as_array().unwrap() {
        for dir in ["inbound_esp_sas", "outbound_esp_sas"] {
            assert_eq!(e[dir][0]["crypto_backend"], "cryptodev crypto_aesni_mb0 (cpu-crypto)", "{e}");
        }
    }
}

/// `crypto = "auto"`: each suite's first SA measures the device against the CPU backend and takes the faster; the
/// traffic is the same either way. The CPU backend is intel-ipsec-mb itself for the AES suites, so those may go
/// either way; 3DES on the CPU is RustCrypto, far slower than the device's intel-ipsec-mb, so it must land on the
/// device. Every SA says it was chosen.
#[test]
fn auto_chooses_per_suite_by_measurement() {
    let (log, v) = agree_with_scapy("crypto = \"auto\"", "scapy-run-crypto-auto");
    assert!(log.contains("crypto: auto: ESP esp-aes-128 esp-sha-hmac: "), "{log}");
    assert!(log.contains("crypto: auto: ESP esp-3des esp-sha-hmac: device"), "{log}");
    for (e, c) in v["sas"].as_array().unwrap().iter().zip(COMBOS.iter()) {
        for dir in ["inbound_esp_sas", "outbound_esp_sas"] {
            let b = e[dir][0]["crypto_backend"].as_str().unwrap_or_default();
            assert!(b.ends_with("(auto)"), "{e}");
            assert!(b.starts_with("cryptodev crypto_aesni_mb0") || b.starts_with("cpu intel-ipsec-mb"), "{e}");
            if c.enc == "esp-3des" {
                assert!(b.starts_with("cryptodev crypto_aesni_mb0"), "{} {e}", c.enc);
            }
        }
    }
}

/// `crypto = "cpu"`: intel-ipsec-mb called directly for every suite it has, RustCrypto for 3DES; Scapy agrees both
/// ways for each, and no crypto device is opened.
#[test]
fn scapy_and_espgate_agree_on_the_cpu_backend() {
    let (log, v) = agree_with_scapy("crypto = \"cpu\"", "scapy-run-crypto-cpu");
    assert!(!log.contains("crypto: device"), "{log}");
    for (e, c) in v["sas"].as_array().unwrap().iter().zip(COMBOS.iter()) {
        let want = if c.enc == "esp-3des" { "cpu" } else { "cpu intel-ipsec-mb" };
        for dir in ["inbound_esp_sas", "outbound_esp_sas"] {
            assert_eq!(e[dir][0]["crypto_backend"], want, "{} {e}", c.enc);
        }
    }
}

/// Entries of one daemon on different backends by their own `crypto` key, the engine on its default (auto): the
/// entry that asks for the device gets it, the one that asks for the CPU gets it, the others are measured;
/// `show crypto ipsec sa --json` reports each SA's own backend.
#[test]
fn each_crypto_map_entry_gets_the_backend_it_asks_for() {
    const MIXED: [Combo; 4] = [
        COMBOS[2].on("cryptodev"),
        COMBOS[2].on("cpu"),
        COMBOS[0].on("cryptodev"),
        // No key: [engine] crypto, auto by default; 3DES in intel-ipsec-mb is far faster than RustCrypto's.
        COMBOS[7],
    ];
    let (log, shown) = manual_maps::agree_with_scapy("scapy-run-crypto-mixed", &MIXED, "", 3, true);
    let v = shown.unwrap_or_else(|| panic!("show crypto ipsec sa never answered:\n{log}"));
    let sas = v["sas"].as_array().unwrap();
    assert_eq!(sas.len(), MIXED.len(), "{v}");
    assert!(log.contains("crypto: device crypto_aesni_mb0 (driver crypto_aesni_mb)"), "{log}");
    let want = [
        "cryptodev crypto_aesni_mb0 (cpu-crypto)",
        "cpu intel-ipsec-mb",
        "cryptodev crypto_aesni_mb0 (cpu-crypto)",
        "cryptodev crypto_aesni_mb0 (cpu-crypto) (auto)",
    ];
    for (seq, want) in want.iter().enumerate() {
        let e =
            sas.iter().find(|e| e["seq"] == 10 * (seq + 1)).unwrap_or_else(|| panic!("seq {}: {v}", 10 * (seq + 1)));
        for dir in ["inbound_esp_sas", "outbound_esp_sas"] {
            assert_eq!(e[dir][0]["crypto_backend"], *want, "seq {}: {e}", 10 * (seq + 1));
        }
    }
    // Only the suite on auto was measured.
    assert_eq!(log.matches("crypto: auto: ESP").count(), 1, "{log}");
}

/// No `crypto` key anywhere: auto, with the device created after EAL init (not on the EAL command line); the daemon
/// starts and passes traffic both ways, and every SA says it was chosen by auto.
#[test]
fn the_default_is_auto_and_passes_traffic() {
    let (log, shown) = manual_maps::agree_with_scapy("scapy-run-crypto-default", &COMBOS[..3], "", 3, true);
    let v = shown.unwrap_or_else(|| panic!("show crypto ipsec sa never answered:\n{log}"));
    assert!(log.contains("crypto: device crypto_aesni_mb0 (driver crypto_aesni_mb)"), "{log}");
    for e in v["sas"].as_array().unwrap() {
        for dir in ["inbound_esp_sas", "outbound_esp_sas"] {
            assert!(e[dir][0]["crypto_backend"].as_str().unwrap_or_default().ends_with("(auto)"), "{e}");
        }
    }
}

/// auto never stops the daemon: a device that cannot be created (here, no driver of that name) is one warning and
/// the CPU backend for every suite. An entry that insists on `cryptodev` then stops the start-up, naming itself.
#[test]
fn auto_without_its_device_runs_on_the_cpu_and_an_entry_asking_for_it_is_a_start_up_error() {
    let missing = "crypto_devargs = \"crypto_espgate_missing0\"";
    let (log, shown) = manual_maps::agree_with_scapy("scapy-run-crypto-nodev", &COMBOS[..3], missing, 3, true);
    assert!(log.contains("crypto: auto: no crypto device \"crypto_espgate_missing0\""), "{log}");
    let warnings = log.lines().filter(|l| l.contains("WARN") && l.contains("crypto")).count();
    assert_eq!(warnings, 1, "one warning:\n{log}");
    let v = shown.unwrap_or_else(|| panic!("show crypto ipsec sa never answered:\n{log}"));
    for e in v["sas"].as_array().unwrap() {
        for dir in ["inbound_esp_sas", "outbound_esp_sas"] {
            assert_eq!(e[dir][0]["crypto_backend"], "cpu intel-ipsec-mb (auto: no device)", "{e}");
        }
    }
    let (ok, log) = manual_maps::start_only("crypto-nodev-insist", &[COMBOS[0], COMBOS[2].on("cryptodev")], missing);
    assert!(!ok, "started without the device an entry asked for:\n{log}");
    assert!(log.contains("crypto map CM1 20: crypto = \"cryptodev\", but there is no crypto device"), "{log}");
    assert!(log.contains("crypto_espgate_missing0"), "{log}");
}

/// A reload (SIGHUP) that adds an entry asking for `cryptodev` while auto has no device is refused and the running
/// config kept; the same entry asking for `cpu` is then taken, and its SAs are built on the CPU backend.
#[test]
fn a_reload_asking_for_a_missing_device_is_refused() {
    let missing = "crypto_devargs = \"crypto_espgate_missing0\"";
    let first = [COMBOS[0]];
    let insist = [COMBOS[0], COMBOS[2].on("cryptodev")];
    let software = [COMBOS[0], COMBOS[2].on("cpu")];
    let (log, shown) = manual_maps::run_with_reloads("crypto-reload-nodev", missing, &first, &[&insist, &software], 3);
    let refused = log.lines().position(|l| l.contains("reload of") && l.contains("refused, running config kept"));
    let refused = refused.unwrap_or_else(|| panic!("no refused reload:\n{log}"));
    assert!(log.lines().nth(refused).unwrap().contains("crypto map CM1 20: crypto = \"cryptodev\""), "{log}");
    let taken = log.lines().position(|l| l.contains("config reloaded")).unwrap_or_else(|| panic!("{log}"));
    assert!(taken > refused, "{log}");
    let v = shown.unwrap_or_else(|| panic!("show crypto ipsec sa never answered:\n{log}"));
    let backend = |seq: u32| {
        let e = v["sas"].as_array().unwrap().iter().find(|e| e["seq"] == seq).unwrap_or_else(|| panic!("{v}"));
        e["outbound_esp_sas"][0]["crypto_backend"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(backend(10), "cpu intel-ipsec-mb (auto: no device)", "{v}");
    assert_eq!(backend(20), "cpu intel-ipsec-mb", "{v}");
}

/// Runs every combination through `espgate run` with the `[engine]` crypto lines given, both ways against Scapy;
/// returns the daemon's log and what `show crypto ipsec sa --json` said.
fn agree_with_scapy(crypto: &str, name: &str) -> (String, Value) {
    let (log, shown) = manual_maps::agree_with_scapy(name, &COMBOS, crypto, 4, true);
    let v = shown.unwrap_or_else(|| panic!("show crypto ipsec sa never answered:\n{log}"));
    assert_eq!(v["sas"].as_array().unwrap().len(), COMBOS.len(), "{v}");
    (log, v)
}
