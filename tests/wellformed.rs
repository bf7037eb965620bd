//! Whatever a feed's fields hold, every republished RSS, Atom and OPML document
//! stays well-formed XML (and Atom valid against RFC 4287's schema): one
//! character XML 1.0 forbids used to make every merged feed unreadable.
//! Real parts: the fixture HTTP server, a fetch, a sled store, the publisher.

mod common;

use common::{desk, poll_config, rt, Fixture, FixtureServer};
use newsdesk::pipeline::refresh_source;
use newsdesk::poll::fetch::Fetcher;
use newsdesk::publish::{FeedName, Format, PageRequest, Publisher};
use proptest::prelude::*;
use quick_xml::events::Event;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The characters XML 1.0 forbids, for the strategies to favour.
const FORBIDDEN: &[char] =
    &['\0', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{e}', '\u{1b}', '\u{1f}', '\u{fffe}', '\u{ffff}'];

/// Whether XML 1.0 forbids `c` (its `Char` production), written out here
/// rather than borrowed from the code under test.
fn forbidden(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Text mixing what breaks XML: forbidden characters, references to them,
/// markup, entities, CDATA ends, any character at all.
fn field() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(FORBIDDEN).prop_map(String::from),
        3 => any::<char>().prop_map(String::from),
        2 => "[a-zA-Zé ]{1,8}",
        1 => Just("&#1;".to_string()),
        1 => Just("&#x1B;".to_string()),
        1 => Just("<b>".to_string()),
        1 => Just("]]>".to_string()),
        1 => Just("&amp;".to_string()),
        1 => Just("\"'<>&".to_string()),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
struct Fields {
    feed_title: String,
    title: String,
    summary: String,
    author: String,
    categories: Vec<String>,
    link: String,
    guid: String,
    language: String,
}

fn fields() -> impl Strategy<Value = Fields> {
    (field(), field(), field(), field(), proptest::collection::vec(field(), 0..3), field(), field(), field()).prop_map(
        |(feed_title, title, summary, author, categories, link, guid, language)| Fields {
            feed_title,
            title,
            summary,
            author,
            categories,
            link: format!("https://x.example/{link}"),
            guid,
            language,
        },
    )
}

#[derive(Debug, Clone, Copy)]
enum Input {
    Rss,
    Atom,
    Json,
}

/// `s` as XML text: markup escaped; a forbidden character as a character
/// reference (`refs`) or raw, as hostile feeds send both.
fn xml(s: &str, refs: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if refs && forbidden(c) => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn document(f: &Fields, input: Input, refs: bool) -> String {
    let x = |s: &str| xml(s, refs);
    let date = common::hours_ago_secs(1);
    match input {
        Input::Rss => format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{}</title><language>{}</language>\
             <item><guid>{}</guid><title>{}</title><link>{}</link><author>{}</author>{}<description>{}</description>\
             <pubDate>{}</pubDate></item></channel></rss>",
            x(&f.feed_title),
            x(&f.language),
            x(&f.guid),
            x(&f.title),
            x(&f.link),
            x(&f.author),
            f.categories.iter().map(|c| format!("<category>{}</category>", x(c))).collect::<String>(),
            x(&f.summary),
            common::rfc2822(date),
        ),
        Input::Atom => format!(
            "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\"><title>{}</title><id>f</id>\
             <entry><id>{}</id><title type=\"html\">{}</title><link href=\"{}\"/><author><name>{}</name></author>{}\
             <summary type=\"html\">{}</summary><updated>{}</updated></entry></feed>",
            x(&f.language),
            x(&f.feed_title),
            x(&f.guid),
            x(&f.title),
            x(&f.link),
            x(&f.author),
            f.categories.iter().map(|c| format!("<category term=\"{}\"/>", x(c))).collect::<String>(),
            x(&f.summary),
            rfc3339(date),
        ),
        Input::Json => serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "title": f.feed_title,
            "language": f.language,
            "items": [{
                "id": f.guid, "url": f.link, "title": f.title, "content_html": f.summary,
                "authors": [{"name": f.author}], "tags": f.categories, "date_published": rfc3339(date),
            }],
        })
        .to_string(),
    }
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Why `doc` is not well-formed XML 1.0, if it is not: quick-xml reads it to
/// the end (tags balanced), and no character nor character reference in it is
/// one XML forbids (quick-xml does not check those).
fn not_well_formed(doc: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(doc) {
        Ok(t) => t,
        Err(e) => return Some(format!("not UTF-8: {e}")),
    };
    if let Some(c) = text.chars().find(|c| forbidden(*c)) {
        return Some(format!("holds U+{:04X}", c as u32));
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Err(e) => return Some(format!("at {}: {e}", reader.buffer_position())),
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::GeneralRef(r)) => match r.resolve_char_ref() {
                Ok(Some(c)) if forbidden(c) => return Some(format!("&#{};", c as u32)),
                Err(e) => return Some(format!("reference: {e}")),
                _ => {}
            },
            Ok(Event::Eof) => return (depth > 0).then(|| "unclosed element".to_string()),
            Ok(_) => {}
        }
    }
}

