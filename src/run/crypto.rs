//! Which ESP crypto backend each SA gets: `[engine] crypto` opens (or not) a crypto device at start-up, and each crypto
//! map entry asks for `cpu`, `cryptodev` or `auto` (its own `crypto` key, else the engine's). One [`CryptoFactory`],
//! owned by the daemon and shared (`Arc`) with the IKE manager, builds every ESP SA (manual SAs at start and reload,
//! IKE SAs), so they all agree; each built SA comes with the label of the backend it actually got, for `show`.
//!
//! - `cpu`: no device is opened; every SA on the worker's CPU: intel-ipsec-mb called directly for the suites it has
//!   (AES-GCM, AES-CBC, AES-CTR, NULL with HMAC; labelled `cpu intel-ipsec-mb`), RustCrypto/ring for DES and 3DES
//!   (labelled `cpu`).
//! - `cryptodev`: the device (`crypto_devargs`: a vdev, given to EAL with `--vdev`, or a PCI address, `--allow`) must
//!   open, or the daemon does not start.
//! - `auto` (the default): the device (`crypto_devargs`, default `crypto_aesni_mb0`) is created after EAL init with
//!   `rte_vdev_init` (a PCI address is allowed as for `cryptodev`), so a driver that is not installed costs one
//!   warning, never the start: then every `auto` suite runs on the CPU. With a device, each suite's first SA times
//!   both backends ([`engine::crypto::measure`]) and the faster is used for that suite from then on.
//!
//! An entry that asks for `cryptodev` when `auto` could not open the device is a start-up error (and a refused
//! reload), naming the entry and why the device is missing: the operator asked for that device for that traffic.
//! Only the control thread builds SAs; the factory's mutex is never taken on a worker.
use anyhow::{bail, Context, Result};
use control::config::{Config, CryptoBackend as Choice};
use engine::crypto::{CryptoBackend, CryptodevMode, EncryptionAlgorithm, EspDirection, IntegrityAlgorithm};
use engine::dpdk::cryptodev::{CryptoDevice, CryptodevError};
use engine::dpdk::Eal;
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::{SaError, SaParams};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Sessions the device's pool holds: one per outbound SA, up to two per inbound SA (HMAC, cipher).
const MAX_SESSIONS: u32 = 8192;

/// intel-ipsec-mb's vdev, which Debian's DPDK ships: what `auto` tries when `crypto_devargs` is not given.
pub const AUTO_DEVICE: &str = "crypto_aesni_mb0";

type Suite = (EncryptionAlgorithm, IntegrityAlgorithm, bool);

/// A crypto map entry: its set's name and its seq.
pub type Entry<'a> = (&'a str, u32);

/// Builds every ESP SA on the backend its crypto map entry asks for (see the module docs).
pub struct CryptoFactory {
    /// The opened device (`CryptoBackend::Cryptodev`), or `Cpu` when none is.
    device: CryptoBackend,
    /// Why no device is open, for errors and labels.
    no_device: Option<String>,
    state: Mutex<State>,
}

struct State {
    /// `[engine] crypto`: what entries without their own key (and unknown entries) ask for.
    default: Choice,
    /// Each entry's choice, as the running config says (IKE asks by entry).
    entries: HashMap<(String, u32), Choice>,
    /// Auto: whether the device won, per suite (measured once, at the suite's first SA).
    device_wins: HashMap<Suite, bool>,
    /// (suite, label) pairs already logged, so each suite's backend is logged once per backend.
    logged: HashSet<(Suite, String)>,
}

/// An SA with the label of the backend its crypto runs on (`cpu`, `cryptodev crypto_aesni_mb0 (cpu-crypto)`,
/// `cpu (auto)`, ...).
pub struct Built<T> {
    pub sa: T,
    pub backend: String,
}

