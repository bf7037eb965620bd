//! The site a reader meets: the front page and its Arabic and Spanish
//! editions, section, region and tag pages, and a page per story. HTML from
//! compiled askama templates (`templates/`), which escape every value, with
//! one small inlined stylesheet and no script.
//!
//! The front pages and the first page of every section and region are
//! rendered into the snapshot at each publication; tag pages, later pages and
//! story pages are rendered on request through the HTTP side's bounded cache.

use super::render::{rfc3339, EntryDoc, Format};
use super::{FeedName, PageRequest, PublishError, Publisher, Rendered};
use crate::config::{Config, Names};
use crate::model::{Member, Story, Timestamp};
use crate::store::FeedKey;
use askama::Template;
use std::collections::{HashMap, HashSet};

/// Stories on a section, region or tag page.
pub const PAGE_STORIES: usize = 20;
/// Stories a front-page shelf shows, and how far back it looks for them.
const SHELF_STORIES: usize = 4;
const RECENT: Timestamp = 7 * 86_400;
/// Stories a front-page shelf looks at for its few (a language filter skips some).
const SHELF_SCAN: usize = 200;
/// Outlets a story page lists by name; the rest are counted.
const MAX_REPORTS: usize = 60;
/// How far from a story a related one may be, and how many are listed.
const RELATED_SPAN: Timestamp = 3 * 86_400;
const RELATED: usize = 5;
/// A lead's first sentence is cut at this many characters.
const LEAD_CHARS: usize = 220;

const CSS: &str = include_str!("../../templates/site.css");

/// An edition of the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ar,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ar, Lang::Es];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
            Lang::Es => "es",
        }
    }

    pub fn dir(self) -> &'static str {
        if self == Lang::Ar {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// Where the edition's pages live: "" for English, "/ar", "/es".
    pub fn prefix(self) -> &'static str {
        match self {
            Lang::En => "",
            Lang::Ar => "/ar",
            Lang::Es => "/es",
        }
    }

    /// The edition's front page path.
    pub fn home(self) -> String {
        format!("{}/", self.prefix())
    }

    /// The language filter of the edition's stories (English shows all).
    fn filter(self) -> Option<String> {
        (self != Lang::En).then(|| self.code().to_string())
    }

    /// Split an edition prefix off a request path: `/ar/stories/x` is
    /// (Arabic, `/stories/x`); `/ar` alone is the Arabic front page.
    pub fn split(path: &str) -> (Lang, &str) {
        for lang in [Lang::Ar, Lang::Es] {
            if let Some(rest) = path.strip_prefix(lang.prefix()) {
                if rest.is_empty() {
                    return (lang, "/");
                }
                if rest.starts_with('/') {
                    return (lang, rest);
                }
            }
        }
        (Lang::En, path)
    }

    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Ar => &AR,
            Lang::Es => &ES,
        }
    }

    fn pick<'a>(self, en: &'a str, ar: &'a Option<String>, es: &'a Option<String>) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Ar => ar.as_deref().unwrap_or(en),
            Lang::Es => es.as_deref().unwrap_or(en),
        }
    }

    fn title<'a>(self, en: &'a str, names: &'a Names) -> &'a str {
        self.pick(en, &names.title_ar, &names.title_es)
    }

    /// A group's name; the default group ("News") has its words in every edition.
    fn group<'a>(self, en: &'a str, names: &'a Names) -> &'a str {
        let en = if en == "News" { self.words().news } else { en };
        self.pick(en, &names.group_ar, &names.group_es)
    }

    /// "12 minutes ago", in this edition's words.
    pub fn ago(self, secs: Timestamp, then: Timestamp) -> String {
        let s = secs.max(0);
        let (n, unit) = match s {
            0..=59 => return self.words().just_now.to_string(),
            60..=3599 => (s / 60, 0),
            3600..=86_399 => (s / 3600, 1),
            86_400..=2_591_999 => (s / 86_400, 2),
            _ => {
                let d = chrono::DateTime::<chrono::Utc>::from_timestamp(then, 0).unwrap_or_default();
                return d.format("%Y-%m-%d").to_string();
            }
        };
        match self {
            Lang::En => {
                let name = ["minute", "hour", "day"][unit];
                format!("{n} {name}{} ago", if n == 1 { "" } else { "s" })
            }
            Lang::Es => {
                let name = [("minuto", "minutos"), ("hora", "horas"), ("día", "días")][unit];
                format!("hace {n} {}", if n == 1 { name.0 } else { name.1 })
            }
            Lang::Ar => {
                // One, two (dual), 3 to 10 (plural), 11 and up (singular accusative).
                let forms = [
                    ("دقيقة", "دقيقتين", "دقائق", "دقيقة"),
                    ("ساعة", "ساعتين", "ساعات", "ساعة"),
                    ("يوم", "يومين", "أيام", "يومًا"),
                ][unit];
                match n {
                    1 => format!("منذ {}", forms.0),
                    2 => format!("منذ {}", forms.1),
                    3..=10 => format!("منذ {n} {}", forms.2),
                    _ => format!("منذ {n} {}", forms.3),
                }
            }
        }
    }

    /// "BBC, CNN and 3 more" as pieces: each outlet's name and what follows it.
    fn outlets(self, names: &[String]) -> Vec<Outlet> {
        let w = self.words();
        let piece = |name: &str, after: String| Outlet { name: name.to_string(), after };
        match names {
            [] => vec![],
            [a] => vec![piece(a, String::new())],
            [a, b] => vec![piece(a, w.and.to_string()), piece(b, String::new())],
            [a, b, c] => vec![piece(a, w.comma.to_string()), piece(b, w.and.to_string()), piece(c, String::new())],
            [a, b, rest @ ..] => {
                vec![piece(a, w.comma.to_string()), piece(b, w.and_more.replace("{}", &rest.len().to_string()))]
            }
        }
    }
}

