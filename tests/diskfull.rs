//! A full disk under the store, with the real binary: the daemon runs in a
//! private mount namespace over a 2 MiB tmpfs that the test fills. `/healthz`
//! turns 503 naming the cause, paging variants never answer 500, and SIGTERM
//! ends the process with one plain line (no Rust debug text anywhere).
//! Needs root and `unshare`; skipped, saying why, without them.

mod common;

use common::{free_port, rss, write_config, Daemon};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref().ok() != Some("0") {
        return Some("not root (mounting a tmpfs needs it)".into());
    }
    let unshare = Command::new("unshare").args(["-m", "true"]).stderr(Stdio::null()).status();
    if !unshare.is_ok_and(|s| s.success()) {
        return Some("`unshare -m` is not available here".into());
    }
    None
}

fn feed(dir: &Path, items: usize) {
    let items: Vec<(String, String, String)> = (0..items)
        .map(|i| {
            let title = format!("Harbour council report {i} on the river budget {}", i * 7);
            (format!("g{i}"), title, format!("https://a.example/{i}"))
        })
        .collect();
    let refs: Vec<(&str, &str, &str, &str)> =
        items.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str(), common::hours_ago(3))).collect();
    std::fs::write(dir.join("a.xml"), rss("A", &refs)).unwrap();
}

/// The daemon in its own mount namespace, its store on a fresh 2 MiB tmpfs at `mnt`.
fn start(dir: &Path, mnt: &Path, port: u16) -> Daemon {
    let config = write_config(
        dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nfeed_items = 5\n[storage]\npath = \"{}\"\nretention = \"36500d\"\n[poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\n[[sources]]\nid = \"a\"\nurl = \"a.xml\"\n",
            mnt.join("data").display()
        ),
    );
    let stderr = config.with_extension("log");
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=2m tmpfs \"$1\" && exec \"$2\" run --config \"$3\"")
        .args(["sh".as_ref(), mnt.as_os_str(), common::bin().as_os_str(), config.as_os_str()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start newsdesk under unshare");
    let d = Daemon { child, port, stderr };
    d.wait_for(|| d.get("/healthz").is_some_and(|(s, _, _)| s == 200), "daemon to answer /healthz");
    d
}

/// Fill the daemon's tmpfs (seen from inside its mount namespace).
fn fill(pid: u32, mnt: &Path) {
    let of = format!("of={}", mnt.join("fill").display());
    let _ = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "dd", "if=/dev/zero", &of, "bs=64k"])
        .stderr(Stdio::null())
        .status()
        .expect("nsenter dd");
}

fn debug_text(s: &str) -> bool {
    s.contains("Os {") || s.contains("Custom {") || s.contains("kind:") || s.contains("panicked")
}

#[test]
fn a_full_disk_turns_health_503_and_never_500_and_exits_with_one_line() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    feed(dir.path(), 20);
    let port = free_port();
    let mut d = start(dir.path(), &mnt, port);
    d.wait_for(|| d.log().contains("new=20"), "the first poll to be stored");
    // A cursor to page with, issued while the store could still write.
    d.wait_for(|| d.get("/feeds/all.json").is_some_and(|(_, _, b)| b.starts_with(b"{")), "the feed to be rendered");
    let (_, _, page) = d.get("/feeds/all.json?limit=2").unwrap();
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    let next = page["next_url"].as_str().expect("a next page").to_string();
    let before = &next[next.find("/feeds/").unwrap()..];

    fill(d.child.id(), &mnt);
    feed(dir.path(), 200);
    d.wait_for(|| d.get("/healthz").is_some_and(|(s, _, _)| s == 503), "/healthz to turn 503");
    let (_, _, health) = d.get("/healthz").unwrap();
    let health = String::from_utf8_lossy(&health).into_owned();
    assert!(health.contains("no space left on device"), "{health}");

    for path in [before, "/feeds/all.json?limit=3", "/feeds/all.rss?limit=4", "/feeds/all.atom"] {
        let (status, _, body) = d.get(path).expect("an answer");
        let body = String::from_utf8_lossy(&body);
        assert!(status == 200 || status == 503, "{path}: {status} {body}");
        assert!(!debug_text(&body), "{path}: {body}");
    }

    d.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 15 s after SIGTERM:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = d.log();
    assert!(!debug_text(&log), "debug text in the log:\n{log}");
    let after: Vec<&str> = log.lines().skip_while(|l| !l.contains("shutting down")).skip(1).collect();
    match status.code() {
        Some(0) => assert!(after.iter().all(|l| !l.contains("ERROR")), "exit 0 after an error:\n{log}"),
        Some(1) => {
            assert_eq!(after.len(), 1, "one line expected after shutting down:\n{log}");
            assert!(after[0].contains("could not be flushed") && after[0].contains("no space left"), "{log}");
        }
        other => panic!("exit {other:?}:\n{log}"),
    }
}
