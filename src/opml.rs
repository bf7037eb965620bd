//! OPML in and out: `import-opml` turns a reader's subscription list into
//! config TOML (a section per folder, a source per feed), `export-opml` lists
//! the configured sources.

use crate::config::Config;
use crate::publish::page::esc;
use quick_xml::events::Event;
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("not OPML: {0}")]
    Xml(String),
    #[error("no feeds (outlines with xmlUrl) found")]
    Empty,
}

/// One feed of an OPML file, with the folders it sits in (outermost first).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub url: String,
    pub title: Option<String>,
    pub folders: Vec<String>,
}

/// Read every feed outline. Entities are not expanded beyond XML's five and
/// no external resource is read.
pub fn parse(bytes: &[u8]) -> Result<Vec<Subscription>, OpmlError> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    // The open outlines: Some(title) for a folder, None for a feed or an untitled one.
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| OpmlError::Xml(e.to_string()))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) if e.local_name().as_ref() == "outline" => {
                let empty = matches!(ev, Event::Empty(_));
                let mut url = None;
                let mut title = None;
                let mut text = None;
                for a in e.attributes().flatten() {
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map(|v| v.trim().to_string())
                        .unwrap_or_default();
                    match a.key.local_name().as_ref() {
                        "xmlUrl" | "xmlurl" => url = Some(v).filter(|v| !v.is_empty()),
                        "title" => title = Some(v).filter(|v| !v.is_empty()),
                        "text" => text = Some(v).filter(|v| !v.is_empty()),
                        _ => {}
                    }
                }
                let name = title.or(text);
                if let Some(url) = url {
                    let folders = stack.iter().flatten().cloned().collect();
                    out.push(Subscription { url, title: name, folders });
                    if !empty {
                        stack.push(None);
                    }
                } else if !empty {
                    stack.push(name);
                }
            }
            Event::End(ref e) if e.local_name().as_ref() == "outline" => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if out.is_empty() {
        return Err(OpmlError::Empty);
    }
    Ok(out)
}

/// An id in `[a-z0-9-]+` from any text, unique among `taken`.
fn unique_id(text: &str, fallback: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = crate::text::fold(text)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    base.truncate(40);
    let base = base.trim_matches('-').to_string();
    let mut base = if base.is_empty() { fallback.to_string() } else { base };
    // Section ids may not be routes.
    if ["all", "breaking", "top", "regions", "tags"].contains(&base.as_str()) {
        base = format!("{base}-feeds");
    }
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Config TOML for the subscriptions: a `[[sections]]` per folder (a nested
/// folder is its own section), a `[[sources]]` per feed filed under its
/// innermost folder.
pub fn to_toml(subs: &[Subscription]) -> String {
    let mut section_ids = HashSet::new();
    let mut sections: Vec<(Vec<String>, String)> = Vec::new();
    let mut out = String::from("# Imported from OPML by `newsdesk import-opml`.\n");
    for s in subs {
        for depth in 1..=s.folders.len() {
            let path = s.folders[..depth].to_vec();
            if !sections.iter().any(|(p, _)| *p == path) {
                let id = unique_id(&path[depth - 1], "section", &mut section_ids);
                out.push_str(&format!(
                    "\n[[sections]]\nid = \"{id}\"\ntitle = {}\ngroup = {}\n",
                    toml_str(&path[depth - 1]),
                    toml_str(&path[0])
                ));
                sections.push((path, id));
            }
        }
    }
    let mut source_ids = HashSet::new();
    for s in subs {
        let host = url::Url::parse(&s.url).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default();
        let fallback = host.replace('.', "-");
        let fallback = if fallback.is_empty() { "feed".to_string() } else { fallback };
        let id = unique_id(s.title.as_deref().unwrap_or(&host), &fallback, &mut source_ids);
        out.push_str(&format!("\n[[sources]]\nid = \"{id}\"\nurl = {}\n", toml_str(&s.url)));
        if let Some(t) = &s.title {
            out.push_str(&format!("title = {}\n", toml_str(t)));
        }
        if let Some((_, sid)) = sections.iter().find(|(p, _)| *p == s.folders) {
            out.push_str(&format!("sections = [\"{sid}\"]\n"));
        }
    }
    out
}

/// OPML 2.0 of the configured sources, in folders by their first section.
pub fn export(config: &Config) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n<head><title>{} sources</title></head>\n<body>\n",
        esc(&config.server.title)
    );
    let outline = |s: &crate::config::Source| {
        let title = s.title.clone().unwrap_or_else(|| s.id.clone());
        format!(
            "<outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{}\"/>\n",
            esc(s.url.as_str()),
            t = esc(&title)
        )
    };
    for section in &config.sections {
        let members: Vec<_> = config.sources.iter().filter(|s| s.sections.first() == Some(&section.id)).collect();
        if members.is_empty() {
            continue;
        }
        x.push_str(&format!("<outline text=\"{t}\" title=\"{t}\">\n", t = esc(&section.title)));
        for s in members {
            x.push_str("  ");
            x.push_str(&outline(s));
        }
        x.push_str("</outline>\n");
    }
    for s in config.sources.iter().filter(|s| s.sections.is_empty()) {
        x.push_str(&outline(s));
    }
    x.push_str("</body>\n</opml>\n");
    x
}
