//! EAL arguments shared by every espgate-perf job: memory (hugepages or not), lcores, devices, file prefix.
use anyhow::{bail, Result};

/// Options every job takes.
#[derive(Debug, Clone, clap::Args)]
pub struct EalOpts {
    /// A DPDK virtual device, e.g. `net_null0` or `net_af_packet0,iface=veth0` (repeatable). Without any, the job
    /// uses every port EAL finds (PCI devices bound to vfio-pci, or devices given with --eal -a ...).
    #[arg(long = "vdev", value_name = "DEVARGS")]
    pub vdevs: Vec<String>,
    /// CPUs that run the forwarding lcores, e.g. `1` or `1-3` or `1,3`.
    #[arg(long, value_name = "LIST", default_value = "1")]
    pub lcores: String,
    /// CPU of EAL's main lcore (the generator, or only the reports); default: the lowest CPU not in --lcores, or the
    /// first worker's CPU (shared) when --lcores takes them all.
    #[arg(long, value_name = "CPU")]
    pub main_core: Option<usize>,
    /// Run without hugepages (--no-huge -m 1024). On by default when no hugepages are free and mounted.
    #[arg(long)]
    pub no_huge: bool,
    /// Extra EAL arguments, passed as they are (repeatable): `--eal=-a --eal=0000:03:00.0`.
    #[arg(long = "eal", value_name = "ARG", allow_hyphen_values = true)]
    pub extra: Vec<String>,
}

/// Parses a CPU list such as `1`, `1-3`, `0,2,4-5`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse()?, b.trim().parse()?);
                if a > b {
                    bail!("bad CPU range {part:?}");
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse()?),
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        bail!("empty CPU list {s:?}");
    }
    Ok(out)
}

/// EAL's lcore arguments when two lcores may share a CPU: lcore ids 0..N run the workers on their CPUs, lcore N (the
/// main one) on `main`.
pub fn lcore_map(workers: &[usize], main: usize) -> Vec<String> {
    let mut map: Vec<String> = workers.iter().enumerate().map(|(l, c)| format!("{l}@{c}")).collect();
    map.push(format!("{}@{main}", workers.len()));
    vec!["--lcores".to_string(), map.join(","), "--main-lcore".to_string(), workers.len().to_string()]
}

impl EalOpts {
    /// The worker CPUs and the EAL argument list.
    pub fn build(&self, job: &str) -> Result<(Vec<usize>, usize, Vec<String>)> {
        let workers = parse_cpu_list(&self.lcores)?;
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        let free = (0..ncpu).find(|c| !workers.contains(c));
        let main = match (self.main_core, free) {
            (Some(m), _) => m,
            (None, Some(f)) => f,
            // Every CPU forwards: the main lcore (the generator) shares the first worker's CPU.
            (None, None) => workers[0],
        };
        let cpus = if workers.contains(&main) {
            if self.main_core.is_some() {
                bail!("the main core {main} must not be one of the forwarding lcores {workers:?}");
            }
            lcore_map(&workers, main)
        } else {
            let mut all = workers.clone();
            all.push(main);
            all.sort_unstable();
            let list = all.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
            vec!["-l".to_string(), list, "--main-lcore".to_string(), main.to_string()]
        };
        let mut args = cpus;
        args.extend([
            format!("--file-prefix=espgate-perf-{job}-{}", std::process::id()),
            "--no-telemetry".to_string(),
            "--log-level=*:warning".to_string(),
        ]);
        if self.no_huge || !engine::dpdk::hugepages_available() {
            args.extend(["--no-huge", "-m", "1024"].map(String::from));
        }
        if !self.vdevs.is_empty() && !self.extra.iter().any(|a| a == "-a" || a.starts_with("--allow")) {
            // Only the given vdevs: do not probe (and grab) PCI devices.
            args.push("--no-pci".into());
        }
        for v in &self.vdevs {
            args.push(format!("--vdev={v}"));
        }
        args.extend(self.extra.iter().cloned());
        Ok((workers, main, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("3,1-2").unwrap(), vec![1, 2, 3]);
        assert!(parse_cpu_list("2-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn main_core_is_kept_apart() {
        let o = EalOpts {
            vdevs: vec!["net_null0".into()],
            lcores: "0".into(),
            main_core: None,
            no_huge: true,
            extra: vec![],
        };
        let (w, m, a) = o.build("t").unwrap();
        assert_eq!((w, m), (vec![0], 1));
        assert!(a.contains(&"--no-pci".to_string()) && a.contains(&"--vdev=net_null0".to_string()));
        let bad = EalOpts { main_core: Some(0), ..o.clone() };
        assert!(bad.build("t").is_err());
        // Every CPU forwards: the main lcore shares the first worker's CPU through an lcore map.
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let all = EalOpts { lcores: format!("0-{}", n - 1), ..o };
        let (w, m, a) = all.build("t").unwrap();
        assert_eq!((w.len(), m), (n, 0));
        let map = (0..n).map(|c| format!("{c}@{c}")).chain([format!("{n}@0")]).collect::<Vec<_>>().join(",");
        assert_eq!(a[..4], ["--lcores".to_string(), map, "--main-lcore".to_string(), n.to_string()]);
    }
}
