//! The HTTP server: routes over the published snapshot, `/api/sources` and
//! `/healthz`. Standing feeds are served from finished bytes; variants with
//! `limit`, `lang` or `before` are rendered off the runtime.

pub mod accept;
pub use accept::{serve, HEADER_TIMEOUT};
pub mod admission;
pub mod conditional;
mod sse;
mod standing;
pub mod statuses;
pub mod variants;

use crate::model::SourceStatus;
use crate::pipeline::{self, Desk};
use crate::poll;
use crate::publish::site::{self, Lang};
use crate::publish::{FeedName, Format, PageRequest, Publisher, Rendered};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything a request handler may read.
pub struct Shared {
    pub desk: Arc<Desk>,
    pub publisher: Arc<Publisher>,
    /// Last turn of the poll loop (seconds since the epoch).
    pub poller_heartbeat: Arc<AtomicI64>,
    pub events: Arc<crate::events::Events>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Ends long-lived responses (`/events`) on shutdown.
    pub cancel: CancellationToken,
    /// Caps on connections and `/events` streams (see [`admission::Caps`]).
    pub admission: Arc<admission::Admission>,
    /// On-demand feed pages: cache and render semaphore.
    pub variants: Arc<variants::Variants>,
    /// Sources by status, for `/metrics`.
    pub statuses: Arc<statuses::Statuses>,
}

/// `/api/sources` entries per page unless `?limit=` asks otherwise, and the most it may ask.
pub const SOURCES_PAGE: usize = 100;
pub const MAX_SOURCES_PAGE: usize = 1000;

/// The front page may style itself and show our own images; nothing else
/// (no script, frame, form target or plugin) is allowed to run or load.
const FRONT_PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub id: u64,
    pub peer: std::net::IpAddr,
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;
type Resp = Response<Body>;

fn full(b: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(b.into()).boxed()
}

fn text(status: StatusCode, msg: &str) -> Resp {
    let mut r = Response::new(full(format!("{msg}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn unavailable(msg: &str) -> Resp {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, msg);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    let mut r = Response::new(full(serde_json::to_vec_pretty(value).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn handle(shared: &Arc<Shared>, req: Request<hyper::body::Incoming>, conn: Conn) -> Resp {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let mut resp = match path.as_str() {
        "/healthz" => healthz(shared),
        "/api/sources" => api_sources(shared, &query).await,
        "/events" => sse::events(shared, &req, conn),
        "/metrics" => metrics(shared),
        p if p.starts_with("/feeds/") => feed(shared, &req, p, &query).await,
        "/opml" => match shared.publisher.snapshot().files.get(path.as_str()).cloned() {
            Some(r) => respond(&req, &r),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "starting up"),
        },
        p => site_page(shared, &req, p, &query).await,
    };
    if head {
        *resp.body_mut() = full(Bytes::new());
    }
    let route = match path.as_str() {
        p if p.starts_with("/feeds/") => "/feeds",
        "/" => "/",
        "/opml" => "/opml",
        "/healthz" => "/healthz",
        "/api/sources" => "/api/sources",
        "/events" => "/events",
        "/metrics" => "/metrics",
        p => site_route(p).unwrap_or("other"),
    };
    shared.metrics.request(route, resp.status().as_u16());
    resp
}

fn metrics(shared: &Shared) -> Resp {
    let stories = shared.desk.store.story_count_now();
    let variants = &shared.variants;
    let cache = [("hit", &variants.hits), ("miss", &variants.misses)]
        .map(|(k, v)| (k, v.load(std::sync::atomic::Ordering::Relaxed)));
    let cluster = shared.desk.cluster.get().map(|c| c.figures()).unwrap_or_default();
    let mut r = Response::new(full(shared.metrics.render(stories, &shared.statuses.counts(), &cache, &cluster)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

fn healthz(shared: &Shared) -> Resp {
    let now = pipeline::now();
    let beat = shared.poller_heartbeat.load(Ordering::Relaxed);
    let stories = shared.desk.store.story_count_now();
    if let Some((reason, since)) = shared.desk.store.write_failure() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({
                "status": "unavailable",
                "reason": format!("the store cannot write: {reason}"),
                "since": crate::publish::render::rfc3339(since),
            }),
        );
    }
    if now - beat > 120 {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "unavailable", "reason": format!("the poller has made no progress for {}s", now - beat)}),
        );
    }
    json(
        StatusCode::OK,
        &serde_json::json!({"status": "ok", "stories": stories, "poller_last_turn": crate::publish::render::rfc3339(beat)}),
    )
}

