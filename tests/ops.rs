//! Operations, end to end with the real binary: a store that cannot be opened
//! (corrupt files, no permission) ends `once` and `run` with exit 1 and one line
//! naming the path and cause; JSON logs are one object per line, name the
//! source, log a failing source once per poll, and honour `RUST_LOG`.

mod common;

use common::{free_port, rss, write_config, Daemon, Fixture, FixtureServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A config with one local-file source and a store under `dir/data`.
fn file_config(dir: &Path) -> PathBuf {
    let items: Vec<(String, String, String)> = (0..50)
        .map(|i| (format!("g{i}"), format!("Report {i} on harbour works {}", i * 7), format!("https://a.example/{i}")))
        .collect();
    let refs: Vec<(&str, &str, &str, &str)> =
        items.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str(), common::hours_ago(3))).collect();
    std::fs::write(dir.join("a.xml"), rss("A", &refs)).unwrap();
    let port = free_port();
    write_config(
        dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\nretention = \"36500d\"\n[[sources]]\nid = \"a\"\nurl = \"a.xml\"\n"
        ),
    )
}

/// Run a command to its end (at most 20 s): (exit code, stderr).
fn finish(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not end within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn newsdesk(args: &[&str], config: &Path) -> Command {
    let mut c = Command::new(common::bin());
    c.args(args).arg("--config").arg(config).env("RUST_LOG", "info");
    c
}

fn assert_one_line(what: &str, code: Option<i32>, stderr: &str, store: &Path, cause: &str) {
    assert_eq!(code, Some(1), "{what}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: one line expected, got:\n{stderr}");
    assert!(stderr.contains(&store.display().to_string()), "{what}: the path is not named: {stderr}");
    assert!(stderr.contains(cause), "{what}: the cause ({cause}) is not named: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{what}: {stderr}");
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Truncated,
    Random,
    Zeroed,
}

fn damage(file: &Path, how: Damage) {
    let len = std::fs::metadata(file).unwrap().len() as usize;
    let bytes = match how {
        Damage::Truncated => std::fs::read(file).unwrap()[..len.min(7)].to_vec(),
        // Not random from the OS: a fixed xorshift stream, so a failure can be replayed.
        Damage::Random => {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            (0..len.max(64))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        }
        Damage::Zeroed => vec![0; len.max(64)],
    };
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_corrupt_store_is_one_line_and_exit_1_for_once_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path());
    let (code, err) = finish(newsdesk(&["once"], &config));
    assert_eq!(code, Some(0), "{err}");
    let store = dir.path().join("data");
    let pristine = dir.path().join("pristine");
    copy_dir(&store, &pristine);
    let snapshot = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("snap."));
    let mut files = vec!["db".to_string(), "conf".to_string()];
    files.extend(snapshot);
    for file in &files {
        for how in [Damage::Truncated, Damage::Random, Damage::Zeroed] {
            if file == "conf" && matches!(how, Damage::Truncated) {
                // sled rebuilds a truncated `conf` from defaults and keeps every
                // record: that store opens, and nothing is lost.
                continue;
            }
            for cmd in ["once", "run"] {
                std::fs::remove_dir_all(&store).unwrap();
                copy_dir(&pristine, &store);
                damage(&store.join(file), how);
                let (code, err) = finish(newsdesk(&[cmd], &config));
                assert_one_line(&format!("{cmd} with {file} {how:?}"), code, &err, &store, "corrupt");
            }
        }
    }
    // A truncated conf: the store still opens and holds all 50 items.
    std::fs::remove_dir_all(&store).unwrap();
    copy_dir(&pristine, &store);
    damage(&store.join("conf"), Damage::Truncated);
    let out = newsdesk(&["stats", "--json"], &config).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"], 50);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// As an unprivileged user (root ignores file modes), a store folder owned by
/// root with mode 0700 cannot be opened.
#[test]
fn a_store_without_permission_is_one_line_and_exit_1_for_once_and_run() {
    use std::os::unix::fs::PermissionsExt;
    if !nix_is_root() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path());
    let (code, err) = finish(newsdesk(&["once"], &config));
    assert_eq!(code, Some(0), "{err}");
    let store = dir.path().join("data");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
    for cmd in ["once", "run"] {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(common::bin())
            .args([cmd, "--config"])
            .arg(&config)
            .env("RUST_LOG", "info");
        let (code, err) = finish(c);
        assert_one_line(&format!("{cmd} as nobody"), code, &err, &store, "permission denied");
    }
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\nall:\n{stderr}")))
        .collect()
}