/// The words of a page that are not news: one set per edition.
pub struct Words {
    pub skip: &'static str,
    pub breaking: &'static str,
    pub no_breaking: &'static str,
    pub most_covered: &'static str,
    pub most_covered_note: &'static str,
    pub no_top: &'static str,
    pub regions: &'static str,
    pub sections: &'static str,
    pub editions: &'static str,
    pub pages: &'static str,
    pub see_all: &'static str,
    pub nothing_recent: &'static str,
    pub no_stories: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub reports: &'static str,
    pub filed: &'static str,
    pub related: &'static str,
    pub no_related: &'static str,
    pub follow: &'static str,
    pub feed_of: &'static str,
    pub min_read: &'static str,
    pub outlets: &'static str,
    pub one_outlet: &'static str,
    pub more_reports: &'static str,
    pub footer: &'static str,
    pub all_feeds: &'static str,
    pub just_now: &'static str,
    pub and: &'static str,
    pub comma: &'static str,
    pub and_more: &'static str,
    pub page_two: &'static str,
    pub tag: &'static str,
    pub news: &'static str,
    pub name: &'static str,
}

static EN: Words = Words {
    skip: "Skip to the news",
    breaking: "Breaking",
    no_breaking: "No breaking news right now.",
    most_covered: "Most covered",
    most_covered_note: "Carried by the most outlets in the last 24 hours.",
    no_top: "No story in the last 24 hours yet.",
    regions: "Regions",
    sections: "Sections",
    editions: "Editions",
    pages: "More stories",
    see_all: "All {} stories",
    nothing_recent: "Nothing new in {} this week.",
    no_stories: "No stories yet.",
    older: "Older stories",
    newest: "Newest stories",
    reports: "Who reported it",
    filed: "Filed under",
    related: "Related",
    no_related: "No related stories yet.",
    follow: "Follow {} in your feed reader (Atom)",
    feed_of: "{} feed",
    min_read: "{} min read",
    outlets: "{} outlets",
    one_outlet: "1 outlet",
    more_reports: "and {} more outlets",
    footer: "Republished by newsdesk from the outlets named on each story. Every story links to its sources.",
    all_feeds: "Every feed of this site (OPML)",
    just_now: "just now",
    and: " and ",
    comma: ", ",
    and_more: " and {} more",
    page_two: "older stories",
    tag: "Tag: {}",
    news: "News",
    name: "English",
};

