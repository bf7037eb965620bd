//! Filing: which sections, regions and tags an item belongs under, and whether
//! a story is breaking. Pure functions of the item, the config and the times
//! given.

use crate::config::Config;
use crate::model::Timestamp;
use crate::text;
use std::collections::HashSet;

/// Where one item is filed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filing {
    pub sections: Vec<String>,
    pub regions: Vec<String>,
    pub tags: Vec<String>,
    /// The configured places named in the text (as tags), for clustering.
    pub places: Vec<String>,
    /// The regions of those places (not the source's own region).
    pub place_regions: Vec<String>,
}

/// What the filing rules need to know about an item.
pub struct ItemText<'a> {
    pub source: &'a str,
    pub title: &'a str,
    /// Plain text of the summary (tags already stripped).
    pub summary: &'a str,
    pub categories: &'a [String],
}

struct SectionRule {
    id: String,
    categories: HashSet<String>,
}

struct Place {
    region: String,
    tag: String,
}

/// What a filing phrase stands for.
enum Phrase {
    /// A keyword of the section with this index.
    Keyword(usize),
    Place(Place),
}

/// The filing rules of one configuration, prepared once.
pub struct Categorizer {
    sections: Vec<SectionRule>,
    /// Every section's keywords (to the index of their section) and every
    /// region's places, in one set: each text is walked once for both.
    phrases: text::PhraseSet<Phrase>,
    fallback: Option<String>,
    breaking_keywords: Vec<Vec<String>>,
    /// Sections, region and breaking flag of the sources that set any of
    /// them; a source missing here has none (at 100,000 sources that set
    /// none, an entry each held about 12 MB).
    source_sections: std::collections::HashMap<String, (Vec<String>, Option<String>, bool)>,
    /// Sections of the "Articles" group (opinion, analysis, blogs, features).
    article_sections: Vec<String>,
}

impl Categorizer {
    /// Whether an item filed under `sections` is an article (opinion,
    /// analysis...): a piece of its own, not one more report of a news event.
    pub fn is_article(&self, sections: &[String]) -> bool {
        sections.iter().any(|s| self.article_sections.contains(s))
    }

    pub fn new(config: &Config) -> Categorizer {
        let sections = config
            .sections
            .iter()
            .map(|s| SectionRule {
                id: s.id.clone(),
                categories: s.categories.iter().map(|c| text::fold(c.trim())).collect(),
            })
            .collect();
        // Keywords also match in the plural (text::plural_of); places do not.
        let mut phrases = text::PhraseSet::default();
        for (i, s) in config.sections.iter().enumerate() {
            for k in &s.keywords {
                phrases.insert_with_plurals(text::tokens(k), Phrase::Keyword(i), true);
            }
        }
        for r in &config.regions {
            for p in &r.places {
                let place = Place { region: r.id.clone(), tag: slug(p) };
                phrases.insert_with_plurals(text::tokens(p), Phrase::Place(place), false);
            }
        }
        Categorizer {
            article_sections: config
                .sections
                .iter()
                .filter(|s| s.group.eq_ignore_ascii_case("articles"))
                .map(|s| s.id.clone())
                .collect(),
            sections,
            phrases,
            fallback: config.fallback_section().map(|s| s.id.clone()),
            breaking_keywords: config
                .breaking
                .keywords
                .iter()
                .map(|k| text::tokens(k))
                .filter(|t| !t.is_empty())
                .collect(),
            source_sections: config
                .sources
                .iter()
                .filter(|s| !s.sections.is_empty() || s.region.is_some() || s.breaking)
                .map(|s| (s.id.clone(), (s.sections.clone(), s.region.clone(), s.breaking)))
                .collect(),
        }
    }

    /// File an item under sections, regions and tags.
    pub fn file(&self, item: &ItemText) -> Filing {
        let folded = text::fold(&format!("{} {}", item.title, item.summary));
        self.file_words(item.source, &text::split_folded(&folded), item.categories)
    }

