//! `espgate capture`: frames of one interface, both directions, into a pcapng file.
//!
//! The worker copies the frames of the armed port onto the tap's queue (engine::capture); the daemon's control
//! thread drains the queue into the file ([`Session::drain`]); the CLI starts the capture over the control socket,
//! polls `capture status` until it has its count or its time, and stops it. The daemon (root) writes the file.
use anyhow::{bail, Context, Result};
use engine::capture::{CapturedFrame, Direction, Tap, SNAPLEN};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const LINKTYPE_ETHERNET: u16 = 1;
const OPT_END: u16 = 0;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
/// if_tsresol 9: timestamps count nanoseconds.
const TSRESOL_NS: u8 = 9;

/// Appends one option (code, length, value padded to 32 bits).
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Wraps a block body: type, total length, body (padded), total length again.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().next_multiple_of(4);
    let total = (12 + padded) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

/// The Section Header and the Interface Description (Ethernet, the interface's name, nanosecond timestamps).
pub fn header(interface: &str) -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    // Section length unknown: -1.
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut idb = Vec::new();
    idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&(SNAPLEN as u32).to_le_bytes());
    option(&mut idb, IF_NAME, interface.as_bytes());
    option(&mut idb, IF_TSRESOL, &[TSRESOL_NS]);
    option(&mut idb, OPT_END, &[]);
    let mut out = block(SHB, &shb);
    out.extend_from_slice(&block(IDB, &idb));
    out
}

/// One Enhanced Packet Block on interface 0, with the direction in epb_flags (bits 0-1: 1 inbound, 2 outbound).
pub fn packet(f: &CapturedFrame) -> Vec<u8> {
    let mut b = Vec::with_capacity(f.data.len() + 48);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&((f.timestamp_ns >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(f.timestamp_ns as u32).to_le_bytes());
    b.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
    b.extend_from_slice(&f.original_len.to_le_bytes());
    b.extend_from_slice(&f.data);
    b.resize(b.len().next_multiple_of(4), 0);
    let flags: u32 = match f.direction {
        Direction::Received => 1,
        Direction::Sent => 2,
    };
    option(&mut b, EPB_FLAGS, &flags.to_le_bytes());
    option(&mut b, OPT_END, &[]);
    block(EPB, &b)
}

/// A capture in progress in the daemon: the file and what went into it.
pub struct Session {
    out: BufWriter<File>,
    path: PathBuf,
    interface: String,
    count: u64,
    written: u64,
    started: Instant,
    /// The first write error: the capture stops taking frames and reports it.
    error: Option<String>,
}

impl Session {
    /// Creates `path` (mode 0600, replacing a file there), writes the header, and arms the tap on `port`.
    pub fn start(tap: &Tap, port: u16, interface: &str, count: u64, path: &Path) -> Result<Self> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => {}
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        // Flushed at once and after every drain, so the file is readable (tshark, tail -f) while it grows.
        out.write_all(&header(interface))
            .and_then(|()| out.flush())
            .with_context(|| format!("write {}", path.display()))?;
        tap.arm(port, count);
        Ok(Self {
            out,
            path: path.to_owned(),
            interface: interface.to_string(),
            count,
            written: 0,
            started: Instant::now(),
            error: None,
        })
    }

    /// Writes the frames waiting on the tap (the daemon's loop calls this every pass).
    pub fn drain(&mut self, tap: &Tap) {
        let before = self.written;
        while let Some(f) = tap.pop() {
            if self.error.is_some() {
                continue;
            }
            match self.out.write_all(&packet(&f)) {
                Ok(()) => self.written += 1,
                Err(e) => self.fail(tap, &e),
            }
        }
        if self.written != before {
            if let Err(e) = self.out.flush() {
                self.fail(tap, &e);
            }
        }
    }

    /// The first write error stops the capture; later frames are dropped.
    fn fail(&mut self, tap: &Tap, e: &std::io::Error) {
        tap.disarm();
        self.error.get_or_insert_with(|| format!("write {}: {e}", self.path.display()));
    }

    fn status(&self, tap: &Tap) -> Value {
        json!({
            "interface": self.interface, "path": self.path.display().to_string(), "count": self.count,
            "written": self.written, "missed": tap.missed(), "armed": tap.port().is_some(),
            "seconds": self.started.elapsed().as_secs_f64(), "error": self.error,
        })
    }

    /// Disarms, writes what is left and closes the file.
    fn stop(mut self, tap: &Tap) -> Value {
        tap.disarm();
        self.drain(tap);
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(format!("write {}: {e}", self.path.display()));
        }
        self.status(tap)
    }
}

