//! `espgate run`: EAL, ports and the worker lcore from the config; the control thread on the main lcore handles
//! punted frames (ARP, ping, next-hop resolution), publishes table changes, and stops everything on SIGINT/SIGTERM.
use crate::ike::Ike;
use crate::{ctl, show};
use anyhow::{bail, Context, Result};
use control::config::{self, Config, PermissionCheck};
use control::neighbor::Host;
use control::plan::{self, Plan};
use engine::datapath::ether::{self, EtherType};
use engine::datapath::Drop as DropCause;
use engine::datapath::PuntKind;
use engine::dpdk::{lcore, Eal, Mempool, Port, PortConfig};
use engine::esp::{InboundSa, OutboundSa};
use engine::worker::{self, handoff, Command, Injected, Retired, WorkerQueues, WorkerStats};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The options of `espgate run`.
#[derive(Debug, clap::Args)]
pub struct RunOpts {
    /// The config file (TOML; see docs/config.md).
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// Stop after this many seconds (for tests and demos); default: run until SIGINT/SIGTERM.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Log lines on stderr as text or as JSON objects (one per line, for journald/log shippers). Levels and
    /// modules are chosen with ESPGATE_LOG (tracing's filter syntax, e.g. `info`, `espgate=debug`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Structured logs on stderr (IKE exchanges, SA up/down/rekey, DPD, reloads, errors).
/// Bytes of each mbuf's buffer: a whole frame of the largest configured MTU must fit one segment (the pipeline
/// works on contiguous packets), with DPDK's 128-byte headroom for the outer headers ESP adds and tailroom for its
/// padding and ICV. DPDK's default (2176) covers MTU 1500.
fn mbuf_data_room(cfg: &Config) -> u16 {
    const HEADROOM: usize = 128;
    // Ethernet header and one VLAN tag; ESP padding (at most 15 with the ciphers here), trailer and a 32-byte ICV.
    const FRAME: usize = 14 + 4;
    const TAIL: usize = 15 + 2 + 32;
    let mtu = cfg.interfaces.iter().filter_map(|i| i.mtu).max().map_or(1500, usize::from);
    (HEADROOM + mtu + FRAME + TAIL).max(2176).min(usize::from(u16::MAX)) as u16
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ESPGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
}

/// True for a PCI address such as 0000:03:00.0 (or 03:00.0), as opposed to a vdev's devargs.
fn is_pci(device: &str) -> bool {
    let name = plan::device_name(device);
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = name.split(':').collect();
    matches!(parts.as_slice(), [d, b, df] if hex(d) && hex(b) && df.split('.').count() == 2)
        || matches!(parts.as_slice(), [b, df] if hex(b) && df.split('.').count() == 2)
}

/// EAL arguments for the config: cores, memory, devices, then the operator's own extras.
pub fn eal_args(cfg: &Config) -> Vec<String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    eal_args_for(cfg, cpus)
}

/// [`eal_args`] on a machine with CPUs `0..cpus`. Lcores are CPUs (`-l`), except lcores beyond the last CPU
/// (more workers than the machine has cores, e.g. two workers on a 2-CPU test machine): those run on the last CPU
/// that is not the control core (`--lcores=L@CPU`), sharing it, and `run` warns that they do.
fn eal_args_for(cfg: &Config, cpus: u32) -> Vec<String> {
    let mut cores: Vec<u32> = cfg.engine.workers.clone();
    cores.push(cfg.engine.control_core);
    cores.sort_unstable();
    cores.dedup();
    let spare = (0..cpus).rev().find(|&c| c != cfg.engine.control_core).unwrap_or(0);
    let mut args = if cores.iter().all(|&c| c < cpus) {
        vec!["-l".to_string(), cores.iter().map(u32::to_string).collect::<Vec<_>>().join(",")]
    } else {
        let map = cores.iter().map(|&c| format!("{c}@{}", if c < cpus { c } else { spare }));
        vec![format!("--lcores={}", map.collect::<Vec<_>>().join(","))]
    };
    args.extend([
        "--main-lcore".to_string(),
        cfg.engine.control_core.to_string(),
        format!("--file-prefix=espgate-{}", std::process::id()),
        "--no-telemetry".to_string(),
        "--log-level=*:warning".to_string(),
    ]);
    let memory_given = cfg.engine.eal.iter().any(|a| a == "--no-huge" || a == "-m" || a.starts_with("--socket-mem"));
    if !memory_given && !engine::dpdk::hugepages_available() {
        args.extend(["--no-huge", "-m", "1024"].map(String::from));
    }
    let crypto_args = crypto::eal_args(cfg);
    if !cfg.interfaces.iter().any(|i| is_pci(&i.device)) && !crypto_args.iter().any(|a| a.starts_with("--allow=")) {
        args.push("--no-pci".into());
    }
    args.extend(crypto_args);
    for i in &cfg.interfaces {
        if is_pci(&i.device) {
            args.push(format!("--allow={}", i.device));
        } else {
            args.push(format!("--vdev={}", i.device));
        }
    }
    args.extend(cfg.engine.eal.iter().cloned());
    args
}

