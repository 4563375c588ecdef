//! Things a valid config may do but an operator should hear about: weak algorithms (accepted for interoperability,
//! flagged in logs and `check-config`), unused definitions, exposed services.

use std::collections::HashSet;

use super::algorithms::{AhIntegrity, Auth, EspIntegrity, Hash, IsakmpEncryption};
use super::error::ValidationError;
use super::model::Config;
use super::validate::field;

fn warn(out: &mut Vec<ValidationError>, path: String, message: impl Into<String>) {
    out.push(ValidationError { path, message: message.into() });
}

pub(super) fn warnings(c: &Config) -> Vec<ValidationError> {
    let mut out = Vec::new();
    for p in &c.isakmp_policies {
        let at = format!("isakmp_policy {}", p.priority);
        if matches!(p.encryption, IsakmpEncryption::Des | IsakmpEncryption::TripleDes) {
            warn(&mut out, field(&at, "encryption"), format!("{} is weak; prefer aes-256", p.encryption));
        }
        if p.hash == Hash::Md5 {
            warn(&mut out, field(&at, "hash"), "md5 is weak; prefer sha256 or stronger");
        }
        if p.group.is_weak() {
            warn(&mut out, field(&at, "group"), format!("group {} is weak; prefer 14, 19 or 20", p.group.number()));
        }
    }
    if c.isakmp.aggressive_mode && c.isakmp_policies.iter().any(|p| p.authentication == Auth::PreShare) {
        warn(
            &mut out,
            "isakmp.aggressive_mode".into(),
            "Aggressive Mode with pre-shared keys sends a hash an eavesdropper can attack offline",
        );
    }
    if !c.isakmp.aggressive_mode {
        for (i, _) in c.isakmp_keys.iter().enumerate().filter(|(_, k)| k.identity.is_some()) {
            warn(
                &mut out,
                field(&format!("isakmp_key[{i}]"), "identity"),
                "keys by identity serve only the Aggressive Mode responder, which isakmp.aggressive_mode = false turns off",
            );
        }
    }
    for ts in &c.transform_sets {
        let at = format!("transform_set \"{}\"", ts.name);
        if let Some(e) = ts.esp_encryption.filter(|e| e.is_weak()) {
            warn(&mut out, field(&at, "esp_encryption"), format!("{e} is weak; prefer esp-gcm-256 or esp-aes-256"));
        }
        if ts.esp_integrity == Some(EspIntegrity::EspMd5Hmac) {
            warn(&mut out, field(&at, "esp_integrity"), "esp-md5-hmac is weak; prefer esp-sha256-hmac");
        }
        if ts.ah == Some(AhIntegrity::AhMd5Hmac) {
            warn(&mut out, field(&at, "ah"), "ah-md5-hmac is weak; prefer ah-sha256-hmac");
        }
    }
    let applied: HashSet<&str> = c.interfaces.iter().filter_map(|i| i.crypto_map.as_deref()).collect();
    let mut reported = HashSet::new();
    for m in &c.crypto_maps {
        let at = format!("crypto_map \"{}\" seq {}", m.name, m.seq);
        if let Some(g) = m.pfs.filter(|g| g.is_weak()) {
            warn(&mut out, field(&at, "pfs"), format!("group {} is weak; prefer 14, 19 or 20", g.number()));
        }
        let esp = m.transform_sets.iter().filter_map(|n| c.transform_set(n)).any(|t| t.esp_encryption.is_some());
        if m.crypto.is_some() && !esp {
            warn(
                &mut out,
                field(&at, "crypto"),
                "has no effect: the entry's transform sets have no ESP (AH is in software)",
            );
        }
        if !applied.contains(m.name.as_str()) && reported.insert(m.name.as_str()) {
            warn(
                &mut out,
                format!("crypto_map \"{}\"", m.name),
                "not applied to any interface, so it protects nothing (set crypto_map on an [[interface]])",
            );
        }
    }
    for ts in &c.transform_sets {
        if !c.crypto_maps.iter().any(|m| m.transform_sets.contains(&ts.name)) {
            warn(&mut out, format!("transform_set \"{}\"", ts.name), "not used by any crypto map");
        }
    }
    for acl in &c.access_lists {
        if !c.crypto_maps.iter().any(|m| m.match_address == acl.name) {
            warn(&mut out, format!("access_list \"{}\"", acl.name), "not used by any crypto map");
        }
    }
    if let Some(m) = &c.metrics {
        if !m.listen.ip().is_loopback() {
            warn(
                &mut out,
                "metrics.listen".into(),
                format!("{} serves the counters beyond this host; prefer loopback or a management network", m.listen),
            );
        }
    }
    out
}
