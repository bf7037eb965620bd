//! Test helpers: a fixture HTTP server on 127.0.0.1 that serves feed files with
//! the validators a real server sends, counts requests and can misbehave on
//! command; and a runner for the real `newsdesk` binary.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one path answers.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    /// Sent as ETag and honoured in If-None-Match.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Send the body gzip-compressed when the client accepts it.
    pub gzip: bool,
}

impl Fixture {
    pub fn feed(body: impl Into<Vec<u8>>) -> Fixture {
        let body = body.into();
        let etag = format!("\"{:x}\"", xxhash_rust::xxh3::xxh3_64(&body));
        Fixture {
            status: 200,
            body,
            content_type: "application/rss+xml; charset=utf-8".into(),
            etag: Some(etag),
            last_modified: Some(LAST_MODIFIED.into()),
            headers: Vec::new(),
            gzip: false,
        }
    }

    pub fn status(status: u16) -> Fixture {
        Fixture {
            status,
            body: Vec::new(),
            content_type: "text/plain".into(),
            etag: None,
            last_modified: None,
            headers: Vec::new(),
            gzip: false,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Fixture {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    fixtures: HashMap<String, Fixture>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FixtureServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FixtureServer {
    /// Start on 127.0.0.1, port 0, on its own thread and runtime.
    pub fn start() -> FixtureServer {
        let state: Arc<Mutex<State>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send addr");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let st = st.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let st = st.clone();
                            async move { Ok::<_, Infallible>(answer(&st, req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        let addr = rx.recv().expect("fixture server address");
        FixtureServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, f: Fixture) {
        self.state.lock().unwrap().fixtures.insert(path.into(), f);
    }

    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.state.lock().unwrap().seen.iter().filter(|s| s.path == path).cloned().collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests(path).len()
    }
}

fn answer(st: &Arc<Mutex<State>>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let headers: HashMap<String, String> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let mut st = st.lock().unwrap();
    let fixture = st.fixtures.get(&path).cloned();
    let (resp, status) = match fixture {
        None => (Response::builder().status(404).body(Full::new(Bytes::from_static(b"not found"))).unwrap(), 404),
        Some(f) => {
            let not_modified = f.status == 200
                && (f.etag.as_ref().is_some_and(|e| headers.get("if-none-match") == Some(e))
                    || (!headers.contains_key("if-none-match")
                        && f.last_modified.is_some()
                        && headers.get("if-modified-since") == f.last_modified.as_ref()));
            let status = if not_modified { 304 } else { f.status };
            let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap());
            for (k, v) in &f.headers {
                b = b.header(k, v);
            }
            if let Some(e) = &f.etag {
                b = b.header("etag", e);
            }
            if let Some(l) = &f.last_modified {
                b = b.header("last-modified", l);
            }
            let accepts_gzip = headers.get("accept-encoding").is_some_and(|a| a.contains("gzip"));
            let body = if not_modified {
                Vec::new()
            } else if f.gzip && accepts_gzip {
                b = b.header("content-encoding", "gzip");
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&f.body).unwrap();
                gz.finish().unwrap()
            } else {
                f.body.clone()
            };
            b = b.header("content-type", &f.content_type);
            (b.body(Full::new(Bytes::from(body))).unwrap(), status)
        }
    };
    st.seen.push(Seen { path, headers, status });
    resp
}

/// An RSS 2.0 document with `(guid, title, link, pubDate)` items.
pub fn rss(title: &str, items: &[(&str, &str, &str, &str)]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>https://example.org/</link><description>d</description>\n");
    for (guid, t, link, date) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{t}</title><link>{link}</link><pubDate>{date}</pubDate><description>About {t}.</description></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// The clock fixture items are dated against: the start of the hour the test
/// process started in, taken once so that a feed built twice has the same bytes.
/// Fixtures are dated relative to it, never on a calendar day, so the suite
/// passes on any date (and under a clock moved a year ahead).
pub fn fixture_clock() -> i64 {
    static CLOCK: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *CLOCK.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        now - now % 3600
    })
}

/// Unix seconds `hours` before the fixture clock.
pub fn hours_ago_secs(hours: i64) -> i64 {
    fixture_clock() - hours * 3600
}

/// An RFC 2822 date `hours` before the fixture clock, as feeds write it.
pub fn hours_ago(hours: i64) -> &'static str {
    static DATES: Mutex<Vec<(i64, &'static str)>> = Mutex::new(Vec::new());
    let mut dates = DATES.lock().unwrap();
    if let Some((_, d)) = dates.iter().find(|(h, _)| *h == hours) {
        return d;
    }
    let text: &'static str = Box::leak(rfc2822(hours_ago_secs(hours)).into_boxed_str());
    dates.push((hours, text));
    text
}

/// Unix seconds as an RFC 2822 date, as feeds write it.
pub fn rfc2822(secs: i64) -> String {
    let date = chrono::DateTime::from_timestamp(secs, 0).unwrap();
    date.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The Last-Modified a fixture sends: an HTTP validator, not an item date.
pub const LAST_MODIFIED: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_newsdesk"))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Write a config into `dir` and return its path.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("newsdesk.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// The real daemon, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub stderr: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, port: u16) -> Daemon {
        Daemon::start_with_env(config, port, &[])
    }

    /// Start with extra environment variables.
    pub fn start_with_env(config: &Path, port: u16, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_wrapped(config, port, &[], env)
    }

    /// Start under a wrapper command that execs the binary (e.g. `prlimit
    /// --nofile=256:256`), so the child's pid is still the daemon's.
    pub fn start_wrapped(config: &Path, port: u16, wrapper: &[&str], env: &[(&str, &str)]) -> Daemon {
        let stderr = config.with_extension("log");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let child = cmd
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start newsdesk");
        let d = Daemon { child, port, stderr };
        d.wait_for(|| d.get("/healthz").is_some_and(|(s, _, _)| s == 200), "daemon to answer /healthz");
        d
    }

    /// GET a path: (status, headers, body).
    pub fn get(&self, path: &str) -> Option<(u16, HashMap<String, String>, Vec<u8>)> {
        http_get(self.port, path, &[])
    }

    pub fn wait_for(&self, mut cond: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.1 GET over loopback (no client library needed).
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<(u16, HashMap<String, String>, Vec<u8>)> {
    http_request(port, "GET", path, headers)
}

pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, HashMap<String, String>, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let hdrs: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if hdrs.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = dechunk(&body);
    }
    Some((status, hdrs, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 4 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

// ---------------------------------------------------------------------------
// RawServer: a fixture server for politeness tests (tests/politeness.rs).
// Plain blocking HTTP/1.0-style answers over std TCP, one thread per
// connection, so it can drip, stall and send pre-compressed bodies; listens on
// several loopback addresses (one "host" each, same port) and records, per
// address, how many requests were in flight at once.

/// What a path answers on a [`RawServer`].
#[derive(Clone, Debug)]
pub enum Act {
    /// Status, headers and body, after `delay`.
    Reply { status: u16, headers: Vec<(String, String)>, body: Vec<u8>, delay: Duration },
    /// A 200 whose body is sent one byte per `every`.
    Drip { body: Vec<u8>, every: Duration },
}

impl Act {
    pub fn ok(body: impl Into<Vec<u8>>) -> Act {
        Act::Reply { status: 200, headers: Vec::new(), body: body.into(), delay: Duration::ZERO }
    }

    pub fn status(status: u16) -> Act {
        Act::Reply { status, headers: Vec::new(), body: b"no".to_vec(), delay: Duration::ZERO }
    }

    pub fn header(mut self, k: &str, v: &str) -> Act {
        if let Act::Reply { headers, .. } = &mut self {
            headers.push((k.into(), v.into()));
        }
        self
    }

    pub fn after(mut self, d: Duration) -> Act {
        if let Act::Reply { delay, .. } = &mut self {
            *delay = d;
        }
        self
    }
}

/// One request a [`RawServer`] answered (or tried to).
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    /// The local address the request came in on: its "host".
    pub host: std::net::IpAddr,
    pub start: Instant,
    pub end: Instant,
    /// Body bytes written before the answer ended or the client went away.
    pub body_sent: usize,
    /// The answer ended (recorded at arrival, so a count never lags the client).
    pub done: bool,
    /// The request's User-Agent (tells apart the nodes of a cluster).
    pub agent: String,
}

#[derive(Default)]
struct RawState {
    acts: HashMap<String, Act>,
    hits: Vec<Hit>,
    in_flight: HashMap<std::net::IpAddr, usize>,
    peak: HashMap<std::net::IpAddr, usize>,
    in_flight_all: usize,
    peak_all: usize,
}

#[derive(Clone)]
pub struct RawServer {
    pub port: u16,
    state: Arc<Mutex<RawState>>,
}

impl RawServer {
    /// Listen on the same free port on every address in `ips` (loopback only).
    pub fn start(ips: &[&str]) -> RawServer {
        let state: Arc<Mutex<RawState>> = Arc::default();
        for _ in 0..20 {
            let first = std::net::TcpListener::bind((ips[0], 0)).expect("bind");
            let port = first.local_addr().expect("addr").port();
            let mut listeners = vec![first];
            for ip in &ips[1..] {
                match std::net::TcpListener::bind((*ip, port)) {
                    Ok(l) => listeners.push(l),
                    Err(_) => break,
                }
            }
            if listeners.len() < ips.len() {
                continue; // the port was taken on another address: try another
            }
            for l in listeners {
                let st = state.clone();
                std::thread::spawn(move || {
                    for stream in l.incoming().flatten() {
                        let st = st.clone();
                        std::thread::spawn(move || raw_answer(&st, stream));
                    }
                });
            }
            return RawServer { port, state };
        }
        panic!("no port free on every one of {ips:?}");
    }

    pub fn url(&self, ip: &str, path: &str) -> String {
        format!("http://{ip}:{}{path}", self.port)
    }

    pub fn set(&self, path: &str, act: Act) {
        self.state.lock().unwrap().acts.insert(path.into(), act);
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.state.lock().unwrap().hits.iter().filter(|h| h.path == path).cloned().collect()
    }

    /// Every request answered so far.
    pub fn all_hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    /// The most requests in flight at once on one address.
    pub fn peak(&self, ip: &str) -> usize {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        self.state.lock().unwrap().peak.get(&ip).copied().unwrap_or(0)
    }

    /// The most requests in flight at once over all addresses.
    pub fn peak_all(&self) -> usize {
        self.state.lock().unwrap().peak_all
    }
}

fn raw_answer(st: &Arc<Mutex<RawState>>, mut stream: std::net::TcpStream) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(local) = stream.local_addr() else { return };
    let host = local.ip();
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let agent = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("user-agent")).map(|(_, v)| v.trim()))
        .unwrap_or("")
        .to_string();
    let start = Instant::now();
    let act = {
        let mut s = st.lock().unwrap();
        let n = s.in_flight.entry(host).or_default();
        *n += 1;
        let n = *n;
        let p = s.peak.entry(host).or_default();
        *p = (*p).max(n);
        s.in_flight_all += 1;
        s.peak_all = s.peak_all.max(s.in_flight_all);
        s.hits.push(Hit { path: path.clone(), host, start, end: start, body_sent: 0, done: false, agent });
        (s.hits.len() - 1, s.acts.get(&path).cloned())
    };
    let (hit, act) = act;
    // Out of flight just before the last byte goes: the client cannot be done
    // (and start its next request) before the server has counted it out.
    let leave = || {
        let mut s = st.lock().unwrap();
        if let Some(n) = s.in_flight.get_mut(&host) {
            *n -= 1;
        }
        s.in_flight_all -= 1;
    };
    let mut body_sent = 0;
    let mut left = false;
    match act {
        None => {
            leave();
            left = true;
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        Some(Act::Reply { status, headers, body, delay }) => {
            std::thread::sleep(delay);
            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in &headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            if stream.write_all(out.as_bytes()).is_ok() {
                let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
                for (n, chunk) in chunks.iter().enumerate() {
                    if n + 1 == chunks.len() {
                        leave();
                        left = true;
                    }
                    if stream.write_all(chunk).is_err() {
                        break;
                    }
                    body_sent += chunk.len();
                }
            }
        }
        Some(Act::Drip { body, every }) => {
            let out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if stream.write_all(out.as_bytes()).is_ok() {
                for (n, b) in body.iter().enumerate() {
                    std::thread::sleep(every);
                    if n + 1 == body.len() {
                        leave();
                        left = true;
                    }
                    if stream.write_all(&[*b]).and_then(|()| stream.flush()).is_err() {
                        break;
                    }
                    body_sent += 1;
                }
            }
        }
    }
    if !left {
        leave();
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let h = &mut st.lock().unwrap().hits[hit];
    (h.end, h.body_sent, h.done) = (Instant::now(), body_sent, true);
}

// ---- Raw misbehaving responses (hostile suite) -------------------------------

/// How a [`ByteServer`] path misbehaves at the byte level, below what hyper lets
/// a well-behaved server send.
#[derive(Clone, Debug)]
pub enum Raw {
    /// A chunked body that never ends (stops after `cap` of wall time, so the
    /// test stays bounded even if the client never gives up).
    Endless { cap: Duration },
    /// `Content-Length: claimed`, then `body`, then the connection closes.
    LyingLength { claimed: usize, body: Vec<u8> },
}

/// A plain TCP server on 127.0.0.1 that answers each path with a [`Raw`]
/// behaviour, one thread per connection. Counts requests per path.
#[derive(Clone)]
pub struct ByteServer {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Raw>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl ByteServer {
    pub fn start() -> ByteServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind byte server");
        let addr = listener.local_addr().expect("byte server address");
        let routes: Arc<Mutex<HashMap<String, Raw>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, h) = (r.clone(), h.clone());
                std::thread::spawn(move || byte_answer(stream, &r, &h));
            }
        });
        ByteServer { addr, routes, hits }
    }

    pub fn set(&self, path: &str, raw: Raw) {
        self.routes.lock().unwrap().insert(path.into(), raw);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn count(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn byte_answer(mut s: std::net::TcpStream, routes: &Mutex<HashMap<String, Raw>>, hits: &Mutex<HashMap<String, usize>>) {
    use std::io::{Read, Write};
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let route = routes.lock().unwrap().get(&path).cloned();
    match route {
        None => {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        Some(Raw::LyingLength { claimed, body }) => {
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let _ = s.write_all(&body);
        }
        Some(Raw::Endless { cap }) => {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let start = b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Endless</title>";
            let _ = s.write_all(format!("{:x}\r\n", start.len()).as_bytes());
            let _ = s.write_all(start);
            let _ = s.write_all(b"\r\n");
            let item = b"<item><title>Again and again</title><description>and again</description></item>\n".repeat(200);
            let deadline = Instant::now() + cap;
            while Instant::now() < deadline {
                let ok = s.write_all(format!("{:x}\r\n", item.len()).as_bytes()).is_ok()
                    && s.write_all(&item).is_ok()
                    && s.write_all(b"\r\n").is_ok();
                if !ok {
                    return;
                }
            }
        }
    }
    let _ = s.flush();
}

/// Peak resident memory of a process (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

// ---- In-process desks (tests/poll.rs, tests/politeness.rs) -------------------

/// A config polling `sources` (id, url) into `dir`, loopback allowed, with
/// `extra` TOML appended to `[poll]`.
pub fn poll_config<I: AsRef<str>, U: AsRef<str>>(
    dir: &Path,
    sources: &[(I, U)],
    extra: &str,
) -> newsdesk::config::Config {
    let mut text = format!(
        "[storage]\npath = \"data\"\nretention = \"36500d\"\n[poll]\nuser_agent = \"newsdesk-test/1\"\nmax_body = \"64KiB\"\nallow_private = true\n{extra}\n[[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n"
    );
    for (id, url) in sources {
        text.push_str(&format!("[[sources]]\nid = \"{}\"\nurl = \"{}\"\n", id.as_ref(), url.as_ref()));
    }
    newsdesk::config::load_str(&dir.join("newsdesk.toml"), &text).expect("valid test config")
}

/// A desk over a fresh store at the config's path.
pub fn desk(config: &newsdesk::config::Config) -> Arc<newsdesk::pipeline::Desk> {
    let store = newsdesk::store::Store::open(&config.storage.path).expect("open store");
    Arc::new(newsdesk::pipeline::Desk::new(store, Arc::new(config.clone())).expect("desk"))
}

/// A two-thread runtime for driving polls from a test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A configured source with defaults, for feeding a desk directly.
pub fn source(id: &str) -> newsdesk::config::Source {
    newsdesk::config::Source {
        id: id.into(),
        url: url::Url::parse(&format!("https://{id}.example/feed")).expect("test URL"),
        title: None,
        sections: vec![],
        region: None,
        language: None,
        breaking: false,
        interval: None,
    }
}

/// An RSS document of `(guid, title, link)` items, undated, parsed.
pub fn parsed_rss(items: &[(&str, &str, &str)]) -> newsdesk::parse::Feed {
    let xml = rss("Wire", &items.iter().map(|(g, t, l)| (*g, *t, *l, "")).collect::<Vec<_>>());
    newsdesk::parse::parse_feed(xml.as_bytes(), None).expect("test feed parses")
}

/// Read one HTTP message (request or response) with a Content-Length body (none
/// means empty) off `s`: its head, lower-cased, and its body. `None` when the
/// connection ends or fails first.
pub fn read_message(s: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use std::io::Read;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                return Some((head, raw[end + 4..end + 4 + len].to_vec()));
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// A WebSub hub on 127.0.0.1 that records each request body (marked
/// `NOT-POST ` or `NOT-FORM ` when it is not a form POST) and answers 204, or
/// 500 to the first request when `fail_first` (so a retry is exercised).
pub fn start_hub(fail_first: bool) -> (u16, Arc<Mutex<Vec<String>>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let body = read_message(&mut s).map(|(head, body)| {
                let method_ok = head.starts_with("post ");
                let form = head.contains("content-type: application/x-www-form-urlencoded");
                let body = String::from_utf8_lossy(&body).to_string();
                format!("{}{}{body}", if method_ok { "" } else { "NOT-POST " }, if form { "" } else { "NOT-FORM " })
            });
            let Some(body) = body else { continue };
            let first = {
                let mut l = log.lock().unwrap();
                l.push(body);
                l.len() == 1
            };
            let status = if first && fail_first { "500 Internal Server Error" } else { "204 No Content" };
            let _ =
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
        }
    });
    (port, seen)
}

// ---- Server-sent events (tests/events.rs, tests/cluster.rs) ----------------

/// An SSE connection read as raw text.
pub struct Sse {
    stream: std::net::TcpStream,
    pub text: String,
}

impl Sse {
    pub fn connect(port: u16, last_id: Option<&str>) -> Sse {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let extra = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        write!(stream, "GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n{extra}\r\n").unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        Sse { stream, text: String::new() }
    }

    pub fn pump(&mut self) {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.stream.read(&mut buf) {
            self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    /// The (id, data) of every breaking event received so far.
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        self.text
            .split("\n\n")
            .filter(|block| block.contains("event: breaking"))
            .filter_map(|block| {
                let id = block.lines().find_map(|l| l.strip_prefix("id: "))?.trim().to_string();
                let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
                Some((id, serde_json::from_str(data).ok()?))
            })
            .collect()
    }

    pub fn wait_for(&mut self, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.events().len() < n {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; got:\n{}", self.text);
            self.pump();
        }
    }
}

// ---- Clustering fixtures (tests/merge.rs, tests/store_contract.rs) ---------

/// Unrelated stories, so that word weights are those of a real window.
pub const BACKGROUND: [&str; 12] = [
    "Parliament debates pension reform bill",
    "Local team wins cup final after extra time",
    "Tech company unveils new phone",
    "Oil prices fall on demand worries",
    "Storm warning issued for the weekend",
    "City council approves new tram line",
    "Film festival opens with documentary",
    "Teachers strike over pay",
    "Central bank holds interest rates",
    "Marathon route changes announced",
    "Museum returns ancient statues",
    "Airline orders fifty new jets",
];

/// A made-up word of `syllables` syllables, different for every `n` below
/// 70^syllables - 1000: titles that share no word are never one story.
pub fn made_up_word(n: usize, syllables: usize) -> String {
    let (c, v) = (b"bdfgklmnprstvz", b"aeiou");
    let (mut n, mut out) = (n + 1000, String::new());
    for _ in 0..syllables {
        out.push(c[n % c.len()] as char);
        out.push(v[(n / c.len()) % v.len()] as char);
        n /= c.len() * v.len();
    }
    out
}

pub mod pg;