    /// [`Categorizer::file`] for text already folded and split into words
    /// (title then summary), so a caller that needs the words too folds once.
    pub fn file_words(&self, source: &str, words: &[&str], categories: &[String]) -> Filing {
        let (src_sections, src_region, _) = self.source_sections.get(source).cloned().unwrap_or_default();
        let cats: HashSet<String> = categories.iter().map(|c| text::fold(c.trim())).collect();

        let mut matched = vec![false; self.sections.len()];
        let mut named: Vec<&Place> = Vec::new();
        self.phrases.find_at(words, |at, phrase| match phrase {
            Phrase::Keyword(i) => {
                if !passing_mention(words, at) {
                    matched[*i] = true;
                }
            }
            Phrase::Place(place) => named.push(place),
        });
        let mut sections = src_sections;
        for (rule, by_keyword) in self.sections.iter().zip(matched) {
            let by_category = by_keyword || rule.categories.iter().any(|c| cats.contains(c));
            if by_category && !sections.contains(&rule.id) {
                sections.push(rule.id.clone());
            }
        }
        if sections.is_empty() {
            sections.extend(self.fallback.clone());
        }

        let mut regions: Vec<String> = src_region.into_iter().collect();
        let mut tags: Vec<String> = Vec::new();
        let mut places: Vec<String> = Vec::new();
        let mut place_regions: Vec<String> = Vec::new();
        for c in categories {
            let t = slug(c);
            if !t.is_empty() && !tags.contains(&t) {
                tags.push(t);
            }
        }
        for place in named {
            if !regions.contains(&place.region) {
                regions.push(place.region.clone());
            }
            if !tags.contains(&place.tag) {
                tags.push(place.tag.clone());
            }
            if !places.contains(&place.tag) {
                places.push(place.tag.clone());
            }
            if !place_regions.contains(&place.region) {
                place_regions.push(place.region.clone());
            }
        }
        Filing { sections, regions, tags, places, place_regions }
    }

    /// Why an item is filed where it is, rule by rule: for each section it
    /// gets, every reason found (a keyword once per occurrence). For looking into misfilings (the
    /// labelled evaluation's `EVAL_SECTIONS` dump); filing itself is
    /// [`Categorizer::file_words`].
    pub fn explain_sections(&self, source: &str, words: &[&str], categories: &[String]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        fn add(out: &mut Vec<(String, String)>, id: &str, why: String) {
            out.push((id.to_string(), why));
        }
        if let Some((src_sections, _, _)) = self.source_sections.get(source) {
            for s in src_sections {
                add(&mut out, s, format!("source {source}"));
            }
        }
        let cats: HashSet<String> = categories.iter().map(|c| text::fold(c.trim())).collect();
        for rule in &self.sections {
            if let Some(c) = rule.categories.iter().find(|c| cats.contains(*c)) {
                add(&mut out, &rule.id, format!("category {c:?}"));
            }
        }
        let mut hits: Vec<(std::ops::Range<usize>, usize)> = Vec::new();
        self.phrases.find_at(words, |at, phrase| {
            if let Phrase::Keyword(i) = phrase {
                hits.push((at, *i));
            }
        });
        for (at, i) in hits {
            let passing = if passing_mention(words, at.clone()) { " (passing mention: not counted)" } else { "" };
            add(
                &mut out,
                &self.sections[i].id,
                format!("keyword at word {}: {:?}{passing}", at.start, words[at.clone()].join(" ")),
            );
        }
        let files = self.file_words(source, words, categories).sections;
        out.retain(|(s, _)| files.contains(s));
        for s in files {
            if !out.iter().any(|(o, _)| *o == s) {
                add(&mut out, &s, "fallback".to_string());
            }
        }
        out
    }

    /// A story's sections from the union of its items': the fallback section
    /// only when no item was filed anywhere else ("with none, the fallback").
    pub fn settle_sections(&self, sections: &mut Vec<String>) {
        if let Some(fallback) = &self.fallback {
            if sections.len() > 1 {
                sections.retain(|s| s != fallback);
            }
        }
    }

    /// Whether a source is a breaking wire.
    pub fn breaking_source(&self, source: &str) -> bool {
        self.source_sections.get(source).is_some_and(|s| s.2)
    }

    /// Whether a title carries a breaking keyword as whole words.
    pub fn breaking_title(&self, title: &str) -> bool {
        let folded = text::fold(title);
        self.breaking_words(&text::split_folded(&folded))
    }

