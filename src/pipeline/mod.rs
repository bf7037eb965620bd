//! The data path, top to bottom: [`refresh_source`] fetches a source, parses
//! and normalises its document, and hands the entries to [`Desk::ingest`],
//! which identifies, clusters, categorises and stores them (see `ingest`).
//! Publishing the changed feeds is the caller's next step.

mod ingest;
mod round;
mod settle;
pub use settle::SettleReport;

use crate::categorize::{self, Categorizer};
use crate::config::{Config, Source};
use crate::model::{self, Item, Member, SourceState, SourceStatus, Timestamp};
use crate::parse;
use crate::poll::fetch::{FetchError, Fetched, Fetcher, Validators};
use crate::poll::schedule::{self, Plan};
use crate::poll::{self, hints};
use crate::publish::FeedName;
use crate::store::{Store, StoreError};
use crate::stories::{self, StoryIndex};
use crate::text;
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The shared state of the pipeline: the store and the rules in force.
pub struct Desk {
    pub store: Store,
    /// Swapped whole on reload: see [`Runtime`].
    runtime: ArcSwap<Runtime>,
    /// The stories inside the dedup window. Clustering decisions depend on each
    /// other, so this lock makes the clustering part of ingests run one at a
    /// time (identifying and sanitising run before it: see `sources`).
    /// `None` until first use: see [`Desk::new`].
    index: Mutex<Option<Window>>,
    /// Ingests of one source run one at a time (a stripe of locks, by source
    /// id): only they write that source's items, so what an ingest reads of
    /// them before taking `index` is still true under it.
    sources: [Mutex<()>; SOURCE_STRIPES],
    /// This node's part in a cluster (PostgreSQL store), set once at start.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Polls parsing or ingesting at once: see [`WORKING_POLLS`].
    pub(crate) working: tokio::sync::Semaphore,
    /// Held by a settle and by pruning: one at a time (a settle would write
    /// back what pruning deleted meanwhile).
    upkeep: Mutex<()>,
    /// The daemon is stopping: a settle under way stops at its next step
    /// (see [`Desk::stop`]).
    stopping: std::sync::atomic::AtomicBool,
    /// Counts the commits that moved items of several sources (merges,
    /// settles): an ingest that identified its stored items before one
    /// reads them again under the clustering lock.
    merges: std::sync::atomic::AtomicU64,
}

/// The clustering index and the span of story times it holds whole: every
/// stored story whose time is `since` or later is in it. The span follows the
/// items, not the clock: an item published long ago (a backlog, a catch-up
/// after downtime, a replay) first brings the stories of its own window in
/// from the store, so it clusters as it would have live.
struct Window {
    index: StoryIndex,
    since: Timestamp,
    /// On PostgreSQL: the last clustering log entry the index holds.
    seen: i64,
}

/// The clustering index evicts stories older than the live window (twice
/// `dedup.window` before now) only while it holds more stories than this.
const INDEX_STORIES_KEPT: usize = 10_000;

/// Polls that parse or ingest at once, each on a blocking thread: this many,
/// or one a core if there are more cores. Ingests cluster one at a time
/// anyway (`index`); without a bound, each of the polls the concurrency lets
/// run (32 by default) waited for that lock on a blocking thread of its own,
/// and each thread keeps its own allocator pages: a first poll of 100,000
/// sources ran 44 blocking threads, and peaked 35-45 MiB higher at 30,000.
/// A poll takes a permit to parse and another to store (a round's
/// documents are parsed one by one, then stored at once): the documents
/// parsed and waiting to be stored are bounded by the polls running
/// (`poll.concurrency`), and by a round's size for rounds.
const WORKING_POLLS: usize = 4;

fn working_polls() -> usize {
    std::thread::available_parallelism().map_or(WORKING_POLLS, |n| n.get().max(WORKING_POLLS))
}

/// Lock stripes for [`Desk::sources`]: two sources share one rarely, and then
/// only wait for each other's identifying and sanitising.
const SOURCE_STRIPES: usize = 64;

/// Everything a poll runs with that the configuration decides: one value,
/// swapped whole on reload (SIGHUP). A poll reads it once when it starts and
/// finishes with it, so a reload never changes the rules under a running poll
/// and never has to stop one.
pub struct Runtime {
    pub config: Arc<Config>,
    pub categorizer: Categorizer,
    pub fetcher: Fetcher,
    pub limits: Arc<poll::Limits>,
}