pub fn check_config(path: &Path) -> Result<()> {
    let cfg = config::load(path, PermissionCheck::Enforce)?;
    for w in cfg.warnings() {
        println!("warning: {w}");
    }
    println!(
        "{}: OK ({} interfaces, {} crypto map entries, {} transform sets)",
        path.display(),
        cfg.interfaces.len(),
        cfg.crypto_maps.len(),
        cfg.transform_sets.len()
    );
    Ok(())
}

pub fn run(o: &RunOpts) -> Result<()> {
    init_logs(o.log_format);
    let cfg = config::load(&o.config, PermissionCheck::Enforce)?;
    for w in cfg.warnings() {
        tracing::warn!(target: "espgate", "config: {w}");
    }
    if cfg.engine.workers.is_empty() || cfg.engine.workers.len() > 64 {
        bail!("engine.workers: 1 to 64 worker lcores (got {:?})", cfg.engine.workers);
    }
    // The control socket first: if another daemon has it, stop before touching the ports.
    let server = ctl::Server::bind(&cfg.control.socket)?;
    let args = eal_args(&cfg);
    if let Some(map) = args.iter().find(|a| a.starts_with("--lcores=")) {
        tracing::warn!(target: "espgate", "engine.workers names more cores than this machine has: {map} (lcores sharing a CPU share its time)");
    }
    let eal = Eal::init(&args).context("EAL init")?;
    // Worker i polls queue i of every port; inbound SAs belong to worker spi % N (see engine::worker).
    let worker_lcores = cfg.engine.workers.clone();
    let started = eal.worker_lcores();
    if let Some(w) = worker_lcores.iter().find(|w| !started.contains(w)) {
        bail!("engine.workers: lcore {w} is not a worker lcore EAL started ({started:?})");
    }
    // Owned here, shared with IKE; dropped (with the SAs on the device) before EAL goes.
    let crypto = Arc::new(crypto::CryptoFactory::open(&cfg, &eal, &worker_lcores)?);
    let n_workers = worker_lcores.len();
    let n_queues = n_workers as u16;
    let pool = Mempool::new(&eal, "espgate_pool", 16383, 256, mbuf_data_room(&cfg), None)?;

    let mut ports = Vec::new();
    for i in &cfg.interfaces {
        let id = Port::id_by_name(&eal, plan::device_name(&i.device))
            .with_context(|| format!("interface {:?}: device {:?}", i.name, i.device))?;
        // The MTU is enforced by the datapath on egress; the device keeps its own (vdevs cannot change it).
        // Promiscuous, so a configured MAC the device cannot take (net_pcap) still receives its frames.
        // One rx and tx queue per worker, RSS spreading flows over the rx queues.
        let pc = PortConfig { promiscuous: true, rx_queues: n_queues, tx_queues: n_queues, ..PortConfig::default() };
        let port = Port::configure(&eal, id, &pc, &pool).with_context(|| {
            format!(
                "interface {:?} ({}): {n_queues} rx/tx queues (one per worker; net_af_packet needs qpairs={n_queues}, \
                 net_pcap and net_null have one unless given more)",
                i.name, i.device
            )
        })?;
        if let Some(mtu) = i.mtu {
            if let Err(e) = port.set_mtu(mtu) {
                tracing::warn!(target: "espgate", "interface {:?}: the device keeps its MTU ({e}); {mtu} is enforced in software", i.name);
            }
        }
        if let Some(m) = i.mac {
            if let Err(e) = port.set_mac(m.0) {
                tracing::warn!(target: "espgate", "interface {:?}: the device keeps its MAC ({e}); {} is used in software", i.name, m);
            }
        }
        ports.push(port);
    }
    let ids: Vec<u16> = ports.iter().map(Port::id).collect();
    if ids.iter().any(|&id| usize::from(id) >= ids.len()) {
        bail!("DPDK port ids are not dense ({ids:?}): give every device EAL probes an [[interface]]");
    }
    let Plan { tables, maps } = plan::build(
        &cfg,
        |dev| ports.iter().find(|p| p.name() == dev).map(Port::id),
        |id| ports.iter().find(|p| p.id() == id).and_then(|p| p.mac().ok()),
    )?;
    let shared_tables = Arc::new(tables.clone());
    let mut dps: Vec<_> =
        (0..n_workers).map(|_| engine::datapath::Datapath::new(shared_tables.clone(), 65536)).collect();
    let mut views = Vec::new();
    for m in &maps {
        let what = || format!("crypto map {} {}", m.name, m.seq);
        let built = manual_sas(&cfg, &crypto, &tables, m)?;
        if let (Some((inbound, outbound)), Some(_)) = (built.esp, &m.manual) {
            // Every worker opens packets of every ESP SA (one shared replay window).
            let inbound = Arc::new(inbound);
            for dp in dps.iter_mut() {
                dp.install_inbound(inbound.clone()).with_context(what)?;
                dp.install_outbound(m.handle, outbound.clone());
            }
        }
        if let (Some((inbound, outbound)), Some((inb, _))) = (built.ah, &m.manual_ah) {
            dps[handoff::ah_owner(inb, n_workers)].install_inbound_ah(inbound).with_context(what)?;
            for dp in dps.iter_mut() {
                dp.install_outbound_ah(m.handle, outbound.clone());
            }
        }
        views.extend(built.view);
    }
    for p in &ports {
        p.start().with_context(|| format!("start port {}", p.name()))?;
    }
    // Worker i owns queue i of every port, rx and tx; the tx vector is indexed by port id.
    let mut by_id: Vec<&Port> = ports.iter().collect();
    by_id.sort_by_key(|p| p.id());
    let ch = workers::Workers::new(n_workers, 1024);
    let stats = &ch.stats;
    // Two flags: SIGINT/SIGTERM end the control loop, which then sends the Deletes through the still running
    // workers; only after that are the workers stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, term.clone())?;
    }
    let mut lcore_handles = Vec::new();
    // Declared after the handles, so dropped before them: on every exit path the workers are told to stop before
    // anything waits for them.
    let _stop_on_exit = StopOnDrop(stop.clone());
    for (w, dp) in dps.into_iter().enumerate() {
        let q = w as u16;
        let queues = WorkerQueues {
            rx: by_id.iter().map(|p| p.rx_queue(q)).collect::<Result<_, _>>()?,
            tx: by_id.iter().map(|p| p.tx_queue(q)).collect::<Result<_, _>>()?,
        };
        let (wch, st, stop) = (ch.channels[w].clone(), stats[w].clone(), stop.clone());
        lcore_handles.push(lcore::launch(worker_lcores[w], move || worker::run(dp, queues, wch, &st, &stop))?);
    }
    tracing::info!(
        target: "espgate",
        "running on {} port(s) {:?}, worker lcores {worker_lcores:?}, {} crypto map entries ({} manual)",
        ports.len(),
        ports.iter().map(|p| p.name().to_string()).collect::<Vec<_>>(),
        maps.len(),
        maps.iter().filter(|m| m.manual.is_some()).count()
    );

    let handles = plan_handles(&maps);
    let ike = match ike_address(&cfg) {
        Some(a) => Ike::new(&cfg, a, &handles, crypto.clone())?,
        None => None,
    };
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;
    let metrics = match &cfg.metrics {
        Some(m) => {
            let e = crate::metrics::Exporter::start(m.listen)?;
            tracing::info!(target: "espgate", "metrics at http://{}/metrics (unauthenticated)", e.local_addr());
            Some(e)
        }
        None => None,
    };
    let mut daemon = Daemon {
        host: Host::new(tables.clone()),
        tables,
        ch: &ch,
        pool: &pool,
        server: &server,
        cfg: cfg.clone(),
        config_path: o.config.clone(),
        hup,
        next_handle: maps.iter().map(|m| m.handle + 1).max().unwrap_or(0),
        maps,
        ports: &ports,
        stats,
        manual: views,
        capture: None,
        ike,
        metrics,
        crypto,
    };
    daemon.run(&term, o.seconds.map(Duration::from_secs));
    if let Some(ike) = daemon.ike.as_mut() {
        // Tell the peers: Delete for every IPsec and ISAKMP SA, sent while the worker still runs.
        ike.shutdown(Instant::now());
        daemon.drive_ike(Instant::now());
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let mut dps = Vec::new();
    for h in lcore_handles {
        let lcore = h.lcore();
        dps.push(h.join().map_err(|_| anyhow::anyhow!("worker lcore {lcore} panicked"))?);
    }
    print_summary(&ports, &ch, &dps, &daemon.maps);
    drop(dps);
    while ch.retired.pop().is_some() {}
    while ch.punt.pop().is_some() {}
    while ch.inject.pop().is_some() {}
    for c in &ch.channels {
        while c.handoff.recv(c.worker).is_some() {}
    }
    // The crypto device goes with the last SAs on it (the workers' went above; the daemon holds the views and
    // IKE's) and the factory. Ports close (net_pcap finishes its files) before the pool and EAL go.
    drop(daemon);
    drop(ports);
    Ok(())
}