    /// [`Categorizer::breaking_title`] for a title already folded and split.
    pub fn breaking_words(&self, title_words: &[&str]) -> bool {
        self.breaking_keywords.iter().any(|k| text::contains_phrase(title_words, k))
    }
}

// Passing mentions. A keyword names what a story is about, except where the
// text only names who gave the figures or where the wounded were taken: "...,
// the health ministry said", "according to the WHO", "según la OMS",
// "بحسب وزارة الصحة", "ونقل المصابون إلى مستشفى ...". An accident or a raid
// reported with a ministry's toll is not a health story, and a desk does not
// want it under Health; the same word as the subject of the sentence ("the
// health ministry launched a vaccination drive") still counts. The words are
// folded (no accents, Arabic letter variants unified) and looked at right
// next to the keyword, with at most an article in between.

/// Words that put what follows as the source of a report: "according to",
/// "según", "informó", "dijo", and Arabic "according to", "said", "announced",
/// "reported" (وفق، بحسب، قالت، أعلنت، ذكرت، أفادت...).
const SOURCE_BEFORE: &[&str] = &[
    "segun",
    "informo",
    "dijo",
    "indico",
    "senalo",
    "وفق",
    "وفقا",
    "بحسب",
    "حسب",
    "طبقا",
    "قال",
    "قالت",
    "اعلن",
    "اعلنت",
    "ذكر",
    "ذكرت",
    "افاد",
    "افادت",
];

/// Words that put what precedes as the source: "... said", "dijo".
const SOURCE_AFTER: &[&str] = &["said", "says", "reported", "dijo", "informo"];

/// Words that send the wounded somewhere ("taken/rushed to", "trasladados a",
/// نقل إلى), and the prepositions that follow them.
const TAKEN: &[&str] = &[
    "taken",
    "rushed",
    "airlifted",
    "transferred",
    "trasladados",
    "trasladadas",
    "trasladado",
    "llevados",
    "evacuados",
    "نقل",
    "نقلوا",
    "نقلت",
    "اسعف",
    "اسعفوا",
];
const TO: &[&str] = &["to", "into", "a", "al", "hacia", "الي"];

/// Articles that may stand between those words and the keyword.
const ARTICLES: &[&str] = &["the", "an", "el", "la", "los", "las", "del"];

/// An Arabic word without a leading و or ف ("and"), as the marker lists hold
/// bare words.
fn bare(w: &str) -> &str {
    if w.chars().count() > 3 {
        if let Some(rest) = w.strip_prefix('و').or_else(|| w.strip_prefix('ف')) {
            return rest;
        }
    }
    w
}

/// Whether the keyword spanning `at` in `words` is only a passing mention
/// (see above).
fn passing_mention(words: &[&str], at: std::ops::Range<usize>) -> bool {
    if words.get(at.end).is_some_and(|w| SOURCE_AFTER.contains(w)) {
        return true;
    }
    // The words before the keyword, nearest first, without articles.
    let before: Vec<&str> =
        words[..at.start].iter().rev().take(5).map(|w| bare(w)).filter(|w| !ARTICLES.contains(w)).collect();
    match before.as_slice() {
        [w, ..] if SOURCE_BEFORE.contains(w) => true,
        ["to", "according", ..] => true,
        // "taken to", "ونقل المصابون إلى": the verb right before the
        // preposition or one word (the subject) before it.
        [to, rest @ ..] if TO.contains(to) => rest.iter().take(2).any(|w| TAKEN.contains(w)),
        _ => false,
    }
}

/// Whether `min_sources` distinct sources published within `window` of the
/// first item: `items` are (source, published time).
pub fn breaking_by_coverage(items: &[(&str, Timestamp)], min_sources: usize, window_secs: i64) -> bool {
    let Some(first) = items.iter().map(|(_, t)| *t).min() else {
        return false;
    };
    let sources: HashSet<&str> = items.iter().filter(|(_, t)| *t - first <= window_secs).map(|(s, _)| *s).collect();
    sources.len() >= min_sources
}