fn two_sources(dir: &Path, server: &FixtureServer, port: u16) -> PathBuf {
    server.set(
        "/good.xml",
        Fixture::feed(rss("Good", &[("g1", "Harbour reopens", "https://good.example/1", common::hours_ago(3))])),
    );
    server.set("/bad.xml", Fixture::status(500));
    write_config(
        dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\nretention = \"36500d\"\n[poll]\nallow_private = true\n[log]\nformat = \"json\"\n[[sources]]\nid = \"good\"\nurl = \"{}\"\n[[sources]]\nid = \"bad\"\nurl = \"{}\"\n",
            server.url("/good.xml"),
            server.url("/bad.xml")
        ),
    )
}

#[test]
fn json_logs_name_the_source_and_a_failing_source_logs_once_per_poll() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = two_sources(dir.path(), &server, port);
    let daemon = Daemon::start(&config, port);
    daemon.wait_for(|| server.count("/bad.xml") >= 1 && server.count("/good.xml") >= 1, "both sources polled");
    daemon.wait_for(|| daemon.log().contains("\"source\":\"bad\""), "the failure logged");
    std::thread::sleep(Duration::from_millis(500));
    daemon.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut d = daemon;
    while d.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = d.log();
    let events = json_lines(&log);
    assert!(events.iter().all(|e| e["level"].is_string() && e["timestamp"].is_string()), "{log}");
    let bad: Vec<_> = events.iter().filter(|e| e["source"] == "bad").collect();
    let bad_polls = server.count("/bad.xml");
    assert_eq!(bad.len(), bad_polls, "one event per poll of the failing source ({bad_polls} polls):\n{log}");
    assert!(bad.iter().all(|e| e["level"] == "WARN" || e["level"] == "ERROR"), "{log}");
    assert!(bad.iter().all(|e| e["error"].as_str().is_some_and(|s| s.contains("500"))), "{log}");
    let good: Vec<_> = events.iter().filter(|e| e["source"] == "good").collect();
    assert!(good.iter().any(|e| e["level"] == "INFO" && e["new"] == 1), "{log}");
}

#[test]
fn rust_log_overrides_the_configured_level() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = two_sources(dir.path(), &server, free_port());
    let mut c = newsdesk(&["once"], &config);
    c.env("RUST_LOG", "warn");
    let (code, err) = finish(c);
    assert_eq!(code, Some(0), "{err}");
    let events = json_lines(&err);
    assert!(
        events.iter().all(|e| e["level"] == "WARN" || e["level"] == "ERROR"),
        "info shown under RUST_LOG=warn:\n{err}"
    );
    assert_eq!(events.iter().filter(|e| e["source"] == "bad").count(), 1, "{err}");
    // And with RUST_LOG=info the good source's event shows.
    let (_, err) = finish(newsdesk(&["once"], &config));
    assert!(json_lines(&err).iter().any(|e| e["source"] == "good" && e["level"] == "INFO"), "{err}");
}

/// The ids `/api/sources` lists.
fn source_ids(daemon: &Daemon) -> Vec<String> {
    let (status, _, body) = daemon.get("/api/sources").expect("/api/sources answers");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap_or_default().to_string()).collect()
}

