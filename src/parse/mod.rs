//! feed-rs in, our own normalised item records out. Also identity: which stored
//! item a parsed entry is.

pub mod decode;
pub mod identity;
pub mod normalize;

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
pub fn parse_feed(bytes: &[u8], base: Option<&Url>) -> Result<Feed, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let prepared = decode::prepare(bytes);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base.map(Url::as_str))
        // feed-rs invents random ids for entries without one: we want to know.
        .id_generator(|_, _, _| String::new())
        .build();
    let mut result = catch_unwind(AssertUnwindSafe(|| parser.parse(&prepared[..])));
    // feed-rs knows `<rss>` only as 0.91, 0.92 and 2.0; readers treat the rest
    // (no version, 0.93, 0.94, 2.0.1, ...) as RSS 2.0, and so do we.
    if let Ok(Err(feed_rs::parser::ParseFeedError::ParseError(_))) = &result {
        if let Some(repaired) = repair_rss_version(&prepared) {
            result = catch_unwind(AssertUnwindSafe(|| parser.parse(&repaired[..])));
        }
    }
    let feed = match result {
        Ok(Ok(feed)) => feed,
        Ok(Err(e)) => return Err(ParseError::NotAFeed(e.to_string())),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            return Err(ParseError::Panicked(why));
        }
    };
    Ok(normalise(feed, base))
}

/// The document with its `<rss>` root's version set to 2.0, if it has such a
/// root with another (or no) version.
fn repair_rss_version(doc: &[u8]) -> Option<Vec<u8>> {
    let start = doc.windows(4).position(|w| w == b"<rss")?;
    let after = *doc.get(start + 4)?;
    if !(after.is_ascii_whitespace() || after == b'>' || after == b'/') {
        return None;
    }
    let end = start + doc[start..].iter().position(|b| *b == b'>')?;
    let tag = std::str::from_utf8(&doc[start + 4..end]).ok()?;
    let mut attrs = String::new();
    let mut rest = tag;
    // Copy every attribute but `version`.
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim();
        let value_start = rest[eq + 1..].find(['"', '\''])? + eq + 1;
        let quote = rest.as_bytes()[value_start] as char;
        let value_end = rest[value_start + 1..].find(quote)? + value_start + 1;
        if name != "version" {
            attrs.push(' ');
            attrs.push_str(name);
            attrs.push('=');
            attrs.push_str(&rest[value_start..=value_end]);
        }
        rest = &rest[value_end + 1..];
    }
    if tag.contains("version=\"2.0\"") || tag.contains("version='2.0'") {
        return None;
    }
    let closing = if rest.trim_end().ends_with('/') { "/" } else { "" };
    let mut out = Vec::with_capacity(doc.len() + 16);
    out.extend_from_slice(&doc[..start]);
    out.extend_from_slice(format!("<rss version=\"2.0\"{attrs}{closing}").as_bytes());
    out.extend_from_slice(&doc[end..]);
    Some(out)
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
        .or_else(|| e.content.and_then(|c| c.body).map(|b| normalize::summary_html(&b, base)))
        .unwrap_or_default();
    let author = e.authors.iter().find_map(|p| p.name.as_deref().map(normalize::plain_text).filter(|n| !n.is_empty()));
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
        feed_date: e.published.or(e.updated).map(|d| d.timestamp()),
    }
}

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