static AR: Words = Words {
    skip: "انتقل إلى الأخبار",
    breaking: "عاجل",
    no_breaking: "لا أخبار عاجلة الآن.",
    most_covered: "الأكثر تغطية",
    most_covered_note: "ما نقلته أكثر المنافذ في آخر 24 ساعة.",
    no_top: "لا أخبار في آخر 24 ساعة بعد.",
    regions: "المناطق",
    sections: "الأقسام",
    editions: "الطبعات",
    pages: "مزيد من الأخبار",
    see_all: "كل أخبار {}",
    nothing_recent: "لا جديد في {} هذا الأسبوع.",
    no_stories: "لا أخبار بعد.",
    older: "أخبار أقدم",
    newest: "أحدث الأخبار",
    reports: "من نقل الخبر",
    filed: "مصنّف في",
    related: "أخبار ذات صلة",
    no_related: "لا أخبار ذات صلة بعد.",
    follow: "تابع {} في قارئ الخلاصات (Atom)",
    feed_of: "خلاصة {}",
    min_read: "قراءة في {} دقيقة",
    outlets: "{} منافذ",
    one_outlet: "منفذ واحد",
    more_reports: "و{} منافذ أخرى",
    footer: "أعاد نشرها newsdesk عن المنافذ المذكورة مع كل خبر. كل خبر يحيل إلى مصادره.",
    all_feeds: "كل خلاصات الموقع (OPML)",
    just_now: "الآن",
    and: " و",
    comma: "، ",
    and_more: " و{} آخرين",
    page_two: "أخبار أقدم",
    tag: "وسم: {}",
    news: "أخبار",
    name: "العربية",
};

static ES: Words = Words {
    skip: "Ir a las noticias",
    breaking: "Última hora",
    no_breaking: "No hay noticias de última hora.",
    most_covered: "Lo más cubierto",
    most_covered_note: "Publicado por más medios en las últimas 24 horas.",
    no_top: "Aún no hay noticias de las últimas 24 horas.",
    regions: "Regiones",
    sections: "Secciones",
    editions: "Ediciones",
    pages: "Más noticias",
    see_all: "Todas las noticias de {}",
    nothing_recent: "Nada nuevo en {} esta semana.",
    no_stories: "Aún no hay noticias.",
    older: "Noticias anteriores",
    newest: "Noticias más recientes",
    reports: "Quién lo publicó",
    filed: "Archivado en",
    related: "Relacionadas",
    no_related: "Aún no hay noticias relacionadas.",
    follow: "Seguir {} en tu lector de feeds (Atom)",
    feed_of: "Feed de {}",
    min_read: "{} min de lectura",
    outlets: "{} medios",
    one_outlet: "1 medio",
    more_reports: "y {} medios más",
    footer:
        "Republicado por newsdesk a partir de los medios citados en cada noticia. Cada noticia enlaza a sus fuentes.",
    all_feeds: "Todos los feeds del sitio (OPML)",
    just_now: "hace un momento",
    and: " y ",
    comma: ", ",
    and_more: " y {} más",
    page_two: "noticias anteriores",
    tag: "Etiqueta: {}",
    news: "Noticias",
    name: "Español",
};

pub struct Outlet {
    pub name: String,
    pub after: String,
}

pub struct When {
    pub datetime: String,
    pub words: String,
}

/// A story as a list shows it.
pub struct Card {
    pub href: String,
    pub title: String,
    /// The language of its title and lead ("" when unknown).
    pub lang: String,
    pub lead: String,
    pub outlets: Vec<Outlet>,
    pub time: When,
}

pub struct Link {
    pub href: String,
    pub label: String,
}

pub struct NavLink {
    pub href: String,
    pub label: String,
    pub current: bool,
}