/// The SPD handle of each crypto map entry, by name and seq.
fn plan_handles(maps: &[plan::MapPlan]) -> std::collections::HashMap<(String, u32), u32> {
    maps.iter().map(|m| ((m.name.clone(), m.seq), m.handle)).collect()
}

/// Sets the stop flag when dropped, so an early return cannot leave a worker lcore polling forever while its
/// handle waits for it.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The local address IKE listens on: the first address, of the first `ipsec-isakmp` peer's family, of an interface
/// that carries a crypto map with such entries.
fn ike_address(cfg: &Config) -> Option<IpAddr> {
    let m = cfg.crypto_maps.iter().find(|m| m.kind == config::CryptoMapKind::IpsecIsakmp)?;
    cfg.interfaces
        .iter()
        .filter(|i| i.crypto_map.as_deref() == Some(m.name.as_str()))
        .find_map(|i| i.address_of_family(m.peer.is_ipv4()))
        .map(|a| a.addr())
}

/// The control thread's state: the gateway's host presence, IKE, and what `show` reads.
pub(crate) mod crypto;
mod reload;
mod workers;

struct Daemon<'a> {
    host: Host,
    tables: engine::datapath::Tables,
    ch: &'a workers::Workers,
    pool: &'a Mempool,
    server: &'a ctl::Server,
    cfg: Config,
    config_path: std::path::PathBuf,
    /// Set by SIGHUP: reload the config.
    hup: Arc<AtomicBool>,
    /// The crypto map entries as planned (handles, manual SAs), for reloads and the summary.
    maps: Vec<plan::MapPlan>,
    /// The next handle a new entry gets on reload (handles are never reused while running).
    next_handle: u32,
    ports: &'a [Port],
    /// Per worker.
    stats: &'a [Arc<WorkerStats>],
    manual: Vec<show::MapView>,
    /// The running `espgate capture`, if any.
    capture: Option<crate::capture::Session>,
    ike: Option<Ike>,
    metrics: Option<crate::metrics::Exporter>,
    /// Builds every ESP SA on its entry's backend (shared with `ike`).
    crypto: Arc<crypto::CryptoFactory>,
}

