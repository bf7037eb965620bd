//! Polite polling against a fixture server that misbehaves on command (slow
//! drip, gzip bomb, 5xx, 404, 429/503 with Retry-After) and records request
//! times and concurrency per host (127.0.0.1 and 127.0.0.2 are two hosts).
//! Real HTTP over loopback, a real sled store in a temporary folder.

mod common;

use common::{desk, poll_config as config_for, rss, rt, Act, RawServer};
use newsdesk::config::Config;
use newsdesk::model::SourceStatus;
use newsdesk::pipeline::{refresh_source, Desk, PollOutcome};
use newsdesk::poll::fetch::Fetcher;
use std::sync::Arc;
use std::time::{Duration, Instant};

const A: &str = "127.0.0.1";
const B: &str = "127.0.0.2";

fn feed(n: usize) -> String {
    rss(
        &format!("Feed {n}"),
        &[(&format!("g{n}"), &format!("Story number {n}"), &format!("https://x.example/{n}"), common::hours_ago(3))],
    )
}

/// Poll every source once as `newsdesk once` does; each outcome with the time it arrived.
fn poll_all(rt: &tokio::runtime::Runtime, desk: &Arc<Desk>, config: &Config) -> Vec<(PollOutcome, Duration)> {
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let start = Instant::now();
    let desk = desk.clone();
    rt.block_on(async move {
        let poll = tokio::spawn(newsdesk::poll::poll_all_once(desk, fetcher, tx));
        let mut out = Vec::new();
        while let Some(o) = rx.recv().await {
            out.push((o, start.elapsed()));
        }
        poll.await.unwrap();
        out
    })
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_slow_drip_is_abandoned_at_timeout_and_the_schedule_is_written_before_the_fetch() {
    let server = RawServer::start(&[A]);
    server.set("/drip.xml", Act::Drip { body: feed(1).into_bytes(), every: Duration::from_secs(1) });
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("drip", server.url(A, "/drip.xml"))], "timeout = \"2s\"");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let before = newsdesk::pipeline::now();
    let started = Instant::now();
    let poll = {
        let (desk, source) = (desk.clone(), config.sources[0].clone());
        rt.spawn(async move { refresh_source(&desk, &fetcher, &source).await })
    };
    // Mid-fetch, the store already says when the source is next due; no validators yet.
    std::thread::sleep(Duration::from_millis(1000));
    let mid = desk.store.source_state("drip").unwrap().expect("state written before the fetch");
    assert!(mid.last_fetch.unwrap() >= before);
    assert!(mid.next_due.unwrap() >= before + 60, "next due written before the fetch: {mid:?}");
    assert_eq!((mid.etag.as_deref(), mid.status), (None, SourceStatus::Pending));
    let o = rt.block_on(poll).unwrap();
    let took = started.elapsed();
    assert_eq!(o.status, SourceStatus::Error);
    assert!(o.error.as_deref().unwrap_or("").contains("no complete response within 2s"), "{:?}", o.error);
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5), "abandoned after {took:?}");
    // The server notices the client left at its next byte or two.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.hits("/drip.xml").iter().all(|h| h.done) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let hits = server.hits("/drip.xml");
    assert_eq!(hits.len(), 1);
    assert!(hits[0].body_sent < feed(1).len(), "the drip never finished");
    let state = desk.store.source_state("drip").unwrap().unwrap();
    assert_eq!((state.status, state.consecutive_failures), (SourceStatus::Error, 1));
    assert!(state.last_error.unwrap().contains("no complete response"));
    assert_eq!(desk.store.item_count().unwrap(), 0);
}

/// A gzip stream of `gib` GiB of zeros, about 1 MiB per GiB: 1 MiB of zeros
/// deflated and fully flushed (a byte-aligned, self-contained run of blocks)
/// repeated, then a final empty block and the real CRC and size.
fn gzip_bomb(gib: usize) -> Vec<u8> {
    let mib = vec![0u8; 1 << 20];
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(64 * 1024);
    c.compress_vec(&mib, &mut block, flate2::FlushCompress::Full).unwrap();
    assert_eq!(c.total_in(), mib.len() as u64, "the whole MiB went into one block run");
    let mut tail = Vec::with_capacity(64);
    c.compress_vec(&[], &mut tail, flate2::FlushCompress::Finish).unwrap();
    let mut one = flate2::Crc::new();
    one.update(&mib);
    let mut crc = flate2::Crc::new();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    for _ in 0..gib * 1024 {
        out.extend_from_slice(&block);
        crc.combine(&one);
    }
    out.extend_from_slice(&tail);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&((gib as u64 * (1 << 30)) as u32).to_le_bytes());
    out
}

