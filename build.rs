//! The final binary's build script: what only it can do.
//! - Link arguments: a dependency's `cargo:rustc-link-arg` never reaches the binary's link line.
//! - Build facts for `espgate version`: DPDK version, git revision, profile, target.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=.git/HEAD");
    // HEAD names the branch; the revision changes in the branch's ref file (and packed-refs after a gc).
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{r}");
        }
    }
    println!("cargo:rerun-if-changed=.git/packed-refs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Full RELRO and immediate binding: a gateway on the Internet should not keep its GOT writable.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,relro,-z,now");
    // espgate runs from wherever it is installed; DPDK's libraries are found through ld.so's paths, and its
    // drivers through EAL's plugin directory (shared linkage), so nothing else is needed on the link line.

    let dpdk = Command::new("pkg-config")
        .args(["--modversion", "libdpdk"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let git = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ESPGATE_DPDK_VERSION={dpdk}");
    println!("cargo:rustc-env=ESPGATE_GIT_REVISION={git}");
    println!("cargo:rustc-env=ESPGATE_PROFILE={}", std::env::var("PROFILE").unwrap_or_default());
    println!("cargo:rustc-env=ESPGATE_TARGET={}", std::env::var("TARGET").unwrap_or_default());
}
