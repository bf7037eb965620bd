//! Second chances for documents feed-rs refuses, empties or crashes on but that
//! browsers and other readers show. Each repair is a plain text rewrite of the
//! document; [`super::parse_feed`] tries them only after the document as sent
//! failed (or, for RSS 0.90, came out with no entries), so a feed that parses
//! is never touched.

use regex::{Captures, Regex};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Every repair that applies to `doc`, in order; `None` when none changed it.
pub fn repair(doc: &[u8]) -> Option<Vec<u8>> {
    if doc.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return json_feed(doc);
    }
    // Bytes that are still not UTF-8 (a label encoding_rs does not know) are
    // read with replacement characters: better than losing the document.
    let lossy = String::from_utf8_lossy(doc);
    let mut out: Cow<'_, str> = match &lossy {
        Cow::Borrowed(text) => Cow::Borrowed(text),
        Cow::Owned(text) => Cow::Owned(text.clone()),
    };
    for step in [xml_declarations, rss_version, rss090_namespace, drop_empty_text_elements, space_around_emails] {
        if let Some(changed) = step(&out) {
            out = Cow::Owned(changed);
        }
    }
    match out {
        Cow::Owned(s) => Some(s.into_bytes()),
        Cow::Borrowed(_) => None,
    }
}

/// The text reaching here is UTF-8 (decode::prepare saw to it), so XML
/// declarations can only mislead: a second one, or one after leading junk,
/// naming another encoding makes quick-xml switch decoders too late and panic.
fn xml_declarations(doc: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"<\?xml\s[^>]*\?>").expect("static regex"));
    re.is_match(doc).then(|| re.replace_all(doc, "").into_owned())
}

/// feed-rs knows `<rss>` only as 0.91, 0.92 and 2.0; readers treat the rest
/// (no version, 0.93, 0.94, 2.0.1, ...) as RSS 2.0, and so do we.
fn rss_version(doc: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r#"<rss(\s[^>]*?)?(/?)>"#).expect("static regex"));
    let caps = re.captures(doc)?;
    let whole = caps.get(0)?;
    let attrs = caps.get(1).map_or("", |m| m.as_str());
    static VERSION: OnceLock<Regex> = OnceLock::new();
    let version = VERSION.get_or_init(|| Regex::new(r#"\sversion\s*=\s*("[^"]*"|'[^']*')"#).expect("static regex"));
    if let Some(v) = version.captures(attrs) {
        if v.get(1).is_some_and(|q| q.as_str().trim_matches(['"', '\'']) == "2.0") {
            return None;
        }
    }
    let kept = version.replace_all(attrs, "");
    let closing = caps.get(2).map_or("", |m| m.as_str());
    Some(format!("{}<rss version=\"2.0\"{kept}{closing}>{}", &doc[..whole.start()], &doc[whole.end()..]))
}

/// RSS 0.90 is RDF with Netscape's namespace; feed-rs reads the same shape
/// under the RSS 1.0 namespace and finds no items under the old one.
fn rss090_namespace(doc: &str) -> Option<String> {
    const OLD: &str = "http://my.netscape.com/rdf/simple/0.9/";
    doc.contains(OLD).then(|| doc.replace(OLD, "http://purl.org/rss/1.0/"))
}

/// An empty `<media:description/>` (YouTube, several news sites), `<title></title>`
/// or `<summary/>` makes feed-rs refuse the whole document ("missing text").
/// Readers show the entry without it; so do we.
fn drop_empty_text_elements(doc: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"<([A-Za-z][\w.-]*:)?(description|title|summary|subtitle|rights)(\s[^<>]*?)?(?:/>|>\s*</([A-Za-z][\w.-]*:)?(description|title|summary|subtitle|rights)\s*>)"#)
            .expect("static regex")
    });
    let mut changed = false;
    let out = re.replace_all(doc, |c: &Captures| {
        let self_closing = c.get(6).is_none();
        let same = self_closing
            || (c.get(1).map(|m| m.as_str()) == c.get(5).map(|m| m.as_str())
                && c.get(2).map(|m| m.as_str()) == c.get(6).map(|m| m.as_str()));
        if same {
            changed = true;
            String::new()
        } else {
            c[0].to_string()
        }
    });
    changed.then(|| out.into_owned())
}