pub struct Edition {
    pub href: String,
    /// The same under `public_url`, for `<link rel="alternate" hreflang>`.
    pub absolute: String,
    pub code: &'static str,
    pub dir: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct Alternate {
    pub mime: &'static str,
    pub title: String,
    pub href: String,
}

/// What every page has around its content.
pub struct Chrome {
    pub lang: Lang,
    pub w: &'static Words,
    pub site: String,
    pub title: String,
    pub home: String,
    pub is_home: bool,
    pub nav: Vec<NavLink>,
    pub editions: Vec<Edition>,
    pub alternates: Vec<Alternate>,
    pub css: &'static str,
}

pub struct Shelf {
    pub anchor: String,
    pub title: String,
    pub href: String,
    pub feed: String,
    pub feed_label: String,
    pub see_all: String,
    /// "Nothing new in X this week." when nothing is recent (the cards are
    /// then its last stories, older).
    pub quiet: Option<String>,
    pub cards: Vec<Card>,
}

pub struct Group {
    pub title: String,
    pub shelves: Vec<Shelf>,
}

#[derive(Template)]
#[template(path = "front.html")]
pub struct FrontPage {
    pub c: Chrome,
    pub breaking: Vec<Card>,
    pub top: Vec<Card>,
    pub groups: Vec<Group>,
    pub regions: Vec<Shelf>,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub heading: String,
    pub feeds: Vec<Link>,
    pub cards: Vec<Card>,
    pub newer: Option<String>,
    pub older: Option<String>,
}

pub struct Report {
    pub outlet: String,
    pub headline: String,
    pub href: Option<String>,
    pub lang: String,
    pub time: When,
}

#[derive(Template)]
#[template(path = "story.html")]
pub struct StoryPage {
    pub c: Chrome,
    pub headline: String,
    pub lang: String,
    pub lead: String,
    pub time: When,
    pub coverage: String,
    pub reading: String,
    pub reports: Vec<Report>,
    pub more_reports: String,
    pub labels: Vec<Link>,
    pub related: Vec<Card>,
    pub subscribe: Link,
}

/// A page that is not there: gone, moved by a merge, or never was.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("no such page")]
    NotFound,
    /// The story was absorbed into this one.
    #[error("moved to {0}")]
    Moved(String),
    #[error(transparent)]
    Store(#[from] PublishError),
}

/// Which listing page: its feed, and its path under the edition.
pub fn listing(path: &str) -> Option<FeedName> {
    let decode = |s: &str| -> Option<String> {
        let d = url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes()).next()?.1.into_owned();
        (!d.is_empty() && !d.contains('/')).then_some(d)
    };
    if let Some(s) = path.strip_prefix("/sections/") {
        return decode(s).map(FeedName::Section);
    }
    if let Some(r) = path.strip_prefix("/regions/") {
        return decode(r).map(FeedName::Region);
    }
    path.strip_prefix("/tags/").and_then(decode).map(FeedName::Tag)
}

/// The path of a listing page (without the edition prefix).
pub fn listing_path(feed: &FeedName) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    match feed {
        FeedName::Section(s) => format!("/sections/{}", enc(s)),
        FeedName::Region(r) => format!("/regions/{}", enc(r)),
        FeedName::Tag(t) => format!("/tags/{}", enc(t)),
        _ => "/".into(),
    }
}

/// A feed format as readers know it.
fn format_name(f: Format) -> &'static str {
    match f {
        Format::Rss => "RSS",
        Format::Atom => "Atom",
        Format::Json => "JSON Feed",
    }
}

/// The plain text of a summary, cut to its first sentence.
pub fn first_sentence(summary: &str) -> String {
    let text = crate::parse::normalize::plain_text(summary);
    let mut end = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '.' | '!' | '?' | '؟' | '。') && i > 20 && chars.peek().is_none_or(|(_, n)| n.is_whitespace())
        {
            end = Some(i + c.len_utf8());
            break;
        }
    }
    let sentence = end.map_or(text.as_str(), |e| &text[..e]).trim();
    let cut = crate::text::lead(sentence, LEAD_CHARS);
    if cut.len() < sentence.len() {
        format!("{cut}…")
    } else {
        cut.to_string()
    }
}

fn html(page: impl Template, modified: Timestamp) -> Result<Rendered, PublishError> {
    let body = page.render().map_err(|e| PublishError::Render(e.to_string()))?;
    Ok(Rendered::new(body.into_bytes(), modified, "text/html; charset=utf-8").with_brotli())
}

impl Publisher {
    fn chrome(&self, config: &Config, lang: Lang, title: Option<&str>, here: &str) -> Chrome {
        let site = config.server.title.clone();
        let nav = config
            .sections
            .iter()
            .map(|s| {
                let href = format!("{}{}", lang.prefix(), listing_path(&FeedName::Section(s.id.clone())));
                NavLink { current: href == here, href, label: lang.title(&s.title, &s.names).to_string() }
            })
            .collect();
        // The switch leads to the same page in the other editions.
        let rest = Lang::split(here).1;
        let editions = Lang::ALL
            .iter()
            .map(|&l| Edition {
                href: format!("{}{}", l.prefix(), rest),
                absolute: format!("{}{}{}", config.server.public_url.as_str().trim_end_matches('/'), l.prefix(), rest),
                code: l.code(),
                dir: l.dir(),
                label: l.words().name,
                current: l == lang,
            })
            .collect();
        Chrome {
            lang,
            w: lang.words(),
            title: title.map_or(site.clone(), |t| format!("{t} — {site}")),
            site,
            home: lang.home(),
            is_home: title.is_none(),
            nav,
            editions,
            alternates: Vec::new(),
            css: CSS,
        }
    }