impl Daemon<'_> {
    fn run(&mut self, stop: &AtomicBool, limit: Option<Duration>) {
        let start = Instant::now();
        let mut last_tick = 0;
        while !stop.load(Ordering::Relaxed) && limit.is_none_or(|l| start.elapsed() < l) {
            let now = start.elapsed().as_secs();
            let mut busy = false;
            while let Some(p) = self.ch.punt.pop() {
                busy = true;
                match (p.kind, self.ike.as_mut()) {
                    (PuntKind::Ike, Some(ike)) => {
                        ike.handle_frame(Instant::now(), p.mbuf.data());
                        continue;
                    }
                    (PuntKind::Acquire { handle }, Some(ike)) => {
                        ike.acquire(Instant::now(), handle, p.mbuf.data());
                        continue;
                    }
                    _ => {}
                }
                let frames = self.host.handle(p.port, p.kind, p.mbuf.data(), now);
                inject(self.ch, self.pool, frames);
            }
            if self.hup.swap(false, Ordering::Relaxed) {
                self.reload();
            }
            if now != last_tick {
                last_tick = now;
                if self.metrics.is_some() {
                    let text = self.metrics_text();
                    if let Some(e) = &self.metrics {
                        e.publish(text);
                    }
                }
                let frames = self.host.tick(now);
                inject(self.ch, self.pool, frames);
            }
            if let Some(t) = self.host.take_changed_tables() {
                self.tables = t.clone();
                // A full command queue means the worker is stuck; the next change retries with fresher tables.
                let _ = self.ch.commands.push(Command::Tables(Arc::new(t)));
            }
            while let Some(e) = self.ch.events.pop() {
                // Manual SAs have no lifetime: these are IKE's SAs reaching a volume limit.
                tracing::info!(target: "espgate", event = ?e, "SA lifetime event");
                if let Some(ike) = self.ike.as_mut() {
                    let mut commands = Vec::new();
                    ike.lifetime_event(Instant::now(), e, &mut |c| commands.push(c));
                    for c in commands {
                        let _ = self.ch.commands.push(c);
                    }
                }
            }
            while let Some(r) = self.ch.retired.pop() {
                if let Retired::InstallFailed(spi) = r {
                    tracing::error!(target: "espgate", %spi, "could not install inbound SA (SAD full or duplicate SPI)");
                }
            }
            self.drive_ike(Instant::now());
            if let Some(c) = self.capture.as_mut() {
                c.drain(&self.ch.tap);
            }
            let server = self.server;
            server.poll(|req| self.answer(req));
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Runs IKE's timers, sends its datagrams, hands its SAs to the worker, prints its log.
    fn drive_ike(&mut self, now: Instant) {
        let Some(ike) = self.ike.as_mut() else { return };
        let mut packets = Vec::new();
        let mut commands = Vec::new();
        ike.drive(now, &mut |p| packets.push(p), &mut |c| commands.push(c));
        ike.flush(&mut |p| packets.push(p));
        for c in commands {
            if self.ch.commands.push(c).is_err() {
                tracing::error!(target: "espgate", "worker command queue full: an SA change was lost");
            }
        }
        for p in packets {
            match p {
                crate::ike::Out::Ike(p) => self.send_ip(&p),
                crate::ike::Out::Release(p) => self.release(&p),
            }
        }
    }

    /// A packet held while its crypto map entry negotiated: through the worker's egress (crypto map, route).
    fn release(&self, packet: &[u8]) {
        let Some(mut m) = self.pool.alloc() else { return };
        if m.extend_from_slice(packet) {
            let _ = self.ch.inject.push(Injected { port: 0, mbuf: m, route: true });
        }
    }

    /// Sends an IP packet the control thread made (IKE): route, neighbor (resolved first if unknown), frame.
    fn send_ip(&mut self, packet: &[u8]) {
        let Some(dst) = packet_destination(packet) else { return };
        let Some((route, next_hop)) = self.tables.routes.lookup(&dst) else { return };
        let port = route.port;
        let frames = match (self.tables.neighbor(next_hop), self.tables.interface(port)) {
            (Some(mac), Some(iface)) => {
                let et = if dst.is_ipv4() { EtherType::IPV4 } else { EtherType::IPV6 };
                let mut f = vec![0u8; 14 + packet.len()];
                ether::emit(&mut f, mac, iface.mac, et);
                f[14..].copy_from_slice(packet);
                vec![control::neighbor::Frame { port, bytes: f }]
            }
            _ => self.host.handle(port, PuntKind::Resolve { port, next_hop }, packet, 0),
        };
        inject(self.ch, self.pool, frames);
    }

    /// The Prometheus text of what `show` answers (published once a second).
    fn metrics_text(&mut self) -> String {
        let mut ask = |w: &[&str]| self.answer(&ctl::Request { command: w.iter().map(|s| s.to_string()).collect() });
        let (c, i, k, f) = (
            ask(&["show", "counters"]),
            ask(&["show", "crypto", "ipsec", "sa"]),
            ask(&["show", "crypto", "isakmp", "sa"]),
            ask(&["show", "interfaces"]),
        );
        crate::metrics::render(&c, &i, &k, &f)
    }

    /// `clear crypto sa [peer ADDR]`, `clear crypto isakmp [CONN-ID]`.
    fn clear(&mut self, words: &[&str]) -> serde_json::Value {
        let Some(ike) = self.ike.as_mut() else {
            return serde_json::json!({ "error": "no ipsec-isakmp crypto map: nothing to clear" });
        };
        let now = Instant::now();
        let mut commands = Vec::new();
        let answer = match words {
            ["sa"] => serde_json::json!({ "cleared_ipsec_sas": ike.clear_ipsec(now, None, &mut |c| commands.push(c)) }),
            ["sa", "peer", addr] => match addr.parse::<IpAddr>() {
                Ok(a) => {
                    serde_json::json!({ "cleared_ipsec_sas": ike.clear_ipsec(now, Some(a), &mut |c| commands.push(c)) })
                }
                Err(_) => serde_json::json!({ "error": format!("{addr:?} is not an IP address") }),
            },
            ["isakmp"] => serde_json::json!({ "cleared_isakmp_sas": ike.clear_isakmp(None) }),
            ["isakmp", id] => match id.parse::<u32>() {
                Ok(c) => serde_json::json!({ "cleared_isakmp_sas": ike.clear_isakmp(Some(c)) }),
                Err(_) => serde_json::json!({ "error": format!("{id:?} is not a connection id") }),
            },
            _ => serde_json::json!({ "error": format!("unknown command \"clear crypto {}\"", words.join(" ")) }),
        };
        ike.after_clear(now);
        for c in commands {
            let _ = self.ch.commands.push(c);
        }
        self.drive_ike(now);
        answer
    }

    fn answer(&mut self, req: &ctl::Request) -> serde_json::Value {
        let words: Vec<&str> = req.command.iter().map(String::as_str).collect();
        if let ["clear", "crypto", rest @ ..] = words.as_slice() {
            return self.clear(rest);
        }
        if let ["capture", rest @ ..] = words.as_slice() {
            let port_of = |n: &str| {
                let i = self.cfg.interfaces.iter().position(|i| i.name == n)?;
                self.ports.get(i).map(Port::id)
            };
            return crate::capture::answer(&mut self.capture, &self.ch.tap, port_of, rest);
        }
        if let ["show", "crypto", "keys"] = words.as_slice() {
            // Keys leave only over the root-only control socket.
            return crate::wireshark::keys_json(self.ike.as_ref(), &self.maps);
        }
        let mut maps: Vec<show::MapView> = Vec::new();
        if let Some(ike) = &self.ike {
            for a in &ike.active {
                let Some((name, seq)) = ike.entry_of(a.handle) else { continue };
                let Some(m) = self.cfg.crypto_maps.iter().find(|m| m.name == name && m.seq == seq) else {
                    continue;
                };
                let esp = a
                    .esp
                    .as_ref()
                    .map(|e| ((e.inbound.0, e.in_counters.clone()), e.outbound.clone(), e.backends.clone()));
                let ah = a.ah.as_ref().map(|h| {
                    ah_view(&self.cfg, (&m.name, m.seq), (h.inbound.0, h.in_counters.clone()), h.outbound.clone())
                });
                let mut v = map_view(&self.cfg, &self.tables, (&m.name, m.seq, m.peer), esp, ah);
                let secs = a.lifetime.saturating_sub(a.installed.elapsed()).as_secs();
                let hard = match (&a.esp, &a.ah) {
                    (Some(e), _) => e.outbound.params().lifetime.hard_bytes,
                    (None, Some(h)) => h.outbound.params().lifetime.hard_bytes,
                    (None, None) => u64::MAX,
                };
                let kb = (hard != u64::MAX).then(|| hard.saturating_sub(a.outbound_bytes()) / 1024);
                v.remaining = Some((kb, secs));
                maps.push(v);
            }
        }
        let total = self.ch.total();
        let shown = Shown {
            cfg: &self.cfg,
            ports: self.ports,
            stats: &total,
            per_worker: self.stats,
            maps: &self.manual.iter().cloned().chain(maps).collect::<Vec<_>>(),
            ike: self.ike.as_ref(),
        };
        shown.answer(req, &self.host)
    }
}

fn packet_destination(p: &[u8]) -> Option<IpAddr> {
    match p.first()? >> 4 {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(p.get(16..20)?).ok()?)),
        6 => Some(IpAddr::from(<[u8; 16]>::try_from(p.get(24..40)?).ok()?)),
        _ => None,
    }
}