impl Runtime {
    /// Build what `config` needs; the host limits (and the hosts held back by
    /// Retry-After) carry over from `previous`.
    pub fn new(config: Arc<Config>, previous: Option<&Runtime>) -> Result<Runtime, FetchError> {
        let fetcher = Fetcher::new(&config.poll)?;
        let (concurrency, per_host) = (config.poll.concurrency, config.poll.per_host);
        let limits = match previous {
            Some(p) => p.limits.carried(concurrency, per_host),
            None => Arc::new(poll::Limits::new(concurrency, per_host)),
        };
        Ok(Runtime { categorizer: Categorizer::new(&config), config, fetcher, limits })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Fetcher(#[from] FetchError),
}

/// What one ingest changed.
#[derive(Debug, Default)]
pub struct IngestReport {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Items older than `retention` on arrival: not stored.
    pub too_old: usize,
    pub feeds: HashSet<FeedName>,
    /// Stories that became breaking in this ingest (within `max_age`).
    pub became_breaking: Vec<crate::events::BreakingNews>,
}

/// How one poll of one source ended.
#[derive(Debug)]
pub struct PollOutcome {
    pub source: String,
    pub status: SourceStatus,
    pub report: IngestReport,
    pub error: Option<String>,
    /// The host asked (Retry-After on 429/503) not to be polled before this.
    pub hold_host_until: Option<Timestamp>,
    /// How long the poll took, fetch to store.
    pub elapsed: std::time::Duration,
    /// When the source is due next, as its state now says (a node of a
    /// cluster hands its lease back with it).
    pub next_due: Option<Timestamp>,
}

pub fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

impl Desk {
    /// A desk over `store`. The clustering index (the stories inside the dedup
    /// window) is rebuilt on first use, not here: re-filing and signing every
    /// item of the last two windows takes seconds on a big store, and the
    /// daemon must serve within two (DESIGN.md budgets). `run` warms it in the
    /// background with [`Desk::load_index`]; an ingest that comes first builds it.
    pub fn new(store: Store, config: Arc<Config>) -> Result<Desk, DeskError> {
        Ok(Desk::with_runtime(store, Arc::new(Runtime::new(config, None)?), working_polls()))
    }

    /// A desk over `store` by the rules of `rt`, `working` polls at once.
    fn with_runtime(store: Store, rt: Arc<Runtime>, working: usize) -> Desk {
        Desk {
            store,
            runtime: ArcSwap::new(rt),
            index: Mutex::new(None),
            sources: std::array::from_fn(|_| Mutex::new(())),
            cluster: std::sync::OnceLock::new(),
            working: tokio::sync::Semaphore::new(working),
            upkeep: Mutex::new(()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            merges: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A desk over a scratch store, by the rules of `rt` (a settle's).
    fn scratch(store: Store, rt: Arc<Runtime>) -> Desk {
        Desk::with_runtime(store, rt, 1)
    }

    /// Build the clustering index now, if no ingest has yet (idempotent).
    pub fn load_index(&self) -> Result<(), StoreError> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if index.is_none() {
            *index = Some(self.build_index(&self.runtime(), now())?);
        }
        Ok(())
    }

    /// The index from the stories inside twice the dedup window before `now`
    /// (a bounded read of the `all` feed index, not a scan of the store).
    fn build_index(&self, rt: &Runtime, now: Timestamp) -> Result<Window, StoreError> {
        let since = now.saturating_sub(model::secs(rt.config.dedup.window).saturating_mul(2));
        // Read before the stories: a change logged meanwhile is taken in
        // again, not missed.
        let seen = self.store.postgres().map(|pg| pg.log_head()).transpose()?.unwrap_or(0);
        let mut window = Window { index: StoryIndex::default(), since: Timestamp::MAX, seen };
        self.cover(&rt.categorizer, &mut window, since)?;
        Ok(window)
    }

    /// Widen `window` back to `since`: the stories stored with a time from
    /// `since` up to what it holds already are read in (a range of the `all`
    /// feed index, bounded by the span asked for).
    fn cover(&self, categorizer: &Categorizer, window: &mut Window, since: Timestamp) -> Result<(), StoreError> {
        window.index.wake_from(since);
        if since >= window.since {
            return Ok(());
        }
        for key in self.store.keys_between("all", since, window.since)? {
            if window.index.contains(&key.story) {
                continue;
            }
            let Some(story) = self.store.story(&key.story)? else { continue };
            self.load_story(categorizer, &mut window.index, &story)?;
        }
        window.since = since;
        Ok(())
    }

    /// A stored story into the index: every member, in the order they were
    /// published. The index keeps the earliest few signatures and the words
    /// of all, as it did while they came in (a restart must not change what
    /// the next item is compared with).
    fn load_story(
        &self,
        categorizer: &Categorizer,
        index: &mut StoryIndex,
        story: &model::Story,
    ) -> Result<(), StoreError> {
        let mut members = self.store.story_members(story)?;
        members.sort_by_cached_key(|m| stories::packed::rank_of(m.published, m.first_seen, &m.key));
        // One read for them all (one round trip on PostgreSQL).
        let keys: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
        for item in self.store.items(&keys)?.into_iter().flatten() {
            let sig = stories::Packed::from(file_item(categorizer, &item).1).ranked(item.first_seen, &item.key);
            index.add(&story.id, item.published, sig);
        }
        Ok(())
    }

    pub fn config(&self) -> Arc<Config> {
        self.runtime.load().config.clone()
    }

    /// The rules in force now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Swap in a new runtime (SIGHUP): polls that start from now on use it;
    /// those under way finish with the one they started with.
    pub fn swap(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }

    /// Identify, cluster, categorise and store the entries of one parsed
    /// document, by the rules in force now.
    pub fn ingest(&self, source: &Source, feed: &parse::Feed, now: Timestamp) -> Result<IngestReport, StoreError> {
        self.ingest_with(&self.runtime(), source, feed, now)
    }
}

/// Where an item is filed, its clustering signature (both read the summary's
/// text once) and whether its title carries a breaking keyword (read from the
/// same words).
fn file_item(categorizer: &Categorizer, item: &Item) -> (categorize::Filing, stories::Signature, bool) {
    // Fold once: filing reads the title and the whole summary, the signature
    // the title and the summary's lead.
    let summary_text = parse::normalize::strip_tags(&item.summary);
    let (title_f, summary_f) = (text::fold(&item.title), text::fold(&summary_text));
    let (title_words, summary_words) = (text::split_folded(&title_f), text::split_folded(&summary_f));
    let words: Vec<&str> = title_words.iter().chain(&summary_words).copied().collect();
    let filing = categorizer.file_words(&item.source, &words, &item.categories);
    let mut sig = stories::signature_of_words(&item.title, &title_words, &summary_words, filing.places.clone());
    sig.regions = filing.place_regions.clone();
    sig.article = categorizer.is_article(&filing.sections);
    sig.source = item.source.clone();
    sig.language = item.language.as_deref().unwrap_or("").split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    (filing, sig, categorizer.breaking_words(&title_words))
}

/// What a story keeps of one of its items.
/// `title_breaking`: whether its title carries a breaking keyword, when the
/// caller has already found out (filing does).
fn member_of(categorizer: &Categorizer, item: &Item, title_breaking: Option<bool>) -> Member {
    Member {
        key: item.key.clone(),
        source: item.source.clone(),
        published: item.published,
        first_seen: item.first_seen,
        link: item.link.clone(),
        flagged: categorizer.breaking_source(&item.source)
            || title_breaking.unwrap_or_else(|| categorizer.breaking_title(&item.title)),
    }
}

fn same_content(a: &Item, b: &Item) -> bool {
    a.summary == b.summary && same_content_but_summary(a, b)
}

/// [`same_content`] without the summary (which only the fingerprint tells
/// unsanitised).
fn same_content_but_summary(a: &Item, b: &Item) -> bool {
    a.title == b.title
        && a.link == b.link
        && a.author == b.author
        && a.categories == b.categories
        && a.published == b.published
}

/// A feed date in the future (or none) becomes the time first seen.
fn published_time(feed_date: Option<Timestamp>, first_seen: Timestamp) -> Timestamp {
    match feed_date {
        Some(d) if d <= first_seen => d,
        _ => first_seen,
    }
}

/// The state a source starts from: stored, unless its configured URL changed.
pub fn load_state(store: &Store, source: &Source) -> Result<SourceState, StoreError> {
    let configured = source.url.to_string();
    let fresh = SourceState {
        id: source.id.clone(),
        configured_url: configured.clone(),
        url: configured.clone(),
        ..Default::default()
    };
    Ok(match store.source_state(&source.id)? {
        Some(s) if s.configured_url == configured => s,
        Some(s) => SourceState { items: s.items, title: s.title, ..fresh },
        None => fresh,
    })
}

fn plan_for(config: &Config, source: &Source, state: &SourceState) -> Plan {
    Plan {
        interval: source.interval.unwrap_or(config.poll.interval),
        min_interval: config.poll.min_interval,
        max_interval: config.poll.max_interval,
        consecutive_failures: state.consecutive_failures,
        max_age: None,
        hints: state.hints,
        unchanged_polls: state.unchanged_polls,
        busy_polls: state.busy_polls,
        jitter: schedule::jitter_for(&source.id),
    }
}

/// Poll one source once: fetch → parse → normalise → identify → cluster →
/// categorise → store. Never fails: every problem ends in the source's state.
pub async fn refresh_source(desk: &Arc<Desk>, fetcher: &Fetcher, source: &Source) -> PollOutcome {
    refresh(desk, &desk.runtime(), fetcher, source).await
}

/// [`refresh_source`] by the rules of `rt`, start to end.
pub async fn refresh(desk: &Arc<Desk>, rt: &Arc<Runtime>, fetcher: &Fetcher, source: &Source) -> PollOutcome {
    match fetch(desk, rt, fetcher, source).await {
        Ok(poll) => store_alone(desk, rt, poll).await,
        Err(ended) => ended,
    }
}

/// A poll's document (if it brought one) stored as a document of its own,
/// and the poll ended.
pub async fn store_alone(desk: &Arc<Desk>, rt: &Arc<Runtime>, mut poll: Poll) -> PollOutcome {
    if let Some(feed) = poll.take_feed() {
        // Never closed: acquiring only waits.
        let _working = desk.working.acquire().await;
        let ingest = {
            let (desk, rt, source, now) = (desk.clone(), rt.clone(), poll.source.clone(), poll.now);
            tokio::task::spawn_blocking(move || {
                let report = desk.ingest_with(&rt, &source, &feed, now)?;
                desk.store.flush()?;
                Ok::<_, StoreError>(report)
            })
            .await
        };
        match ingest {
            Ok(Ok(report)) => poll.stored(report, None),
            Ok(Err(e)) => poll.stored(IngestReport::default(), Some(format!("store: {e}"))),
            Err(e) => poll.stored(IngestReport::default(), Some(format!("ingest crashed: {e}"))),
        }
    }
    poll.conclude(desk, &rt.config)
}

/// A poll under way: its source's state as it will be saved, what it
/// reports, and the document it fetched and parsed, until stored.
pub struct Poll {
    source: Source,
    state: SourceState,
    outcome: PollOutcome,
    started: std::time::Instant,
    /// When it started: the time its new items are first seen, stored
    /// alone or in a round.
    pub now: Timestamp,
    /// The response's `Cache-Control: max-age` (of a document only once
    /// it is stored).
    max_age: Option<u64>,
    document: Option<Document>,
}

/// A document fetched and parsed, and what its source's state takes from it
/// once it is stored.
struct Document {
    feed: Option<parse::Feed>,
    title: Option<String>,
    ttl: Option<u32>,
    etag: Option<String>,
    last_modified: Option<String>,
    hash: u64,
    permanent_redirect: Option<url::Url>,
    hints: hints::FeedHints,
    max_age: Option<u64>,
}

/// A poll up to its parsed document (see [`Poll`]); `Err` with its outcome
/// when it ends before a fetch (its state unreadable or unwritable, or the
/// source gone).
pub async fn fetch(
    desk: &Arc<Desk>,
    rt: &Arc<Runtime>,
    fetcher: &Fetcher,
    source: &Source,
) -> Result<Poll, PollOutcome> {
    let now = now();
    let mut poll = start(desk, &rt.config, source, now).map_err(|ended| *ended)?;
    let url = url::Url::parse(&poll.state.url).unwrap_or_else(|_| source.url.clone());
    let validators = Validators { etag: poll.state.etag.clone(), last_modified: poll.state.last_modified.clone() };
    match fetcher.fetch(&url, &validators).await {
        Ok(Fetched::NotModified { headers, permanent_redirect }) => poll.unchanged(permanent_redirect, headers.max_age),
        Ok(Fetched::Body { body, etag, last_modified, permanent_redirect, headers, .. })
            if poll.state.body_hash.is_some_and(|h| h == body_hash(&body)) =>
        {
            // The very bytes the last successful poll stored, from a server that
            // sent no validators (or ignored them): not modified, without
            // parsing, sanitising or looking up a single item again.
            tracing::debug!(source = %source.id, bytes = body.len(), "same document as the last poll: not parsed again");
            poll.unchanged(permanent_redirect, headers.max_age);
            poll.state.etag = etag;
            poll.state.last_modified = last_modified;
        }
        Ok(Fetched::Body { body, etag, last_modified, final_url, permanent_redirect, headers }) => {
            let (hash, max_age) = (body_hash(&body), headers.max_age);
            // Never closed: acquiring only waits.
            let _working = desk.working.acquire().await;
            let parsed =
                tokio::task::spawn_blocking(move || (parse::parse_feed(&body, Some(&final_url)), hints::scan(&body)))
                    .await;
            match parsed {
                Ok((Ok(feed), hints)) => {
                    log_dropped(&source.id, &feed.dropped);
                    let (title, ttl, feed) = (feed.title.clone(), feed.ttl, Some(feed));
                    poll.document = Some(Document {
                        feed,
                        title,
                        ttl,
                        etag,
                        last_modified,
                        hash,
                        permanent_redirect,
                        hints,
                        max_age,
                    });
                }
                Ok((Err(e), _)) => fail(&mut poll.state, SourceStatus::Error, format!("parse: {e}")),
                Err(e) => fail(&mut poll.state, SourceStatus::Error, format!("parse crashed: {e}")),
            }
        }
        Err(FetchError::Gone) => fail(&mut poll.state, SourceStatus::Gone, FetchError::Gone.to_string()),
        Err(e @ FetchError::Refused(_)) => fail(&mut poll.state, SourceStatus::Refused, e.to_string()),
        Err(e) => {
            if let FetchError::Status { status: 429 | 503, retry_after: Some(ra) } = &e {
                poll.outcome.hold_host_until = schedule::retry_after(ra, now);
            }
            fail(&mut poll.state, SourceStatus::Error, e.to_string())
        }
    }
    Ok(poll)
}

/// A poll's start: its source's state read, and saved with the fetch's time
/// and the next due time before the fetch (a crash mid-fetch does not make
/// it due at once).
fn start(desk: &Desk, config: &Config, source: &Source, now: Timestamp) -> Result<Poll, Box<PollOutcome>> {
    let started = std::time::Instant::now();
    let failed = |e: StoreError| Box::new(failed(source, SourceStatus::Error, e.to_string()));
    let mut state = load_state(&desk.store, source).map_err(failed)?;
    let outcome = PollOutcome {
        source: source.id.clone(),
        status: state.status,
        report: IngestReport::default(),
        error: None,
        hold_host_until: None,
        elapsed: Default::default(),
        next_due: None,
    };
    if state.status == SourceStatus::Gone {
        return Err(Box::new(outcome));
    }
    state.last_fetch = Some(now);
    state.next_due = Some(schedule::next_due(&plan_for(config, source, &state), now));
    desk.store.put_source_state(&state).map_err(failed)?;
    Ok(Poll { source: source.clone(), state, outcome, started, now, max_age: None, document: None })
}

impl Poll {
    /// The source polled.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// When the host asked (Retry-After) not to be polled again before.
    pub fn hold_host_until(&self) -> Option<Timestamp> {
        self.outcome.hold_host_until
    }

    /// The parsed document to store, if the poll brought one (taken once).
    pub fn take_feed(&mut self) -> Option<parse::Feed> {
        self.document.as_mut()?.feed.take()
    }

    /// Whether it brought a document still to be stored.
    pub fn brought_document(&self) -> bool {
        self.document.as_ref().is_some_and(|d| d.feed.is_some())
    }

    /// How long it has taken since its fetch began.
    pub fn took(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Not modified (by the server's word, or the same bytes as last time).
    fn unchanged(&mut self, permanent_redirect: Option<url::Url>, max_age: Option<u64>) {
        track_redirect(&mut self.state, permanent_redirect);
        succeeded(&mut self.state, SourceStatus::NotModified, self.now);
        adapt(&mut self.state, false);
        self.max_age = max_age;
    }

    /// What of its document was stored (`report`: the feeds it changed and
    /// the stories it made breaking are told even when not all of it was),
    /// and why not all of it, into the source's state: its next poll
    /// fetches the whole document again.
    pub fn stored(&mut self, report: IngestReport, error: Option<String>) {
        let Some(doc) = self.document.take() else { return };
        if let Some(e) = error {
            self.state.items += report.new as u64;
            self.outcome.report = report;
            return fail(&mut self.state, SourceStatus::Error, e);
        }
        let state = &mut self.state;
        succeeded(state, SourceStatus::Ok, self.now);
        state.etag = doc.etag;
        state.last_modified = doc.last_modified;
        state.body_hash = Some(doc.hash);
        state.items += report.new as u64;
        if doc.title.is_some() {
            state.title = doc.title;
        }
        track_redirect(state, doc.permanent_redirect);
        state.hints = hints::FeedHints { ttl_minutes: doc.hints.ttl_minutes.or(doc.ttl), ..doc.hints };
        adapt(state, report.new > 0);
        if report.updated > 0 && report.new == 0 {
            state.unchanged_polls = 0;
        }
        self.max_age = doc.max_age;
        self.outcome.report = report;
    }

    /// The poll's end: when its source is due next, the state saved, one
    /// log line.
    pub fn conclude(mut self, desk: &Desk, config: &Config) -> PollOutcome {
        if self.document.is_some() {
            // Parsed and never stored: its source's next poll brings it again.
            self.stored(IngestReport::default(), Some("document not stored".to_string()));
        }
        let (state, mut outcome) = (&mut self.state, self.outcome);
        let plan = Plan { max_age: self.max_age, ..plan_for(config, &self.source, state) };
        // Retry-After wins over every bound: the server said when.
        state.next_due = Some(schedule::next_due(&plan, self.now).max(outcome.hold_host_until.unwrap_or(i64::MIN)));
        outcome.status = state.status;
        outcome.error = state.last_error.clone();
        outcome.next_due = state.next_due;
        if let Err(e) = desk.store.put_source_state(state) {
            outcome.error = Some(format!("saving source state: {e}"));
        }
        outcome.elapsed = self.started.elapsed();
        log_outcome(&outcome, state);
        outcome
    }
}

/// One line for every field of one document dropped for being over its size
/// bound (`parse::bounds`): a hostile feed repeats them in every item.
fn log_dropped(source: &str, d: &parse::Dropped) {
    if d.any() {
        tracing::warn!(
            source = %source,
            links = d.links,
            authors = d.authors,
            categories = d.categories,
            guids = d.guids,
            feed_title = d.feed_title,
            "fields over their size bound dropped"
        );
    }
}

/// What a source state remembers of the last document it stored.
fn body_hash(body: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(body)
}

/// A poll that worked: its status, and the failure count and error cleared.
fn succeeded(state: &mut SourceState, status: SourceStatus, now: Timestamp) {
    state.status = status;
    state.last_success = Some(now);
    state.consecutive_failures = 0;
    state.last_error = None;
}

/// Count polls in a row with and without news, for the adaptive schedule.
fn adapt(state: &mut SourceState, news: bool) {
    if news {
        state.busy_polls = state.busy_polls.saturating_add(1);
        state.unchanged_polls = 0;
    } else {
        state.unchanged_polls = state.unchanged_polls.saturating_add(1);
        state.busy_polls = 0;
    }
}

/// A permanent redirect to the same target on 3 polls in a row replaces the URL.
fn track_redirect(state: &mut SourceState, target: Option<url::Url>) {
    match target {
        Some(t) => {
            let t = t.to_string();
            if state.redirect_target.as_deref() == Some(&t) {
                state.redirect_count += 1;
            } else {
                state.redirect_target = Some(t.clone());
                state.redirect_count = 1;
            }
            if state.redirect_count >= 3 {
                tracing::info!(source = %state.id, from = %poll::redacted_str(&state.url), to = %poll::redacted_str(&t), "permanent redirect seen 3 times: source URL updated");
                state.url = t;
                state.redirect_target = None;
                state.redirect_count = 0;
            }
        }
        None => {
            state.redirect_target = None;
            state.redirect_count = 0;
        }
    }
}

fn fail(state: &mut SourceState, status: SourceStatus, error: String) {
    state.status = status;
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    state.last_error = Some(error);
}

fn failed(source: &Source, status: SourceStatus, error: String) -> PollOutcome {
    tracing::error!(source = %source.id, error = %error, "poll failed");
    PollOutcome {
        source: source.id.clone(),
        status,
        report: IngestReport::default(),
        error: Some(error),
        hold_host_until: None,
        elapsed: Default::default(),
        next_due: None,
    }
}

/// One log line per poll.
fn log_outcome(o: &PollOutcome, state: &SourceState) {
    match &o.error {
        Some(e) => {
            tracing::warn!(source = %o.source, status = o.status.as_str(), failures = state.consecutive_failures, url = %poll::redacted_str(&state.url), error = %e, "poll failed")
        }
        None => tracing::info!(
            source = %o.source,
            status = o.status.as_str(),
            new = o.report.new,
            updated = o.report.updated,
            "polled"
        ),
    }
}