    fn alternates(&self, config: &Config, feed: &FeedName, formats: &[Format]) -> Vec<Alternate> {
        let base = config.server.public_url.as_str().trim_end_matches('/');
        formats
            .iter()
            .map(|f| Alternate {
                mime: match f {
                    Format::Rss => "application/rss+xml",
                    Format::Atom => "application/atom+xml",
                    Format::Json => "application/feed+json",
                },
                title: format!("{} ({})", super::feed_title(config, feed), format_name(*f)),
                href: format!("{base}{}", feed.path(*f)),
            })
            .collect()
    }

    fn card(&self, lang: Lang, e: &EntryDoc, now: Timestamp) -> Card {
        let mut seen = HashSet::new();
        let names: Vec<String> =
            e.sources.iter().filter(|s| seen.insert(s.id.as_str())).map(|s| s.title.clone()).collect();
        Card {
            href: format!("{}/stories/{}", lang.prefix(), e.story.id),
            title: e.first.title.clone(),
            lang: e.language.clone(),
            lead: first_sentence(&e.first.summary),
            outlets: lang.outlets(&names),
            time: self.when(lang, e.story.time, now),
        }
    }

    fn when(&self, lang: Lang, t: Timestamp, now: Timestamp) -> When {
        When { datetime: rfc3339(t), words: lang.ago(now - t, t) }
    }

    fn cards(
        &self,
        config: &Config,
        lang: Lang,
        stories: Vec<Story>,
        now: Timestamp,
    ) -> Result<Vec<Card>, PublishError> {
        let mut out = Vec::with_capacity(stories.len());
        for story in stories {
            if let Some(e) = self.entry(config, story, now)? {
                out.push(self.card(lang, &e, now));
            }
        }
        Ok(out)
    }

