//! Stories that turn out to be one event. The absorbed story's records go and
//! its id redirects to the survivor's. A merge is marked (its redirect is
//! written) before anything moves, so a merge a crash interrupted is finished
//! at the next open: no item is left in two stories or in none.

use super::{decode, encode, keys, member_prefix, Result, Store};
use crate::model::{Member, Story};

/// The longest chain of merges followed from an id.
const MAX_HOPS: usize = 16;

impl Store {
    /// The story an absorbed id leads to now (following merges of merges), if
    /// the id was absorbed.
    pub fn redirect(&self, id: &str) -> Result<Option<String>> {
        let mut found = None;
        let mut id = id.to_string();
        for _ in 0..MAX_HOPS {
            match self.redirects.get(id.as_bytes())? {
                Some(v) => {
                    id = String::from_utf8_lossy(&v).into_owned();
                    found = Some(id.clone());
                }
                None => break,
            }
        }
        Ok(found)
    }

    /// Mark merges before their writes.
    pub(super) fn mark_merges(&self, absorbed: &[(Story, String)]) -> Result<()> {
        for (story, survivor) in absorbed {
            self.redirects.insert(story.id.as_bytes(), survivor.as_bytes())?;
            self.merging.insert(story.id.as_bytes(), survivor.as_bytes())?;
        }
        Ok(())
    }

    /// Move whatever of `absorbed` is still stored under its own id to
    /// `survivor` (idempotent: what the ingest moved already is skipped), then
    /// delete the absorbed story's records.
    pub(super) fn finish_merge(&self, absorbed: &Story, survivor: &str) -> Result<()> {
        for r in self.members.scan_prefix(member_prefix(&absorbed.id)) {
            let (k, v) = r?;
            let m: Member = decode(&k, &v)?;
            self.move_member(&m, survivor)?;
            self.members.remove(k)?;
        }
        // A story of one item keeps it in its record alone.
        if let Some(first) = &absorbed.first {
            self.move_member(first, survivor)?;
        }
        for r in self.story_sources.scan_prefix(member_prefix(&absorbed.id)) {
            let (k, _) = r?;
            let mut moved = member_prefix(survivor);
            moved.extend_from_slice(&k[absorbed.id.len() + 1..]);
            self.story_sources.insert(moved, &[])?;
            self.story_sources.remove(k)?;
        }
        for k in keys::feed_keys(absorbed) {
            self.feeds.remove(k)?;
        }
        if self.stories.remove(absorbed.id.as_bytes())?.is_some() {
            self.add_meta("stories", -1)?;
        }
        self.merging.remove(absorbed.id.as_bytes())?;
        Ok(())
    }

    /// A member of an absorbed story, and its item, under `survivor`.
    fn move_member(&self, m: &Member, survivor: &str) -> Result<()> {
        let mut k = member_prefix(survivor);
        k.extend_from_slice(m.key.as_bytes());
        if !self.members.contains_key(&k)? {
            self.members.insert(k, encode(m))?;
        }
        if let Some(mut item) = self.item(&m.key)? {
            if item.story != survivor {
                item.story = survivor.to_string();
                self.items.insert(m.key.as_bytes(), encode(&item))?;
            }
        }
        Ok(())
    }

    /// At open: finish the merges a crash interrupted. The survivor's record
    /// takes what the absorbed one carried (its exact first item, sources and
    /// coverage are worked out again when its next item arrives).
    pub(super) fn finish_interrupted_merges(&self) -> Result<usize> {
        let mut finished = 0;
        for r in self.merging.iter() {
            let (k, v) = r?;
            let Some(absorbed) = self.story(&String::from_utf8_lossy(&k))? else {
                self.merging.remove(k)?;
                continue;
            };
            let survivor = String::from_utf8_lossy(&v).into_owned();
            if let Some(old) = self.story(&survivor)? {
                let mut s = old.clone();
                widen_record(&mut s, &absorbed);
                self.put_story(Some(&old), &s)?;
            }
            self.finish_merge(&absorbed, &survivor)?;
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
