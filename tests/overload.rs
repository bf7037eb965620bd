//! Descriptor exhaustion: the real binary under a low open-file limit, held
//! open by idle connections and `/events` streams, still answers an ordinary
//! request, refuses extra streams with a 503, and does not log a line per
//! failed accept. (The full-size check is scripts/overload.sh.)

mod common;

use common::{free_port, http_get, write_config, Daemon};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The daemon's soft and hard open-file limit in this test.
const FDS: u32 = 256;
/// More /events clients than a 256-descriptor process may stream to.
const STREAMS: usize = 60;
/// Idle connections: together with the streams, more than the limit allows.
const IDLE: usize = 220;

/// The status line of the response to a request sent on `s` (`None`: no answer in time).
fn status_of(s: &mut TcpStream) -> Option<u16> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    while !raw.windows(2).any(|w| w == b"\r\n") && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&raw).split_whitespace().nth(1)?.parse().ok()
}

/// Whether the server still holds `s` open (nothing to read, no end of stream).
fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).is_ok() && {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break false,
                Ok(_) => continue,
                Err(e) => break e.kind() == ErrorKind::WouldBlock,
            }
        }
    }
}

fn config(dir: &Path, port: u16) -> std::path::PathBuf {
    let feed = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/feeds/almarsad.xml");
    write_config(
        dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [storage]\npath = \"data\"\nretention = \"36500d\"\n\
             [[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n\
             [[sources]]\nid = \"demo\"\nurl = \"{}\"\n",
            feed.display()
        ),
    )
}

#[test]
fn idle_connections_and_streams_cannot_use_up_descriptors() {
    if std::process::Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux prlimit is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nofile = format!("--nofile={FDS}:{FDS}");
    let daemon = Daemon::start_wrapped(&config(dir.path(), port), port, &["prlimit", &nofile, "--"], &[]);

    let mut streams = Vec::new();
    let mut refused = 0;
    for _ in 0..STREAMS {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n").unwrap();
        match status_of(&mut s) {
            Some(200) => streams.push(s),
            Some(503) => refused += 1,
            other => panic!("/events answered {other:?}; log:\n{}", daemon.log()),
        }
    }
    assert!(refused > 0, "all {STREAMS} /events clients were streamed to under a {FDS}-descriptor limit");
    assert!(!streams.is_empty(), "no /events client was served");

    let idle: Vec<TcpStream> = (0..IDLE).filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    let (status, headers, _) = http_get(port, "/feeds/all.rss", &[])
        .unwrap_or_else(|| panic!("no answer to an ordinary request; log:\n{}", daemon.log()));
    assert_eq!(status, 200, "{headers:?}");

    // Making room closed idle connections, not the streams.
    let open = streams.iter_mut().map(still_open).filter(|o| *o).count();
    assert_eq!(open, streams.len(), "streams were closed to make room");
    let (status, headers, body) = http_get(port, "/events", &[]).expect("an answer");
    assert_eq!(status, 503);
    assert!(headers["content-type"].starts_with("text/plain"), "{headers:?}");
    assert_eq!(String::from_utf8_lossy(&body).lines().count(), 1, "one line: {body:?}");
    let accept_lines = daemon.log().matches("accept failed").count();
    assert!(accept_lines <= 2, "{accept_lines} accept failures logged:\n{}", daemon.log());
    drop(idle);
}
