//! Every file of the shared feed corpus through the whole ingest path (parse,
//! normalise, identify, cluster, categorise, store): nothing panics or aborts,
//! and what parses is stored with sane fields.

use newsdesk::config::{self, Source};
use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::path::PathBuf;
use std::sync::Arc;

fn corpus_dir() -> PathBuf {
    std::env::var_os("NEWSDESK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// Every data file with its role (`input` or `expected`).
fn files() -> Vec<(PathBuf, bool)> {
    let index = corpus_dir().join("index.tsv");
    let text = std::fs::read_to_string(&index)
        .unwrap_or_else(|e| panic!("the corpus index {} is needed: {e} (set NEWSDESK_CORPUS)", index.display()));
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some((corpus_dir().join(cols.first()?), cols.get(5) == Some(&"input") && cols.get(2) != Some(&"opml")))
        })
        .collect()
}

#[test]
fn every_corpus_file_goes_through_ingest_without_panic() {
    let files = files();
    assert!(files.len() > 4000, "corpus looks incomplete: {} files", files.len());
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config::Config::with_defaults(&dir.path().join("c.toml"));
    cfg.storage.retention = std::time::Duration::from_secs(100 * 365 * 86400);
    cfg.sections.push(config::Section {
        id: "misc".into(),
        title: "Misc".into(),
        group: "News".into(),
        categories: vec![],
        keywords: vec![],
        fallback: true,
        names: Default::default(),
    });
    let desk = Desk::new(Store::open(&dir.path().join("data")).unwrap(), Arc::new(cfg)).unwrap();
    let now = 1_800_000_000;
    let (mut parsed, mut failed, mut items, mut feeds, mut feeds_parsed) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for (i, (path, is_feed)) in files.iter().enumerate() {
        feeds += usize::from(*is_feed);
        let bytes = std::fs::read(path).unwrap();
        let source = Source {
            id: format!("c{i}"),
            url: url::Url::from_file_path(path).unwrap(),
            title: None,
            sections: vec![],
            region: None,
            language: None,
            breaking: false,
            interval: None,
        };
        match newsdesk::parse::parse_feed(&bytes, Some(&url::Url::parse("https://corpus.example/feed").unwrap())) {
            Ok(feed) => {
                parsed += 1;
                feeds_parsed += usize::from(*is_feed);
                let report = desk.ingest(&source, &feed, now).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                items += report.new;
                // Re-ingesting the same document changes nothing.
                let again = desk.ingest(&source, &feed, now).unwrap();
                assert_eq!((again.new, again.updated), (0, 0), "{}", path.display());
            }
            Err(_) => failed += 1,
        }
    }
    println!(
        "corpus: {} files, {parsed} parsed, {failed} refused, {items} items stored; feed inputs: {feeds_parsed}/{feeds} parsed",
        files.len()
    );
    assert_eq!(desk.store.item_count().unwrap() as usize, items);
    // Most of the corpus is well-formed feeds; a collapse here means a regression.
    assert!(feeds_parsed * 100 >= feeds * 93, "only {feeds_parsed} of {feeds} feed inputs parsed");
}

#[test]
fn sanitiser_attack_cases_come_out_inert() {
    let dir = corpus_dir().join("feedparser/wellformed/sanitize");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok(feed) = newsdesk::parse::parse_feed(&bytes, None) else { continue };
        for e in &feed.entries {
            for html in [e.summary.html()] {
                let lower = html.to_ascii_lowercase();
                for bad in [
                    "<script",
                    "<iframe",
                    "<object",
                    "<embed",
                    "<form",
                    "javascript:",
                    "vbscript:",
                    "data:",
                    "expression(",
                ] {
                    assert!(!lower.contains(bad), "{}: {bad} survived in {html}", path.display());
                }
                assert!(
                    !lower.split('<').any(|tag| tag
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .split_whitespace()
                        .any(|a| a.starts_with("on"))),
                    "{}: event handler in {html}",
                    path.display()
                );
                checked += 1;
            }
            assert!(!e.title.contains('<') || !e.title.to_ascii_lowercase().contains("<script"), "{}", path.display());
        }
    }
    assert!(checked > 300, "only {checked} sanitiser cases checked");
}