/// `/api/sources?after=ID&limit=N`: one page of sources in configuration
/// order, with a `Link: <...>; rel="next"` header while more follow, so a
/// request reads at most [`MAX_SOURCES_PAGE`] source states from the store.
async fn api_sources(shared: &Arc<Shared>, query: &str) -> Resp {
    let config = shared.desk.config();
    let mut limit = SOURCES_PAGE;
    let mut start = 0;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_SOURCES_PAGE).contains(&n) => limit = n,
                _ => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("limit must be a whole number from 1 to {MAX_SOURCES_PAGE}"),
                    )
                }
            },
            "after" => match config.sources.iter().position(|s| s.id == v) {
                Some(i) => start = i + 1,
                None => return text(StatusCode::BAD_REQUEST, &format!("after names no configured source: {v}")),
            },
            _ => {}
        }
    }
    let end = (start + limit).min(config.sources.len());
    let next = (end < config.sources.len()).then(|| config.sources[end - 1].id.clone());
    let (desk, page_config) = (shared.desk.clone(), config.clone());
    let page = shared.variants.gated(move || sources_page(&desk, &page_config.sources[start..end])).await;
    let mut r = match page {
        Ok(page) => json(StatusCode::OK, &serde_json::Value::Array(page)),
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    if let Some(after) = next {
        let base = config.server.public_url.as_str().trim_end_matches('/');
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("after", &after)
            .append_pair("limit", &limit.to_string())
            .finish();
        if let Ok(v) = HeaderValue::from_str(&format!("<{base}/api/sources?{q}>; rel=\"next\"")) {
            r.headers_mut().insert(header::LINK, v);
        }
    }
    r
}

fn sources_page(desk: &Desk, sources: &[crate::config::Source]) -> Vec<serde_json::Value> {
    let ts = |t: Option<i64>| t.map(crate::publish::render::rfc3339);
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        let state = pipeline::load_state(&desk.store, source).unwrap_or_default();
        out.push(serde_json::json!({
            "id": source.id,
            "url": if state.url.is_empty() { poll::redacted(&source.url) } else { poll::redacted_str(&state.url) },
            "title": source.title.clone().or(state.title.clone()),
            "status": if state.status == SourceStatus::Pending { "pending" } else { state.status.as_str() },
            "last_fetch": ts(state.last_fetch),
            "last_success": ts(state.last_success),
            "next_due": ts(state.next_due),
            "consecutive_failures": state.consecutive_failures,
            "last_error": state.last_error,
            // Counted by the store with the items themselves (see `Changes`).
            "items": desk.store.source_item_count(&source.id).unwrap_or(state.items),
        }));
    }
    out
}