/// SIGHUP with a configuration that cannot run (a user_agent no HTTP client
/// accepts) or that moves the store: the daemon keeps serving on the old
/// configuration and logs why; a good one afterwards still applies.
#[test]
fn a_reload_that_cannot_apply_keeps_the_daemon_and_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path());
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::copy(dir.path().join("a.xml"), dir.path().join("b.xml")).unwrap();
    let with_b = format!("{original}[[sources]]\nid = \"b\"\nurl = \"b.xml\"\n");
    let mut daemon = Daemon::start(&config, port_of(&original));
    assert_eq!(source_ids(&daemon), ["a"]);

    std::fs::write(&config, format!("{with_b}[poll]\nuser_agent = \"newsdesk\\r\\nX-Injected: 1\"\n")).unwrap();
    daemon.signal("HUP");
    daemon.wait_for(|| daemon.log().contains("poll.user_agent"), "the bad user_agent to be logged");
    assert_still_serving(&mut daemon, &["a"]);

    let moved = with_b.replace("path = \"data\"", "path = \"elsewhere\"");
    std::fs::write(&config, moved).unwrap();
    daemon.signal("HUP");
    daemon.wait_for(|| daemon.log().contains("storage.path changed"), "the moved store to be refused");
    assert_still_serving(&mut daemon, &["a"]);
    assert!(!dir.path().join("elsewhere").exists(), "a store was opened at the new path");

    std::fs::write(&config, &with_b).unwrap();
    daemon.signal("HUP");
    daemon.wait_for(|| source_ids(&daemon) == ["a", "b"], "the good configuration to apply");
}

fn port_of(config: &str) -> u16 {
    let at = config.find("127.0.0.1:").unwrap() + "127.0.0.1:".len();
    config[at..].split('"').next().unwrap().parse().unwrap()
}

fn assert_still_serving(daemon: &mut Daemon, sources: &[&str]) {
    assert!(daemon.child.try_wait().unwrap().is_none(), "the daemon ended:\n{}", daemon.log());
    assert_eq!(daemon.get("/healthz").map(|r| r.0), Some(200), "{}", daemon.log());
    assert_eq!(source_ids(daemon), sources, "the old configuration is not the one in force");
    assert!(daemon.log().contains("configuration refused; the old one stays in force"), "{}", daemon.log());
}

/// A source URL with `user:password@`: the password shows neither in
/// `/api/sources` nor in the logs (the user name does, to tell accounts apart).
#[test]
fn a_source_password_is_redacted_in_the_api_and_the_logs() {
    let server = FixtureServer::start();
    server.set("/private.xml", Fixture::status(500));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = server.url("/private.xml").replacen("http://", "http://reader:s3cret-pw@", 1);
    let config = write_config(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\n[poll]\nallow_private = true\n[[sources]]\nid = \"paid\"\nurl = \"{url}\"\n"
        ),
    );
    let daemon = Daemon::start(&config, port);
    daemon.wait_for(|| daemon.log().contains("poll failed"), "the failing poll to be logged");
    let (_, _, body) = daemon.get("/api/sources").unwrap();
    let api = String::from_utf8_lossy(&body).into_owned();
    assert!(api.contains("http://reader:***@127.0.0.1:"), "{api}");
    assert!(!api.contains("s3cret-pw"), "{api}");
    let log = daemon.log();
    assert!(log.contains("reader:***@"), "the URL is not in the log at all:\n{log}");
    assert!(!log.contains("s3cret-pw"), "{log}");
}

/// Every file of the store overwritten with garbage (db, conf, snapshot,
/// blobs), the daemon started from the config's folder with a relative
/// `--config`: `once`, `run` and `stats` end with exit 1 and one line that
/// names the store's full path in plain words (no sled offsets or backtraces).
#[test]
fn a_store_overwritten_with_garbage_names_its_full_path_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path());
    let (code, err) = finish(newsdesk(&["once"], &config));
    assert_eq!(code, Some(0), "{err}");
    let store = dir.path().join("data");
    overwrite_all(&store);
    for cmd in ["once", "run", "stats"] {
        let mut c = Command::new(common::bin());
        c.args([cmd, "--config", "newsdesk.toml"]).current_dir(dir.path()).env("RUST_LOG", "info");
        let (code, err) = finish(c);
        assert_one_line(cmd, code, &err, &store, "corrupt");
        assert_eq!(err.matches(&store.display().to_string()).count(), 1, "{cmd}: {err}");
        for raw in ["Inline", "backtrace", "offset"] {
            assert!(!err.contains(raw), "{cmd}: sled's own words: {err}");
        }
    }
}

/// Overwrite every file under `dir` with the same number of garbage bytes.
fn overwrite_all(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            overwrite_all(&path);
        } else {
            damage(&path, Damage::Random);
        }
    }
}
