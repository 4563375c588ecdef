//! Scapy's IPsec module against `espgate run` on net_pcap ports, for every ESP encryption algorithm (each with an
//! integrity algorithm, all five covered): one gateway config with a crypto map entry per algorithm, each to its own
//! peer. Scapy encrypts traffic from each peer and espgate must decrypt it to the original; espgate encrypts
//! cleartext for each peer and Scapy must decrypt it to the original.
mod common;
#[path = "common/manual_maps.rs"]
mod manual_maps;

use manual_maps::{agree_with_scapy, c, Combo};

const COMBOS: [Combo; 12] = [
    c("esp-null", Some("esp-sha-hmac"), ("NULL", Some("HMAC-SHA1-96")), (0, 20), false),
    c("esp-des", Some("esp-md5-hmac"), ("DES", Some("HMAC-MD5-96")), (8, 16), false),
    c("esp-3des", Some("esp-sha-hmac"), ("3DES", Some("HMAC-SHA1-96")), (24, 20), false),
    c("esp-aes-128", Some("esp-sha256-hmac"), ("AES-CBC", Some("SHA2-256-128")), (16, 32), false),
    c("esp-aes-192", Some("esp-sha384-hmac"), ("AES-CBC", Some("SHA2-384-192")), (24, 48), false),
    c("esp-aes-256", Some("esp-sha512-hmac"), ("AES-CBC", Some("SHA2-512-256")), (32, 64), false),
    c("esp-aes-ctr-128", Some("esp-sha-hmac"), ("AES-CTR", Some("HMAC-SHA1-96")), (20, 20), false),
    c("esp-aes-ctr-192", Some("esp-sha256-hmac"), ("AES-CTR", Some("SHA2-256-128")), (28, 32), false),
    c("esp-aes-ctr-256", Some("esp-md5-hmac"), ("AES-CTR", Some("HMAC-MD5-96")), (36, 16), false),
    c("esp-gcm-128", None, ("AES-GCM", None), (20, 0), false),
    c("esp-gcm-192", None, ("AES-GCM", None), (28, 0), false),
    c("esp-gcm-256", None, ("AES-GCM", None), (36, 0), false),
];

#[test]
fn scapy_and_espgate_agree_on_every_algorithm() {
    // The software backend, pinned: the default (auto) would put most suites on the crypto device.
    agree_with_scapy("scapy-run", &COMBOS, "crypto = \"cpu\"", 3, false);
}
