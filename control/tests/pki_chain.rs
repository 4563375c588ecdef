//! control::pki: loading certificates and keys, chain validation at a given time, identity matching, and the
//! IKEv1 signature formats, on the test PKI of tests/data/pki (made by its gen.sh).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use control::isakmp::{AuthMethod, IdData};
use control::pki::{id_matches, Certificate, Credentials, PkiError, PrivateKey, PublicKey, TrustStore};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki").join(name)
}

fn cert(name: &str) -> Certificate {
    Certificate::load_all(&std::fs::read(path(name)).unwrap()).unwrap().remove(0)
}

/// 2027-01-01T00:00:00Z: inside the test PKI's validity (2026-2036).
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_798_761_600)
}

fn trust() -> TrustStore {
    TrustStore::new(vec![cert("ca-rsa.pem"), cert("ca-ecdsa.pem")])
}

#[test]
fn good_chains_validate_to_their_ca() {
    let t = trust();
    for (leaf, ca) in [
        ("gw-rsa.pem", "ca-rsa.pem"),
        ("peer-rsa.pem", "ca-rsa.pem"),
        ("gw-p256.pem", "ca-ecdsa.pem"),
        ("peer-p384.pem", "ca-ecdsa.pem"),
    ] {
        let anchor = t.validate(&cert(leaf), &[], now()).unwrap_or_else(|e| panic!("{leaf}: {e}"));
        assert_eq!(anchor, &cert(ca), "{leaf}");
    }
    // Through an intermediate the peer sends along.
    let anchor = t.validate(&cert("via-sub.pem"), &[cert("sub-ca.pem")], now()).unwrap();
    assert_eq!(anchor, &cert("ca-rsa.pem"));
}

#[test]
fn expired_and_not_yet_valid() {
    let t = trust();
    assert!(matches!(t.validate(&cert("expired.pem"), &[], now()), Err(PkiError::Expired { .. })));
    let before = UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023
    assert!(matches!(t.validate(&cert("gw-rsa.pem"), &[], before), Err(PkiError::NotYetValid { .. })));
    let after = UNIX_EPOCH + Duration::from_secs(2_200_000_000); // 2039
    assert!(matches!(t.validate(&cert("gw-rsa.pem"), &[], after), Err(PkiError::Expired { .. })));
}

#[test]
fn wrong_ca_is_an_unknown_issuer() {
    let t = trust();
    let e = t.validate(&cert("wrong-ca.pem"), &[], now()).unwrap_err();
    assert!(matches!(e, PkiError::UnknownIssuer { .. }), "{e}");
    // Sending the untrusted root along does not help.
    let e = t.validate(&cert("wrong-ca.pem"), &[cert("other-ca.pem")], now()).unwrap_err();
    assert!(matches!(e, PkiError::UnknownIssuer { .. }), "{e}");
    // Without its intermediate, a leaf of the sub CA has no path either.
    assert!(matches!(t.validate(&cert("via-sub.pem"), &[], now()), Err(PkiError::UnknownIssuer { .. })));
}

#[test]
fn issuer_that_is_not_a_ca() {
    // not-ca.pem was signed with gw-rsa's key; gw-rsa is an end entity (CA:FALSE).
    let e = trust().validate(&cert("not-ca.pem"), &[cert("gw-rsa.pem")], now()).unwrap_err();
    assert!(matches!(e, PkiError::NotCa { .. }), "{e}");
}

#[test]
fn path_length_and_key_usage() {
    let e = trust().validate(&cert("below-deep.pem"), &[cert("too-deep.pem"), cert("sub-ca.pem")], now()).unwrap_err();
    assert!(matches!(e, PkiError::PathLength { .. }), "{e}");
    let e = trust().validate(&cert("no-sign.pem"), &[], now()).unwrap_err();
    assert!(matches!(e, PkiError::KeyUsage { usage: "digitalSignature", .. }), "{e}");
}

#[test]
fn forged_signature_is_detected() {
    // The same leaf with one byte of its signature changed.
    let mut der = cert("gw-rsa.pem").der().to_vec();
    let n = der.len();
    der[n - 5] ^= 1;
    let forged = Certificate::from_der(&der).unwrap();
    let e = trust().validate(&forged, &[], now()).unwrap_err();
    assert!(matches!(e, PkiError::BadCertificateSignature { .. }), "{e}");
    // And a CA with the right name but another key does not vouch for it.
    let t = TrustStore::new(vec![cert("ca-ecdsa.pem")]);
    assert!(t.validate(&cert("gw-rsa.pem"), &[], now()).is_err());
}

