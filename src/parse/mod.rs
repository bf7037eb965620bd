//! feed-rs in, our own normalised item records out. Also identity: which stored
//! item a parsed entry is.

pub mod decode;
pub mod identity;
pub mod normalize;
pub mod repair;

use crate::model::Timestamp;
use std::panic::{catch_unwind, AssertUnwindSafe};
use url::Url;

/// Why a document could not be read as a feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("empty document")]
    Empty,
    #[error("the feed parser crashed on this document ({0})")]
    Panicked(String),
}

/// One entry, normalised but not yet identified or clustered.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub guid: Option<String>,
    pub title: String,
    pub link: Option<String>,
    /// Sanitised HTML: the entry's summary, else its content. Only this is
    /// republished, so full content is not kept separately.
    pub summary: String,
    pub author: Option<String>,
    pub categories: Vec<String>,
    pub language: Option<String>,
    /// The date the feed gave (published, else updated), untouched.
    pub feed_date: Option<Timestamp>,
}

/// A parsed, normalised document.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub title: Option<String>,
    pub language: Option<String>,
    /// RSS `<ttl>` in minutes.
    pub ttl: Option<u32>,
    pub entries: Vec<Entry>,
}

/// Parse a document's raw bytes. `base` is where it came from (for relative links).
/// Never panics: a panic inside feed-rs becomes [`ParseError::Panicked`].
/// A document feed-rs refuses, crashes on or finds empty gets one second try
/// after [`repair::repair`]; the first error is reported if that fails too.
pub fn parse_feed(bytes: &[u8], base: Option<&Url>) -> Result<Feed, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let prepared = decode::prepare(bytes);
    // A fresh parser per attempt: feed-rs keeps state in it that an error or
    // a panic leaves behind (a second parse then trips over its own assertion).
    let parse = |doc: &[u8]| {
        let parser = feed_rs::parser::Builder::new()
            .base_uri(base.map(Url::as_str))
            // feed-rs invents random ids for entries without one: we want to know.
            .id_generator(|_, _, _| String::new())
            .build();
        guarded(|| parser.parse(doc))
    };
    let feed = match parse(&prepared) {
        Ok(feed) if !feed.entries.is_empty() => feed,
        first => match repair::repair(&prepared).map(|doc| parse(&doc)) {
            Some(Ok(repaired)) if first.is_err() || !repaired.entries.is_empty() => repaired,
            _ => first?,
        },
    };
    Ok(normalise(feed, base))
}

/// Run feed-rs, turning an error or a panic into a [`ParseError`]. The panic's
/// default message on stderr is held back: the caller logs one line instead.
fn guarded(
    parse: impl FnOnce() -> Result<feed_rs::model::Feed, feed_rs::parser::ParseFeedError>,
) -> Result<feed_rs::model::Feed, ParseError> {
    quiet_parser_panics();
    IN_PARSER.with(|q| q.set(true));
    let result = catch_unwind(AssertUnwindSafe(parse));
    IN_PARSER.with(|q| q.set(false));
    match result {
        Ok(Ok(feed)) => Ok(feed),
        Ok(Err(e)) => Err(ParseError::NotAFeed(e.to_string())),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            let at = PANIC_AT.with(|p| p.take()).map(|l| format!(" at {l}")).unwrap_or_default();
            Err(ParseError::Panicked(format!("{why}{at}")))
        }
    }
}