/// A tag as it appears in URLs: folded, words joined by '-'.
pub fn slug(s: &str) -> String {
    text::tokens(s).join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("  Middle   East "), "middle-east");
        assert_eq!(slug("Economía"), "economia");
        assert_eq!(slug("الشرق الأوسط"), "الشرق-الاوسط");
        assert_eq!(slug("C++ / Rust"), "c-rust");
    }

    #[test]
    fn coverage_window_is_on_published_times() {
        let items = [("a", 0), ("b", 600), ("c", 1800)];
        assert!(breaking_by_coverage(&items, 3, 1800));
        assert!(!breaking_by_coverage(&items, 3, 1799));
        let same_source = [("a", 0), ("a", 10), ("b", 20)];
        assert!(!breaking_by_coverage(&same_source, 3, 1800));
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;
    use crate::config::{Config, Region, Section, Source};

    fn config() -> Config {
        let mut c = Config::with_defaults(std::path::Path::new("/x/c.toml"));
        let section = |id: &str, cats: &[&str], kws: &[&str], fallback: bool| Section {
            id: id.into(),
            title: id.into(),
            group: "News".into(),
            categories: cats.iter().map(|s| s.to_string()).collect(),
            keywords: kws.iter().map(|s| s.to_string()).collect(),
            fallback,
            names: Default::default(),
        };
        c.sections = vec![
            section(
                "politics",
                &["Politics", "سياسة"],
                &["election", "انتخابات", "elecciones", "prime minister"],
                false,
            ),
            section("economy", &["Economía"], &["inflación", "التضخم"], false),
            section(
                "health",
                &[],
                &["hospital", "health ministry", "world health organization", "OMS", "وزارة الصحة", "مستشفى"],
                false,
            ),
            section("misc", &[], &[], true),
        ];
        c.regions = vec![Region {
            id: "mena".into(),
            title: "MENA".into(),
            places: vec!["Lebanon".into(), "لبنان".into(), "Líbano".into(), "Beirut".into()],
            names: Default::default(),
        }];
        c.sources = vec![Source {
            id: "wire".into(),
            url: url::Url::parse("https://w.example/").unwrap(),
            title: None,
            sections: vec!["economy".into()],
            region: None,
            language: None,
            breaking: true,
            interval: None,
        }];
        c
    }

    fn file(source: &str, title: &str, summary: &str, cats: &[&str]) -> Filing {
        let cats: Vec<String> = cats.iter().map(|s| s.to_string()).collect();
        Categorizer::new(&config()).file(&ItemText { source, title, summary, categories: &cats })
    }

    #[test]
    fn sections_table() {
        // (case, source, title, feed categories, expected sections)
        type Case<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [&'a str]);
        let cases: &[Case] = &[
            ("category, any case", "x", "Council meets", &["POLITICS"], &["politics"]),
            ("arabic category", "x", "اجتماع", &["سياسة"], &["politics"]),
            ("accented category folded", "x", "Datos", &["economia"], &["economy"]),
            ("english keyword, whole word", "x", "Snap election called", &[], &["politics"]),
            ("not inside a word", "x", "Preelection jitters", &[], &["misc"]),
            ("keyword in the summary", "x", "Talks", &[], &["misc"]),
            ("phrase keyword", "x", "The Prime Minister resigns", &[], &["politics"]),
            ("arabic keyword with clitics", "x", "والانتخابات المقبلة في لبنان", &[], &["politics"]),
            ("arabic keyword with diacritics", "x", "التَّضَخُّم يرتفع", &[], &["economy"]),
            ("spanish keyword without accent", "x", "La inflacion baja", &[], &["economy"]),
            ("spanish keyword, accents", "x", "Elecciones en México", &[], &["politics"]),
            ("source sections always", "wire", "Weather", &[], &["economy"]),
            ("fallback when nothing", "x", "Cat rescued from tree", &[], &["misc"]),
        ];
        for (name, source, title, cats, want) in cases {
            let got = file(source, title, "", cats);
            assert_eq!(got.sections, *want, "{name}");
        }
        assert_eq!(file("x", "Talks", "Ahead of the election", &[]).sections, ["politics"], "summary keyword");
    }

    #[test]
    fn passing_mentions_do_not_file() {
        // (case, title, expected sections): who gave the figures, or where
        // the wounded were taken, is not what the story is about.
        let cases: &[(&str, &str, &[&str])] = &[
            ("source after: said", "Six killed in crash, the health ministry said", &["misc"]),
            ("source after: says", "Bus crash kills 9, health ministry says", &["misc"]),
            ("source before: according to the", "Nine dead, according to the health ministry", &["misc"]),
            ("spanish según la", "Seis muertos en un choque, según la OMS", &["misc"]),
            ("spanish informó el", "Informó el hospital que hay seis heridos", &["misc"]),
            ("arabic بحسب", "مقتل ستة أشخاص بحسب وزارة الصحة", &["misc"]),
            ("arabic وفق with و", "مقتل ستة أشخاص ووفق وزارة الصحة", &["misc"]),
            ("arabic قالت", "قالت وزارة الصحة إن ستة قتلوا", &["misc"]),
            ("taken to hospital", "Six hurt, taken to hospital after crash", &["misc"]),
            ("rushed to a hospital", "Driver rushed to a hospital after crash", &["misc"]),
            ("spanish trasladados al", "Heridos trasladados al hospital", &["misc"]),
            ("arabic verb, subject, إلى", "ونقل المصابون إلى مستشفى المدينة", &["misc"]),
            ("subject of the sentence", "The health ministry launches a vaccination drive", &["health"]),
            ("arabic subject", "وزارة الصحة تطلق حملة تطعيم", &["health"]),
            ("arabic launched", "أطلقت وزارة الصحة حملة تطعيم", &["health"]),
            ("spanish subject", "La OMS aprueba una vacuna", &["health"]),
            ("hospital as the topic", "Hospital strike enters third week", &["health"]),
            ("to, without a verb of taking", "Funding to hospital cut", &["health"]),
            ("one passing, one not", "Hospital overwhelmed, the health ministry said", &["health"]),
        ];
        for (name, title, want) in cases {
            assert_eq!(file("x", title, "", &[]).sections, *want, "{name}");
        }
    }

    #[test]
    fn regions_and_tags() {
        let f = file("x", "Protests in Beirut", "", &["Middle  East", "World"]);
        assert_eq!(f.regions, ["mena"]);
        assert_eq!(f.tags, ["middle-east", "world", "beirut"]);
        assert_eq!(file("x", "Crisis en el Líbano", "", &[]).regions, ["mena"]);
        assert_eq!(file("x", "أزمة في لبنان", "", &[]).tags, ["لبنان"]);
        assert!(file("x", "Lebanese cuisine", "", &[]).regions.is_empty(), "whole words only");
    }

    #[test]
    fn breaking_table() {
        let c = Categorizer::new(&config());
        assert!(c.breaking_source("wire"));
        assert!(!c.breaking_source("x"));
        for (title, want) in [
            ("BREAKING: quake hits", true),
            ("Urgent: evacuate now", true),
            ("عاجل: انفجار في بيروت", true),
            ("Última hora: terremoto", true),
            ("ultima hora: sismo", true),
            ("Scientists announce breakthrough", false),
            ("Breakingviews column", false),
        ] {
            assert_eq!(c.breaking_title(title), want, "{title}");
        }
        let window = 1800;
        // Three sources inside the window, counted from the first item's published time.
        assert!(breaking_by_coverage(&[("a", 1000), ("b", 1500), ("c", 2800)], 3, window));
        // The window edge: 1801 s after the first is outside.
        assert!(!breaking_by_coverage(&[("a", 1000), ("b", 1500), ("c", 2801)], 3, window));
        // A backlog fetched at once: published hours apart, so not breaking.
        assert!(!breaking_by_coverage(&[("a", 0), ("b", 7200), ("c", 14_400)], 3, window));
    }

    #[test]
    fn a_keyword_anywhere_in_a_long_summary_files() {
        // DESIGN.md: keywords are looked for in the title or the summary, all of it.
        let filler = "The council met again on Tuesday to discuss the road works. ".repeat(20);
        let deep = file("herald", "Road works", &format!("{filler} Elections are near."), &[]);
        assert_eq!(deep.sections, ["politics"]);
    }
}