/// The daemon's answer to `capture start IFACE COUNT PATH`, `capture status`, `capture stop`. `port_of` maps a
/// config interface name to its DPDK port.
pub fn answer(
    session: &mut Option<Session>,
    tap: &Tap,
    port_of: impl Fn(&str) -> Option<u16>,
    words: &[&str],
) -> Value {
    match words {
        ["start", iface, count, path] => {
            if session.is_some() {
                return json!({ "error": "a capture is running: `capture stop` first" });
            }
            let Some(port) = port_of(iface) else {
                return json!({ "error": format!("no interface {iface:?} in the config") });
            };
            let Ok(count) = count.parse::<u64>() else {
                return json!({ "error": format!("{count:?} is not a frame count") });
            };
            let path = Path::new(path);
            if !path.is_absolute() {
                return json!({ "error": "the capture file needs an absolute path (the daemon writes it)" });
            }
            match Session::start(tap, port, iface, count, path) {
                Ok(s) => {
                    let v = s.status(tap);
                    *session = Some(s);
                    v
                }
                Err(e) => json!({ "error": format!("{e:#}") }),
            }
        }
        ["status"] => match session {
            Some(s) => s.status(tap),
            None => json!({ "error": "no capture is running" }),
        },
        ["stop"] => match session.take() {
            Some(s) => s.stop(tap),
            None => json!({ "error": "no capture is running" }),
        },
        _ => json!({ "error": format!("unknown command \"capture {}\"", words.join(" ")) }),
    }
}

/// The options of `espgate capture`.
#[derive(Debug, clap::Args)]
pub struct CaptureOpts {
    /// The config interface to capture on (its `name`, e.g. `outside`).
    #[arg(long)]
    pub interface: String,
    /// Stop after this many frames.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Stop after this many seconds, whatever the count.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// The pcapng file to write (by the daemon, as root, mode 0600).
    #[arg(long)]
    pub output: PathBuf,
    /// The daemon's control socket ([control] socket in the config).
    #[arg(long, default_value = control::config::DEFAULT_CONTROL_SOCKET)]
    pub socket: PathBuf,
}

