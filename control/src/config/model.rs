//! The config file's sections as serde structs. Field names are the TOML keys (see docs/config.md); every struct denies
//! unknown keys so a typo is an error rather than a silently ignored setting.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::acl::AccessList;
use super::algorithms::{AhIntegrity, Auth, DhGroup, EspEncryption, EspIntegrity, Hash, IsakmpEncryption};
use super::names::named_enum;
use super::secret::{HexKey, Psk};
use super::types::{one_or_many, Identity, InterfaceAddress, IpPrefix, MacAddr};

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub engine: Engine,
    #[serde(default, rename = "interface", skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, rename = "neighbor", skip_serializing_if = "Vec::is_empty")]
    pub neighbors: Vec<Neighbor>,
    #[serde(default, rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub isakmp: Isakmp,
    #[serde(default, rename = "isakmp_policy", skip_serializing_if = "Vec::is_empty")]
    pub isakmp_policies: Vec<IsakmpPolicy>,
    #[serde(default, rename = "isakmp_key", skip_serializing_if = "Vec::is_empty")]
    pub isakmp_keys: Vec<IsakmpKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki: Option<Pki>,
    #[serde(default, rename = "transform_set", skip_serializing_if = "Vec::is_empty")]
    pub transform_sets: Vec<TransformSet>,
    #[serde(default, rename = "access_list", skip_serializing_if = "Vec::is_empty")]
    pub access_lists: Vec<AccessList>,
    #[serde(default, rename = "crypto_map", skip_serializing_if = "Vec::is_empty")]
    pub crypto_maps: Vec<CryptoMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default)]
    pub control: Control,
}

named_enum! {
    /// Who runs the ESP ciphers: `[engine] crypto` (which also decides whether a crypto device is opened at all),
    /// and optionally per crypto map entry.
    #[derive(Default)]
    pub enum CryptoBackend as "crypto backend" {
        /// Crypto on the worker lcores: intel-ipsec-mb called directly where it has the suite, RustCrypto for
        /// DES/3DES. In `[engine]`: no device.
        Cpu => "cpu",
        /// A DPDK cryptodev (e.g. QAT or crypto_aesni_mb), named by `crypto_devargs`; it must be there.
        Cryptodev => "cryptodev",
        /// Per suite, whichever of the CPU backend and the cryptodev (`crypto_devargs`, default `crypto_aesni_mb0`) a
        /// short self-benchmark at the suite's first SA finds faster on this machine; the CPU for every suite
        /// when the device cannot be opened (the default: it never stops the daemon).
        #[default]
        Auto => "auto",
    }
}

named_enum! {
    /// What happens to the packet that matched a crypto map with no SA yet and so triggered IKE.
    #[derive(Default)]
    pub enum TriggerAction as "trigger action" {
        /// Hold it (bounded, briefly) and send it once the SA is up.
        #[default]
        Hold => "hold",
        /// Drop it (counted); the application retransmits.
        Drop => "drop",
    }
}

pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;
pub const DEFAULT_MTU: u16 = 1500;
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/espgate/espgate.sock";
pub const DEFAULT_IPSEC_LIFETIME_SECONDS: u32 = 3600;
pub const DEFAULT_IPSEC_LIFETIME_KILOBYTES: u64 = 4_608_000;

fn default_workers() -> Vec<u32> {
    vec![1]
}

fn default_replay_window() -> u32 {
    DEFAULT_REPLAY_WINDOW
}

/// `[engine]`: cores, EAL and data-path settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    #[serde(default = "default_workers")]
    pub workers: Vec<u32>,
    #[serde(default)]
    pub control_core: u32,
    #[serde(default)]
    pub eal: Vec<String>,
    #[serde(default = "default_replay_window")]
    pub replay_window: u32,
    #[serde(default)]
    pub crypto: CryptoBackend,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto_devargs: Option<String>,
    #[serde(default)]
    pub trigger: TriggerAction,
    /// ICMP errors (Fragmentation Needed / Packet Too Big) each worker may generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_rate_limit: Option<IcmpRateLimit>,
}

/// `icmp_rate_limit = { per_second = 100, burst = 50 }` in `[engine]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpRateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            workers: default_workers(),
            control_core: 0,
            eal: Vec::new(),
            replay_window: DEFAULT_REPLAY_WINDOW,
            crypto: CryptoBackend::Auto,
            crypto_devargs: None,
            trigger: TriggerAction::Hold,
            icmp_rate_limit: None,
        }
    }
}

