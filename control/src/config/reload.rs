//! What a reload (SIGHUP) changes: which crypto map entries keep their SAs, which must be renegotiated or removed,
//! and which changes need a restart because they touch the ports or cores DPDK was started with.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::acl::AccessList;
use super::model::{Config, CryptoMap, TransformSet};

/// A crypto map entry: its set's name and its seq.
pub type EntryId = (String, u32);

/// The difference between a running config and a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reload {
    /// Entries only in the new config.
    pub added: Vec<EntryId>,
    /// Entries only in the old config: their SAs are deleted.
    pub removed: Vec<EntryId>,
    /// Entries whose effect changed (the entry, its access list, its transform sets or the local address it uses):
    /// their SAs are replaced.
    pub changed: Vec<EntryId>,
    /// Entries with the same effect: their SAs keep running.
    pub unchanged: Vec<EntryId>,
    /// What cannot change while running (`engine`, an interface's `device`, `queues` or `mac`, interfaces added or
    /// removed, `control.socket`): non-empty means the daemon must restart to apply the new config.
    pub restart_required: Vec<String>,
}

/// Everything an entry's SAs depend on.
#[derive(PartialEq)]
struct Effect<'a> {
    entry: &'a CryptoMap,
    acl: Option<&'a AccessList>,
    sets: Vec<Option<&'a TransformSet>>,
    local: Vec<(&'a str, Option<IpAddr>)>,
}

fn effect<'a>(c: &'a Config, m: &'a CryptoMap) -> Effect<'a> {
    Effect {
        entry: m,
        acl: c.access_list(&m.match_address),
        sets: m.transform_sets.iter().map(|n| c.transform_set(n)).collect(),
        local: c
            .interfaces
            .iter()
            .filter(|i| i.crypto_map.as_deref() == Some(m.name.as_str()))
            .map(|i| (i.name.as_str(), i.address_of_family(m.peer.is_ipv4()).map(|a| a.addr())))
            .collect(),
    }
}

fn entries(c: &Config) -> BTreeMap<EntryId, &CryptoMap> {
    c.crypto_maps.iter().map(|m| ((m.name.clone(), m.seq), m)).collect()
}

/// Compares the running config `old` with `new`.
pub fn reload(old: &Config, new: &Config) -> Reload {
    let mut out = Reload::default();
    let (before, after) = (entries(old), entries(new));
    for (id, m) in &after {
        match before.get(id) {
            None => out.added.push(id.clone()),
            Some(prev) if effect(old, prev) == effect(new, m) => out.unchanged.push(id.clone()),
            Some(_) => out.changed.push(id.clone()),
        }
    }
    out.removed = before.keys().filter(|id| !after.contains_key(*id)).cloned().collect();

    if old.engine != new.engine {
        out.restart_required.push("engine".into());
    }
    for i in &old.interfaces {
        match new.interface(&i.name) {
            None => out.restart_required.push(format!("interface \"{}\" removed", i.name)),
            Some(n) if (n.device.as_str(), n.queues, n.mac) != (i.device.as_str(), i.queues, i.mac) => {
                out.restart_required.push(format!("interface \"{}\": device, queues or mac", i.name))
            }
            Some(_) => {}
        }
    }
    for n in new.interfaces.iter().filter(|n| old.interface(&n.name).is_none()) {
        out.restart_required.push(format!("interface \"{}\" added", n.name));
    }
    if old.control != new.control {
        out.restart_required.push("control.socket".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const BASE: &str = r#"
[[interface]]
name = "outside"
device = "net_null0"
address = "198.51.100.1/24"
crypto_map = "CM1"
[[interface]]
name = "inside"
device = "net_null1"
address = "192.0.2.1/24"
[[isakmp_policy]]
priority = 10
encryption = "aes-256"
hash = "sha256"
authentication = "pre-share"
group = 14
[[isakmp_key]]
peer = "0.0.0.0/0"
key = "example-only-secret"
[[transform_set]]
name = "TS1"
esp_encryption = "esp-gcm-256"
[[access_list]]
name = "A"
entries = [{ action = "permit", source = "192.0.2.0/25", destination = "198.51.100.128/25" }]
[[access_list]]
name = "B"
entries = [{ action = "permit", source = "192.0.2.128/25", destination = "198.51.100.128/25" }]
[[crypto_map]]
name = "CM1"
seq = 10
kind = "ipsec-isakmp"
peer = "198.51.100.2"
match_address = "A"
transform_sets = ["TS1"]
[[crypto_map]]
name = "CM1"
seq = 20
kind = "ipsec-isakmp"
peer = "198.51.100.3"
match_address = "B"
transform_sets = ["TS1"]
"#;

    fn id(seq: u32) -> EntryId {
        ("CM1".into(), seq)
    }

    #[test]
    fn same_config_changes_nothing() {
        let c = parse(BASE).unwrap();
        let r = reload(&c, &c.clone());
        assert_eq!(r.unchanged, vec![id(10), id(20)]);
        assert!(r.added.is_empty() && r.removed.is_empty() && r.changed.is_empty() && r.restart_required.is_empty());
    }

    #[test]
    fn acl_change_touches_only_its_entry() {
        let old = parse(BASE).unwrap();
        let new = parse(&BASE.replace("192.0.2.128/25\", destination", "192.0.2.192/26\", destination")).unwrap();
        let r = reload(&old, &new);
        assert_eq!((r.changed, r.unchanged), (vec![id(20)], vec![id(10)]));
    }

    #[test]
    fn transform_set_change_touches_every_user_and_entries_come_and_go() {
        let old = parse(BASE).unwrap();
        let new = parse(&BASE.replace("esp-gcm-256", "esp-gcm-128").replace("seq = 20", "seq = 30")).unwrap();
        let r = reload(&old, &new);
        assert_eq!(r.changed, vec![id(10)]);
        assert_eq!(r.added, vec![id(30)]);
        assert_eq!(r.removed, vec![id(20)]);
    }

    #[test]
    fn port_changes_need_a_restart_addresses_do_not() {
        let old = parse(BASE).unwrap();
        let new = parse(&BASE.replace("net_null1", "net_null2")).unwrap();
        assert_eq!(reload(&old, &new).restart_required, vec!["interface \"inside\": device, queues or mac"]);
        let new = parse(&BASE.replace("198.51.100.1/24", "198.51.100.5/24")).unwrap();
        let r = reload(&old, &new);
        assert!(r.restart_required.is_empty());
        assert_eq!(r.changed, vec![id(10), id(20)], "the local address of both entries moved");
    }
}