fn inject(ch: &workers::Workers, pool: &Mempool, frames: Vec<control::neighbor::Frame>) {
    for f in frames {
        let Some(mut m) = pool.alloc() else { continue };
        if m.extend_from_slice(&f.bytes) {
            let _ = ch.inject.push(Injected { port: f.port, mbuf: m, route: false });
        }
    }
}

fn print_summary(ports: &[Port], w: &workers::Workers, dps: &[engine::datapath::Datapath], maps: &[plan::MapPlan]) {
    let r = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let s = &w.total();
    println!("espgate: stopped");
    for p in ports {
        let st = p.stats().unwrap_or_default();
        println!("  port {} ({}): rx {} tx {} missed {}", p.id(), p.name(), st.rx_packets, st.tx_packets, st.rx_missed);
    }
    println!(
        "  worker: rx {} tx {} tx-dropped {} punted {} punt-dropped {} injected {}",
        r(&s.rx),
        r(&s.tx),
        r(&s.tx_dropped),
        r(&s.punted),
        r(&s.punt_dropped),
        r(&s.injected)
    );
    if w.stats.len() > 1 {
        for (i, t) in w.stats.iter().enumerate() {
            println!(
                "  worker {i}: rx {} tx {} handed-off {} handoff-received {} handoff-dropped {}",
                r(&t.rx),
                r(&t.tx),
                r(&t.handed_off),
                r(&t.handoff_received),
                r(&t.handoff_dropped)
            );
        }
    }
    for (name, n) in s.nonzero_drops() {
        println!("  drop {name}: {n}");
    }
    for m in maps {
        if let Some((inb, _)) = &m.manual {
            if let Some(sa) = dps.iter().find_map(|dp| dp.inbound(inb.spi)) {
                let c = sa.counters().snapshot();
                println!(
                    "  crypto map {} {} inbound spi {}: {} packets {} bytes {} drops",
                    m.name,
                    m.seq,
                    inb.spi,
                    c.packets,
                    c.bytes,
                    c.total_drops()
                );
            }
        }
    }
}