/// `[[interface]]`: a DPDK port with its addresses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub device: String,
    #[serde(with = "one_or_many")]
    pub address: Vec<InterfaceAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto_map: Option<String>,
}

impl Interface {
    pub fn mtu(&self) -> u16 {
        self.mtu.unwrap_or(DEFAULT_MTU)
    }

    /// The interface's address of the given family (the first one if several).
    pub fn address_of_family(&self, ipv4: bool) -> Option<InterfaceAddress> {
        self.address.iter().copied().find(|a| a.addr().is_ipv4() == ipv4)
    }

    /// Whether `ip` is inside one of the interface's connected prefixes.
    pub fn is_connected(&self, ip: IpAddr) -> bool {
        self.address.iter().any(|a| a.network().contains(ip))
    }
}

/// `[[neighbor]]`: a static ARP/ND entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    pub address: IpAddr,
    pub mac: MacAddr,
    pub interface: String,
}

/// `[[route]]`: a static route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub destination: IpPrefix,
    pub next_hop: IpAddr,
    pub interface: String,
}

named_enum! {
    /// When DPD probes (`crypto isakmp keepalive ... periodic|on-demand`).
    #[derive(Default)]
    pub enum DpdMode as "dpd mode" {
        /// Only when there is outbound traffic and nothing came back for `interval`.
        #[default]
        OnDemand => "on-demand",
        /// Every `interval`, whatever the traffic.
        Periodic => "periodic",
    }
}

named_enum! {
    /// What to do once a peer is declared dead.
    #[derive(Default)]
    pub enum DeadPeerAction as "dpd on_dead action" {
        /// Delete its SAs; traffic re-triggers negotiation.
        #[default]
        Clear => "clear",
        /// Delete its SAs and negotiate again at once.
        Restart => "restart",
    }
}

fn default_dpd_retries() -> u32 {
    3
}

/// `dpd = { ... }` in `[isakmp]` (RFC 3706).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dpd {
    pub interval: u32,
    #[serde(default = "default_dpd_retries")]
    pub retries: u32,
    #[serde(default)]
    pub mode: DpdMode,
    #[serde(default)]
    pub on_dead: DeadPeerAction,
}

fn yes() -> bool {
    true
}

fn default_nat_keepalive() -> u32 {
    20
}

fn default_acquire_hold() -> u32 {
    3
}

/// `[isakmp]`: global Phase 1 behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Isakmp {
    #[serde(default)]
    pub aggressive_mode: bool,
    #[serde(default = "yes")]
    pub nat_t: bool,
    #[serde(default = "default_nat_keepalive")]
    pub nat_keepalive: u32,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpd: Option<Dpd>,
    /// Packets held per crypto map entry while traffic-triggered IKE negotiates (sent once the SA is up); 0 drops
    /// the triggering packets (counted).
    #[serde(default = "default_acquire_hold")]
    pub acquire_hold: u32,
}

impl Default for Isakmp {
    fn default() -> Self {
        Isakmp {
            aggressive_mode: false,
            nat_t: true,
            nat_keepalive: default_nat_keepalive(),
            identity: Identity::Address,
            dpd: None,
            acquire_hold: default_acquire_hold(),
        }
    }
}

fn default_isakmp_lifetime() -> u32 {
    86_400
}

/// `[[isakmp_policy]]`: one Phase 1 proposal (`crypto isakmp policy N`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsakmpPolicy {
    pub priority: u32,
    pub encryption: IsakmpEncryption,
    pub hash: Hash,
    pub authentication: Auth,
    pub group: DhGroup,
    #[serde(default = "default_isakmp_lifetime")]
    pub lifetime: u32,
}

/// `[[isakmp_key]]`: a pre-shared key for a peer address or range (`crypto isakmp key K address A [M]`), or for a
/// peer identity (`crypto isakmp key K hostname H`): exactly one of `peer` and `identity`. Identity keys serve only
/// the Aggressive Mode responder (in Main Mode the peer's ID is encrypted with a key derived from the PSK, so the
/// address must pick it; see `ike::Endpoint::set_identity_keys`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsakmpKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpPrefix>,
    /// `fqdn:NAME` or `user-fqdn:USER@NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    pub key: Psk,
}

/// `[pki]`: trust anchors and this gateway's certificate, PEM files (relative paths are from the config's directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pki {
    pub ca: Vec<PathBuf>,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

named_enum! {
    /// IPsec encapsulation mode (`mode tunnel|transport` in a transform set).
    #[derive(Default)]
    pub enum Mode as "mode" {
        #[default]
        Tunnel => "tunnel",
        Transport => "transport",
    }
}