/// Split `/feeds/...` into a feed and a format.
fn parse_feed_path(path: &str) -> Option<(FeedName, Format)> {
    let rest = path.strip_prefix("/feeds/")?;
    let (name, ext) = rest.rsplit_once('.')?;
    let format = Format::from_ext(ext)?;
    let decoded = percent_decode(name)?;
    let feed = if let Some(r) = decoded.strip_prefix("regions/") {
        FeedName::Region(r.to_string())
    } else if let Some(t) = decoded.strip_prefix("tags/") {
        FeedName::Tag(t.to_string())
    } else {
        match decoded.as_str() {
            "all" => FeedName::All,
            "breaking" => FeedName::Breaking,
            "top" => FeedName::Top,
            s => FeedName::Section(s.to_string()),
        }
    };
    let plain = match &feed {
        FeedName::Region(x) | FeedName::Tag(x) | FeedName::Section(x) => !x.is_empty() && !x.contains('/'),
        _ => true,
    };
    plain.then_some((feed, format))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

async fn feed(shared: &Arc<Shared>, req: &Request<hyper::body::Incoming>, path: &str, query: &str) -> Resp {
    let Some((name, format)) = parse_feed_path(path) else {
        return text(StatusCode::NOT_FOUND, &format!("no such feed: {path}"));
    };
    let config = shared.publisher.config();
    let mut limit = config.server.feed_items;
    let mut lang = None;
    let mut before = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=config.server.max_feed_items).contains(&n) => limit = n,
                _ => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("limit must be a whole number from 1 to {}", config.server.max_feed_items),
                    )
                }
            },
            "lang" => {
                let l = v.trim().to_ascii_lowercase();
                if l.is_empty() || l.len() > 12 || !l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                    return text(StatusCode::BAD_REQUEST, "lang must be a language code such as en, ar or es");
                }
                lang = Some(l);
            }
            "before" => match shared.publisher.parse_cursor(&v) {
                Some(c) => before = Some(c),
                None => return text(StatusCode::BAD_REQUEST, "before is not a cursor this server issued"),
            },
            _ => {}
        }
    }
    let standing = limit == config.server.feed_items && lang.is_none() && before.is_none();
    let snapshot = shared.publisher.snapshot();
    if let Some(r) = standing.then(|| snapshot.files.get(path)).flatten() {
        return respond(req, r);
    }
    if !shared.publisher.feed_exists(&name) {
        return text(StatusCode::NOT_FOUND, &format!("no such feed: {path}"));
    }
    let publisher = shared.publisher.clone();
    let page = PageRequest { feed: name, format, limit, lang, before };
    let render = move || publisher.render_page(&page, pipeline::now());
    match shared.variants.get(path, query, snapshot.generation, render).await {
        Ok(Ok(r)) => respond(req, &r),
        // The store failing under a variant (a disk full, a device gone) is
        // the server's state, not a bug: a clean 503 that says to come back.
        Ok(Err(e)) => {
            tracing::error!(error = %e, path, "rendering failed");
            unavailable("the feed cannot be read from the store right now; try again later")
        }
        Err(e @ variants::VariantError::Busy) => text(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, path, "rendering failed");
            unavailable("the feed could not be rendered; try again later")
        }
    }
}

/// The metrics label of a page of the site, if the path is one.
fn site_route(path: &str) -> Option<&'static str> {
    let (lang, rest) = Lang::split(path);
    Some(match rest {
        "/" if lang != Lang::En => "/{edition}/",
        p if p.starts_with("/stories/") => "/stories",
        p if p.starts_with("/sections/") => "/sections",
        p if p.starts_with("/regions/") => "/regions",
        p if p.starts_with("/tags/") => "/tags",
        _ => return None,
    })
}

