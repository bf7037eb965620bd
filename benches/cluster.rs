//! Per-item clustering cost with 1,000 versus 100,000 stories inside the dedup
//! window: the candidate lookup must not grow with the store. Headlines are
//! synthetic (8 words drawn from a 30,000-word vocabulary with a Zipf-like
//! law, plus a figure), so common words are common and rare ones rare.
//! Sides alternate, best of 3. Run: `cargo bench --bench cluster`.

use newsdesk::stories::{signature, StoryIndex};
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Zipf-like: small indexes far more often than large ones.
    fn word(&mut self, vocab: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((vocab as f64).powf(u) as usize).saturating_sub(1)
    }
}

fn word(i: usize) -> String {
    // Letters only, so every index is one distinct token.
    let mut s = String::new();
    let mut n = i + 1;
    while n > 0 {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    format!("w{s}")
}

fn headline(rng: &mut Rng) -> String {
    let mut words: Vec<String> = (0..8).map(|_| word(rng.word(30_000))).collect();
    words.push((rng.next() % 500).to_string());
    words.join(" ")
}

fn build(n: usize) -> StoryIndex {
    let mut rng = Rng(n as u64);
    let mut idx = StoryIndex::default();
    for i in 0..n {
        idx.add(&format!("s{i}"), (i % 86_400) as i64, signature(&headline(&mut rng), "", vec![]));
    }
    idx
}

/// Cluster 2,000 new synthetic headlines (drawn like the stored ones).
fn run(idx: &mut StoryIndex, seed: u64) -> Duration {
    let mut rng = Rng(seed);
    let items: Vec<String> = (0..2000).map(|_| headline(&mut rng)).collect();
    let start = Instant::now();
    for (i, h) in items.iter().enumerate() {
        let sig = signature(h, "", vec![]);
        let m = idx.best_match(&sig, 40_000, 172_800, 0.6);
        let id = m.map(|m| m.story).unwrap_or_else(|| format!("n{seed}-{i}"));
        idx.add(&id, 40_000, sig);
    }
    start.elapsed()
}

fn main() {
    let mut small = build(1_000);
    let mut large = build(100_000);
    let (mut best_small, mut best_large) = (Duration::MAX, Duration::MAX);
    for round in 0..3 {
        best_small = best_small.min(run(&mut small, 100 + round));
        best_large = best_large.min(run(&mut large, 200 + round));
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / 2000.0;
    println!("1,000 stories   : {:>7.1} us/item  {:>9.0} items/s", per(best_small), 2000.0 / best_small.as_secs_f64());
    println!("100,000 stories : {:>7.1} us/item  {:>9.0} items/s", per(best_large), 2000.0 / best_large.as_secs_f64());
    println!(
        "ratio 100,000 / 1,000: {:.2}x (budget: within 2x; best of 3, sides alternated)",
        best_large.as_secs_f64() / best_small.as_secs_f64()
    );
}
