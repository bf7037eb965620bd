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
use std::collections::HashSet;

/// One entry of a round: where it sorts, and which document it is from.
struct Placed {
    published: Timestamp,
    key: String,
    doc: usize,
    entry: parse::Entry,
}

impl Desk {
    /// Store `docs` (each a source and the document one poll of it brought)
    /// as one round: every entry of every document, in the order they were
    /// published (then by item key), each stored as a document of its own.
    /// Returns each document's report, in the order given: a document whose
    /// entry could not be stored stops there with that error (its source's
    /// next poll brings the rest again), and the others go on.
    pub fn ingest_round(
        &self,
        rt: &Runtime,
        docs: Vec<(Source, parse::Feed)>,
        now: Timestamp,
    ) -> Vec<Result<IngestReport, StoreError>> {
        let mut shells = Vec::with_capacity(docs.len());
        let mut all = Vec::new();
        for (doc, (source, mut feed)) in docs.into_iter().enumerate() {
            all.extend(entries_of(doc, &source, std::mem::take(&mut feed.entries), now));
            shells.push((source, feed));
        }
        all.sort_by(|a, b| a.published.cmp(&b.published).then_with(|| a.key.cmp(&b.key)));
        let mut reports: Vec<Result<IngestReport, StoreError>> =
            shells.iter().map(|_| Ok(IngestReport::default())).collect();
        for p in all {
            let Ok(report) = &mut reports[p.doc] else { continue };
            let (source, shell) = &shells[p.doc];
            let one = parse::Feed { entries: vec![p.entry], ..shell.clone() };
            match self.ingest_with(rt, source, &one, now) {
                Ok(r) => report.add(r),
                Err(e) => reports[p.doc] = Err(e),
            }
        }
        reports
    }
}

/// A document's entries as a round places them: each identity once (the
/// first wins, as in a document stored alone).
fn entries_of(doc: usize, source: &Source, entries: Vec<parse::Entry>, now: Timestamp) -> Vec<Placed> {
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .filter_map(|entry| {
            let key = identity::item_key(&source.id, &identity::identity(&entry));
            seen.insert(key.clone()).then(|| Placed {
                published: published_time(entry.feed_date, now),
                key,
                doc,
                entry,
            })
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
