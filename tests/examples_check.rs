//! The shipped configs and the installer, through the built binary:
//! - every `deploy/examples/*.toml` passes `espgate check-config`, and its `[pki]` paths resolve to readable files;
//! - broken copies fail, naming the field;
//! - `deploy/install.sh` installs into a staging directory (`--prefix`), keeps an existing config, uninstalls, and
//!   changes nothing with `--dry-run`. Nothing here touches the real system.
//!
//! Examples are copied to a scratch directory with mode 0600 first: git checks them out 0644, and espgate refuses
//! world-readable files that hold keys. Certificate examples name `pki/ca.pem`, `pki/gw1.pem`, `pki/gw1.key` beside
//! the config; the test puts the project's throwaway test PKI there (control/tests/data/pki: an RSA CA and a gateway
//! certificate and key issued by it, see its README), so the paths point at real PEM files.
use control::config::{self, PermissionCheck};
use control::pki::Credentials;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory under cargo's per-test temporary directory.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("examples-check-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(repo().join("deploy/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

fn copy_mode(from: &Path, to: &Path, mode: u32) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
}

/// Copies the example (mode 0600) and the test PKI its `[pki]` names into `dir`; returns the copy's path.
fn stage(example: &Path, dir: &Path) -> PathBuf {
    let dest = dir.join(example.file_name().unwrap());
    copy_mode(example, &dest, 0o600);
    let cfg = config::parse_unvalidated(&fs::read_to_string(example).unwrap()).unwrap();
    if let Some(pki) = &cfg.pki {
        let data = repo().join("control/tests/data/pki");
        for ca in &pki.ca {
            copy_mode(&data.join("ca-rsa.pem"), &dir.join(ca), 0o644);
        }
        copy_mode(&data.join("gw-rsa.pem"), &dir.join(&pki.certificate), 0o644);
        copy_mode(&data.join("gw-rsa.key"), &dir.join(&pki.private_key), 0o600);
    }
    dest
}

