//! Diffie-Hellman: known answers (RFC 5903, RFC 5114, Python-computed MODP), agreement, and public value validation.

use control::crypto::dh::{self, public_len, SUPPORTED_GROUPS};
use control::crypto::CryptoError;
use control::isakmp::GroupDescription;
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    let s = if s.len() % 2 == 1 { format!("0{s}") } else { s.to_string() };
    hex::decode(s).unwrap()
}

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check_vector(group: GroupDescription, xi: &str, xr: &str, yi: &str, yr: &str, shared: &str) {
    let i = dh::from_private(group, &unhex(xi)).unwrap();
    let r = dh::from_private(group, &unhex(xr)).unwrap();
    assert_eq!(hex::encode(i.public_value()), yi, "{group} public_i");
    assert_eq!(hex::encode(r.public_value()), yr, "{group} public_r");
    let si = i.shared_secret(r.public_value()).unwrap();
    let sr = r.shared_secret(i.public_value()).unwrap();
    assert_eq!(hex::encode(si.expose()), shared, "{group} shared");
    assert_eq!(si, sr);
    assert_eq!(si.len(), public_len(group).unwrap() / if group.0 >= 19 && group.0 <= 21 { 2 } else { 1 });
}

#[test]
fn rfc_vectors_ecp_and_group_24() {
    let v = load("dh_test_vectors.json");
    let mut n = 0;
    for t in v["vectors"].as_array().unwrap() {
        let g = GroupDescription(t["ike_group"].as_u64().unwrap() as u16);
        if !SUPPORTED_GROUPS.contains(&g) {
            continue;
        }
        let s = |k: &str| t[k].as_str().unwrap();
        if g == GroupDescription::MODP_2048_256 {
            check_vector(g, s("private_i"), s("private_r"), s("public_i"), s("public_r"), s("shared"));
        } else {
            check_vector(g, s("private_i"), s("private_r"), s("public_i_xy"), s("public_r_xy"), s("shared_x"));
        }
        n += 1;
    }
    assert_eq!(n, 3, "groups 19, 20, 24");
}

#[test]
fn modp_known_answers_and_left_padding() {
    let v = load("modp_kat.json");
    let cases = v["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for t in cases {
        let g = GroupDescription(t["ike_group"].as_u64().unwrap() as u16);
        let s = |k: &str| t[k].as_str().unwrap();
        check_vector(g, s("private_i"), s("private_r"), s("public_i"), s("public_r"), s("shared"));
    }
    assert!(cases[6]["shared"].as_str().unwrap().starts_with("0000"));
}

#[test]
fn generated_keys_agree_in_every_group() {
    for &g in SUPPORTED_GROUPS {
        let a = dh::generate(g).unwrap();
        let b = dh::generate(g).unwrap();
        assert_eq!(a.group(), g);
        assert_eq!(a.public_value().len(), public_len(g).unwrap(), "{g}");
        assert_ne!(a.public_value(), b.public_value());
        assert_eq!(a.shared_secret(b.public_value()).unwrap(), b.shared_secret(a.public_value()).unwrap(), "{g}");
    }
}

#[test]
fn modp_public_values_are_range_checked() {
    let v = load("modp_kat.json");
    for t in v["vectors"].as_array().unwrap().iter().take(6) {
        let g = GroupDescription(t["ike_group"].as_u64().unwrap() as u16);
        let k = dh::from_private(g, &unhex(t["private_i"].as_str().unwrap())).unwrap();
        let p = unhex(t["prime_p"].as_str().unwrap());
        let len = p.len();
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        let mut p_minus_1 = p.clone();
        p_minus_1[len - 1] -= 1;
        for bad in [vec![0u8; len], one, p_minus_1, p.clone(), vec![0xff; len]] {
            assert!(
                matches!(k.shared_secret(&bad), Err(CryptoError::InvalidPublicValue { .. })),
                "{g} accepted an out-of-range value"
            );
        }
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        assert!(k.shared_secret(&two).is_ok(), "2 is a valid element");
        assert!(matches!(k.shared_secret(&two[1..]), Err(CryptoError::BadPublicLength { .. })));
    }
}

#[test]
fn group_24_requires_subgroup_membership() {
    let k = dh::generate(GroupDescription::MODP_2048_256).unwrap();
    // 2 is in range but (with overwhelming likelihood, and checked here) not in the order-q subgroup.
    let mut two = vec![0u8; 256];
    two[255] = 2;
    let e = k.shared_secret(&two).unwrap_err();
    assert_eq!(
        e,
        CryptoError::InvalidPublicValue {
            group: GroupDescription::MODP_2048_256,
            reason: "not in the prime-order subgroup"
        }
    );
}

#[test]
fn ecp_public_values_must_be_on_the_curve() {
    for g in [GroupDescription::ECP_256, GroupDescription::ECP_384] {
        let a = dh::generate(g).unwrap();
        let b = dh::generate(g).unwrap();
        let mut off_curve = b.public_value().to_vec();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        assert!(matches!(a.shared_secret(&off_curve), Err(CryptoError::InvalidPublicValue { .. })), "{g}");
        let zeros = vec![0u8; b.public_value().len()];
        assert!(matches!(a.shared_secret(&zeros), Err(CryptoError::InvalidPublicValue { .. })), "{g}");
        assert!(matches!(a.shared_secret(&b.public_value()[1..]), Err(CryptoError::BadPublicLength { .. })));
    }
}

#[test]
fn unsupported_groups_and_bad_private_keys() {
    assert!(matches!(dh::generate(GroupDescription::EC2N_155), Err(CryptoError::UnsupportedGroup(_))));
    assert!(dh::from_private(GroupDescription::MODP_1024, &[1]).is_err());
    assert!(dh::from_private(GroupDescription::ECP_256, &[0u8; 32]).is_err());
    assert_eq!(public_len(GroupDescription(99)), None);
}

#[test]
fn secret_debug_hides_bytes() {
    let a = dh::generate(GroupDescription::ECP_256).unwrap();
    let b = dh::generate(GroupDescription::ECP_256).unwrap();
    let s = a.shared_secret(b.public_value()).unwrap();
    let dbg = format!("{s:?}");
    assert_eq!(dbg, "Secret([redacted; 32 bytes])");
    assert!(!dbg.contains(&hex::encode(&s.expose()[..4])));
}
