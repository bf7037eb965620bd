//! The command line: `once` prints a line per source and exits 0 when any
//! source worked, 1 when none did; `--help` and `--version` answer.

mod common;

use common::{rss, write_config, Fixture, FixtureServer};
use std::process::Command;

fn once(config: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(common::bin()).args(["once", "--config"]).arg(config).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn once_polls_every_source_and_reports_each() {
    let server = FixtureServer::start();
    server.set(
        "/ok.xml",
        Fixture::feed(rss("OK", &[("1", "One", "https://ok.example/1", "Mon, 02 Nov 2026 10:00:00 GMT")])),
    );
    server.set("/gone.xml", Fixture::status(410));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[storage]\npath = \"data\"\nretention = \"36500d\"\n[poll]\nallow_private = true\n[[sources]]\nid = \"ok\"\nurl = \"{}\"\n[[sources]]\nid = \"gone\"\nurl = \"{}\"\n",
            server.url("/ok.xml"),
            server.url("/gone.xml")
        ),
    );
    let (code, stdout, stderr) = once(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("gone gone "), "{stdout}");
    assert_eq!(lines[1], "ok ok 1 new, 0 updated");
    // The failing source is logged once, with its id.
    assert_eq!(stderr.lines().filter(|l| l.contains("source=gone")).count(), 1, "{stderr}");
    // Second run: conditional GET gives not_modified; gone stays gone without a request.
    let (code, stdout, _) = once(&config);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("ok not_modified"), "{stdout}");
    assert_eq!(server.count("/gone.xml"), 1);
}

#[test]
fn once_exits_1_when_no_source_could_be_polled() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = write_config(
        dir.path(),
        &format!("[storage]\npath = \"data\"\n[poll]\nallow_private = true\n[[sources]]\nid = \"down\"\nurl = \"http://127.0.0.1:{port}/feed\"\n"),
    );
    let (code, stdout, _) = once(&config);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("down error "), "{stdout}");
}

#[test]
fn help_and_version() {
    for args in [vec!["--help"], vec!["run", "--help"], vec!["check", "--help"], vec!["once", "--help"]] {
        let out = Command::new(common::bin()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{args:?}");
    }
    let out = Command::new(common::bin()).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), concat!("newsdesk ", env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unopenable_store_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), "not a folder").unwrap();
    let config = write_config(
        dir.path(),
        "[storage]\npath = \"data\"\n[[sources]]\nid = \"a\"\nurl = \"https://example.org/rss\"\n",
    );
    let (code, _, stderr) = once(&config);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot open store at") && stderr.contains("data"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}
