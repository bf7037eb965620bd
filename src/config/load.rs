//! Reading a config file: TOML with spans, walked by hand so that every error
//! (unknown key, wrong type, bad value, bad reference) is collected with its line,
//! not just the first one serde would stop at.

use super::*;
use std::collections::HashSet;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Read and validate the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    load_str(path, &text)
}

/// Validate configuration text as if it were read from `path` (relative paths
/// resolve against `path`'s folder).
pub fn load_str(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let mut cx = Cx { file: path, text, errors: Vec::new() };
    let (doc, syntax) = DeTable::parse_recoverable(text);
    for e in syntax {
        let line = e.span().map(|s| cx.line(s.start)).unwrap_or(0);
        cx.errors.push(ConfigError {
            file: path.to_path_buf(),
            line,
            key: String::new(),
            message: format!("invalid TOML: {}", e.message().trim()),
        });
    }
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let config = read_config(&mut cx, doc.get_ref(), doc.span());
    if cx.errors.is_empty() {
        Ok(config)
    } else {
        cx.errors.sort_by_key(|e| e.line);
        Err(ConfigErrors(cx.errors))
    }
}

struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn err(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.into(),
        });
    }
}

type Val<'i> = Spanned<DeValue<'i>>;

/// One TOML table being read: remembers which keys were asked for, so the rest
/// can be reported as unknown.
struct Table<'t, 'i> {
    table: &'t DeTable<'i>,
    span: Range<usize>,
    /// How keys are named in errors: "poll", `sources "wire-en"`.
    name: String,
    seen: HashSet<&'static str>,
}

impl<'t, 'i> Table<'t, 'i> {
    fn new(table: &'t DeTable<'i>, span: Range<usize>, name: String) -> Self {
        Table { table, span, name, seen: HashSet::new() }
    }