    /// The newest stories of a feed since `since`, in an edition's language,
    /// looking at no more than [`SHELF_SCAN`].
    fn recent(&self, feed: &FeedName, lang: Lang, since: Timestamp, n: usize) -> Result<Vec<Story>, PublishError> {
        let req = PageRequest { feed: feed.clone(), format: Format::Atom, limit: n, lang: lang.filter(), before: None };
        let mut out = Vec::new();
        for key in self.store.page_keys(&feed.index(), None, SHELF_SCAN)? {
            if key.time < since || out.len() == n {
                break;
            }
            if let Some(s) = self.wanted(&key.story, &req)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// The front page of an edition.
    pub fn front_page(&self, lang: Lang, now: Timestamp) -> Result<Rendered, PublishError> {
        let config = self.config.load_full();
        let w = lang.words();
        let base = config.server.public_url.as_str().trim_end_matches('/');
        let mut c = self.chrome(&config, lang, None, &lang.home());
        for (feed, _) in super::page::all_feeds(&config) {
            let formats: &[Format] = if feed == FeedName::All { &Format::ALL } else { &[Format::Atom] };
            c.alternates.extend(self.alternates(&config, &feed, formats));
        }
        let filter = lang.filter();
        let (breaking, _) = self.select(
            &PageRequest {
                feed: FeedName::Breaking,
                format: Format::Atom,
                limit: 5,
                lang: filter.clone(),
                before: None,
            },
            now,
        )?;
        let (top, _) = self.select(
            &PageRequest { feed: FeedName::Top, format: Format::Atom, limit: 6, lang: filter, before: None },
            now,
        )?;
        let mut modified = self.started;
        let mut touch = |stories: &[Story]| {
            modified = stories.iter().map(|s| s.updated).fold(modified, Timestamp::max);
        };
        touch(&breaking);
        touch(&top);
        let breaking = self.cards(&config, lang, breaking, now)?;
        let top = self.cards(&config, lang, top, now)?;
        let shelf = |feed: FeedName, title: &str, n: usize, touch: &mut dyn FnMut(&[Story])| {
            // Nothing recent: the shelf says so, and shows its last two.
            let mut stories = self.recent(&feed, lang, now - RECENT, n)?;
            let quiet = stories.is_empty();
            if quiet {
                stories = self.recent(&feed, lang, Timestamp::MIN, 2)?;
            }
            touch(&stories);
            let anchor = match &feed {
                FeedName::Region(r) => format!("region-{r}"),
                FeedName::Section(s) => format!("section-{s}"),
                _ => String::new(),
            };
            Ok::<_, PublishError>(Shelf {
                anchor,
                href: format!("{}{}", lang.prefix(), listing_path(&feed)),
                feed: format!("{base}{}", feed.path(Format::Atom)),
                feed_label: w.feed_of.replace("{}", title),
                see_all: w.see_all.replace("{}", title),
                quiet: quiet.then(|| w.nothing_recent.replace("{}", title)),
                title: title.to_string(),
                cards: self.cards(&config, lang, stories, now)?,
            })
        };
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        for s in &config.sections {
            let i = *group_of.entry(s.group.as_str()).or_insert_with(|| {
                groups.push(Group { title: lang.group(&s.group, &s.names).to_string(), shelves: vec![] });
                groups.len() - 1
            });
            let title = lang.title(&s.title, &s.names);
            groups[i].shelves.push(shelf(FeedName::Section(s.id.clone()), title, SHELF_STORIES, &mut touch)?);
        }
        let mut regions = Vec::new();
        for r in &config.regions {
            regions.push(shelf(FeedName::Region(r.id.clone()), lang.title(&r.title, &r.names), 3, &mut touch)?);
        }
        html(FrontPage { c, breaking, top, groups, regions }, modified)
    }

    /// A page of a section, region or tag in an edition, from `before` on.
    pub fn listing_page(
        &self,
        lang: Lang,
        feed: &FeedName,
        before: Option<FeedKey>,
        now: Timestamp,
    ) -> Result<Rendered, PageError> {
        if !self.feed_exists(feed) {
            return Err(PageError::NotFound);
        }
        let config = self.config.load_full();
        let w = lang.words();
        let heading = match feed {
            FeedName::Section(s) => {
                config.sections.iter().find(|x| &x.id == s).map(|x| lang.title(&x.title, &x.names).to_string())
            }
            FeedName::Region(r) => {
                config.regions.iter().find(|x| &x.id == r).map(|x| lang.title(&x.title, &x.names).to_string())
            }
            FeedName::Tag(t) => Some(w.tag.replace("{}", t)),
            _ => None,
        }
        .ok_or(PageError::NotFound)?;
        let path = format!("{}{}", lang.prefix(), listing_path(feed));
        let first_page = before.is_none();
        let req =
            PageRequest { feed: feed.clone(), format: Format::Atom, limit: PAGE_STORIES, lang: lang.filter(), before };
        let (stories, next) = self.select(&req, now)?;
        let modified = stories.iter().map(|s| s.updated.max(s.time)).max().unwrap_or(self.started);
        let cards = self.cards(&config, lang, stories, now)?;
        let title = if first_page { heading.clone() } else { format!("{heading} — {}", w.page_two) };
        let mut c = self.chrome(&config, lang, Some(&title), &path);
        c.alternates = self.alternates(&config, feed, &Format::ALL);
        let base = config.server.public_url.as_str().trim_end_matches('/');
        let feeds = Format::ALL
            .iter()
            .map(|f| Link {
                href: format!("{base}{}", feed.path(*f)),
                label: format!("{} ({})", w.feed_of.replace("{}", &heading), format_name(*f)),
            })
            .collect();
        let older = next.map(|k| {
            let q =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("before", &self.cursor(&k)).finish();
            format!("{path}?{q}")
        });
        let page = ListPage { c, heading, feeds, cards, newer: (!first_page).then(|| path.clone()), older };
        Ok(html(page, modified)?)
    }

    /// Where an absorbed story's id leads now.
    pub fn story_redirect(&self, id: &str) -> Result<Option<String>, PublishError> {
        Ok(self.store.redirect(id)?)
    }

    /// A story's own page.
    pub fn story_page(&self, lang: Lang, id: &str, now: Timestamp) -> Result<Rendered, PageError> {
        let Some(story) = self.store.story(id).map_err(PublishError::from)? else {
            return match self.story_redirect(id)? {
                Some(to) => Err(PageError::Moved(to)),
                None => Err(PageError::NotFound),
            };
        };
        let config = self.config.load_full();
        let w = lang.words();
        let members = self.store.story_members(&story).map_err(PublishError::from)?;
        let Some(e) = self.entry(&config, story.clone(), now)? else {
            return Err(PageError::NotFound);
        };
        let (reports, outlets) = self.reports(&config, lang, &members, now)?;
        let more_reports = if outlets > reports.len() {
            w.more_reports.replace("{}", &(outlets - reports.len()).to_string())
        } else {
            String::new()
        };
        let lead = crate::parse::normalize::plain_text(&e.first.summary);
        let words = lead.split_whitespace().count() + e.first.title.split_whitespace().count();
        let labels = labels(&config, lang, &story);
        let related = self.related(&config, lang, &story, now)?;
        let follow = story.sections.first().map(|s| FeedName::Section(s.clone())).unwrap_or(FeedName::All);
        let follow_title = match &follow {
            FeedName::Section(s) => config
                .sections
                .iter()
                .find(|x| &x.id == s)
                .map_or(s.clone(), |x| lang.title(&x.title, &x.names).to_string()),
            _ => config.server.title.clone(),
        };
        let base = config.server.public_url.as_str().trim_end_matches('/');
        let subscribe =
            Link { href: format!("{base}{}", follow.path(Format::Atom)), label: w.follow.replace("{}", &follow_title) };
        let here = format!("{}/stories/{}", lang.prefix(), story.id);
        let mut c = self.chrome(&config, lang, Some(&e.first.title), &here);
        c.alternates = self.alternates(&config, &follow, &[Format::Atom]);
        let page = StoryPage {
            c,
            headline: e.first.title.clone(),
            lang: e.language.clone(),
            lead,
            time: self.when(lang, story.time, now),
            coverage: if outlets == 1 {
                w.one_outlet.to_string()
            } else {
                w.outlets.replace("{}", &outlets.to_string())
            },
            reading: w.min_read.replace("{}", &words.div_ceil(200).max(1).to_string()),
            reports,
            more_reports,
            labels,
            related,
            subscribe,
        };
        Ok(html(page, story.updated.max(story.time))?)
    }

    /// One line per outlet (its first report, at most [`MAX_REPORTS`]), and
    /// how many outlets carried the story.
    fn reports(
        &self,
        config: &Config,
        lang: Lang,
        members: &[Member],
        now: Timestamp,
    ) -> Result<(Vec<Report>, usize), PageError> {
        let mut seen = HashSet::new();
        let mut reports = Vec::new();
        let mut outlets = 0;
        for m in members {
            if !seen.insert(m.source.clone()) {
                continue;
            }
            outlets += 1;
            if reports.len() == MAX_REPORTS {
                continue;
            }
            let item = self.store.item(&m.key).map_err(PublishError::from)?;
            let Some(item) = item else { continue };
            let safe = |l: &String| l.starts_with("https://") || l.starts_with("http://");
            reports.push(Report {
                outlet: self.source_title(config, &m.source)?,
                headline: item.title.clone(),
                href: item.link.clone().or(m.link.clone()).filter(safe),
                lang: item.language.clone().unwrap_or_default(),
                time: self.when(lang, m.published, now),
            });
        }
        Ok((reports, outlets))
    }

    /// Stories within [`RELATED_SPAN`] of this one that share its tags or
    /// regions, the most shared first.
    fn related(&self, config: &Config, lang: Lang, story: &Story, now: Timestamp) -> Result<Vec<Card>, PublishError> {
        let mut score: HashMap<String, (usize, Timestamp)> = HashMap::new();
        let feeds = story
            .tags
            .iter()
            .take(8)
            .map(|t| FeedName::Tag(t.clone()))
            .chain(story.regions.iter().map(|r| FeedName::Region(r.clone())));
        for feed in feeds {
            // The 50 nearest before the span's end, whatever the tag holds.
            let end = FeedKey { time: story.time.saturating_add(RELATED_SPAN), story: String::new() };
            let keys = self.store.page_keys(&feed.index(), Some(&end), 50)?;
            let near = keys.into_iter().filter(|k| k.time >= story.time - RELATED_SPAN && k.story != story.id);
            for k in near {
                let e = score.entry(k.story).or_insert((0, k.time));
                e.0 += 1;
            }
        }
        let mut ranked: Vec<_> = score.into_iter().collect();
        ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(b.1 .1.cmp(&a.1 .1)).then(a.0.cmp(&b.0)));
        let mut stories = Vec::new();
        for (id, _) in ranked.into_iter().take(RELATED * 2) {
            if stories.len() == RELATED {
                break;
            }
            if let Some(s) = self.store.story(&id)? {
                stories.push(s);
            }
        }
        self.cards(config, lang, stories, now)
    }
}

/// A story's sections, regions and first tags, as links to their pages.
fn labels(config: &Config, lang: Lang, story: &Story) -> Vec<Link> {
    let mut labels = Vec::new();
    for s in &story.sections {
        if let Some(x) = config.sections.iter().find(|x| &x.id == s) {
            let href = format!("{}{}", lang.prefix(), listing_path(&FeedName::Section(s.clone())));
            labels.push(Link { href, label: lang.title(&x.title, &x.names).to_string() });
        }
    }
    for r in &story.regions {
        if let Some(x) = config.regions.iter().find(|x| &x.id == r) {
            let href = format!("{}{}", lang.prefix(), listing_path(&FeedName::Region(r.clone())));
            labels.push(Link { href, label: lang.title(&x.title, &x.names).to_string() });
        }
    }
    for t in story.tags.iter().take(12) {
        labels.push(Link {
            href: format!("{}{}", lang.prefix(), listing_path(&FeedName::Tag(t.clone()))),
            label: format!("#{t}"),
        });
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_in_words() {
        assert_eq!(Lang::En.ago(30, 0), "just now");
        assert_eq!(Lang::En.ago(60, 0), "1 minute ago");
        assert_eq!(Lang::En.ago(12 * 60, 0), "12 minutes ago");
        assert_eq!(Lang::En.ago(3 * 3600, 0), "3 hours ago");
        assert_eq!(Lang::Es.ago(2 * 86_400, 0), "hace 2 días");
        assert_eq!(Lang::Ar.ago(2 * 3600, 0), "منذ ساعتين");
        assert_eq!(Lang::Ar.ago(5 * 60, 0), "منذ 5 دقائق");
        assert_eq!(Lang::En.ago(90 * 86_400, 1_800_000_000), "2027-01-15");
    }

    #[test]
    fn outlets_in_words() {
        let names = |n: usize| (0..n).map(|i| ["BBC", "CNN", "AFP", "AP", "DW"][i].to_string()).collect::<Vec<_>>();
        let say = |lang: Lang, n| {
            lang.outlets(&names(n)).iter().map(|o| format!("{}{}", o.name, o.after)).collect::<String>()
        };
        assert_eq!(say(Lang::En, 1), "BBC");
        assert_eq!(say(Lang::En, 2), "BBC and CNN");
        assert_eq!(say(Lang::En, 3), "BBC, CNN and AFP");
        assert_eq!(say(Lang::En, 5), "BBC, CNN and 3 more");
        assert_eq!(say(Lang::Es, 5), "BBC, CNN y 3 más");
    }

    #[test]
    fn a_lead_is_its_first_sentence() {
        assert_eq!(
            first_sentence("<p>At least 12 people died in <em>Chile</em>. Rescue goes on.</p>"),
            "At least 12 people died in Chile."
        );
        assert_eq!(first_sentence("<p>No stop at all here</p>"), "No stop at all here");
        assert_eq!(first_sentence("لقي 12 شخصاً على الأقل حتفهم؟ نعم"), "لقي 12 شخصاً على الأقل حتفهم؟");
    }

    #[test]
    fn editions_and_listings_from_paths() {
        assert_eq!(Lang::split("/ar/"), (Lang::Ar, "/"));
        assert_eq!(Lang::split("/ar"), (Lang::Ar, "/"));
        assert_eq!(Lang::split("/es/stories/x"), (Lang::Es, "/stories/x"));
        assert_eq!(Lang::split("/arts"), (Lang::En, "/arts"));
        assert_eq!(listing("/sections/politics"), Some(FeedName::Section("politics".into())));
        assert_eq!(listing("/tags/%D9%85%D8%B5%D8%B1"), Some(FeedName::Tag("مصر".into())));
        assert_eq!(listing("/tags/a%2Fb"), None);
        assert_eq!(listing_path(&FeedName::Tag("مصر".into())), "/tags/%D9%85%D8%B5%D8%B1");
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn nothing_from_a_feed_runs_in_the_page() {
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let card = Card {
            href: "/stories/s1".into(),
            title: hostile.into(),
            lang: "en\" onload=\"x".into(),
            lead: hostile.into(),
            outlets: Lang::En.outlets(&["<b>Wire</b>".into()]),
            time: When { datetime: "2026-01-01T00:00:00Z".into(), words: "just now".into() },
        };
        let c = Chrome {
            lang: Lang::En,
            w: &EN,
            site: "Desk <b>".into(),
            title: "Desk <b>".into(),
            home: "/".into(),
            is_home: false,
            nav: vec![],
            editions: vec![],
            alternates: vec![],
            css: CSS,
        };
        let page = ListPage { c, heading: hostile.into(), feeds: vec![], cards: vec![card], newer: None, older: None };
        let html = page.render().unwrap();
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"), "{html}");
        // askama writes `<` and `>` as numeric references.
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(html.contains("Desk &#60;b&#62;"), "{html}");
        assert!(!html.contains("\" onload"));
    }
}
