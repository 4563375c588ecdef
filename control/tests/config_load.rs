//! `load`: reading files, the permission check for files holding keys, relative PKI paths, errors naming the file.

mod config_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use config_common::BASE;
use control::config::{load, ConfigError, PermissionCheck};

/// A fresh directory for one test (no tempfile crate needed).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("espgate-config-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("espgate.toml");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn world_readable_file_with_psk_is_refused() {
    let dir = scratch("psk");
    let path = write(&dir, BASE, 0o644);
    match load(&path, PermissionCheck::Enforce) {
        Err(e @ ConfigError::WorldReadable { mode: 0o644, .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("espgate.toml") && shown.contains("mode 644") && shown.contains("chmod"), "{shown}");
        }
        other => panic!("expected WorldReadable, got {other:?}"),
    }
    // The flag for tests bypasses it; a private file passes.
    assert!(load(&path, PermissionCheck::Skip).is_ok());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    assert!(load(&path, PermissionCheck::Enforce).is_ok());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn world_readable_file_with_manual_keys_is_refused() {
    let dir = scratch("manual");
    let text = config_common::manual(
        "esp_encryption = \"esp-gcm-128\"",
        "",
        &format!("inbound_esp = {{ spi = 4096, cipher_key = \"{}\" }}", config_common::hex(20)),
        &format!("outbound_esp = {{ spi = 8192, cipher_key = \"{}\" }}", config_common::hex(20)),
    );
    let path = write(&dir, &text, 0o604);
    assert!(matches!(load(&path, PermissionCheck::Enforce), Err(ConfigError::WorldReadable { .. })));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn world_readable_file_without_keys_is_fine() {
    let dir = scratch("nokeys");
    let text = "[[interface]]\nname = \"inside\"\ndevice = \"net_null0\"\naddress = \"192.0.2.1/24\"\n";
    let path = write(&dir, text, 0o644);
    let c = load(&path, PermissionCheck::Enforce).unwrap();
    assert!(!c.contains_secrets());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_name_the_file() {
    let dir = scratch("errors");
    let missing = dir.join("nope.toml");
    let e = load(&missing, PermissionCheck::Skip).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }) && e.to_string().contains("nope.toml"), "{e}");

    let path = write(&dir, &BASE.replace("workers = [1]", "workers = []"), 0o600);
    let e = load(&path, PermissionCheck::Enforce).unwrap_err();
    assert!(e.to_string().starts_with(&format!("{}: engine.workers:", path.display())), "{e}");

    let path = write(&dir, &BASE.replace("control_core = 0", "control_core = zero"), 0o600);
    let e = load(&path, PermissionCheck::Enforce).unwrap_err();
    assert!(e.to_string().starts_with(&format!("{}: line 4:", path.display())), "{e}");

    fs::write(&path, b"\xff\xfe").unwrap();
    assert!(matches!(load(&path, PermissionCheck::Skip), Err(ConfigError::NotUtf8 { .. })));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn relative_pki_paths_are_from_the_config_directory() {
    let dir = scratch("pki");
    let text = BASE.to_owned() + "[pki]\nca = [\"ca.pem\", \"/etc/espgate/other-ca.pem\"]\ncertificate = \"certs/gw1.pem\"\nprivate_key = \"private/gw1.key\"\n";
    let path = write(&dir, &text, 0o600);
    let pki = load(&path, PermissionCheck::Enforce).unwrap().pki.unwrap();
    assert_eq!(pki.ca, vec![dir.join("ca.pem"), PathBuf::from("/etc/espgate/other-ca.pem")]);
    assert_eq!(pki.certificate, dir.join("certs/gw1.pem"));
    assert_eq!(pki.private_key, dir.join("private/gw1.key"));
    fs::remove_dir_all(dir).unwrap();
}