    fn key(&self, k: &str) -> String {
        if self.name.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.name)
        }
    }

    fn get(&mut self, k: &'static str) -> Option<&'t Val<'i>> {
        self.seen.insert(k);
        self.table.get(k)
    }

    fn string(&mut self, cx: &mut Cx, k: &'static str) -> Option<(String, Range<usize>)> {
        let v = self.get(k)?;
        match v.get_ref() {
            DeValue::String(s) => {
                check_chars(cx, &self.key(k), s, &v.span());
                Some((s.to_string(), v.span()))
            }
            other => {
                cx.err(&v.span(), &self.key(k), format!("expected a string, found {}", other.type_str()));
                None
            }
        }
    }

    fn string_or(&mut self, cx: &mut Cx, k: &'static str, default: &str) -> String {
        self.string(cx, k).map(|(s, _)| s).unwrap_or_else(|| default.to_string())
    }

    fn bool_or(&mut self, cx: &mut Cx, k: &'static str, default: bool) -> bool {
        let Some(v) = self.get(k) else { return default };
        match v.get_ref() {
            DeValue::Boolean(b) => *b,
            other => {
                cx.err(&v.span(), &self.key(k), format!("expected true or false, found {}", other.type_str()));
                default
            }
        }
    }

    /// An integer in `min..=MAX_COUNT`: counts size semaphores and buffers, and
    /// a huge one would panic or allocate at run time, not at load.
    fn int_or(&mut self, cx: &mut Cx, k: &'static str, default: usize, min: usize) -> usize {
        let Some(v) = self.get(k) else { return default };
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                let digits = digits.trim_start_matches(['0', 'x', 'o', 'b']).to_string();
                i64::from_str_radix(if digits.is_empty() { "0" } else { &digits }, i.radix()).ok()
            }
            other => {
                cx.err(&v.span(), &self.key(k), format!("expected an integer, found {}", other.type_str()));
                return default;
            }
        };
        match parsed {
            Some(n) if n >= min as i64 && n <= MAX_COUNT as i64 => n as usize,
            _ => {
                cx.err(&v.span(), &self.key(k), format!("must be an integer from {min} to {MAX_COUNT}"));
                default
            }
        }
    }

    fn float_or(&mut self, cx: &mut Cx, k: &'static str, default: f64) -> (f64, Range<usize>) {
        let Some(v) = self.get(k) else {
            return (default, self.span.clone());
        };
        let n = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => i.as_str().replace('_', "").parse::<f64>().ok(),
            other => {
                cx.err(&v.span(), &self.key(k), format!("expected a number, found {}", other.type_str()));
                return (default, v.span());
            }
        };
        match n {
            Some(n) => (n, v.span()),
            None => {
                cx.err(&v.span(), &self.key(k), "not a number");
                (default, v.span())
            }
        }
    }

    fn strings(&mut self, cx: &mut Cx, k: &'static str) -> Option<Vec<(String, Range<usize>)>> {
        let v = self.get(k)?;
        let DeValue::Array(items) = v.get_ref() else {
            cx.err(&v.span(), &self.key(k), format!("expected a list of strings, found {}", v.get_ref().type_str()));
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => {
                    check_chars(cx, &self.key(k), s, &item.span());
                    out.push((s.to_string(), item.span()));
                }
                other => cx.err(&item.span(), &self.key(k), format!("expected a string, found {}", other.type_str())),
            }
        }
        Some(out)
    }

    fn string_list(&mut self, cx: &mut Cx, k: &'static str) -> Vec<String> {
        self.strings(cx, k).unwrap_or_default().into_iter().map(|(s, _)| s).collect()
    }

    fn duration(&mut self, cx: &mut Cx, k: &'static str) -> Option<Duration> {
        let (s, span) = self.string(cx, k)?;
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.err(&span, &self.key(k), e);
                None
            }
        }
    }

    fn duration_or(&mut self, cx: &mut Cx, k: &'static str, default: Duration) -> Duration {
        self.duration(cx, k).unwrap_or(default)
    }

    /// A duration that must not be zero (an interval of 0s polls in a busy loop).
    fn positive_duration(&mut self, cx: &mut Cx, k: &'static str) -> Option<Duration> {
        let d = self.duration(cx, k)?;
        if d.is_zero() {
            let span = self.get(k).map(|v| v.span()).unwrap_or_else(|| self.span.clone());
            cx.err(&span, &self.key(k), "must be larger than 0");
            return None;
        }
        Some(d)
    }

    fn positive_duration_or(&mut self, cx: &mut Cx, k: &'static str, default: Duration) -> Duration {
        self.positive_duration(cx, k).unwrap_or(default)
    }

    fn table(&mut self, cx: &mut Cx, k: &'static str) -> Option<Table<'t, 'i>> {
        let v = self.get(k)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table::new(t, v.span(), self.key(k))),
            other => {
                cx.err(&v.span(), &self.key(k), format!("expected a table, found {}", other.type_str()));
                None
            }
        }
    }

    /// An array of tables (`[[sources]]`), each with its span.
    fn tables(&mut self, cx: &mut Cx, k: &'static str) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
        let Some(v) = self.get(k) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            cx.err(&v.span(), k, format!("expected [[{k}]] tables, found {}", v.get_ref().type_str()));
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span())),
                other => cx.err(&item.span(), k, format!("expected a table, found {}", other.type_str())),
            }
        }
        out
    }

    /// Report every key that nobody asked for.
    fn finish(self, cx: &mut Cx) {
        for (key, _) in self.table.iter() {
            if !self.seen.contains(key.get_ref().as_ref()) {
                let name = self.key(key.get_ref());
                cx.err(&key.span(), &name, "unknown key");
            }
        }
    }
}

