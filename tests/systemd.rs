//! The daemon as a systemd `Type=notify` service, against a fake
//! NOTIFY_SOCKET: READY=1 once the port answers, WATCHDOG=1 while the poller
//! turns, STOPPING=1 on SIGTERM, and exit 0 within 10 s.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn notify_ready_watchdog_stopping() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.xml"),
        common::rss("A", &[("1", "One", "https://a.example/1", common::hours_ago(3))]),
    )
    .unwrap();
    let port = common::free_port();
    let config = common::write_config(
        dir.path(),
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\n[[sources]]\nid = \"a\"\nurl = \"a.xml\"\n"),
    );
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut messages: Vec<(Instant, String)> = Vec::new();
    let mut buf = [0u8; 1024];
    let mut recv = |messages: &mut Vec<(Instant, String)>| {
        if let Ok(n) = sock.recv(&mut buf) {
            messages.push((Instant::now(), String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
    };
    let start = Instant::now();
    while !messages.iter().any(|(_, m)| m.lines().any(|l| l == "READY=1")) {
        assert!(start.elapsed() < Duration::from_secs(20), "no READY=1: {messages:?}");
        recv(&mut messages);
    }
    // READY means serving: the port answers now.
    assert!(common::http_get(port, "/healthz", &[]).is_some_and(|(s, _, _)| s == 200));
    let ready_at = Instant::now();
    while ready_at.elapsed() < Duration::from_millis(2500) {
        recv(&mut messages);
    }
    let watchdogs = messages.iter().filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1")).count();
    assert!(watchdogs >= 3, "expected a WATCHDOG=1 every half second, got {watchdogs}: {messages:?}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let term_at = Instant::now();
    let status = loop {
        recv(&mut messages);
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(term_at.elapsed() < Duration::from_secs(10), "no exit within 10 s");
    };
    while let Ok(n) = sock.recv(&mut buf) {
        messages.push((Instant::now(), String::from_utf8_lossy(&buf[..n]).into_owned()));
    }
    assert!(status.success(), "{status:?}");
    assert!(messages.iter().any(|(_, m)| m.lines().any(|l| l == "STOPPING=1")), "{messages:?}");
}