thread_local! {
    static IN_PARSER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Wrap the process's panic hook once: a panic inside feed-rs on this thread
/// records where it happened and prints nothing; every other panic goes to the
/// hook that was there before.
fn quiet_parser_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PARSER.with(|q| q.get()) {
                let at = info.location().map(|l| format!("{}:{}", l.file().rsplit('/').next().unwrap_or(""), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

fn normalise(feed: feed_rs::model::Feed, base: Option<&Url>) -> Feed {
    let feed_base = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| Url::parse(&l.href).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let base = base.filter(|u| matches!(u.scheme(), "http" | "https")).or(feed_base.as_ref());
    let language = feed.language.as_deref().map(normalise_language).filter(|l| !l.is_empty());
    let entries = feed.entries.into_iter().map(|e| entry(e, base)).collect();
    Feed {
        title: feed.title.map(|t| normalize::plain_text(&t.content)).filter(|t| !t.is_empty()),
        language,
        ttl: feed.ttl,
        entries,
    }
}

fn normalise_language(l: &str) -> String {
    l.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase()
}

fn entry(e: feed_rs::model::Entry, base: Option<&Url>) -> Entry {
    let entry_base = e.base.as_deref().and_then(|b| match base {
        Some(base) => base.join(b).ok(),
        None => Url::parse(b).ok(),
    });
    let base = entry_base.as_ref().or(base);
    let link = e
        .links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .chain(e.links.iter())
        .find_map(|l| normalize::canonical_link(&l.href, base));
    let title = e.title.map(|t| normalize::plain_text(&t.content)).unwrap_or_default();
    let summary = e
        .summary
        .map(|s| {
            if s.content_type.subty() == "plain" && !s.content.contains('<') {
                html_escape_text(s.content.trim())
            } else {
                normalize::summary_html(&s.content, base)
            }
        })
        .filter(|s| !s.is_empty())
        .or_else(|| {
            // Only text content: base64 typed `application/octet-stream` (or any
            // other binary type) is not a summary.
            e.content
                .filter(|c| {
                    let ty = c.content_type.ty().as_str();
                    let sub = c.content_type.subty().as_str();
                    ty == "text" || sub.contains("html") || sub.contains("xml")
                })
                .and_then(|c| c.body)
                .map(|b| normalize::summary_html(&b, base))
        })
        .unwrap_or_default();
    // "e-mail (Name)" and "e-mail — Name" leave the separator on the name.
    let author = e.authors.iter().find_map(|p| {
        p.name
            .as_deref()
            .map(normalize::plain_text)
            .map(|n| {
                n.trim_matches(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '—' | '–' | '-' | ','))
                    .to_string()
            })
            .filter(|n| !n.is_empty())
    });
    let mut categories: Vec<String> = Vec::new();
    for c in &e.categories {
        let name = normalize::plain_text(c.label.as_deref().unwrap_or(&c.term));
        if !name.is_empty() && !categories.iter().any(|x| x.eq_ignore_ascii_case(&name)) {
            categories.push(name);
        }
    }
    let guid = Some(e.id.trim().to_string()).filter(|g| !g.is_empty());
    Entry {
        guid,
        title,
        link,
        summary,
        author,
        categories,
        language: e.language.as_deref().map(normalise_language).filter(|l| !l.is_empty()),
        feed_date: e.published.or(e.updated).map(|d| d.timestamp()).filter(|t| *t >= EARLIEST_PLAUSIBLE_DATE),
    }
}

/// 1990-01-01: a feed date before the web (year 0, the Unix epoch of an unset
/// field, a negative year) is a broken field, not an old item, and is treated
/// as no date (the item is dated when first seen) rather than expired by
/// retention. Future dates are the pipeline's business (it clamps them).
pub const EARLIEST_PLAUSIBLE_DATE: Timestamp = 631_152_000;

/// Plain text placed into an HTML field.
fn html_escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_without_guid_have_none() {
        let doc = br#"<rss version="2.0"><channel><title>T</title>
            <item><title>A</title><link>https://x.example/a?utm_source=q</link></item>
            <item><title>B</title></item></channel></rss>"#;
        let feed = parse_feed(doc, None).unwrap();
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(feed.entries[0].guid, None);
        assert_eq!(feed.entries[0].link.as_deref(), Some("https://x.example/a"));
        assert_eq!(feed.entries[1].link, None);
    }

    #[test]
    fn rss_with_odd_or_no_version_is_read_as_2_0() {
        for root in
            ["<rss>", "<rss version=\"0.93\">", "<rss version='2.0.1' xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"]
        {
            let doc = format!("<?xml version=\"1.0\"?>{root}<channel><title>T</title><item><title>A</title><guid>1</guid></item></channel></rss>");
            let feed = parse_feed(doc.as_bytes(), None).unwrap_or_else(|e| panic!("{root}: {e}"));
            assert_eq!(feed.entries.len(), 1, "{root}");
        }
    }

    fn hostile(name: &str) -> Feed {
        let path = format!("{}/tests/data/hostile/{name}", env!("CARGO_MANIFEST_DIR"));
        parse_feed(&std::fs::read(&path).unwrap(), None).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn documents_feed_rs_refuses_or_empties_are_recovered() {
        let authors: Vec<_> =
            hostile("authors.xml").entries.into_iter().map(|e| e.author.unwrap_or_default()).collect();
        assert_eq!(authors, ["Jane Doe", "Ali Hassan", "María López — Corresponsal", "Desk—Team"]);
        assert_eq!(hostile("media-group-empty-description.xml").entries.len(), 2);
        assert_eq!(hostile("rss-media-group-empty-description.xml").entries.len(), 1);
        let ninety = hostile("rss-090.xml");
        assert_eq!(ninety.entries.len(), 2);
        assert_eq!(ninety.entries[1].link.as_deref(), Some("https://h.example/090/2"));
        let json = hostile("jsonfeed-wrong-types.json");
        let ids: Vec<_> = json.entries.iter().map(|e| e.guid.clone().unwrap_or_default()).collect();
        assert_eq!(ids, ["1001", "jw-2", "jw-3", "jw-4"]);
        assert_eq!(json.entries[1].title, "Hostile jsonwrong item 2");
        assert_eq!(hostile("jsonfeed-items-not-array.json").entries.len(), 1);
        // Base64 typed application/octet-stream is not a summary.
        let octet = hostile("atom-octet-stream.xml");
        assert_eq!((octet.entries[0].summary.as_str(), octet.entries[1].summary.as_str()), ("", "Plain summary."));
    }

    #[test]
    fn entities_are_never_expanded() {
        let laughs = hostile("billion-laughs.xml");
        assert!(!laughs.entries[0].title.contains("lollol") && !laughs.entries[0].summary.contains("lollol"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_feed(b"<html><body>hi</body></html>", None).is_err());
        assert!(matches!(parse_feed(b"  ", None), Err(ParseError::Empty)));
        assert!(parse_feed(b"\xff\xfe\x00garbage", None).is_err());
    }

    #[test]
    fn relative_links_resolve_against_the_feed_url() {
        let doc = br#"<rss version="2.0"><channel><title>T</title>
            <item><guid>1</guid><title>A</title><link>/news/1</link></item></channel></rss>"#;
        let base = Url::parse("https://site.example/rss.xml").unwrap();
        let feed = parse_feed(doc, Some(&base)).unwrap();
        assert_eq!(feed.entries[0].link.as_deref(), Some("https://site.example/news/1"));
    }
}
