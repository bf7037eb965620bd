//! Rendering one page of one feed as RSS 2.0, Atom 1.0 or JSON Feed 1.1. Pure:
//! a [`FeedDoc`] in, bytes out.

use crate::model::{Item, Story, Timestamp};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

/// The namespace of newsdesk's own elements in RSS and Atom.
pub const NS: &str = "https://newsdesk.invalid/ns/1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    pub fn from_ext(ext: &str) -> Option<Format> {
        match ext {
            "rss" => Some(Format::Rss),
            "atom" => Some(Format::Atom),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];
}

/// One item of a story as a feed entry lists it.
#[derive(Debug, Clone)]
pub struct SourceRef {
    pub id: String,
    pub title: String,
    pub url: Option<String>,
    pub published: Timestamp,
}

/// One story, with what rendering needs from its items.
#[derive(Debug, Clone)]
pub struct EntryDoc {
    pub story: Story,
    /// The first item: its title, link, summary and author stand for the story.
    pub first: Item,
    pub language: String,
    /// Every item of the story, first first.
    pub sources: Vec<SourceRef>,
    pub breaking: bool,
}

/// One page of one feed.
#[derive(Debug, Clone)]
pub struct FeedDoc {
    pub title: String,
    /// Absolute URL of this document (`rel="self"`), for this format.
    pub self_url: String,
    /// Absolute URL of the site's front page.
    pub home_url: String,
    pub next_url: Option<String>,
    pub hub: Option<String>,
    pub updated: Timestamp,
    pub entries: Vec<EntryDoc>,
}

