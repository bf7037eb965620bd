//! Feed pages rendered on request (tag feeds; `limit`, `lang`, `before`
//! variants): kept in a bounded cache keyed by path, query and snapshot
//! generation, and rendered under a semaphore, so a burst of distinct
//! variants queues for a few threads instead of taking every blocking thread
//! and the memory of as many renders.

use crate::publish::Rendered;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Renders at once: the daemon is sized for 2 cores, and the poller needs some.
pub const RENDER_PERMITS: usize = 2;
/// Bytes of cached pages (plain and gzip): a page is at most `max_feed_items`
/// entries, so this holds dozens of the largest and hundreds of usual ones.
pub const CACHE_BYTES: usize = 32 << 20;
/// How long a request waits for a render permit before it is told to retry.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    #[error("too many feed pages are being rendered; try again later")]
    Busy,
    #[error("rendering stopped: {0}")]
    Crashed(String),
}

type Key = (String, String);

#[derive(Default)]
struct Cache {
    pages: HashMap<Key, (u64, Arc<Rendered>)>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<Key>,
    bytes: usize,
}

pub struct Variants {
    cache: Mutex<Cache>,
    gate: Arc<Semaphore>,
    max_bytes: usize,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

fn size(r: &Rendered) -> usize {
    r.body.len() + r.gzip.len() + r.br.len()
}

impl Variants {
    pub fn new(permits: usize, max_bytes: usize) -> Variants {
        Variants {
            cache: Mutex::default(),
            gate: Arc::new(Semaphore::new(permits)),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The page for `path?query` of snapshot `generation`, rendering it with
    /// `render` (on a blocking thread, under the semaphore) when not cached.
    pub async fn get<E: Send + 'static>(
        &self,
        path: &str,
        query: &str,
        generation: u64,
        render: impl FnOnce() -> Result<Rendered, E> + Send + 'static,
    ) -> Result<Result<Arc<Rendered>, E>, VariantError> {
        let key = (path.to_string(), query.to_string());
        if let Some(r) = self.lookup(&key, generation) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Ok(r));
        }
        let permit = tokio::time::timeout(QUEUE_WAIT, self.gate.clone().acquire_owned())
            .await
            .map_err(|_| VariantError::Busy)?
            .map_err(|_| VariantError::Busy)?;
        // Another request may have rendered it while this one queued.
        if let Some(r) = self.lookup(&key, generation) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Ok(r));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let rendered = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            render()
        })
        .await
        .map_err(|e| VariantError::Crashed(e.to_string()))?;
        Ok(rendered.map(|r| self.insert(key, generation, r)))
    }

    /// Run `work` on a blocking thread under the same semaphore (for other
    /// requests whose cost is a bounded but real amount of store reads).
    pub async fn gated<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, VariantError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, self.gate.clone().acquire_owned())
            .await
            .map_err(|_| VariantError::Busy)?
            .map_err(|_| VariantError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| VariantError::Crashed(e.to_string()))
    }

    fn lookup(&self, key: &Key, generation: u64) -> Option<Arc<Rendered>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.pages.get(key).filter(|(g, _)| *g == generation).map(|(_, r)| r.clone())
    }

    fn insert(&self, key: Key, generation: u64, r: Rendered) -> Arc<Rendered> {
        let r = Arc::new(r);
        let bytes = size(&r);
        if bytes > self.max_bytes {
            return r;
        }
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match c.pages.insert(key.clone(), (generation, r.clone())) {
            Some((_, old)) => c.bytes -= size(&old),
            None => c.order.push_back(key),
        }
        c.bytes += bytes;
        while c.bytes > self.max_bytes {
            let Some(oldest) = c.order.pop_front() else { break };
            if let Some((_, gone)) = c.pages.remove(&oldest) {
                c.bytes -= size(&gone);
            }
        }
        r
    }

    /// Pages cached now (for tests).
    pub fn len(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn page(n: usize) -> Rendered {
        Rendered::new(vec![b'x'; n], 0, "text/plain")
    }

    #[test]
    fn a_variant_is_rendered_once_per_generation() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let v = Variants::new(2, 1 << 20);
        let renders = Arc::new(AtomicUsize::new(0));
        let get = |generation: u64, query: &str| {
            let renders = renders.clone();
            rt.block_on(v.get("/feeds/all.rss", query, generation, move || {
                renders.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(page(100))
            }))
            .unwrap()
            .unwrap()
        };
        get(1, "limit=5");
        get(1, "limit=5");
        assert_eq!(renders.load(Ordering::SeqCst), 1, "the second request is a hit");
        get(1, "limit=6");
        get(2, "limit=5");
        assert_eq!(renders.load(Ordering::SeqCst), 3, "another query and a new generation are misses");
        assert_eq!((v.hits.load(Ordering::SeqCst), v.misses.load(Ordering::SeqCst)), (1, 3));
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let v = Variants::new(2, 10_000);
        for i in 0..50 {
            rt.block_on(v.get("/p", &i.to_string(), 1, || Ok::<_, ()>(page(2_000)))).unwrap().unwrap();
        }
        let c = v.cache.lock().unwrap();
        assert!(c.bytes <= 10_000 && !c.pages.is_empty() && c.pages.len() == c.order.len(), "{}", c.bytes);
        assert!(c.pages.contains_key(&("/p".to_string(), "49".to_string())), "the newest stays");
    }

    #[test]
    fn renders_run_at_most_permits_at_once() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let v = Arc::new(Variants::new(2, 1 << 20));
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..12 {
                let (v, now, peak) = (v.clone(), now.clone(), peak.clone());
                tasks.push(tokio::spawn(async move {
                    v.get("/p", &i.to_string(), 1, move || {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(page(10))
                    })
                    .await
                    .map(|r| r.is_ok())
                }));
            }
            for t in tasks {
                assert!(matches!(t.await, Ok(Ok(true))));
            }
        });
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "{peak} renders ran at once");
    }
}
