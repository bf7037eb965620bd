//! Startup time with a million stored items against a thousand, same run.
//!
//! Fills two sled stores through the library's `Store` API: a big one
//! (`NEWSDESK_STARTUP_ITEMS`, default 1,000,000 items in ~300,000 stories spread
//! over the 30-day retention, so most are older than the 48 h dedup window) and
//! a small one (1,000 items). Then starts the real release binary with `run` on
//! each, alternating, three rounds, and times spawn → first `200` from
//! `/feeds/all.json`; the best round of each counts (the machine is shared and
//! swings by ±15 %). Run through `scripts/startup-bench.sh`, which builds the
//! binary first. Stores are filled once and kept under
//! `target/startup-bench/` (delete it to refill).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use newsdesk::model::{Item, Member, Story};
use newsdesk::store::{Changes, Store, StoryChange};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECTIONS: [&str; 6] = ["politics", "business", "sport", "science", "culture", "misc"];
const REGIONS: [&str; 4] = ["europe", "mena", "americas", "asia"];
const TAGS: [&str; 8] = ["elections", "climate", "energy", "football", "markets", "health", "courts", "tech"];
const WORDS: [&str; 24] = [
    "parliament",
    "budget",
    "storm",
    "harbour",
    "minister",
    "court",
    "rates",
    "strike",
    "vote",
    "drought",
    "league",
    "final",
    "vaccine",
    "launch",
    "museum",
    "border",
    "talks",
    "ceasefire",
    "exports",
    "prices",
    "ruling",
    "rescue",
    "summit",
    "festival",
];
const SOURCES: usize = 200;
const RETENTION_DAYS: i64 = 30;

/// A small deterministic generator (xorshift), so both runs build the same store.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Fill `path` with `items` items in about `items * 3 / 10` stories.
fn fill(path: &Path, items: usize) -> Duration {
    let start = Instant::now();
    let store = Store::open(path).expect("open the bench store");
    let stories = (items * 3 / 10).max(1);
    let now = now();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut written = 0usize;
    let mut changes = Changes::default();
    for s in 0..stories {
        // Items left to write, shared out over the stories left: 1..=6 per story, ~3.3 on average.
        let left = items - written;
        let per = if s + 1 == stories { left } else { (left / (stories - s)).max(1).min(left) };
        let per = if s + 1 < stories && per > 1 { (per - 1 + rng.below(3) as usize).clamp(1, left) } else { per };
        let time = now - rng.below((RETENTION_DAYS * 86_400 - 3600) as u64) as i64;
        let id = format!("{:016x}", rng.next());
        let topic = [rng.pick(&WORDS), rng.pick(&WORDS), rng.pick(&WORDS)];
        let mut story = Story {
            id: id.clone(),
            time,
            first: None,
            size: 0,
            items: Vec::new(),
            early_sources: Vec::new(),
            sections: vec![rng.pick(&SECTIONS).to_string()],
            regions: if rng.below(2) == 0 { vec![rng.pick(&REGIONS).to_string()] } else { Vec::new() },
            tags: vec![rng.pick(&TAGS).to_string()],
            breaking: false,
            breaking_since: None,
            updated: time + 600,
            sources: Vec::new(),
            source_count: 0,
        };
        for i in 0..per {
            let source = format!("src{}", rng.below(SOURCES as u64));
            let key = format!("{:016x}{:016x}", rng.next(), rng.next());
            let link = format!("https://{source}.example/{}/{key}", time / 86_400);
            let title = format!("{} {} {}: report {} from {source}", topic[0], topic[1], topic[2], s * 7 + i);
            let member = Member {
                key: key.clone(),
                source: source.clone(),
                published: time + 60 * i as i64,
                first_seen: time + 60 * i as i64,
                link: Some(link.clone()),
                flagged: false,
            };
            story.first.get_or_insert_with(|| member.clone());
            story.size += 1;
            changes.members.push((id.clone(), member));
            if !story.sources.contains(&source) {
                story.sources.push(source.clone());
                story.source_count += 1; // at most 6 sources: the record lists them all
            }
            changes.links.push((link.clone(), id.clone()));
            changes.items.push(Item {
                key,
                source,
                identity: link.clone(),
                title: title.clone(),
                link: Some(link),
                summary: format!(
                    "<p>{title}. Officials said the {} would be reviewed after the {} and the {}, according to people familiar with the matter.</p>",
                    topic[0], topic[1], topic[2]
                ),
                summary_source: None,
                author: None,
                categories: vec![topic[2].to_string()],
                language: Some("en".into()),
                published: time + 60 * i as i64,
                first_seen: time + 60 * i as i64,
                updated: time + 60 * i as i64,
                story: id.clone(),
            });
        }
        written += per;
        changes.new_items += per as u64;
        changes.stories.push(StoryChange { old: None, new: story });
        if changes.stories.len() >= 2_000 {
            store.commit(&std::mem::take(&mut changes)).expect("commit");
        }
    }
    store.commit(&changes).expect("commit");
    store.flush().expect("flush");
    assert_eq!(store.item_count().expect("count"), items as u64);
    start.elapsed()
}

