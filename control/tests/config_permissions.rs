//! The permission check of `config::load` for files that hold keys: world-readable is refused with the fix named,
//! group-readable is accepted with a warning, private is silent; files without keys are not checked.

mod config_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use config_common::BASE;
use control::config::{load, load_with_warnings, ConfigError, PermissionCheck};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("espgate-perm-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("gw.toml");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn world_readable_key_file_is_refused_naming_the_file_and_the_fix() {
    let dir = scratch("world");
    for mode in [0o604, 0o644, 0o666, 0o755] {
        let path = write(&dir, BASE, mode);
        let e = load_with_warnings(&path, PermissionCheck::Enforce).unwrap_err();
        assert!(matches!(e, ConfigError::WorldReadable { mode: m, .. } if m == mode), "{e:?}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("{}:", path.display())), "{shown}");
        assert!(shown.contains(&format!("chmod 600 {}", path.display())), "{shown}");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn group_readable_key_file_loads_with_a_warning() {
    let dir = scratch("group");
    let path = write(&dir, BASE, 0o640);
    let (config, warnings) = load_with_warnings(&path, PermissionCheck::Enforce).unwrap();
    assert!(config.contains_secrets());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let shown = warnings[0].to_string();
    assert!(shown.contains("group can read") && shown.contains("mode 640") && shown.contains("chmod 600"), "{shown}");
    assert!(load(&path, PermissionCheck::Enforce).is_ok(), "a warning, not an error");
    // Private: nothing to say. Skip: not looked at.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load_with_warnings(&path, PermissionCheck::Enforce).unwrap().1.is_empty());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(load_with_warnings(&path, PermissionCheck::Skip).unwrap().1.is_empty());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn file_without_keys_is_not_checked() {
    let dir = scratch("nokeys");
    let text = "[[interface]]\nname = \"inside\"\ndevice = \"net_null0\"\naddress = \"192.0.2.1/24\"\n";
    let path = write(&dir, text, 0o644);
    let (config, warnings) = load_with_warnings(&path, PermissionCheck::Enforce).unwrap();
    assert!(!config.contains_secrets() && warnings.is_empty());
    fs::remove_dir_all(dir).unwrap();
}
