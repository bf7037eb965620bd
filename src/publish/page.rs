//! The front page (`/`) and the OPML list of every feed (`/opml`): HTML and
//! XML built by hand with every outside text escaped, so nothing from a feed
//! can run in the page.

use super::render::rfc3339;
use super::{FeedName, Format};
use crate::config::Config;
use crate::model::Story;

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

/// A story as the front page lists it.
pub struct Headline {
    pub story: Story,
    pub title: String,
    pub link: Option<String>,
    pub sources: usize,
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

const STYLE: &str =
    "body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:62rem;padding:0 1rem;color:#1b1b1b}\
header{border-bottom:3px solid #b00;margin-bottom:1rem}h1{margin:.6rem 0}h2{margin:1.4rem 0 .4rem;font-size:1.15rem}\
h3{margin:.8rem 0 .2rem;font-size:1rem}.ticker{background:#b00;color:#fff;padding:.5rem .8rem;border-radius:4px}\
.ticker a{color:#fff}.ticker li{margin:.2rem 0}ul{padding-left:1.1rem;margin:.2rem 0}li{margin:.15rem 0}\
.meta{color:#666;font-size:.85rem}.subs a{font-size:.8rem;margin-right:.4rem;color:#555}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr));gap:0 1.5rem}\
footer{margin:2rem 0;color:#666;font-size:.85rem}";

fn subscribe(base: &str, feed: &FeedName) -> String {
    Format::ALL
        .iter()
        .map(|f| format!("<a href=\"{}\">{}</a>", esc(&format!("{base}{}", feed.path(*f))), f.ext().to_uppercase()))
        .collect::<Vec<_>>()
        .join("")
}

fn headline_li(h: &Headline) -> String {
    let title = esc(&h.title);
    let linked = match &h.link {
        Some(l) if l.starts_with("http://") || l.starts_with("https://") => {
            format!("<a href=\"{}\">{title}</a>", esc(l))
        }
        _ => title,
    };
    let sources = if h.sources > 1 { format!(" · {} sources", h.sources) } else { String::new() };
    format!(
        "<li>{linked} <span class=\"meta\"><time datetime=\"{t}\">{t}</time>{sources}</span></li>",
        t = rfc3339(h.story.time)
    )
}

/// The front page. `lists` gives the latest headlines of each feed.
pub fn front_page(config: &Config, lists: &[(FeedName, Vec<Headline>)]) -> Vec<u8> {
    let base = config.server.public_url.as_str().trim_end_matches('/');
    let site = esc(&config.server.title);
    let get = |f: &FeedName| lists.iter().find(|(n, _)| n == f).map(|(_, l)| l.as_slice()).unwrap_or(&[]);
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str(&format!("<title>{site}</title><style>{STYLE}</style>\n"));
    for (feed, title) in all_feeds(config) {
        let formats: &[Format] = if feed == FeedName::All { &Format::ALL } else { &[Format::Atom] };
        for f in formats {
            let mime = match f {
                Format::Rss => "application/rss+xml",
                Format::Atom => "application/atom+xml",
                Format::Json => "application/feed+json",
            };
            h.push_str(&format!(
                "<link rel=\"alternate\" type=\"{mime}\" title=\"{} — {}\" href=\"{}\">\n",
                site,
                esc(&title),
                esc(&format!("{base}{}", feed.path(*f)))
            ));
        }
    }
    h.push_str(&format!("<link rel=\"outline\" type=\"text/x-opml\" href=\"{base}/opml\"></head><body>\n"));
    h.push_str(&format!(
        "<header><h1>{site}</h1><p class=\"subs\">All stories: {} · <a href=\"{base}/opml\">OPML</a></p></header>\n",
        subscribe(base, &FeedName::All)
    ));
    let breaking = get(&FeedName::Breaking);
    h.push_str("<section class=\"ticker\" aria-label=\"Breaking\"><strong>BREAKING</strong>");
    if breaking.is_empty() {
        h.push_str(" <span>No breaking news right now.</span>");
    } else {
        h.push_str("<ul>");
        for x in breaking.iter().take(5) {
            h.push_str(&headline_li(x));
        }
        h.push_str("</ul>");
    }
    h.push_str(&format!(" <span class=\"subs\">{}</span></section>\n", subscribe(base, &FeedName::Breaking)));
    let top = get(&FeedName::Top);
    h.push_str(&format!("<h2>Most covered</h2><p class=\"subs\">{}</p><ul>", subscribe(base, &FeedName::Top)));
    for x in top.iter().take(8) {
        h.push_str(&headline_li(x));
    }
    h.push_str("</ul>\n");
    let mut groups: Vec<&str> = Vec::new();
    for s in &config.sections {
        if !groups.contains(&s.group.as_str()) {
            groups.push(&s.group);
        }
    }
    for group in groups {
        h.push_str(&format!("<h2>{}</h2><div class=\"grid\">", esc(group)));
        for s in config.sections.iter().filter(|s| s.group == group) {
            let feed = FeedName::Section(s.id.clone());
            h.push_str(&format!(
                "<section id=\"section-{}\"><h3>{}</h3><p class=\"subs\">{}</p><ul>",
                esc(&s.id),
                esc(&s.title),
                subscribe(base, &feed)
            ));
            let list = get(&feed);
            if list.is_empty() {
                h.push_str("<li class=\"meta\">No stories yet.</li>");
            }
            for x in list.iter().take(5) {
                h.push_str(&headline_li(x));
            }
            h.push_str("</ul></section>");
        }
        h.push_str("</div>\n");
    }
    h.push_str("<h2>Regions</h2><div class=\"grid\">");
    for r in &config.regions {
        let feed = FeedName::Region(r.id.clone());
        h.push_str(&format!(
            "<section id=\"region-{}\"><h3>{}</h3><p class=\"subs\">{}</p><ul>",
            esc(&r.id),
            esc(&r.title),
            subscribe(base, &feed)
        ));
        for x in get(&feed).iter().take(3) {
            h.push_str(&headline_li(x));
        }
        h.push_str("</ul></section>");
    }
    h.push_str("</div>\n<footer>Republished by newsdesk. Every story links to its sources.</footer></body></html>\n");
    h.into_bytes()
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

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn nothing_from_a_feed_runs_in_the_page() {
        let mut config = Config::with_defaults(std::path::Path::new("/x/c.toml"));
        config.server.title = "Desk <b>".into();
        let story = Story {
            id: "s1".into(),
            time: 0,
            first: None,
            size: 0,
            items: vec![],
            early_sources: vec![],
            sections: vec![],
            regions: vec![],
            tags: vec![],
            breaking: true,
            breaking_since: None,
            updated: 0,
            sources: vec![],
            source_count: 0,
        };
        let h = Headline {
            story,
            title: "<script>alert(1)</script><img src=x onerror=alert(2)>".into(),
            link: Some("javascript:alert(3)".into()),
            sources: 1,
        };
        let page = String::from_utf8(front_page(&config, &[(FeedName::Breaking, vec![h])])).unwrap();
        assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("javascript:"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("Desk &lt;b&gt;"));
    }
}
