//! Warnings for legal but questionable settings, and the `[pki]` file checks.

mod config_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use config_common::*;
use control::config::parse;

fn warnings(text: &str) -> Vec<String> {
    parse(text).unwrap_or_else(|e| panic!("{e}")).warnings().iter().map(|w| w.to_string()).collect()
}

#[test]
fn clean_config_has_no_warnings() {
    assert_eq!(warnings(BASE), Vec::<String>::new());
}

#[test]
fn weak_algorithms_are_flagged() {
    let text = base_with("encryption = \"aes-256\"\nhash = \"sha256\"", "encryption = \"3des\"\nhash = \"md5\"")
        .replace("group = 14", "group = 2")
        .replace("\"esp-aes-256\"", "\"esp-des\"")
        .replace("\"esp-sha256-hmac\"", "\"esp-md5-hmac\"")
        .replace("transform_sets = [\"TS1\"]", "transform_sets = [\"TS1\"]\npfs = 1");
    let w = warnings(&text);
    for expected in [
        "isakmp_policy 10: encryption: 3des is weak",
        "isakmp_policy 10: hash: md5 is weak",
        "isakmp_policy 10: group: group 2 is weak",
        "transform_set \"TS1\": esp_encryption: esp-des is weak",
        "transform_set \"TS1\": esp_integrity: esp-md5-hmac is weak",
        "crypto_map \"CM1\" seq 10: pfs: group 1 is weak",
    ] {
        assert!(w.iter().any(|x| x.starts_with(expected)), "missing {expected:?} in {w:#?}");
    }
    assert_eq!(w.len(), 6, "{w:#?}");
}

#[test]
fn a_crypto_backend_on_an_entry_without_esp_is_flagged() {
    let esp = base_with("seq = 10\n", "seq = 10\ncrypto = \"cpu\"\n");
    assert_eq!(warnings(&esp), Vec::<String>::new());
    let ah = esp
        .replace("esp_encryption = \"esp-aes-256\"\n", "ah = \"ah-sha256-hmac\"\n")
        .replace("esp_integrity = \"esp-sha256-hmac\"\n", "");
    let w = warnings(&ah);
    assert_eq!(w.len(), 1, "{w:#?}\n{ah}");
    assert!(w[0].starts_with("crypto_map \"CM1\" seq 10: crypto: has no effect"), "{w:#?}");
}

#[test]
fn unused_and_exposed_things_are_flagged() {
    let text = base_with("crypto_map = \"CM1\"\n", "")
        + "[[transform_set]]\nname = \"TS2\"\nesp_encryption = \"esp-gcm-128\"\n"
        + "[isakmp]\naggressive_mode = true\n"
        + "[metrics]\nlisten = \"198.51.100.1:9100\"\n";
    let w = warnings(&text);
    assert!(w.iter().any(|x| x.starts_with("crypto_map \"CM1\": not applied to any interface")), "{w:#?}");
    assert!(w.iter().any(|x| x.starts_with("transform_set \"TS2\": not used")), "{w:#?}");
    assert!(w.iter().any(|x| x.starts_with("isakmp.aggressive_mode: Aggressive Mode with pre-shared keys")), "{w:#?}");
    assert!(w.iter().any(|x| x.starts_with("metrics.listen: 198.51.100.1:9100 serves the counters")), "{w:#?}");
    assert_eq!(w.len(), 4, "{w:#?}");
}

#[test]
fn pki_files_are_checked() {
    let dir = std::env::temp_dir().join(format!("espgate-config-{}-pkifiles", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for f in ["ca.pem", "gw1.pem", "gw1.key"] {
        fs::write(dir.join(f), "-----BEGIN TEST-----\n").unwrap();
    }
    fs::set_permissions(dir.join("gw1.key"), fs::Permissions::from_mode(0o600)).unwrap();
    let pki = |ca: &str| {
        format!(
            "{BASE}[pki]\nca = [\"{}\"]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
            dir.join(ca).display(),
            dir.join("gw1.pem").display(),
            dir.join("gw1.key").display()
        )
    };
    parse(&pki("ca.pem")).unwrap().check_files().unwrap();
    let e = parse(&pki("missing-ca.pem")).unwrap().check_files().unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert!(e.to_string().starts_with("pki.ca: cannot read ") && e.to_string().contains("missing-ca.pem"), "{e}");
    fs::set_permissions(dir.join("gw1.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let e = parse(&pki("ca.pem")).unwrap().check_files().unwrap_err();
    assert!(e.to_string().starts_with("pki.private_key: ") && e.to_string().contains("mode 644"), "{e}");
    fs::remove_dir_all(dir).unwrap();
}
