//! `[[isakmp_key]]` by peer identity: exactly one of `peer` and `identity`, only fqdn/user-fqdn, unique (host
//! names without regard to case), a warning when Aggressive Mode is off, and the conversion for the IKE core.

mod config_common;

use config_common::*;
use control::config::parse;
use control::isakmp::IdData;

const ID_KEY: &str = "[[isakmp_key]]\nidentity = \"fqdn:vpn1.example.net\"\nkey = \"id-secret\"\n";

fn with_aggressive(text: &str) -> String {
    format!("[isakmp]\naggressive_mode = true\n{text}")
}

#[test]
fn identity_key_is_valid_and_reaches_the_core() {
    let text = with_aggressive(&(BASE.to_owned() + ID_KEY));
    assert_valid(&text);
    let c = parse(&text).unwrap();
    let keys = control::ike::identity_keys(&c);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, IdData::Fqdn(b"vpn1.example.net".to_vec()));
    assert_eq!(keys[0].1.expose(), b"id-secret");
    // An identity key never answers for an address.
    assert!(c.isakmp_key_for("203.0.113.9".parse().unwrap()).is_none());
    assert!(c.isakmp_key_for("198.51.100.2".parse().unwrap()).is_some_and(|k| k.peer.is_some()));
}

#[test]
fn user_fqdn_identity_converts() {
    let key = "[[isakmp_key]]\nidentity = \"user-fqdn:road@example.net\"\nkey = \"k\"\n";
    let c = parse(&with_aggressive(&(BASE.to_owned() + key))).unwrap();
    assert_eq!(control::ike::identity_keys(&c)[0].0, IdData::UserFqdn(b"road@example.net".to_vec()));
}

#[test]
fn peer_and_identity_together_are_refused() {
    let key = "[[isakmp_key]]\npeer = \"203.0.113.2\"\nidentity = \"fqdn:vpn1.example.net\"\nkey = \"k\"\n";
    assert_one_error(&with_aggressive(&(BASE.to_owned() + key)), &["isakmp_key[1].identity", "not both"]);
}

#[test]
fn neither_peer_nor_identity_is_refused() {
    let key = "[[isakmp_key]]\nkey = \"k\"\n";
    assert_one_error(&(BASE.to_owned() + key), &["isakmp_key[1].peer", "needs `peer`"]);
}

#[test]
fn address_and_dn_identities_cannot_pick_a_key() {
    for id in ["address", "dn"] {
        let key = format!("[[isakmp_key]]\nidentity = \"{id}\"\nkey = \"k\"\n");
        assert_one_error(&with_aggressive(&(BASE.to_owned() + &key)), &["isakmp_key[1].identity", "fqdn:NAME"]);
    }
}

#[test]
fn malformed_identity_is_a_syntax_error() {
    let key = "[[isakmp_key]]\nidentity = \"fqdn:not a host\"\nkey = \"k\"\n";
    assert!(syntax_error(&(BASE.to_owned() + key)).contains("not a valid host name"));
}

#[test]
fn duplicate_identities_are_refused_regardless_of_host_case() {
    let again = "[[isakmp_key]]\nidentity = \"fqdn:VPN1.example.NET\"\nkey = \"other\"\n";
    let text = with_aggressive(&(BASE.to_owned() + ID_KEY + again));
    assert_one_error(&text, &["isakmp_key[2].identity", "already has a key"]);
    // User parts are case-sensitive: two users, two keys.
    let a = "[[isakmp_key]]\nidentity = \"user-fqdn:road@example.net\"\nkey = \"a\"\n";
    let b = "[[isakmp_key]]\nidentity = \"user-fqdn:Road@EXAMPLE.net\"\nkey = \"b\"\n";
    assert_valid(&with_aggressive(&(BASE.to_owned() + a + b)));
    let c = "[[isakmp_key]]\nidentity = \"user-fqdn:road@EXAMPLE.net\"\nkey = \"c\"\n";
    assert_one_error(&with_aggressive(&(BASE.to_owned() + a + c)), &["isakmp_key[2].identity", "already"]);
}

#[test]
fn identity_key_without_aggressive_mode_warns() {
    let c = parse(&(BASE.to_owned() + ID_KEY)).unwrap();
    let w: Vec<String> = c.warnings().iter().map(|w| w.to_string()).collect();
    assert!(w.iter().any(|w| w.contains("isakmp_key[1].identity") && w.contains("aggressive_mode")), "{w:#?}");
    let on = parse(&with_aggressive(&(BASE.to_owned() + ID_KEY))).unwrap();
    assert!(!on.warnings().iter().any(|w| w.to_string().contains("identity")));
}

#[test]
fn identity_key_round_trips() {
    let c = parse(&with_aggressive(&(BASE.to_owned() + ID_KEY))).unwrap();
    let text = c.to_toml().unwrap();
    assert!(text.contains("identity = \"fqdn:vpn1.example.net\""), "{text}");
    assert_eq!(parse(&text).unwrap(), c);
}

#[test]
fn local_fqdn_identity_converts_for_the_core() {
    use control::config::Identity;
    let id = |s: &str| s.parse::<Identity>().unwrap();
    assert_eq!(
        control::ike::identity_data(&id("fqdn:gw1.example.net")),
        Some(IdData::Fqdn(b"gw1.example.net".to_vec()))
    );
    assert_eq!(
        control::ike::identity_data(&id("user-fqdn:vpn@example.net")),
        Some(IdData::UserFqdn(b"vpn@example.net".to_vec()))
    );
    assert_eq!(control::ike::identity_data(&id("address")), None);
    assert_eq!(control::ike::identity_data(&id("dn")), None);
}
