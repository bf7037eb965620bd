//! The status of every configured source, kept in memory as polls report it,
//! so `/metrics` counts sources by status without reading the store.

use crate::config::Config;
use crate::model::SourceStatus;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Mutex;

const ALL: [SourceStatus; 6] = [
    SourceStatus::Pending,
    SourceStatus::Ok,
    SourceStatus::NotModified,
    SourceStatus::Error,
    SourceStatus::Gone,
    SourceStatus::Refused,
];

#[derive(Default)]
struct Board {
    by_source: HashMap<String, SourceStatus>,
    counts: [i64; ALL.len()],
}

/// Sources by status, with the counts kept as statuses change.
#[derive(Default)]
pub struct Statuses(Mutex<Board>);

fn slot(s: SourceStatus) -> usize {
    ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl Statuses {
    /// Record a source's new status (a poll ended).
    pub fn set(&self, source: &str, status: SourceStatus) {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let old = b.by_source.insert(source.to_string(), status);
        if let Some(old) = old {
            b.counts[slot(old)] -= 1;
        }
        b.counts[slot(status)] += 1;
    }

    /// Start over from `config`'s sources as the store knows them: at start
    /// and after a reload (one store read per source, off the request path).
    pub fn load(&self, config: &Config, store: &Store) {
        let mut fresh = Board::default();
        for source in &config.sources {
            let status = crate::pipeline::load_state(store, source).map(|s| s.status).unwrap_or_default();
            fresh.by_source.insert(source.id.clone(), status);
            fresh.counts[slot(status)] += 1;
        }
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
    }

    /// (status, sources) for every status, zeros included.
    pub fn counts(&self) -> Vec<(&'static str, i64)> {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ALL.iter().map(|s| (s.as_str(), b.counts[slot(*s)])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_changes() {
        let s = Statuses::default();
        s.set("a", SourceStatus::Pending);
        s.set("b", SourceStatus::Pending);
        s.set("a", SourceStatus::Ok);
        s.set("b", SourceStatus::Error);
        s.set("b", SourceStatus::Error);
        let c = s.counts();
        assert_eq!(c[0], ("pending", 0));
        assert_eq!(c[1], ("ok", 1));
        assert_eq!(c[3], ("error", 1));
    }
}
