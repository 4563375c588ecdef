//! A minimal HTTP/1.x server for `GET /metrics`: one request per connection, then close. Bounded in every way a
//! scraper or a stray client could push it: request size, time per connection, concurrent connections.
use super::CONTENT_TYPE;
use anyhow::{Context, Result};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head read; a scrape request is a few hundred bytes.
const MAX_REQUEST: usize = 8192;
/// Time a client has to send its request head, in total (not per read, so a trickling client cannot hold on).
const REQUEST_DEADLINE: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections served at once; more are closed unanswered.
const MAX_CONNECTIONS: usize = 8;
/// How often the idle accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Serves the latest published text at `GET /metrics` from a background thread until dropped.
pub struct Exporter {
    text: Arc<Mutex<Arc<str>>>,
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Binds `listen` (any address; the endpoint is unauthenticated, so prefer loopback or a management network)
    /// and starts serving. Until the first [`publish`](Self::publish) the body is empty.
    pub fn start(listen: SocketAddr) -> Result<Exporter> {
        let listener = TcpListener::bind(listen).with_context(|| format!("metrics: bind {listen}"))?;
        let local = listener.local_addr()?;
        // Non-blocking accept so the thread notices the stop flag without a wake-up connection.
        listener.set_nonblocking(true)?;
        let text: Arc<Mutex<Arc<str>>> = Arc::new(Mutex::new(Arc::from("")));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (text, stop) = (text.clone(), stop.clone());
            std::thread::Builder::new()
                .name("espgate-metrics".into())
                .spawn(move || accept_loop(&listener, &text, &stop))
                .context("metrics: spawn the server thread")?
        };
        Ok(Exporter { text, local, stop, thread: Some(thread) })
    }

    /// Replaces the text served from now on.
    pub fn publish(&self, text: String) {
        *self.text.lock().unwrap_or_else(PoisonError::into_inner) = Arc::from(text);
    }

    /// The bound address (useful with port 0, and for the start-up log line).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, text: &Arc<Mutex<Arc<str>>>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::AcqRel);
                    continue; // dropped: closed unanswered
                }
                let (text, mine) = (text.clone(), active.clone());
                let spawned = std::thread::Builder::new().name("espgate-metrics-conn".into()).spawn(move || {
                    serve(stream, &text);
                    mine.fetch_sub(1, Ordering::AcqRel);
                });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
            // Nothing pending, or a transient failure (EMFILE, ECONNABORTED): wait, then look again.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Reads one request head and answers it; any I/O failure just closes the connection.
fn serve(mut stream: TcpStream, text: &Mutex<Arc<str>>) {
    if stream.set_nonblocking(false).is_err() || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    let Some(head) = read_head(&mut stream) else { return };
    let body = text.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let _ = stream.write_all(&respond(&head, &body));
    let _ = stream.flush();
}

/// The request head (up to the blank line), or `None` if the client went away, was too slow, or the head does not
/// fit in [`MAX_REQUEST`] bytes (then a 431 is sent first).
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Some(buf);
        }
        if buf.len() >= MAX_REQUEST {
            let _ = stream.write_all(&status_only(431, "Request Header Fields Too Large"));
            return None;
        }
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n.min(MAX_REQUEST - buf.len())]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Where the head ends: after CRLF CRLF, or LF LF from lenient clients.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The whole response to a request head.
pub(super) fn respond(head: &[u8], body: &str) -> Vec<u8> {
    let Some((method, path)) = request_line(head) else {
        return status_only(400, "Bad Request");
    };
    if method != "GET" && method != "HEAD" {
        return status_only(405, "Method Not Allowed");
    }
    if path != "/metrics" {
        return status_only(404, "Not Found");
    }
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method == "GET" {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

/// (method, path without query) of a well-formed HTTP/1.x request line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase());
    if parts.next().is_some() || !token(method) || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return None;
    }
    Some((method, target.split('?').next().unwrap_or(target)))
}

fn status_only(code: u16, reason: &str) -> Vec<u8> {
    let body = format!("{code} {reason}\n");
    let allow = if code == 405 { "Allow: GET, HEAD\r\n" } else { "" };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