#[test]
fn garbage_is_a_typed_error() {
    assert!(matches!(Certificate::from_der(&[0x30, 0x03, 1, 2, 3]), Err(PkiError::BadCertificate(_))));
    assert!(matches!(Certificate::load_all(b"not a certificate"), Err(PkiError::BadCertificate(_))));
    assert!(matches!(PrivateKey::from_bytes(b"-----BEGIN NOTHING-----\n"), Err(PkiError::BadKey(_))));
    assert!(PrivateKey::from_bytes(&[0x30, 0x00]).is_err());
}

#[test]
fn identity_matching() {
    let gw = cert("gw-rsa.pem");
    let ok = [
        IdData::DerAsn1Dn(gw.subject_der()),
        IdData::Fqdn(b"gw1.example.net".to_vec()),
        IdData::Fqdn(b"GW1.Example.NET".to_vec()),
        IdData::Ipv4Addr(Ipv4Addr::new(192, 0, 2, 1)),
        IdData::UserFqdn(b"ike@GW1.example.net".to_vec()),
    ];
    for id in ok {
        id_matches(&gw, &id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    }
    let mismatch = [
        IdData::DerAsn1Dn(cert("peer-rsa.pem").subject_der()),
        IdData::Fqdn(b"peer1.example.net".to_vec()),
        IdData::Ipv4Addr(Ipv4Addr::new(192, 0, 2, 2)),
        IdData::UserFqdn(b"IKE@gw1.example.net".to_vec()),
        IdData::Ipv4Subnet(Ipv4Addr::new(192, 0, 2, 0), Ipv4Addr::new(255, 255, 255, 0)),
    ];
    for id in mismatch {
        assert_eq!(id_matches(&gw, &id), Err(PkiError::IdentityMismatch), "{id:?}");
    }
}

#[test]
fn keys_load_in_every_format_and_match_their_certificates() {
    let cases = [
        ("gw-rsa.key", "gw-rsa.pem", AuthMethod::RSA_SIGNATURES), // PKCS#1 PEM
        ("gw-p256.key", "gw-p256.pem", AuthMethod::ECDSA_SHA256_P256), // SEC1 PEM
        ("gw-p256.pk8.der", "gw-p256.pem", AuthMethod::ECDSA_SHA256_P256), // PKCS#8 DER
        ("gw-p384.key", "gw-p384.pem", AuthMethod::ECDSA_SHA384_P384), // PKCS#8 PEM
    ];
    for (key, crt, method) in cases {
        let c = Credentials::load(&[path("ca-rsa.pem"), path("ca-ecdsa.pem")], &path(crt), &path(key))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(c.auth_method(), method);
        assert_eq!(c.trust.cas().len(), 2);
        assert!(!format!("{:?}", c.key()).contains("0x"), "Debug must not print key material");
    }
    // DER certificate.
    assert_eq!(cert("gw-rsa.der"), cert("gw-rsa.pem"));
    // A key that is not the certificate's.
    let e = Credentials::load(&[path("ca-rsa.pem")], &path("gw-rsa.pem"), &path("peer-rsa.key")).unwrap_err();
    assert_eq!(e, PkiError::KeyMismatch);
    let e = Credentials::load(&[path("missing.pem")], &path("gw-rsa.pem"), &path("gw-rsa.key")).unwrap_err();
    assert!(matches!(e, PkiError::Io { .. }));
}

#[test]
fn ike_signatures_rsa_raw_pkcs1_and_ecdsa_r_s() {
    let hash = [0x5au8; 32];
    for (key, crt, sig_len) in
        [("gw-rsa.key", "gw-rsa.pem", 256), ("gw-p256.key", "gw-p256.pem", 64), ("gw-p384.key", "gw-p384.pem", 96)]
    {
        let k = PrivateKey::from_bytes(&std::fs::read(path(key)).unwrap()).unwrap();
        let sig = k.sign_ike(&hash).unwrap();
        assert_eq!(sig.len(), sig_len, "{key}");
        let pk = cert(crt).public_key().clone();
        pk.verify_ike(&hash, &sig).unwrap();
        let mut other = hash;
        other[0] ^= 1;
        assert_eq!(pk.verify_ike(&other, &sig), Err(PkiError::BadSignature), "{key}");
        assert_eq!(pk.verify_ike(&hash, &sig[1..]), Err(PkiError::BadSignature), "{key}");
    }
    // RSA: the signature opens to 00 01 FF.. 00 | hash, with no DigestInfo (the IKEv1 convention).
    let k = PrivateKey::from_bytes(&std::fs::read(path("gw-rsa.key")).unwrap()).unwrap();
    let sig = k.sign_ike(&hash[..20]).unwrap();
    let PublicKey::Rsa(pk) = cert("gw-rsa.pem").public_key().clone() else { panic!() };
    let em = raw_rsa(&pk, &sig);
    assert_eq!(&em[..2], &[0, 1]);
    assert_eq!(&em[em.len() - 21..], &[&[0u8][..], &hash[..20]].concat()[..]);
    assert!(em[2..em.len() - 21].iter().all(|&b| b == 0xff));
}

/// s^e mod n, left-padded to the modulus size.
fn raw_rsa(pk: &rsa::RsaPublicKey, sig: &[u8]) -> Vec<u8> {
    use rsa::traits::PublicKeyParts;
    let m = rsa::BigUint::from_bytes_be(sig).modpow(pk.e(), pk.n());
    let bytes = m.to_bytes_be();
    let mut out = vec![0u8; pk.size() - bytes.len()];
    out.extend_from_slice(&bytes);
    out
}

#[test]
fn credentials_from_the_config_and_methods_by_key() {
    use control::config::{Auth, Pki};
    let pki = |crt: &str, key: &str| Pki {
        ca: vec![path("ca-rsa.pem"), path("ca-ecdsa.pem")],
        certificate: path(crt),
        private_key: path(key),
    };
    let rsa = Credentials::from_config(&pki("gw-rsa.pem", "gw-rsa.key")).unwrap();
    assert_eq!(rsa.method_for(Auth::RsaSig), Some(AuthMethod::RSA_SIGNATURES));
    assert_eq!(rsa.method_for(Auth::EcdsaSig), None);
    assert_eq!(rsa.method_for(Auth::PreShare), Some(AuthMethod::PRE_SHARED_KEY));
    let p256 = Credentials::from_config(&pki("gw-p256.pem", "gw-p256.key")).unwrap();
    assert_eq!(p256.method_for(Auth::EcdsaSig), Some(AuthMethod::ECDSA_SHA256_P256));
    assert_eq!(p256.method_for(Auth::RsaSig), None);
    let p384 = Credentials::from_config(&pki("gw-p384.pem", "gw-p384.key")).unwrap();
    assert_eq!(p384.method_for(Auth::EcdsaSig), Some(AuthMethod::ECDSA_SHA384_P384));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Bytes changed, cut or appended anywhere in a certificate: a typed error or a certificate, never a panic; and
    /// whatever parses still validates or fails cleanly.
    #[test]
    fn mutated_certificates_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        cut in proptest::prelude::any::<usize>(),
    ) {
        let name = ["gw-rsa.pem", "gw-p256.pem", "via-sub.pem"][which];
        let mut der = cert(name).der().to_vec();
        for (at, b) in edits {
            let i = at % der.len();
            der[i] = b;
        }
        der.truncate(cut % (der.len() + 1));
        if let Ok(c) = Certificate::from_der(&der) {
            let _ = trust().validate(&c, &[cert("sub-ca.pem")], now());
            let _ = id_matches(&c, &IdData::Fqdn(b"gw1.example.net".to_vec()));
            let _ = c.public_key().verify_ike(&[0u8; 32], &[0u8; 64]);
        }
        let _ = PrivateKey::from_bytes(&der);
    }
}

#[test]
fn pem_bundles_and_single_certificates() {
    let bundle =
        [std::fs::read_to_string(path("ca-rsa.pem")).unwrap(), std::fs::read_to_string(path("ca-ecdsa.pem")).unwrap()]
            .join("# a comment between blocks\n");
    let certs = Certificate::load_all(bundle.as_bytes()).unwrap();
    assert_eq!(certs, vec![cert("ca-rsa.pem"), cert("ca-ecdsa.pem")]);
    assert_eq!(Certificate::from_pem(&bundle).unwrap(), cert("ca-rsa.pem"));
    let cut = &bundle[..bundle.len() - 30];
    assert!(matches!(Certificate::load_all(cut.as_bytes()), Err(PkiError::BadCertificate(_))));
    // The PEM and DER forms are the same bytes.
    assert_eq!(cert("gw-rsa.pem").der(), std::fs::read(path("gw-rsa.der")).unwrap());
}
