//! HTTP and file fetching: conditional GET, compression, a whole-request
//! timeout, redirects followed by hand (so each hop can be checked), and the
//! body read in chunks against `max_body`.

use crate::config::Poll;
use std::time::Duration;
use url::Url;

/// The most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {status}")]
    Status { status: u16, retry_after: Option<String> },
    #[error("gone (HTTP 410): polling stopped until the configured URL changes")]
    Gone,
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("redirect loop at {0}")]
    RedirectLoop(String),
    #[error("bad redirect: {0}")]
    BadRedirect(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Network(String),
    #[error("cannot read {path}: {cause}")]
    File { path: String, cause: String },
}

/// A successful fetch.
#[allow(clippy::large_enum_variant)] // one per poll, moved once
#[derive(Debug)]
pub enum Fetched {
    NotModified {
        headers: Hints,
        permanent_redirect: Option<Url>,
    },
    Body {
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
        final_url: Url,
        permanent_redirect: Option<Url>,
        headers: Hints,
    },
}

/// What the response said about when to come back.
#[derive(Debug, Default, Clone)]
pub struct Hints {
    pub max_age: Option<u64>,
    pub retry_after: Option<String>,
}

/// What the last successful poll left: sent back as conditional headers.
#[derive(Debug, Default, Clone)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
    allow_private: bool,
    /// IP literals let through the guard anyway (a seam for tests on loopback).
    exceptions: Vec<std::net::IpAddr>,
}

impl Fetcher {
    pub fn new(poll: &Poll) -> Result<Fetcher, FetchError> {
        let mut builder = reqwest::Client::builder();
        if !poll.allow_private {
            builder = builder.dns_resolver(std::sync::Arc::new(super::guard::GuardedResolver));
        }
        let client = builder
            .user_agent(poll.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            // No client timeout: `fetch` bounds the whole request, redirects and
            // body included, and names the limit in its error.
            .connect_timeout(poll.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| FetchError::Network(e.to_string()))?;
        Ok(Fetcher {
            client,
            timeout: poll.timeout,
            max_body: poll.max_body,
            allow_private: poll.allow_private,
            exceptions: Vec::new(),
        })
    }

    /// Let one IP literal through the SSRF guard (tests run their servers on
    /// loopback and still need the guard for everything else).
    pub fn allow_address(mut self, ip: std::net::IpAddr) -> Fetcher {
        self.exceptions.push(ip);
        self
    }

    /// Fetch `url`, conditionally on `validators`.
    pub async fn fetch(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        if url.scheme() == "file" {
            return self.fetch_file(url, validators).await;
        }
        match tokio::time::timeout(self.timeout, self.fetch_http(url, validators)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn fetch_http(&self, start: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut url = start.clone();
        let mut seen = vec![url.clone()];
        // A permanent redirect counts only when every hop to the target was permanent.
        let mut all_permanent = true;
        for _ in 0..=MAX_REDIRECTS {
            let excepted = match url.host() {
                Some(url::Host::Ipv4(ip)) => self.exceptions.contains(&ip.into()),
                Some(url::Host::Ipv6(ip)) => self.exceptions.contains(&ip.into()),
                _ => false,
            };
            if !self.allow_private && !excepted {
                super::guard::check_url(&url)
                    .map_err(|e| FetchError::Refused(format!("{}: {e}", super::redacted(&url))))?;
            }
            let mut req = self.client.get(url.clone());
            if let Some(e) = &validators.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(l) = &validators.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, l);
            }
            let resp = req.send().await.map_err(|e| network_error(&e))?;
            let status = resp.status();
            let headers = hints(resp.headers());
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::BadRedirect(format!("HTTP {} without Location", status.as_u16())))?;
                let next = url.join(location).map_err(|e| FetchError::BadRedirect(format!("{location}: {e}")))?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(FetchError::BadRedirect(format!("to {}", super::redacted(&next))));
                }
                if seen.contains(&next) {
                    return Err(FetchError::RedirectLoop(super::redacted(&next)));
                }
                all_permanent &= matches!(status.as_u16(), 301 | 308);
                seen.push(next.clone());
                url = next;
                continue;
            }
            let permanent_redirect = (seen.len() > 1 && all_permanent).then(|| url.clone());
            if status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified { headers, permanent_redirect });
            }
            if status == reqwest::StatusCode::GONE {
                return Err(FetchError::Gone);
            }
            if !status.is_success() {
                return Err(FetchError::Status { status: status.as_u16(), retry_after: headers.retry_after });
            }
            let etag = header_string(resp.headers(), reqwest::header::ETAG);
            let last_modified = header_string(resp.headers(), reqwest::header::LAST_MODIFIED);
            if resp.content_length().is_some_and(|n| n > self.max_body)
                && resp.headers().get(reqwest::header::CONTENT_ENCODING).is_none()
            {
                return Err(FetchError::TooLarge { limit: self.max_body });
            }
            let body = self.read_body(resp).await?;
            return Ok(Fetched::Body { body, etag, last_modified, final_url: url, permanent_redirect, headers });
        }
        Err(FetchError::TooManyRedirects)
    }

    /// Read the (decompressed) body chunk by chunk, refusing it past `max_body`.
    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network_error(&e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FetchError::TooLarge { limit: self.max_body });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn fetch_file(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let path = url
            .to_file_path()
            .map_err(|_| FetchError::File { path: url.to_string(), cause: "not a local path".into() })?;
        let shown = path.display().to_string();
        let file_err = |e: std::io::Error| FetchError::File { path: shown.clone(), cause: e.to_string() };
        let meta = tokio::fs::metadata(&path).await.map_err(file_err)?;
        if meta.len() > self.max_body {
            return Err(FetchError::TooLarge { limit: self.max_body });
        }
        // A file's modification time and size play the part of Last-Modified.
        let stamp = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| format!("file:{}.{}:{}", d.as_secs(), d.subsec_nanos(), meta.len()));
        if stamp.is_some() && stamp == validators.last_modified {
            return Ok(Fetched::NotModified { headers: Hints::default(), permanent_redirect: None });
        }
        let body = tokio::fs::read(&path).await.map_err(file_err)?;
        if body.len() as u64 > self.max_body {
            return Err(FetchError::TooLarge { limit: self.max_body });
        }
        Ok(Fetched::Body {
            body,
            etag: None,
            last_modified: stamp,
            final_url: url.clone(),
            permanent_redirect: None,
            headers: Hints::default(),
        })
    }
}

fn header_string(h: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn hints(h: &reqwest::header::HeaderMap) -> Hints {
    let max_age = header_string(h, reqwest::header::CACHE_CONTROL).and_then(|cc| {
        cc.split(',').find_map(|d| d.trim().strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse().ok()))
    });
    Hints { max_age, retry_after: header_string(h, reqwest::header::RETRY_AFTER) }
}

/// A network error as one short line: what failed, then the innermost cause
/// (reqwest's chain repeats the URL and layers of wrapping).
fn network_error(e: &reqwest::Error) -> FetchError {
    use std::error::Error;
    let mut innermost = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<super::guard::Refused>() {
            return FetchError::Refused(r.0.clone());
        }
        innermost = s.to_string();
        src = s.source();
    }
    // reqwest's own message names the URL, password and all.
    if let Some(url) = e.url() {
        innermost = innermost.replace(url.as_str(), &super::redacted(url));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    };
    FetchError::Network(format!("{what}: {innermost}"))
}