pub fn rfc3339(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn rfc2822(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().to_rfc2822()
}

fn fixed(t: Timestamp) -> chrono::DateTime<chrono::FixedOffset> {
    DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().fixed_offset()
}

/// The story's page on the site (`/stories/{id}`).
pub fn story_page(doc: &FeedDoc, story: &Story) -> String {
    format!("{}/stories/{}", doc.home_url.trim_end_matches('/'), story.id)
}

/// The id a story has in every feed: a URN that never changes.
pub fn entry_id(story: &Story) -> String {
    format!("urn:newsdesk:story:{}", story.id)
}

/// The document's bytes. RSS and Atom are stripped of the characters XML 1.0
/// forbids, whatever a string in `doc` holds (an item stored by an older
/// release, a configured title): one would make the whole feed unreadable.
/// JSON escapes them.
pub fn render(doc: &FeedDoc, format: Format) -> Vec<u8> {
    match format {
        Format::Rss => crate::xmlchars::strip_bytes(rss(doc)),
        Format::Atom => crate::xmlchars::strip_bytes(atom(doc)),
        Format::Json => json(doc),
    }
}

fn ext(name: &str, value: Option<String>, attrs: &[(&str, String)]) -> rss::extension::Extension {
    rss::extension::Extension {
        name: format!("newsdesk:{name}"),
        value,
        attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        children: BTreeMap::new(),
    }
}

fn rss(doc: &FeedDoc) -> Vec<u8> {
    let mut links = vec![atom_syndication::Link {
        href: doc.self_url.clone(),
        rel: "self".into(),
        mime_type: Some("application/rss+xml".into()),
        ..Default::default()
    }];
    if let Some(next) = &doc.next_url {
        links.push(atom_syndication::Link { href: next.clone(), rel: "next".into(), ..Default::default() });
    }
    if let Some(hub) = &doc.hub {
        links.push(atom_syndication::Link { href: hub.clone(), rel: "hub".into(), ..Default::default() });
    }
    let items =
        doc.entries
            .iter()
            .map(|e| {
                let mut extensions: BTreeMap<String, Vec<rss::extension::Extension>> = BTreeMap::new();
                extensions.insert(
                    "source".into(),
                    e.sources
                        .iter()
                        .map(|s| {
                            let mut attrs = vec![("id", s.id.clone()), ("published", rfc3339(s.published))];
                            if let Some(u) = &s.url {
                                attrs.push(("url", u.clone()));
                            }
                            ext("source", Some(s.title.clone()), &attrs)
                        })
                        .collect(),
                );
                extensions.insert("story".into(), vec![ext("story", Some(e.story.id.clone()), &[])]);
                if e.breaking {
                    extensions.insert("breaking".into(), vec![ext("breaking", Some("true".into()), &[])]);
                }
                let mut ext_map = rss::extension::ExtensionMap::new();
                ext_map.insert("newsdesk".into(), extensions);
                // The story's page on this site, beside the first outlet's link.
                let page = rss::extension::Extension {
                    name: "atom:link".into(),
                    attrs: [("rel", "alternate"), ("type", "text/html"), ("href", &story_page(doc, &e.story))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                };
                ext_map.insert("atom".into(), BTreeMap::from([("link".to_string(), vec![page])]));
                let dublin_core_ext = e.first.author.as_ref().map(|a| {
                    rss::extension::dublincore::DublinCoreExtension { creators: vec![a.clone()], ..Default::default() }
                });
                rss::Item {
                    title: Some(e.first.title.clone()),
                    link: e.first.link.clone(),
                    description: Some(e.first.summary.clone()).filter(|s| !s.is_empty()),
                    categories: categories(&e.story)
                        .into_iter()
                        .map(|(name, domain)| rss::Category { name, domain: Some(domain.into()) })
                        .collect(),
                    guid: Some(rss::Guid { value: entry_id(&e.story), permalink: false }),
                    pub_date: Some(rfc2822(e.story.time)),
                    extensions: ext_map,
                    dublin_core_ext,
                    ..Default::default()
                }
            })
            .collect();
    let mut namespaces = BTreeMap::new();
    namespaces.insert("atom".to_string(), "http://www.w3.org/2005/Atom".to_string());
    namespaces.insert("newsdesk".to_string(), NS.to_string());
    namespaces.insert("dc".to_string(), "http://purl.org/dc/elements/1.1/".to_string());
    let channel = rss::Channel {
        title: doc.title.clone(),
        link: doc.home_url.clone(),
        description: doc.title.clone(),
        last_build_date: Some(rfc2822(doc.updated)),
        generator: Some(concat!("newsdesk ", env!("CARGO_PKG_VERSION")).into()),
        items,
        namespaces,
        atom_ext: Some(rss::extension::atom::AtomExtension { links }),
        ..Default::default()
    };
    channel.write_to(Vec::new()).unwrap_or_default()
}

/// Sections and tags as (term, scheme).
fn categories(story: &Story) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = story.sections.iter().map(|s| (s.clone(), "section")).collect();
    out.extend(story.regions.iter().map(|r| (r.clone(), "region")));
    out.extend(story.tags.iter().map(|t| (t.clone(), "tag")));
    out
}

fn atom(doc: &FeedDoc) -> Vec<u8> {
    use atom_syndication as a;
    let mut links = vec![
        a::Link {
            href: doc.self_url.clone(),
            rel: "self".into(),
            mime_type: Some("application/atom+xml".into()),
            ..Default::default()
        },
        a::Link {
            href: doc.home_url.clone(),
            rel: "alternate".into(),
            mime_type: Some("text/html".into()),
            ..Default::default()
        },
    ];
    if let Some(next) = &doc.next_url {
        links.push(a::Link { href: next.clone(), rel: "next".into(), ..Default::default() });
    }
    if let Some(hub) = &doc.hub {
        links.push(a::Link { href: hub.clone(), rel: "hub".into(), ..Default::default() });
    }
    let entries = doc
        .entries
        .iter()
        .map(|e| {
            let mut links = Vec::new();
            if let Some(l) = &e.first.link {
                links.push(a::Link { href: l.clone(), rel: "alternate".into(), ..Default::default() });
            }
            // The story's page on this site: an alternate of its own type, so
            // the first outlet's link stays the one readers follow by default.
            links.push(a::Link {
                href: story_page(doc, &e.story),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Default::default()
            });
            for s in e.sources.iter().skip(1) {
                if let Some(u) = s.url.as_ref().filter(|u| Some(*u) != e.first.link.as_ref()) {
                    links.push(a::Link {
                        href: u.clone(),
                        rel: "related".into(),
                        title: Some(s.title.clone()),
                        ..Default::default()
                    });
                }
            }
            let mut newsdesk: BTreeMap<String, Vec<a::extension::Extension>> = BTreeMap::new();
            newsdesk.insert(
                "source".into(),
                e.sources
                    .iter()
                    .map(|s| {
                        let mut attrs = BTreeMap::new();
                        attrs.insert("id".to_string(), escaped_attr(&s.id));
                        attrs.insert("published".to_string(), rfc3339(s.published));
                        if let Some(u) = &s.url {
                            attrs.insert("url".to_string(), escaped_attr(u));
                        }
                        a::extension::Extension {
                            name: "newsdesk:source".into(),
                            value: Some(s.title.clone()),
                            attrs,
                            children: BTreeMap::new(),
                        }
                    })
                    .collect(),
            );
            if e.breaking {
                newsdesk.insert(
                    "breaking".into(),
                    vec![a::extension::Extension {
                        name: "newsdesk:breaking".into(),
                        value: Some("true".into()),
                        ..Default::default()
                    }],
                );
            }
            let mut extensions = a::extension::ExtensionMap::new();
            extensions.insert("newsdesk".into(), newsdesk);
            a::Entry {
                title: a::Text::plain(e.first.title.clone()),
                id: entry_id(&e.story),
                updated: fixed(e.story.updated.max(e.story.time)),
                published: Some(fixed(e.story.time)),
                authors: e.first.author.iter().map(|n| a::Person { name: n.clone(), ..Default::default() }).collect(),
                categories: categories(&e.story)
                    .into_iter()
                    .map(|(term, scheme)| a::Category { term, scheme: Some(format!("{NS}#{scheme}")), label: None })
                    .collect(),
                links,
                summary: Some(a::Text::html(e.first.summary.clone())).filter(|s| !s.value.is_empty()),
                extensions,
                ..Default::default()
            }
        })
        .collect();
    let mut namespaces = BTreeMap::new();
    namespaces.insert("newsdesk".to_string(), NS.to_string());
    let feed = a::Feed {
        title: a::Text::plain(doc.title.clone()),
        id: doc.self_url.clone(),
        updated: fixed(doc.updated),
        links,
        generator: Some(a::Generator {
            value: "newsdesk".into(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        entries,
        namespaces,
        ..Default::default()
    };
    feed.write_to(Vec::new()).unwrap_or_default()
}

/// An attribute value of an Atom extension element, escaped here: atom_syndication
/// writes those as raw bytes, so a link with `&` in its query made the whole
/// feed malformed (tests/wellformed.rs; a test below notices if the crate
/// starts escaping them itself).
fn escaped_attr(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn json(doc: &FeedDoc) -> Vec<u8> {
    use serde_json::{json, Map, Value};
    let items: Vec<Value> = doc
        .entries
        .iter()
        .map(|e| {
            let mut item = Map::new();
            item.insert("id".into(), json!(entry_id(&e.story)));
            if let Some(l) = &e.first.link {
                item.insert("url".into(), json!(l));
            }
            item.insert("title".into(), json!(e.first.title));
            if e.first.summary.is_empty() {
                item.insert("content_text".into(), json!(e.first.title));
            } else {
                item.insert("content_html".into(), json!(e.first.summary));
            }
            item.insert("date_published".into(), json!(rfc3339(e.story.time)));
            item.insert("date_modified".into(), json!(rfc3339(e.story.updated.max(e.story.time))));
            if let Some(a) = &e.first.author {
                item.insert("authors".into(), json!([{ "name": a }]));
            }
            item.insert("language".into(), json!(e.language));
            item.insert("tags".into(), json!(e.story.tags));
            item.insert(
                "_newsdesk".into(),
                json!({
                    "story": e.story.id,
                    "page": story_page(doc, &e.story),
                    "breaking": e.breaking,
                    "sections": e.story.sections,
                    "regions": e.story.regions,
                    "language": e.language,
                    "sources": e.sources.iter().map(|s| json!({
                        "id": s.id, "title": s.title, "url": s.url, "published": rfc3339(s.published),
                    })).collect::<Vec<_>>(),
                }),
            );
            Value::Object(item)
        })
        .collect();
    let mut feed = Map::new();
    feed.insert("version".into(), json!("https://jsonfeed.org/version/1.1"));
    feed.insert("title".into(), json!(doc.title));
    feed.insert("home_page_url".into(), json!(doc.home_url));
    feed.insert("feed_url".into(), json!(doc.self_url));
    if let Some(next) = &doc.next_url {
        feed.insert("next_url".into(), json!(next));
    }
    if let Some(hub) = &doc.hub {
        feed.insert("hubs".into(), json!([{ "type": "WebSub", "url": hub }]));
    }
    feed.insert("items".into(), Value::Array(items));
    serde_json::to_vec_pretty(&Value::Object(feed)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(title: &str, url: &str) -> FeedDoc {
        let story = Story {
            id: "s1".into(),
            time: 1_800_000_000,
            first: None,
            size: 1,
            items: vec![],
            early_sources: vec![],
            sections: vec!["misc".into()],
            regions: vec![],
            tags: vec![format!("tag{title}")],
            breaking: false,
            breaking_since: None,
            updated: 1_800_000_000,
            sources: vec![],
            source_count: 1,
        };
        let first = Item {
            key: "k".into(),
            source: "a".into(),
            identity: "i".into(),
            title: title.into(),
            link: Some(url.into()),
            summary: format!("<p>{title}</p>"),
            summary_source: None,
            author: Some(title.into()),
            categories: vec![],
            language: None,
            published: 1_800_000_000,
            first_seen: 1_800_000_000,
            updated: 1_800_000_000,
            story: "s1".into(),
        };
        let source = SourceRef { id: "a".into(), title: title.into(), url: Some(url.into()), published: 1_800_000_000 };
        FeedDoc {
            title: title.into(),
            self_url: "https://n.example/feeds/all.atom".into(),
            home_url: "https://n.example/".into(),
            next_url: None,
            hub: None,
            updated: 1_800_000_000,
            entries: vec![EntryDoc { story, first, language: "en".into(), sources: vec![source], breaking: false }],
        }
    }

    /// Strings stored before text was cleaned (or a configured title) still
    /// never put a character XML forbids into a feed, and a link's `&` is
    /// escaped exactly once in every attribute.
    #[test]
    fn xml_feeds_are_written_well_formed_whatever_the_strings() {
        let d = doc("Storm\u{1}\u{0} hits\u{1b}\u{ffff}", "https://a.example/x?a=1&b=2");
        for format in [Format::Rss, Format::Atom] {
            let out = String::from_utf8(render(&d, format)).unwrap();
            assert!(!out.chars().any(crate::xmlchars::forbidden), "{out}");
            assert!(out.contains("Storm hits"), "{out}");
            assert!(out.contains("url=\"https://a.example/x?a=1&amp;b=2\""), "{out}");
            assert!(!out.contains("&amp;amp;"), "{out}");
        }
    }
}
