//! `/metrics`: Prometheus (OpenMetrics) text from the prometheus-client crate:
//! fetches by source and outcome, fetch durations, items stored, stories,
//! sources by status, HTTP requests by route and status, and the process's
//! memory and CPU time.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    fetches: Family<Labels, Counter>,
    fetch_duration: Histogram,
    items_stored: Counter,
    stories: Gauge,
    sources: Family<Labels, Gauge>,
    variant_cache: Family<Labels, Gauge>,
    cluster: Family<Labels, Gauge>,
    http_requests: Family<Labels, Counter>,
    /// The counters of `http_requests` already made, by route and status, so a
    /// request costs a read lock and an atomic add, not label allocations.
    request_counters: std::sync::RwLock<Vec<(&'static str, u16, Counter)>>,
    resident_memory: Gauge,
    cpu_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let fetches = Family::<Labels, Counter>::default();
        let fetch_duration = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        let items_stored = Counter::default();
        let stories = Gauge::default();
        let sources = Family::<Labels, Gauge>::default();
        let variant_cache = Family::<Labels, Gauge>::default();
        let cluster = Family::<Labels, Gauge>::default();
        let http_requests = Family::<Labels, Counter>::default();
        let resident_memory = Gauge::default();
        let cpu_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register("newsdesk_fetches", "Polls of sources, by source and outcome", fetches.clone());
        registry.register(
            "newsdesk_fetch_duration_seconds",
            "Time a poll took, fetch to store",
            fetch_duration.clone(),
        );
        registry.register("newsdesk_items_stored", "New items stored", items_stored.clone());
        registry.register("newsdesk_stories", "Stories in the store", stories.clone());
        registry.register("newsdesk_sources", "Sources by status of their last poll", sources.clone());
        registry.register(
            "newsdesk_feed_variant_cache_lookups",
            "On-demand feed pages (tags; limit, lang, before) found in the cache or rendered, by outcome",
            variant_cache.clone(),
        );
        registry.register(
            "newsdesk_cluster",
            "A node of a PostgreSQL cluster, by figure: database pool connections (pool_size, pool_idle), \
             source leases held (leases_here, leases_all), claims, takeovers of lapsed leases and waits for a host slot since start",
            cluster.clone(),
        );
        registry.register("newsdesk_http_requests", "HTTP requests by route and status", http_requests.clone());
        registry.register("process_resident_memory_bytes", "Resident memory of the process", resident_memory.clone());
        registry.register("process_cpu_seconds_total", "User and system CPU time of the process", cpu_seconds.clone());
        Metrics {
            registry,
            fetches,
            fetch_duration,
            items_stored,
            stories,
            sources,
            variant_cache,
            cluster,
            http_requests,
            request_counters: Default::default(),
            resident_memory,
            cpu_seconds,
        }
    }

    pub fn fetched(&self, source: &str, outcome: &str, seconds: f64, new_items: u64) {
        self.fetches.get_or_create(&vec![("source".into(), source.into()), ("outcome".into(), outcome.into())]).inc();
        self.fetch_duration.observe(seconds);
        self.items_stored.inc_by(new_items);
    }

    pub fn request(&self, route: &'static str, status: u16) {
        let known = self.request_counters.read().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, c)) = known.iter().find(|(r, s, _)| *s == status && *r == route) {
            c.inc();
            return;
        }
        drop(known);
        let counter = self
            .http_requests
            .get_or_create(&vec![("route".into(), route.into()), ("status".into(), status.to_string())])
            .clone();
        counter.inc();
        self.request_counters.write().unwrap_or_else(|p| p.into_inner()).push((route, status, counter));
    }

    /// The text exposition, with the gauges read now.
    pub fn render(
        &self,
        stories: u64,
        sources_by_status: &[(&str, i64)],
        variant_cache: &[(&str, u64)],
        cluster: &[(&str, i64)],
    ) -> String {
        self.stories.set(stories as i64);
        for (figure, n) in cluster {
            self.cluster.get_or_create(&vec![("figure".into(), figure.to_string())]).set(*n);
        }
        for (outcome, n) in variant_cache {
            self.variant_cache.get_or_create(&vec![("outcome".into(), outcome.to_string())]).set(*n as i64);
        }
        for (status, n) in sources_by_status {
            self.sources.get_or_create(&vec![("status".into(), status.to_string())]).set(*n);
        }
        if let Some((rss, cpu)) = process_usage() {
            self.resident_memory.set(rss as i64);
            self.cpu_seconds.set(cpu);
        }
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Resident bytes and CPU seconds from /proc (Linux); `None` elsewhere.
fn process_usage() -> Option<(u64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces: utime is the 14th field.
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, which is 100 on every supported architecture.
    Some((pages * 4096, ticks as f64 / 100.0))
}
