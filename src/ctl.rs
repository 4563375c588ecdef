//! The control socket: a Unix socket, mode 0600 (root only), one JSON request line per connection and one JSON
//! response. The daemon answers from its control thread without blocking the loop for long (short timeouts).
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A request: what the CLI asks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// The words of the command, e.g. ["show", "crypto", "ipsec", "sa"].
    pub command: Vec<String>,
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    /// Binds the socket, replacing a stale one, readable and writable by the owner (root) only.
    pub fn bind(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                bail!("{} is in use: is another espgate running?", path.display());
            }
            std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
        }
        let listener = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener, path: path.to_owned() })
    }

    /// Answers the connections waiting now; `answer` builds each response.
    pub fn poll(&self, mut answer: impl FnMut(&Request) -> Value) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = serve(stream, &mut answer);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, answer: &mut impl FnMut(&Request) -> Value) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // A client that connects and says nothing must not stall the control thread.
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(Duration::from_millis(500)))?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).take(64 * 1024).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(req) => answer(&req),
        Err(e) => json!({ "error": format!("bad request: {e}") }),
    };
    let mut w = stream;
    w.write_all(response.to_string().as_bytes())?;
    w.write_all(b"\n")
}

/// The CLI side: sends one request and returns the response.
pub fn request(socket: &Path, command: &[String]) -> Result<Value> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("connect to {} (is espgate running, and are you root?)", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = serde_json::to_string(&Request { command: command.to_vec() })?;
    s.write_all(req.as_bytes())?;
    s.write_all(b"\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    let v: Value = serde_json::from_str(&line).context("bad response from espgate")?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        bail!("{e}");
    }
    Ok(v)
}

use std::io::Read;
