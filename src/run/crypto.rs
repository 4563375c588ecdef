//! Which ESP crypto backend SAs get (`[engine] crypto`, `crypto_devargs`): chosen once at start-up, then asked by
//! every place that builds an ESP SA (manual SAs at start and reload, IKE SAs), so they all agree.
//!
//! The choice lives in a process-wide slot because IKE builds SAs deep in its own state without the daemon's config;
//! without one (unit tests, or before start-up) SAs get the software backend, as they always did. Only the control
//! thread builds SAs, so the slot's mutex is never taken on a worker. [`shutdown`] empties it before EAL goes.
use anyhow::{bail, Context, Result};
use control::config::{Config, CryptoBackend as Configured};
use engine::crypto::{CryptoBackend, CryptodevMode, EncryptionAlgorithm, EspDirection, IntegrityAlgorithm};
use engine::dpdk::cryptodev::CryptoDevice;
use engine::dpdk::Eal;
use engine::esp::{InboundSa, OutboundSa};
use engine::sa::{SaError, SaParams};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Sessions the device's pool holds: one per outbound SA, up to two per inbound SA (HMAC, cipher).
const MAX_SESSIONS: u32 = 8192;

struct Factory {
    backend: CryptoBackend,
    /// `crypto = "auto"`: each suite's backend is decided by measuring both at its first SA.
    auto: bool,
    /// Auto: whether the device won, per suite.
    device_wins: HashMap<(EncryptionAlgorithm, IntegrityAlgorithm, bool), bool>,
    /// What each suite got (for `show` and to log a suite's backend once).
    labels: HashMap<(EncryptionAlgorithm, IntegrityAlgorithm, bool), String>,
}

static FACTORY: Mutex<Option<Factory>> = Mutex::new(None);

fn factory() -> MutexGuard<'static, Option<Factory>> {
    FACTORY.lock().unwrap_or_else(|e| e.into_inner())
}

/// EAL arguments the crypto device needs: its vdev, or its PCI address allowed (then PCI probing stays on).
pub fn eal_args(cfg: &Config) -> Vec<String> {
    match (&cfg.engine.crypto, devargs(cfg)) {
        (Configured::Cpu, _) | (_, None) => Vec::new(),
        (_, Some(d)) if super::is_pci(d.split(',').next().unwrap_or_default()) => vec![format!("--allow={d}")],
        (_, Some(d)) => vec![format!("--vdev={d}")],
    }
}

/// The device's devargs: as configured, or intel-ipsec-mb's vdev for `auto` (Debian's DPDK ships its driver).
fn devargs(cfg: &Config) -> Option<String> {
    match (&cfg.engine.crypto, &cfg.engine.crypto_devargs) {
        (Configured::Cpu, _) => None,
        (_, Some(d)) => Some(d.clone()),
        (Configured::Auto, None) => Some(AUTO_DEVICE.to_string()),
        (Configured::Cryptodev, None) => None,
    }
}

const AUTO_DEVICE: &str = "crypto_aesni_mb0";

/// Opens the configured device (after EAL init) and makes it the backend of every SA built from now on.
pub fn init(cfg: &Config, eal: &Eal, workers: &[u32]) -> Result<()> {
    let backend = match cfg.engine.crypto {
        Configured::Cpu => CryptoBackend::Cpu,
        Configured::Cryptodev | Configured::Auto => {
            // Omitted: the first crypto device EAL probed (given in engine.eal, e.g. "-a", "0000:3d:01.0").
            let devargs = devargs(cfg).unwrap_or_default();
            let device = match CryptoDevice::open(eal, &devargs, workers, MAX_SESSIONS) {
                Ok(d) => d,
                Err(e) if cfg.engine.crypto == Configured::Auto => {
                    tracing::warn!(target: "espgate", "crypto: auto: no device {devargs:?} ({e:#}); all suites in software");
                    return install(CryptoBackend::Cpu, false);
                }
                Err(e) => return Err(e).with_context(|| format!("engine.crypto_devargs {devargs:?}")),
            };
            tracing::info!(
                target: "espgate",
                "crypto: device {} (driver {}), {} queue pairs, {}",
                device.name(),
                device.driver(),
                device.queue_pairs(),
                if device.supports_cpu_crypto() { "CPU crypto" } else { "enqueue/dequeue" }
            );
            CryptoBackend::Cryptodev { device, mode: CryptodevMode::Auto }
        }
    };
    install(backend, cfg.engine.crypto == Configured::Auto)
}

fn install(backend: CryptoBackend, auto: bool) -> Result<()> {
    let mut f = factory();
    if f.is_some() {
        bail!("the crypto backend was already chosen in this process");
    }
    *f = Some(Factory { backend, auto, device_wins: HashMap::new(), labels: HashMap::new() });
    Ok(())
}

/// The software handler of an SA.
fn software(params: &SaParams) -> Result<engine::crypto::SoftwareEsp, engine::crypto::CryptoError> {
    engine::crypto::SoftwareEsp::new(params.encryption, &params.cipher_key, params.integrity, &params.auth_key)
}