/// feed-rs splits "e-mail (Name)" authors assuming one-byte separators and
/// panics when the address touches a non-ASCII character (a non-breaking space,
/// an em dash), written raw or as an entity. A space on each side avoids it.
fn space_around_emails(doc: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"([^\x00-\x7F]|;)?([<\[(]?(?:mailto:)?[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}[>\])]?)([^\x00-\x7F]|&)?")
            .expect("static regex")
    });
    let mut changed = false;
    let out = re.replace_all(doc, |c: &Captures| {
        let pre = c.get(1).map_or("", |m| m.as_str());
        let post = c.get(3).map_or("", |m| m.as_str());
        if pre.is_empty() && post.is_empty() {
            return c[0].to_string();
        }
        changed = true;
        format!("{pre} {} {post}", &c[2])
    });
    changed.then(|| out.into_owned())
}

/// A JSON Feed with fields of the wrong type (a numeric id, a title in an
/// array, `items` as one object, a number for a date): each field is coerced
/// to what the spec says when the intent is clear, and dropped otherwise, so
/// one bad field does not lose the feed.
fn json_feed(doc: &[u8]) -> Option<Vec<u8>> {
    let Value::Object(mut feed) = serde_json::from_slice::<Value>(doc).ok()? else {
        return None;
    };
    if !feed.get("version").is_some_and(Value::is_string) {
        feed.insert("version".into(), Value::String("https://jsonfeed.org/version/1.1".into()));
    }
    let title = feed.get("title").and_then(as_text).unwrap_or_default();
    feed.insert("title".into(), Value::String(title));
    for key in ["home_page_url", "feed_url", "language", "description", "icon", "favicon"] {
        coerce_text(&mut feed, key);
    }
    coerce_authors(&mut feed);
    let items = match feed.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Object(one)) => vec![Value::Object(one)],
        _ => Vec::new(),
    };
    let items: Vec<Value> = items
        .into_iter()
        .filter_map(|item| match item {
            Value::Object(mut item) => {
                for key in ["id", "url", "external_url", "title", "content_html", "content_text", "summary"] {
                    coerce_text(&mut item, key);
                }
                for key in ["date_published", "date_modified"] {
                    coerce_date(&mut item, key);
                }
                match item.remove("tags") {
                    Some(Value::Array(tags)) => {
                        let tags: Vec<Value> = tags.iter().filter_map(as_text).map(Value::String).collect();
                        item.insert("tags".into(), Value::Array(tags));
                    }
                    Some(Value::String(tag)) => {
                        item.insert("tags".into(), Value::Array(vec![Value::String(tag)]));
                    }
                    _ => {}
                }
                coerce_authors(&mut item);
                if let Some(Value::Array(list)) = item.remove("attachments") {
                    {
                        let ok: Vec<Value> = list
                            .into_iter()
                            .filter(|a| {
                                a.get("url").is_some_and(Value::is_string)
                                    && a.get("mime_type").is_some_and(Value::is_string)
                            })
                            .map(|mut a| {
                                if let Some(obj) = a.as_object_mut() {
                                    coerce_text(obj, "title");
                                    if !obj.get("size_in_bytes").is_some_and(Value::is_u64) {
                                        obj.remove("size_in_bytes");
                                    }
                                }
                                a
                            })
                            .collect();
                        item.insert("attachments".into(), Value::Array(ok));
                    }
                }
                Some(Value::Object(item))
            }
            _ => None,
        })
        .collect();
    feed.insert("items".into(), Value::Array(items));
    serde_json::to_vec(&Value::Object(feed)).ok()
}

/// A string, a number written out, or the first string of an array.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.iter().find_map(|x| x.as_str().map(String::from)),
        _ => None,
    }
}

fn coerce_text(obj: &mut Map<String, Value>, key: &str) {
    if let Some(v) = obj.remove(key) {
        if let Some(s) = as_text(&v) {
            obj.insert(key.into(), Value::String(s));
        }
    }
}

