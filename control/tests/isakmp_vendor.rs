//! Vendor IDs in the captures are recognized with the names Wireshark gives them, and NAT-D hashes match an
//! independent computation (Python hashlib).

mod isakmp_support;

use control::crypto::{kdf, Prf};
use control::isakmp::vendor::{recognize, vendor_id_for, Capability};
use control::isakmp::{Message, Payload};

#[test]
fn capture_vendor_ids_are_recognized() {
    let mut seen = Vec::new();
    for name in ["ikev1-certs.pcap", "ikev1-bug-12610.pcapng.gz", "ikev1-bug-12620.pcapng.gz"] {
        for d in isakmp_support::isakmp_datagrams(name) {
            let msg = Message::parse(&d.isakmp).unwrap();
            for p in msg.payloads() {
                if let Payload::VendorId(v) = p {
                    seen.push((hex::encode(v), recognize(v).map(|k| (k.name, k.capability))));
                }
            }
        }
    }
    // Names as tshark 4.0 decodes these captures (transcribed), and the one ID it does not know either.
    let expect = [
        ("09002689dfd6b712", Some(("XAUTH", Capability::Xauth))),
        ("12f5f28c457168a9702d9fe274cc0100", Some(("Cisco Unity", Capability::CiscoUnity))),
        ("27bab5dc01ea0760ea4e3190ac27c0d0", Some(("draft-stenberg-ipsec-nat-traversal-01", Capability::NatTDraft))),
        ("4048b7d56ebce88525e7de7f00d6c2d380000000", Some(("Cisco Fragmentation", Capability::Fragmentation))),
        ("4485152d18b6bbcd0be8a8469579ddcc", Some(("draft-ietf-ipsec-nat-t-ike-00", Capability::NatTDraft))),
        ("4a131c81070358455c5728f20e95452f", Some(("RFC 3947 NAT-T", Capability::NatT))),
        ("4f4568794c64414365636661", None),
        ("6105c422e76847e43f9684801292aecd", Some(("draft-stenberg-ipsec-nat-traversal-02", Capability::NatTDraft))),
        ("699369228741c6d4ca094c93e242c9de19e7b7c60000000500000500", Some(("Juniper NetScreen", Capability::None))),
        ("7d9419a65310ca6f2c179d9215529d56", Some(("draft-ietf-ipsec-nat-t-ike-03", Capability::NatTDraft))),
        ("90cb80913ebb696e086381b5ec427b1f", Some(("draft-ietf-ipsec-nat-t-ike-02\\n", Capability::NatTDraft))),
        ("afcad71368a1f1c96b8696fc77570100", Some(("RFC 3706 DPD", Capability::Dpd))),
        ("cd60464335df21f87cfdb2fc68b6a448", Some(("draft-ietf-ipsec-nat-t-ike-02", Capability::NatTDraft))),
    ];
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen.dedup_by(|a, b| a.0 == b.0);
    assert_eq!(seen.len(), expect.len(), "{seen:?}");
    for ((hex_id, got), (want_hex, want)) in seen.iter().zip(expect.iter()) {
        assert_eq!(hex_id, want_hex);
        assert_eq!(got, want, "{hex_id}");
    }
}

#[test]
fn vendor_ids_to_send() {
    assert_eq!(recognize(vendor_id_for(Capability::NatT).unwrap()).unwrap().capability, Capability::NatT);
    let dpd = vendor_id_for(Capability::Dpd).unwrap();
    assert_eq!(hex::encode(dpd), "afcad71368a1f1c96b8696fc77570100");
    assert_eq!(vendor_id_for(Capability::Xauth), None);
    assert_eq!(recognize(b"strongSwan"), None, "the name itself is not the ID");
    assert_eq!(recognize(&[]), None);
}

#[test]
fn nat_d_hashes() {
    let (ci, cr) = ([1u8, 2, 3, 4, 5, 6, 7, 8], [0x11u8, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
    let cases = [
        (Prf::HmacSha1, "192.0.2.1:500", "d798d986143f878f70765e0e869c80bbc375f701"),
        (Prf::HmacSha256, "[2001:db8::1]:4500", "f26bded36c9c6218f5e43c19352fb1c2561482db7b298a81f617ff223923e39e"),
        (Prf::HmacMd5, "203.0.113.7:1024", "b0abec05d8c2dc48207c45255ece10f7"),
    ];
    for (prf, addr, want) in cases {
        assert_eq!(hex::encode(kdf::nat_d(prf, &ci, &cr, addr.parse().unwrap())), want, "{addr}");
    }
}