/// EAL arguments the crypto device needs: a `cryptodev` vdev, or a PCI address to allow (then PCI probing stays on).
/// `auto` never puts a vdev on the EAL command line: EAL would refuse to start if its driver were missing.
pub fn eal_args(cfg: &Config) -> Vec<String> {
    let pci = |d: &str| super::is_pci(d.split(',').next().unwrap_or_default());
    match (&cfg.engine.crypto, &cfg.engine.crypto_devargs) {
        (Choice::Cpu, _) | (_, None) => Vec::new(),
        (_, Some(d)) if pci(d) => vec![format!("--allow={d}")],
        (Choice::Cryptodev, Some(d)) => vec![format!("--vdev={d}")],
        (Choice::Auto, Some(_)) => Vec::new(),
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CryptoFactory {
    /// No device: every SA on the CPU backend, whatever it asks for (`[engine] crypto = "cpu"`, and unit tests).
    pub fn software() -> Self {
        Self::with(CryptoBackend::Cpu, Some("[engine] crypto = \"cpu\"".into()), Choice::Cpu)
    }

    fn with(device: CryptoBackend, no_device: Option<String>, default: Choice) -> Self {
        let state = State { default, entries: HashMap::new(), device_wins: HashMap::new(), logged: HashSet::new() };
        Self { device, no_device, state: Mutex::new(state) }
    }

    /// Opens the device `[engine] crypto` asks for (after EAL init), then takes the config's entries
    /// ([`CryptoFactory::set_config`]).
    pub fn open(cfg: &Config, eal: &Eal, workers: &[u32]) -> Result<Self> {
        let configured = cfg.engine.crypto;
        let devargs = cfg.engine.crypto_devargs.clone();
        let start = Instant::now();
        let opened = match (configured, devargs.as_deref()) {
            (Choice::Cpu, _) => None,
            // Omitted: the first crypto device EAL probed (given in engine.eal, e.g. "-a", "0000:3d:01.0").
            (Choice::Cryptodev, d) => {
                let d = d.unwrap_or_default();
                let device = CryptoDevice::open(eal, d, workers, MAX_SESSIONS)
                    .with_context(|| format!("engine.crypto = \"cryptodev\": crypto_devargs {d:?}"))?;
                Some(Ok(device))
            }
            (Choice::Auto, d) => {
                let d = d.unwrap_or(AUTO_DEVICE);
                let name = d.split(',').next().unwrap_or_default();
                // A PCI device was allowed on the EAL command line; a vdev is created now, if its driver is there.
                let r = if super::is_pci(name) {
                    CryptoDevice::open(eal, d, workers, MAX_SESSIONS)
                } else {
                    CryptoDevice::open_vdev(eal, d, workers, MAX_SESSIONS)
                };
                Some(r.map_err(|e| match e {
                    // Its message names the device already.
                    CryptodevError::NotFound(_) => e.to_string(),
                    e => format!("no crypto device {d:?}: {e}"),
                }))
            }
        };
        let f = match opened {
            None => Self::software(),
            Some(Ok(device)) => {
                tracing::info!(
                    target: "espgate",
                    "crypto: device {} (driver {}), {} queue pairs, {}, opened in {:.1} ms",
                    device.name(),
                    device.driver(),
                    device.queue_pairs(),
                    if device.supports_cpu_crypto() { "CPU crypto" } else { "enqueue/dequeue" },
                    start.elapsed().as_secs_f64() * 1e3
                );
                Self::with(CryptoBackend::Cryptodev { device, mode: CryptodevMode::Auto }, None, configured)
            }
            Some(Err(why)) => {
                tracing::warn!(target: "espgate", "crypto: auto: {why}; every suite on auto runs on the CPU");
                Self::with(CryptoBackend::Cpu, Some(format!("auto could not open it ({why})")), configured)
            }
        };
        f.set_config(cfg)?;
        Ok(f)
    }

    /// Whether a device is open.
    pub fn has_device(&self) -> bool {
        matches!(self.device, CryptoBackend::Cryptodev { .. })
    }

    /// Checks that every entry of `cfg` can have the backend it asks for (an entry asking for `cryptodev` needs the
    /// device open), without taking the config.
    pub fn check(&self, cfg: &Config) -> Result<()> {
        if self.has_device() {
            return Ok(());
        }
        match cfg.crypto_maps.iter().find(|m| m.crypto_backend(&cfg.engine) == Choice::Cryptodev) {
            Some(m) => {
                let why = self.no_device.as_deref().unwrap_or("no crypto device is open");
                bail!("crypto map {} {}: crypto = \"cryptodev\", but there is no crypto device: {why}", m.name, m.seq)
            }
            None => Ok(()),
        }
    }

    /// Takes the entries' choices of `cfg` (at start and after a reload), after [`CryptoFactory::check`].
    pub fn set_config(&self, cfg: &Config) -> Result<()> {
        self.check(cfg)?;
        let mut s = lock(&self.state);
        s.entries = cfg.crypto_maps.iter().map(|m| ((m.name.clone(), m.seq), m.crypto_backend(&cfg.engine))).collect();
        Ok(())
    }

    /// What an entry of the running config asks for (`[engine] crypto` for an entry it does not know).
    pub fn choice(&self, (name, seq): Entry<'_>) -> Choice {
        let s = lock(&self.state);
        s.entries.get(&(name.to_string(), seq)).copied().unwrap_or(s.default)
    }

    /// An inbound ESP SA on the backend `choice` gives it.
    pub fn inbound(&self, choice: Choice, params: SaParams) -> Result<Built<InboundSa>, SaError> {
        let (c, backend) = self.build(choice, &params, EspDirection::Open)?;
        Ok(Built { sa: InboundSa::with_crypto(params, c)?, backend })
    }

    /// An outbound ESP SA on the backend `choice` gives it.
    pub fn outbound(&self, choice: Choice, params: SaParams) -> Result<Built<OutboundSa>, SaError> {
        let (c, backend) = self.build(choice, &params, EspDirection::Seal)?;
        Ok(Built { sa: OutboundSa::with_crypto(params, c)?, backend })
    }

    fn build(
        &self,
        choice: Choice,
        params: &SaParams,
        direction: EspDirection,
    ) -> Result<(Box<dyn engine::crypto::EspCrypto>, String), SaError> {
        let suite = (params.encryption, params.integrity, params.esn);
        let mut s = lock(&self.state);
        let (crypto, backend): (Box<dyn engine::crypto::EspCrypto>, String) = match (choice, &self.device) {
            (Choice::Cpu, _) => cpu(params, direction, "")?,
            // check() refused configs that get here; an SA is never worse off on the CPU than not built.
            (Choice::Cryptodev, CryptoBackend::Cpu | CryptoBackend::Software) => {
                cpu(params, direction, " (fallback: no crypto device)")?
            }
            (Choice::Auto, CryptoBackend::Cpu | CryptoBackend::Software) => {
                cpu(params, direction, " (auto: no device)")?
            }
            (Choice::Cryptodev, dev) => {
                let b = dev.build_for(params, direction)?;
                (b.crypto, b.backend)
            }
            (Choice::Auto, dev) => {
                let wins = match s.device_wins.get(&suite) {
                    Some(&w) => w,
                    None => {
                        let (w, line) = device_is_faster(dev, params);
                        tracing::info!(target: "espgate", "{line}");
                        s.device_wins.insert(suite, w);
                        w
                    }
                };
                if wins {
                    let mut b = dev.build_for(params, direction)?;
                    b.backend.push_str(" (auto)");
                    (b.crypto, b.backend)
                } else {
                    cpu(params, direction, " (auto)")?
                }
            }
        };
        if s.logged.insert((suite, backend.clone())) {
            tracing::info!(target: "espgate", "crypto: ESP {}: {backend}", suite_name(params));
        }
        Ok((crypto, backend))
    }
}

fn suite_name(p: &SaParams) -> String {
    format!("{} {}{}", p.encryption.name(), p.integrity.name(), if p.esn { " esn" } else { "" })
}

/// An SA's handler on the CPU backend (intel-ipsec-mb where it has the suite, else software), labelled with the
/// implementation and `why` (e.g. ` (auto)`).
fn cpu(
    params: &SaParams,
    direction: EspDirection,
    why: &str,
) -> Result<(Box<dyn engine::crypto::EspCrypto>, String), engine::crypto::CryptoError> {
    let b = CryptoBackend::Cpu.build_for(params, direction)?;
    Ok((b.crypto, format!("{}{why}", b.backend)))
}

/// Auto: measures the device's and the CPU backend's handlers for this suite (built with the SA's own parameters,
/// both directions) and says whether the device is faster, with the log line that explains the choice (and what the
/// measurement cost: it runs on the control thread, once per suite).
fn device_is_faster(backend: &CryptoBackend, params: &SaParams) -> (bool, String) {
    let suite = suite_name(params);
    let start = Instant::now();
    let dev = match backend.build_for(params, EspDirection::Both) {
        Ok(b) if b.backend.starts_with("cryptodev") => b,
        // The device does not take the suite: the CPU backend, nothing to measure.
        _ => return (false, format!("crypto: auto: ESP {suite}: cpu (the device does not take it)")),
    };
    let sw = match CryptoBackend::Cpu.build_for(params, EspDirection::Both) {
        Ok(s) => s,
        Err(e) => return (true, format!("crypto: auto: ESP {suite}: device (the CPU backend refused it: {e})")),
    };
    use engine::crypto::measure::measure;
    let (d, s) = (measure(&*dev.crypto), measure(&*sw.crypto));
    let took = start.elapsed().as_secs_f64() * 1e3;
    match (d, s) {
        (Ok(d), Ok(s)) => {
            let device = d.total() < s.total();
            let line = format!(
                "crypto: auto: ESP {suite}: {} (seal+open of 64 and 1420 B: device {:.0} ns, {} {:.0} ns; \
                 measured in {took:.1} ms)",
                if device { "device" } else { sw.backend.as_str() },
                d.total(),
                sw.backend,
                s.total()
            );
            (device, line)
        }
        (Err(e), _) => (false, format!("crypto: auto: ESP {suite}: cpu (the device failed its test: {e})")),
        (_, Err(e)) => (true, format!("crypto: auto: ESP {suite}: device (the CPU backend failed its test: {e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(engine_extra: &str, entries: &[Option<&str>]) -> Config {
        let map = if entries.is_empty() { "" } else { "crypto_map = \"CM\"\n" };
        let mut s = format!(
            "[engine]\nworkers = [1]\n{engine_extra}\n\n[[interface]]\nname = \"outside\"\ndevice = \"net_null0\"\n\
             address = \"198.51.100.1/24\"\n{map}\n[[transform_set]]\nname = \"TS\"\n\
             esp_encryption = \"esp-gcm-128\"\n\n[[access_list]]\nname = \"A\"\nentries = [{{ action = \"permit\", \
             source = \"192.0.2.0/24\", destination = \"203.0.113.0/24\" }}]\n\n[[isakmp_policy]]\npriority = 10\n\
             encryption = \"aes-256\"\nhash = \"sha256\"\nauthentication = \"pre-share\"\ngroup = 14\n\n\
             [[isakmp_key]]\npeer = \"198.51.100.2\"\nkey = \"example-only-secret\"\n"
        );
        for (i, c) in entries.iter().enumerate() {
            let crypto = c.map(|c| format!("crypto = \"{c}\"\n")).unwrap_or_default();
            s += &format!(
                "\n[[crypto_map]]\nname = \"CM\"\nseq = {}\nkind = \"ipsec-isakmp\"\npeer = \"198.51.100.2\"\n\
                 match_address = \"A\"\ntransform_sets = [\"TS\"]\n{crypto}",
                10 * (i + 1)
            );
        }
        control::config::parse(&s).unwrap()
    }

    fn gcm(spi: u32) -> SaParams {
        SaParams::new(
            engine::wire::Spi(spi),
            engine::sa::Mode::Transport,
            EncryptionAlgorithm::AesGcm128,
            &[1; 20],
            IntegrityAlgorithm::None,
            &[],
        )
    }

    #[test]
    fn a_cryptodev_vdev_goes_to_eal_but_auto_never_puts_one_there() {
        assert!(eal_args(&cfg("", &[])).is_empty(), "default (auto): created after EAL init");
        assert!(eal_args(&cfg("crypto = \"auto\"\ncrypto_devargs = \"crypto_aesni_mb0\"", &[])).is_empty());
        assert!(eal_args(&cfg("crypto = \"cpu\"", &[])).is_empty());
        let v = cfg("crypto = \"cryptodev\"\ncrypto_devargs = \"crypto_aesni_mb0,max_nb_queue_pairs=4\"", &[]);
        assert_eq!(eal_args(&v), ["--vdev=crypto_aesni_mb0,max_nb_queue_pairs=4"]);
        let a = super::super::eal_args_for(&v, 4);
        assert!(a.contains(&"--no-pci".to_string()), "{a:?}");
        for crypto in ["cryptodev", "auto"] {
            let q = cfg(&format!("crypto = \"{crypto}\"\ncrypto_devargs = \"0000:3d:01.0\""), &[]);
            assert_eq!(eal_args(&q), ["--allow=0000:3d:01.0"], "{crypto}");
            let a = super::super::eal_args_for(&q, 4);
            assert!(!a.contains(&"--no-pci".to_string()), "QAT is a PCI device: {a:?}");
            assert!(a.contains(&"--allow=0000:3d:01.0".to_string()));
        }
        // Nothing crypto on the EAL line by default.
        let a = super::super::eal_args_for(&cfg("", &[]), 4);
        assert!(!a.iter().any(|x| x.contains("crypto")), "{a:?}");
    }

    #[test]
    fn entries_ask_for_their_own_backend_or_the_engines() {
        let f = CryptoFactory::software();
        let c = cfg("crypto = \"auto\"", &[None, Some("cpu"), Some("auto")]);
        // Without a device, nothing asks for cryptodev here: the config is taken.
        f.set_config(&c).unwrap();
        assert_eq!(f.choice(("CM", 10)), Choice::Auto);
        assert_eq!(f.choice(("CM", 20)), Choice::Cpu);
        assert_eq!(f.choice(("CM", 30)), Choice::Auto);
        // An entry the running config does not have: the engine's default of the factory (cpu here).
        assert_eq!(f.choice(("CM", 99)), Choice::Cpu);
        // A reload moves an entry to another backend.
        f.set_config(&cfg("crypto = \"auto\"", &[Some("cpu")])).unwrap();
        assert_eq!(f.choice(("CM", 10)), Choice::Cpu);
    }

    #[test]
    fn an_entry_asking_for_cryptodev_without_a_device_is_refused_and_the_config_kept() {
        let f =
            CryptoFactory::with(CryptoBackend::Cpu, Some("auto could not open it (no driver)".into()), Choice::Auto);
        f.set_config(&cfg("", &[Some("cpu")])).unwrap();
        let bad = cfg("", &[Some("cpu"), Some("cryptodev")]);
        let e = f.set_config(&bad).unwrap_err().to_string();
        assert!(e.contains("crypto map CM 20") && e.contains("no crypto device") && e.contains("no driver"), "{e}");
        assert!(f.check(&bad).is_err());
        // Refused: the running choices stay.
        assert_eq!(f.choice(("CM", 10)), Choice::Cpu);
        assert_eq!(f.choice(("CM", 20)), Choice::Auto);
        // The engine's default is cryptodev for entries without a key: refused the same way.
        let f2 = CryptoFactory::software();
        assert!(f2.set_config(&cfg("crypto = \"cryptodev\"", &[None])).is_err());
    }

    #[test]
    fn without_a_device_every_choice_builds_on_the_cpu_and_says_why() {
        let f = CryptoFactory::software();
        for (choice, label) in [
            (Choice::Cpu, "cpu intel-ipsec-mb"),
            (Choice::Auto, "cpu intel-ipsec-mb (auto: no device)"),
            (Choice::Cryptodev, "cpu intel-ipsec-mb (fallback: no crypto device)"),
        ] {
            let o = f.outbound(choice, gcm(0x1000)).unwrap();
            assert_eq!(o.backend, label);
            let i = f.inbound(choice, gcm(0x1001)).unwrap();
            assert_eq!(i.backend, label);
            assert_eq!(i.sa.params().spi.0, 0x1001);
        }
        // 3DES is not in intel-ipsec-mb's part of the CPU backend: RustCrypto, plain `cpu`.
        let tdes = SaParams::new(
            engine::wire::Spi(0x1003),
            engine::sa::Mode::Transport,
            EncryptionAlgorithm::TripleDesCbc,
            &[3; 24],
            IntegrityAlgorithm::HmacSha1_96,
            &[4; 20],
        );
        assert_eq!(f.outbound(Choice::Cpu, tdes.clone()).unwrap().backend, "cpu");
        assert_eq!(f.inbound(Choice::Auto, tdes).unwrap().backend, "cpu (auto: no device)");
        // Bad keys are the SA's error, whatever the backend.
        let mut bad = gcm(0x1002);
        bad.cipher_key = vec![0; 3].into();
        assert!(matches!(f.outbound(Choice::Auto, bad), Err(SaError::Crypto(_))));
    }
}