/// `[storage] backend`: "sled" (the default) or "postgres" with its `url`,
/// `password_file` or `password_env`, `pool`, `node` and `lease`.
fn read_backend(cx: &mut Cx, t: &mut Table, dir: &Path) -> Option<Postgres> {
    let keys = ["url", "password_file", "password_env", "pool", "node", "lease"];
    let backend = t.string(cx, "backend");
    match backend.as_ref().map(|(b, span)| (b.as_str(), span)) {
        None | Some(("sled", _)) => {
            for k in keys {
                if let Some(v) = t.get(k) {
                    cx.err(&v.span(), &t.key(k), "is for backend = \"postgres\"");
                }
            }
            None
        }
        Some(("postgres", span)) => {
            let span = span.clone();
            read_postgres(cx, t, dir, &span)
        }
        Some((other, span)) => {
            cx.err(span, "storage.backend", format!("\"{other}\" is not \"sled\" or \"postgres\""));
            None
        }
    }
}

fn read_postgres(cx: &mut Cx, t: &mut Table, dir: &Path, backend: &Range<usize>) -> Option<Postgres> {
    let url = match t.string(cx, "url") {
        Some((url, span)) => match url.parse::<tokio_postgres::Config>() {
            Ok(_) => url,
            Err(e) => {
                cx.err(&span, "storage.url", format!("is not a PostgreSQL connection string ({e})"));
                return None;
            }
        },
        None => {
            cx.err(backend, "storage.url", "backend = \"postgres\" needs a url (postgres://user@host:port/db)");
            return None;
        }
    };
    let password = read_password(cx, t, dir);
    let pool = t.int_or(cx, "pool", 8, 2);
    let node = t.string(cx, "node").map(|(n, _)| n).unwrap_or_else(default_node);
    let lease = t.positive_duration_or(cx, "lease", Duration::from_secs(60));
    Some(Postgres { url, password, pool, node, lease })
}

/// The database password from a file (its first line) or an environment
/// variable, checked now so that `check` refuses what `run` could not use.
fn read_password(cx: &mut Cx, t: &mut Table, dir: &Path) -> Option<Secret> {
    if let Some((file, span)) = t.string(cx, "password_file") {
        let path = dir.join(&file);
        return match std::fs::read_to_string(&path) {
            Ok(text) => Some(Secret(text.lines().next().unwrap_or("").to_string())),
            Err(e) => {
                cx.err(&span, "storage.password_file", format!("cannot read {}: {e}", path.display()));
                None
            }
        };
    }
    let (var, span) = t.string(cx, "password_env")?;
    match std::env::var(&var) {
        Ok(p) => Some(Secret(p)),
        Err(_) => {
            cx.err(&span, "storage.password_env", format!("the environment variable {var} is not set"));
            None
        }
    }
}

/// A node's name when the config gives none: the host's name and the
/// process id, so two daemons on one host are two nodes.
fn default_node() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "node".to_string() } else { host };
    format!("{host}-{}", std::process::id())
}

