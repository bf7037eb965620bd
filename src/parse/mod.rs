//! feed-rs in, our own normalised item records out. Also identity: which stored
//! item a parsed entry is.

pub mod bounds;
pub mod decode;
pub mod identity;
pub mod normalize;
pub mod repair;

use crate::model::Timestamp;
pub use bounds::{Dropped, MAX_CATEGORIES, MAX_CATEGORY_CHARS};
use quick_xml::events::Event;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
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
    /// The entry's summary, else its content, as sanitised HTML on demand
    /// ([`Summary::html`]). Only this is republished, so full content is not
    /// kept separately.
    pub summary: Summary,
    pub author: Option<String>,
    pub categories: Vec<String>,
    pub language: Option<String>,
    /// The date the feed gave (published, else updated), untouched.
    pub feed_date: Option<Timestamp>,
}

/// An entry's summary as the feed gave it, sanitised when first asked for.
///
/// Sanitising (ammonia) is the dearest part of normalising, and most entries
/// of a re-polled document are items stored already and unchanged: ingest
/// recognises those by [`Summary::fingerprint`] and never sanitises them.
/// [`Summary::html`] is, for any input, what parsing produced when it
/// sanitised every summary eagerly.
#[derive(Clone, Default)]
pub struct Summary {
    /// The entry's summary: plain text (escaped, not parsed) or the lead of
    /// its HTML ([`normalize::summary_lead`]).
    summary: Option<(TextKind, String)>,
    /// The lead of the entry's text content: what is sanitised when the
    /// summary is missing or sanitises to nothing.
    content: Option<String>,
    /// What relative URLs resolve against.
    base: Option<Url>,
    /// The sanitised HTML, once asked for: see [`Summary::sanitised`].
    html: OnceLock<(String, bool)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextKind {
    Plain,
    Html,
}

impl Summary {
    /// The summary of an entry whose summary is `html` (any HTML, untrusted).
    pub fn from_html(html: &str, base: Option<&Url>) -> Summary {
        Summary::new(Some((TextKind::Html, normalize::summary_lead(html).into_owned())), None, base)
    }

    fn new(summary: Option<(TextKind, String)>, content: Option<String>, base: Option<&Url>) -> Summary {
        Summary { summary, content, base: base.cloned(), html: OnceLock::new() }
    }

    /// Sanitised HTML: the summary, else (when it is missing or sanitises to
    /// nothing) the content, else empty. Sanitised once, then kept.
    pub fn html(&self) -> &str {
        &self.sanitised().0
    }

    /// The sanitised HTML, and whether the summary did not give it (it came
    /// from the content, or is empty).
    fn sanitised(&self) -> &(String, bool) {
        self.html.get_or_init(|| {
            let base = self.base.as_ref();
            let from_summary = self
                .summary
                .as_ref()
                .map(|(kind, s)| match kind {
                    TextKind::Plain => html_escape_text(s),
                    TextKind::Html => normalize::sanitize_html(s, base),
                })
                .filter(|s| !s.is_empty());
            match from_summary {
                Some(html) => (html, false),
                None => (self.content.as_deref().map(|c| normalize::sanitize_html(c, base)).unwrap_or_default(), true),
            }
        })
    }

    /// A hash of what [`Summary::html`] was made from, to store beside it:
    /// the summary's text and kind, the base URL, [`normalize::SANITISER_VERSION`],
    /// and the content's text only when the HTML came from the content (the
    /// summary was missing or sanitised to nothing). Sanitises if that has not
    /// been done yet. Stored with each item (`Item::summary_source`), so it
    /// must not change from one release to the next for the same input:
    /// xxh3-64 over the version byte, then each part as a tag byte, its length
    /// (u64, little-endian) and its bytes: summary, base, then (if used) content.
    pub fn fingerprint(&self) -> u64 {
        let from_content = self.sanitised().1;
        let (summary_only, with_content) = self.hashes();
        if from_content {
            with_content
        } else {
            summary_only
        }
    }

    /// Whether HTML stored with `fingerprint` ([`Summary::fingerprint`]) is
    /// what [`Summary::html`] gives, found without sanitising.
    pub fn made_from(&self, fingerprint: u64) -> bool {
        let (summary_only, with_content) = self.hashes();
        (self.summary.is_some() && fingerprint == summary_only) || fingerprint == with_content
    }

