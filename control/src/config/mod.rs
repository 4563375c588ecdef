//! The operator's configuration: the TOML model in Cisco IOS crypto-map terms, and its validation.
//!
//! [`parse`] and [`load`] turn text into a [`Config`] whose every reference resolves and whose keys fit their
//! algorithms. Errors are collected, not just the first: type, spelling and unknown-key errors of every section and
//! entry (with line and field path), then, once the file parses, every broken rule. docs/config.md is the reference of every key.

mod acl;
mod algorithms;
mod error;
mod model;
mod names;
mod reload;
mod secret;
mod syntax;
mod types;
mod validate;
mod validate_crypto;
mod warnings;

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

pub use acl::{AccessList, AclEntry, Action, PortRange, Protocol};
pub use algorithms::{AhIntegrity, Auth, DhGroup, EspEncryption, EspIntegrity, Hash, Hmac, IsakmpEncryption};
pub use error::{ConfigError, SyntaxError, SyntaxErrors, ValidationError, ValidationErrors};
pub use model::{
    Config, Control, CryptoBackend, CryptoMap, CryptoMapKind, DeadPeerAction, Dpd, DpdMode, Engine, IcmpRateLimit,
    Initiate, Interface, Isakmp, IsakmpKey, IsakmpPolicy, ManualAh, ManualEsp, ManualNatT, Metrics, Mode, Neighbor,
    Pki, Route, TransformSet, TriggerAction, DEFAULT_CONTROL_SOCKET, DEFAULT_IPSEC_LIFETIME_KILOBYTES,
    DEFAULT_IPSEC_LIFETIME_SECONDS, DEFAULT_MTU, DEFAULT_REPLAY_WINDOW,
};
pub use reload::{reload, EntryId, Reload};
pub use secret::{HexKey, Psk};
pub use types::{Identity, InterfaceAddress, IpPrefix, MacAddr, Selector};

/// Whether [`load`] refuses a world-readable file that holds keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionCheck {
    /// Refuse (the daemon's behaviour).
    Enforce,
    /// Skip the check (tests, and `check-config` on a copy).
    Skip,
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let config = parse_unvalidated(text)?;
    config.validate().map_err(|e| ConfigError::Invalid { errors: e, file: None })?;
    Ok(config)
}

/// Parses config text without checking the rules between fields (references, key lengths, ...).
pub fn parse_unvalidated(text: &str) -> Result<Config, ConfigError> {
    syntax::parse(text).map_err(|e| ConfigError::Syntax { errors: SyntaxErrors(e), file: None })
}

/// Reads, parses and validates the config file at `path`.
///
/// A file that holds secrets (`[[isakmp_key]]` or manual SA keys) and that every user may read is refused under
/// [`PermissionCheck::Enforce`]; one its group may read is accepted with a warning on standard error (see
/// [`load_with_warnings`] to handle it otherwise). Relative `[pki]` paths are made relative to the file's directory.
pub fn load(path: &Path, check: PermissionCheck) -> Result<Config, ConfigError> {
    let (config, warnings) = load_with_warnings(path, check)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(config)
}

