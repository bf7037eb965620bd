//! Which stored item a parsed entry is: source + guid, else source + canonical
//! link, else source + a hash of title and feed date (never the time first seen,
//! never feed-rs's generated ids). An item without a title is hashed by its
//! description instead, so title-less RSS 0.92 items stay distinct.

use super::Entry;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// The identity of an entry within its source.
pub fn identity(e: &Entry) -> String {
    if let Some(g) = &e.guid {
        return format!("g:{g}");
    }
    if let Some(l) = &e.link {
        return format!("l:{l}");
    }
    let date = e.feed_date.map(|d| d.to_string()).unwrap_or_default();
    // With no title either (legal in RSS 0.92), the description tells items apart.
    // (The one use of an entry's summary before ingest knows the item: rare.)
    let text = if e.title.is_empty() { e.summary.html() } else { e.title.as_str() };
    let h = xxh3_64(format!("{text}\u{0}{date}").as_bytes());
    format!("h:{h:016x}")
}

/// The store key of an item: stable across restarts and releases.
pub fn item_key(source: &str, identity: &str) -> String {
    let h = xxh3_128(format!("{source}\u{0}{identity}").as_bytes());
    format!("{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(guid: Option<&str>, link: Option<&str>, title: &str, date: Option<i64>) -> Entry {
        Entry {
            guid: guid.map(String::from),
            title: title.into(),
            link: link.map(String::from),
            summary: Default::default(),
            author: None,
            categories: vec![],
            language: None,
            feed_date: date,
        }
    }

    #[test]
    fn guid_then_link_then_hash() {
        assert_eq!(identity(&entry(Some("abc"), Some("https://x/1"), "t", None)), "g:abc");
        assert_eq!(identity(&entry(None, Some("https://x/1"), "t", None)), "l:https://x/1");
        let a = identity(&entry(None, None, "t", Some(5)));
        assert_eq!(a, identity(&entry(None, None, "t", Some(5))));
        assert_ne!(a, identity(&entry(None, None, "t", Some(6))));
        assert_ne!(a, identity(&entry(None, None, "u", Some(5))));
    }

    #[test]
    fn keys_differ_by_source() {
        assert_ne!(item_key("a", "g:1"), item_key("b", "g:1"));
        assert_eq!(item_key("a", "g:1").len(), 32);
    }
}