    /// The fingerprint of HTML made from the summary, and of HTML made from the content.
    fn hashes(&self) -> (u64, u64) {
        fn part(h: &mut xxhash_rust::xxh3::Xxh3Default, tag: u8, bytes: &[u8]) {
            h.update(&[tag]);
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let mut h = xxhash_rust::xxh3::Xxh3Default::new();
        h.update(&[normalize::SANITISER_VERSION]);
        match &self.summary {
            Some((TextKind::Plain, s)) => part(&mut h, b'p', s.as_bytes()),
            Some((TextKind::Html, s)) => part(&mut h, b'h', s.as_bytes()),
            None => part(&mut h, b'-', b""),
        }
        match &self.base {
            Some(b) => part(&mut h, b'b', b.as_str().as_bytes()),
            None => part(&mut h, b'-', b""),
        }
        let summary_only = h.digest();
        match &self.content {
            Some(c) => part(&mut h, b'c', c.as_bytes()),
            None => part(&mut h, b'-', b""),
        }
        (summary_only, h.digest())
    }
}

/// Equal when the sanitised HTML is (as when the field was that HTML).
impl PartialEq for Summary {
    fn eq(&self, other: &Summary) -> bool {
        self.html() == other.html()
    }
}

impl std::fmt::Debug for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Summary").field(&self.html()).finish()
    }
}

/// The lead of `s` as [`normalize::summary_lead`] makes it, reusing `s` when
/// that is `s` itself (most summaries: short, nothing to trim).
fn lead_of(s: String) -> String {
    match normalize::summary_lead(&s) {
        std::borrow::Cow::Borrowed(lead) if lead.len() == s.len() => s,
        lead => lead.into_owned(),
    }
}

/// A parsed, normalised document.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub title: Option<String>,
    pub language: Option<String>,
    /// RSS `<ttl>` in minutes.
    pub ttl: Option<u32>,
    pub entries: Vec<Entry>,
    /// Fields over their bound ([`bounds`]), dropped: the caller, who knows
    /// the source, logs them once.
    pub dropped: Dropped,
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
    let (feed, repaired_doc) = match parse(&prepared) {
        Ok(feed) if !feed.entries.is_empty() => (feed, None),
        first => {
            let repaired_doc = repair::repair(&prepared);
            match repaired_doc.as_deref().map(parse) {
                Some(Ok(repaired)) if first.is_err() || !repaired.entries.is_empty() => (repaired, repaired_doc),
                _ => (first?, None),
            }
        }
    };
    let subjects = dc_subjects(repaired_doc.as_deref().unwrap_or(&prepared));
    let mut feed = normalise(feed, base);
    // Subjects are added only when the scan saw exactly the entries feed-rs
    // did, so that no entry gets another's.
    if let Some(subjects) = subjects.filter(|s| s.len() == feed.entries.len()) {
        for (entry, subjects) in feed.entries.iter_mut().zip(subjects) {
            for name in subjects {
                add_category(&mut entry.categories, normalize::plain_text(&name), &mut feed.dropped);
            }
        }
    }
    Ok(feed)
}

/// Add a category unless it is empty, already there, or over a bound
/// ([`MAX_CATEGORIES`], [`MAX_CATEGORY_CHARS`]): those two are tallied.
fn add_category(categories: &mut Vec<String>, name: String, dropped: &mut Dropped) {
    if name.is_empty() || categories.iter().any(|x| x.eq_ignore_ascii_case(&name)) {
        return;
    }
    if categories.len() >= MAX_CATEGORIES || name.chars().count() > MAX_CATEGORY_CHARS {
        dropped.categories += 1;
        return;
    }
    categories.push(name);
}

