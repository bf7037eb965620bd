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
    server.set("/ok.xml", Fixture::feed(rss("OK", &[("1", "One", "https://ok.example/1", common::hours_ago(3))])));
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

#[test]
fn opml_import_passes_check_and_round_trips_through_export() {
    let dir = tempfile::tempdir().unwrap();
    let opml = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/opml/subscriptions.opml");
    let out = Command::new(common::bin()).arg("import-opml").arg(&opml).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let toml = String::from_utf8(out.stdout).unwrap();
    let config = write_config(dir.path(), &toml);
    let out = Command::new(common::bin()).args(["check", "--config"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{toml}", String::from_utf8_lossy(&out.stderr));
    let loaded = newsdesk::config::load(&config).unwrap();
    assert_eq!(loaded.sources.len(), 7);
    // Nested folders became sections; each feed is filed under its innermost folder.
    let world: Vec<_> = loaded.sources.iter().filter(|s| s.sections == ["world"]).map(|s| s.url.as_str()).collect();
    assert_eq!(world, vec!["https://world.example/rss.xml", "https://world2.example/atom.xml"]);
    assert!(loaded.sections.iter().any(|s| s.title == "Economía & Negocios"));
    assert!(loaded.sections.iter().all(|s| !["all", "breaking", "top", "regions", "tags"].contains(&s.id.as_str())));
    // Export, then import again: the same feeds in the same folders.
    let out = Command::new(common::bin()).args(["export-opml", "--config"]).arg(&config).output().unwrap();
    assert!(out.status.success());
    let again = newsdesk::opml::parse(&out.stdout).unwrap();
    let first = newsdesk::opml::parse(&std::fs::read(&opml).unwrap()).unwrap();
    let urls = |subs: &[newsdesk::opml::Subscription]| {
        let mut v: Vec<(String, Option<String>)> =
            subs.iter().map(|s| (s.url.clone(), s.folders.last().cloned())).collect();
        v.sort();
        v
    };
    assert_eq!(urls(&again), urls(&first));
}

#[test]
fn stats_counts_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.xml"),
        rss(
            "A",
            &[
                ("1", "Election called", "https://a.example/1", common::hours_ago(3)),
                ("2", "Rain", "https://a.example/2", common::hours_ago(2)),
            ],
        ),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        "[storage]\npath = \"data\"\nretention = \"36500d\"\n[[sections]]\nid = \"politics\"\nkeywords = [\"election\"]\n[[sections]]\nid = \"misc\"\nfallback = true\n[[sources]]\nid = \"a\"\nurl = \"a.xml\"\n",
    );
    let (code, _, _) = once(&config);
    assert_eq!(code, Some(0));
    let out = Command::new(common::bin()).args(["stats", "--config"]).arg(&config).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["sources: 1", "items: 2", "stories: 2", "section politics: 1", "section misc: 1"] {
        assert!(text.lines().any(|l| l == line), "{line} missing in:\n{text}");
    }
    let out = Command::new(common::bin()).args(["stats", "--json", "--config"]).arg(&config).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"], 2);
    assert_eq!(v["sections"]["politics"], 1);
    assert!(v["store_bytes"].as_u64().unwrap() > 0);
}
