//! Rules between fields for the engine, interfaces, neighbors, routes and Phase 1; the IPsec sections are in
//! `validate_crypto`. Each rule reports `path: message` and validation goes on, so the operator sees every error.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use super::error::{ValidationError, ValidationErrors};
use super::model::{Config, CryptoBackend, Interface};
use super::types::Identity;
use super::validate_crypto;

/// Collected errors.
#[derive(Default)]
pub(super) struct Report(Vec<ValidationError>);

impl Report {
    pub(super) fn error(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.0.push(ValidationError { path: path.to_string(), message: message.into() });
    }

    /// `value` must be within `lo..=hi`.
    pub(super) fn range<T: PartialOrd + fmt::Display>(&mut self, path: impl fmt::Display, value: T, lo: T, hi: T) {
        if value < lo || value > hi {
            self.error(path, format!("{value} is out of range {lo}..={hi}"));
        }
    }
}

pub(super) fn validate(c: &Config) -> Result<(), ValidationErrors> {
    let mut r = Report::default();
    engine(c, &mut r);
    interfaces(c, &mut r);
    neighbors(c, &mut r);
    routes(c, &mut r);
    isakmp(c, &mut r);
    validate_crypto::validate(c, &mut r);
    if !c.control.socket.is_absolute() {
        r.error("control.socket", format!("\"{}\" must be an absolute path", c.control.socket.display()));
    }
    if r.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(r.0))
    }
}

/// The path of `name` inside item `at`: TOML-style `a[0].name` for indexed items, `label: name` for labelled ones
/// (`crypto_map "CM1" seq 10: transform_sets`).
pub(super) fn field(at: &str, name: &str) -> String {
    if at.ends_with(']') {
        format!("{at}.{name}")
    } else {
        format!("{at}: {name}")
    }
}

/// `names` must be unique and non-empty; reports under `label(index)`.
pub(super) fn unique_names<'a>(
    r: &mut Report,
    what: &str,
    names: impl Iterator<Item = &'a str>,
    label: impl Fn(usize) -> String,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            r.error(field(&label(i), "name"), format!("a {what} needs a non-empty name"));
        } else if let Some(first) = seen.insert(name, i) {
            r.error(field(&label(i), "name"), format!("duplicate {what} name \"{name}\" (first at index {first})"));
        }
    }
}

fn engine(c: &Config, r: &mut Report) {
    let e = &c.engine;
    if e.workers.is_empty() {
        r.error("engine.workers", "at least one worker lcore is required");
    }
    let mut seen = HashSet::new();
    for w in &e.workers {
        if !seen.insert(w) {
            r.error("engine.workers", format!("core {w} is listed twice"));
        }
    }
    if e.workers.contains(&e.control_core) {
        r.error(
            "engine.workers",
            format!("core {} is the control_core; workers poll without pause and need their own cores", e.control_core),
        );
    }
    r.range("engine.replay_window", e.replay_window, engine::replay::MIN_WINDOW, engine::replay::MAX_WINDOW);
    if let Some(l) = &e.icmp_rate_limit {
        r.range("engine.icmp_rate_limit.per_second", l.per_second, 0, 1_000_000);
        r.range("engine.icmp_rate_limit.burst", l.burst, 0, 1_000_000);
    }
    if e.crypto == CryptoBackend::Cpu && e.crypto_devargs.is_some() {
        r.error("engine.crypto_devargs", "only used with crypto = \"cryptodev\" or \"auto\"");
    }
    // espgate derives the EAL core list from workers and control_core; a second one would contradict it.
    for arg in &e.eal {
        let flag = arg.split('=').next().unwrap_or(arg);
        if ["-l", "-c", "--lcores", "--main-lcore", "--master-lcore"].contains(&flag) {
            r.error("engine.eal", format!("\"{arg}\" conflicts with engine.workers and engine.control_core"));
        }
    }
}

fn iface_label(i: usize, iface: &Interface) -> String {
    if iface.name.is_empty() {
        format!("interface[{i}]")
    } else {
        format!("interface \"{}\"", iface.name)
    }
}