/// The CLI side: start, wait for the count or the time (or Ctrl-C), stop, print a summary.
pub fn run(o: &CaptureOpts, stop: &std::sync::atomic::AtomicBool) -> Result<()> {
    let path = std::path::absolute(&o.output).with_context(|| format!("{}", o.output.display()))?;
    let path = path.to_str().context("the output path is not UTF-8")?.to_string();
    if path.chars().any(char::is_whitespace) {
        bail!("the output path must not contain whitespace");
    }
    let req = |w: &[&str]| {
        let mut c = vec!["capture".to_string()];
        c.extend(w.iter().map(|s| s.to_string()));
        crate::ctl::request(&o.socket, &c)
    };
    req(&["start", &o.interface, &o.count.to_string(), &path])?;
    let start = Instant::now();
    let limit = o.seconds.map(Duration::from_secs_f64);
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) || limit.is_some_and(|l| start.elapsed() >= l) {
            break;
        }
        let v = req(&["status"])?;
        if v["written"].as_u64().unwrap_or(0) >= o.count || v["error"].is_string() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = req(&["stop"])?;
    println!(
        "{} frames written to {} ({} missed: capture queue full), {:.1} s on {}",
        v["written"],
        path,
        v["missed"],
        start.elapsed().as_secs_f64(),
        o.interface
    );
    if let Some(e) = v["error"].as_str() {
        bail!("{e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16le(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32le(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Splits a pcapng stream into (type, body) blocks, checking both length fields.
    fn blocks(mut b: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let (kind, total) = (u32le(b, 0), u32le(b, 4) as usize);
            assert_eq!(total % 4, 0);
            assert_eq!(u32le(b, total - 4) as usize, total, "trailing length");
            out.push((kind, b[8..total - 4].to_vec()));
            b = &b[total..];
        }
        out
    }

    /// (code, value) of the options starting at `at`, up to opt_endofopt.
    fn options(b: &[u8], mut at: usize) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let (code, len) = (u16le(b, at), u16le(b, at + 2) as usize);
            if code == OPT_END {
                assert_eq!(at + 4, b.len(), "end of options ends the block");
                return out;
            }
            out.push((code, b[at + 4..at + 4 + len].to_vec()));
            at += 4 + len.next_multiple_of(4);
        }
    }

    #[test]
    fn header_blocks_parse_back() {
        let h = header("outside");
        let bl = blocks(&h);
        assert_eq!(bl.len(), 2);
        let (kind, shb) = &bl[0];
        assert_eq!(*kind, SHB);
        assert_eq!(u32le(shb, 0), BYTE_ORDER_MAGIC);
        assert_eq!((u16le(shb, 4), u16le(shb, 6)), (1, 0));
        assert_eq!(i64::from_le_bytes(shb[8..16].try_into().unwrap()), -1);
        let (kind, idb) = &bl[1];
        assert_eq!(*kind, IDB);
        assert_eq!(u16le(idb, 0), LINKTYPE_ETHERNET);
        assert_eq!(u32le(idb, 4) as usize, SNAPLEN);
        let opts = options(idb, 8);
        assert_eq!(opts, vec![(IF_NAME, b"outside".to_vec()), (IF_TSRESOL, vec![9])]);
    }

    #[test]
    fn packets_parse_back_with_time_and_direction() {
        let ts = 1_764_201_600_123_456_789u64;
        for (dir, flag, len) in [(Direction::Received, 1u32, 60usize), (Direction::Sent, 2, 61)] {
            let data: Vec<u8> = (0..len as u8).collect();
            let f =
                CapturedFrame { timestamp_ns: ts, direction: dir, original_len: len as u32 + 5, data: data.clone() };
            let bl = blocks(&packet(&f));
            assert_eq!(bl.len(), 1);
            let (kind, epb) = &bl[0];
            assert_eq!(*kind, EPB);
            assert_eq!(u32le(epb, 0), 0, "interface 0");
            assert_eq!((u64::from(u32le(epb, 4)) << 32) | u64::from(u32le(epb, 8)), ts);
            assert_eq!((u32le(epb, 12) as usize, u32le(epb, 16) as usize), (len, len + 5));
            assert_eq!(&epb[20..20 + len], &data[..]);
            let opts = options(epb, 20 + len.next_multiple_of(4));
            assert_eq!(opts, vec![(EPB_FLAGS, flag.to_le_bytes().to_vec())]);
        }
    }

    #[test]
    fn session_writes_a_file_tshark_can_read() {
        let tap = Tap::new(16);
        let path = std::env::temp_dir().join(format!("espgate-capture-test-{}.pcapng", std::process::id()));
        let mut session = None;
        let port_of = |n: &str| (n == "outside").then_some(1u16);
        let p = path.to_str().unwrap();
        assert!(answer(&mut session, &tap, port_of, &["start", "inside", "2", p])["error"].is_string());
        assert!(answer(&mut session, &tap, port_of, &["start", "outside", "x", p])["error"].is_string());
        assert!(answer(&mut session, &tap, port_of, &["start", "outside", "2", "rel.pcapng"])["error"].is_string());
        let v = answer(&mut session, &tap, port_of, &["start", "outside", "2", p]);
        assert_eq!(v["armed"], true, "{v}");
        assert!(answer(&mut session, &tap, port_of, &["start", "outside", "2", p])["error"].is_string());
        assert!(tap.armed_on(1));
        // An Ethernet frame: broadcast ARP request, as the worker would see it.
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 1, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 1, 1, 198, 51, 100, 1, 0, 0, 0, 0, 0, 0]);
        arp.extend_from_slice(&[198, 51, 100, 2]);
        tap.record(Direction::Sent, &arp, engine::capture::now_ns());
        tap.record(Direction::Received, &arp, engine::capture::now_ns());
        session.as_mut().unwrap().drain(&tap);
        let v = answer(&mut session, &tap, port_of, &["status"]);
        assert_eq!((v["written"].as_u64(), v["armed"].as_bool()), (Some(2), Some(false)), "{v}");
        let v = answer(&mut session, &tap, port_of, &["stop"]);
        assert_eq!(v["written"], 2);
        assert!(session.is_none());
        assert!(answer(&mut session, &tap, port_of, &["stop"])["error"].is_string());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let bytes = std::fs::read(&path).unwrap();
        let bl = blocks(&bytes);
        assert_eq!(bl.iter().map(|b| b.0).collect::<Vec<_>>(), vec![SHB, IDB, EPB, EPB]);
        // tshark, where installed, reads it as two ARP frames with their directions.
        if let Ok(out) = std::process::Command::new("tshark")
            .args(["-r", p, "-T", "fields", "-e", "frame.interface_name", "-e", "arp.dst.proto_ipv4"])
            .args(["-e", "frame.packet_flags_direction"])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text, "outside\t198.51.100.2\t0x00000002\noutside\t198.51.100.2\t0x00000001\n", "{out:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