fn config(dir: &Path, store: &Path, port: u16) -> PathBuf {
    let mut c = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\nretention = \"{RETENTION_DAYS}d\"\n[poll]\nallow_private = true\n",
        store.display()
    );
    for s in SECTIONS {
        c.push_str(&format!(
            "[[sections]]\nid = \"{s}\"\nkeywords = [\"{s}\"]\n{}",
            if s == "misc" { "fallback = true\n" } else { "" }
        ));
    }
    for r in REGIONS {
        c.push_str(&format!("[[regions]]\nid = \"{r}\"\nplaces = [\"{r}\"]\n"));
    }
    // Sources on a closed loopback port: polls fail at once and touch nothing.
    for i in 0..SOURCES {
        c.push_str(&format!("[[sources]]\nid = \"src{i}\"\nurl = \"http://127.0.0.1:9/src{i}.xml\"\n"));
    }
    let name = store.file_name().and_then(|n| n.to_str()).unwrap_or("store");
    let p = dir.join(format!("startup-{name}-{port}.toml"));
    std::fs::write(&p, c).expect("write config");
    p
}

fn status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut head = [0u8; 16];
    s.read_exact(&mut head).ok()?;
    String::from_utf8_lossy(&head[9..12]).parse().ok()
}

/// Spawn → first 200 from /feeds/all.json; then SIGTERM and wait.
fn startup(bin: &Path, config: &Path, port: u16) -> Duration {
    let log = config.with_extension("log");
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start newsdesk");
    let took = loop {
        if status(port, "/feeds/all.json") == Some(200) {
            break start.elapsed();
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("newsdesk exited ({exit}) before serving:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no answer within 120 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    took
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let big: usize = std::env::var("NEWSDESK_STARTUP_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let bin = std::env::var_os("NEWSDESK_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        exe.parent().and_then(|d| d.parent()).expect("target dir").join("newsdesk")
    });
    assert!(bin.exists(), "{} is missing: build it with `cargo build --release` first", bin.display());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/startup-bench");
    std::fs::create_dir_all(&dir).expect("bench folder");
    let stores = [(1_000usize, dir.join("store-1k")), (big, dir.join(format!("store-{big}")))];
    for (n, path) in &stores {
        if !path.join("conf").exists() {
            let took = fill(path, *n);
            let size = Store::open(path).and_then(|s| s.size_on_disk()).unwrap_or(0);
            println!(
                "filled {} with {n} items in {:.1} s ({} MiB on disk)",
                path.display(),
                took.as_secs_f64(),
                size >> 20
            );
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let configs: Vec<PathBuf> = stores.iter().map(|(_, p)| config(&dir, p, port)).collect();
    let mut best = [Duration::MAX; 2];
    for round in 1..=3 {
        for (i, c) in configs.iter().enumerate() {
            let t = startup(&bin, c, port);
            println!("round {round}: {:>9} items: {:.3} s", stores[i].0, t.as_secs_f64());
            best[i] = best[i].min(t);
        }
    }
    println!(
        "startup (spawn → 200 on /feeds/all.json), best of 3: {} items {:.3} s; {} items {:.3} s; ratio {:.2} (budget: under 2 s; the machine is shared, ±15 %)",
        stores[0].0,
        best[0].as_secs_f64(),
        stores[1].0,
        best[1].as_secs_f64(),
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
}