/// The Dublin Core subjects (`dc:subject`) of each item of an RSS 1.0 or 2.0
/// document, in document order: feeds (RSS 1.0 ones above all) file their items
/// with them as others do with `<category>`, and feed-rs does not read them.
/// `None` when the document has none or cannot be read to the end. A cheap
/// pull scan, no entity expansion, run only on documents that mention the
/// Dublin Core namespace and a subject.
fn dc_subjects(doc: &[u8]) -> Option<Vec<Vec<String>>> {
    if memchr::memmem::find(doc, b"subject").is_none()
        || memchr::memmem::find(doc, b"purl.org/dc/elements/1.1").is_none()
    {
        return None;
    }
    // Text is not trimmed piecewise (an entity splits it); the whole subject is.
    let mut reader = quick_xml::Reader::from_reader(doc);
    let (mut items, mut found) = (Vec::new(), false);
    // Depth inside the current item (0: outside), and the subject being read.
    let mut depth = 0usize;
    let mut subject: Option<String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                if depth > 0 {
                    depth += 1;
                    // A prefixed `subject` (dc:subject): RSS itself has no such element.
                    if depth == 2 && e.local_name().as_ref() == "subject" && e.name().prefix().is_some() {
                        subject = Some(String::new());
                    }
                } else if e.local_name().as_ref() == "item" {
                    depth = 1;
                    items.push(Vec::new());
                }
            }
            Event::End(_) if depth > 0 => {
                if depth == 2 {
                    if let (Some(s), Some(item)) = (subject.take(), items.last_mut()) {
                        found = true;
                        item.push(s);
                    }
                }
                depth -= 1;
            }
            Event::Text(t) => {
                if let Some(s) = subject.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::CData(t) => {
                if let Some(s) = subject.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(s) = subject.as_mut() {
                    let c = match &*r {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => r.resolve_char_ref().ok().flatten(),
                    };
                    s.extend(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found.then_some(items)
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
    let language = feed.language.as_deref().and_then(normalise_language);
    let mut dropped = Dropped::default();
    let entries = feed.entries.into_iter().map(|e| entry(e, base, &mut dropped)).collect();
    let title = feed.title.map(|t| normalize::plain_text(&t.content)).filter(|t| !t.is_empty());
    let title = title.filter(|t| {
        let fits = t.chars().count() <= bounds::MAX_SOURCE_TITLE_CHARS;
        dropped.feed_title |= !fits;
        fits
    });
    Feed { title, language, ttl: feed.ttl, entries, dropped }
}

/// The primary subtag of a language tag ("en-GB" → "en"), when it is one:
/// two to eight ASCII letters (BCP 47), so that nothing else from the feed
/// rides along into the `language` of every output.
fn normalise_language(l: &str) -> Option<String> {
    let primary = l.trim().split(['-', '_']).next()?;
    let valid = (2..=8).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    valid.then(|| primary.to_ascii_lowercase())
}

/// The entry's link: its first alternate (else any) link that canonicalises
/// within [`bounds::MAX_LINK_BYTES`]; one over it is tallied.
fn entry_link(links: &[feed_rs::model::Link], base: Option<&Url>, dropped: &mut Dropped) -> Option<String> {
    let mut over = false;
    let link = links.iter().filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate")).chain(links).find_map(|l| {
        if l.href.trim().len() > bounds::MAX_LINK_INPUT_BYTES {
            over = true;
            return None;
        }
        let link = normalize::canonical_link(&l.href, base)?;
        over |= link.len() > bounds::MAX_LINK_BYTES;
        Some(link).filter(|l| l.len() <= bounds::MAX_LINK_BYTES)
    });
    dropped.links += u32::from(over);
    link
}

/// The entry's first named author within [`bounds::MAX_AUTHOR_CHARS`]; one
/// over it is tallied.
fn entry_author(authors: &[feed_rs::model::Person], dropped: &mut Dropped) -> Option<String> {
    let mut over = false;
    let author = authors.iter().find_map(|p| {
        // "e-mail (Name)" and "e-mail — Name" leave the separator on the name.
        let name = normalize::plain_text(p.name.as_deref()?);
        let name = name.trim_matches(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '—' | '–' | '-' | ','));
        over |= name.chars().count() > bounds::MAX_AUTHOR_CHARS;
        Some(name.to_string()).filter(|n| !n.is_empty() && n.chars().count() <= bounds::MAX_AUTHOR_CHARS)
    });
    dropped.authors += u32::from(over);
    author
}

/// The entry's guid, trimmed, unless empty or over [`bounds::MAX_GUID_BYTES`] (tallied).
fn entry_guid(id: &str, dropped: &mut Dropped) -> Option<String> {
    let id = id.trim();
    if id.len() > bounds::MAX_GUID_BYTES {
        dropped.guids += 1;
        return None;
    }
    Some(id.to_string()).filter(|g| !g.is_empty())
}