/// What `show` commands read: the config, the ports, the worker's counters and the crypto map entries' SAs.
struct Shown<'a> {
    cfg: &'a Config,
    ports: &'a [Port],
    /// All workers' counters added up.
    stats: &'a WorkerStats,
    per_worker: &'a [Arc<WorkerStats>],
    maps: &'a [show::MapView],
    ike: Option<&'a Ike>,
}
impl Shown<'_> {
    fn answer(&self, req: &ctl::Request, host: &Host) -> serde_json::Value {
        let words: Vec<&str> = req.command.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["show", "crypto", "ipsec", "sa", rest @ ..] => {
                let mut peer = None;
                let mut it = rest.iter();
                while let Some(w) = it.next() {
                    match *w {
                        "detail" => {}
                        "peer" => match it.next().and_then(|a| a.parse().ok()) {
                            Some(a) => peer = Some(a),
                            None => return serde_json::json!({ "error": "peer needs an IP address" }),
                        },
                        other => return serde_json::json!({ "error": format!("unknown word {other:?}") }),
                    }
                }
                let d = |c: DropCause| self.stats.drop_count(c);
                let no_sa_send = d(DropCause::NoOutboundSa);
                let invalid_sa_rcv = d(DropCause::Ipsec(engine::DropReason::NoSa));
                show::ipsec_sa_json(self.maps, peer, no_sa_send, invalid_sa_rcv)
            }
            ["show", "crypto", "isakmp", "sa"] | ["show", "crypto", "isakmp", "sa", "detail"] => match self.ike {
                Some(ike) => ike.isakmp_json(Instant::now()),
                None => serde_json::json!({ "isakmp_sas": [] }),
            },
            ["show", "interfaces"] => self.interfaces(),
            ["show", "counters"] => self.counters(host),
            _ => serde_json::json!({ "error": format!("unknown command {:?}", req.command.join(" ")) }),
        }
    }

    fn interfaces(&self) -> serde_json::Value {
        let list: Vec<_> = self
            .cfg
            .interfaces
            .iter()
            .zip(self.ports)
            .map(|(i, p)| {
                let st = p.stats().unwrap_or_default();
                let link = p.link().ok();
                let mac = i.mac.map(|m| m.0).or_else(|| p.mac().ok()).unwrap_or_default();
                serde_json::json!({
                    "name": i.name, "device": p.name(), "driver": p.driver(), "port": p.id(),
                    "mac": mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
                    "addresses": i.address.iter().map(|a| format!("{}/{}", a.addr(), a.prefix_len())).collect::<Vec<_>>(),
                    "mtu": i.mtu(), "crypto_map": i.crypto_map,
                    "link_up": link.map(|l| l.up), "speed_mbps": link.map(|l| l.speed_mbps),
                    "rx_packets": st.rx_packets, "rx_bytes": st.rx_bytes, "rx_missed": st.rx_missed,
                    "rx_errors": st.rx_errors, "rx_nombuf": st.rx_nombuf,
                    "tx_packets": st.tx_packets, "tx_bytes": st.tx_bytes, "tx_errors": st.tx_errors,
                })
            })
            .collect();
        serde_json::json!({ "interfaces": list })
    }

    fn counters(&self, host: &Host) -> serde_json::Value {
        let r = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let s = self.stats;
        let drops: serde_json::Map<String, serde_json::Value> =
            s.nonzero_drops().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        let per_worker: Vec<_> = self
            .per_worker
            .iter()
            .map(|w| {
                let drops: serde_json::Map<String, serde_json::Value> =
                    w.nonzero_drops().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
                serde_json::json!({
                    "rx": r(&w.rx), "tx": r(&w.tx), "punted": r(&w.punted), "handed_off": r(&w.handed_off),
                    "handoff_received": r(&w.handoff_received), "handoff_dropped": r(&w.handoff_dropped),
                    "drops": drops,
                })
            })
            .collect();
        let h = host.stats;
        serde_json::json!({
            "worker": {
                "rx": r(&s.rx), "tx": r(&s.tx), "tx_dropped": r(&s.tx_dropped), "punted": r(&s.punted),
                "punt_dropped": r(&s.punt_dropped), "injected": r(&s.injected), "events_lost": r(&s.events_lost),
                "handed_off": r(&s.handed_off), "handoff_dropped": r(&s.handoff_dropped),
                "drops": drops,
            },
            "workers": per_worker,
            "host": {
                "arp_nd_replies_sent": h.arp_replies_sent, "arp_nd_requests_sent": h.arp_requests_sent,
                "neighbors_learned": h.neighbors_learned, "neighbors_refused": h.neighbors_refused,
                "echo_replies_sent": h.echo_replies_sent,
                "held": h.held, "hold_dropped": h.hold_dropped, "ignored": h.ignored,
            },
            "ike": self.ike.map(|i| i.counters_json()),
        })
    }
}