/// Dates as strings; a number is taken as seconds since the epoch.
fn coerce_date(obj: &mut Map<String, Value>, key: &str) {
    match obj.remove(key) {
        Some(Value::String(s)) => {
            obj.insert(key.into(), Value::String(s));
        }
        Some(Value::Number(n)) => {
            if let Some(t) = n.as_i64().and_then(|s| chrono::DateTime::from_timestamp(s, 0)) {
                obj.insert(key.into(), Value::String(t.to_rfc3339()));
            }
        }
        _ => {}
    }
}

fn coerce_author(v: Value) -> Option<Value> {
    match v {
        Value::String(name) => Some(serde_json::json!({ "name": name })),
        Value::Object(mut a) => {
            coerce_text(&mut a, "name");
            coerce_text(&mut a, "url");
            a.remove("avatar");
            Some(Value::Object(a))
        }
        _ => None,
    }
}

fn coerce_authors(obj: &mut Map<String, Value>) {
    if let Some(a) = obj.remove("author") {
        if let Some(a) = coerce_author(a) {
            obj.insert("author".into(), a);
        }
    }
    match obj.remove("authors") {
        Some(Value::Array(list)) => {
            let list: Vec<Value> = list.into_iter().filter_map(coerce_author).collect();
            obj.insert("authors".into(), Value::Array(list));
        }
        Some(one) => {
            if let Some(a) = coerce_author(one) {
                obj.insert("authors".into(), Value::Array(vec![a]));
            }
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_version_is_set_and_other_attributes_kept() {
        let out = rss_version("<?xml?><rss xmlns:dc='x' version=\"0.94\"><channel/></rss>").unwrap();
        assert_eq!(out, "<?xml?><rss version=\"2.0\" xmlns:dc='x'><channel/></rss>");
        assert_eq!(rss_version("<rss version=\"2.0\"><channel/></rss>"), None);
        assert_eq!(rss_version("<rss>").unwrap(), "<rss version=\"2.0\">");
    }

    #[test]
    fn a_late_declaration_naming_another_encoding_is_dropped() {
        let doc = "\n junk <?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss version=\"2.0\"><channel><item><guid>1</guid></item></channel></rss>";
        assert!(matches!(crate::parse::parse_feed(doc.as_bytes(), None), Ok(f) if f.entries.len() == 1));
    }

    #[test]
    fn empty_text_elements_go_and_full_ones_stay() {
        let doc = "<media:group><media:description></media:description><media:description type='plain'/><title>\n</title><media:title>Keep</media:title><description>x</description></media:group>";
        assert_eq!(
            drop_empty_text_elements(doc).unwrap(),
            "<media:group><media:title>Keep</media:title><description>x</description></media:group>"
        );
        assert_eq!(drop_empty_text_elements("<title>a</title>"), None);
    }

    #[test]
    fn emails_next_to_wide_characters_get_spaces() {
        assert_eq!(
            space_around_emails("<author>a@b.example\u{a0}(A)</author>").unwrap(),
            "<author> a@b.example \u{a0}(A)</author>"
        );
        assert_eq!(space_around_emails("&#160;a@b.example&#8212;").unwrap(), "&#160; a@b.example &#8212;");
        assert_eq!(space_around_emails("<author>a@b.example (A)</author>"), None);
        assert_eq!(space_around_emails("—(a@b.example)—").unwrap(), "— (a@b.example) —");
    }

    #[test]
    fn json_fields_of_the_wrong_type_are_coerced_or_dropped() {
        let doc = br#"{"version": 1, "title": 5, "items": [{"id": 7, "title": ["T"], "url": 3, "content_html": {}, "date_published": 0, "tags": "x", "authors": "me"}, 4]}"#;
        let out: Value = serde_json::from_slice(&json_feed(doc).unwrap()).unwrap();
        assert_eq!(out["title"], "5");
        let item = &out["items"][0];
        assert_eq!(
            (item["id"].as_str(), item["title"].as_str(), item["url"].as_str()),
            (Some("7"), Some("T"), Some("3"))
        );
        assert!(item.get("content_html").is_none());
        assert_eq!(item["date_published"], "1970-01-01T00:00:00+00:00");
        assert_eq!(item["tags"], serde_json::json!(["x"]));
        assert_eq!(item["authors"], serde_json::json!([{"name": "me"}]));
        assert_eq!(out["items"].as_array().unwrap().len(), 1);
    }
}
