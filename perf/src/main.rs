//! espgate-perf: throughput and latency jobs on espgate's own DPDK layer, reported like testpmd.
mod eal_args;
mod esp;
mod esp_loop;
mod esp_plan;
mod fwd;
mod gen;
mod mem;
mod report;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "espgate-perf", version, about = "espgate's testpmd-style throughput harness")]
struct Cli {
    #[command(subcommand)]
    job: Job,
}

#[derive(Debug, Subcommand)]
enum Job {
    /// Forward bursts between paired ports (testpmd's io mode): the I/O ceiling of espgate's DPDK layer.
    Fwd(fwd::FwdOpts),
    /// Run the engine's worker loop (datapath, SPD, SAs) on ring ports fed by a generator: ESP encrypt or decrypt.
    Esp(esp::EspOpts),
    /// Random cache-line loads over a buffer the size of the SA state: the memory floor under many SAs.
    Mem(mem::MemOpts),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.job {
        Job::Fwd(o) => {
            let r = fwd::run(&o)?;
            if o.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "\n  Forward statistics: {:.3} Mpps, {:.3} Gbps over {:.1} s on lcores {:?}\n  rx {} tx {} dropped {}, {:.1} cycles/packet, {:.3} Mpps per lcore CPU-second",
                    r.mpps, r.gbps, r.seconds, r.lcores, r.rx_packets, r.tx_packets, r.dropped, r.cycles_per_packet, r.mpps_per_cpu_second
                );
            }
        }
        Job::Esp(o) if o.direction == esp::Direction::Both => {
            let r = esp_loop::run(&o)?;
            if o.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                esp_loop::print_final(&r);
            }
        }
        Job::Mem(o) => {
            let r = mem::run(&o)?;
            if o.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                mem::print_final(&r);
            }
        }
        Job::Esp(o) => {
            let r = esp::run(&o)?;
            if o.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                esp::print_final(&r);
            }
        }
    }
    Ok(())
}