fn interfaces(c: &Config, r: &mut Report) {
    if c.interfaces.is_empty() {
        r.error("interface", "at least one [[interface]] is required");
    }
    unique_names(r, "interface", c.interfaces.iter().map(|i| i.name.as_str()), |i| format!("interface[{i}]"));
    let mut devices: HashMap<&str, &str> = HashMap::new();
    for (i, iface) in c.interfaces.iter().enumerate() {
        let at = iface_label(i, iface);
        if iface.device.trim().is_empty() {
            r.error(field(&at, "device"), "needs DPDK devargs or a PCI address");
        } else if let Some(other) = devices.insert(&iface.device, &iface.name) {
            r.error(field(&at, "device"), format!("\"{}\" is already used by interface \"{other}\"", iface.device));
        }
        if iface.address.is_empty() {
            r.error(field(&at, "address"), "at least one address is required");
        }
        if let Some(mac) = iface.mac {
            if mac.is_multicast() || mac.is_zero() {
                r.error(field(&at, "mac"), format!("{mac} is not a unicast address"));
            }
        }
        if let Some(mtu) = iface.mtu {
            let has_v6 = iface.address.iter().any(|a| !a.addr().is_ipv4());
            // IPv6 links must carry 1280 bytes (RFC 8200 §5); IPv4 hosts must accept 576 (RFC 791).
            let min = if has_v6 { 1280 } else { 576 };
            r.range(field(&at, "mtu"), mtu, min, 9216);
        }
        if let Some(q) = iface.queues {
            r.range(field(&at, "queues"), q, 1, 128);
        }
        if let Some(map) = &iface.crypto_map {
            if !c.crypto_maps.iter().any(|m| &m.name == map) {
                r.error(field(&at, "crypto_map"), format!("unknown crypto map \"{map}\""));
            }
        }
    }
    // Connected prefixes must not overlap, or the interface for a next hop is ambiguous.
    let all: Vec<(usize, &Interface, super::types::InterfaceAddress)> = c
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, iface)| iface.address.iter().map(move |a| (i, iface, *a)))
        .collect();
    for (n, (i, iface, a)) in all.iter().enumerate() {
        for (j, other, b) in &all[..n] {
            if a.network().overlaps(&b.network()) {
                let whose =
                    if i == j { "another address of this interface".to_owned() } else { iface_label(*j, other) };
                r.error(field(&iface_label(*i, iface), "address"), format!("{a} overlaps {b} of {whose}"));
            }
        }
    }
}

/// Finds the named interface or reports that it is unknown.
fn lookup<'a>(c: &'a Config, r: &mut Report, at: &str, name: &str) -> Option<&'a Interface> {
    let found = c.interface(name);
    if found.is_none() {
        r.error(field(at, "interface"), format!("unknown interface \"{name}\""));
    }
    found
}

fn on_link(r: &mut Report, at: String, what: &str, ip: IpAddr, iface: &Interface) {
    if iface.address.iter().any(|a| a.addr() == ip) {
        r.error(at, format!("{what} {ip} is the address of interface \"{}\" itself", iface.name));
    } else if !iface.is_connected(ip) {
        let nets: Vec<String> = iface.address.iter().map(|a| a.network().to_string()).collect();
        r.error(
            at,
            format!(
                "{what} {ip} is not inside a connected prefix of interface \"{}\" ({})",
                iface.name,
                nets.join(", ")
            ),
        );
    }
}

fn neighbors(c: &Config, r: &mut Report) {
    let mut seen = HashSet::new();
    for (i, n) in c.neighbors.iter().enumerate() {
        let at = format!("neighbor[{i}]");
        if n.mac.is_multicast() || n.mac.is_zero() {
            r.error(field(&at, "mac"), format!("{} is not a unicast address", n.mac));
        }
        if !seen.insert((n.address, n.interface.as_str())) {
            r.error(field(&at, "address"), format!("{} already has a static entry", n.address));
        }
        if let Some(iface) = lookup(c, r, &at, &n.interface) {
            on_link(r, field(&at, "address"), "neighbor", n.address, iface);
        }
    }
}