/// A string holding a character XML 1.0 forbids is refused: titles, places
/// and keywords end up in every republished feed, which it would make unreadable.
fn check_chars(cx: &mut Cx, key: &str, s: &str, span: &Range<usize>) {
    if let Some(c) = s.chars().find(|c| crate::xmlchars::forbidden(*c)) {
        cx.err(span, key, format!("holds U+{:04X}, a control character that XML 1.0 forbids", c as u32));
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The largest count a config may give (`concurrency`, `feed_items`, ...).
const MAX_COUNT: usize = 100_000;

/// Names a section id may not take: they are routes under `/feeds/`.
const RESERVED_SECTION_IDS: [&str; 5] = ["all", "breaking", "top", "regions", "tags"];

fn read_config(cx: &mut Cx, doc: &DeTable, doc_span: Range<usize>) -> Config {
    let dir = cx.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut root = Table::new(doc, doc_span, String::new());
    let mut config = Config::with_defaults(cx.file);

    if let Some(mut t) = root.table(cx, "server") {
        let s = &mut config.server;
        if let Some((listen, span)) = t.string(cx, "listen") {
            match listen.parse::<SocketAddr>() {
                Ok(a) => s.listen = a,
                Err(_) => cx.err(
                    &span,
                    "server.listen",
                    format!("\"{listen}\" is not an address:port such as \"127.0.0.1:8080\" or \"[::]:8080\""),
                ),
            }
        }
        if let Some((u, span)) = t.string(cx, "public_url") {
            match Url::parse(&u) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => s.public_url = url,
                _ => cx.err(&span, "server.public_url", format!("\"{u}\" is not an absolute http(s) URL")),
            }
        } else {
            s.public_url = Url::parse(&format!("http://{}/", s.listen)).unwrap_or(s.public_url.clone());
        }
        if let Some((u, span)) = t.string(cx, "websub_hub") {
            if !u.trim().is_empty() {
                match Url::parse(&u) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => s.websub_hub = Some(url),
                    _ => cx.err(&span, "server.websub_hub", format!("\"{u}\" is not an absolute http(s) URL")),
                }
            }
        }
        s.title = t.string_or(cx, "title", &s.title);
        s.feed_items = t.int_or(cx, "feed_items", s.feed_items, 1);
        s.max_feed_items = t.int_or(cx, "max_feed_items", s.max_feed_items, 1);
        if s.feed_items > s.max_feed_items {
            cx.err(&t.span, "server.feed_items", "is larger than server.max_feed_items");
        }
        t.finish(cx);
    }

    if let Some(mut t) = root.table(cx, "log") {
        if let Some((level, span)) = t.string(cx, "level") {
            // The same parser `logging::init` uses, so `run` never falls back silently.
            match tracing_subscriber::EnvFilter::try_new(&level) {
                Ok(_) => config.log.level = level,
                Err(e) => cx.err(&span, "log.level", format!("\"{level}\" is not a log filter ({e})")),
            }
        }
        if let Some((f, span)) = t.string(cx, "format") {
            match f.as_str() {
                "text" => config.log.format = LogFormat::Text,
                "json" => config.log.format = LogFormat::Json,
                _ => cx.err(&span, "log.format", format!("\"{f}\" is not \"text\" or \"json\"")),
            }
        }
        t.finish(cx);
    }

    if let Some(mut t) = root.table(cx, "storage") {
        if let Some((p, _)) = t.string(cx, "path") {
            config.storage.path = dir.join(p);
        }
        config.storage.retention = t.positive_duration_or(cx, "retention", config.storage.retention);
        config.storage.postgres = read_backend(cx, &mut t, &dir);
        t.finish(cx);
    }

    if let Some(mut t) = root.table(cx, "poll") {
        let p = &mut config.poll;
        p.interval = t.positive_duration_or(cx, "interval", p.interval);
        p.min_interval = t.positive_duration_or(cx, "min_interval", p.min_interval);
        p.max_interval = t.positive_duration_or(cx, "max_interval", p.max_interval);
        p.timeout = t.positive_duration_or(cx, "timeout", p.timeout);
        if let Some((s, span)) = t.string(cx, "max_body") {
            match parse_size(&s) {
                Ok(n) if n > 0 => p.max_body = n,
                Ok(_) => cx.err(&span, "poll.max_body", "must be larger than 0"),
                Err(e) => cx.err(&span, "poll.max_body", e),
            }
        }
        p.concurrency = t.int_or(cx, "concurrency", p.concurrency, 1);
        p.per_host = t.int_or(cx, "per_host", p.per_host, 1);
        if let Some((ua, span)) = t.string(cx, "user_agent") {
            // Checked as the HTTP client will: a CR or LF would fail every fetch at start.
            match reqwest::header::HeaderValue::from_str(&ua) {
                Ok(_) => p.user_agent = ua,
                Err(_) => cx.err(
                    &span,
                    "poll.user_agent",
                    "is not a valid HTTP header value (no CR, LF or other control characters)",
                ),
            }
        }
        p.allow_private = t.bool_or(cx, "allow_private", p.allow_private);
        if p.min_interval > p.max_interval {
            cx.err(&t.span, "poll.min_interval", "is larger than poll.max_interval");
        }
        t.finish(cx);
    }

    if let Some(mut t) = root.table(cx, "dedup") {
        config.dedup.window = t.duration_or(cx, "window", config.dedup.window);
        config.dedup.settle_every = t.duration_or(cx, "settle_every", config.dedup.settle_every);
        let (sim, span) = t.float_or(cx, "similarity", config.dedup.similarity);
        if (0.0..=1.0).contains(&sim) {
            config.dedup.similarity = sim;
        } else {
            cx.err(&span, "dedup.similarity", format!("{sim} is outside 0..1"));
        }
        t.finish(cx);
    }

    if let Some(mut t) = root.table(cx, "breaking") {
        let b = &mut config.breaking;
        if let Some(k) = t.strings(cx, "keywords") {
            b.keywords = k.into_iter().map(|(s, _)| s).collect();
        }
        b.min_sources = t.int_or(cx, "min_sources", b.min_sources, 1);
        b.window = t.duration_or(cx, "window", b.window);
        b.max_age = t.duration_or(cx, "max_age", b.max_age);
        t.finish(cx);
    }

    config.sections = read_sections(cx, &mut root);
    config.regions = read_regions(cx, &mut root);
    config.sources = read_sources(cx, &mut root, &dir, &config.sections, &config.regions);
    if config.sources.is_empty() && !root.table.contains_key("sources") {
        cx.err(&(0..0), "sources", "no [[sources]]: the configuration needs at least one");
    }
    root.finish(cx);
    config
}

