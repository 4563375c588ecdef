//! Generates bindings for the installed DPDK and builds the C shim for its static inlines.
//!
//! The raw `pkg-config --cflags libdpdk` output is passed to clang and cc: the pkg-config crate drops
//! `-include rte_config.h` and `-march=corei7`, without which the headers do not compile.
use std::env;
use std::path::PathBuf;
use std::process::Command;

const INSTALL_HINT: &str = "DPDK development files were not found (pkg-config libdpdk).\n\
    espgate needs DPDK 22.11 or newer. On Debian 12 install it with:\n\
    \n    apt-get install -y libdpdk-dev dpdk-dev pkg-config clang libclang-dev\n\
    \nor run deploy/setup.sh, which installs everything the build and the tests need.";

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-changed=shim_crypto.h");
    println!("cargo:rerun-if-changed=shim_crypto.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let lib = match pkg_config::Config::new().atleast_version("22.11").cargo_metadata(true).probe("libdpdk") {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("\n{INSTALL_HINT}\n\n(pkg-config said: {e})\n");
            panic!("{INSTALL_HINT}");
        }
    };
    let cflags = raw_cflags();
    // Tell dependents (engine's build.rs) the DPDK version, through DEP_DPDK_VERSION.
    println!("cargo:version={}", lib.version);

    let mut build = cc::Build::new();
    build.file("shim.c").file("shim_crypto.c").include(".").opt_level(3).warnings(false);
    for f in &cflags {
        build.flag(f);
    }
    build.compile("espgate_dpdk_shim");
    // Drivers whose own APIs espgate calls (rte_eth_from_rings). The other PMDs are loaded by EAL at run time.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");
    // rte_vdev_init: `crypto = "auto"` creates its crypto vdev after EAL init, so a missing driver is not fatal.
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-I.")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_(free|avail_count|in_use_count|lookup)")
        .allowlist_function("rte_ring_(create|free|lookup)")
        .allowlist_function("rte_lcore_.*")
        .allowlist_function("rte_get_(next_lcore|main_lcore|tsc_hz|timer_hz)")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_mbuf_dynfield_register")
        .allowlist_function("rte_delay_us_block")
        .allowlist_function("rte_cryptodev_(get_dev_id|count|configure|start|stop|close|info_get|queue_pair_setup)")
        .allowlist_function("rte_cryptodev_(socket_id|name_get|sym_session_free|sym_get_private_session_size)")
        .allowlist_function("rte_cryptodev_sym_session_pool_create")
        .allowlist_function("rte_vdev_init")
        .allowlist_type("rte_cryptodev_(info|config|qp_conf)")
        .allowlist_type("rte_crypto_(aead|cipher|auth)_algorithm")
        .allowlist_type("rte_crypto_op_status")
        .allowlist_var("ESPGATE_.*")
        .allowlist_function("espgate_.*")
        .allowlist_var("espgate_.*")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_ether_(hdr|addr)")
        .allowlist_var("RTE_MBUF_.*")
        .allowlist_var("RTE_ETH_.*")
        .allowlist_var("RTE_PKTMBUF_.*")
        .allowlist_var("RTE_MAX_(LCORE|ETHPORTS)")
        .allowlist_var("RING_F_.*")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("LCORE_ID_ANY")
        .allowlist_var("RTE_ETHER_.*")
        // Thread-locals become plain statics under bindgen: they link, then crash. Read them through the shim.
        .blocklist_item("per_lcore_.*")
        .blocklist_item("rte_eth_fp_ops")
        .opaque_type("rte_eth_dev")
        .opaque_type("rte_eth_dev_data")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .derive_default(true)
        .prepend_enum_name(false)
        .generate_comments(false)
        .layout_tests(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on the DPDK headers: {e}\n{INSTALL_HINT}"));
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings.rs");
    ipsec_mb(&out);
}

/// intel-ipsec-mb (libIPSec_MB, which Debian's libdpdk-dev depends on): the crypto library of DPDK's aesni_mb PMD,
/// called directly by espgate's CPU crypto backend. Its API is a manager struct of function pointers (the header's
/// `IMB_*` macros call through them), so no shim is needed.
fn ipsec_mb(out: &std::path::Path) {
    println!("cargo:rerun-if-changed=/usr/include/intel-ipsec-mb.h");
    println!("cargo:rustc-link-lib=dylib=IPSec_MB");
    let bindings = bindgen::Builder::default()
        .header_contents("imb.h", "#include <stdint.h>\n#include <intel-ipsec-mb.h>\n")
        .allowlist_function("(alloc|free)_mb_mgr")
        .allowlist_function("init_mb_mgr_auto")
        .allowlist_function("imb_get_errno")
        .allowlist_type("IMB_MGR")
        .allowlist_type("IMB_JOB")
        .allowlist_type("IMB_ARCH")
        .allowlist_type("IMB_STATUS")
        .allowlist_type("IMB_CIPHER_(MODE|DIRECTION)")
        .allowlist_type("IMB_HASH_ALG")
        .allowlist_type("IMB_CHAIN_ORDER")
        .allowlist_type("gcm_(key|context)_data")
        .allowlist_var("IMB_VERSION_STR")
        .derive_default(true)
        .prepend_enum_name(false)
        .generate_comments(false)
        .layout_tests(true)
        .generate()
        .unwrap_or_else(|e| {
            panic!("bindgen failed on intel-ipsec-mb.h: {e}\ninstall it with: apt-get install -y libipsec-mb-dev")
        });
    bindings.write_to_file(out.join("ipsec_mb.rs")).expect("write ipsec_mb.rs");
}

/// The compiler flags pkg-config gives for DPDK, whole.
fn raw_cflags() -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config: {e}\n{INSTALL_HINT}"));
    if !out.status.success() {
        panic!("{INSTALL_HINT}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags = Vec::new();
    let mut it = text.split_whitespace();
    while let Some(f) = it.next() {
        if f == "-include" {
            if let Some(h) = it.next() {
                flags.push(format!("-include{h}"));
            }
        } else {
            flags.push(f.to_string());
        }
    }
    flags
}
