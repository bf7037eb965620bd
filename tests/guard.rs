//! The SSRF guard against a real fixture server on loopback: with the default
//! `allow_private = false`, private addresses are refused before a connection,
//! also when a redirect points there, and the source gets status `refused`.

mod common;

use common::{rss, Fixture, FixtureServer};
use newsdesk::config;
use newsdesk::model::SourceStatus;
use newsdesk::pipeline::{refresh_source, Desk};
use newsdesk::poll::fetch::{FetchError, Fetcher, Validators};
use newsdesk::store::Store;
use std::sync::Arc;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn a_loopback_source_is_refused_without_a_connection() {
    let server = FixtureServer::start();
    server.set("/a.xml", Fixture::feed(rss("A", &[("1", "One", "https://a.example/1", common::hours_ago(3))])));
    let dir = tempfile::tempdir().unwrap();
    let port = server.addr.port();
    let text = format!(
        "[storage]\npath = \"data\"\n[[sources]]\nid = \"lit\"\nurl = \"http://127.0.0.1:{port}/a.xml\"\n[[sources]]\nid = \"name\"\nurl = \"http://localhost:{port}/a.xml\"\n[[sources]]\nid = \"num\"\nurl = \"http://2130706433:{port}/a.xml\"\n"
    );
    // `check` accepts these: where a name resolves is known only at fetch time.
    let config = config::load_str(&dir.path().join("c.toml"), &text).unwrap();
    assert!(!config.poll.allow_private);
    let desk = Arc::new(Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config.clone())).unwrap());
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let rt = rt();
    for source in &config.sources {
        let o = rt.block_on(refresh_source(&desk, &fetcher, source));
        assert_eq!(o.status, SourceStatus::Refused, "{}: {:?}", source.id, o.error);
        let err = o.error.unwrap();
        assert!(
            err.contains("127.0.0.1 is a loopback address") || err.contains("localhost is a loopback name"),
            "{err}"
        );
    }
    assert_eq!(server.count("/a.xml"), 0, "a refused source must not be contacted");
    assert_eq!(desk.store.source_state("lit").unwrap().unwrap().status, SourceStatus::Refused);
}

#[test]
fn a_redirect_to_a_private_address_is_refused() {
    let server = FixtureServer::start();
    let port = server.addr.port();
    server.set("/hop", Fixture::status(302).header("location", &format!("http://127.0.0.2:{port}/secret")));
    server.set("/v6", Fixture::status(301).header("location", &format!("http://[::ffff:127.0.0.1]:{port}/secret")));
    server.set("/secret", Fixture::feed(rss("S", &[])));
    let mut poll = config::Config::with_defaults(std::path::Path::new("/x/c.toml")).poll;
    poll.allow_private = false;
    // The fixture's own address is let through; every other private one is not.
    let fetcher = Fetcher::new(&poll).unwrap().allow_address("127.0.0.1".parse().unwrap());
    let rt = rt();
    for path in ["/hop", "/v6"] {
        let url = url::Url::parse(&server.url(path)).unwrap();
        match rt.block_on(fetcher.fetch(&url, &Validators::default())) {
            Err(FetchError::Refused(why)) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(server.count("/secret"), 0);
    assert_eq!(server.count("/hop"), 1);
}

#[test]
fn the_resolver_refuses_names_that_resolve_to_private_addresses() {
    use reqwest::dns::Resolve;
    let rt = rt();
    let name: reqwest::dns::Name = "localhost".parse().unwrap();
    let result = rt.block_on(newsdesk::poll::guard::GuardedResolver.resolve(name));
    let err = result.err().expect("localhost must not resolve through the guard").to_string();
    assert!(err.contains("resolves to") && err.contains("loopback"), "{err}");
}