/// Auto: measures the device's and software's handlers for this suite (built with the SA's own parameters, both
/// directions) and says whether the device is faster, with the log line that explains the choice.
fn device_is_faster(backend: &CryptoBackend, params: &SaParams) -> (bool, String) {
    let suite =
        format!("{} {}{}", params.encryption.name(), params.integrity.name(), if params.esn { " esn" } else { "" });
    let dev = match backend.build_for(params, EspDirection::Both) {
        Ok(b) if b.backend.starts_with("cryptodev") => b,
        // The device does not take the suite: software, nothing to measure.
        _ => return (false, format!("crypto: auto: ESP {suite}: the device does not take it")),
    };
    let sw = match software(params) {
        Ok(s) => s,
        Err(e) => return (true, format!("crypto: auto: ESP {suite}: software refused it ({e})")),
    };
    use engine::crypto::measure::measure;
    match (measure(&*dev.crypto), measure(&sw)) {
        (Ok(d), Ok(s)) => {
            let device = d.total() < s.total();
            let line = format!(
                "crypto: auto: ESP {suite}: {} (seal+open of 64 and 1420 B: device {:.0} ns, software {:.0} ns)",
                if device { "device" } else { "software" },
                d.total(),
                s.total()
            );
            (device, line)
        }
        (Err(e), _) => (false, format!("crypto: auto: ESP {suite}: software; the device failed its test ({e})")),
        (_, Err(e)) => (true, format!("crypto: auto: ESP {suite}: device; software failed its test ({e})")),
    }
}

/// Forgets the backend (SAs built later get software), so the device goes with the last SA on it, before EAL.
pub fn shutdown() {
    factory().take();
}

fn build(params: &SaParams, direction: EspDirection) -> Result<Box<dyn engine::crypto::EspCrypto>, SaError> {
    let mut guard = factory();
    let Some(f) = guard.as_mut() else {
        let c = software(params)?;
        return Ok(Box::new(c));
    };
    let key = (params.encryption, params.integrity, params.esn);
    if f.auto && !f.device_wins.contains_key(&key) {
        let (wins, line) = device_is_faster(&f.backend, params);
        tracing::info!(target: "espgate", "{line}");
        f.device_wins.insert(key, wins);
    }
    let built = if f.auto && f.device_wins.get(&key) == Some(&false) {
        let c = software(params)?;
        engine::crypto::BuiltCrypto { crypto: Box::new(c), backend: "cpu (auto)".to_string() }
    } else {
        let mut b = f.backend.build_for(params, direction)?;
        if f.auto && b.backend.starts_with("cryptodev") {
            b.backend.push_str(" (auto)");
        }
        b
    };
    let labels = &mut f.labels;
    if labels.get(&key) != Some(&built.backend) {
        tracing::info!(
            target: "espgate",
            "crypto: ESP {} {}{}: {}",
            params.encryption.name(),
            params.integrity.name(),
            if params.esn { " esn" } else { "" },
            built.backend
        );
        labels.insert(key, built.backend);
    }
    Ok(built.crypto)
}

/// An inbound ESP SA on the configured backend.
pub fn inbound(params: SaParams) -> Result<InboundSa, SaError> {
    let c = build(&params, EspDirection::Open)?;
    InboundSa::with_crypto(params, c)
}

/// An outbound ESP SA on the configured backend.
pub fn outbound(params: SaParams) -> Result<OutboundSa, SaError> {
    let c = build(&params, EspDirection::Seal)?;
    OutboundSa::with_crypto(params, c)
}

/// Which backend an SA with these parameters runs on, for `show crypto ipsec sa`.
pub fn label(params: &SaParams) -> String {
    let guard = factory();
    let Some(f) = guard.as_ref() else { return "cpu".to_string() };
    f.labels.get(&(params.encryption, params.integrity, params.esn)).cloned().unwrap_or_else(|| f.backend.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(engine_extra: &str) -> Config {
        control::config::parse(&format!(
            "[engine]\nworkers = [1]\n{engine_extra}\n\n[[interface]]\nname = \"outside\"\ndevice = \"net_null0\"\naddress = \"198.51.100.1/24\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn the_device_goes_to_eal_as_vdev_or_allowed_pci_address() {
        assert!(eal_args(&cfg("")).is_empty());
        let v = cfg("crypto = \"cryptodev\"\ncrypto_devargs = \"crypto_aesni_mb0,max_nb_queue_pairs=4\"");
        assert_eq!(eal_args(&v), ["--vdev=crypto_aesni_mb0,max_nb_queue_pairs=4"]);
        let a = super::super::eal_args_for(&v, 4);
        assert!(a.contains(&"--no-pci".to_string()), "{a:?}");
        let q = cfg("crypto = \"cryptodev\"\ncrypto_devargs = \"0000:3d:01.0\"");
        assert_eq!(eal_args(&q), ["--allow=0000:3d:01.0"]);
        let a = super::super::eal_args_for(&q, 4);
        assert!(!a.contains(&"--no-pci".to_string()), "QAT is a PCI device: {a:?}");
        assert!(a.contains(&"--allow=0000:3d:01.0".to_string()));
    }

    #[test]
    fn without_a_chosen_backend_sas_use_software() {
        let p = SaParams::new(
            engine::wire::Spi(0x1000),
            engine::sa::Mode::Transport,
            EncryptionAlgorithm::AesGcm128,
            &[1; 20],
            IntegrityAlgorithm::None,
            &[],
        );
        assert_eq!(label(&p), "cpu");
        assert!(outbound(p.clone()).is_ok());
        assert!(inbound(p).is_ok());
    }
}