/// The ESP half of a pair as `show` reads it: (inbound SPI, its counters), the outbound SA, their backends.
type EspView = ((u32, Arc<engine::sa::SaCounters>), Arc<OutboundSa>, show::EspBackends);

/// The manual SAs of one crypto map entry, built but not installed (at start into the workers' datapaths, on
/// reload through their command queues), and their `show` view.
struct ManualSas {
    esp: Option<(InboundSa, Arc<OutboundSa>)>,
    ah: Option<(engine::ah::InboundAh, Arc<engine::ah::OutboundAh>)>,
    view: Option<show::MapView>,
}

fn manual_sas(
    cfg: &Config,
    crypto: &crypto::CryptoFactory,
    tables: &engine::datapath::Tables,
    m: &plan::MapPlan,
) -> Result<ManualSas> {
    let what = || format!("crypto map {} {}", m.name, m.seq);
    // The entry's choice from `cfg` itself: on reload, the factory still has the running config's.
    let choice = cfg
        .crypto_maps
        .iter()
        .find(|c| c.name == m.name && c.seq == m.seq)
        .map_or(cfg.engine.crypto, |c| c.crypto_backend(&cfg.engine));
    let mut backends = show::EspBackends::default();
    let esp = match &m.manual {
        Some((inb, outb)) => {
            let i = crypto.inbound(choice, inb.clone()).with_context(what)?;
            let o = crypto.outbound(choice, outb.clone()).with_context(what)?;
            backends = show::EspBackends { inbound: i.backend, outbound: o.backend };
            Some((i.sa, Arc::new(o.sa)))
        }
        None => None,
    };
    // AH alone, or the AH of an ESP+AH bundle (the plan links the two inbound SAs).
    let ah = match &m.manual_ah {
        Some((inb, outb)) => Some((
            engine::ah::InboundAh::new(inb.clone()).with_context(what)?,
            Arc::new(engine::ah::OutboundAh::new(outb.clone()).with_context(what)?),
        )),
        None => None,
    };
    let esp_view = esp.as_ref().map(|(i, o)| ((i.params().spi.0, i.shared_counters()), o.clone(), backends));
    let ah_view =
        ah.as_ref().map(|(i, o)| ah_view(cfg, (&m.name, m.seq), (i.params().spi.0, i.shared_counters()), o.clone()));
    let view = (esp_view.is_some() || ah_view.is_some())
        .then(|| map_view(cfg, tables, (&m.name, m.seq, m.peer), esp_view, ah_view));
    Ok(ManualSas { esp, ah, view })
}

/// The AH half of a pair as `show` reads it, from the SAs and their counters.
fn ah_view(
    cfg: &Config,
    entry: (&str, u32),
    inbound: (u32, Arc<engine::sa::SaCounters>),
    outbound: Arc<engine::ah::OutboundAh>,
) -> show::AhView {
    let m = cfg.crypto_maps.iter().find(|c| c.name == entry.0 && c.seq == entry.1);
    let ts = m.and_then(|e| e.transform_sets.first()).and_then(|n| cfg.transform_set(n));
    show::AhView {
        inbound,
        outbound: (outbound.params().spi.0, outbound),
        transform: ts.and_then(|t| t.ah).map_or_else(String::new, |a| format!("{} ", a.name())),
    }
}