fn routes(c: &Config, r: &mut Report) {
    let mut seen = HashSet::new();
    for (i, route) in c.routes.iter().enumerate() {
        let at = format!("route[{i}]");
        if !seen.insert(route.destination) {
            r.error(field(&at, "destination"), format!("{} has another route already", route.destination));
        }
        if route.destination.is_ipv4() != route.next_hop.is_ipv4() {
            r.error(
                field(&at, "next_hop"),
                format!("{} is not of the same address family as {}", route.next_hop, route.destination),
            );
            continue;
        }
        if let Some(iface) = lookup(c, r, &at, &route.interface) {
            on_link(r, field(&at, "next_hop"), "next hop", route.next_hop, iface);
        }
    }
}

fn isakmp(c: &Config, r: &mut Report) {
    let k = &c.isakmp;
    if k.nat_keepalive != 0 {
        r.range("isakmp.nat_keepalive", k.nat_keepalive, 5, 3600);
    }
    r.range("isakmp.acquire_hold", k.acquire_hold, 0, 64);
    if let Some(dpd) = &k.dpd {
        r.range("isakmp.dpd.interval", dpd.interval, 1, 3600);
        r.range("isakmp.dpd.retries", dpd.retries, 1, 10);
    }
    if k.identity == Identity::Dn && c.pki.is_none() {
        r.error("isakmp.identity", "\"dn\" is the subject of the local certificate; add a [pki] section");
    }
    let mut priorities = HashSet::new();
    for (i, p) in c.isakmp_policies.iter().enumerate() {
        let at = if priorities.contains(&p.priority) {
            format!("isakmp_policy[{i}]")
        } else {
            format!("isakmp_policy {}", p.priority)
        };
        r.range(field(&at, "priority"), p.priority, 1, 10000);
        if !priorities.insert(p.priority) {
            r.error(field(&at, "priority"), format!("duplicate priority {}", p.priority));
        }
        r.range(field(&at, "lifetime"), p.lifetime, 60, 86400);
        if p.authentication.uses_certificates() && c.pki.is_none() {
            r.error(
                field(&at, "authentication"),
                format!("{} needs a certificate; add a [pki] section", p.authentication),
            );
        }
    }
    let mut peers = HashSet::new();
    let mut identities = HashSet::new();
    for (i, key) in c.isakmp_keys.iter().enumerate() {
        let at = format!("isakmp_key[{i}]");
        if key.key.is_empty() {
            r.error(field(&at, "key"), "the pre-shared key is empty");
        }
        match (&key.peer, &key.identity) {
            (Some(peer), None) => {
                if !peers.insert(*peer) {
                    r.error(field(&at, "peer"), format!("{peer} already has a key"));
                }
            }
            (None, Some(id @ (Identity::Fqdn(_) | Identity::UserFqdn(_)))) => {
                // Host names compare without regard to case, user parts exactly (as the IKE core matches them).
                let folded = match id {
                    Identity::UserFqdn(n) => match n.rsplit_once('@') {
                        Some((user, host)) => format!("user-fqdn:{user}@{}", host.to_ascii_lowercase()),
                        None => id.to_string(),
                    },
                    _ => id.to_string().to_ascii_lowercase(),
                };
                if !identities.insert(folded) {
                    r.error(field(&at, "identity"), format!("{id} already has a key"));
                }
            }
            (None, Some(id)) => r.error(
                field(&at, "identity"),
                format!("\"{id}\" cannot choose a pre-shared key: use \"fqdn:NAME\" or \"user-fqdn:USER@NAME\" (or `peer` for an address)"),
            ),
            (Some(_), Some(_)) => r.error(field(&at, "identity"), "give either `peer` or `identity`, not both"),
            (None, None) => r.error(field(&at, "peer"), "a key needs `peer` (an address or prefix) or `identity`"),
        }
    }
    if let Some(pki) = &c.pki {
        if pki.ca.is_empty() {
            r.error("pki.ca", "at least one CA certificate is required");
        }
        let paths = pki.ca.iter().map(|p| ("pki.ca", p));
        for (field, p) in paths.chain([("pki.certificate", &pki.certificate), ("pki.private_key", &pki.private_key)]) {
            if p.as_os_str().is_empty() {
                r.error(field, "empty path");
            }
        }
    }
}
