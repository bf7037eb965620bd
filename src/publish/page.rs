//! The OPML list of every feed (`/opml`), XML built by hand with every
//! outside text escaped, and the list of feeds the site republishes. The HTML
//! pages are in [`super::site`].

use super::{FeedName, Format};
use crate::config::Config;

/// Escape text for HTML and XML content and attribute values. Characters
/// XML 1.0 forbids are dropped: no escape makes them legal.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| !crate::xmlchars::forbidden(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Every feed the site republishes, with its title, in page order.
pub fn all_feeds(config: &Config) -> Vec<(FeedName, String)> {
    let mut out = vec![
        (FeedName::All, "All stories".to_string()),
        (FeedName::Breaking, "Breaking".to_string()),
        (FeedName::Top, "Top stories".to_string()),
    ];
    out.extend(config.sections.iter().map(|s| (FeedName::Section(s.id.clone()), s.title.clone())));
    out.extend(config.regions.iter().map(|r| (FeedName::Region(r.id.clone()), r.title.clone())));
    out
}

/// OPML 2.0 listing every republished feed.
pub fn opml(config: &Config) -> Vec<u8> {
    let base = config.server.public_url.as_str().trim_end_matches('/');
    let site = esc(&config.server.title);
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\"><head><title>{site}</title></head><body>\n"
    );
    for (feed, title) in all_feeds(config) {
        x.push_str(&format!(
            "<outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{}\" htmlUrl=\"{base}/\"/>\n",
            esc(&format!("{base}{}", feed.path(Format::Atom))),
            t = esc(&format!("{} — {}", config.server.title, title)),
        ));
    }
    x.push_str("</body></opml>\n");
    x.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<script>\"x\" & 'y'</script>"), "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;");
        assert_eq!(esc("News\u{0}desk\u{1b}\u{ffff}"), "Newsdesk");
    }
}
