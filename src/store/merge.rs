//! Stories that turn out to be one event. The absorbed story's records go and
//! its id redirects to the survivor's, in the same transaction as the moves of
//! its items (`apply`), so no item is ever left in two stories or in none.
//! Releases before that marked a merge (`merging`) and made its writes one by
//! one: a merge of theirs that a crash interrupted is finished at open.

use super::apply::{put_story, Writes};
use super::engine::Tree;
use super::{Result, Store};
use crate::model::Story;

/// The longest chain of merges followed from an id.
const MAX_HOPS: usize = 16;

impl Store {
    /// The story an absorbed id leads to now (following merges of merges), if
    /// the id was absorbed.
    pub fn redirect(&self, id: &str) -> Result<Option<String>> {
        let mut found = None;
        let mut id = id.to_string();
        for _ in 0..MAX_HOPS {
            match self.engine.get(Tree::Redirects, id.as_bytes())? {
                Some(v) => {
                    id = String::from_utf8_lossy(&v).into_owned();
                    found = Some(id.clone());
                }
                None => break,
            }
        }
        Ok(found)
    }

    /// At open: finish the merges a crash interrupted. The survivor's record
    /// takes what the absorbed one carried (its exact first item, sources and
    /// coverage are worked out again when its next item arrives).
    pub(super) fn finish_interrupted_merges(&self) -> Result<usize> {
        let mut finished = 0;
        for (k, v) in self.engine.scan_all(Tree::Merging)? {
            let Some(absorbed) = self.story(&String::from_utf8_lossy(&k))? else {
                self.engine.remove(Tree::Merging, &k)?;
                continue;
            };
            let survivor = String::from_utf8_lossy(&v).into_owned();
            let mut writes = Writes::default();
            if let Some(old) = self.story(&survivor)? {
                let mut s = old.clone();
                widen_record(&mut s, &absorbed);
                put_story(&mut writes, Some(&old), &s);
            }
            self.finish_merge(&mut writes, &absorbed, &survivor)?;
            self.engine.apply(&writes)?;
            finished += 1;
        }
        Ok(finished)
    }
}

/// A survivor's record widened by an absorbed one's.
fn widen_record(s: &mut Story, absorbed: &Story) {
    s.take_labels(absorbed);
    crate::model::union(&mut s.sources, &absorbed.sources);
    s.sources.truncate(Story::SOURCES_KEPT);
    if absorbed.time < s.time {
        s.time = absorbed.time;
        s.first = absorbed.first.clone();
    }
    s.size = s.size.saturating_add(absorbed.size);
    s.source_count = s.source_count.max(s.sources.len() as u32);
}
