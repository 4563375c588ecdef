//! espgate: the IPsec gateway daemon and its command-line interface.
mod capture;
mod ctl;
mod ike;
mod metrics;
mod run;
mod show;
mod wireshark;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "espgate", version, about = "IPsec VPN gateway on DPDK")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway from a config file until SIGINT/SIGTERM.
    Run(run::RunOpts),
    /// Ask the running daemon: `show crypto isakmp sa [detail]`, `show crypto ipsec sa [detail] [peer ADDR]`,
    /// `show interfaces`, `show counters`, `show crypto keys [--wireshark DIR]` (the SAs' keys: handle the output
    /// with care).
    Show {
        /// The command words after `show`, e.g. `crypto ipsec sa detail`.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        /// Print the daemon's JSON instead of the IOS-style text.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket ([control] socket in the config).
        #[arg(long, default_value = control::config::DEFAULT_CONTROL_SOCKET)]
        socket: std::path::PathBuf,
        /// With `crypto keys`: write Wireshark's `esp_sa` and `ikev1_decryption_table` into this directory (e.g. a
        /// Wireshark profile directory), so captures open decrypted. The files contain the SAs' secret keys; they
        /// are written mode 0600.
        #[arg(long, value_name = "DIR")]
        wireshark: Option<std::path::PathBuf>,
    },
    /// Record the frames of one interface (both directions, everything the port sees) into a pcapng file, until
    /// --count frames or --seconds passed. The daemon writes the file (mode 0600).
    Capture(capture::CaptureOpts),
    /// Ask the running daemon to remove SAs: `clear crypto sa [peer ADDR]` (IPsec SAs, with Deletes to the peers;
    /// traffic or `initiate = "on-start"` brings them back), `clear crypto isakmp [CONN-ID]` (ISAKMP SAs).
    Clear {
        /// The command words after `clear`, e.g. `crypto sa peer 198.51.100.2`.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = control::config::DEFAULT_CONTROL_SOCKET)]
        socket: std::path::PathBuf,
    },
    /// Validate a config file without starting (exit status 0 when it is valid).
    CheckConfig {
        /// The config file.
        file: std::path::PathBuf,
    },
    /// Print the version and build facts (DPDK version, git revision).
    Version {
        #[arg(long)]
        json: bool,
    },
    /// List the DPDK ports EAL finds for the given devices: name, driver, MAC, link, queues.
    Ports {
        /// A DPDK virtual device, e.g. `net_af_packet0,iface=veth0` (repeatable).
        #[arg(long = "vdev", value_name = "DEVARGS")]
        vdevs: Vec<String>,
        /// PCI devices to probe, e.g. 0000:03:00.0 (repeatable); without any and without --vdev, every bound device.
        #[arg(long = "pci", value_name = "ADDR")]
        pci: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(o) => run::run(&o)?,
        Command::CheckConfig { file } => run::check_config(&file)?,
        Command::Show { words, json, socket, wireshark } if words.join(" ") == "crypto keys" => {
            wireshark::show(&socket, wireshark.as_deref(), json)?
        }
        Command::Capture(o) => {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
            capture::run(&o, &stop)?
        }
        Command::Show { words, json, socket, .. } => {
            let mut command = vec!["show".to_string()];
            command.extend(words.iter().cloned());
            let v = ctl::request(&socket, &command)?;
            if json {
                println!("{v}");
            } else {
                let w: Vec<&str> = words.iter().map(String::as_str).collect();
                let text = match w.as_slice() {
                    ["crypto", "ipsec", "sa", rest @ ..] => show::render_ipsec_sa(&v, rest.contains(&"detail")),
                    ["crypto", "isakmp", "sa", rest @ ..] => show::render_isakmp_sa(&v, rest.contains(&"detail")),
                    ["interfaces"] => show::render_interfaces(&v),
                    ["counters"] => show::render_counters(&v),
                    _ => v.to_string(),
                };
                print!("{text}");
            }
        }
        Command::Clear { words, json, socket } => {
            let mut command = vec!["clear".to_string()];
            command.extend(words.iter().cloned());
            let v = ctl::request(&socket, &command)?;
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                anyhow::bail!("{e}");
            }
            if json {
                println!("{v}");
            } else if let Some(n) = v.get("cleared_ipsec_sas") {
                println!("{n} IPsec SA pair(s) cleared");
            } else if let Some(n) = v.get("cleared_isakmp_sas") {
                println!("{n} ISAKMP SA(s) cleared");
            }
        }
        Command::Version { json } => {
            let facts = [
                ("espgate", env!("CARGO_PKG_VERSION")),
                ("git", env!("ESPGATE_GIT_REVISION")),
                ("dpdk", env!("ESPGATE_DPDK_VERSION")),
                ("profile", env!("ESPGATE_PROFILE")),
                ("target", env!("ESPGATE_TARGET")),
            ];
            if json {
                let obj: serde_json::Map<String, serde_json::Value> =
                    facts.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
                println!("{}", serde_json::Value::Object(obj));
            } else {
                println!(
                    "espgate {} (git {}), DPDK {}, {} build for {}",
                    facts[0].1, facts[1].1, facts[2].1, facts[3].1, facts[4].1
                );
            }
        }
        Command::Ports { vdevs, pci, json } => ports(&vdevs, &pci, json)?,
    }
    Ok(())
}

fn ports(vdevs: &[String], pci: &[String], json: bool) -> Result<()> {
    use engine::dpdk::{Eal, Mempool, Port, PortConfig};
    let mut args: Vec<String> = vec![
        "--no-huge".into(),
        "-m".into(),
        "256".into(),
        "--no-telemetry".into(),
        "--log-level=*:warning".into(),
        format!("--file-prefix=espgate-ports-{}", std::process::id()),
    ];
    if pci.is_empty() && !vdevs.is_empty() {
        args.push("--no-pci".into());
    }
    args.extend(pci.iter().map(|a| format!("--allow={a}")));
    args.extend(vdevs.iter().map(|v| format!("--vdev={v}")));
    let eal = Eal::init(&args).context("EAL init")?;
    let pool = Mempool::new(&eal, "ports_pool", 1023, 0, 2176, None)?;
    let mut rows = Vec::new();
    for id in eal.port_ids() {
        let port = Port::configure(&eal, id, &PortConfig::default(), &pool)?;
        port.start()?;
        let mac = port.mac()?;
        let link = port.link()?;
        rows.push(serde_json::json!({
            "port": id,
            "name": port.name(),
            "driver": port.driver(),
            "mac": mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
            "link_up": link.up,
            "speed_mbps": link.speed_mbps,
        }));
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("Port  Name                     Driver           MAC                Link");
        for r in &rows {
            println!(
                "{:<5} {:<24} {:<16} {:<18} {} {} Mb/s",
                r["port"],
                r["name"].as_str().unwrap_or(""),
                r["driver"].as_str().unwrap_or(""),
                r["mac"].as_str().unwrap_or(""),
                if r["link_up"].as_bool() == Some(true) { "up" } else { "down" },
                r["speed_mbps"]
            );
        }
    }
    Ok(())
}