/// Read the `id` of one `[[kind]]` table, check it, and name the table by it
/// in later errors (`sources "wire-en".url`).
fn read_id(cx: &mut Cx, t: &mut Table, kind: &str, span: &Range<usize>, seen: &mut HashSet<String>) -> String {
    match t.string(cx, "id") {
        Some((id, id_span)) => {
            check_id(cx, kind, &id, &id_span, seen);
            t.name = format!("{kind} \"{id}\"");
            id
        }
        None => {
            cx.err(span, &t.key("id"), "missing");
            String::new()
        }
    }
}

/// Check an id's spelling and uniqueness.
fn check_id(cx: &mut Cx, kind: &str, id: &str, span: &Range<usize>, seen: &mut HashSet<String>) {
    if !valid_id(id) {
        cx.err(span, &format!("{kind}.id"), format!("\"{id}\" must use only a-z, 0-9 and '-'"));
    }
    if !seen.insert(id.to_string()) {
        cx.err(span, &format!("{kind}.id"), format!("\"{id}\" is defined twice"));
    }
}

fn read_sections(cx: &mut Cx, root: &mut Table) -> Vec<Section> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut fallbacks = 0;
    for (i, (table, span)) in root.tables(cx, "sections").into_iter().enumerate() {
        let mut t = Table::new(table, span.clone(), format!("sections[{i}]"));
        let id = read_id(cx, &mut t, "sections", &span, &mut seen);
        if RESERVED_SECTION_IDS.contains(&id.as_str()) {
            let id_span = table.get("id").map(|v| v.span()).unwrap_or_else(|| span.clone());
            cx.err(&id_span, "sections.id", format!("\"{id}\" is a route under /feeds/ and cannot be a section id"));
        }
        let title = t.string_or(cx, "title", &id);
        let group = t.string_or(cx, "group", "News");
        let categories = t.string_list(cx, "categories");
        let keywords = t.string_list(cx, "keywords");
        let fallback = t.bool_or(cx, "fallback", false);
        if fallback {
            fallbacks += 1;
            if fallbacks > 1 {
                cx.err(&span, &t.key("fallback"), "only one section can be the fallback");
            }
        }
        let names = Names {
            title_ar: t.string(cx, "title_ar").map(|(s, _)| s),
            title_es: t.string(cx, "title_es").map(|(s, _)| s),
            group_ar: t.string(cx, "group_ar").map(|(s, _)| s),
            group_es: t.string(cx, "group_es").map(|(s, _)| s),
        };
        t.finish(cx);
        out.push(Section { id, title, group, categories, keywords, fallback, names });
    }
    out
}

