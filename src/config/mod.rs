//! The configuration: typed structs with their defaults, loaded once from TOML
//! and validated with every error reported at once (see [`load`]).

mod load;
mod units;

pub use load::{load, load_str};
pub use units::{parse_duration, parse_size};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Where `run`, `check`, ... look when `--config` is not given.
pub fn default_path() -> PathBuf {
    std::env::var_os("NEWSDESK_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/newsdesk/newsdesk.toml"))
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub file: PathBuf,
    pub server: Server,
    pub log: Log,
    pub storage: Storage,
    pub poll: Poll,
    pub dedup: Dedup,
    pub breaking: Breaking,
    pub sections: Vec<Section>,
    pub regions: Vec<Region>,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub websub_hub: Option<Url>,
    pub title: String,
    pub feed_items: usize,
    pub max_feed_items: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub path: PathBuf,
    pub retention: Duration,
    /// sled in `path` (the default), or a PostgreSQL database shared by
    /// several daemons.
    pub postgres: Option<Postgres>,
}

/// `[storage] backend = "postgres"`: where the database is, and this node's
/// part in the cluster.
#[derive(Debug, Clone)]
pub struct Postgres {
    /// `postgres://user@host:port/db` (a password in it is allowed, but
    /// `password_file` or `password_env` keep it out of the config).
    pub url: String,
    /// Read from `password_file` or `password_env` when the config is loaded.
    pub password: Option<Secret>,
    /// Connections in the pool (default 8).
    pub pool: usize,
    /// This daemon's name in the cluster (default: the host name and the
    /// process id): the holder of its leases.
    pub node: String,
    /// How long a node's claim on a source lasts without renewal: a dead
    /// node's sources are taken over within it (default 60 s).
    pub lease: Duration,
}

/// A password: kept out of `Debug` output and logs.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Poll {
    pub interval: Duration,
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub timeout: Duration,
    pub max_body: u64,
    pub concurrency: usize,
    pub per_host: usize,
    pub user_agent: String,
    pub allow_private: bool,
}

#[derive(Debug, Clone)]
pub struct Dedup {
    pub window: Duration,
    pub similarity: f64,
    /// How often the daemon settles the stories (`Desk::settle`), when items
    /// came since the last settle; zero: never.
    pub settle_every: Duration,
}

#[derive(Debug, Clone)]
pub struct Breaking {
    pub keywords: Vec<String>,
    pub min_sources: usize,
    pub window: Duration,
    pub max_age: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub group: String,
    pub categories: Vec<String>,
    pub keywords: Vec<String>,
    pub fallback: bool,
    /// The optional `title_ar`, `title_es`, `group_ar` and `group_es` keys:
    /// the section's name in the Arabic and Spanish editions.
    pub names: Names,
}

/// A section's or region's name in the site's other editions (`title_ar`,
/// `title_es`; sections also `group_ar`, `group_es`). Missing ones fall back
/// to the English `title` and `group`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Names {
    pub title_ar: Option<String>,
    pub title_es: Option<String>,
    pub group_ar: Option<String>,
    pub group_es: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub id: String,
    pub title: String,
    pub places: Vec<String>,
    /// `title_ar`, `title_es` (see [`Names`]).
    pub names: Names,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: String,
    /// http(s) or file URL; a local path in the file is turned into `file://`.
    pub url: Url,
    pub title: Option<String>,
    pub sections: Vec<String>,
    pub region: Option<String>,
    pub language: Option<String>,
    pub breaking: bool,
    pub interval: Option<Duration>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: Url::parse("http://127.0.0.1:8080/").expect("static URL"),
            websub_hub: None,
            title: "Newsdesk".into(),
            feed_items: 50,
            max_feed_items: 500,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log { level: "info".into(), format: LogFormat::Text }
    }
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            interval: Duration::from_secs(15 * 60),
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(30),
            max_body: 8 * 1024 * 1024,
            concurrency: 32,
            per_host: 2,
            user_agent: concat!("newsdesk/", env!("CARGO_PKG_VERSION")).into(),
            allow_private: false,
        }
    }
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup { window: Duration::from_secs(48 * 3600), similarity: 0.6, settle_every: Duration::from_secs(3600) }
    }
}

impl Default for Breaking {
    fn default() -> Self {
        Breaking {
            keywords: ["breaking", "urgent", "عاجل", "última hora"].map(String::from).to_vec(),
            min_sources: 3,
            window: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(6 * 3600),
        }
    }
}

impl Config {
    /// A configuration with every default and the given sources, for tests and tools.
    pub fn with_defaults(file: &Path) -> Config {
        let dir = file.parent().unwrap_or(Path::new("."));
        Config {
            file: file.to_path_buf(),
            server: Server::default(),
            log: Log::default(),
            storage: Storage { path: dir.join("data"), retention: Duration::from_secs(30 * 86400), postgres: None },
            poll: Poll::default(),
            dedup: Dedup::default(),
            breaking: Breaking::default(),
            sections: Vec::new(),
            regions: Vec::new(),
            sources: Vec::new(),
        }
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn fallback_section(&self) -> Option<&Section> {
        self.sections.iter().find(|s| s.fallback)
    }
}

/// One problem in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is not tied to a line (an unreadable file).
    pub line: usize,
    /// The key (`poll.timeout`) or the item (`sources "wire-en".url`).
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.file.display(), self.line)?;
        } else {
            write!(f, "{}: ", self.file.display())?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem found in one configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