/// `[[transform_set]]` (`crypto ipsec transform-set NAME ...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSet {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp_encryption: Option<EspEncryption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp_integrity: Option<EspIntegrity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ah: Option<AhIntegrity>,
    #[serde(default)]
    pub mode: Mode,
}

named_enum! {
    /// How a crypto map entry gets its SAs.
    pub enum CryptoMapKind as "crypto map kind" {
        /// Negotiated by IKEv1 (`crypto map M N ipsec-isakmp`).
        IpsecIsakmp => "ipsec-isakmp",
        /// Static SPIs and keys from the config (`crypto map M N ipsec-manual`).
        IpsecManual => "ipsec-manual",
    }
}

named_enum! {
    /// When an `ipsec-isakmp` entry negotiates.
    #[derive(Default)]
    pub enum Initiate as "initiate" {
        /// At start (and after a dead peer with on_dead = "restart").
        OnStart => "on-start",
        /// When traffic matches the access list and no SA exists.
        #[default]
        OnTraffic => "on-traffic",
    }
}

/// Manual ESP SA keys (`set session-key inbound|outbound esp SPI cipher K [authenticator K]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualEsp {
    pub spi: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_key: Option<HexKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<HexKey>,
}

/// Manual AH SA keys (`set session-key inbound|outbound ah SPI K`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualAh {
    pub spi: u32,
    pub auth_key: HexKey,
}

/// `[[crypto_map]]`: one entry (name + seq) of a crypto map set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoMap {
    pub name: String,
    pub seq: u32,
    pub kind: CryptoMapKind,
    pub peer: IpAddr,
    pub match_address: String,
    pub transform_sets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pfs: Option<DhGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_kilobytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate: Option<Initiate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_esp: Option<ManualEsp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_esp: Option<ManualEsp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_ah: Option<ManualAh>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_ah: Option<ManualAh>,
    /// `ipsec-manual` only: UDP-encapsulate ESP (RFC 3948) between these ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_t: Option<ManualNatT>,
    /// `ipsec-manual` only: 64-bit Extended Sequence Numbers (RFC 4303 §2.2.1) on both SAs; the peer must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esn: Option<bool>,
    /// Who runs this entry's ESP ciphers, overriding `[engine] crypto` (which must open a device for `cryptodev`
    /// and `auto` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto: Option<CryptoBackend>,
}

fn nat_t_port() -> u16 {
    4500
}

/// `nat_t = { local_port = 4500, remote_port = 4500 }` on an `ipsec-manual` entry: the outer UDP ports of ESP.
/// Inbound ESP-in-UDP is recognised on port 4500 (RFC 3948 §2.2, the port the gateway listens on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualNatT {
    #[serde(default = "nat_t_port")]
    pub local_port: u16,
    #[serde(default = "nat_t_port")]
    pub remote_port: u16,
}

impl CryptoMap {
    /// IPsec SA lifetime in seconds (`set security-association lifetime seconds`).
    pub fn lifetime_seconds(&self) -> u32 {
        self.lifetime_seconds.unwrap_or(DEFAULT_IPSEC_LIFETIME_SECONDS)
    }

    /// IPsec SA lifetime in kilobytes (`set security-association lifetime kilobytes`).
    pub fn lifetime_kilobytes(&self) -> u64 {
        self.lifetime_kilobytes.unwrap_or(DEFAULT_IPSEC_LIFETIME_KILOBYTES)
    }

    pub fn initiate(&self) -> Initiate {
        self.initiate.unwrap_or_default()
    }

    /// The backend this entry's ESP SAs ask for: its own `crypto`, else `[engine] crypto`.
    pub fn crypto_backend(&self, engine: &Engine) -> CryptoBackend {
        self.crypto.unwrap_or(engine.crypto)
    }

    pub fn has_manual_keys(&self) -> bool {
        self.inbound_esp.is_some()
            || self.outbound_esp.is_some()
            || self.inbound_ah.is_some()
            || self.outbound_ah.is_some()
    }
}

/// `[metrics]`: Prometheus text exposition over HTTP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub listen: SocketAddr,
}

fn default_control_socket() -> PathBuf {
    PathBuf::from(DEFAULT_CONTROL_SOCKET)
}

/// `[control]`: the CLI's Unix socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    #[serde(default = "default_control_socket")]
    pub socket: PathBuf,
}

impl Default for Control {
    fn default() -> Self {
        Control { socket: default_control_socket() }
    }
}