fn read_regions(cx: &mut Cx, root: &mut Table) -> Vec<Region> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, (table, span)) in root.tables(cx, "regions").into_iter().enumerate() {
        let mut t = Table::new(table, span.clone(), format!("regions[{i}]"));
        let id = read_id(cx, &mut t, "regions", &span, &mut seen);
        let title = t.string_or(cx, "title", &id);
        let places = t.string_list(cx, "places");
        let names = Names {
            title_ar: t.string(cx, "title_ar").map(|(s, _)| s),
            title_es: t.string(cx, "title_es").map(|(s, _)| s),
            ..Names::default()
        };
        t.finish(cx);
        out.push(Region { id, title, places, names });
    }
    out
}

fn read_sources(cx: &mut Cx, root: &mut Table, dir: &Path, sections: &[Section], regions: &[Region]) -> Vec<Source> {
    let mut seen = HashSet::new();
    let tables = root.tables(cx, "sources");
    // Sized once: grown by doubling, 100,000 sources left room for 31,072
    // more (7 MB) for the life of the configuration.
    let mut out = Vec::with_capacity(tables.len());
    for (i, (table, span)) in tables.into_iter().enumerate() {
        let mut t = Table::new(table, span.clone(), format!("sources[{i}]"));
        let id = read_id(cx, &mut t, "sources", &span, &mut seen);
        let url = match t.string(cx, "url") {
            Some((u, u_span)) => match source_url(&u, dir) {
                Ok(url) => Some(url),
                Err(e) => {
                    cx.err(&u_span, &t.key("url"), e);
                    None
                }
            },
            None => {
                cx.err(&span, &t.key("url"), "missing");
                None
            }
        };
        let title = t.string(cx, "title").map(|(s, _)| s);
        let mut source_sections = Vec::new();
        for (s, s_span) in t.strings(cx, "sections").unwrap_or_default() {
            if !sections.iter().any(|x| x.id == s) {
                cx.err(&s_span, &t.key("sections"), format!("section \"{s}\" is not defined"));
            }
            source_sections.push(s);
        }
        let region = t.string(cx, "region").map(|(r, r_span)| {
            if !regions.iter().any(|x| x.id == r) {
                cx.err(&r_span, &t.key("region"), format!("region \"{r}\" is not defined"));
            }
            r
        });
        let language = t.string(cx, "language").map(|(l, _)| l.to_ascii_lowercase());
        let breaking = t.bool_or(cx, "breaking", false);
        let interval = t.positive_duration(cx, "interval");
        t.finish(cx);
        if let Some(url) = url {
            out.push(Source { id, url, title, sections: source_sections, region, language, breaking, interval });
        }
    }
    out
}

/// A source URL: http(s) or file URL, or a local path (relative to the config's folder).
fn source_url(raw: &str, dir: &Path) -> Result<Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("empty URL".into());
    }
    match Url::parse(raw) {
        Ok(url) => match url.scheme() {
            "http" | "https" if url.has_host() => Ok(url),
            "http" | "https" => Err(format!("\"{raw}\" has no host")),
            "file" => Ok(url),
            // A Windows drive letter parses as a scheme; anything else is refused.
            other => Err(format!("scheme \"{other}\" is not allowed (use http, https, file or a local path)")),
        },
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let path = dir.join(raw);
            let abs =
                if path.is_absolute() { path } else { std::env::current_dir().map(|c| c.join(&path)).unwrap_or(path) };
            Url::from_file_path(&abs).map_err(|_| format!("\"{raw}\" is not a usable path"))
        }
        Err(e) => Err(format!("\"{raw}\" is not a URL ({e})")),
    }
}