fn entry(e: feed_rs::model::Entry, base: Option<&Url>, dropped: &mut Dropped) -> Entry {
    let entry_base = e.base.as_deref().and_then(|b| match base {
        Some(base) => base.join(b).ok(),
        None => Url::parse(b).ok(),
    });
    let base = entry_base.as_ref().or(base);
    let link = entry_link(&e.links, base, dropped);
    let title = e.title.map(|t| normalize::plain_text(&t.content)).unwrap_or_default();
    // Sanitised later, and only if needed (see `Summary`): here only cut to
    // what will be sanitised.
    let summary = e.summary.map(|s| {
        if s.content_type.subty() == "plain" && !s.content.contains('<') {
            (TextKind::Plain, s.content.trim().to_string())
        } else {
            (TextKind::Html, lead_of(s.content))
        }
    });
    // Only text content: base64 typed `application/octet-stream` (or any
    // other binary type) is not a summary.
    let content = e
        .content
        .filter(|c| {
            let ty = c.content_type.ty().as_str();
            let sub = c.content_type.subty().as_str();
            ty == "text" || sub.contains("html") || sub.contains("xml")
        })
        .and_then(|c| c.body)
        .map(lead_of);
    let summary = Summary::new(summary, content, base);
    let author = entry_author(&e.authors, dropped);
    let mut categories: Vec<String> = Vec::new();
    for c in &e.categories {
        add_category(&mut categories, normalize::plain_text(c.label.as_deref().unwrap_or(&c.term)), dropped);
    }
    let guid = entry_guid(&e.id, dropped);
    Entry {
        guid,
        title,
        link,
        summary,
        author,
        categories,
        language: e.language.as_deref().and_then(normalise_language),
        feed_date: e.published.or(e.updated).map(|d| d.timestamp()).filter(|t| *t >= EARLIEST_PLAUSIBLE_DATE),
    }
}

/// 1990-01-01: a feed date before the web (year 0, the Unix epoch of an unset
/// field, a negative year) is a broken field, not an old item, and is treated
/// as no date (the item is dated when first seen) rather than expired by
/// retention. Future dates are the pipeline's business (it clamps them).
pub const EARLIEST_PLAUSIBLE_DATE: Timestamp = 631_152_000;