/// xmllint's verdict (libxml2 is strict about characters), with the Atom
/// schema for Atom; `None` when it is happy or not installed.
fn xmllint(doc: &[u8], atom: bool) -> Option<String> {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/schema/atom.rng");
    let mut cmd = Command::new("xmllint");
    cmd.arg("--noout").arg("--nonet");
    if atom {
        cmd.arg("--relaxng").arg(schema);
    }
    let mut child = cmd.arg("-").stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().ok()?;
    child.stdin.take()?.write_all(doc).ok()?;
    let out = child.wait_with_output().ok()?;
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

fn have_xmllint() -> bool {
    Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Poll `doc` into a fresh store, publish, and return every RSS, Atom and
/// OPML document the site would serve, tag feeds included.
fn republished(server: &FixtureServer, path: &str, doc: String) -> Vec<(String, Vec<u8>)> {
    server.set(path, Fixture::feed(doc));
    let dir = tempfile::tempdir().unwrap();
    let config = poll_config(dir.path(), &[("src", server.url(path))], "");
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    rt().block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    let now = common::fixture_clock();
    let publisher = Publisher::new(desk.store.clone(), Arc::new(config), now).unwrap();
    publisher.publish_all(now).unwrap();
    let snapshot = publisher.snapshot();
    let mut out: Vec<(String, Vec<u8>)> = snapshot
        .files
        .iter()
        .filter(|(p, _)| p.ends_with(".rss") || p.ends_with(".atom") || p.as_str() == "/opml")
        .map(|(p, r)| (p.clone(), r.body.to_vec()))
        .collect();
    let all: serde_json::Value = serde_json::from_slice(&snapshot.files["/feeds/all.json"].body).unwrap();
    let tags =
        all["items"].as_array().into_iter().flatten().flat_map(|i| i["tags"].as_array().cloned().unwrap_or_default());
    for tag in tags.filter_map(|t| t.as_str().map(String::from)) {
        for format in [Format::Rss, Format::Atom] {
            let req = PageRequest { feed: FeedName::Tag(tag.clone()), format, limit: 50, lang: None, before: None };
            out.push((
                format!("tag {tag:?}.{}", format.ext()),
                publisher.render_page(&req, now).unwrap().body.to_vec(),
            ));
        }
    }
    out
}

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(36);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_entry_leaves_every_rss_and_atom_feed_well_formed(
        f in fields(),
        input in prop_oneof![Just(Input::Rss), Just(Input::Atom), Just(Input::Json)],
        refs in any::<bool>(),
    ) {
        static SERVER: std::sync::OnceLock<FixtureServer> = std::sync::OnceLock::new();
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let server = SERVER.get_or_init(FixtureServer::start);
        let path = format!("/f{}", CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let lint = have_xmllint();
        for (name, body) in republished(server, &path, document(&f, input, refs)) {
            let shown = String::from_utf8_lossy(&body);
            prop_assert!(not_well_formed(&body).is_none(), "{name}: {:?}\n{shown}", not_well_formed(&body));
            if lint {
                let verdict = xmllint(&body, name.ends_with(".atom"));
                prop_assert!(verdict.is_none(), "{name}: {}\n{shown}", verdict.unwrap_or_default());
            }
        }
    }
}

/// The defect as reported: a raw 0x01 and 0x1B in RSS, `&#1;` and a JSON
/// Feed "\u0001" in a title, summary, author, category and the feed's own
/// title left every RSS and Atom feed unreadable.
#[test]
fn control_characters_from_every_format_never_reach_a_feed() {
    let server = FixtureServer::start();
    let f = Fields {
        feed_title: "Wire\u{1}\u{1b} desk".into(),
        title: "Storm\u{1} &#1; hits\u{1b} coast".into(),
        summary: "<p>Rain\u{1}\u{ffff} and &#1; wind</p>".into(),
        author: "Jane\u{1b} Doe".into(),
        categories: vec!["Weather\u{1}".into()],
        link: "https://x.example/storm\u{1}".into(),
        guid: "g\u{1}1".into(),
        language: "en\u{1}".into(),
    };
    for (i, input) in [Input::Rss, Input::Atom, Input::Json].into_iter().enumerate() {
        for refs in [false, true] {
            let docs = republished(&server, &format!("/c{i}{refs}"), document(&f, input, refs));
            let all = &docs.iter().find(|(p, _)| p == "/feeds/all.rss").unwrap().1;
            assert!(String::from_utf8_lossy(all).contains("Storm hits coast"), "{input:?} {refs}: not stored");
            for (name, body) in docs {
                assert_eq!(not_well_formed(&body), None, "{input:?} {refs} {name}");
            }
        }
    }
}