/// The site's HTML pages: the front pages of the editions, listings and
/// stories. What is shared by everyone comes from the snapshot; the rest is
/// rendered through the bounded cache of feed variants.
async fn site_page(shared: &Arc<Shared>, req: &Request<hyper::body::Incoming>, path: &str, query: &str) -> Resp {
    let (lang, rest) = Lang::split(path);
    let snapshot = shared.publisher.snapshot();
    if rest == "/" {
        return match snapshot.files.get(&lang.home()) {
            Some(r) => respond(req, r),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "starting up"),
        };
    }
    let not_found = || text(StatusCode::NOT_FOUND, &format!("no such page: {path}"));
    let publisher = shared.publisher.clone();
    let key_query: String;
    let render: Box<dyn FnOnce() -> Result<Rendered, site::PageError> + Send> =
        if let Some(id) = rest.strip_prefix("/stories/") {
            if id.is_empty() || id.contains('/') || id.len() > 64 {
                return not_found();
            }
            key_query = String::new();
            let id = id.to_string();
            Box::new(move || publisher.story_page(lang, &id, pipeline::now()))
        } else if let Some(feed) = site::listing(rest) {
            let mut before = None;
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                if k == "before" {
                    match shared.publisher.parse_cursor(&v) {
                        Some(c) => before = Some(c),
                        None => return text(StatusCode::BAD_REQUEST, "before is not a cursor this server issued"),
                    }
                }
            }
            if before.is_none() {
                if let Some(r) = snapshot.files.get(path) {
                    return respond(req, r);
                }
            }
            key_query = before.as_ref().map(|b| shared.publisher.cursor(b)).unwrap_or_default();
            Box::new(move || publisher.listing_page(lang, &feed, before, pipeline::now()))
        } else {
            return not_found();
        };
    match shared.variants.get(path, &key_query, snapshot.generation, render).await {
        Ok(Ok(r)) => respond(req, &r),
        Ok(Err(site::PageError::NotFound)) => not_found(),
        Ok(Err(site::PageError::Moved(to))) => {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, &format!("moved to {}/stories/{to}", lang.prefix()));
            if let Ok(v) = HeaderValue::from_str(&format!("{}/stories/{to}", lang.prefix())) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Ok(Err(site::PageError::Store(e))) => {
            tracing::error!(error = %e, path, "rendering failed");
            unavailable("the page cannot be read from the store right now; try again later")
        }
        Err(e @ variants::VariantError::Busy) => text(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, path, "rendering failed");
            unavailable("the page could not be rendered; try again later")
        }
    }
}

/// Headers, 304 and content coding for a finished body.
fn respond<B>(req: &Request<B>, r: &Rendered) -> Resp {
    let h = req.headers();
    let get = |n: header::HeaderName| h.get(n).and_then(|v| v.to_str().ok());
    let not_modified =
        conditional::is_not_modified(get(header::IF_NONE_MATCH), get(header::IF_MODIFIED_SINCE), &r.etag, r.modified);
    let coding = conditional::choose(get(header::ACCEPT_ENCODING), !r.br.is_empty());
    let mut resp = if not_modified {
        let mut x = Response::new(full(Bytes::new()));
        *x.status_mut() = StatusCode::NOT_MODIFIED;
        x
    } else {
        let (body, name) = match coding {
            conditional::Coding::Brotli => (r.br.clone(), Some("br")),
            conditional::Coding::Gzip => (r.gzip.clone(), Some("gzip")),
            conditional::Coding::Identity => (r.body.clone(), None),
        };
        let mut x = Response::new(full(body));
        if let Some(name) = name {
            x.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        }
        x
    };
    let hs = resp.headers_mut();
    hs.insert(header::CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    hs.insert(header::ETAG, r.etag_header.clone());
    hs.insert(header::LAST_MODIFIED, r.modified_header.clone());
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    hs.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    hs.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if r.content_type.starts_with("text/html") {
        hs.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FRONT_PAGE_CSP));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_paths() {
        assert_eq!(parse_feed_path("/feeds/all.rss"), Some((FeedName::All, Format::Rss)));
        assert_eq!(parse_feed_path("/feeds/politics.json"), Some((FeedName::Section("politics".into()), Format::Json)));
        assert_eq!(parse_feed_path("/feeds/regions/mena.atom"), Some((FeedName::Region("mena".into()), Format::Atom)));
        assert_eq!(
            parse_feed_path("/feeds/tags/%D9%85%D8%B5%D8%B1.rss"),
            Some((FeedName::Tag("مصر".into()), Format::Rss))
        );
        assert_eq!(parse_feed_path("/feeds/all.xml"), None);
        assert_eq!(parse_feed_path("/feeds/a/b.rss"), None);
    }
}