/// Plain text placed into an HTML field, without the characters XML forbids.
fn html_escape_text(s: &str) -> String {
    crate::xmlchars::strip(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
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
        assert_eq!((octet.entries[0].summary.html(), octet.entries[1].summary.html()), ("", "Plain summary."));
    }

    #[test]
    fn entities_are_never_expanded() {
        let laughs = hostile("billion-laughs.xml");
        assert!(!laughs.entries[0].title.contains("lollol") && !laughs.entries[0].summary.html().contains("lollol"));
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

    #[test]
    fn dublin_core_subjects_become_categories() {
        // RSS 1.0: items beside the channel, subjects only in Dublin Core.
        let rdf = r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://wire.example/"><title>Wire</title><link>https://wire.example/</link>
    <description>d</description><dc:subject>Channel-wide</dc:subject></channel>
  <item rdf:about="https://wire.example/1"><title>Port strike ends</title><link>https://wire.example/1</link>
    <dc:subject>Economía</dc:subject><dc:subject>Trade &amp; Ports</dc:subject></item>
  <item rdf:about="https://wire.example/2"><title>Cup final tonight</title><link>https://wire.example/2</link></item>
  <item rdf:about="https://wire.example/3"><title>Rain at last</title><link>https://wire.example/3</link>
    <dc:subject><![CDATA[Weather]]></dc:subject></item>
</rdf:RDF>"#;
        let feed = parse_feed(rdf.as_bytes(), None).unwrap();
        let cats: Vec<Vec<&str>> =
            feed.entries.iter().map(|e| e.categories.iter().map(String::as_str).collect()).collect();
        assert_eq!(cats, [vec!["Economía", "Trade & Ports"], vec![], vec!["Weather"]]);

        // RSS 2.0: with <category> too, the same name is not added twice.
        let rss = br#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>
            <item><guid>1</guid><title>A</title><category>Sport</category><dc:subject>sport</dc:subject>
            <dc:subject>Football</dc:subject></item></channel></rss>"#;
        let feed = parse_feed(rss, None).unwrap();
        assert_eq!(feed.entries[0].categories, ["Sport", "Football"]);
    }

    #[test]
    fn categories_are_bounded() {
        let cats: String = (0..5000).map(|i| format!("<category>topic {i}</category>")).collect();
        let long = format!("<category>{}</category>", "word ".repeat(100));
        let doc = format!(
            r#"<rss version="2.0"><channel><title>T</title><item><guid>1</guid><title>A</title>{long}{cats}</item></channel></rss>"#
        );
        let feed = parse_feed(doc.as_bytes(), None).unwrap();
        let got = &feed.entries[0].categories;
        assert_eq!(got.len(), MAX_CATEGORIES);
        assert_eq!(got[0], "topic 0", "an over-long name is dropped, not cut");
    }

    /// `normalize::summary_html` as it was before its lead was split out: a
    /// frozen copy, the reference the deferred summaries are checked against,
    /// so it must not be replaced by a call to `normalize::summary_lead`.
    fn summary_html_before(s: &str, base: Option<&Url>) -> String {
        let s = s.trim();
        if s.len() <= normalize::MAX_SUMMARY_BYTES {
            return normalize::sanitize_html(s, base);
        }
        let mut cut = normalize::MAX_SUMMARY_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut lead = &s[..cut];
        if let Some(open) = lead.rfind('<') {
            if lead[open..].find('>').is_none() {
                lead = &lead[..open];
            }
        }
        if let Some(space) = lead.rfind(char::is_whitespace) {
            if space > lead.len() / 2 {
                lead = &lead[..space];
            }
        }
        normalize::sanitize_html(&format!("{lead} …"), base)
    }

    /// The summary as parsing made it when it sanitised every entry's at once
    /// (the code as it was), from feed-rs's own entry.
    fn eager_summary(e: feed_rs::model::Entry, base: Option<&Url>) -> String {
        e.summary
            .map(|s| {
                if s.content_type.subty() == "plain" && !s.content.contains('<') {
                    html_escape_text(s.content.trim())
                } else {
                    summary_html_before(&s.content, base)
                }
            })
            .filter(|s| !s.is_empty())
            .or_else(|| {
                e.content
                    .filter(|c| {
                        let ty = c.content_type.ty().as_str();
                        let sub = c.content_type.subty().as_str();
                        ty == "text" || sub.contains("html") || sub.contains("xml")
                    })
                    .and_then(|c| c.body)
                    .map(|b| summary_html_before(&b, base))
            })
            .unwrap_or_default()
    }

    fn xml_escape(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    }

    /// An Atom document of one entry with this summary and content (`None`: no such element).
    fn atom(summary: Option<(&str, &str)>, content: Option<(&str, &str)>) -> String {
        let el = |name: &str, v: Option<(&str, &str)>| {
            v.map(|(ty, text)| format!("<{name} type=\"{ty}\">{}</{name}>", xml_escape(text))).unwrap_or_default()
        };
        format!(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>T</title><id>f</id><entry><id>e1</id><title>A</title>{}{}</entry></feed>",
            el("summary", summary),
            el("content", content)
        )
    }

    fn only_summary(doc: &str, base: Option<&Url>) -> Summary {
        let mut feed = parse_feed(doc.as_bytes(), base).unwrap();
        assert_eq!(feed.entries.len(), 1, "{doc}");
        feed.entries.remove(0).summary
    }

    /// HTML-ish text: tags the sanitiser keeps, drops or empties, entities,
    /// relative and hostile links, white space, text; `repeat` makes some
    /// longer than the lead that is kept.
    fn htmlish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop_oneof![
            Just("<p>"),
            Just("</p>"),
            Just("<b>"),
            Just("</b>"),
            Just("<a href=\"/rel/x\">"),
            Just("<a href=\"javascript:alert(1)\">"),
            Just("</a>"),
            Just("<script>"),
            Just("</script>"),
            Just("<img src=\"data:x\">"),
            Just("<br/>"),
            Just("&amp;"),
            Just("&lt;"),
            Just("&nbsp;"),
            Just("&#160;"),
            Just("\u{a0}"),
            Just("<"),
            Just(">"),
            Just("&"),
            Just(" "),
            Just("\n"),
            Just("word"),
            Just("palabra é ñ"),
            Just("كلمة"),
            Just("\u{feff}"),
        ];
        (proptest::collection::vec(token, 0..40), 1usize..4, proptest::bool::weighted(0.1)).prop_map(|(t, n, long)| {
            let s: String = t.concat();
            if long {
                s.repeat(n * 4096 / s.len().max(1) + 1)
            } else {
                s.repeat(n)
            }
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Sanitising on demand gives, byte for byte, what sanitising while
        /// parsing gave, for summaries and contents of every type; the
        /// fingerprint of what it was made from recognises it.
        #[test]
        fn deferred_summaries_are_the_eager_ones(
            summary in proptest::option::of((proptest::sample::select(vec!["text", "html"]), htmlish())),
            content in proptest::option::of((proptest::sample::select(vec!["text", "html", "xhtml"]), htmlish())),
            with_base in proptest::bool::ANY,
        ) {
            // xhtml content is XML: only as text here.
            let content = content.map(|(ty, c)| if ty == "xhtml" { ("text", c) } else { (ty, c) });
            let base = Url::parse("https://site.example/feed/").ok().filter(|_| with_base);
            let doc = atom(summary.as_ref().map(|(t, s)| (*t, s.as_str())), content.as_ref().map(|(t, c)| (*t, c.as_str())));
            let deferred = only_summary(&doc, base.as_ref());
            let parser = feed_rs::parser::Builder::new()
                .base_uri(base.as_ref().map(Url::as_str))
                .id_generator(|_, _, _| String::new())
                .build();
            let raw = parser.parse(doc.as_bytes()).unwrap().entries.remove(0);
            let fingerprint = deferred.fingerprint();
            proptest::prop_assert_eq!(deferred.html(), eager_summary(raw, base.as_ref()));
            proptest::prop_assert!(deferred.made_from(fingerprint));
            // Parsed again (a re-poll): the same fingerprint, recognised unsanitised.
            let again = only_summary(&doc, base.as_ref());
            proptest::prop_assert!(again.made_from(fingerprint));
            proptest::prop_assert!(again.html.get().is_none());
        }
    }

    #[test]
    fn the_fingerprint_follows_what_the_html_is_made_from() {
        let base = Url::parse("https://site.example/feed/").unwrap();
        let other_base = Url::parse("https://mirror.example/feed/").unwrap();
        let fp = |doc: &str, base: &Url| only_summary(doc, Some(base)).fingerprint();
        let made = |doc: &str, base: &Url, f: u64| only_summary(doc, Some(base)).made_from(f);
        let a = atom(Some(("html", "<p>A <a href=\"/x\">link</a></p>")), Some(("html", "<p>Body one</p>")));
        let f = fp(&a, &base);
        assert!(made(&a, &base, f));
        // The summary gives the HTML: a change to the content alone is not a change.
        let a2 = atom(Some(("html", "<p>A <a href=\"/x\">link</a></p>")), Some(("html", "<p>Body two</p>")));
        assert!(made(&a2, &base, f));
        // Its text, its kind or the base URL (relative links) is.
        assert!(!made(&atom(Some(("html", "<p>B <a href=\"/x\">link</a></p>")), None), &base, f));
        assert!(!made(&a, &other_base, f));
        let plain = atom(Some(("text", "A &amp; B")), None);
        assert!(!made(&atom(Some(("html", "A &amp; B")), None), &base, fp(&plain, &base)));
        assert!(made(&plain, &base, fp(&plain, &base)));

        // A summary that sanitises to nothing: the content gives the HTML, so its changes count.
        let c = atom(Some(("html", "<script>x()</script>")), Some(("html", "<p>Body one</p>")));
        let c2 = atom(Some(("html", "<script>x()</script>")), Some(("html", "<p>Body two</p>")));
        assert_eq!(only_summary(&c, Some(&base)).html(), "<p>Body one</p>");
        let f = fp(&c, &base);
        assert!(made(&c, &base, f) && !made(&c2, &base, f));
        assert!(!made(&atom(Some(("html", "<style>x</style>")), Some(("html", "<p>Body one</p>"))), &base, f));
        // No summary at all.
        let n = atom(None, Some(("html", "<p>Body one</p>")));
        let f = fp(&n, &base);
        assert!(made(&n, &base, f) && !made(&atom(None, Some(("html", "<p>Body two</p>"))), &base, f));
        assert!(!made(&c, &base, f), "a summary where there was none");
    }

    /// Stored with every item: the same input must give the same fingerprint
    /// in every release (changing it would make every stored item sanitised
    /// again once, not wrong, but it should be deliberate: see SANITISER_VERSION).
    #[test]
    fn fingerprints_are_stable_across_releases() {
        let base = Url::parse("https://site.example/feed/").unwrap();
        let text = "<p>Stable <b>text</b></p>";
        let s = Summary::from_html(text, Some(&base));
        // The layout its documentation gives, hashed in one piece.
        let mut layout = vec![normalize::SANITISER_VERSION, b'h'];
        layout.extend((text.len() as u64).to_le_bytes());
        layout.extend(text.as_bytes());
        layout.push(b'b');
        layout.extend((base.as_str().len() as u64).to_le_bytes());
        layout.extend(base.as_str().as_bytes());
        assert_eq!(s.fingerprint(), xxhash_rust::xxh3::xxh3_64(&layout));
        assert_eq!(format!("{:016x}", s.fingerprint()), "d734239494883352");
        assert_eq!(s.html(), text);
    }
}
