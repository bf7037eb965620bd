//! A bounded mutation fuzzer for parse + normalise that runs on stable Rust
//! (no cargo-fuzz, no nightly): seeds are the hostile fixtures and, when it is
//! there, the shared corpus; each round mutates one (bit flips, byte runs,
//! deletions, duplications, splices with another seed, markup tokens) and runs
//! it through `parse_feed` (which normalises every entry) and the normalisers
//! on its fields. A panic that escapes is a crash: its input is written to
//! fuzz/crashes/. feed-rs panics that `parse_feed` contains are counted apart.
//!
//! Usage: fuzz_parse SECONDS [SEED_DIR...]   (scripts/fuzz.sh runs it)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per run seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#x0;",
    b"&#1114112;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY e \"&e;&e;\">]>",
    b"<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>",
    b"<rss>",
    b"<rss version=\"0.93\">",
    b"<item>",
    b"</item>",
    b"<entry>",
    b"<media:description/>",
    b"<author>a@b.example\xc2\xa0(A)</author>",
    b"<pubDate>Sat, 01 Jan 0000 00:00:00 GMT</pubDate>",
    b"<updated>9999-12-31T23:59:59-23:59</updated>",
    b"<content type=\"application/octet-stream\">",
    b"{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[{\"id\":1}]}",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x80",
    b"\xd9\x8b",
    b"<script>",
    b"javascript:",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let b = rng.next() as u8;
                input.splice(at..at, std::iter::repeat_n(b, n));
            }
            2 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(256));
                input.drain(at..at + n);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(512));
                let chunk = input[at..at + n].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, chunk);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - from).min(1024));
                    let to = rng.below(len + 1);
                    input.splice(to..to, other[from..from + n].iter().copied());
                }
            }
            5 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, tok.iter().copied());
            }
            _ if len > 0 => {
                input.truncate(rng.below(len));
            }
            _ => {}
        }
    }
    input.truncate(256 * 1024);
}

fn seeds_from(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            seeds_from(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            if b.len() <= 64 * 1024 {
                out.push(b);
            }
        }
    }
}

fn exercise(input: &[u8]) -> Result<(), newsdesk::parse::ParseError> {
    let base = url::Url::parse("https://fuzz.example/feed").ok();
    let feed = newsdesk::parse::parse_feed(input, base.as_ref())?;
    for e in &feed.entries {
        let id = newsdesk::parse::identity::identity(e);
        let _ = newsdesk::parse::identity::item_key("fuzz", &id);
        let _ = newsdesk::text::tokens(&e.title);
        // Summaries are sanitised on demand (as ingest does for new items).
        let _ = e.summary.made_from(e.summary.fingerprint());
        let _ = newsdesk::parse::normalize::strip_tags(e.summary.html());
        let _ = newsdesk::parse::normalize::detect_language(&e.title);
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(root.join("tests/data/hostile"));
        dirs.push(root.join("config/demo/feeds"));
        dirs.push(root.join("../shared/corpus"));
    }
    let mut seeds = Vec::new();
    for d in &dirs {
        seeds_from(d, &mut seeds);
    }
    if seeds.is_empty() {
        seeds.push(b"<rss version=\"2.0\"><channel><item><title>x</title></item></channel></rss>".to_vec());
    }
    // Escaping panics are counted here; the default message would flood.
    std::panic::set_hook(Box::new(|_| {}));
    let crashes_dir = root.join("fuzz/crashes");
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut execs, mut crashes, mut parsed, mut contained) = (0u64, 0u64, 0u64, 0u64);
    let mut where_: std::collections::BTreeMap<String, u64> = Default::default();
    while Instant::now() < deadline {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut input);
        execs += 1;
        match std::panic::catch_unwind(|| exercise(&input)) {
            Ok(Ok(())) => parsed += 1,
            Ok(Err(newsdesk::parse::ParseError::Panicked(why))) => {
                contained += 1;
                let at = why.rsplit(" at ").next().unwrap_or("").to_string();
                *where_.entry(at).or_insert(0u64) += 1;
            }
            Ok(Err(_)) => {}
            Err(_) => {
                crashes += 1;
                let _ = std::fs::create_dir_all(&crashes_dir);
                let name = crashes_dir.join(format!("crash-{seed:x}-{execs}"));
                let _ = std::fs::write(&name, &input);
                eprintln!("crash: input written to {}", name.display());
            }
        }
    }
    println!(
        "fuzz: {execs} execs in {seconds} s ({} seeds, run seed {seed}), {parsed} parsed, {contained} feed-rs panics contained, crashes {crashes}",
        seeds.len()
    );
    for (at, n) in &where_ {
        println!("  feed-rs panic at {at}: {n}");
    }
    if crashes > 0 {
        std::process::exit(1);
    }
}
