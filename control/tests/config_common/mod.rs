//! Shared helpers for the config tests: a small valid config to break one rule at a time.
#![allow(dead_code)] // each test binary uses a different subset

use control::config::{parse, ConfigError};

/// A minimal valid site-to-site PSK config.
pub const BASE: &str = r#"
[engine]
workers = [1]
control_core = 0

[[interface]]
name = "outside"
device = "net_null0"
address = "198.51.100.1/24"
crypto_map = "CM1"

[[interface]]
name = "inside"
device = "net_null1"
address = "192.0.2.1/24"

[[route]]
destination = "203.0.113.0/24"
next_hop = "198.51.100.2"
interface = "outside"

[[isakmp_policy]]
priority = 10
encryption = "aes-256"
hash = "sha256"
authentication = "pre-share"
group = 14

[[isakmp_key]]
peer = "198.51.100.2"
key = "example-only-secret"

[[transform_set]]
name = "TS1"
esp_encryption = "esp-aes-256"
esp_integrity = "esp-sha256-hmac"

[[access_list]]
name = "VPN"
entries = [{ action = "permit", protocol = "ip", source = "192.0.2.0/24", destination = "203.0.113.0/24" }]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "198.51.100.2"
match_address = "VPN"
transform_sets = ["TS1"]
"#;

/// A minimal valid manual-keyed config; `{ENC}`, `{INTEG}`, `{IN}`, `{OUT}` are filled by [`manual`].
const MANUAL: &str = r#"
[[interface]]
name = "outside"
device = "net_null0"
address = "198.51.100.1/24"
crypto_map = "CM1"

[[interface]]
name = "inside"
device = "net_null1"
address = "192.0.2.1/24"

[[transform_set]]
name = "TSM"
{ENC}
{INTEG}

[[access_list]]
name = "VPN"
entries = [{ action = "permit", source = "192.0.2.0/24", destination = "203.0.113.0/24" }]

[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-manual"
peer = "198.51.100.2"
match_address = "VPN"
transform_sets = ["TSM"]
{IN}
{OUT}
"#;

/// A manual config with the given transform-set lines and inbound/outbound SA lines.
pub fn manual(enc: &str, integ: &str, inbound: &str, outbound: &str) -> String {
    MANUAL.replace("{ENC}", enc).replace("{INTEG}", integ).replace("{IN}", inbound).replace("{OUT}", outbound)
}

/// `n` bytes of key as hex.
pub fn hex(n: usize) -> String {
    (0..n).map(|i| format!("{:02x}", (i * 7 + 1) as u8)).collect()
}

/// BASE with `from` replaced by `to` (which must occur).
pub fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}

/// The validation messages of a config that must parse but fail validation.
pub fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("config unexpectedly valid:\n{text}"),
        Err(e @ ConfigError::Invalid { .. }) => e.validation_errors().iter().map(|v| v.to_string()).collect(),
        Err(e) => panic!("expected validation errors, got: {e}\n{text}"),
    }
}

/// Asserts the config fails with exactly one error, containing every fragment.
#[track_caller]
pub fn assert_one_error(text: &str, fragments: &[&str]) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    for f in fragments {
        assert!(errs[0].contains(f), "error {:?} lacks {f:?}", errs[0]);
    }
}

/// Asserts the config is valid.
#[track_caller]
pub fn assert_valid(text: &str) {
    if let Err(e) = parse(text) {
        panic!("expected valid, got: {e}\n{text}");
    }
}

/// The syntax error message (with line and path) of a config that must not parse.
pub fn syntax_error(text: &str) -> String {
    match parse(text) {
        Err(e @ ConfigError::Syntax { .. }) => e.to_string(),
        Err(e) => panic!("expected a syntax error, got: {e}"),
        Ok(_) => panic!("config unexpectedly valid:\n{text}"),
    }
}
