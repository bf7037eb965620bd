//! Rounds: several sources polled together, their documents stored as one
//! (`Desk::ingest_round`: every entry of every document in the order it was
//! published, as live polls would have brought them). The daemon polls the
//! sources due when it starts (all of them after a downtime) or that a
//! reload adds as a round, and `newsdesk once` every source, up to
//! [`ROUND_SOURCES`] of them. Stored one document after another,
//! a catch-up clustered each source's backlog before the next one's, and its
//! stories came out otherwise than live polls' (`pipeline::round`).

use super::fetch::Fetcher;
use super::{held_back, slots, Limits};
use crate::config::Source;
use crate::pipeline::{self, Desk, IngestReport, Poll, PollOutcome, Runtime};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The most sources polled as one round. More are polled one at a time,
/// as before rounds: in rounds of this many (tried in session 14), their
/// entries were in publication order within each round only, and a first
/// poll of 10,000 sources (`scripts/poll-10k.sh`) peaked at 220-255 MiB
/// instead of 144 MiB (12.4 s instead of 10.7 s), with every round's
/// documents waiting on blocking threads; the cause was not found (rounds
/// of 64, two at once, or flushed as often as documents alone: the same).
/// A deployment of a few hundred sources, a catch-up's usual case, is one
/// round.
pub const ROUND_SOURCES: usize = 512;

/// How long a round waits for its documents, from the first that comes: a
/// round of 512 sources fetched 32 at a time, a second each, takes 16 s.
const ROUND_WAIT: Duration = Duration::from_secs(60);

/// How long a round waits for its next document after one came: this, or
/// twice the longest fetch of a document so far, if longer. A fetch still
/// under way then (a host that drips its bytes until its timeout) is stored
/// alone when it ends, so that no source holds the others back for longer;
/// fetches that started together all end within the longest of them, so a
/// slow network or machine splits no round.
const ROUND_QUIET: Duration = Duration::from_secs(1);

/// Poll `sources` together, each fetched and parsed within the limits as
/// alone, then store the documents they brought as one round, once every
/// fetch has ended or they pause (see [`ROUND_QUIET`], [`ROUND_WAIT`]).
/// `report` hears each poll's outcome as it ends.
pub async fn poll_round(
    desk: &Arc<Desk>,
    rt: &Arc<Runtime>,
    fetcher: &Fetcher,
    limits: &Arc<Limits>,
    sources: &[Source],
    mut report: impl FnMut(PollOutcome),
) {
    let mut fetches = tokio::task::JoinSet::new();
    let mut ids = HashMap::new();
    for source in sources {
        let (desk, rt, fetcher, limits, s) =
            (desk.clone(), rt.clone(), fetcher.clone(), limits.clone(), source.clone());
        let task = fetches.spawn(async move { fetch_in(&desk, &rt, &fetcher, &limits, &s).await });
        ids.insert(task.id(), source.id.clone());
    }
    let crashed = |e: tokio::task::JoinError| {
        tracing::error!(source = ids.get(&e.id()).map_or("", String::as_str), error = %e, "poll crashed");
    };
    let mut polls = Vec::new();
    let mut timer: Option<Timer> = None;
    loop {
        let next = fetches.join_next_with_id();
        let fetched = match &timer {
            None => next.await,
            Some(t) => tokio::time::timeout_at(t.until(), next).await.ok().flatten(),
        };
        let Some(fetched) = fetched else { break };
        match fetched {
            Ok((_, Ok(poll))) => {
                if poll.brought_document() {
                    Timer::note(&mut timer, poll.took());
                }
                polls.push(poll);
            }
            Ok((_, Err(ended))) => report(ended),
            Err(e) => crashed(e),
        }
    }
    store_round(desk, rt, &mut polls).await;
    polls.into_iter().for_each(|p| report(p.conclude(desk, &rt.config)));
    if !fetches.is_empty() {
        tracing::info!(polls = fetches.len(), "fetches still under way when the round was stored: stored alone");
    }
    while let Some(fetched) = fetches.join_next_with_id().await {
        match fetched {
            Ok((_, Ok(poll))) => report(pipeline::store_alone(desk, rt, poll).await),
            Ok((_, Err(ended))) => report(ended),
            Err(e) => crashed(e),
        }
    }
}

/// When a round stops waiting for documents.
struct Timer {
    deadline: Instant,
    last: Instant,
    longest: Duration,
}

impl Timer {
    /// A document came, its fetch having taken `took`.
    fn note(timer: &mut Option<Timer>, took: Duration) {
        let now = Instant::now();
        let t = timer.get_or_insert(Timer { deadline: now + ROUND_WAIT, last: now, longest: took });
        t.last = now;
        t.longest = t.longest.max(took);
    }

    fn until(&self) -> Instant {
        self.deadline.min(self.last + ROUND_QUIET.max(self.longest * 2))
    }
}

/// A round's poll up to its parsed document, within the limits (released
/// before it is stored: the round waits for its other fetches).
async fn fetch_in(
    desk: &Arc<Desk>,
    rt: &Arc<Runtime>,
    fetcher: &Fetcher,
    limits: &Limits,
    source: &Source,
) -> Result<Poll, PollOutcome> {
    let _slots = slots(limits, source).await;
    if let Some(held) = held_back(limits, source) {
        return Err(held);
    }
    let poll = Box::pin(pipeline::fetch(desk, rt, fetcher, source)).await?;
    if let Some(until) = poll.hold_host_until() {
        limits.hold(source, until);
    }
    Ok(poll)
}

/// The documents `polls` brought, stored as one round, and each poll told
/// what of its own was stored and whether all of it was.
async fn store_round(desk: &Arc<Desk>, rt: &Arc<Runtime>, polls: &mut [Poll]) {
    let mut brought = Vec::new();
    let mut docs = Vec::new();
    for (n, poll) in polls.iter_mut().enumerate() {
        if let Some(feed) = poll.take_feed() {
            brought.push(n);
            docs.push((poll.source().clone(), feed, poll.now));
        }
    }
    if docs.is_empty() {
        return;
    }
    tracing::info!(documents = docs.len(), "storing a round: every entry in the order it was published");
    let _working = desk.working.acquire().await;
    let stored = {
        let (desk, rt) = (desk.clone(), rt.clone());
        tokio::task::spawn_blocking(move || {
            let reports = desk.ingest_round(&rt, docs);
            (reports, desk.store.flush())
        })
        .await
    };
    let results: Vec<(IngestReport, Option<String>)> = match stored {
        Ok((reports, flushed)) => {
            let flushed = flushed.err().map(|e| format!("store: {e}"));
            let error = |e: Option<crate::store::StoreError>| e.map(|e| format!("store: {e}")).or(flushed.clone());
            reports.into_iter().map(|(report, e)| (report, error(e))).collect()
        }
        Err(e) => brought.iter().map(|_| (IngestReport::default(), Some(format!("ingest crashed: {e}")))).collect(),
    };
    for (n, (report, error)) in brought.into_iter().zip(results) {
        polls[n].stored(report, error);
    }
}