/// [`load`], returning the warnings about the file itself (a group-readable file with secrets) instead of printing
/// them. [`Config::warnings`] has those about its contents.
pub fn load_with_warnings(path: &Path, check: PermissionCheck) -> Result<(Config, Vec<ValidationError>), ConfigError> {
    let read_err = |source| ConfigError::Read { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(read_err)?;
    // Mode from the open file, so it is the file we read even if the path is replaced meanwhile.
    let mode = file.metadata().map_err(read_err)?.permissions().mode();
    let mut bytes = Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes).map_err(read_err)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ConfigError::NotUtf8 { path: path.to_owned() })?;
    let mut config = syntax::parse(text)
        .map_err(|e| ConfigError::Syntax { errors: SyntaxErrors(e), file: Some(path.to_owned()) })?;
    let mut warnings = Vec::new();
    if check == PermissionCheck::Enforce && config.contains_secrets() {
        if mode & 0o004 != 0 {
            return Err(ConfigError::WorldReadable { path: path.to_owned(), mode: mode & 0o7777 });
        }
        if mode & 0o040 != 0 {
            // Legitimate for an operators' group, so not refused, but worth a look.
            warnings.push(ValidationError {
                path: path.display().to_string(),
                message: format!(
                    "holds secret keys and its group can read it (mode {:03o}); unless that group is meant to, \
                     run `chmod 600 {}`",
                    mode & 0o7777,
                    path.display()
                ),
            });
        }
    }
    config.validate().map_err(|e| ConfigError::Invalid { errors: e, file: Some(path.to_owned()) })?;
    if let (Some(pki), Some(dir)) = (config.pki.as_mut(), path.parent()) {
        for p in pki.ca.iter_mut().chain([&mut pki.certificate, &mut pki.private_key]) {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
    Ok((config, warnings))
}

impl Config {
    /// Checks every rule between fields; returns all broken ones.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        validate::validate(self)
    }

    /// Legal but questionable settings (weak algorithms, unused definitions, exposed metrics), for logs and
    /// `check-config`.
    pub fn warnings(&self) -> Vec<ValidationError> {
        warnings::warnings(self)
    }

    /// Checks that the `[pki]` files can be read and that the private key is not readable by every user. Separate from
    /// validation because it looks at the machine, not the text (run it where the daemon runs).
    pub fn check_files(&self) -> Result<(), ValidationErrors> {
        let Some(pki) = &self.pki else {
            return Ok(());
        };
        let mut errors = Vec::new();
        let paths = pki.ca.iter().map(|p| ("pki.ca", p));
        for (field, path) in paths.chain([("pki.certificate", &pki.certificate), ("pki.private_key", &pki.private_key)])
        {
            let opened = File::open(path).and_then(|f| f.metadata());
            let message = match opened {
                Err(e) => format!("cannot read {}: {e}", path.display()),
                Ok(m) if !m.is_file() => format!("{} is not a file", path.display()),
                Ok(m) if field == "pki.private_key" && m.permissions().mode() & 0o004 != 0 => format!(
                    "{} is readable by every user (mode {:03o}); chmod 600 it",
                    path.display(),
                    m.permissions().mode() & 0o7777
                ),
                Ok(_) => continue,
            };
            errors.push(ValidationError { path: field.to_owned(), message });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// The config as TOML (secrets included: write it only where the original could be).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Whether the file carries secrets: pre-shared keys or manual SA keys.
    pub fn contains_secrets(&self) -> bool {
        !self.isakmp_keys.is_empty() || self.crypto_maps.iter().any(CryptoMap::has_manual_keys)
    }

    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    pub fn access_list(&self, name: &str) -> Option<&AccessList> {
        self.access_lists.iter().find(|a| a.name == name)
    }

    pub fn transform_set(&self, name: &str) -> Option<&TransformSet> {
        self.transform_sets.iter().find(|t| t.name == name)
    }

    /// The entries of crypto map set `name`, in `seq` order (the order the SPD is searched).
    pub fn crypto_map_entries(&self, name: &str) -> Vec<&CryptoMap> {
        let mut v: Vec<&CryptoMap> = self.crypto_maps.iter().filter(|m| m.name == name).collect();
        v.sort_by_key(|m| m.seq);
        v
    }

    /// ISAKMP policies in priority order (lowest number first, as proposed).
    pub fn isakmp_policies_by_priority(&self) -> Vec<&IsakmpPolicy> {
        let mut v: Vec<&IsakmpPolicy> = self.isakmp_policies.iter().collect();
        v.sort_by_key(|p| p.priority);
        v
    }

    /// The pre-shared key for `peer`: the most specific `[[isakmp_key]]` whose `peer` prefix contains it (keys by
    /// `identity` never match an address).
    pub fn isakmp_key_for(&self, peer: IpAddr) -> Option<&IsakmpKey> {
        self.isakmp_keys
            .iter()
            .filter_map(|k| Some((k.peer?, k)))
            .filter(|(p, _)| p.contains(peer))
            .max_by_key(|(p, _)| p.prefix_len())
            .map(|(_, k)| k)
    }
}