/// The `show crypto ipsec sa` facts of one crypto map entry's SA pair (manual or negotiated): ESP, AH, or both.
fn map_view(
    cfg: &Config,
    tables: &engine::datapath::Tables,
    (name, seq, peer): (&str, u32, IpAddr),
    esp: Option<EspView>,
    ah: Option<show::AhView>,
) -> show::MapView {
    let entry = cfg.crypto_maps.iter().find(|c| c.name == name && c.seq == seq);
    let ts = entry.and_then(|e| e.transform_sets.first()).and_then(|n| cfg.transform_set(n));
    let acl = entry.and_then(|e| cfg.access_list(&e.match_address));
    let permit = acl.and_then(|a| a.entries.iter().find(|e| e.action == config::Action::Permit));
    let ident = |s: Option<&config::Selector>, port: Option<config::PortRange>| {
        let (addr, len) = match s {
            Some(config::Selector::Prefix(p)) => (p.addr(), p.prefix_len()),
            _ => (IpAddr::from([0, 0, 0, 0]), 0),
        };
        let protocol = permit.map_or(0, |e| e.protocol.number());
        show::Ident { addr, len, protocol, port: port.map_or(0, |r| r.low) }
    };
    let interface = cfg.interfaces.iter().find(|i| i.crypto_map.as_deref() == Some(name));
    let path_mtu = tables.routes.lookup(&peer).and_then(|(r, _)| tables.interface(r.port)).map_or(1500, |i| i.mtu);
    // The outermost SA decides the mode, the addresses and the port; the MTU left for the inner packet counts both.
    let outer = match (&esp, &ah) {
        (Some((_, sa, _)), _) => Some(sa.params()),
        (None, Some(a)) => Some(a.outbound.1.params()),
        (None, None) => None,
    };
    let mode = outer.map_or(engine::sa::Mode::Transport, |p| p.mode);
    let peer_port = outer.and_then(|p| p.nat_t).map_or(500, |n| n.remote_port);
    let encapsulated = |l: usize| {
        let l = esp.as_ref().map_or(l, |(_, sa, _)| sa.encapsulated_len(l, 20));
        ah.as_ref().map_or(l, |a| a.outbound.1.encapsulated_len(l, !peer.is_ipv4()))
    };
    let plaintext_mtu = (0..=usize::from(path_mtu)).rev().find(|&l| encapsulated(l) <= usize::from(path_mtu));
    show::MapView {
        map: name.to_string(),
        seq,
        interface: interface.map_or_else(String::new, |i| i.name.clone()),
        local_addr: match mode {
            engine::sa::Mode::Tunnel { local, .. } => local,
            engine::sa::Mode::Transport => {
                interface.and_then(|i| i.address_of_family(peer.is_ipv4())).map_or(peer, |a| a.addr())
            }
        },
        peer,
        local_ident: ident(permit.map(|e| &e.source), permit.and_then(|e| e.source_port)),
        remote_ident: ident(permit.map(|e| &e.destination), permit.and_then(|e| e.destination_port)),
        transform: ts.map_or_else(String::new, |t| match t.esp_encryption {
            Some(e) => show::ios_transform(e.name(), t.esp_integrity.map(|i| i.name())),
            None => String::new(),
        }),
        mode: if matches!(mode, engine::sa::Mode::Tunnel { .. }) { "tunnel" } else { "transport" },
        iv_size: esp.as_ref().map_or(0, |(_, sa, _)| sa.params().encryption.iv_len()),
        path_mtu,
        plaintext_mtu: plaintext_mtu.unwrap_or(0),
        replay_window: cfg.engine.replay_window,
        inbound: esp.as_ref().map(|(i, _, _)| i.clone()),
        outbound: esp.as_ref().map(|(_, sa, _)| (sa.params().spi.0, sa.clone())),
        esp_backends: esp.as_ref().map(|(_, _, b)| b.clone()).unwrap_or_default(),
        remaining: None,
        ah,
        pfs: entry.and_then(|e| e.pfs).map(|g| g.number()),
        peer_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_and_vdevs() {
        assert!(is_pci("0000:03:00.0"));
        assert!(is_pci("03:00.1"));
        assert!(is_pci("0000:03:00.0,rxq_cqe_comp_en=0"));
        assert!(!is_pci("net_af_packet0,iface=veth0"));
        assert!(!is_pci("net_pcap0,rx_pcap=/tmp/a.pcap"));
        assert!(!is_pci("net_null0"));
    }

    #[test]
    fn eal_arguments_follow_the_config() {
        let cfg = config::parse(
            r#"
[engine]
workers = [2]
control_core = 1
eal = ["--no-huge", "-m", "512"]

[[interface]]
name = "outside"
device = "0000:03:00.0"
address = "198.51.100.1/24"

[[interface]]
name = "inside"
device = "net_af_packet0,iface=lan0"
address = "192.0.2.1/24"
"#,
        )
        .unwrap();
        let a = eal_args_for(&cfg, 64);
        let pos = |s: &str| a.iter().position(|x| x == s);
        assert_eq!(a[pos("-l").unwrap() + 1], "1,2");
        assert_eq!(a[pos("--main-lcore").unwrap() + 1], "1");
        assert!(a.contains(&"--allow=0000:03:00.0".to_string()));
        assert!(a.contains(&"--vdev=net_af_packet0,iface=lan0".to_string()));
        assert!(!a.contains(&"--no-pci".to_string()), "a PCI device is configured");
        // More lcores than CPUs: the extra ones share the last CPU that is not the control core.
        let mut two = cfg.clone();
        two.engine.workers = vec![2, 3];
        let a2 = eal_args_for(&two, 2);
        assert!(a2.contains(&"--lcores=1@1,2@0,3@0".to_string()), "{a2:?}");
        two.engine.control_core = 0;
        two.engine.workers = vec![1, 2];
        assert!(eal_args_for(&two, 2).contains(&"--lcores=0@0,1@1,2@1".to_string()));
        assert!(eal_args_for(&two, 4).contains(&"-l".to_string()));
        // The operator gave the memory options: none are added.
        assert_eq!(a.iter().filter(|x| *x == "--no-huge").count(), 1);
        assert_eq!(a.last().map(String::as_str), Some("512"));
    }
}