#[test]
fn a_gzip_bomb_is_refused_not_inflated() {
    // 32 GiB in about 33 MiB: more than loopback's socket buffers hold, so a
    // client that stops reading leaves most of it unsent.
    let bomb = gzip_bomb(32);
    assert!(bomb.len() < 40 << 20, "{} bytes", bomb.len());
    // It is a real bomb: its start inflates to zeros.
    {
        use std::io::Read;
        let mut start = vec![1u8; 4 << 20];
        flate2::read::GzDecoder::new(&bomb[..]).read_exact(&mut start).unwrap();
        assert!(start.iter().all(|b| *b == 0));
    }
    let server = RawServer::start(&[A]);
    let bomb_len = bomb.len();
    server.set(
        "/bomb.xml",
        Act::ok(bomb).header("content-encoding", "gzip").header("content-type", "application/rss+xml"),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("bomb", server.url(A, "/bomb.xml"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let rss_before = peak_rss_kib();
    let started = Instant::now();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    let took = started.elapsed();
    assert_eq!(o.status, SourceStatus::Error);
    assert!(o.error.as_deref().unwrap_or("").contains("larger than 65536 bytes"), "{:?}", o.error);
    // Inflating 32 GiB would take seconds and the memory with it.
    assert!(took < Duration::from_secs(3), "refused after {took:?}");
    let grew = peak_rss_kib().saturating_sub(rss_before);
    assert!(grew < 128 * 1024, "peak memory grew by {grew} KiB");
    // The client stopped reading long before the end of the compressed stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.hits("/bomb.xml").iter().all(|h| h.done) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let hits = server.hits("/bomb.xml");
    assert!(hits.iter().all(|h| h.done && h.body_sent < bomb_len), "{hits:?}");
    let state = desk.store.source_state("bomb").unwrap().unwrap();
    assert!(state.last_error.unwrap().contains("larger than"));
}

#[test]
fn server_errors_and_not_found_back_off_exponentially_with_jitter() {
    let server = RawServer::start(&[A]);
    server.set("/500", Act::status(500));
    server.set("/503", Act::status(503));
    server.set("/404", Act::status(404));
    let dir = tempfile::tempdir().unwrap();
    let ids = ["e500", "e503", "e404"];
    let sources: Vec<(String, String)> =
        ids.iter().map(|id| (id.to_string(), server.url(A, &format!("/{}", &id[1..])))).collect();
    let config = config_for(dir.path(), &sources, "interval = \"15m\"\nmax_interval = \"1d\"");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let mut first_spans = Vec::new();
    for source in &config.sources {
        let mut spans = Vec::new();
        for n in 1..=4u32 {
            let o = rt.block_on(refresh_source(&desk, &fetcher, source));
            assert_eq!(o.status, SourceStatus::Error);
            assert_eq!(o.error.as_deref(), Some(&format!("HTTP {}", &source.id[1..])[..]));
            let s = desk.store.source_state(&source.id).unwrap().unwrap();
            assert_eq!(s.consecutive_failures, n);
            spans.push(s.next_due.unwrap() - s.last_fetch.unwrap());
        }
        // 15 min doubled per failure, plus the same share (up to a quarter) of jitter.
        assert!((1800..=2250).contains(&spans[0]), "{}: {spans:?}", source.id);
        for w in spans.windows(2) {
            assert!((w[1] - 2 * w[0]).abs() <= 2, "{}: doubles each time: {spans:?}", source.id);
        }
        first_spans.push(spans[0]);
        let path = format!("/{}", &source.id[1..]);
        assert_eq!(server.hits(&path).len(), 4, "no hidden retries");
    }
    first_spans.dedup();
    assert_eq!(first_spans.len(), 3, "jitter: sources failing together retry at different times");
}

#[test]
fn retry_after_as_an_http_date_or_seconds_holds_back_the_whole_host() {
    let server = RawServer::start(&[A, B]);
    let now = std::time::SystemTime::now();
    let until = now + Duration::from_secs(900);
    for p in ["/a1", "/a2", "/a3"] {
        server.set(p, Act::status(429).header("retry-after", &httpdate::fmt_http_date(until)));
    }
    for p in ["/b1", "/b2", "/b3"] {
        server.set(p, Act::status(503).header("retry-after", "600"));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for p in ["a1", "a2", "a3"] {
        sources.push((p.to_string(), server.url(A, &format!("/{p}"))));
    }
    for p in ["b1", "b2", "b3"] {
        sources.push((p.to_string(), server.url(B, &format!("/{p}"))));
    }
    let config = config_for(dir.path(), &sources, "per_host = 1");
    let rt = rt();
    let desk = desk(&config);
    let before = newsdesk::pipeline::now();
    let outcomes = poll_all(&rt, &desk, &config);
    assert_eq!(outcomes.len(), 6);
    let on = |host: char| ["1", "2", "3"].iter().map(|n| server.hits(&format!("/{host}{n}")).len()).sum::<usize>();
    assert_eq!((on('a'), on('b')), (1, 1), "one request per host, then the host is held");
    let until_secs = until.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for (o, _) in &outcomes {
        let e = o.error.as_deref().unwrap_or("");
        assert!(e == "HTTP 429" || e == "HTTP 503" || e.starts_with("held back"), "{e}");
        if e.starts_with("HTTP") {
            let s = desk.store.source_state(&o.source).unwrap().unwrap();
            let want = if e == "HTTP 429" { until_secs } else { before + 600 };
            assert!(s.next_due.unwrap() >= want, "{}: next due {:?} before {want}", o.source, s.next_due);
        }
    }
}

#[test]
fn at_most_per_host_requests_in_flight_per_host_and_concurrency_overall() {
    let server = RawServer::start(&[A, B]);
    let mut sources = Vec::new();
    // Ten sources on A listed first, then six on B: without the per-host limit
    // A would take every overall slot; without the overall one, A and B would
    // run four at once.
    for n in 0..16 {
        let (host, path) = (if n < 10 { A } else { B }, format!("/f{n}.xml"));
        server.set(&path, Act::ok(feed(n)).after(Duration::from_millis(200)));
        sources.push((format!("s{n}"), server.url(host, &path)));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &sources, "per_host = 2\nconcurrency = 3");
    let rt = rt();
    let desk = desk(&config);
    let outcomes = poll_all(&rt, &desk, &config);
    assert_eq!(outcomes.len(), 16);
    assert!(outcomes.iter().all(|(o, _)| o.status == SourceStatus::Ok), "{outcomes:?}");
    assert!(server.peak(A) <= 2 && server.peak(B) <= 2, "per host: {} {}", server.peak(A), server.peak(B));
    assert!(server.peak_all() <= 3, "overall: {}", server.peak_all());
    // The limits were reached, not merely respected by a serial poller.
    assert_eq!(server.peak_all(), 3, "overall");
    assert_eq!(server.peak(A), 2, "per host");
}

#[test]
fn a_failing_host_does_not_slow_the_others() {
    let server = RawServer::start(&[A, B]);
    let mut sources = Vec::new();
    for n in 0..4 {
        let path = format!("/slow{n}.xml");
        server.set(&path, Act::Drip { body: feed(n).into_bytes(), every: Duration::from_millis(700) });
        sources.push((format!("slow{n}"), server.url(B, &path)));
    }
    for n in 0..8 {
        let path = format!("/fast{n}.xml");
        server.set(&path, Act::ok(feed(100 + n)).after(Duration::from_millis(50)));
        sources.push((format!("fast{n}"), server.url(A, &path)));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &sources, "per_host = 2\nconcurrency = 4\ntimeout = \"3s\"");
    let rt = rt();
    let desk = desk(&config);
    let outcomes = poll_all(&rt, &desk, &config);
    assert_eq!(outcomes.len(), 12);
    for (o, at) in &outcomes {
        if o.source.starts_with("fast") {
            assert_eq!(o.status, SourceStatus::Ok, "{o:?}");
            // Eight 50 ms fetches two at a time, while the slow host holds two slots.
            assert!(*at < Duration::from_millis(2500), "{} done after {at:?}", o.source);
        } else {
            assert!(o.error.as_deref().unwrap_or("").contains("no complete response"), "{o:?}");
            assert!(*at >= Duration::from_secs(3), "{} abandoned after {at:?}", o.source);
        }
    }
}

/// `once` polls its sources as a round (`poll::poll_round`): the documents
/// that came are stored together, a document slower than the round's pause
/// is stored alone when it comes (the others are not held back for it), a
/// source that fails is reported, and every source is reported once.
#[test]
fn a_round_stores_a_late_document_alone_and_reports_every_source_once() {
    let server = RawServer::start(&[A]);
    let mut sources = Vec::new();
    for n in 0..3 {
        server.set(&format!("/fast{n}.xml"), Act::ok(feed(n)));
        sources.push((format!("fast{n}"), server.url(A, &format!("/fast{n}.xml"))));
    }
    let late = Duration::from_secs(4);
    server.set("/late.xml", Act::ok(feed(7)).after(late));
    sources.push(("late".to_string(), server.url(A, "/late.xml")));
    server.set("/missing.xml", Act::status(404));
    sources.push(("missing".to_string(), server.url(A, "/missing.xml")));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &sources, "per_host = 8\ntimeout = \"10s\"");
    let rt = rt();
    let desk = desk(&config);
    let outcomes = poll_all(&rt, &desk, &config);
    let mut reported: Vec<&str> = outcomes.iter().map(|(o, _)| o.source.as_str()).collect();
    reported.sort_unstable();
    assert_eq!(reported, ["fast0", "fast1", "fast2", "late", "missing"], "each source reported once");
    for (o, at) in &outcomes {
        match o.source.as_str() {
            "missing" => assert_eq!(o.status, SourceStatus::Error, "{o:?}"),
            "late" => {
                assert_eq!((o.status, o.report.new), (SourceStatus::Ok, 1), "stored alone: {o:?}");
                assert!(*at >= late, "{o:?} at {at:?}");
            }
            // Stored before the late document was even sent.
            _ => assert!(o.status == SourceStatus::Ok && o.report.new == 1 && *at < late, "{o:?} at {at:?}"),
        }
    }
    assert_eq!(desk.store.item_count().unwrap(), 4, "every document's item stored");
}