fn espgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_espgate")).args(args).env_remove("RUST_BACKTRACE").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn every_example_passes_check_config() {
    let dir = scratch("ok");
    let all = examples();
    for name in ["espgate.toml", "site-to-site-psk.toml", "site-to-site-certs.toml", "nat-t.toml", "manual-keys.toml"] {
        assert!(all.iter().any(|p| p.ends_with(name)), "deploy/examples/{name} is missing");
    }
    for ex in all {
        let copy = stage(&ex, &dir);
        let o = espgate(&["check-config", copy.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", ex.display(), text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains(": OK ("), "{}: {}", ex.display(), text(&o));
        // What check-config does not look at but the daemon does at start: the [pki] files load, and every
        // signature policy fits the private key (an rsa-sig policy with an ECDSA key stops the daemon).
        let cfg = config::load(&copy, PermissionCheck::Enforce).unwrap();
        cfg.check_files().unwrap_or_else(|e| panic!("{}: {e}", ex.display()));
        if let Some(pki) = &cfg.pki {
            let creds = Credentials::from_config(pki).unwrap_or_else(|e| panic!("{}: {e}", ex.display()));
            for p in &cfg.isakmp_policies {
                let (what, at) = (p.authentication, ex.display());
                assert!(
                    creds.method_for(what).is_some(),
                    "{at}: isakmp_policy {}: {what} does not fit the key",
                    p.priority
                );
            }
        }
    }
}

/// A copy of the PSK example with `from` replaced by `to` fails check-config naming `field`.
fn broken(name: &str, from: &str, to: &str, field: &str) {
    let dir = scratch(name);
    let copy = stage(&repo().join("deploy/examples/site-to-site-psk.toml"), &dir);
    let good = fs::read_to_string(&copy).unwrap();
    assert!(good.contains(from), "the example no longer has {from:?}: update this test");
    fs::write(&copy, good.replacen(from, to, 1)).unwrap();
    let o = espgate(&["check-config", copy.to_str().unwrap()]);
    assert!(!o.status.success(), "{name}: a broken config passed: {}", text(&o));
    assert!(text(&o).contains(field), "{name}: the error does not name {field:?}: {}", text(&o));
}

#[test]
fn broken_copies_fail_naming_the_field() {
    broken("dh-group", "group = 14", "group = 13", "isakmp_policy[0].group");
    broken("typo", "hash = \"sha384\"", "hsah = \"sha384\"", "isakmp_policy[0].hsah");
    broken(
        "transform-set",
        "[\"TS-GCM\", \"TS1\"]",
        "[\"TS-GCM\", \"TS9\"]",
        "crypto_map \"CM1\" seq 10: transform_sets",
    );
    broken("route", "next_hop = \"198.51.100.2\"", "next_hop = \"203.0.113.9\"", "route[0].next_hop");
}

#[test]
fn a_world_readable_example_with_keys_is_refused() {
    let dir = scratch("mode");
    let copy = stage(&repo().join("deploy/examples/site-to-site-psk.toml"), &dir);
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
    let o = espgate(&["check-config", copy.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("every user can read it"), "{}", text(&o));
}

fn install_sh(args: &[&str]) -> Output {
    Command::new("bash").arg(repo().join("deploy/install.sh")).args(args).output().unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

#[test]
fn install_script_into_a_staging_prefix() {
    let root = scratch("install");
    let prefix = root.join("root");
    let bin = env!("CARGO_BIN_EXE_espgate");
    let p = prefix.to_str().unwrap();
    let o = install_sh(&["--prefix", p, "--bin", bin, "--hugepages", "256", "--example", "nat-t"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mode(&prefix.join("usr/local/sbin/espgate")), 0o755);
    assert_eq!(mode(&prefix.join("etc/espgate")), 0o700);
    assert_eq!(mode(&prefix.join("etc/espgate/espgate.toml")), 0o600);
    assert_eq!(mode(&prefix.join("etc/systemd/system/espgate.service")), 0o644);
    for ex in examples() {
        assert_eq!(mode(&prefix.join("etc/espgate/examples").join(ex.file_name().unwrap())), 0o600);
    }
    let config = prefix.join("etc/espgate/espgate.toml");
    assert_eq!(fs::read(&config).unwrap(), fs::read(repo().join("deploy/examples/nat-t.toml")).unwrap());
    let sysctl = fs::read_to_string(prefix.join("etc/sysctl.d/80-espgate-hugepages.conf")).unwrap();
    assert!(sysctl.lines().any(|l| l == "vm.nr_hugepages = 256"), "{sysctl}");
    assert!(fs::read_to_string(prefix.join("etc/modules-load.d/espgate.conf")).unwrap().contains("\nvfio-pci\n"));
    // The installed binary accepts the installed config (mode 0600, as the installer left it).
    let o = Command::new(prefix.join("usr/local/sbin/espgate")).args(["check-config"]).arg(&config).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // A second run keeps the operator's config.
    fs::write(&config, "# edited by the operator\n").unwrap();
    let o = install_sh(&["--prefix", p, "--bin", bin]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("kept the existing"), "{}", text(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), "# edited by the operator\n");

    // A dry run prints and changes nothing.
    let before = tree(&prefix);
    let o = install_sh(&["--prefix", p, "--bin", bin, "--dry-run", "--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("+ rm -rf -- "), "{}", text(&o));
    assert_eq!(tree(&prefix), before);

    // Uninstall removes what the install added and keeps the configs (keys) unless --purge.
    let o = install_sh(&["--prefix", p, "--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    for gone in
        ["usr/local/sbin/espgate", "etc/systemd/system/espgate.service", "etc/sysctl.d/80-espgate-hugepages.conf"]
    {
        assert!(!prefix.join(gone).exists(), "{gone} is still there");
    }
    assert!(config.exists());
    let o = install_sh(&["--prefix", p, "--purge"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!prefix.join("etc/espgate").exists());

    // Mistakes are refused before anything is done.
    for bad in [&["--prefix", p, "--hugepages", "lots"][..], &["--prefix", p, "--example", "nope"], &["--frobnicate"]] {
        let o = install_sh(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
}

/// Every path under `dir` with its mode and size, sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, u32, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p.clone());
            }
            out.push((p, m.permissions().mode(), m.len()));
        }
    }
    out.sort();
    out
}

#[test]
fn install_script_passes_shellcheck() {
    let Ok(o) = Command::new("shellcheck").arg(repo().join("deploy/install.sh")).output() else {
        eprintln!("shellcheck is not installed (apt-get install shellcheck): skipped");
        return;
    };
    assert!(o.status.success(), "{}", text(&o));
}

/// `systemd-analyze verify` accepts deploy/espgate.service without a single complaint (it only warns about unknown
/// keys and bad values, so any output fails). The binary path is pointed at the built binary, which exists.
#[test]
fn systemd_unit_verifies() {
    let dir = scratch("unit");
    let unit = fs::read_to_string(repo().join("deploy/espgate.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/sbin/espgate run --config /etc/espgate/espgate.toml"));
    let path = dir.join("espgate.service");
    fs::write(&path, unit.replace("/usr/local/sbin/espgate", env!("CARGO_BIN_EXE_espgate"))).unwrap();
    let Ok(o) = Command::new("systemd-analyze").arg("verify").arg(&path).output() else {
        eprintln!("systemd-analyze is not installed: skipped");
        return;
    };
    assert!(o.status.success() && o.stderr.is_empty() && o.stdout.is_empty(), "{}", text(&o));
}
