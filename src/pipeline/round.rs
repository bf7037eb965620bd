//! Several documents polled together, stored as one round: a catch-up
//! after downtime (every source overdue at once) and `newsdesk once`.
//!
//! Stored one document after another, a round places each source's whole
//! backlog before the next source's: three days of one outlet, then three
//! days of the next. Live polls had brought the same items interleaved, in
//! the order they were published, and clustering is online (an item is
//! compared with the stories placed before it, its words weighed by them),
//! so the stories came out otherwise: 14 and 22 item pairs of two labelled
//! sets after three days down (`tests/stories_props.rs`). A round instead
//! places every entry of every document in publication order, one at a
//! time, as live polls would have: none differ.

use super::{published_time, Desk, IngestReport, Runtime};
use crate::config::Source;
use crate::model::Timestamp;
use crate::parse::{self, identity};
use crate::store::StoreError;
use crate::stories::packed::{rank_of, Rank};
use std::collections::HashSet;

/// One entry of a round: where it sorts, and which document it is from.
struct Placed {
    rank: Rank,
    doc: usize,
    entry: parse::Entry,
}

impl Desk {
    /// Store `docs` (each a source, the document one poll of it brought and
    /// when that poll began) as one round: every entry of every document, in
    /// the order they were published (as the clustering index ranks
    /// reports), each stored as a document of its own. Returns, for each
    /// document in the order given, what of it was stored, and the error
    /// that stopped it: a document whose entry could not be stored stops
    /// there (its source's next poll brings the rest again), and the others
    /// go on.
    pub fn ingest_round(
        &self,
        rt: &Runtime,
        docs: Vec<(Source, parse::Feed, Timestamp)>,
    ) -> Vec<(IngestReport, Option<StoreError>)> {
        let mut shells = Vec::with_capacity(docs.len());
        let mut all = Vec::new();
        for (doc, (source, mut feed, now)) in docs.into_iter().enumerate() {
            all.extend(entries_of(doc, &source, std::mem::take(&mut feed.entries), now));
            shells.push((source, feed, now));
        }
        all.sort_by_key(|p| p.rank);
        let mut reports: Vec<(IngestReport, Option<StoreError>)> =
            shells.iter().map(|_| (IngestReport::default(), None)).collect();
        for p in all {
            let (report, error) = &mut reports[p.doc];
            if error.is_some() {
                continue;
            }
            let (source, shell, now) = &shells[p.doc];
            let one = parse::Feed { entries: vec![p.entry], ..shell.clone() };
            match self.ingest_with(rt, source, &one, *now) {
                Ok(r) => report.add(r),
                Err(e) => *error = Some(e),
            }
        }
        reports
    }
}

/// A document's entries as a round places them: each identity once (the
/// first wins, as in a document stored alone), ranked as new reports (first
/// seen `now`) are in the clustering index.
fn entries_of(doc: usize, source: &Source, entries: Vec<parse::Entry>, now: Timestamp) -> Vec<Placed> {
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .filter_map(|entry| {
            let key = identity::item_key(&source.id, &identity::identity(&entry));
            let rank = rank_of(published_time(entry.feed_date, now), now, &key);
            seen.insert(key).then_some(Placed { rank, doc, entry })
        })
        .collect()
}

impl IngestReport {
    /// Count `other` (a later ingest of the same document's entries) in.
    pub fn add(&mut self, other: IngestReport) {
        self.new += other.new;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.too_old += other.too_old;
        self.feeds.extend(other.feeds);
        self.became_breaking.extend(other.became_breaking);
    }
}
